import gzip

import pytest

from conftest import ASSETS, DATA
from deeplog_core import DataFormatError, parse_sessions, read_sessions
from deeplog_core.readers import detect_format


def test_deeplog_key_file_is_detected_and_read():
    data = read_sessions(DATA / "hdfs_deeplog" / "hdfs_train")
    assert data.format == "deeplog"
    assert len(data) == 4855
    assert data.sessions[0].keys[:4] == ["5", "5", "5", "22"]
    assert data.sessions[0].label is None


def test_sessions_csv_is_detected_with_labels_and_templates():
    data = read_sessions(ASSETS / "hdfs_100k" / "dev.csv")
    assert data.format == "sessions-csv"
    assert len(data) == 1256
    assert sum(s.label == 1 for s in data) == 256
    assert data.sessions[0].id.startswith("blk_")
    assert data.templates["E1"].startswith("BLOCK* NameSystem.allocateBlock")


def test_gzip_is_read_transparently(tmp_path):
    path = tmp_path / "keys.whatever"
    path.write_bytes(gzip.compress(b"1 2 3\n4 5\n"))
    assert [s.keys for s in read_sessions(path)] == [["1", "2", "3"], ["4", "5"]]


def test_blank_lines_are_skipped_and_counted():
    data = parse_sessions("1 2\n\n3 4\n")
    assert len(data) == 2 and data.skipped_lines == 1


@pytest.mark.parametrize("text,fragment", [
    ("", "is empty"),
    ("   \n\n", "is empty"),
    ("hello world\n", "unrecognised format"),
    ("1 2 3\n4 x 5\n", "not an integer log key"),
    ("BlockId,Label,EventSequence\nb1,Maybe,E1 E2\n", "neither Normal nor Anomaly"),
    ("BlockId,Label,EventSequence\nb1,Normal,E1,extra\n", "more cells"),
    ("BlockId,Label,EventSequence\n", "holds no sessions"),
])
def test_malformed_text_gives_a_clear_error(text, fragment):
    with pytest.raises(DataFormatError, match=fragment):
        parse_sessions(text)


def test_named_format_is_enforced():
    with pytest.raises(DataFormatError, match="EventSequence"):
        parse_sessions("1 2 3\n", format="sessions-csv")
    with pytest.raises(DataFormatError, match="unknown format"):
        parse_sessions("1 2 3\n", format="xml")


def test_binary_missing_and_folder_inputs(tmp_path):
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(DataFormatError, match="binary"):
        read_sessions(binary)
    with pytest.raises(DataFormatError, match="no such file"):
        read_sessions(tmp_path / "missing.txt")
    with pytest.raises(DataFormatError, match="folder"):
        read_sessions(tmp_path)
    truncated = tmp_path / "broken.gz"
    truncated.write_bytes(gzip.compress(b"1 2 3\n" * 100)[:30])
    with pytest.raises(DataFormatError, match="cannot be read"):
        read_sessions(truncated)


def test_detect_format_names():
    assert detect_format("5 5 22\n") == "deeplog"
    assert detect_format("Id,EventSequence\nx,E1\n") == "sessions-csv"
