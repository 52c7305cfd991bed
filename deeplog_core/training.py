"""Fitting the log-key model: Adam, cross-entropy, shuffled batches, early stopping.

Training works on distinct (history, next key) pairs, each with a weight w derived from
how often it occurs (TrainConfig.pair_weighting). The loss of a batch is
sum(w * CE) / (batch size * mean w over the data), so a batch's expected gradient is the
gradient of the weighted objective over all windows, while an epoch costs as many steps
as there are *distinct* windows (HDFS: ~18x fewer). Validation loss is always the plain
per-window cross-entropy, whatever the weighting.

The command-line entry point is ``python -m deeplog_core.train`` (train.py), with the
flags of ``deeplog train``, alone or under torchrun.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from pathlib import Path
from datetime import datetime, timezone
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from .artifacts import DeepLogModel, library_version
from .config import ModelConfig, TrainConfig
from .distributed import DistContext, restarted, setup
from .errors import ConfigError, ModelFileError
from .model import LogKeyEnsemble, LogKeyLSTM, key_rank
from .progress import ProgressFile
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


def _evaluate(net, pairs: _PairSet, g: int, ctx: DistContext = DistContext(),
              batch: int = 8192) -> dict:
    """Losses and top-g accuracy of the net over a pair set, reduced over ranks.

    Each rank scores its own contiguous slice (no padding, so nothing counts twice).
    loss         the training objective (pairs weighted as in training): early stopping
                 watches this one, so it stops when the objective stops improving
    window_loss  plain cross-entropy per window
    top_g_accuracy  share of windows whose next key is among the top g
    """
    net.eval()
    lo = len(pairs) * ctx.rank // ctx.world_size
    hi = len(pairs) * (ctx.rank + 1) // ctx.world_size
    loss = window_loss = hits = 0.0
    with torch.inference_mode():
        for s in range(lo, hi, batch):
            sl = slice(s, min(s + batch, hi))
            logits = net(pairs.x[sl])
            ce = F.cross_entropy(logits, pairs.y[sl], reduction="none")
            loss += float((ce * pairs.w[sl]).sum())
            window_loss += float((ce * pairs.counts[sl]).sum())
            hit = (key_rank(logits.softmax(-1), pairs.y[sl]) <= g).float()
            hits += float((hit * pairs.counts[sl]).sum())
    loss, window_loss, hits = ctx.all_sum([loss, window_loss, hits])
    n, w = float(pairs.counts.sum()), float(pairs.w.sum())
    return {"loss": loss / w, "window_loss": window_loss / n, "top_g_accuracy": hits / n}


CHECKPOINT_FILE = "checkpoint.pt"


def _save_checkpoint(path: Path, state: dict) -> None:
    """Atomically: a reader (or a restarted worker) sees the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _load_checkpoint(path: Path, fingerprint_: str, config: ModelConfig, tc: TrainConfig) -> Optional[dict]:
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling refusal or corruption: say which file
        raise ModelFileError(f"{path}: not a usable checkpoint ({type(exc).__name__}: {exc})") from None
    if state.get("fingerprint") != fingerprint_ or state.get("model_config") != config.to_dict():
        raise ConfigError(f"{path} was written for other data or another model configuration; "
                          "remove it or train into another directory")
    return state


def member_seed(seed: int, k: int) -> int:
    """Member k's seed: the run's own for the first, so one member is the single-LSTM
    model, then independent streams (seed + k would share members between runs)."""
    return seed if k == 0 else int(np.random.SeedSequence([seed, k]).generate_state(1)[0])


def train(sessions: Sequence[Session], config: ModelConfig = ModelConfig(),
          train_config: TrainConfig = TrainConfig(), *, templates: Optional[dict] = None,
          progress: bool = True, on_epoch: Optional[Callable[[dict], None]] = None,
          checkpoint_dir: Optional[str | os.PathLike] = None, resume: bool = False,
          progress_file: Optional[str | os.PathLike] = None) -> DeepLogModel:
    """Fit a log-key model on normal sessions and return it (see save_model).

    An ensemble (config.members > 1) is bagging: member k is fitted on its own, with
    seed member_seed(seed, k) for its initial weights, batch order and validation split,
    one member after another.

    Under torchrun every rank calls this with the same sessions; batches are sharded
    with a DistributedSampler (per-rank batch = batch_size / world size, so the global
    batch and the result match a single process), gradients are averaged by DDP, and
    rank 0 alone writes the checkpoint (every epoch) and the progress file. With
    `resume`, or in a worker torchrun restarted, training goes on from the checkpoint:
    finished members are kept, the member in progress goes on from its last epoch.
    """
    sessions = list(sessions)
    if not sessions:
        raise ConfigError("no training sessions: the training data is empty")
    tc = train_config
    ctx = setup(tc.device)
    data_fingerprint = fingerprint(sessions)
    vocab = Vocabulary.fit(s.keys for s in sessions)
    ckpt_path = Path(checkpoint_dir) / CHECKPOINT_FILE if checkpoint_dir else None
    state = None
    if ckpt_path is not None and (resume or restarted()):
        state = _load_checkpoint(ckpt_path, data_fingerprint, config, tc)
    run = _Run(sessions, vocab, config, tc, ctx, data_fingerprint, ckpt_path,
               ProgressFile(progress_file if ctx.is_main else None), on_epoch, progress,
               finished=list(state.get("finished", [])) if state else [])
    started = time.perf_counter()
    nets, reports = [], []
    for k in range(config.members):
        if k < len(run.finished):   # fitted before a restart
            net = LogKeyLSTM(len(vocab), config).to(ctx.device)
            net.load_state_dict(run.finished[k]["model"])
            done = run.finished[k]["report"]
            report = dict(done, resumed_from_epoch=done["epochs_run"])   # all before the restart
        else:
            net, report = run.fit_member(k, state if state and state.get("member", 0) == k else None)
            run.finished.append({"model": copy.deepcopy(net.state_dict()), "report": report})
        net.eval()
        nets.append(net)
        reports.append(report)
    run.progress_fh.close()
    total = time.perf_counter() - started
    net = nets[0] if len(nets) == 1 else LogKeyEnsemble(nets)
    model = DeepLogModel(
        config=config, vocab=vocab, net=net, train_config=tc, templates=dict(templates or {}),
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        library_version=library_version(),
        data={"fingerprint": data_fingerprint, "sessions": len(sessions),
              "train_sessions": reports[0]["train_sessions"], "val_sessions": reports[0]["val_sessions"],
              "train_windows": reports[0]["train_windows"], "distinct_pairs": reports[0]["distinct_pairs"]},
    )
    model.metrics = _metrics(reports, total, ctx)
    return model


def _metrics(reports: list[dict], total: float, ctx: DistContext) -> dict:
    """The model's training metrics: an ensemble's are its members' means (val_*: each
    on the member's own validation split, the only sessions it did not learn from),
    epochs_run their sum, best_epoch the latest of their best epochs."""
    run_epochs = sum(r["epochs_run"] - r["resumed_from_epoch"] for r in reports)

    def mean(name):
        values = [r[name] for r in reports if r[name] is not None]
        return round(sum(values) / len(values), 6) if values else None

    metrics = {
        "best_epoch": max(r["best_epoch"] for r in reports),
        "epochs_run": sum(r["epochs_run"] for r in reports),
        "val_loss": mean("val_loss"), "val_window_loss": mean("val_window_loss"),
        "val_top_g_accuracy": mean("val_top_g_accuracy"),
        "train_seconds": round(total, 2), "seconds_per_epoch": round(total / max(1, run_epochs), 3),
        "world_size": ctx.world_size,
        "resumed_from_epoch": sum(r["resumed_from_epoch"] for r in reports),
        "history": [rec for r in reports for rec in r["history"]],
    }
    if any(r.get("val_session_flag_rate") is not None for r in reports):
        metrics["val_session_flag_rate"] = mean("val_session_flag_rate")
    if len(reports) > 1:
        metrics["members"] = [{k: v for k, v in r.items() if k != "history"} for r in reports]
    return metrics


class _Run:
    """One call of train(): what every member's fit shares, and the checkpoint they write."""

    def __init__(self, sessions, vocab, config, tc, ctx, data_fingerprint, ckpt_path,
                 progress_fh, on_epoch, progress, finished: list[dict]):
        self.sessions, self.vocab, self.config, self.tc, self.ctx = sessions, vocab, config, tc, ctx
        self.data_fingerprint, self.ckpt_path = data_fingerprint, ckpt_path
        self.progress_fh, self.on_epoch, self.progress = progress_fh, on_epoch, progress
        self.finished = finished   # {"model": best state, "report": ...} per fitted member

    def fit_member(self, k: int, state: Optional[dict]) -> tuple[LogKeyLSTM, dict]:
        """Member k: Adam, shuffled weighted batches, early stopping on its own validation split."""
        config, tc, ctx, device = self.config, self.tc, self.ctx, self.ctx.device
        members = config.members
        seed = member_seed(tc.seed, k)
        seed_everything(seed)
        train_sessions, val_sessions = split_validation(self.sessions, tc.val_fraction, seed)
        train_pairs = _PairSet(train_sessions, self.vocab, config, device, tc.pair_weighting)
        val_pairs = (_PairSet(val_sessions, self.vocab, config, device, tc.pair_weighting)
                     if val_sessions else None)
        net = LogKeyLSTM(len(self.vocab), config).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=tc.lr)
        mean_w = float(train_pairs.w.mean())
        g = config.num_candidates
        sampler = DistributedSampler(range(len(train_pairs)), num_replicas=ctx.world_size,
                                     rank=ctx.rank, shuffle=True, seed=seed)
        rank_batch = max(1, -(-tc.batch_size // ctx.world_size))
        stepper = DDP(net) if ctx.enabled else net

        best = (math.inf, 0, copy.deepcopy(net.state_dict()))
        history: list[dict] = []
        start_epoch = 1
        if state is not None:
            net.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            best = (state["best_loss"], state["best_epoch"], state["best_model"])
            history = list(state["history"])
            start_epoch = state["epoch"] + 1
        label = f"member {k + 1}/{members}" if members > 1 else "training"
        bar = tqdm(range(start_epoch, tc.epochs + 1), desc=label, unit="epoch",
                   disable=not self.progress or not ctx.is_main)
        stopped_early = history and history[-1]["epoch"] - best[1] >= tc.patience
        for epoch in ([] if stopped_early else bar):
            net.train()
            t0 = time.perf_counter()
            sampler.set_epoch(epoch)
            order = torch.tensor(list(sampler), dtype=torch.long, device=device)
            loss_sum = 0.0
            for s in range(0, len(order), rank_batch):
                idx = order[s:s + rank_batch]
                logits = stepper(train_pairs.x[idx])
                ce = F.cross_entropy(logits, train_pairs.y[idx], reduction="none")
                loss = (ce * train_pairs.w[idx]).sum() / (len(idx) * mean_w)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                loss_sum += float(loss.detach()) * len(idx)
            loss_sum, seen = ctx.all_sum([loss_sum, float(len(order))])
            train_loss = loss_sum / seen
            val = _evaluate(net, val_pairs, g, ctx) if val_pairs else None
            val_loss = val["loss"] if val else train_loss
            elapsed = time.perf_counter() - t0
            record = {
                "epoch": epoch, "epochs": tc.epochs, "member": k + 1, "members": members,
                "train_loss": round(train_loss, 6), "val_loss": round(val_loss, 6),
                "val_window_loss": round(val["window_loss"], 6) if val else None,
                "val_top_g_accuracy": round(val["top_g_accuracy"], 6) if val else None,
                "seconds": round(elapsed, 3),
                "samples_per_s": round(train_pairs.windows / elapsed, 1),
                "pairs_per_s": round(len(train_pairs) / elapsed, 1),
                # the members still to come run at most as many epochs as this one may
                "eta_s": round(elapsed * (tc.epochs - epoch + (members - k - 1) * tc.epochs), 1),
                "world_size": ctx.world_size,
            }
            history.append(record)
            if val_loss < best[0] - 1e-6:
                best = (val_loss, epoch, copy.deepcopy(net.state_dict()))
            if ctx.is_main:
                bar.set_postfix(loss=f"{train_loss:.4f}", val=f"{val_loss:.4f}", best=best[1])
                if self.ckpt_path is not None:
                    _save_checkpoint(self.ckpt_path, {
                        "member": k, "finished": self.finished,
                        "epoch": epoch, "model": net.state_dict(), "optimizer": optimizer.state_dict(),
                        "best_loss": best[0], "best_epoch": best[1], "best_model": best[2],
                        "history": history, "fingerprint": self.data_fingerprint,
                        "model_config": config.to_dict(), "train_config": tc.to_dict()})
                self.progress_fh.write(record)
                if self.on_epoch:
                    self.on_epoch(record)
            if epoch - best[1] >= tc.patience:
                break
        bar.close()
        if not history:
            raise ConfigError("no epoch was run (the checkpoint is already past --epochs)")
        net.load_state_dict(best[2])
        net.eval()
        val = _evaluate(net, val_pairs, g, ctx) if val_pairs else {}
        report = {
            "member": k + 1, "seed": seed, "best_epoch": best[1], "epochs_run": len(history),
            "resumed_from_epoch": start_epoch - 1,
            "val_loss": round(val["loss"], 6) if val else None,
            "val_window_loss": round(val["window_loss"], 6) if val else None,
            "val_top_g_accuracy": round(val["top_g_accuracy"], 6) if val else None,
            "val_session_flag_rate": None,
            "train_sessions": len(train_sessions), "val_sessions": len(val_sessions),
            "train_windows": train_pairs.windows, "distinct_pairs": len(train_pairs),
            "history": history,
        }
        if val_sessions:
            from .detect import score_sessions  # local: detect imports artifacts, not train
            alone = DeepLogModel(config=config, vocab=self.vocab, net=net)
            report["val_session_flag_rate"] = round(
                float(score_sessions(alone, val_sessions).session_anomalous().mean()), 6)
        return net, report
