"""Real torchrun processes on CPU (gloo): data parallel training, multi-node rendezvous,
and a worker killed mid-run that resumes from its checkpoint."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ASSETS, free_port
from deeplog_core import load_model, read_sessions, score_sessions

pytestmark = pytest.mark.slow
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))
TRAIN = ASSETS / "hdfs_100k" / "train.csv"
FLAGS = ["--train", str(TRAIN), "--epochs", "6", "--patience", "100", "--members", "2", "--quiet",
         "--device", "cpu"]


def train_cmd(launcher: list[str], model_dir, *extra) -> list[str]:
    return [*launcher, "-m", "deeplog_core.train", *FLAGS, "--model-dir", str(model_dir), *extra]


def run(cmd, timeout=240, **kw):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **kw)


def metrics_of(model_dir):
    return json.loads((Path(model_dir) / "config.json").read_text())["metrics"]


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    d = tmp_path_factory.mktemp("single")
    result = run(train_cmd([sys.executable], d))
    assert result.returncode == 0, result.stderr
    return d


def test_two_processes_match_one(single, tmp_path):
    result = run(train_cmd([TORCHRUN, "--standalone", "--nproc-per-node", "2"], tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    one, two = metrics_of(single), metrics_of(tmp_path)
    assert two["world_size"] == 2 and one["world_size"] == 1
    # same global batches, so the same optimisation up to float reduction order
    assert abs(one["val_loss"] - two["val_loss"]) <= 0.02 * one["val_loss"]
    assert abs(one["val_top_g_accuracy"] - two["val_top_g_accuracy"]) <= 0.01
    dev = read_sessions(ASSETS / "hdfs_100k" / "dev.csv").sessions
    a = score_sessions(load_model(single, "cpu"), dev).session_anomalous()
    b = score_sessions(load_model(tmp_path, "cpu"), dev).session_anomalous()
    assert (a == b).mean() >= 0.99
    assert not list(tmp_path.glob(".*tmp"))           # no temporary file left behind


def test_two_nodes_rendezvous_on_localhost(tmp_path):
    port = free_port()
    launcher = [TORCHRUN, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "deeplog-test"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    nodes = [subprocess.Popen(train_cmd(launcher, tmp_path / "model"), env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outs = [n.communicate(timeout=240) for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], outs[0][1][-2000:] + outs[1][1][-2000:]
    assert metrics_of(tmp_path / "model")["world_size"] == 2


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_killed_worker_is_restarted_and_resumes_from_the_checkpoint(tmp_path):
    progress = tmp_path / "progress.jsonl"
    # One failure is injected and one restart allowed: each attempt rendezvouses under
    # its own store prefix (distributed.py), so the restarted group never meets the
    # dead attempt's keys. The kill lands in the second LSTM of a two-member model, so
    # the restart must keep the finished first member and go on inside the second.
    cmd = [TORCHRUN, "--standalone", "--nproc-per-node", "2", "--max-restarts", "1", "-m",
           "deeplog_core.train", "--train", str(TRAIN), "--epochs", "12", "--patience", "100",
           "--members", "2", "--batch-size", "32", "--quiet", "--device", "cpu",
           "--model-dir", str(tmp_path / "m"), "--progress-file", str(progress)]
    proc = subprocess.Popen(cmd, env=dict(os.environ, OMP_NUM_THREADS="1"), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def records():
        return [json.loads(line) for line in progress.read_text().splitlines()] if progress.exists() else []

    deadline = time.time() + 180
    while time.time() < deadline and sum(r["member"] == 2 for r in records()) < 2:
        time.sleep(0.2)
    workers = children(proc.pid)
    assert len(workers) == 2, "torchrun should run two workers"
    os.kill(workers[-1], signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    seen = [(r["member"], r["epoch"]) for r in records()]
    metrics = metrics_of(tmp_path / "m")
    assert metrics["resumed_from_epoch"] >= 12 + 2
    assert seen[-1] == (2, 12) and metrics["epochs_run"] == 24
    # after the restart the epochs go on from the checkpoint: no member starts over
    assert seen.count((1, 1)) == 1 and seen.count((2, 1)) == 1 and seen.count((1, 12)) == 1
    assert len(metrics["members"]) == 2 and load_model(tmp_path / "m", "cpu").config.members == 2


def test_detection_under_torchrun_merges_to_the_single_process_output(single, tmp_path):
    dev = ASSETS / "hdfs_100k" / "dev.csv"
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    args = ["-m", "deeplog_core.cli", "detect", "--model-dir", str(single), "--input", str(dev),
            "--device", "cpu"]
    result = run([sys.executable, *args, "--out", str(one)])
    assert result.returncode == 0, result.stderr
    result = run([TORCHRUN, "--standalone", "--nproc-per-node", "2", *args, "--out", str(two)])
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1])["world_size"] == 2
    assert one.read_text() == two.read_text() and len(one.read_text().splitlines()) == 1256


def test_training_from_s3_reads_the_objects_once_per_node(s3_endpoint, tmp_path):
    """Two processes on one node: the first fetches and parses the S3 objects, the other
    reads its parse; both train on the same keys."""
    import boto3
    import gzip

    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket="dist-train")
    lines = (ASSETS / "HDFS_5k.log").read_bytes().splitlines(keepends=True)
    s3.put_object(Bucket="dist-train", Key="hdfs/a.log", Body=b"".join(lines[:2500]))
    s3.put_object(Bucket="dist-train", Key="hdfs/b.log.gz", Body=gzip.compress(b"".join(lines[2500:])))
    model_dir = tmp_path / "m"
    cmd = [TORCHRUN, "--standalone", "--nproc-per-node", "2", "-m", "deeplog_core.train",
           "--train", "s3://dist-train/hdfs/", "--s3-endpoint-url", s3_endpoint, "--s3-region", "us-east-1",
           "--preset", "HDFS", "--labels", str(ASSETS / "anomaly_label.csv"), "--epochs", "3",
           "--quiet", "--device", "cpu", "--model-dir", str(model_dir)]
    result = run(cmd)
    assert result.returncode == 0, result.stderr[-3000:]
    err = result.stderr
    assert err.count("parsed 5000 lines from the source") == 1, err[-3000:]
    assert "[rank 1] read the node's parse (5000 lines) instead of the source" in err
    model = load_model(model_dir, device="cpu")
    assert model.data["sessions"] == 613 and len(model.vocab.keys) == 13 and model.parser_state
    assert metrics_of(model_dir)["world_size"] == 2
    assert not (model_dir / ".ingest-cache").exists()
