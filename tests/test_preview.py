"""deeplog_core.preview: safe paths under a data root, capped uploads, S3 picks, parsed
previews of the first lines, labels from uploaded bytes, grouping text, dataset names."""

import gzip
import os

import pytest

from conftest import ASSETS, DATA
from deeplog_core.datasets import NAME_RE, DatasetInfo, DatasetSpec
from deeplog_core.errors import ConfigError, DataFormatError
from deeplog_core.grouping import SessionSpec, read_label_file
from deeplog_core.preview import (FilesSource, check_endpoint, data_root, datasets_frame, human_size,
                                  labels_from_bytes, labels_from_path, labels_from_text, list_s3,
                                  local_files, local_source, max_upload_bytes, max_upload_mb,
                                  preview, resolve_under, s3_label, s3_options, s3_source, s3_url,
                                  session_by, suggest_name, upload_source)
from deeplog_core.sources import LocalFileSource, SourceError, UploadSource

HDFS = (ASSETS / "HDFS_5k.log").read_bytes()
LOGHUB = DATA / "loghub_2k"


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "root"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "a.log").write_text("one\ntwo\n")
    (root / "sub" / "b.log.gz").write_bytes(gzip.compress(b"three\n"))
    (root / "sub" / "deep" / "c.log").write_text("four\n")
    (root / "sub" / ".hidden").write_text("hidden\n")
    (root / ".git").mkdir()
    (root / ".git" / "x.log").write_text("hidden\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n")
    os.symlink(outside, root / "out")                 # a folder link leading out
    os.symlink(root / "a.log", root / "sub" / "inner.log")   # a file link staying inside
    return root


# -- paths under the root ------------------------------------------------------------------

def test_data_root_from_env_or_workspace(tmp_path, monkeypatch):
    monkeypatch.delenv("DEEPLOG_DATA_ROOT", raising=False)
    assert data_root(tmp_path / "ws") == (tmp_path / "ws" / "data").resolve()
    assert (tmp_path / "ws" / "data").is_dir()
    monkeypatch.setenv("DEEPLOG_DATA_ROOT", str(tmp_path / "logs"))
    assert data_root(tmp_path / "ws") == (tmp_path / "logs").resolve()


def test_resolve_under_keeps_paths_inside(root):
    real = root.resolve()
    assert resolve_under(root, "a.log") == real / "a.log"
    assert resolve_under(root, "sub/./deep") == real / "sub" / "deep"
    assert resolve_under(root, "") == real
    assert resolve_under(root, "sub/inner.log") == real / "a.log"     # a link inside is fine


@pytest.mark.parametrize("rel, why", [
    ("../etc/passwd", "'..' is not allowed"), ("sub/../../x", "'..' is not allowed"),
    ("sub\\..\\..\\x", "'..' is not allowed"), ("/etc/passwd", "not an absolute one"),
    ("~/x", "not an absolute one"), ("C:\\Windows", "not an absolute one"),
    ("out/passwd", "leads outside the data root"), ("out", "leads outside the data root"),
    ("a\x00b", "NUL"),
])
def test_resolve_under_refuses_escapes(root, rel, why):
    with pytest.raises(SourceError, match=why):
        resolve_under(root, rel)
    with pytest.raises(SourceError, match=why):
        local_files(root, rel)


def test_local_files_file_folder_and_glob(root):
    real = root.resolve()
    assert local_files(root, "a.log") == [real / "a.log"]
    # a folder: recursively in name order, hidden files skipped, links resolved
    assert local_files(root, "sub") == [real / "sub" / "b.log.gz", real / "sub" / "deep" / "c.log",
                                        real / "a.log"]
    assert local_files(root, "*.log") == [real / "a.log"]
    assert local_files(root, "sub/**/*.log") == [real / "sub" / "deep" / "c.log", real / "a.log"]
    assert local_files(root, "**/*.log") == [real / "a.log", real / "sub" / "deep" / "c.log"]
    with pytest.raises(SourceError, match="matches no files"):
        local_files(root, "*.nothing")
    with pytest.raises(SourceError, match="no such file or folder"):
        local_files(root, "missing.log")
    with pytest.raises(SourceError, match="enter a file"):
        local_files(root, "  ")


def test_a_glob_through_a_link_out_is_refused(root):
    with pytest.raises(SourceError, match="leads outside the data root"):
        local_files(root, "*/passwd")
    with pytest.raises(SourceError, match="leads outside the data root"):
        local_files(root, "**/*")


def test_local_source_reads_the_picked_files_in_order(root):
    one = local_source(root, "a.log")
    assert isinstance(one, LocalFileSource) and list(one.lines()) == ["one", "two"]
    folder = local_source(root, "sub")
    assert isinstance(folder, FilesSource) and folder.name == str(root.resolve() / "sub")
    assert list(folder.lines()) == ["three", "four", "one", "two"]
    assert list(local_source(root, "sub/*.gz").lines()) == ["three"]


# -- uploads -----------------------------------------------------------------------------

def test_upload_cap_and_sizes(monkeypatch):
    monkeypatch.delenv("DEEPLOG_MAX_UPLOAD_MB", raising=False)
    assert max_upload_bytes() == 200 * 1024 * 1024 and max_upload_mb() == 200
    monkeypatch.setenv("DEEPLOG_MAX_UPLOAD_MB", "0.5")
    assert max_upload_bytes() == 512 * 1024 and max_upload_mb() == 1
    with pytest.raises(SourceError, match="over the 512.0 KB limit"):
        upload_source([("HDFS_5k.log", HDFS)])
    src = upload_source([("a.log", b"x\n"), ("b.gz", gzip.compress(b"y\n"))])
    assert isinstance(src, UploadSource) and list(src.lines()) == ["x", "y"]
    assert upload_source([("a", b"12")], max_bytes=2).name == "a"
    with pytest.raises(SourceError, match="limit"):
        upload_source([("a", b"123")], max_bytes=2)
    with pytest.raises(DataFormatError, match="empty"):
        upload_source([("a", b"")])
    with pytest.raises(SourceError, match="no files"):
        upload_source([])
    monkeypatch.setenv("DEEPLOG_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ConfigError, match="not a number"):
        max_upload_bytes()
    assert [human_size(n) for n in (5, 2048, 3 * 1024 ** 2, 5 * 1024 ** 4)] == \
        ["5 B", "2.0 KB", "3.0 MB", "5120.0 GB"]


# -- S3 -----------------------------------------------------------------------------------

def test_endpoint_and_bucket_checks():
    assert check_endpoint("") is None and check_endpoint(" http://127.0.0.1:9000 ") == "http://127.0.0.1:9000"
    with pytest.raises(ConfigError, match="do not put credentials"):
        check_endpoint("https://AKIA:secret@s3.example.com")
    with pytest.raises(ConfigError, match="http:// or https://"):
        check_endpoint("s3.example.com")
    with pytest.raises(ConfigError, match="port"):
        check_endpoint("http://host:port")
    opts = s3_options(" http://h:1 ", " eu-west-1 ", "")
    assert (opts.endpoint_url, opts.region, opts.profile) == ("http://h:1", "eu-west-1", None)
    assert s3_url("logs", "/a/b/") == "s3://logs/a/b/" and s3_url("logs") == "s3://logs/"
    with pytest.raises(ConfigError, match="enter a bucket"):
        s3_url(" ")
    with pytest.raises(ConfigError, match="not a bucket name"):
        s3_url("logs/prefix")


def test_s3_listing_and_picks(s3_endpoint):
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="preview")
    client.put_object(Bucket="preview", Key="p/a.log", Body=b"1\n2\n")
    client.put_object(Bucket="preview", Key="p/b.log.gz", Body=gzip.compress(b"3\n"))
    client.put_object(Bucket="preview", Key="q/c.log", Body=b"4\n")
    opts = s3_options(s3_endpoint, "us-east-1")
    assert [(o.key, o.size) for o in list_s3("preview", "p/", opts)] == [
        ("p/a.log", 4), ("p/b.log.gz", len(gzip.compress(b"3\n")))]
    whole = s3_source("preview", "p/", opts)
    assert list(whole.lines()) == ["1", "2", "3"] and s3_label(whole) == "s3://preview/p/"
    picked = s3_source("preview", "p/", opts, keys=["p/b.log.gz"])
    assert list(picked.lines()) == ["3"] and s3_label(picked) == "s3://preview/p/b.log.gz"
    with pytest.raises(ConfigError, match="at least one object"):
        s3_source("preview", "p/", opts, keys=[])
    with pytest.raises(SourceError, match="the bucket does not exist"):
        list_s3("missing-bucket", "", opts)


# -- previews ----------------------------------------------------------------------------

def test_preview_detects_hdfs_and_parses_the_first_lines():
    p = preview(LocalFileSource(ASSETS / "HDFS_5k.log"))
    assert (p.preset, p.detected, p.lines, p.unmatched, p.sample) == ("HDFS", True, 20, 0, 200)
    assert p.fields == ["Date", "Time", "Pid", "Level", "Component"] and p.sample_matched == 1.0
    frame = p.frame()
    assert list(frame.columns) == ["line", *p.fields, "template", "parameters", "in format"]
    first = frame.iloc[0]
    assert (first["line"], first["Date"], first["Pid"], first["Level"]) == (1, "081109", "143", "INFO")
    assert first["template"] == "Receiving block <*> src: /<*> dest: /<*>"
    assert first["parameters"] == "blk_-1608999687919862906, 10.250.19.102:54106, 10.250.19.102:50010"
    assert p.sessions("id") > 1 and p.sessions("field:Level") == 1


@pytest.mark.parametrize("system", ["HDFS", "Linux", "Zookeeper", "BGL", "OpenStack"])
def test_preview_of_loghub_systems(system):
    src = LocalFileSource(LOGHUB / system / f"{system}_2k.log")
    auto = preview(src)
    assert auto.preset == system and auto.unmatched == 0
    named = preview(src, preset=system)
    assert not named.detected and named.frame().equals(auto.frame())


def test_preview_with_a_custom_format_counts_lines_outside_it():
    src = UploadSource([("x.log", b"INFO a started 1\nWARN b stopped 2\nlonely\n")])
    p = preview(src, log_format="<Level> <Component> <Content>")
    assert (p.preset, p.fields, p.lines, p.unmatched) == ("", ["Level", "Component"], 3, 1)
    assert list(p.frame()["in format"]) == [True, True, False]
    assert list(p.frame()["Level"]) == ["INFO", "WARN", ""]
    with pytest.raises(ConfigError, match="<Content>"):
        preview(src, log_format="<Level> <Message>")
    with pytest.raises(ConfigError, match="unknown preset"):
        preview(src, preset="NoSuch")


@pytest.mark.filterwarnings("ignore:.*not valid UTF-8")
def test_preview_errors_are_clear():
    with pytest.raises(DataFormatError, match="binary file"):
        preview(UploadSource([("core", bytes(range(256)) * 8)]))
    with pytest.raises(DataFormatError, match="not UTF-8 text"):
        preview(UploadSource([("latin", b"\xff\xfe caf\xe9\n" * 10)]))
    with pytest.raises(DataFormatError, match="pick the closest preset or write a custom log format"):
        preview(UploadSource([("notes", b"hello there\nnothing here\n")]))
    with pytest.raises(DataFormatError, match="is it empty"):
        preview(UploadSource([("blank", b"\n\n  \n")]))
    with pytest.raises(DataFormatError, match="gzip"):
        preview(UploadSource([("x.gz", b"\x1f\x8b\x08\x00garbage")]))
    p = preview(UploadSource([("x.log", b"081109 203518 143 INFO dfs.X: no block\n")]), preset="HDFS")
    with pytest.raises(DataFormatError, match="no line holds a session id"):
        p.sessions("id")
    with pytest.raises(DataFormatError, match="need timestamps"):
        preview(UploadSource([("x.log", b"a b\n")]), log_format="<A> <Content>").sessions("window:60")


# -- labels -------------------------------------------------------------------------------

def test_labels_from_bytes_follow_the_label_file_rules(tmp_path):
    data = (ASSETS / "anomaly_label.csv").read_bytes()
    expected = read_label_file(ASSETS / "anomaly_label.csv")
    assert labels_from_bytes(data, "anomaly_label.csv") == expected
    assert labels_from_bytes(gzip.compress(data), "l.csv.gz") == expected
    assert labels_from_bytes(b"\xef\xbb\xbfBlockId,Label\nb1,Anomaly\nb2,0\nb3,\n", "bom.csv") == \
        {"b1": 1, "b2": 0}
    assert sum(expected.values()) == 13
    with pytest.raises(DataFormatError, match=r"x.csv:3: label 'maybe'"):
        labels_from_text("BlockId,Label\nb1,Normal\nb2,maybe\n", "x.csv")
    with pytest.raises(DataFormatError, match="two columns"):
        labels_from_bytes(b"BlockId\nb1\n", "one.csv")
    with pytest.raises(DataFormatError, match="no labelled rows"):
        labels_from_bytes(b"BlockId,Label\n", "header.csv")
    with pytest.raises(DataFormatError, match="binary"):
        labels_from_bytes(b"\x00\x01", "bin.csv")
    with pytest.raises(DataFormatError, match="not UTF-8"):
        labels_from_bytes(b"BlockId,Label\n\xff,1\n", "latin.csv")


def test_labels_from_a_path_under_the_root(root):
    (root / "labels.csv").write_text("BlockId,Label\nb1,Anomaly\n")
    assert labels_from_path(root, "labels.csv") == {"b1": 1}
    with pytest.raises(SourceError, match="'..' is not allowed"):
        labels_from_path(root, "../labels.csv")
    with pytest.raises(SourceError, match="no such file"):
        labels_from_path(root, "sub")
    with pytest.raises(SourceError, match="no such file"):
        labels_from_path(root, "")


# -- grouping, names, the table ----------------------------------------------------------

def test_session_by_text():
    assert session_by("id") == "id" and session_by("id", pattern=r"req-\d+") == r"id:req-\d+"
    assert session_by("field", field_name="Node") == "field:Node"
    assert session_by("window", size=3600) == "window:3600"
    assert session_by("window", size=60, step=30.5) == "window:60,30.5"
    assert SessionSpec.parse(session_by("window", size=60, step=30.5)) == SessionSpec("window", size=60, step=30.5)
    with pytest.raises(ConfigError, match="invalid"):
        session_by("id", pattern="(")
    with pytest.raises(ConfigError, match="needs a field name"):
        session_by("field")
    with pytest.raises(ConfigError, match="positive size"):
        session_by("window", size=0)
    with pytest.raises(ConfigError, match="id, field or window"):
        session_by("line")


def test_suggest_name():
    assert suggest_name("upload:HDFS_5k.log, other.log") == "HDFS_5k"
    assert suggest_name("/data/hdfs/part-1.log.gz") == "part-1"
    assert suggest_name("s3://logs/hdfs/") == "hdfs"
    assert suggest_name("s3://logs/") == "logs"
    assert suggest_name("hdfs", ["hdfs", "hdfs-2"]) == "hdfs-3"
    assert suggest_name("") == "dataset"
    for source in ["upload:ü.log", "_x", "/data/" + "a" * 200, "s3://b/.../"]:
        assert NAME_RE.match(suggest_name(source)), source


def test_datasets_frame():
    info = DatasetInfo("d", DatasetSpec("s3://b/p/", "HDFS", "", "id"), "/x",
                       {"lines": 10, "sessions": 2, "templates": 3, "outside_log_format": 0,
                        "labelled_anomalous": 1, "preset": "HDFS"}, 1_700_000_000.5)
    frame = datasets_frame([info])
    row = frame.iloc[0]
    assert (row["name"], row["source"], row["lines"], row["sessions"], row["templates"]) == \
        ("d", "s3://b/p/", 10, 2, 3)
    assert row["created"].microsecond == 0
    assert list(datasets_frame([]).columns) == list(frame.columns)
