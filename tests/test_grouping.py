import pytest

from conftest import ASSETS
from deeplog_core.errors import ConfigError, DataFormatError
from deeplog_core.grouping import SessionSpec, group, read_label_file
from deeplog_core.ingest import ingest
from deeplog_core.parsing import Event
from deeplog_core.sources import LocalFileSource, UploadSource


def ev(i, content, t=None, key="E1", **headers):
    return Event(i, content, headers, content, key, "", [], t)


def test_hdfs_sample_becomes_its_626_labelled_blocks():
    result = ingest(LocalFileSource(ASSETS / "HDFS_5k.log"), labels_path=str(ASSETS / "anomaly_label.csv"))
    sessions = result.grouped.sessions
    assert result.preset == "HDFS" and result.lines == 5000 and result.unmatched_format == 0
    assert len(sessions) == 626
    assert sum(s.label == 1 for s in sessions) == 13 and all(s.label is not None for s in sessions)
    first = result.grouped
    assert [first.events[i].content for i in first.members[0]][0].startswith("Receiving block blk_-1608999687919862906")
    elapsed = first.elapsed(0)
    assert elapsed[0] is None and all(e >= 0 for e in elapsed[1:])


def test_an_event_naming_two_blocks_belongs_to_both():
    g = group([ev(1, "delete blk_1 blk_2 blk_1"), ev(2, "served blk_2", key="E2")])
    assert {s.id: s.keys for s in g.sessions} == {"blk_1": ["E1"], "blk_2": ["E1", "E2"]}


def test_group_by_header_field_and_unknown_keys():
    events = [ev(1, "a", node="n1"), ev(2, "b", node="n2", key=None), ev(3, "c", node="n1", key="E3")]
    g = group(events, SessionSpec.parse("field:node"))
    assert {s.id: s.keys for s in g.sessions} == {"node=n1": ["E1", "E3"], "node=n2": ["<unk>"]}


def test_fixed_and_sliding_time_windows():
    events = [ev(i, f"x{i}", t=float(t)) for i, t in enumerate([0, 10, 59, 60, 61, 130])]
    fixed = group(events, SessionSpec.parse("window:60"))
    assert [len(s.keys) for s in fixed.sessions] == [3, 2, 1]
    sliding = group(events, SessionSpec.parse("window:60,30"))
    sizes = {s.id: len(s.keys) for s in sliding.sessions}
    assert sizes == {"window@0.000": 3, "window@30.000": 3, "window@60.000": 2,
                     "window@90.000": 1, "window@120.000": 1}
    with pytest.raises(DataFormatError, match="timestamps"):
        group([ev(1, "x")], SessionSpec.parse("window:60"))


def test_per_line_labels_like_bgl():
    lines = [
        "- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
        "APPREAD 1117869872 2005.06.04 R04-M1-N1-C:J05-U11 2005-06-04-00.24.32.432192 R04-M1-N1-C:J05-U11 RAS APP FATAL ciod: failed to read message prefix on control stream",
        "- 1117838600 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.43.20.675872 R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected",
    ]
    result = ingest(UploadSource([("bgl.log", "\n".join(lines).encode())]), preset="BGL",
                    session_by=SessionSpec.parse("field:Node"))
    labels = {s.id: s.label for s in result.grouped.sessions}
    assert labels == {"Node=R02-M1-N0-C:J12-U11": 0, "Node=R04-M1-N1-C:J05-U11": 1}


def test_label_file_and_bad_specs(tmp_path):
    (tmp_path / "l.csv").write_text("BlockId,Label\nblk_1,Anomaly\nblk_2,Normal\n")
    assert read_label_file(tmp_path / "l.csv") == {"blk_1": 1, "blk_2": 0}
    (tmp_path / "bad.csv").write_text("BlockId,Label\nblk_1,Perhaps\n")
    with pytest.raises(DataFormatError, match="neither Normal nor Anomaly"):
        read_label_file(tmp_path / "bad.csv")
    for spec in ("by:what", "window:abc", "field:", "id:(unclosed"):
        with pytest.raises(ConfigError):
            SessionSpec.parse(spec)
    with pytest.raises(DataFormatError, match="no line holds a session id"):
        group([ev(1, "nothing here")])
