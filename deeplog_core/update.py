"""The online update (DeepLog §3.3): fine-tune a model on what analysts labelled.

A false-positive label says "this (history -> key) was normal": its windows are trained
towards their actual key (an event label: that event's window; a session label: every
window of the session). A confirmed anomaly says "keep flagging this": its windows get an
unlikelihood term, -log(1 - p(key)), so the update cannot learn them away. Every epoch
also replays a sample of the model's own normal training windows (weighted as in
training), so it does not forget the rest. It stops as soon as no labelled false
positive is flagged any more (and `settle_epochs` more), or after `max_epochs`.

A key the model has never seen (a false positive of kind unknown_key) grows the
vocabulary: the new key gets a freshly initialised input column (old histories never
use it, so they compute what they did) and an output row that starts well below the least likely key, so it is
learnt only where the labels put it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.nn import functional as F

from .artifacts import DeepLogModel, library_version
from .config import UpdateConfig
from .errors import ConfigError
from .labels import CONFIRMED, FALSE_POSITIVE, Label
from .model import LogKeyEnsemble, LogKeyLSTM, key_rank, member_nets
from .sessions import Session
from .training import _PairSet, seed_everything
from .vocab import EOS, RESERVED, UNK, Vocabulary
from .windows import encode, make_windows


NEW_KEY_MARGIN = 8.0   # logits: e^-8 ~ 3e-4 times the least likely known key


@dataclass
class UpdateReport:
    labels: int = 0                    # labels that applied to a session of the data
    skipped: list = field(default_factory=list)   # (label id, why) that did not apply
    fp_windows: int = 0
    context_windows: int = 0           # unflagged windows of sessions with an event label
    confirmed_windows: int = 0
    new_keys: list = field(default_factory=list)
    replay_windows: int = 0
    epochs: int = 0
    fp_flagged_before: int = 0
    fp_flagged_after: int = 0
    confirmed_flagged_before: int = 0
    confirmed_flagged_after: int = 0
    value_events_accepted: int = 0     # value anomalies labelled normal (the value model's part)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def _grow(model: DeepLogModel, new_keys: list[str]) -> tuple[torch.nn.Module, Vocabulary]:
    """A copy of the model's net (every member of an ensemble) over a vocabulary with
    `new_keys` appended."""
    net = copy.deepcopy(model.net).cpu()
    if not new_keys:
        return net, model.vocab
    if model.config.input_mode == "scalar":
        raise ConfigError(f"labelled keys {new_keys} are new to the model, and a scalar-input model "
                          "cannot learn new keys (its inputs are scaled by the vocabulary size); "
                          "retrain it with these sessions instead")
    vocab = Vocabulary([*model.vocab.to_list(), *new_keys])
    grown = [_grow_member(m, len(model.vocab), len(vocab), model.config) for m in member_nets(net)]
    return (grown[0] if len(grown) == 1 else LogKeyEnsemble(grown)), vocab


def _grow_member(net: LogKeyLSTM, old: int, new: int, config) -> LogKeyLSTM:
    grown = LogKeyLSTM(new, config)
    state, target = net.state_dict(), grown.state_dict()
    with torch.no_grad():
        for name, value in state.items():
            t = target[name]
            if t.shape == value.shape:
                t.copy_(value)
            elif name == "lstm.weight_ih_l0":          # one-hot input: the new key's column is
                t[:, :old] = value                      # a fresh init; old histories never use it
            elif name == "embed.weight":
                t[:old] = value
            elif name == "fc.weight":                   # no opinion yet: learnt where labelled
                t.zero_()
                t[:old] = value
            elif name == "fc.bias":                     # below every known key, so the new key
                t[:old] = value                         # is not a top-g candidate anywhere
                t[old:] = value[3:].min() - NEW_KEY_MARGIN  # until the labels teach where it goes
            else:
                raise ConfigError(f"cannot grow parameter {name} of shape {tuple(value.shape)}")
    grown.load_state_dict(target)
    return grown


def _resolve(labels: Sequence[Label], sessions: dict[str, Session], vocab: Vocabulary,
             report: UpdateReport) -> tuple[list[tuple[Label, Session]], list[str]]:
    applied, new_keys = [], []
    for label in labels:
        session = sessions.get(label.session_id)
        if session is None:
            report.skipped.append((label.id, f"session {label.session_id} is not in the data"))
            continue
        if label.position is not None and label.position > len(session.keys):
            report.skipped.append((label.id, f"session {label.session_id} has no event {label.position}"))
            continue
        if label.verdict == FALSE_POSITIVE:
            keys = session.keys if label.position is None else session.keys[label.position:label.position + 1]
            if any(k in RESERVED for k in keys):
                # a raw line no template matched: there is no key to learn, only "unknown"
                report.skipped.append((label.id, "the event is a line that matches no template; "
                                                 "retrain to mine a template for it"))
                continue
            new_keys += [k for k in keys if k not in vocab and k not in new_keys]
        applied.append((label, session))
    report.labels = len(applied)
    return applied, new_keys


def _flagged(net, x, y, g: int, min_end: float) -> np.ndarray:
    with torch.inference_mode():
        probs = torch.softmax(net(x), dim=-1)
        p = probs.gather(1, y[:, None])[:, 0]
        rank = key_rank(probs, y)
        flags = (y == UNK) | (rank > g) | ((y == EOS) & (p < min_end))
    return flags.cpu().numpy()


def update_model(model: DeepLogModel, labels: Sequence[Label], sessions: Sequence[Session],
                 replay_sessions: Sequence[Session], config: UpdateConfig = UpdateConfig(), *,
                 templates: Optional[dict] = None, on_epoch: Optional[Callable[[dict], None]] = None) -> tuple[DeepLogModel, UpdateReport]:
    """A new model fitted to `labels` (on `sessions`, the labelled dataset), replaying
    `replay_sessions` (normal training data). The given model is left untouched."""
    start = time.perf_counter()
    report = UpdateReport()
    if not labels:
        raise ConfigError("no labels to learn from: mark a false positive (or confirm an anomaly) first")
    if not replay_sessions and config.min_replay > 0:
        raise ConfigError("an update replays the model's normal training sessions, and none were given")
    cfg = model.config
    applied, new_keys = _resolve(labels, {s.id: s for s in sessions}, model.vocab, report)
    if not any(l.verdict == FALSE_POSITIVE for l, _ in applied):
        raise ConfigError("none of the labels is a false positive on a session of this data "
                          f"({len(report.skipped)} did not match a session); nothing to correct")
    seed_everything(config.seed)
    net, vocab = _grow(model, new_keys)
    report.new_keys = new_keys

    fp_x, fp_y, cf_x, cf_y, ctx_x, ctx_y = [], [], [], [], [], []
    for label, session in applied:
        w = make_windows(encode([session], vocab, cfg.session_end), cfg.window_size)
        rows = np.arange(len(w)) if label.position is None else np.flatnonzero(w.position == label.position)
        if label.verdict == CONFIRMED:
            if label.position is None:   # a confirmed session: keep what is flagged in it flagged
                rows = rows[_flagged(net, torch.from_numpy(w.history), torch.from_numpy(w.target),
                                     cfg.num_candidates, cfg.min_end_probability)]
            rows = rows[w.target[rows] != UNK]   # unknown keys stay flagged whatever we train
            cf_x.append(w.history[rows]), cf_y.append(w.target[rows])
        else:
            fp_x.append(w.history[rows]), fp_y.append(w.target[rows])
            if label.position is not None:
                # The rest of the session, where the model saw nothing wrong, is the
                # context of the new behaviour: learnt too, so the correction stays local.
                ok = ~_flagged(net, torch.from_numpy(w.history), torch.from_numpy(w.target),
                               cfg.num_candidates, cfg.min_end_probability)
                ok[rows] = False
                ctx_x.append(w.history[ok]), ctx_y.append(w.target[ok])
    h = cfg.window_size
    fp_x = torch.from_numpy(np.concatenate(fp_x) if fp_x else np.zeros((0, h), np.int64))
    fp_y = torch.from_numpy(np.concatenate(fp_y) if fp_y else np.zeros(0, np.int64))
    cf_x = torch.from_numpy(np.concatenate(cf_x) if cf_x else np.zeros((0, h), np.int64))
    cf_y = torch.from_numpy(np.concatenate(cf_y) if cf_y else np.zeros(0, np.int64))
    report.fp_windows, report.confirmed_windows = len(fp_y), len(cf_y)
    if ctx_y:
        ctx = np.unique(np.concatenate([np.concatenate(ctx_x), np.concatenate(ctx_y)[:, None]], 1), axis=0)
        report.context_windows = len(ctx)
        lx = torch.cat([fp_x, torch.from_numpy(ctx[:, :-1])])
        ly = torch.cat([fp_y, torch.from_numpy(ctx[:, -1])])
    else:
        lx, ly = fp_x, fp_y
    g, min_end = cfg.num_candidates, cfg.min_end_probability
    report.fp_flagged_before = int(_flagged(net, fp_x, fp_y, g, min_end).sum())
    report.confirmed_flagged_before = int(_flagged(net, cf_x, cf_y, g, min_end).sum()) if len(cf_y) else 0

    replay = _PairSet(list(replay_sessions), vocab, cfg, torch.device("cpu"), model.train_config.pair_weighting)
    n_replay = max(config.min_replay, config.replay * len(fp_y))
    report.replay_windows = n_replay
    optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
    gen = torch.Generator().manual_seed(config.seed)
    fixed_at = None
    for epoch in range(1, config.max_epochs + 1):
        if report.fp_flagged_before == 0 and epoch == 1 and not len(cf_y):
            break  # nothing is flagged: the model already agrees with the labels
        net.train()
        picks = (torch.multinomial(replay.w, n_replay, replacement=True, generator=gen)
                 if len(replay) else torch.zeros(0, dtype=torch.long))
        steps = max(1, -(-len(picks) // config.batch_size))
        for s in range(steps):
            idx = picks[s * config.batch_size:(s + 1) * config.batch_size]
            loss = F.cross_entropy(net(replay.x[idx]), replay.y[idx]) if len(idx) else 0.0
            loss = loss + config.label_weight * F.cross_entropy(net(lx), ly)
            if len(cf_y) and config.confirmed_weight > 0:
                p = torch.softmax(net(cf_x), dim=-1).gather(1, cf_y[:, None])[:, 0]
                loss = loss - config.confirmed_weight * torch.log1p(-p.clamp(max=1 - 1e-6)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        net.eval()
        still = int(_flagged(net, fp_x, fp_y, g, min_end).sum())
        report.epochs = epoch
        if on_epoch:
            on_epoch({"epoch": epoch, "epochs": config.max_epochs, "fp_flagged": still,
                      "fp_windows": report.fp_windows, "loss": round(float(loss), 6)})
        fixed_at = fixed_at or (epoch if still == 0 else None)
        # A window that just scrapes into the top g generalises poorly to the same
        # behaviour after another history: a few more epochs settle it.
        if fixed_at and (epoch - fixed_at >= config.settle_epochs or still):
            break
    net.eval()
    report.fp_flagged_after = int(_flagged(net, fp_x, fp_y, g, min_end).sum())
    report.confirmed_flagged_after = int(_flagged(net, cf_x, cf_y, g, min_end).sum()) if len(cf_y) else 0
    report.seconds = round(time.perf_counter() - start, 3)

    digest = hashlib.sha256(json.dumps(
        [model.data.get("fingerprint", ""), sorted((l.id, l.dataset, l.session_id, l.position, l.verdict)
                                                    for l, _ in applied)]).encode()).hexdigest()
    known = dict(templates or {})
    templates = {**model.templates, **{k: known[k] for k in new_keys if k in known}}
    metrics = {k: v for k, v in model.metrics.items() if k not in ("history", "update")}
    metrics["update"] = report.to_dict()
    updated = DeepLogModel(
        config=cfg, vocab=vocab, net=net.to(model.device), train_config=model.train_config,
        metrics=metrics, templates=templates, parser_state=copy.deepcopy(model.parser_state),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        library_version=library_version(),
        data={**model.data, "fingerprint": digest, "parent_fingerprint": model.data.get("fingerprint", ""),
              "labels": report.labels},
    )
    return updated, report
