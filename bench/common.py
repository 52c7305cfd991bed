"""Shared helpers of the bench scripts: data locations, labelled splits, memory."""

from __future__ import annotations

import json
import os
import resource
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from deeplog_core import Session, read_sessions  # noqa: E402
from deeplog_core.sessions import ANOMALY, NORMAL, split_every_nth  # noqa: E402

DEEPLOG = REPO / "tests" / "data" / "hdfs_deeplog"
HDFS_100K = REPO / "assets" / "hdfs_100k"


def paper_split():
    """The paper's HDFS setting: train on 4/5 of hdfs_train (every fifth held out)."""
    train_all = read_sessions(DEEPLOG / "hdfs_train").sessions
    train, held = split_every_nth(train_all, 5, offset=4)
    held = [Session(s.id, s.keys, NORMAL) for s in held]
    abnormal = read_sessions(DEEPLOG / "hdfs_test_abnormal_dev").with_label(ANOMALY).sessions
    return train, held, abnormal


def hdfs_100k():
    train = read_sessions(HDFS_100K / "train.csv")
    dev = read_sessions(HDFS_100K / "dev.csv")
    return train, dev


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def emit(figures: dict) -> None:
    """Every bench script ends with its figures as one JSON object on the last line."""
    sys.stdout.flush()
    print(json.dumps(figures))


def threads() -> int:
    return int(os.environ.get("BENCH_THREADS", "0")) or os.cpu_count() or 1
