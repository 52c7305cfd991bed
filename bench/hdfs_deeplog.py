"""The paper's HDFS setting (h=10, g=9, L=2, alpha=64): recall and false-positive rate.

Trains on four fifths of hdfs_train (every fifth session held out), scores the held-out
normal fifth and the 8,419 abnormal dev sessions. Repeats over five seeds, because
the held-out fifth has only 971 sessions: one false positive is 0.1 point of FPR.
Targets: recall >= 0.97 (paper 0.963), FPR <= 0.3% (paper 0.15%).
"""

import statistics
import time

from common import emit, paper_split, peak_rss_mb

from deeplog_core import ModelConfig, TrainConfig, evaluate_scores, score_sessions, train

SEEDS = (1234, 1, 2, 3, 4)


def main():
    train_set, held, abnormal = paper_split()
    config = ModelConfig(window_size=10, hidden_size=64, num_layers=2, num_candidates=9)
    runs = []
    for seed in SEEDS:
        t0 = time.perf_counter()
        model = train(train_set, config, TrainConfig(seed=seed), progress=False)
        train_s = time.perf_counter() - t0
        m = evaluate_scores(score_sessions(model, held + abnormal))
        run = {"seed": seed, "fp": m["fp"], "fn": m["fn"], "recall": m["recall"], "fpr": m["fpr"],
               "precision": m["precision"], "f1": m["f1"], "train_seconds": round(train_s, 1),
               "epochs_run": model.metrics["epochs_run"],
               "seconds_per_epoch": model.metrics["seconds_per_epoch"],
               "sessions_per_s": m["sessions_per_s"]}
        print(run, flush=True)
        runs.append(run)
    figures = {
        "bench": "hdfs_deeplog", "train_sessions": len(train_set), "held_out_normal": len(held),
        "abnormal": len(abnormal),
        "recall_mean": round(statistics.mean(r["recall"] for r in runs), 4),
        "recall_min": min(r["recall"] for r in runs),
        "fpr_mean": round(statistics.mean(r["fpr"] for r in runs), 5),
        "fpr_max": max(r["fpr"] for r in runs),
        # one false positive is 0.1 point of FPR here, so a run's own figure is noisy:
        # both the mean and how many single runs meet the targets are printed
        "meets_targets_mean": (statistics.mean(r["recall"] for r in runs) >= 0.97
                               and statistics.mean(r["fpr"] for r in runs) <= 0.003),
        "runs_meeting_targets": sum(r["recall"] >= 0.97 and r["fpr"] <= 0.003 for r in runs),
        "runs": runs, "peak_rss_mb": peak_rss_mb(),
    }
    emit(figures)


if __name__ == "__main__":
    main()
