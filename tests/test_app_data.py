"""The Data page, driven by Streamlit's AppTest: uploads, local paths under the data root,
S3 against a real (moto) server, previews, errors as messages, saving datasets."""

import gzip
import os
import shutil

import pytest
from streamlit.testing.v1 import AppTest

from conftest import ASSETS, DATA, REPO

HDFS = (ASSETS / "HDFS_5k.log").read_bytes()
LABELS = (ASSETS / "anomaly_label.csv").read_bytes()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("workspace")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A data root with a loghub file, a folder, and a link leading out of it."""
    root = tmp_path_factory.mktemp("data_root")
    (root / "HDFS").mkdir()
    shutil.copy(DATA / "loghub_2k" / "HDFS" / "HDFS_2k.log", root / "HDFS" / "HDFS_2k.log")
    (root / "linux").mkdir()
    lines = (DATA / "loghub_2k" / "Linux" / "Linux_2k.log").read_bytes().splitlines(keepends=True)
    (root / "linux" / "a.log").write_bytes(b"".join(lines[:1000]))
    (root / "linux" / "b.log.gz").write_bytes(gzip.compress(b"".join(lines[1000:])))
    (root / "labels.csv").write_bytes(LABELS)
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret.log").write_text("081109 203518 143 INFO dfs.X: secret blk_1\n")
    os.symlink(outside, root / "escape")
    return root


@pytest.fixture
def app(workspace, root, monkeypatch):
    monkeypatch.setenv("DEEPLOG_WORKSPACE", str(workspace))
    monkeypatch.setenv("DEEPLOG_DATA_ROOT", str(root))
    at = AppTest.from_file(str(REPO / "app" / "main.py"), default_timeout=240)
    at.switch_page("app_pages/data.py").run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [e.value for e in elements]


def table(at, column):
    """The first table with this column."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, [list(d.value.columns) for d in at.dataframe]
    return found[0]


def save(at, name):
    at.text_input(key="data_name").input(name)
    at.button(key="data_save").click().run()
    assert not at.exception, at.exception
    assert not at.error, texts(at.error)
    return next(s for s in texts(at.success) if s.startswith("Saved dataset"))


def test_upload_preview_labels_and_save(app):
    at = app
    assert "Datasets of this workspace" in texts(at.subheader)
    at.file_uploader(key="data_upload").set_value(("HDFS_5k.log", HDFS, "text/plain")).run()
    assert not at.exception and not at.error, texts(at.error)
    assert any("chose the **HDFS** preset" in s for s in texts(at.success))
    preview = table(at, "template")
    assert len(preview) == 20
    assert {"Date", "Time", "Pid", "Level", "Component", "parameters"} <= set(preview.columns)
    assert "Receiving block <*> src: /<*> dest: /<*>" in set(preview["template"])
    assert preview["in format"].all()
    assert "blk_-1608999687919862906" in preview["parameters"].iloc[0]
    # labels from an uploaded CSV
    at.radio(key="data_labels").set_value("Upload a CSV").run()
    at.file_uploader(key="data_label_upload").set_value(("anomaly_label.csv", LABELS, "text/csv")).run()
    assert any("anomalous" in c and "labels" in c for c in texts(at.caption))
    message = save(at, "hdfs-upload")
    assert "5,000 lines, 626 sessions" in message and "13 labelled anomalous" in message
    assert at.session_state["dataset"] == "hdfs-upload"
    assert at.sidebar.selectbox(key="dataset").value == "hdfs-upload"
    listed = table(at, "sessions").set_index("name")
    assert listed.loc["hdfs-upload", "sessions"] == 626
    assert listed.loc["hdfs-upload", "source"] == "upload:HDFS_5k.log"
    assert listed.loc["hdfs-upload", "anomalous (labels)"] == 13
    # the same name again is refused with a message
    at.file_uploader(key="data_upload").set_value(("HDFS_5k.log", HDFS, "text/plain")).run()
    at.text_input(key="data_name").input("hdfs-upload")
    at.button(key="data_save").click().run()
    assert not at.exception
    assert any("exists already" in e for e in texts(at.error))


def test_several_uploads_gzip_and_plain(app):
    at = app
    lines = HDFS.splitlines(keepends=True)
    files = [("part-1.log.gz", gzip.compress(b"".join(lines[:2500])), "application/gzip"),
             ("part-2.log", b"".join(lines[2500:]), "text/plain")]
    at.file_uploader(key="data_upload").set_value(files).run()
    assert not at.exception and not at.error, texts(at.error)
    assert "Receiving block <*> src: /<*> dest: /<*>" in set(table(at, "template")["template"])
    message = save(at, "hdfs-parts")
    assert "5,000 lines, 626 sessions" in message


def test_garbage_uploads_are_messages(app, monkeypatch):
    at = app
    binary = bytes(range(256)) * 64
    at.file_uploader(key="data_upload").set_value(("core.bin", binary, "application/octet-stream")).run()
    assert not at.exception
    assert any("binary file" in e for e in texts(at.error)), texts(at.error)
    assert all(b.key != "data_save" for b in at.button)          # nothing to save
    at.file_uploader(key="data_upload").set_value(("notes.txt", b"hello there\nnothing here\n",
                                                   "text/plain")).run()
    assert not at.exception
    assert any("custom log format" in e for e in texts(at.error)), texts(at.error)
    # a custom format that fits: the page parses with it
    at.selectbox(key="data_preset").select("custom log format").run()
    at.text_input(key="data_log_format").input("<Word> <Content>").run()
    assert not at.exception and not at.error, texts(at.error)
    assert list(table(at, "template")["Word"]) == ["hello", "nothing"]
    # a broken gzip
    at.file_uploader(key="data_upload").set_value(("x.gz", b"\x1f\x8b\x08\x00garbage", "application/gzip")).run()
    assert not at.exception
    assert any("gzip" in e for e in texts(at.error)), texts(at.error)
    # over the upload cap
    monkeypatch.setenv("DEEPLOG_MAX_UPLOAD_MB", "0.5")
    at.run()                                  # the widget is drawn anew with its cap
    assert any("limited to 1 MB" in c for c in texts(at.caption))
    at.file_uploader(key="data_upload").set_value(("HDFS_5k.log", HDFS, "text/plain")).run()
    assert not at.exception
    assert any("over the 512.0 KB limit" in e for e in texts(at.error)), texts(at.error)


def test_local_path_under_the_root(app, root):
    at = app
    at.radio(key="data_source").set_value("Local path").run()
    assert any(str(root.resolve()) in c for c in texts(at.caption))
    for bad, why in [("../etc/passwd", "'..' is not allowed"), ("/etc/passwd", "not an absolute one"),
                     ("escape/secret.log", "leads outside the data root"),
                     ("escape", "leads outside the data root"), ("nothing.log", "no such file")]:
        at.text_input(key="data_local_path").input(bad).run()
        assert not at.exception, bad
        assert any(why in e for e in texts(at.error)), (bad, texts(at.error))
        assert not [d for d in at.dataframe if "template" in d.value.columns]
    # a folder: its files are listed, plain and gzip, and auto-detection picks Linux
    at.text_input(key="data_local_path").input("linux").run()
    assert not at.exception and not at.error, texts(at.error)
    assert list(table(at, "file")["file"]) == ["linux/a.log", "linux/b.log.gz"]
    assert any("chose the **Linux** preset" in s for s in texts(at.success))
    # a header field of the format, then time windows of an hour
    at.radio(key="data_group").set_value("Header field").run()
    assert at.selectbox(key="data_field").options == ["Month", "Date", "Time", "Level", "Component", "PID"]
    at.radio(key="data_group").set_value("Time windows").run()
    at.number_input(key="data_window_size").set_value(3600).run()
    assert not at.exception and not at.error, texts(at.error)
    message = save(at, "linux-hourly")
    assert "2,000 lines" in message
    listed = table(at, "sessions").set_index("name")
    assert listed.loc["linux-hourly", "grouping"] == "window:3600"
    # a single file with a named preset and labels from a file under the root
    at.text_input(key="data_local_path").input("HDFS/HDFS_2k.log").run()
    at.selectbox(key="data_preset").select("HDFS").run()
    at.radio(key="data_labels").set_value("File under the data root").run()
    at.text_input(key="data_label_path").input("../anomaly_label.csv").run()
    assert any("'..' is not allowed" in e for e in texts(at.error))
    at.text_input(key="data_label_path").input("labels.csv").run()
    assert not at.exception and not at.error, texts(at.error)
    message = save(at, "hdfs-2k")
    assert "2,000 lines" in message
    info = table(at, "sessions").set_index("name").loc["hdfs-2k"]
    assert info["source"] == str(root.resolve() / "HDFS" / "HDFS_2k.log") and info["preset"] == "HDFS"


def test_s3_listing_pick_and_save(app, s3_endpoint):
    import boto3

    at = app
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="app-data-logs")
    lines = HDFS.splitlines(keepends=True)
    objects = {"hdfs/part-1.log": b"".join(lines[:2500]),
               "hdfs/part-2.log.gz": gzip.compress(b"".join(lines[2500:])),
               "other/x.log": b"081109 203518 143 INFO dfs.X: other blk_1\n"}
    for key, body in objects.items():
        s3.put_object(Bucket="app-data-logs", Key=key, Body=body)
    at.radio(key="data_source").set_value("S3").run()
    assert any("standard AWS chain" in c for c in texts(at.caption))
    assert not [t for t in at.text_input if "secret" in t.label.lower() or "key" in t.label.lower()]
    # a bucket that does not exist
    at.text_input(key="data_s3_endpoint").input(s3_endpoint)
    at.text_input(key="data_s3_region").input("us-east-1")
    at.text_input(key="data_s3_bucket").input("no-such-bucket")
    at.button(key="data_s3_list").click().run()
    assert not at.exception
    assert any("the bucket does not exist" in e for e in texts(at.error)), texts(at.error)
    # the prefix: keys and sizes
    at.text_input(key="data_s3_bucket").input("app-data-logs")
    at.text_input(key="data_s3_prefix").input("hdfs/")
    at.button(key="data_s3_list").click().run()
    assert not at.exception and not at.error, texts(at.error)
    listing = table(at, "key")
    assert dict(zip(listing["key"], listing["size (bytes)"])) == {
        k: len(v) for k, v in objects.items() if k.startswith("hdfs/")}
    assert any("chose the **HDFS** preset" in s for s in texts(at.success))
    # one object only
    at.radio(key="data_s3_take").set_value("Selected objects").run()
    assert any("Pick at least one object" in i for i in texts(at.info))
    at.multiselect(key="data_s3_keys").select("hdfs/part-2.log.gz").run()
    assert not at.exception and not at.error, texts(at.error)
    assert table(at, "template")["line"].iloc[0] == 1
    # the whole prefix, saved
    at.radio(key="data_s3_take").set_value("Whole prefix").run()
    message = save(at, "hdfs-s3")
    assert "5,000 lines, 626 sessions" in message
    listed = table(at, "sessions").set_index("name")
    assert listed.loc["hdfs-s3", "source"] == "s3://app-data-logs/hdfs/"
    assert "testing" not in " ".join(str(v) for v in listed.loc["hdfs-s3"].values)
    # a changed prefix asks for a new listing
    at.text_input(key="data_s3_prefix").input("other/").run()
    assert any("list the objects again" in i for i in texts(at.info))


def test_a_large_source_is_saved_by_a_background_job(app, monkeypatch, workspace, root):
    """Above the inline limit (here 0 MB) saving runs as an ingest job; the page polls it."""
    import time

    monkeypatch.setenv("DEEPLOG_INLINE_PARSE_MB", "0")
    at = app
    at.radio(key="data_source").set_value("Local path").run()
    at.text_input(key="data_local_path").input("HDFS/HDFS_2k.log").run()
    at.text_input(key="data_name").input("hdfs-2k-job")
    at.button(key="data_save").click().run()
    assert not at.exception and not at.error, texts(at.error)
    deadline = time.time() + 120
    while time.time() < deadline:
        at.run()
        if any(s.startswith("Saved dataset **hdfs-2k-job**") for s in texts(at.success)) or at.error:
            break
        time.sleep(0.5)
    assert not at.error, texts(at.error)
    assert any(s.startswith("Saved dataset **hdfs-2k-job**: 2,000 lines") for s in texts(at.success))
    assert at.sidebar.selectbox[0].value == "hdfs-2k-job"
    from deeplog_core.demo import Workspace
    from deeplog_core.store import Store
    jobs = Store(workspace / "deeplog.db").list_jobs()
    assert jobs[0]["kind"] == "ingest" and jobs[0]["status"] == "succeeded"
    assert Workspace.open(workspace).datasets.get("hdfs-2k-job").spec.source.endswith("HDFS_2k.log")


def test_ingest_request_keeps_uploads_labels_and_s3_picks(tmp_path):
    from deeplog_core.datasets import DatasetSpec
    from deeplog_core.preview import ingest_request
    from deeplog_core.sources import S3Options

    spec = DatasetSpec("upload:a.log", preset="HDFS", session_by="id")
    inputs, flags = ingest_request(tmp_path, spec, uploads=[("../../a.log", b"x\n"), ("b.gz", b"y")],
                                   labels={"blk_1": 1})
    assert [p.split("/")[-1] for p in inputs] == ["000-a.log", "001-b.gz"]
    assert all(str(tmp_path / "uploads") in p for p in inputs)
    labels = flags[flags.index("--labels") + 1]
    assert open(labels).read() == "BlockId,Label\nblk_1,Anomaly\n"
    assert flags[:4] == ["--source-label", "upload:a.log", "--session-by", "id"] and "--preset" in flags
    inputs, flags = ingest_request(tmp_path, spec, s3=("bk", "logs/", S3Options(endpoint_url="http://h:9"), ["logs/a"]))
    assert inputs == ["s3://bk/logs/"] and flags[-4:] == ["--s3-key", "logs/a", "--s3-endpoint-url", "http://h:9"]
