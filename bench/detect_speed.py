"""Batched detection vs the classic one-window-at-a-time loop, same model, same data.

The classic loop (one forward pass per window, as public DeepLog code does) runs on a
sample of sessions, timed; the batched detector scores all of them. Both rates are in
sessions per second; the ratio is the speed-up. Also: training time per epoch, peak
memory, and a check that both agree on the sample.
"""

import time

import torch

from common import emit, paper_split, peak_rss_mb

from deeplog_core import ModelConfig, TrainConfig, score_sessions, train
from deeplog_core.detect import score_window_by_window

CLASSIC_SAMPLE = 300


def main():
    torch.set_num_threads(max(1, torch.get_num_threads()))
    train_set, held, abnormal = paper_split()
    test = held + abnormal
    model = train(train_set, ModelConfig(), TrainConfig(epochs=15, patience=100), progress=False)
    sample = test[:: max(1, len(test) // CLASSIC_SAMPLE)][:CLASSIC_SAMPLE]

    t0 = time.perf_counter()
    classic = score_window_by_window(model, sample)
    classic_s = time.perf_counter() - t0
    agree = score_sessions(model, sample).session_anomalous().tolist() == classic

    score_sessions(model, test[:100])  # warm-up
    t0 = time.perf_counter()
    scores = score_sessions(model, test)
    batched_s = time.perf_counter() - t0
    classic_rate = len(sample) / classic_s
    batched_rate = len(test) / batched_s
    figures = {
        "bench": "detect_speed", "sessions": len(test), "events": int(len(scores.target)),
        "distinct_windows": scores.distinct_histories,
        "classic_sessions_per_s": round(classic_rate, 1),
        "batched_sessions_per_s": round(batched_rate, 1),
        "speedup": round(batched_rate / classic_rate, 1),
        "agree_on_sample": agree,
        "train_seconds_per_epoch": model.metrics["seconds_per_epoch"],
        "train_windows_per_s": model.metrics["history"][-1]["samples_per_s"],
        "torch_threads": torch.get_num_threads(),
        "peak_rss_mb": peak_rss_mb(),
    }
    print(f"classic {classic_rate:.1f} sessions/s, batched {batched_rate:.1f} sessions/s, "
          f"speed-up {figures['speedup']}x")
    emit(figures)


if __name__ == "__main__":
    main()
