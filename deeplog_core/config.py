"""Configuration: small frozen dataclasses, stored as plain dicts in model files."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from .errors import ConfigError

INPUT_MODES = ("embedding", "onehot", "scalar")
PAIR_WEIGHTINGS = ("count", "sqrt", "log", "uniform")


def _from_dict(cls, data: dict):
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
    return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """The log-key model (DeepLog §3.1) and how sessions become windows.

    window_size     h: how many previous keys the model sees.
    hidden_size     alpha: LSTM units per layer.
    num_layers      L: stacked LSTM layers.
    num_candidates  g: an event is normal when its key is among the g most likely.
    input_mode      how a key enters the LSTM: a one-hot vector (the paper; default,
                    measured best: bench/ablation.py), a learned embedding, or the key id
                    as one number (the seed's ``--input-size 1``).
    embedding_dim   size of the embedding when input_mode is "embedding".
    session_end     append an end-of-session key, so a session that stops early is an
                    event the model can find unlikely (see docs/architecture.md).
    dropout         dropout between LSTM layers.
    min_end_probability
                    the end of a session is normal only when it is among the top g AND
                    at least this likely. Top-g alone is too lax for the end: when a
                    block has only a few plausible next keys, the remaining top-g slots
                    go to keys the model has never seen there, the end among them, so a
                    block that stops after two events would pass. 0 disables.
    """

    window_size: int = 10
    hidden_size: int = 64
    num_layers: int = 2
    num_candidates: int = 9
    input_mode: str = "onehot"
    embedding_dim: int = 16
    session_end: bool = True
    dropout: float = 0.0
    min_end_probability: float = 0.01

    def __post_init__(self):
        if not (0 <= self.min_end_probability < 1):
            raise ConfigError(f"min_end_probability must be in [0, 1), got {self.min_end_probability!r}")
        if not (0 <= self.dropout < 1):
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("window_size", "hidden_size", "num_layers", "num_candidates", "embedding_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.window_size > 1000:
            raise ConfigError(f"window_size {self.window_size} is beyond any sensible history (max 1000)")
        if self.input_mode not in INPUT_MODES:
            raise ConfigError(f"input_mode must be one of {INPUT_MODES}, got {self.input_mode!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class TrainConfig:
    """How the log-key model is fitted.

    val_fraction  share of sessions (not windows) held out for early stopping.
    patience      epochs without a better validation loss before stopping.
    pair_weighting  how much a distinct (history, next key) pair counts in the loss:
                  "count" is the plain per-window objective; "log" (default) weighs a
                  pair by 1 + log(count), so rare but normal interleavings are learnt
                  as possible instead of drowned by the common ones: on the paper's
                  HDFS data false positives fall from 9 to 3 per 971 normal sessions
                  (bench/ablation.py; docs/architecture.md has the trade-off).
    """

    epochs: int = 100
    batch_size: int = 512
    lr: float = 2e-3
    seed: int = 1234
    val_fraction: float = 0.1
    patience: int = 8
    pair_weighting: str = "log"
    device: str = "auto"

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if not (0 < self.lr < 10):
            raise ConfigError(f"lr must be in (0, 10), got {self.lr!r}")
        if self.pair_weighting not in PAIR_WEIGHTINGS:
            raise ConfigError(f"pair_weighting must be one of {PAIR_WEIGHTINGS}, got {self.pair_weighting!r}")
        if not (0 <= self.val_fraction < 0.9):
            raise ConfigError(f"val_fraction must be in [0, 0.9), got {self.val_fraction!r}")
        if self.device not in ("auto", "cpu", "cuda") and not self.device.startswith("cuda:"):
            raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {self.device!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        return _from_dict(cls, data)
