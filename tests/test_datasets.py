"""Workspace datasets: parsed once, stored, loaded back identical."""

import gzip

import pytest

from conftest import ASSETS
from deeplog_core.datasets import Datasets, DatasetSpec
from deeplog_core.errors import ConfigError, DataFormatError
from deeplog_core.grouping import read_label_file
from deeplog_core.ingest import ingest
from deeplog_core.sources import LocalFileSource, UploadSource
from deeplog_core.store import Store

LOG = ASSETS / "HDFS_5k.log"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ds")
    datasets = Datasets(Store(tmp / "s.db"), tmp / "datasets")
    info = datasets.create("hdfs", LocalFileSource(LOG), DatasetSpec(str(LOG), preset="HDFS"),
                           labels=read_label_file(ASSETS / "anomaly_label.csv"))
    return datasets, info


def test_a_saved_dataset_has_its_stats_and_loads_back_as_parsed(saved):
    datasets, info = saved
    assert info.stats["lines"] == 5000 and info.stats["sessions"] == 626
    assert info.stats["labelled_anomalous"] == 13 and info.stats["preset"] == "HDFS"
    loaded = datasets.load("hdfs")
    direct = ingest(LocalFileSource(LOG), preset="HDFS", labels_path=str(ASSETS / "anomaly_label.csv")).grouped
    assert [s.keys for s in loaded.sessions] == [s.keys for s in direct.sessions]
    assert [s.label for s in loaded.sessions] == [s.label for s in direct.sessions]
    assert loaded.grouped.members == direct.members
    a, b = loaded.grouped.events[123], direct.events[123]
    assert (a.raw, a.headers, a.params, a.timestamp, a.key) == (b.raw, b.headers, b.params, b.timestamp, b.key)
    assert loaded.parser.templates == loaded.sessions.templates
    assert [d.name for d in datasets.list()] == ["hdfs"]


def test_names_are_checked_and_never_overwritten_by_accident(saved):
    datasets, _ = saved
    with pytest.raises(ConfigError, match="exists already"):
        datasets.create("hdfs", LocalFileSource(LOG), DatasetSpec(str(LOG)))
    with pytest.raises(ConfigError, match="dataset name"):
        datasets.create("../evil", LocalFileSource(LOG), DatasetSpec(str(LOG)))
    with pytest.raises(ConfigError, match="no dataset"):
        datasets.get("nope")


def test_uploads_gzip_and_replacement(tmp_path):
    datasets = Datasets(Store(tmp_path / "s.db"), tmp_path / "datasets")
    head = b"".join(LOG.read_bytes().splitlines(keepends=True)[:400])
    info = datasets.create("up", UploadSource([("a.log.gz", gzip.compress(head))]),
                           DatasetSpec("upload:a.log.gz", preset="HDFS"))
    assert info.stats["lines"] == 400
    again = datasets.create("up", UploadSource([("a.log", head[:20000])]), DatasetSpec("upload:a.log"),
                            replace=True)
    assert again.stats["lines"] < 400 and not list((tmp_path / "datasets").glob(".staging-*"))
    datasets.delete("up")
    assert not datasets.exists("up") and not (tmp_path / "datasets" / "up").exists()


def test_a_file_without_lines_or_ids_says_so(tmp_path):
    datasets = Datasets(Store(tmp_path / "s.db"), tmp_path / "datasets")
    with pytest.raises(DataFormatError, match="session id"):
        datasets.create("x", UploadSource([("x.log", b"hello world\nanother line\n")]),
                        DatasetSpec("upload:x.log", preset="HDFS"))
    assert not datasets.exists("x")
