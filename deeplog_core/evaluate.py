"""Session-level metrics against labels: a session is anomalous when any event is."""

from __future__ import annotations

from typing import Optional

import numpy as np

from .detect import Scores


def confusion(predicted: np.ndarray, labels: np.ndarray) -> dict:
    predicted = np.asarray(predicted, dtype=bool)
    labels = np.asarray(labels, dtype=bool)
    tp = int((predicted & labels).sum())
    fp = int((predicted & ~labels).sum())
    tn = int((~predicted & ~labels).sum())
    fn = int((~predicted & labels).sum())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return {"tp": tp, "fp": fp, "tn": tn, "fn": fn, "precision": round(precision, 6),
            "recall": round(recall, 6), "f1": round(f1, 6), "fpr": round(fpr, 6)}


def evaluate_scores(scores: Scores, num_candidates: Optional[int] = None) -> dict:
    """TP/FP/TN/FN, precision, recall, F1, FPR and throughput of labelled scores."""
    labels = [s.label for s in scores.sessions]
    if any(label is None for label in labels):
        missing = sum(label is None for label in labels)
        raise ValueError(f"{missing} sessions have no label; evaluation needs every label")
    g = num_candidates or scores.num_candidates
    result = confusion(scores.session_anomalous(g), np.array(labels, dtype=bool))
    result.update({
        "sessions": len(scores), "events": int(len(scores.target)),
        "distinct_windows": scores.distinct_histories, "num_candidates": g,
        "seconds": round(scores.seconds, 3),
        "sessions_per_s": round(len(scores) / scores.seconds, 1) if scores.seconds else None,
    })
    return result
