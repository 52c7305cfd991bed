"""The parameter-value model (DeepLog §3.2): synthetic precision/recall, and the raw HDFS sample.

1. Synthetic (deeplog_core.params.synthetic_value_log): fit on a normal log, score
   another log where 10% of the jobs carry one injected value anomaly (a step 10x slower,
   a size x3 or /3, a commit 4x longer, a queue depth off its wave by 30). Event-level
   precision/recall (a flagged event is a hit when it is an injected one), session-level
   precision/recall, false-positive rate over normal scored events, per-kind recall, at
   three confidences, over three (train seed, test seed) pairs; also the paper's rule
   (error alone, require_dim_outside=False) and fit time batched vs key by key.
2. HDFS: assets/HDFS_5k.log parsed and grouped by block; fit on the blocks labelled
   normal in assets/anomaly_label.csv, score every block: what is flagged, the top
   flagged events, how many flagged blocks are labelled anomalous, what is not
   modelled, fit and score time.

One thread (OMP_NUM_THREADS=1). The last line is the figures as one JSON object.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import statistics
import time
from collections import Counter

import numpy as np
import torch

from common import REPO, emit, peak_rss_mb

from deeplog_core.config import ParamConfig
from deeplog_core.ingest import ingest
from deeplog_core.params import ParamValueModel, select_sessions, synthetic_value_log
from deeplog_core.sessions import ANOMALY, NORMAL
from deeplog_core.sources import LocalFileSource

CONFIDENCES = (0.99, 0.999, 0.9999)
PAIRS = ((1, 2), (3, 4), (5, 6))      # (train seed, test seed)
TRAIN_SESSIONS, TEST_SESSIONS, ANOMALY_SHARE = 300, 400, 0.1


def event_metrics(scores, log) -> dict:
    flagged = set(np.flatnonzero(scores.anomalous).tolist())
    truth = set(log.anomalies)
    tp = len(flagged & truth)
    normal_scored = sum(e.modelled for e in scores.events) - len(truth)
    sess_flag = {i for i, f in enumerate(scores.session_anomalous) if f}
    sess_truth = log.anomalous_sessions
    by_kind = Counter(log.anomalies.values())
    hit_kind = Counter(log.anomalies[i] for i in truth & flagged)
    return {
        "precision": tp / max(1, len(flagged)), "recall": tp / max(1, len(truth)),
        "fp": len(flagged - truth), "fp_rate": len(flagged - truth) / max(1, normal_scored),
        "session_precision": len(sess_flag & sess_truth) / max(1, len(sess_flag)),
        "session_recall": len(sess_flag & sess_truth) / max(1, len(sess_truth)),
        "recall_by_kind": {k: hit_kind[k] / n for k, n in sorted(by_kind.items())},
    }


def mean_of(runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if isinstance(runs[0][k], (int, float))]
    out = {k: round(statistics.mean(r[k] for r in runs), 4) for k in keys}
    out["min_precision"] = round(min(r["precision"] for r in runs), 4)
    out["min_recall"] = round(min(r["recall"] for r in runs), 4)
    kinds = runs[0]["recall_by_kind"]
    out["recall_by_kind"] = {k: round(statistics.mean(r["recall_by_kind"].get(k, 0) for r in runs), 4)
                             for k in kinds}
    return out


def synthetic() -> dict:
    per_conf = {c: [] for c in CONFIDENCES}
    paper_rule = []
    fit_batched, fit_sequential, score_s = [], [], []
    for train_seed, test_seed in PAIRS:
        train = synthetic_value_log(TRAIN_SESSIONS, seed=train_seed)
        test = synthetic_value_log(TEST_SESSIONS, anomaly_share=ANOMALY_SHARE, seed=test_seed)
        t0 = time.perf_counter()
        model = ParamValueModel(ParamConfig()).fit(train.grouped)
        fit_batched.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        ParamValueModel(ParamConfig()).fit(train.grouped, batch_keys=False)
        fit_sequential.append(time.perf_counter() - t0)
        for conf in CONFIDENCES:
            t0 = time.perf_counter()
            scores = model.score(test.grouped, confidence=conf)
            score_s.append(time.perf_counter() - t0)
            per_conf[conf].append(event_metrics(scores, test))
        paper = ParamValueModel(ParamConfig(require_dim_outside=False))
        paper.keys_, paper.not_modelled_, paper.net_, paper.fitted_ = (
            model.keys_, model.not_modelled_, model.net_, True)   # same fit, other rule
        paper_rule.append(event_metrics(paper.score(test.grouped), test))
        m = per_conf[ParamConfig().confidence][-1]
        print(f"seeds {train_seed}/{test_seed}: {len(test.grouped.events)} events, "
              f"{len(test.anomalies)} injected; default confidence: precision {m['precision']:.3f} "
              f"recall {m['recall']:.3f}; fit {fit_batched[-1]:.2f}s batched, "
              f"{fit_sequential[-1]:.2f}s key by key", flush=True)
    out = {f"confidence_{c}": mean_of(runs) for c, runs in per_conf.items()}
    out["paper_rule_default_confidence"] = mean_of(paper_rule)
    out.update(train_sessions=TRAIN_SESSIONS, test_sessions=TEST_SESSIONS, anomaly_share=ANOMALY_SHARE,
               pairs=len(PAIRS), fit_s_batched=round(statistics.mean(fit_batched), 2),
               fit_s_key_by_key=round(statistics.mean(fit_sequential), 2),
               score_s=round(statistics.mean(score_s), 3))
    return out


def hdfs() -> dict:
    t0 = time.perf_counter()
    ing = ingest(LocalFileSource(REPO / "assets" / "HDFS_5k.log"), preset="HDFS",
                 labels_path=str(REPO / "assets" / "anomaly_label.csv"))
    grouped = ing.grouped
    ingest_s = time.perf_counter() - t0
    labels = [s.label for s in grouped.sessions.sessions]
    normal = [i for i, label in enumerate(labels) if label == NORMAL]
    t0 = time.perf_counter()
    model = ParamValueModel(ParamConfig()).fit(select_sessions(grouped, normal))
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    scores = model.score(grouped)
    score_s = time.perf_counter() - t0
    summary = scores.summary()
    flagged = scores.session_anomalous
    top = []
    for ev in sorted(scores.anomalies(), key=lambda e: -(e.error / e.threshold))[:5]:
        e = grouped.events[ev.index]
        dims = [{"dim": d.name, "actual": d.actual, "predicted": round(d.predicted, 2),
                 "expected": [round(d.low, 2), round(d.high, 2)]} for d in ev.outside_dims]
        top.append({"line": e.line_no, "key": ev.key, "template": e.template,
                    "error": round(ev.error, 2), "threshold": round(ev.threshold, 2), "dims": dims})
        print(f"  line {e.line_no} {ev.key} '{e.template}': error {ev.error:.1f} > {ev.threshold:.2f}; "
              + "; ".join(f"{d['dim']} {d['actual']:g} expected {d['expected'][0]:g}..{d['expected'][1]:g}"
                          for d in dims))
    figures = {
        "events": len(grouped.events), "sessions": len(labels),
        "train_sessions": len(normal), "labelled_anomalous": labels.count(ANOMALY),
        "modelled_keys": {k: km.names for k, km in sorted(model.keys_.items())},
        "not_modelled_keys": dict(sorted(model.not_modelled_.items())),
        "flagged_events": summary["value_anomalies"],
        "flagged_by_key": dict(Counter(e.key for e in scores.anomalies()).most_common()),
        "flagged_by_dim": dict(Counter(d.name for e in scores.anomalies() for d in e.outside_dims)),
        "no_values_events": summary["no_values"], "not_modelled_events": summary["not_modelled"],
        "flagged_sessions": sum(flagged),
        "flagged_sessions_labelled_anomalous": sum(f and lab == ANOMALY for f, lab in zip(flagged, labels)),
        "flagged_session_list": [
            {"block": grouped.sessions.sessions[i].id, "label": labels[i],
             "flagged": [f"{ev.key}:{'/'.join(d.name for d in ev.outside_dims)}"
                         for ev in scores.session_events(i) if ev.anomalous]}
            for i, f in enumerate(flagged) if f],
        "top_flagged": top, "ingest_s": round(ingest_s, 2), "fit_s": round(fit_s, 2),
        "epochs_run": model.metrics_["epochs_run"], "score_s": round(score_s, 3),
    }
    for conf in CONFIDENCES:
        s = model.score(grouped, confidence=conf)
        figures[f"flagged_events_at_{conf}"] = s.summary()["value_anomalies"]
        figures[f"flagged_sessions_at_{conf}"] = sum(s.session_anomalous)
    return figures


def main():
    torch.set_num_threads(1)
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])   # the one-time import, not timed
    syn = synthetic()
    d = syn[f"confidence_{ParamConfig().confidence}"]
    print(f"synthetic, default confidence {ParamConfig().confidence}: precision {d['precision']} "
          f"recall {d['recall']} (session {d['session_precision']}/{d['session_recall']}), "
          f"fp rate {d['fp_rate']}", flush=True)
    print("HDFS sample, top flagged events:")
    h = hdfs()
    print(f"HDFS: {h['flagged_events']} of {h['events']} events flagged, {h['flagged_sessions']} of "
          f"{h['sessions']} blocks ({h['flagged_sessions_labelled_anomalous']} of them labelled "
          f"anomalous, of {h['labelled_anomalous']}); fit {h['fit_s']}s, score {h['score_s']}s")
    emit({"bench": "param_values", "default_confidence": ParamConfig().confidence,
          "synthetic": syn, "hdfs_5k": h, "torch_threads": torch.get_num_threads(),
          "peak_rss_mb": peak_rss_mb()})


if __name__ == "__main__":
    main()
