"""Fitting the log-key model: Adam, cross-entropy, shuffled batches, early stopping.

Training works on distinct (history, next key) pairs, each with a weight w derived from
how often it occurs (TrainConfig.pair_weighting). The loss of a batch is
sum(w * CE) / (batch size * mean w over the data), so a batch's expected gradient is the
gradient of the weighted objective over all windows, while an epoch costs as many steps
as there are *distinct* windows (HDFS: ~18x fewer). Validation loss is always the plain
per-window cross-entropy, whatever the weighting.

Runs as ``python -m deeplog_core.train`` with the flags of ``deeplog train``.
"""

from __future__ import annotations

import copy
import math
import random
import sys
import time
from datetime import datetime, timezone
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from .artifacts import DeepLogModel, library_version, resolve_device
from .config import ModelConfig, TrainConfig
from .errors import ConfigError
from .model import LogKeyLSTM
from .sessions import Session, fingerprint
from .vocab import Vocabulary
from .windows import encode, make_windows, unique_pairs


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def split_validation(sessions: Sequence[Session], fraction: float, seed: int):
    """(train, validation) sessions: a seeded random share of whole sessions."""
    n_val = int(round(len(sessions) * fraction))
    if fraction > 0 and len(sessions) >= 10:
        n_val = max(n_val, 1)
    else:
        n_val = 0
    order = np.random.default_rng(seed).permutation(len(sessions))
    val_idx = set(order[:n_val].tolist())
    train = [s for i, s in enumerate(sessions) if i not in val_idx]
    val = [s for i, s in enumerate(sessions) if i in val_idx]
    return train, val


class _PairSet:
    """Distinct (history, next key) pairs as tensors on the training device.

    counts: how often each pair occurs; weights: its weight in the loss.
    """

    def __init__(self, sessions, vocab, config, device, weighting="count"):
        windows = make_windows(encode(sessions, vocab, config.session_end), config.window_size)
        hist, target, counts = unique_pairs(windows, len(vocab))
        weights = {"count": counts, "sqrt": np.sqrt(counts), "log": 1 + np.log(counts),
                   "uniform": np.ones(len(counts))}[weighting]
        self.windows = len(windows)
        self.x = torch.from_numpy(hist).to(device)
        self.y = torch.from_numpy(target).to(device)
        self.counts = torch.from_numpy(counts.astype(np.float32)).to(device)
        self.w = torch.from_numpy(weights.astype(np.float32)).to(device)

    def __len__(self) -> int:
        return len(self.y)


def _evaluate(net, pairs: _PairSet, g: int, batch: int = 8192) -> dict:
    """Losses and top-g accuracy of the net over a pair set.

    loss         the training objective (pairs weighted as in training): early stopping
                 watches this one, so it stops when the objective stops improving
    window_loss  plain cross-entropy per window
    top_g_accuracy  share of windows whose next key is among the top g
    """
    net.eval()
    loss = window_loss = hits = 0.0
    with torch.inference_mode():
        for s in range(0, len(pairs), batch):
            sl = slice(s, s + batch)
            logits = net(pairs.x[sl])
            ce = F.cross_entropy(logits, pairs.y[sl], reduction="none")
            loss += float((ce * pairs.w[sl]).sum())
            window_loss += float((ce * pairs.counts[sl]).sum())
            k = min(g, logits.shape[1])
            hit = (logits.topk(k, dim=1).indices == pairs.y[sl, None]).any(1).float()
            hits += float((hit * pairs.counts[sl]).sum())
    n, w = float(pairs.counts.sum()), float(pairs.w.sum())
    return {"loss": loss / w, "window_loss": window_loss / n, "top_g_accuracy": hits / n}


def train(sessions: Sequence[Session], config: ModelConfig = ModelConfig(),
          train_config: TrainConfig = TrainConfig(), *, templates: Optional[dict] = None,
          progress: bool = True,
          on_epoch: Optional[Callable[[dict], None]] = None) -> DeepLogModel:
    """Fit a log-key model on normal sessions and return it (see save_model)."""
    sessions = list(sessions)
    if not sessions:
        raise ConfigError("no training sessions: the training data is empty")
    tc = train_config
    seed_everything(tc.seed)
    device = resolve_device(tc.device)
    vocab = Vocabulary.fit(s.keys for s in sessions)
    train_sessions, val_sessions = split_validation(sessions, tc.val_fraction, tc.seed)
    train_pairs = _PairSet(train_sessions, vocab, config, device, tc.pair_weighting)
    val_pairs = (_PairSet(val_sessions, vocab, config, device, tc.pair_weighting)
                 if val_sessions else None)
    net = LogKeyLSTM(len(vocab), config).to(device)
    optimizer = torch.optim.Adam(net.parameters(), lr=tc.lr)
    mean_w = float(train_pairs.w.mean())
    g = config.num_candidates
    generator = torch.Generator().manual_seed(tc.seed)

    best = (math.inf, 0, copy.deepcopy(net.state_dict()))
    history = []
    started = time.perf_counter()
    bar = tqdm(range(1, tc.epochs + 1), desc="training", unit="epoch", disable=not progress)
    for epoch in bar:
        net.train()
        t0 = time.perf_counter()
        order = torch.randperm(len(train_pairs), generator=generator).to(device)
        loss_sum = 0.0
        for s in range(0, len(order), tc.batch_size):
            idx = order[s:s + tc.batch_size]
            logits = net(train_pairs.x[idx])
            ce = F.cross_entropy(logits, train_pairs.y[idx], reduction="none")
            loss = (ce * train_pairs.w[idx]).sum() / (len(idx) * mean_w)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += float(loss.detach()) * len(idx)
        train_loss = loss_sum / len(order)
        val = _evaluate(net, val_pairs, g) if val_pairs else None
        val_loss = val["loss"] if val else train_loss
        elapsed = time.perf_counter() - t0
        record = {
            "epoch": epoch, "epochs": tc.epochs, "train_loss": round(train_loss, 6),
            "val_loss": round(val_loss, 6),
            "val_window_loss": round(val["window_loss"], 6) if val else None,
            "val_top_g_accuracy": round(val["top_g_accuracy"], 6) if val else None,
            "seconds": round(elapsed, 3),
            "samples_per_s": round(train_pairs.windows / elapsed, 1),
            "pairs_per_s": round(len(train_pairs) / elapsed, 1),
            "eta_s": round(elapsed * (tc.epochs - epoch), 1),
        }
        history.append(record)
        improved = val_loss < best[0] - 1e-6
        if improved:
            best = (val_loss, epoch, copy.deepcopy(net.state_dict()))
        bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best=best[1])
        if on_epoch:
            on_epoch(record)
        if epoch - best[1] >= tc.patience:
            break
    bar.close()
    net.load_state_dict(best[2])
    net.eval()
    total = time.perf_counter() - started
    val = _evaluate(net, val_pairs, g) if val_pairs else {}
    model = DeepLogModel(
        config=config, vocab=vocab, net=net, train_config=tc, templates=dict(templates or {}),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        library_version=library_version(),
        data={"fingerprint": fingerprint(sessions), "sessions": len(sessions),
              "train_sessions": len(train_sessions), "val_sessions": len(val_sessions),
              "train_windows": train_pairs.windows, "distinct_pairs": len(train_pairs)},
    )
    metrics = {
        "best_epoch": best[1], "epochs_run": len(history),
        "val_loss": round(val["loss"], 6) if val else None,
        "val_window_loss": round(val["window_loss"], 6) if val else None,
        "val_top_g_accuracy": round(val["top_g_accuracy"], 6) if val else None,
        "train_seconds": round(total, 2), "seconds_per_epoch": round(total / len(history), 3),
        "history": history,
    }
    if val_sessions:
        from .detect import score_sessions  # local: detect imports artifacts, not train
        metrics["val_session_flag_rate"] = round(
            float(score_sessions(model, val_sessions).session_anomalous().mean()), 6)
    model.metrics = metrics
    return model


if __name__ == "__main__":
    from .cli import main

    sys.exit(main(["train", *sys.argv[1:]]))
