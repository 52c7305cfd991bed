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
    num_candidates  g: an event is normal when its key is among the g most likely log
                    keys (the end of a session is not one of them: model.key_rank).
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
    members         how many LSTMs of this shape the model is (bagging): each is trained
                    apart, with its own seed and validation split, and the model predicts
                    the average of their next-key distributions. 1 is the paper's single
                    LSTM. Five cut the false positives on the paper's HDFS split by about half
                    (docs/architecture.md) for five times the training and scoring work.
                    A model file written before this field existed is one LSTM.
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
    members: int = 5

    def __post_init__(self):
        if not (0 <= self.min_end_probability < 1):
            raise ConfigError(f"min_end_probability must be in [0, 1), got {self.min_end_probability!r}")
        if not (0 <= self.dropout < 1):
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for name in ("window_size", "hidden_size", "num_layers", "num_candidates", "embedding_dim",
                     "members"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.members > 32:
            raise ConfigError(f"members {self.members}: an ensemble beyond 32 LSTMs only costs time (max 32)")
        if self.window_size > 1000:
            raise ConfigError(f"window_size {self.window_size} is beyond any sensible history (max 1000)")
        if self.input_mode not in INPUT_MODES:
            raise ConfigError(f"input_mode must be one of {INPUT_MODES}, got {self.input_mode!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ModelConfig":
        # Model files from before ensembles hold one LSTM and say nothing about members.
        return _from_dict(cls, {"members": 1, **data})


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


@dataclass(frozen=True)
class UpdateConfig:
    """The online update from analyst labels (DeepLog §3.3).

    max_epochs     passes over the labelled windows (with replay) at most; the update
                   stops earlier once no labelled false positive is flagged any more
                   and `settle_epochs` more have run.
    lr             Adam's step: smaller than training's, this is a correction.
    replay         normal training windows mixed into every epoch per labelled window,
                   so the model does not forget what it knew (at least `min_replay`).
                   bench/online_update.py: 64 per label lost 18 points of recall, 256 none.
    label_weight   loss weight of the labelled windows' mean loss against the replayed
                   batch's (4 lost 18 points of recall in the same bench, 1 none).
    confirmed_weight  weight of the term that keeps confirmed anomalies unlikely.
    """

    max_epochs: int = 60
    settle_epochs: int = 3
    lr: float = 1e-3
    batch_size: int = 256
    replay: int = 256
    min_replay: int = 4096
    label_weight: float = 1.0
    confirmed_weight: float = 1.0
    seed: int = 1234

    def __post_init__(self):
        for name in ("max_epochs", "batch_size", "replay", "min_replay", "settle_epochs"):
            value, low = getattr(self, name), 1 if name in ("max_epochs", "batch_size") else 0
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigError(f"{name} must be an integer of at least {low}, got {value!r}")
        if not (0 < self.lr < 1):
            raise ConfigError(f"lr must be in (0, 1), got {self.lr!r}")
        if self.label_weight <= 0 or self.confirmed_weight < 0:
            raise ConfigError("label_weight must be positive and confirmed_weight non-negative")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "UpdateConfig":
        return _from_dict(cls, data)


@dataclass(frozen=True)
class ParamConfig:
    """The parameter-value model (DeepLog §3.2): one small LSTM per log key over the
    key's parameter-value vectors (numeric parameters + time since the previous event
    of the same session), flagging vectors the model predicts badly.

    window_size   how many previous vectors of the same key the model sees.
    hidden_size   LSTM units per layer (every key's LSTM has the same shape).
    num_layers    stacked LSTM layers.
    min_samples   a key with fewer vectors than this is "not modelled" (reported as such).
    val_fraction  the last share of each key's series (in log order) is held out: for
                  early stopping and for the Gaussian of its errors.
    confidence    a vector is anomalous when its error lies outside this two-sided
                  confidence interval of the validation errors' Gaussian. Squared errors
                  are right-skewed, so the realised false-positive rate is above
                  1 - confidence (synthetic: 0.6% of normal events at 0.999, 0.1% at
                  0.9999, with recall 0.97 / 0.94: bench/param_values.py).
    require_dim_outside
                  also require at least one dimension outside its expected range
                  (prediction +- z * its validation residual RMS): every anomaly then
                  names the value that is off, and false positives fall about 3x at
                  equal recall (bench/param_values.py). False: the paper's rule, error alone.
    include_elapsed  add "seconds since the previous event of the same session" as a
                  dimension.
    history_noise share of the history values knocked off by 0.3-10 standard deviations
                  in training (targets stay clean), so a model does not follow one odd
                  value into false alarms on the vectors after it (bench/param_values.py).
    epochs, batch_size, lr, patience, seed   fitting (Adam, per-key early stopping).
    """

    window_size: int = 5
    hidden_size: int = 32
    num_layers: int = 1
    min_samples: int = 50
    val_fraction: float = 0.2
    confidence: float = 0.9999
    require_dim_outside: bool = True
    include_elapsed: bool = True
    history_noise: float = 0.05
    epochs: int = 80
    batch_size: int = 128
    lr: float = 5e-3
    patience: int = 15
    seed: int = 1234

    def __post_init__(self):
        for name in ("window_size", "hidden_size", "num_layers", "min_samples", "epochs",
                     "batch_size", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.window_size > 1000:
            raise ConfigError(f"window_size {self.window_size} is beyond any sensible history (max 1000)")
        if self.min_samples < 10:
            raise ConfigError(f"min_samples must be at least 10 (a key needs a validation "
                              f"share to set its threshold), got {self.min_samples!r}")
        if not isinstance(self.val_fraction, (int, float)) or not (0.05 <= self.val_fraction <= 0.5):
            raise ConfigError(f"val_fraction must be in [0.05, 0.5], got {self.val_fraction!r}")
        if not isinstance(self.confidence, (int, float)) or not (0.5 <= self.confidence < 1):
            raise ConfigError(f"confidence must be in [0.5, 1), got {self.confidence!r}")
        if not isinstance(self.lr, (int, float)) or not (0 < self.lr < 10):
            raise ConfigError(f"lr must be in (0, 10), got {self.lr!r}")
        if not isinstance(self.history_noise, (int, float)) or not (0 <= self.history_noise <= 0.5):
            raise ConfigError(f"history_noise must be in [0, 0.5], got {self.history_noise!r}")
        for name in ("include_elapsed", "require_dim_outside"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ConfigError(f"seed must be an integer, got {self.seed!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "ParamConfig":
        return _from_dict(cls, data)
