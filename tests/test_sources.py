"""Log sources: local files, folders and globs, uploads, and S3 over a real wire protocol."""

import gzip
import tracemalloc

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import ASSETS, start_moto
from deeplog_core.errors import DataFormatError
from deeplog_core.sources import (LocalFileSource, LocalGlobSource, S3Options, S3Source, SourceError,
                                  UploadSource, open_source, s3_error)


def test_local_file_plain_and_gzip(tmp_path):
    (tmp_path / "a.log").write_text("one\ntwo\r\nthree")
    (tmp_path / "b.log.gz").write_bytes(gzip.compress(b"four\nfive\n"))
    assert list(LocalFileSource(tmp_path / "a.log").lines()) == ["one", "two", "three"]
    assert list(LocalFileSource(tmp_path / "b.log.gz").lines()) == ["four", "five"]


def test_folder_and_glob_read_every_file_in_order(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "1.log").write_text("a\n")
    (tmp_path / "sub" / "2.log").write_bytes(gzip.compress(b"b\n"))
    (tmp_path / ".hidden").write_text("secret\n")
    assert list(LocalGlobSource(tmp_path).lines()) == ["a", "b"]
    assert list(open_source(str(tmp_path / "*.log")).lines()) == ["a"]
    with pytest.raises(SourceError, match="matches no files"):
        list(LocalGlobSource(tmp_path / "*.nothing").lines())


def test_uploads_in_order_with_gzip():
    src = UploadSource([("x.log", b"1\n2\n"), ("y.gz", gzip.compress(b"3\n"))])
    assert list(src.lines()) == ["1", "2", "3"]
    assert src.stats.objects == 2 and src.stats.lines == 3


def test_binary_is_refused_and_bad_utf8_is_replaced_with_a_warning(tmp_path):
    with pytest.raises(DataFormatError, match="binary"):
        list(UploadSource([("core", bytes(range(256)))]).lines())
    src = UploadSource([("latin1.log", "caf\xe9 ok\nplain\n".encode("latin-1"))])
    with pytest.warns(UserWarning, match="1 of 2 lines were not valid UTF-8"):
        lines = list(src.lines())
    assert lines == ["caf\ufffd ok", "plain"]
    with pytest.raises(DataFormatError, match="gzip|ended unexpectedly"):
        data = gzip.compress("\n".join(str(i * 7919) for i in range(20000)).encode())
        list(UploadSource([("cut.gz", data[: len(data) // 2])]).lines())


def test_missing_local_file():
    with pytest.raises(SourceError, match="no such file"):
        list(LocalFileSource("/nonexistent/x.log").lines())


# -- S3 ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3(s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="logs")
    for i in range(1205):  # more than one page of list_objects_v2 (1000 keys a page)
        client.put_object(Bucket="logs", Key=f"many/part-{i:05d}.log", Body=f"line {i}\n".encode())
    hdfs = (ASSETS / "HDFS_5k.log").read_bytes()
    cut = hdfs.index(b"\n", len(hdfs) // 2) + 1        # two objects, split between lines
    client.put_object(Bucket="logs", Key="hdfs/day1.log.gz", Body=gzip.compress(hdfs[:cut]))
    client.put_object(Bucket="logs", Key="hdfs/day2.log", Body=hdfs[cut:])
    return client, S3Options(endpoint_url=s3_endpoint, region="us-east-1", max_attempts=2)


def test_s3_prefix_with_many_objects_is_listed_through_pages(s3):
    client, options = s3
    src = S3Source("s3://logs/many/", options)
    objects = src.list_objects()
    assert len(objects) == 1205 and objects[0].size == len("line 0\n")
    lines = list(src.lines())
    assert len(lines) == 1205 and lines[0] == "line 0" and lines[-1] == "line 1204"


def test_s3_gzip_and_plain_objects_read_as_one_log(s3):
    _, options = s3
    lines = list(S3Source("s3://logs/hdfs/", options).lines())
    assert len(lines) == 5000
    assert lines == (ASSETS / "HDFS_5k.log").read_text().splitlines()


def test_s3_errors_are_clear(s3, s3_endpoint):
    _, options = s3
    with pytest.raises(SourceError, match="bucket does not exist"):
        list(S3Source("s3://no-such-bucket/x", options).lines())
    with pytest.raises(SourceError, match="object does not exist"):
        list(S3Source("s3://logs/", options, keys=["missing.log"]).lines())
    with pytest.raises(SourceError, match="no objects under this prefix"):
        list(S3Source("s3://logs/empty-prefix/", options).lines())
    with pytest.raises(SourceError, match="not an S3 URL"):
        S3Source("http://logs/x", options)


def test_s3_unreachable_endpoint_is_a_network_error_not_a_hang():
    from conftest import free_port
    options = S3Options(endpoint_url=f"http://127.0.0.1:{free_port()}", region="us-east-1",
                        max_attempts=1, connect_timeout=1)
    with pytest.raises(SourceError, match="cannot reach the S3 endpoint"):
        S3Source("s3://logs/x", options).list_objects()


def test_s3_throttling_message():
    exc = ClientError({"Error": {"Code": "SlowDown", "Message": "x"},
                       "ResponseMetadata": {"HTTPStatusCode": 503}}, "GetObject")
    assert "throttling" in str(s3_error(exc, "s3://b/k"))


def test_s3_large_object_is_streamed_not_loaded(s3):
    client, options = s3
    line = b"081109 203518 143 INFO dfs.DataNode$DataXceiver: Receiving block blk_1 src: /10.0.0.1:1\n"
    body = line * (48 * 1024 * 1024 // len(line))           # a 48 MB object
    client.put_object(Bucket="logs", Key="big/one.log", Body=body)
    del body
    src = S3Source("s3://logs/big/", options)
    src.list_objects()      # build the client (botocore loads its service model) first
    tracemalloc.start()
    count = sum(1 for _ in src.lines())
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 48 * 1024 * 1024 // len(line)
    assert peak < 4 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while reading a 48 MB object"


def test_s3_bad_credentials_and_access_denied(monkeypatch):
    # A second server with authentication on: unknown keys and users without a policy.
    proc, url = start_moto({"INITIAL_NO_AUTH_ACTION_COUNT": "0"})
    try:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKEFAKE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
        options = S3Options(endpoint_url=url, region="us-east-1", max_attempts=1)
        with pytest.raises(SourceError) as err:
            S3Source("s3://logs/x", options).list_objects()
        assert "access key id is not valid" in str(err.value) or "access denied" in str(err.value)
        assert "not-a-real-secret" not in str(err.value)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
