"""Labels in the state database: append-only, superseded not overwritten, never lost."""

import multiprocessing as mp

import pytest

from deeplog_core.errors import ConfigError
from deeplog_core.labels import CONFIRMED, FALSE_POSITIVE, LabelStore
from deeplog_core.store import Store


def test_add_and_read_back_with_everything_recorded(tmp_path):
    labels = LabelStore(Store(tmp_path / "s.db"))
    a = labels.add("dev", "blk_1", FALSE_POSITIVE, position=3, key="E5", model_version="hdfs-v1", note="retry")
    b = labels.add("dev", "blk_2", CONFIRMED)
    assert [l.id for l in labels.all("dev")] == [a.id, b.id]
    got = labels.all("dev")[0]
    assert (got.session_id, got.position, got.key, got.verdict, got.model_version, got.note) == \
        ("blk_1", 3, "E5", FALSE_POSITIVE, "hdfs-v1", "retry")
    assert got.created > 0 and labels.all("other") == [] and labels.datasets() == ["dev"]


def test_a_newer_label_supersedes_in_effect_but_both_are_kept(tmp_path):
    labels = LabelStore(Store(tmp_path / "s.db"))
    labels.add("dev", "blk_1", FALSE_POSITIVE, position=3)
    labels.add("dev", "blk_1", CONFIRMED, position=3)        # the analyst changed their mind
    labels.add("dev", "blk_1", FALSE_POSITIVE)               # the whole session: another target
    effective = labels.effective("dev")
    assert [(l.position, l.verdict) for l in effective] == [(3, CONFIRMED), (None, FALSE_POSITIVE)]
    assert len(labels.all("dev")) == 3


@pytest.mark.parametrize("kwargs,message", [
    (dict(verdict="maybe"), "false_positive or confirmed_anomaly"),
    (dict(position=-1), "non-negative"),
    (dict(session_id=""), "session id"),
])
def test_bad_labels_are_refused_with_a_reason(tmp_path, kwargs, message):
    labels = LabelStore(Store(tmp_path / "s.db"))
    args = dict(dataset="dev", session_id="blk_1", verdict=FALSE_POSITIVE) | kwargs
    with pytest.raises(ConfigError, match=message):
        labels.add(args.pop("dataset"), args.pop("session_id"), args.pop("verdict"), **args)
    assert labels.all() == []


def _writer(db, worker, n):
    labels = LabelStore(Store(db))
    for i in range(n):
        labels.add("dev", f"blk_{worker}_{i}", FALSE_POSITIVE, position=i % 5)


def test_concurrent_writers_in_separate_processes_lose_nothing(tmp_path):
    db = tmp_path / "s.db"
    Store(db)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), w, 40)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = LabelStore(Store(db)).all("dev")
    assert len(rows) == 160 and len({l.session_id for l in rows}) == 160


def test_usage_is_recorded_beside_the_label(tmp_path):
    labels = LabelStore(Store(tmp_path / "s.db"))
    a = labels.add("dev", "blk_1", FALSE_POSITIVE, position=0)
    labels.mark_used([a.id], "m-v2")
    labels.mark_used([a.id], "m-v2")
    labels.mark_used([a.id], "m-v3")
    assert labels.used_by(a.id) == ["m-v2", "m-v3"]
    assert labels.all()[0] == a          # the label itself is untouched
