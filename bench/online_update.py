"""The online update (DeepLog §3.3) on HDFS_100k: does labelling false positives help?

Two situations where an update matters:
  new_behaviour  the model was fitted before a normal behaviour existed: on the training
                 blocks without "Verification succeeded" (E6, the block scanner; 19% of
                 normal blocks have it), so E6 is a key it has never seen;
  young_model    fitted on the first 100 normal training blocks only.
The 1,000 normal dev blocks are split into two disjoint halves A and B. The flagged events
of A's false positives are labelled (event labels, as an analyst clicking "false
positive" makes them), the model is updated, and both models are measured on B (false
positive rate) and on the 256 anomalous dev blocks (recall). Then the time for a
handful of labels. Usage: python bench/online_update.py [SCENARIO ...]
"""

import sys
import tempfile
import time
from pathlib import Path

from common import emit, hdfs_100k

from deeplog_core import ModelConfig, TrainConfig, evaluate_scores, score_sessions, train
from deeplog_core.config import UpdateConfig
from deeplog_core.labels import FALSE_POSITIVE, LabelStore
from deeplog_core.sessions import ANOMALY, NORMAL, split_every_nth
from deeplog_core.store import Store
from deeplog_core.update import update_model


def fpr(model, sessions) -> tuple[int, float]:
    flags = score_sessions(model, sessions).session_anomalous()
    return int(flags.sum()), round(float(flags.mean()), 5)


def has_bigram(session, a, b) -> bool:
    return any(x == a and y == b for x, y in zip(session.keys, session.keys[1:]))


def no_e6(sessions):
    return [s for s in sessions if "E6" not in s.keys]


def label_false_positives(model, sessions, labels: LabelStore, limit=None):
    scores = score_sessions(model, sessions)
    n = 0
    for i in scores.session_anomalous().nonzero()[0][:limit]:
        v = scores.verdict(int(i))
        for e in v.events:
            if e.anomalous:
                labels.add("hdfs_100k/dev", v.session_id, FALSE_POSITIVE, position=e.position,
                           key=e.key, model_version="bench")
                n += 1
    return n


def run(scenario: str, replay, normal_a, normal_b, abnormal, test_all) -> dict:
    t0 = time.perf_counter()
    model = train(replay, ModelConfig(), TrainConfig(), progress=False)
    train_s = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        labels = LabelStore(Store(Path(tmp) / "state.db"))
        n_labels = label_false_positives(model, normal_a, labels)
        fp_a_before = fpr(model, normal_a)
        fp_b_before, rate_b_before = fpr(model, normal_b)
        recall_before = evaluate_scores(score_sessions(model, abnormal))["recall"]
        recall_no_e6_before = evaluate_scores(score_sessions(model, no_e6(abnormal)))["recall"]
        if n_labels == 0:
            return {"scenario": scenario, "labels": 0, "note": "no false positives on A"}
        updated, report = update_model(model, labels.effective(), test_all, replay, UpdateConfig())
    fp_b_after, rate_b_after = fpr(updated, normal_b)
    fp_a_after = fpr(updated, normal_a)
    recall_after = evaluate_scores(score_sessions(updated, abnormal))["recall"]
    recall_no_e6_after = evaluate_scores(score_sessions(updated, no_e6(abnormal)))["recall"]
    out = {
        "scenario": scenario, "train_sessions": len(replay), "train_seconds": round(train_s, 1), "labels": n_labels,
        "fp_A_before": fp_a_before[0], "fp_A_after": fp_a_after[0],
        "fp_B_before": fp_b_before, "fp_B_after": fp_b_after,
        "fpr_B_before": rate_b_before, "fpr_B_after": rate_b_after,
        "fpr_B_ratio": round(rate_b_after / rate_b_before, 3) if rate_b_before else None,
        "recall_before": round(recall_before, 4), "recall_after": round(recall_after, 4),
        "recall_drop_points": round(100 * (recall_before - recall_after), 2),
        "recall_no_e6_before": round(recall_no_e6_before, 4), "recall_no_e6_after": round(recall_no_e6_after, 4),
        "recall_no_e6_drop_points": round(100 * (recall_no_e6_before - recall_no_e6_after), 2),
        "update_seconds": report.seconds, "update_epochs": report.epochs, "new_keys": report.new_keys,
        "fp_windows": report.fp_windows, "fp_windows_flagged_after": report.fp_flagged_after,
    }
    print(out, flush=True)
    return out


def handful(train_all, normal_a, test_all) -> dict:
    """Update time for five labels (the new-behaviour model)."""
    replay = [s for s in train_all if "E6" not in s.keys]
    model = train(replay, ModelConfig(), TrainConfig(), progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        labels = LabelStore(Store(Path(tmp) / "state.db"))
        label_false_positives(model, normal_a, labels, limit=5)
        chosen = labels.effective()[:5]
        t0 = time.perf_counter()
        _, report = update_model(model, chosen, test_all, replay, UpdateConfig())
        wall = time.perf_counter() - t0
    return {"labels": len(chosen), "update_seconds": round(wall, 2), "epochs": report.epochs,
            "fp_windows_flagged_after": report.fp_flagged_after}


def main():
    train_set, dev = hdfs_100k()
    train_all = train_set.sessions
    normal = [s for s in dev.sessions if s.label == NORMAL]
    abnormal = [s for s in dev.sessions if s.label == ANOMALY]
    normal_b, normal_a = split_every_nth(normal, 2)  # disjoint halves
    scenarios = {"new_behaviour": no_e6(train_all),
                 "new_interleaving": [s for s in train_all if not has_bigram(s, "E3", "E3")],
                 "young_model": train_all[:100]}
    full = train(train_all, ModelConfig(), TrainConfig(), progress=False)
    reference = {"recall": round(evaluate_scores(score_sessions(full, abnormal))["recall"], 4),
                 "fp_B": fpr(full, normal_b)[0]}
    print("model on all training blocks:", reference, flush=True)
    runs = [run(name, replay, normal_a, normal_b, abnormal, dev.sessions)
            for name, replay in scenarios.items() if name in (sys.argv[1:] or scenarios)]
    few = handful(train_all, normal_a, dev.sessions)
    print("handful:", few)
    emit({"bench": "online_update", "reference_full_training": reference, "runs": runs, "handful": few})


if __name__ == "__main__":
    main()
