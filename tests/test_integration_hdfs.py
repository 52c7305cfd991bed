"""Training on real HDFS data (the default 100 epochs, ~10 s each); recall and FPR bounds.

The full-length runs with the paper's targets are bench/hdfs_deeplog.py and
bench/hdfs_100k.py; these are shorter, with bounds that a broken model cannot meet
(flag everything: FPR 1; flag nothing: recall 0) and a working one always does.
"""

import pytest

from conftest import ASSETS, DATA
from deeplog_core import ModelConfig, Session, TrainConfig, evaluate_scores, read_sessions, score_sessions, train
from deeplog_core.sessions import ANOMALY, NORMAL, split_every_nth

pytestmark = pytest.mark.slow


def test_hdfs_deeplog_recall_and_fpr():
    train_all = read_sessions(DATA / "hdfs_deeplog" / "hdfs_train").sessions
    train_set, held = split_every_nth(train_all, 5, offset=4)
    held = [Session(s.id, s.keys, NORMAL) for s in held]
    abnormal = read_sessions(DATA / "hdfs_deeplog" / "hdfs_test_abnormal_dev").with_label(ANOMALY)
    model = train(train_set, ModelConfig(), TrainConfig(), progress=False)
    metrics = evaluate_scores(score_sessions(model, held + abnormal.sessions))
    assert metrics["recall"] >= 0.93, metrics
    assert metrics["fpr"] <= 0.01, metrics
    assert model.metrics["val_top_g_accuracy"] > 0.99


def test_hdfs_100k_finds_what_a_sequence_model_can_see():
    train_set = read_sessions(ASSETS / "hdfs_100k" / "train.csv")
    dev = read_sessions(ASSETS / "hdfs_100k" / "dev.csv")
    model = train(train_set.sessions, ModelConfig(), TrainConfig(), progress=False)
    metrics = evaluate_scores(score_sessions(model, dev.sessions))
    assert metrics["recall"] >= 0.45, metrics          # the ceiling is 0.496
    assert metrics["precision"] >= 0.9, metrics
