"""The parameter-value model of DeepLog §3.2: is an event's *values* normal for its key?

For every log key the model reads the key's events in log order as a multivariate time
series of parameter-value vectors. A vector holds
  * the key's numeric parameters: the positions that are numbers in (nearly) every
    event of the key, minus identifiers (see `choose_positions`), named "param N"
    (N = the position of the <*> in the template, from 0);
  * "elapsed s": seconds since the previous event of the same session. The first event
    of a session has no previous one: that value is *missing* (not 0, which would read
    as "immediately after"); missing values are left out of the error and enter the
    LSTM as 0 with a 0 "observed" flag (every dimension has one).
Each dimension is normalised per key with the training share's mean and standard
deviation. One small LSTM per key predicts the next vector from the previous
`window_size` vectors of the same key (the first vectors of a series see a shorter
history, left-padded with zero rows, in training as in scoring; `EventValue.history`
says how many real vectors an event's prediction saw).

The last `val_fraction` of each key's series (in log order) is held out, and the model
of each key stops early on its own validation loss (MSE of the normalised values). The
model is then calibrated on every fitted vector with a full history (training and
validation share: the validation tail alone can be unrepresentative, e.g. the HDFS
sample's block sizes are all 64 MiB in its last 20%): each dimension's residual RMS
(at least 0.5 units for integer-valued dimensions: whole seconds, counts), and a
vector's *error*, the mean over its observed dimensions of (residual / that
dimension's RMS)^2. Unlike the plain MSE, a deviation in a dimension the model predicts
well (a value following a trend) is not drowned by the noise of one it cannot predict
(a jittery elapsed time). The errors are modelled as a Gaussian N(mu, sigma).
A vector is a value anomaly when its error lies outside the two-sided `confidence`
interval, i.e. above mu + z * sigma with z = NormalDist().inv_cdf((1 + confidence) / 2)
(an error below the interval is a better prediction than usual, never an anomaly), and
(`require_dim_outside`, default) at least one dimension lies outside its expected range
prediction +- z * (that dimension's residual RMS). Squared errors are right-skewed
(chi-square-like), so the error rule alone flags several times 1 - confidence of normal
vectors; the range check cuts those false positives about 3x at equal recall and makes
every anomaly name the value that is off (bench/param_values.py). For a value anomaly,
every dimension comes with its actual value, the prediction and that expected range, in
original units. Training histories get a few values knocked off (`history_noise`), so a
model learns to look past one odd value instead of following it into false alarms on
the next vectors.

Keys with fewer than `min_samples` vectors, keys without numeric values, keys never seen
in training and events with no template are *not modelled*: they get that status and a
reason, never a silent "normal".

The per-key LSTMs all have the same shape, so they are trained and run as one batch:
key k's weights are slice k of every tensor (`KeyLSTMs`), the loss is the sum of the
per-key losses and Adam is element-wise, so this is exactly K independent models
(`fit(batch_keys=False)` trains them one after another instead; on CPU with a handful
of keys both take about as long: bench/param_values.py has the timings).

Model files: param_model.json (config, per-key dimensions, statistics and thresholds,
sha256 of the weights) and param_model.safetensors (weights only, never unpickled).
"""

from __future__ import annotations

import copy
import json
import math
import random
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from statistics import NormalDist
from typing import Callable, Iterable, Optional

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm.auto import tqdm

from .artifacts import _atomic_write, _sha256, library_version, prepare_model_dir, read_model_doc
from .config import ParamConfig
from .errors import ConfigError, DataFormatError, ModelFileError
from .grouping import UNKNOWN, GroupedLog
from .parsing import Event
from .sessions import ANOMALY, NORMAL, Session, SessionSet

FORMAT = "deeplog-param-model"
FORMAT_VERSION = 1
PARAM_CONFIG_FILE = "param_model.json"
PARAM_WEIGHTS_FILE = "param_model.safetensors"

ELAPSED = "elapsed s"

# Event statuses.
STATUS_NORMAL = "normal"
STATUS_ANOMALY = "anomaly"
STATUS_NOT_MODELLED = "not_modelled"   # the key has no model (see the reason)
STATUS_NO_VALUES = "no_values"         # modelled key, but this event has no observed value

UNKNOWN_REASON = "unknown key (the line matches no template)"

# Which parameter positions are values (see choose_positions).
NUMERIC_SHARE = 0.95      # a position is numeric when >= 95% of the key's events hold a number
ID_DISTINCT_SHARE = 0.9   # ... and an identifier when >= 90% of those numbers are distinct
ID_MIN_MAGNITUDE = 1e6    # integers with a median magnitude >= 1e6
ELAPSED_SHARE = 0.5       # "elapsed s" is a dimension when observed in >= half the events
ERR_STD_FLOOR = 1e-3      # sigma of the errors' Gaussian is at least this
RESID_FLOOR = 1e-3        # per-dimension residual RMS is at least this (normalised units),
                          # and 0.5 original units for integer-valued dimensions
SCORE_CHUNK = 8192        # vectors per key per forward pass when scoring
MAX_STEPS_PER_EPOCH = 100  # batches per key between two validation checks
INPUT_CLIP = 10.0         # LSTM inputs are clipped to +-10 standard deviations


def confidence_z(confidence: float) -> float:
    """z of a two-sided `confidence` interval of a standard Gaussian."""
    if not isinstance(confidence, (int, float)) or not (0.5 <= confidence < 1):
        raise ConfigError(f"confidence must be in [0.5, 1), got {confidence!r}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def event_kind(key_anomalous: bool, value_anomalous: bool) -> Optional[str]:
    """How an event is anomalous: "key" (log-key model), "value", "both", or None."""
    if key_anomalous and value_anomalous:
        return "both"
    if key_anomalous:
        return "key"
    if value_anomalous:
        return "value"
    return None


# -- features ----------------------------------------------------------------------------

def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def event_elapsed(grouped: GroupedLog) -> list[Optional[float]]:
    """Seconds since the previous event of the same session, per event (None: first of
    its session, no timestamp, or in no session). An event in several sessions (sliding
    time windows) takes the value from the first session that lists it."""
    out: list[Optional[float]] = [None] * len(grouped.events)
    seen = [False] * len(grouped.events)
    for i in range(len(grouped.members)):
        for idx, gap in zip(grouped.members[i], grouped.elapsed(i)):
            if not seen[idx]:
                out[idx], seen[idx] = gap, True
    return out


def _series(grouped: GroupedLog) -> dict[str, list[int]]:
    """Event indices per key, in log order (unknown events under "<unk>")."""
    series: dict[str, list[int]] = defaultdict(list)
    for i, e in enumerate(grouped.events):
        series[e.key if e.key is not None else UNKNOWN].append(i)
    return series


def choose_positions(events: list[Event]) -> tuple[list[int], dict[int, str]]:
    """The parameter positions of one key that are values, and why the others are not.

    Rule: a position counts when at least NUMERIC_SHARE of the key's events hold a finite
    number there (parameters arrive as floats when they parse as one), unless it looks
    like an identifier: integers, at least ID_DISTINCT_SHARE of them distinct, with a
    median magnitude of at least ID_MIN_MAGNITUDE (job ids, epoch stamps, random 64-bit
    ids: a new value every time, nothing to predict). Sizes such as 67108864 repeat and
    stay values; a block id like blk_-160... is a string and never numeric.
    Limitation: a byte count that is distinct on every line and above 1e6 reads as an
    identifier too.
    """
    n = len(events)
    width = max((len(e.params) for e in events), default=0)
    used, skipped = [], {}
    for p in range(width):
        values = [e.params[p] for e in events if len(e.params) > p and _is_number(e.params[p])]
        if len(values) < NUMERIC_SHARE * n:
            skipped[p] = "not numeric" if len(values) < 0.5 * n else "numeric in too few events"
            continue
        integral = all(float(v).is_integer() for v in values)
        distinct = len(set(values)) / len(values)
        magnitude = float(np.median(np.abs(values)))
        if integral and distinct >= ID_DISTINCT_SHARE and magnitude >= ID_MIN_MAGNITUDE:
            skipped[p] = "identifier (distinct large integers)"
            continue
        used.append(p)
    return used, skipped


def _vectors(grouped: GroupedLog, idx: list[int], elapsed: list[Optional[float]],
             positions: list[int], with_elapsed: bool) -> np.ndarray:
    """(n, D) float64 values of the events `idx`, NaN where missing."""
    d = len(positions) + with_elapsed
    out = np.full((len(idx), d), np.nan)
    for r, i in enumerate(idx):
        params = grouped.events[i].params
        for c, p in enumerate(positions):
            if len(params) > p and _is_number(params[p]):
                out[r, c] = params[p]
        if with_elapsed and elapsed[i] is not None and math.isfinite(elapsed[i]):
            out[r, -1] = elapsed[i]
    return out


def _input_rows(z: np.ndarray, window: int, width: int) -> np.ndarray:
    """(n + window, 2*width) LSTM input rows of one key's normalised series `z` (n, D,
    NaN = missing), after `window` all-zero rows (the history before the series starts).
    A row holds the values (missing: 0; clipped to +-INPUT_CLIP, so one wild value cannot
    saturate the LSTM for the vectors after it) in [0, width) and their observed flags
    in [width, 2*width)."""
    n, d = z.shape
    observed = ~np.isnan(z)
    rows = np.zeros((n + window, 2 * width), dtype=np.float32)
    rows[window:, :d] = np.clip(np.where(observed, z, 0.0), -INPUT_CLIP, INPUT_CLIP)
    rows[window:, width:width + d] = observed
    return rows


def _gather(rows: np.ndarray, window: int, targets: Optional[np.ndarray] = None) -> np.ndarray:
    """(len(targets), window, 2*width) histories of the target vectors (default: all)."""
    view = np.lib.stride_tricks.sliding_window_view(rows, window, axis=0)   # (n+1, 2w, window)
    view = view[:len(rows) - window] if targets is None else view[targets]
    return np.ascontiguousarray(view.transpose(0, 2, 1))


def _targets(z: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Targets (n, width) and their masks (n, width) of a normalised series."""
    n, d = z.shape
    observed = ~np.isnan(z)
    y = np.zeros((n, width), dtype=np.float32)
    m = np.zeros((n, width), dtype=np.float32)
    y[:, :d] = np.where(observed, z, 0.0)
    m[:, :d] = observed
    return y, m


# -- the batched per-key LSTMs ------------------------------------------------------------

def _corrupt(x: torch.Tensor, width: int, share: float, gen: torch.Generator) -> torch.Tensor:
    """Training histories with a `share` of their observed values knocked off by 0.3-10
    standard deviations (log-uniform, either sign; targets stay clean), so the model
    learns to look past a single odd value in its history instead of following it."""
    values, observed = x[..., :width], x[..., width:]
    hit = (torch.rand(values.shape, generator=gen) < share) & (observed > 0)
    size = torch.exp(torch.empty(values.shape).uniform_(math.log(0.3), math.log(10.0), generator=gen))
    sign = torch.where(torch.rand(values.shape, generator=gen) < 0.5, -1.0, 1.0)
    values = torch.where(hit, (values + sign * size).clamp(-INPUT_CLIP, INPUT_CLIP), values)
    return torch.cat([values, observed], dim=-1)


class KeyLSTMs(nn.Module):
    """K independent LSTMs with linear heads, one per log key, run as one batch.

    Every tensor has the key as its first axis; forward takes x of shape (K', B, T, in)
    and the slots (K',) of the keys it is for, and returns (K', B, out): the prediction
    of the next vector after each history. Gate order and maths are torch.nn.LSTM's.
    """

    def __init__(self, num_keys: int, in_dim: int, out_dim: int, hidden: int, layers: int):
        super().__init__()
        self.shape = (num_keys, in_dim, out_dim, hidden, layers)
        for layer in range(layers):
            width = in_dim if layer == 0 else hidden
            self.register_parameter(f"w_ih_{layer}", nn.Parameter(torch.empty(num_keys, 4 * hidden, width)))
            self.register_parameter(f"w_hh_{layer}", nn.Parameter(torch.empty(num_keys, 4 * hidden, hidden)))
            self.register_parameter(f"b_{layer}", nn.Parameter(torch.empty(num_keys, 4 * hidden)))
        self.w_out = nn.Parameter(torch.empty(num_keys, out_dim, hidden))
        self.b_out = nn.Parameter(torch.empty(num_keys, out_dim))

    def reset(self, generator: torch.Generator) -> "KeyLSTMs":
        bound = 1 / math.sqrt(self.shape[3])
        with torch.no_grad():
            for _, p in sorted(self.named_parameters()):
                p.uniform_(-bound, bound, generator=generator)
        return self

    def expected_shapes(self) -> dict[str, tuple[int, ...]]:
        return {name: tuple(p.shape) for name, p in self.named_parameters()}

    def forward(self, x: torch.Tensor, slots: torch.Tensor) -> torch.Tensor:
        _, _, _, hidden, layers = self.shape
        k, b, steps, _ = x.shape
        seq = x
        h = x.new_zeros(k, b, hidden)
        for layer in range(layers):
            w_ih = getattr(self, f"w_ih_{layer}")[slots]
            w_hh = getattr(self, f"w_hh_{layer}")[slots].transpose(1, 2)
            bias = getattr(self, f"b_{layer}")[slots]
            pre = torch.einsum("kbti,kgi->kbtg", seq, w_ih) + bias[:, None, None, :]
            h = x.new_zeros(k, b, hidden)
            c = x.new_zeros(k, b, hidden)
            outs = []
            for t in range(steps):
                gates = pre[:, :, t] + torch.bmm(h, w_hh)
                i, f, g, o = gates.chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                outs.append(h)
            seq = torch.stack(outs, dim=2)
        return torch.baddbmm(self.b_out[slots][:, None, :], h, self.w_out[slots].transpose(1, 2))


def _stack(nets: list["KeyLSTMs"]) -> "KeyLSTMs":
    """One KeyLSTMs holding the keys of several, in order."""
    _, in_dim, out_dim, hidden, layers = nets[0].shape
    out = KeyLSTMs(sum(n.shape[0] for n in nets), in_dim, out_dim, hidden, layers)
    with torch.no_grad():
        for name, p in out.named_parameters():
            p.copy_(torch.cat([dict(n.named_parameters())[name] for n in nets]))
    out.eval()
    return out


def _predict(net: KeyLSTMs, xs: dict[int, np.ndarray], chunk: int = SCORE_CHUNK) -> dict[int, np.ndarray]:
    """Predictions (n, out) per slot for inputs (n, T, in) per slot, in chunks."""
    out = {s: np.zeros((len(x), net.shape[2]), dtype=np.float32) for s, x in xs.items()}
    longest = max((len(x) for x in xs.values()), default=0)
    with torch.inference_mode():
        for lo in range(0, longest, chunk):
            slots = [s for s, x in xs.items() if len(x) > lo]
            size = min(chunk, max(len(xs[s]) - lo for s in slots))
            batch = np.zeros((len(slots), size) + xs[slots[0]].shape[1:], dtype=np.float32)
            for j, s in enumerate(slots):
                part = xs[s][lo:lo + size]
                batch[j, :len(part)] = part
            pred = net(torch.from_numpy(batch), torch.tensor(slots, dtype=torch.long)).numpy()
            for j, s in enumerate(slots):
                n = min(size, len(xs[s]) - lo)
                out[s][lo:lo + n] = pred[j, :n]
    return out


# -- what the model learned per key ----------------------------------------------------------

@dataclass
class KeyModel:
    """One modelled key: its dimensions, normalisation, and error statistics."""

    key: str
    slot: int                   # index of its weights in KeyLSTMs
    positions: list[int]        # parameter positions used, in order
    elapsed: bool               # whether "elapsed s" is the last dimension
    mean: list[float]           # per dimension, original units
    std: list[float]            # per dimension, original units (guarded, > 0)
    resid_rms: list[float]      # per dimension: validation residual RMS, normalised units
    err_mean: float             # Gaussian of the fitted vectors' errors (MSE in residual RMS units)
    err_std: float
    n_train: int
    n_val: int
    best_epoch: int = 0
    skipped: dict = field(default_factory=dict)   # parameter position (str) -> why not used
    nonnegative: list = field(default_factory=list)   # per dimension: never < 0 in training
    accepted_error: float = 0.0  # the largest error an analyst labelled normal (online update)

    @property
    def names(self) -> list[str]:
        return [f"param {p}" for p in self.positions] + ([ELAPSED] if self.elapsed else [])

    @property
    def dims(self) -> int:
        return len(self.positions) + self.elapsed

    def threshold(self, z: float) -> float:
        return max(self.err_mean + z * max(self.err_std, ERR_STD_FLOOR), self.accepted_error)

    def to_dict(self, z: Optional[float] = None) -> dict:
        d = asdict(self)
        d["dims"] = self.names
        if z is not None:
            d["threshold"] = self.threshold(z)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "KeyModel":
        km = cls(key=str(d["key"]), slot=int(d["slot"]), positions=[int(p) for p in d["positions"]],
                 elapsed=bool(d["elapsed"]), mean=[float(v) for v in d["mean"]],
                 std=[float(v) for v in d["std"]], resid_rms=[float(v) for v in d["resid_rms"]],
                 err_mean=float(d["err_mean"]), err_std=float(d["err_std"]),
                 n_train=int(d["n_train"]), n_val=int(d["n_val"]),
                 best_epoch=int(d.get("best_epoch", 0)), skipped=dict(d.get("skipped", {})),
                 nonnegative=[bool(v) for v in d.get("nonnegative", [])],
                 accepted_error=float(d.get("accepted_error", 0.0)))
        if not (len(km.mean) == len(km.std) == len(km.resid_rms) == km.dims) or km.dims == 0:
            raise ValueError(f"key {km.key}: dimension lists do not match")
        if min(km.std) <= 0:
            raise ValueError(f"key {km.key}: a standard deviation is not positive")
        return km


def _guarded_std(values: np.ndarray) -> tuple[float, float]:
    """Mean and std of the observed values; a constant dimension gets std = max(|mean|, 1),
    so a later deviation is measured relative to the value's own size."""
    values = values[~np.isnan(values)]
    if not len(values):
        return 0.0, 1.0
    mean, std = float(values.mean()), float(values.std())
    if not std > 1e-9 * max(1.0, abs(mean)):
        std = max(abs(mean), 1.0)
    return mean, std


# -- results ---------------------------------------------------------------------------------

def _num(v) -> Optional[float]:
    return None if v is None or not math.isfinite(v) else float(v)


@dataclass
class DimValue:
    """One dimension of an event's vector, in original units."""

    name: str
    actual: Optional[float]     # None: missing in this event
    predicted: float
    low: float                  # expected range: predicted -+ z * residual RMS
    high: float
    z: Optional[float]          # (actual - predicted) / residual RMS
    outside: bool

    def to_dict(self) -> dict:
        return {k: (_num(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class EventValue:
    """The value verdict of one event (aligned with grouped.events)."""

    index: int
    key: str
    status: str                 # normal | anomaly | not_modelled | no_values
    error: Optional[float] = None
    threshold: Optional[float] = None
    history: int = 0            # real previous vectors the prediction saw (<= window_size)
    reason: str = ""
    dims: list[DimValue] = field(default_factory=list)   # filled for anomalies (or details="all")

    @property
    def anomalous(self) -> bool:
        return self.status == STATUS_ANOMALY

    @property
    def modelled(self) -> bool:
        return self.status in (STATUS_NORMAL, STATUS_ANOMALY)

    @property
    def outside_dims(self) -> list[DimValue]:
        return [d for d in self.dims if d.outside]

    def to_dict(self) -> dict:
        return {"index": self.index, "key": self.key, "status": self.status,
                "value_anomaly": self.anomalous, "error": _num(self.error),
                "threshold": _num(self.threshold), "history": self.history, "reason": self.reason,
                "dims": [d.to_dict() for d in self.dims]}


@dataclass
class ValueScores:
    """Value verdicts of every event of a grouped log, and per session."""

    events: list[EventValue]
    session_ids: list[str]
    members: list[list[int]]
    confidence: float
    seconds: float = 0.0

    def __len__(self) -> int:
        return len(self.events)

    @property
    def anomalous(self) -> np.ndarray:
        """(N,) bool: value anomaly per event."""
        return np.array([e.anomalous for e in self.events], dtype=bool)

    @property
    def session_anomalous(self) -> list[bool]:
        """Per session: whether any of its events is a value anomaly."""
        flags = self.anomalous
        return [bool(flags[m].any()) if m else False for m in self.members]

    def session_events(self, i: int) -> list[EventValue]:
        return [self.events[j] for j in self.members[i]]

    def anomalies(self) -> list[EventValue]:
        return [e for e in self.events if e.anomalous]

    def not_modelled_keys(self) -> dict[str, str]:
        return {e.key: e.reason for e in self.events if e.status == STATUS_NOT_MODELLED}

    def summary(self) -> dict:
        counts = Counter(e.status for e in self.events)
        flagged = self.session_anomalous
        return {"events": len(self.events), "value_anomalies": counts[STATUS_ANOMALY],
                "normal": counts[STATUS_NORMAL], "not_modelled": counts[STATUS_NOT_MODELLED],
                "no_values": counts[STATUS_NO_VALUES], "sessions": len(self.session_ids),
                "sessions_with_value_anomaly": sum(flagged), "confidence": self.confidence,
                "not_modelled_keys": self.not_modelled_keys(), "seconds": round(self.seconds, 3)}

    def records(self) -> list[dict]:
        """One plain dict per event."""
        return [e.to_dict() for e in self.events]

    def to_dict(self, events: str = "anomalies") -> dict:
        """JSON-ready: the summary, per-session flags, and the anomalous events (or "all")."""
        if events not in ("anomalies", "all"):
            raise ConfigError(f"events must be 'anomalies' or 'all', got {events!r}")
        flagged = self.session_anomalous
        sessions = [{"session_id": sid, "value_anomaly": flagged[i],
                     "anomalous_events": [j for j in self.members[i] if self.events[j].anomalous],
                     "unscored_events": sum(not self.events[j].modelled for j in self.members[i])}
                    for i, sid in enumerate(self.session_ids)]
        chosen = self.events if events == "all" else self.anomalies()
        return {"summary": self.summary(), "sessions": sessions,
                "events": [e.to_dict() for e in chosen]}


# -- the model -------------------------------------------------------------------------------

class _KeyScoring:
    """One key's series while it is being scored (see ParamValueModel.score)."""

    def __init__(self, km: KeyModel, idx: list[int], x: np.ndarray, window: int, width: int):
        self.km, self.idx, self.x, self.window = km, idx, x, window
        self.mean, self.std, self.rms = np.array(km.mean), np.array(km.std), np.array(km.resid_rms)
        self.obs = ~np.isnan(x)
        self.n_obs = self.obs.sum(1)
        self.z = (x - self.mean) / self.std
        self.rows = _input_rows(self.z, window, width)
        n, d = x.shape
        self.pred = np.zeros((n, d))
        self.errors = np.zeros(n)
        self.above = np.zeros(n, dtype=bool)
        self.flagged = np.zeros(n, dtype=bool)

    def update(self, pred: np.ndarray, z: float, require_dim: bool) -> None:
        """Take the predictions (n, width) and flag the vectors."""
        self.pred = pred[:, :self.km.dims].astype(np.float64)
        scaled = np.where(self.obs, self.z - self.pred, 0.0) / self.rms   # residual RMS units
        self.errors = (scaled ** 2).sum(1) / np.maximum(self.n_obs, 1)
        self.above = (self.errors > self.km.threshold(z)) & (self.n_obs > 0)
        out = ((np.abs(scaled) > z) & self.obs).any(1)
        self.flagged = self.above & out if require_dim else self.above


class ParamValueModel:
    """Per-key LSTMs over parameter-value vectors (module docstring).

    Learned state (after fit or load): keys_ (key -> KeyModel), not_modelled_
    (key -> reason), net_ (KeyLSTMs, or None when no key could be modelled), metrics_.
    """

    def __init__(self, config: ParamConfig = ParamConfig()):
        if not isinstance(config, ParamConfig):
            raise ConfigError(f"config must be a ParamConfig, got {type(config).__name__}")
        self.config = config
        self.keys_: dict[str, KeyModel] = {}
        self.not_modelled_: dict[str, str] = {}
        self.net_: Optional[KeyLSTMs] = None
        self.metrics_: dict = {}
        self.fitted_ = False

    # -- fitting ------------------------------------------------------------------------------
    def fit(self, grouped: GroupedLog, *, progress: bool = False,
            on_epoch: Optional[Callable[[dict], None]] = None,
            batch_keys: bool = True) -> "ParamValueModel":
        """Learn every key with enough numeric vectors from `grouped` (normal data).

        on_epoch gets a dict per epoch (losses, keys still training); batch_keys=False
        trains the keys' LSTMs one after another instead of as one batch (the same
        models up to random draws; timings in bench/param_values.py).
        """
        cfg = self.config
        if not grouped.events:
            raise DataFormatError("no events to learn parameter values from: the input is empty")
        started = time.perf_counter()
        elapsed = event_elapsed(grouped)
        keys: dict[str, KeyModel] = {}
        not_modelled: dict[str, str] = {}
        series_z: dict[str, np.ndarray] = {}
        integral: dict[str, list[bool]] = {}
        for key, idx in sorted(_series(grouped).items()):
            if key == UNKNOWN:
                not_modelled[key] = UNKNOWN_REASON
                continue
            if len(idx) < cfg.min_samples:
                not_modelled[key] = f"too few samples ({len(idx)} < min_samples {cfg.min_samples})"
                continue
            positions, skipped = choose_positions([grouped.events[i] for i in idx])
            observed_gaps = sum(elapsed[i] is not None for i in idx)
            with_elapsed = cfg.include_elapsed and observed_gaps >= ELAPSED_SHARE * len(idx)
            if not positions and not with_elapsed:
                not_modelled[key] = "no numeric parameter values" + (
                    " and no elapsed time" if cfg.include_elapsed else "")
                continue
            x = _vectors(grouped, idx, elapsed, positions, with_elapsed)
            n_val = max(2, int(round(len(idx) * cfg.val_fraction)))
            n_train = len(idx) - n_val
            stats = [_guarded_std(x[:n_train, c]) for c in range(x.shape[1])]
            mean = np.array([s[0] for s in stats])
            std = np.array([s[1] for s in stats])
            series_z[key] = (x - mean) / std
            # integer-valued dimensions (whole seconds, counts, sizes) are rounded: their
            # residual RMS is never below 0.5 units
            integral[key] = [bool(np.all(np.mod(x[~np.isnan(x[:, c]), c], 1) == 0))
                             for c in range(x.shape[1])]
            keys[key] = KeyModel(key=key, slot=len(keys), positions=positions, elapsed=with_elapsed,
                                 mean=mean.tolist(), std=std.tolist(), resid_rms=[], err_mean=0.0,
                                 err_std=0.0, n_train=n_train, n_val=n_val,
                                 skipped={str(p): why for p, why in skipped.items()},
                                 nonnegative=[bool(np.all(x[~np.isnan(x[:, c]), c] >= 0))
                                              for c in range(x.shape[1])])
        self.keys_, self.not_modelled_, self.net_ = keys, not_modelled, None
        history: list[dict] = []
        if keys:
            kms = sorted(keys.values(), key=lambda km: km.slot)
            width = self._width()
            if batch_keys:
                self.net_, history = self._train(kms, series_z, integral, width, progress, on_epoch)
            else:
                nets = []
                for km in kms:
                    net, part = self._train([km], series_z, integral, width, progress, on_epoch)
                    nets.append(net)
                    history += part
                self.net_ = _stack(nets)
        self.metrics_ = {
            "fit_seconds": round(time.perf_counter() - started, 3), "events": len(grouped.events),
            "modelled_keys": len(keys), "not_modelled_keys": len(not_modelled),
            "epochs_run": max((r["epoch"] for r in history), default=0),
            "batched_keys": bool(batch_keys), "history": history,
            "error_gaussian": {k: {"mean": km.err_mean, "std": km.err_std} for k, km in keys.items()},
        }
        self.fitted_ = True
        return self

    def _width(self) -> int:
        return max(km.dims for km in self.keys_.values())

    def _new_net(self) -> KeyLSTMs:
        width = self._width()
        return KeyLSTMs(len(self.keys_), 2 * width, width, self.config.hidden_size, self.config.num_layers)

    def _train(self, kms: list[KeyModel], series_z: dict[str, np.ndarray],
               integral: dict[str, list[bool]], width: int, progress: bool,
               on_epoch) -> tuple[KeyLSTMs, list[dict]]:
        """Fit one KeyLSTMs over the keys `kms` (slot j of the net is kms[j]) and
        calibrate their errors; returns the net and the per-epoch records."""
        cfg = self.config
        K = len(kms)
        gen = torch.Generator().manual_seed(cfg.seed)
        net = KeyLSTMs(K, 2 * width, width, cfg.hidden_size, cfg.num_layers).reset(gen)
        data = [(_gather(_input_rows(series_z[km.key], cfg.window_size, width), cfg.window_size),)
                + _targets(series_z[km.key], width) for km in kms]
        # all keys' training windows in one tensor; key j's rows start at offset[j]
        train_x = torch.from_numpy(np.concatenate([x[:km.n_train] for (x, _, _), km in zip(data, kms)]))
        train_y = torch.from_numpy(np.concatenate([y[:km.n_train] for (_, y, _), km in zip(data, kms)]))
        train_m = torch.from_numpy(np.concatenate([m[:km.n_train] for (_, _, m), km in zip(data, kms)]))
        n_train = torch.tensor([km.n_train for km in kms], dtype=torch.float64)
        offset = torch.tensor(np.concatenate([[0], np.cumsum([km.n_train for km in kms])[:-1]]),
                              dtype=torch.long)
        val_x = {j: x[km.n_train:] for j, ((x, _, _), km) in enumerate(zip(data, kms))}
        val_y = {j: (y[km.n_train:], m[km.n_train:]) for j, ((_, y, m), km) in enumerate(zip(data, kms))}
        optimizer = torch.optim.Adam(net.parameters(), lr=cfg.lr)
        best_loss = [math.inf] * K
        best_epoch = [0] * K
        best_state = {n: p.detach().clone() for n, p in net.named_parameters()}
        history: list[dict] = []
        desc = "value model" if K > 1 else f"value model {kms[0].key}"
        bar = tqdm(range(1, cfg.epochs + 1), desc=desc, unit="epoch", disable=not progress)
        active = list(range(K))
        for epoch in bar:
            t0 = time.perf_counter()
            net.train()
            loss_sum = 0.0
            # An epoch is about one pass over each key's training vectors: key j takes part
            # in the first ceil(n_j / batch) steps (at most MAX_STEPS_PER_EPOCH, so a key
            # with millions of vectors is checked on validation every 100 batches). Only
            # keys still improving are run (a stopped key keeps its best weights).
            key_steps = {j: min(MAX_STEPS_PER_EPOCH, max(1, math.ceil(kms[j].n_train / cfg.batch_size)))
                         for j in active}
            steps = max(key_steps.values())
            for step in range(steps):
                slots = torch.tensor([j for j in active if key_steps[j] > step], dtype=torch.long)
                local = (torch.rand(len(slots), cfg.batch_size, generator=gen, dtype=torch.float64)
                         * n_train[slots, None]).long()
                rows = offset[slots, None] + local
                xb = train_x[rows]
                if cfg.history_noise > 0:
                    xb = _corrupt(xb, width, cfg.history_noise, gen)
                pred = net(xb, slots)
                m = train_m[rows]
                per_key = (((pred - train_y[rows]) ** 2) * m).sum((1, 2)) / m.sum((1, 2)).clamp(min=1)
                loss = per_key.sum()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(per_key.detach().mean())
            net.eval()
            val_loss = self._val_losses(net, {j: val_x[j] for j in active}, val_y)
            improved = 0
            for j, loss_j in val_loss.items():
                if loss_j < best_loss[j] - 1e-7:
                    best_loss[j], best_epoch[j] = loss_j, epoch
                    improved += 1
                    with torch.no_grad():
                        for n, p in net.named_parameters():
                            best_state[n][j] = p[j]
            record = {"epoch": epoch, "train_loss": round(loss_sum / steps, 6),
                      "val_loss": round(float(np.mean(list(val_loss.values()))), 6),
                      "improved_keys": improved, "training_keys": len(active),
                      "seconds": round(time.perf_counter() - t0, 3)}
            if K == 1:
                record["key"] = kms[0].key
            history.append(record)
            bar.set_postfix(loss=record["train_loss"], val=record["val_loss"], keys=len(active))
            if on_epoch:
                on_epoch(record)
            active = [j for j in active if epoch - best_epoch[j] < cfg.patience]
            if not active:
                break
        bar.close()
        with torch.no_grad():
            for n, p in net.named_parameters():
                p.copy_(best_state[n])
        net.eval()
        # Calibration: every fitted vector with a full history, train and validation.
        # The validation tail alone can be unrepresentative: on the HDFS sample the block
        # sizes are all 64 MiB in the last 20%, so its residuals say "exactly 64 MiB".
        start = [min(cfg.window_size, km.n_train) for km in kms]
        cal_x = {j: x[start[j]:] for j, (x, _, _) in enumerate(data)}
        preds = _predict(net, cal_x)
        for j, km in enumerate(kms):
            _, y, m = data[j]
            y, m = y[start[j]:], m[start[j]:]
            d = km.dims
            r = (preds[j][:, :d] - y[:, :d]).astype(np.float64)
            obs = m[:, :d].astype(bool)
            km.resid_rms = [max(math.sqrt(float((r[obs[:, c], c] ** 2).mean())) if obs[:, c].any() else 1.0,
                                RESID_FLOOR, 0.5 / km.std[c] if integral[km.key][c] else 0.0)
                            for c in range(d)]
            has = obs.any(1)
            scaled = np.where(obs, (r / np.array(km.resid_rms)) ** 2, 0.0)
            errors = scaled.sum(1)[has] / obs.sum(1)[has]
            km.err_mean = float(errors.mean()) if len(errors) else 0.0
            km.err_std = float(errors.std(ddof=1)) if len(errors) > 1 else 0.0
            km.best_epoch = best_epoch[j]
        return net, history

    @staticmethod
    def _val_losses(net, val_x: dict, val_y: dict) -> dict[int, float]:
        preds = _predict(net, val_x)
        out = {}
        for slot in val_x:
            y, m = val_y[slot]
            out[slot] = float((((preds[slot] - y) ** 2) * m).sum() / max(m.sum(), 1))
        return out

    # -- scoring ------------------------------------------------------------------------------
    def score(self, grouped: GroupedLog, *, confidence: Optional[float] = None,
              details: str = "anomalies", progress: bool = False) -> ValueScores:
        """The value verdict of every event of `grouped`. Histories come from `grouped`
        itself: each event is predicted from the previous vectors of its key there, as
        they are (inputs clipped to +-INPUT_CLIP standard deviations, so one wild value
        cannot saturate the LSTM for the vectors after it). Replacing anomalies by their
        prediction in later histories was tried and dropped: on a trending value a false
        positive then makes the model run on its own predictions, and drift.

        confidence overrides the configured one (no refit needed); details "all" fills
        every scored event's dims, "anomalies" (default) only the anomalies'.
        """
        if not self.fitted_:
            raise ModelFileError("the parameter-value model is not fitted: call fit() or load()")
        if details not in ("anomalies", "all"):
            raise ConfigError(f"details must be 'anomalies' or 'all', got {details!r}")
        if not grouped.events:
            raise DataFormatError("no events to score: the input is empty")
        started = time.perf_counter()
        conf = self.config.confidence if confidence is None else confidence
        z = confidence_z(conf)
        cfg, w = self.config, self.config.window_size
        elapsed = event_elapsed(grouped)
        results: list[Optional[EventValue]] = [None] * len(grouped.events)
        states: dict[int, _KeyScoring] = {}
        for key, idx in sorted(_series(grouped).items()):
            km = self.keys_.get(key)
            if km is None:
                why = (UNKNOWN_REASON if key == UNKNOWN
                       else self.not_modelled_.get(key, "key not seen in training"))
                for i in idx:
                    results[i] = EventValue(i, key, STATUS_NOT_MODELLED, reason=why)
                continue
            states[km.slot] = _KeyScoring(km, idx, _vectors(grouped, idx, elapsed, km.positions, km.elapsed),
                                          w, self._width())
        if states:
            preds = _predict(self.net_, {s: _gather(st.rows, w) for s, st in states.items()})
            for slot, st in states.items():
                st.update(preds[slot], z, cfg.require_dim_outside)
        for st in states.values():
            km = st.km
            threshold = km.threshold(z)
            for r, i in enumerate(st.idx):
                hist = min(r, w)
                if not st.n_obs[r]:
                    results[i] = EventValue(i, km.key, STATUS_NO_VALUES, history=hist,
                                            reason="no observed value (e.g. the first event of its session)")
                    continue
                bad = bool(st.flagged[r])
                ev = EventValue(i, km.key, STATUS_ANOMALY if bad else STATUS_NORMAL,
                                error=float(st.errors[r]), threshold=threshold, history=hist)
                if st.above[r] and not bad:
                    ev.reason = "error above the threshold, but every value within its expected range"
                if bad or details == "all":
                    ev.dims = self._dims(km, st.x[r], st.pred[r], st.mean, st.std, st.rms, z)
                    ev.dims.sort(key=lambda dv: -abs(dv.z or 0.0))
                results[i] = ev
        return ValueScores(events=results, session_ids=[s.id for s in grouped.sessions.sessions],
                           members=[list(m) for m in grouped.members], confidence=conf,
                           seconds=time.perf_counter() - started)

    @staticmethod
    def _dims(km: KeyModel, actual, pred_z, mean, std, rms, z) -> list[DimValue]:
        out = []
        for c, name in enumerate(km.names):
            predicted = float(pred_z[c] * std[c] + mean[c])
            spread = float(rms[c] * std[c])
            a = None if np.isnan(actual[c]) else float(actual[c])
            dz = None if a is None else (a - predicted) / spread
            low = predicted - z * spread
            if c < len(km.nonnegative) and km.nonnegative[c] and (a is None or a >= 0):
                low = max(low, 0.0)    # a value never negative in training: show 0, not -3
            out.append(DimValue(name=name, actual=a, predicted=predicted, low=low,
                                high=predicted + z * spread, z=dz,
                                outside=dz is not None and abs(dz) > z))
        return out

    # -- files --------------------------------------------------------------------------------
    def save(self, model_dir) -> Path:
        """Write param_model.safetensors then param_model.json into `model_dir`."""
        if not self.fitted_:
            raise ModelFileError("the parameter-value model is not fitted: nothing to save")
        model_dir = prepare_model_dir(model_dir)
        weights = model_dir / PARAM_WEIGHTS_FILE
        state = ({k: v.detach().to("cpu").contiguous() for k, v in self.net_.state_dict().items()}
                 if self.net_ is not None else {})
        _atomic_write(weights, lambda tmp: save_file(state, tmp, metadata={"format": FORMAT}))
        z = confidence_z(self.config.confidence)
        doc = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "library_version": library_version(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "config": self.config.to_dict(),
            "keys": {k: km.to_dict(z) for k, km in sorted(self.keys_.items())},
            "not_modelled": dict(sorted(self.not_modelled_.items())),
            "metrics": self.metrics_,
            "weights": {"file": PARAM_WEIGHTS_FILE, "sha256": _sha256(weights),
                        "shapes": {k: list(v.shape) for k, v in state.items()}},
        }
        text = json.dumps(doc, indent=2, allow_nan=False)
        _atomic_write(model_dir / PARAM_CONFIG_FILE, lambda tmp: Path(tmp).write_text(text))
        return model_dir

    @classmethod
    def load(cls, model_dir) -> "ParamValueModel":
        """Load what save wrote, refusing anything else with a ModelFileError."""
        model_dir = Path(model_dir)
        path = model_dir / PARAM_CONFIG_FILE
        if not path.is_file():
            raise ModelFileError(f"{model_dir}: no parameter-value model ({PARAM_CONFIG_FILE} missing)")
        doc = read_model_doc(path, FORMAT, FORMAT_VERSION, "parameter-value model")
        try:
            model = cls(ParamConfig.from_dict(doc["config"]))
            model.keys_ = {str(k): KeyModel.from_dict(v) for k, v in doc["keys"].items()}
            model.not_modelled_ = {str(k): str(v) for k, v in doc["not_modelled"].items()}
            model.metrics_ = dict(doc.get("metrics", {}))
            expected_sha = doc["weights"]["sha256"]
            if sorted(km.slot for km in model.keys_.values()) != list(range(len(model.keys_))):
                raise ValueError("key slots are not 0..K-1")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelFileError(f"{path}: incomplete or invalid parameter-value model ({exc})") from None
        weights = model_dir / PARAM_WEIGHTS_FILE
        if not weights.is_file():
            raise ModelFileError(f"{model_dir}: weights file {PARAM_WEIGHTS_FILE} is missing")
        if _sha256(weights) != expected_sha:
            raise ModelFileError(f"{weights}: checksum does not match {PARAM_CONFIG_FILE}; "
                                 "the file was altered or replaced")
        try:
            state = load_file(str(weights), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(f"{weights}: not a safetensors weights file ({exc})") from None
        if model.keys_:
            net = model._new_net()
            expected = net.expected_shapes()
            got = {k: tuple(v.shape) for k, v in state.items()}
            if got != expected:
                raise ModelFileError(f"{weights}: tensors {got} do not fit the model described in "
                                     f"{PARAM_CONFIG_FILE} (expected {expected})")
            if any(not torch.isfinite(v).all() for v in state.values()):
                raise ModelFileError(f"{weights}: weights hold NaN or infinite values")
            net.load_state_dict(state, strict=True)
            net.eval()
            model.net_ = net
        elif state:
            raise ModelFileError(f"{weights}: holds weights but {PARAM_CONFIG_FILE} models no key")
        model.fitted_ = True
        return model


# -- helpers ---------------------------------------------------------------------------------

def select_sessions(grouped: GroupedLog, keep: Iterable[int]) -> GroupedLog:
    """A GroupedLog of only the sessions `keep` (indices) and their events, in log order:
    e.g. fit the value model on the sessions labelled normal."""
    keep = sorted(set(keep))
    used = sorted({i for s in keep for i in grouped.members[s]})
    remap = {old: new for new, old in enumerate(used)}
    ss = grouped.sessions
    return GroupedLog([grouped.events[i] for i in used],
                      SessionSet([ss.sessions[s] for s in keep], dict(ss.templates), ss.source, ss.format),
                      [[remap[i] for i in grouped.members[s]] for s in keep])


@dataclass
class SyntheticValueLog:
    """A synthetic grouped log and the events whose values were made abnormal."""

    grouped: GroupedLog
    anomalies: dict[int, str]       # event index -> "slow_step" | "abnormal_size" | "abnormal_level"

    @property
    def anomalous_sessions(self) -> set[int]:
        return {s for s, m in enumerate(self.grouped.members) if any(i in self.anomalies for i in m)}


SYNTHETIC_TEMPLATES = {
    "S": "start job <*> with <*> workers",
    "Q": "queue depth <*>",
    "W": "wrote chunk <*> of <*> bytes",
    "C": "commit took <*> ms",
    "E": "job <*> done",
    "R": "retrying chunk <*>",
}


def synthetic_value_log(n_sessions: int = 200, *, anomaly_share: float = 0.0, seed: int = 0,
                        rare_share: float = 0.05) -> SyntheticValueLog:
    """Jobs with known value patterns, interleaved in time, and injected value anomalies.

    A job: S "start job <id> with <2|4|8> workers" (the id is a large distinct integer:
    not a value); Q "queue depth <d>" 0.05 s later, d following a slow wave over the whole
    log (100 + 50 sin(2 pi t / 60 s), +-2): only a model that reads the history predicts
    it; 3-6 x W "wrote chunk <i> of <~4096> bytes" one second apart (+-5%); C "commit
    took <~200> ms" half a second later; E "job <id> done" 0.2 s later. A job starts
    every 2-4 s, so jobs overlap. R "retrying chunk <i>" appears in about `rare_share` of
    the jobs: too rare to model. In `anomaly_share` of the jobs one event is made
    abnormal: "slow_step" (a W or C gap x10), "abnormal_size" (bytes x3 or /3, or the
    commit time x4) or "abnormal_level" (the queue depth +-30: inside the wave's overall
    range, abnormal only for the moment).
    """
    if n_sessions < 1:
        raise ConfigError("n_sessions must be positive")
    rng = random.Random(seed)
    raw = []   # (timestamp, session, key, params, anomaly kind or None)
    start = 1_000_000.0
    for s in range(n_sessions):
        start += rng.uniform(2.0, 4.0)
        job = rng.randrange(10 ** 9, 10 ** 10)
        chunks = rng.randint(3, 6)
        # which step (0: Q, 1..chunks: a W, chunks+1: C) is abnormal, and how
        target, kind = None, None
        if rng.random() < anomaly_share:
            kind = rng.choice(("slow_step", "abnormal_size", "abnormal_level"))
            target = 0 if kind == "abnormal_level" else rng.randint(1, chunks + 1)
        depth = 100 + 50 * math.sin(2 * math.pi * (start - 1_000_000.0) / 60) + rng.gauss(0, 2)
        if target == 0:
            depth += rng.choice((-30, 30))
        t = start
        events = [(t, "S", [float(job), float(rng.choice((2, 4, 8)))], None)]
        t += rng.gauss(0.05, 0.005)
        events.append((t, "Q", [round(depth, 1)], kind if target == 0 else None))
        for step in range(1, chunks + 2):
            is_commit = step == chunks + 1
            gap = rng.gauss(0.5, 0.025) if is_commit else rng.gauss(1.0, 0.05)
            value = rng.gauss(200.0, 10.0) if is_commit else rng.gauss(4096.0, 128.0)
            mark = None
            if step == target:
                mark = kind
                if kind == "slow_step":
                    gap *= 10
                else:
                    value *= 4 if is_commit else rng.choice((3.0, 1 / 3))
            t += gap
            if is_commit:
                events.append((t, "C", [round(value, 1)], mark))
            else:
                events.append((t, "W", [float(step), float(round(value))], mark))
                if rng.random() < rare_share / chunks:
                    events.append((t + 0.01, "R", [float(step)], None))
        t += rng.gauss(0.2, 0.01)
        events.append((t, "E", [float(job)], None))
        raw += [(ts, s, key, params, mark) for ts, key, params, mark in events]
    raw.sort(key=lambda r: (r[0], r[1]))
    evs, members, anomalies = [], [[] for _ in range(n_sessions)], {}
    for i, (ts, s, key, params, mark) in enumerate(raw):
        content = SYNTHETIC_TEMPLATES[key]
        for p in params:
            content = content.replace("<*>", f"{p:g}" if not float(p).is_integer() else str(int(p)), 1)
        evs.append(Event(line_no=i + 1, raw=f"{ts:.3f} {content}", headers={}, content=content,
                         key=key, template=SYNTHETIC_TEMPLATES[key], params=list(params), timestamp=ts))
        members[s].append(i)
        if mark:
            anomalies[i] = mark
    sessions = [Session(f"job{s}", [evs[i].key for i in members[s]],
                        ANOMALY if any(i in anomalies for i in members[s]) else NORMAL)
                for s in range(n_sessions)]
    grouped = GroupedLog(evs, SessionSet(sessions, dict(SYNTHETIC_TEMPLATES), "synthetic", "raw"), members)
    return SyntheticValueLog(grouped, anomalies)


def accept_false_positives(model: ParamValueModel, events: Iterable[EventValue],
                           margin: float = 1.05) -> tuple[ParamValueModel, list[str]]:
    """A copy of the value model that no longer flags these events (value anomalies an
    analyst labelled false positives): each one's key accepts errors up to its error
    (times `margin`), the online update of §3.3 applied to the value model's threshold.
    Returns (model, keys changed)."""
    updated = copy.deepcopy(model)
    changed = []
    for ev in events:
        km = updated.keys_.get(ev.key)
        if km is None or not ev.anomalous or ev.error is None:
            continue
        if ev.error * margin > km.accepted_error:
            km.accepted_error = float(ev.error * margin)
            changed.append(ev.key)
    return updated, sorted(set(changed))


def load_param_model(model_dir) -> Optional[ParamValueModel]:
    """The value model saved beside a log-key model, or None when it has none
    (a model trained on session files has no parameter values to learn)."""
    if not (Path(model_dir) / PARAM_CONFIG_FILE).is_file():
        return None
    return ParamValueModel.load(model_dir)


def fit_for_normal_sessions(grouped: GroupedLog, config: ParamConfig = ParamConfig()) -> ParamValueModel:
    """Fit on the sessions not labelled anomalous (a model of normal behaviour)."""
    keep = [i for i, s in enumerate(grouped.sessions.sessions) if s.label != 1]
    return ParamValueModel(config).fit(select_sessions(grouped, keep))
