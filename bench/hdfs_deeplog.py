"""The paper's HDFS setting (h=10, g=9, L=2, alpha=64): recall and false-positive rate.

Trains on four fifths of hdfs_train (every fifth session held out), scores the held-out
normal fifth and the 8,419 abnormal dev sessions. Repeats over five seeds, because
the held-out fifth has only 971 sessions: one false positive is 0.1 point of FPR.
Targets: recall >= 0.97 (paper 0.963), FPR <= 0.3% (paper 0.15%).

Each run is the default model, five such LSTMs averaged (ModelConfig.members), and,
from the same run, its first LSTM alone: exactly the single-LSTM model the same seed
trains (tests/test_training.py), so both are measured on the same footing.
"""

import statistics
import time

from common import emit, paper_split, peak_rss_mb

from deeplog_core import ModelConfig, TrainConfig, evaluate_scores, score_sessions, train

SEEDS = (1234, 1, 2, 3, 4)


def summary(runs: list[dict]) -> dict:
    recall = statistics.mean(r["recall"] for r in runs)
    fpr = statistics.mean(r["fpr"] for r in runs)
    return {
        "recall_mean": round(recall, 4), "recall_min": min(r["recall"] for r in runs),
        "fpr_mean": round(fpr, 5), "fpr_max": max(r["fpr"] for r in runs),
        "fp": [r["fp"] for r in runs], "fn": [r["fn"] for r in runs],
        # one false positive is 0.1 point of FPR here, so a run's own figure is noisy:
        # both the mean and how many single runs meet the targets are printed
        "meets_targets_mean": recall >= 0.97 and fpr <= 0.003,
        "runs_meeting_targets": sum(r["recall"] >= 0.97 and r["fpr"] <= 0.003 for r in runs),
    }


def main():
    train_set, held, abnormal = paper_split()
    config = ModelConfig(window_size=10, hidden_size=64, num_layers=2, num_candidates=9)
    runs, singles = [], []
    for seed in SEEDS:
        t0 = time.perf_counter()
        model = train(train_set, config, TrainConfig(seed=seed), progress=False)
        train_s = time.perf_counter() - t0
        for label, m_, out in (("ensemble", model, runs), ("single", model.member(0), singles)):
            m = evaluate_scores(score_sessions(m_, held + abnormal))
            run = {"seed": seed, "model": label, "fp": m["fp"], "fn": m["fn"], "recall": m["recall"],
                   "fpr": m["fpr"], "precision": m["precision"], "f1": m["f1"],
                   "sessions_per_s": m["sessions_per_s"]}
            if label == "ensemble":
                run.update(train_seconds=round(train_s, 1), epochs_run=model.metrics["epochs_run"],
                           seconds_per_epoch=model.metrics["seconds_per_epoch"])
            print(run, flush=True)
            out.append(run)
    figures = {
        "bench": "hdfs_deeplog", "members": config.members, "train_sessions": len(train_set),
        "held_out_normal": len(held), "abnormal": len(abnormal),
        **summary(runs),
        "single_lstm": summary(singles),
        "runs": runs, "peak_rss_mb": peak_rss_mb(),
    }
    emit(figures)


if __name__ == "__main__":
    main()
