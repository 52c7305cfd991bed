"""The deeplog command as other tools call it: real processes, real files."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ANOMALIES, grammar_sessions

FAST = ["--window-size", "6", "--hidden-size", "32", "--num-candidates", "2", "--epochs", "60",
        "--batch-size", "64", "--lr", "0.005", "--patience", "10", "--quiet"]


def run(*args, module=("deeplog_core.cli",)):
    return subprocess.run([sys.executable, "-m", *module, *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def write_csv(path: Path, sessions):
    lines = ["BlockId,Label,EventSequence"]
    lines += [f"{s.id},{'Anomaly' if s.label else 'Normal'},{' '.join(s.keys)}" for s in sessions]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    write_csv(d / "train.csv", grammar_sessions(300, seed=1))
    write_csv(d / "test.csv", grammar_sessions(50, seed=2) + [a[0] for a in ANOMALIES])
    (d / "normal.keys").write_text("1 2 3 4\n1 2 3 4\n" * 50)
    (d / "abnormal.keys").write_text("1 3 2 4\n1 2\n")
    return d


@pytest.fixture(scope="module")
def trained(workdir):
    result = run("train", "--train", workdir / "train.csv", "--model-dir", workdir / "model", *FAST)
    assert result.returncode == 0, result.stderr
    return workdir / "model", json.loads(result.stdout.strip().splitlines()[-1])


def test_train_writes_a_model_directory(trained):
    model_dir, summary = trained
    assert (model_dir / "config.json").is_file() and (model_dir / "model.safetensors").is_file()
    assert summary["sessions"] == 300 and summary["keys"] == 6
    config = json.loads((model_dir / "config.json").read_text())
    assert config["model"]["window_size"] == 6 and config["train"]["epochs"] == 60


def test_evaluate_test_csv_prints_metrics_json_last(trained, workdir):
    result = run("evaluate", "--model-dir", trained[0], "--test", workdir / "test.csv", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("tp", "fp", "tn", "fn", "precision", "recall", "f1", "fpr", "sessions_per_s"):
        assert key in metrics
    # the grammar's anomalies that deviate where it branches twice are found at g=2
    assert metrics["fp"] == 0 and metrics["tp"] >= 3 and metrics["tn"] == 50


def test_evaluate_normal_and_abnormal_key_files(workdir, tmp_path):
    model_dir = tmp_path / "m"
    result = run("train", "--train", workdir / "normal.keys", "--model-dir", model_dir,
                 "--num-classes", "4", "--local", "--input-size", "1", "--epochs", "5", "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads((model_dir / "config.json").read_text())["model"]["input_mode"] == "scalar"
    result = run("evaluate", "--model-dir", model_dir, "--normal", workdir / "normal.keys",
                 "--abnormal", workdir / "abnormal.keys", "--format", "deeplog", "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["sessions"] == 102 and metrics["tp"] + metrics["fn"] == 2


def test_detect_writes_one_verdict_per_session(trained, workdir):
    out = workdir / "verdicts.jsonl"
    result = run("detect", "--model-dir", trained[0], "--input", workdir / "test.csv", "--out", out)
    assert result.returncode == 0, result.stderr
    verdicts = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(verdicts) == 56
    unknown = next(v for v in verdicts if v["session_id"] == "unknown")
    assert unknown["anomalous"] and unknown["events"][3]["reason"] == "unknown_key"
    assert json.loads(result.stdout.strip().splitlines()[-1])["sessions"] == 56


def test_python_m_train_is_the_same_entry_point(workdir, tmp_path):
    result = run("--train", workdir / "train.csv", "--model-dir", tmp_path / "m2", "--epochs", "2",
                 "--quiet", module=("deeplog_core.train",))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "m2" / "config.json").is_file()


@pytest.mark.parametrize("args,fragment", [
    (["train", "--train", "missing.csv", "--model-dir", "x"], "no such file"),
    (["train", "--model-dir", "x"], "--train PATH is required"),
    (["train", "--train", "{train}", "--model-dir", "x", "--window-size", "0"], "window_size must be"),
    (["train", "--train", "{train}", "--model-dir", "x", "--num-classes", "3"], "num-classes 3"),
    (["evaluate", "--model-dir", "{train}", "--test", "{train}"], "not a model directory"),
    (["evaluate", "--model-dir", "x", "--normal", "{train}"], "needs --test PATH"),
    (["detect", "--model-dir", "nowhere", "--input", "{train}", "--out", "o.jsonl"], "not a model directory"),
    (["parse", "--input", "nowhere.log", "--out", "o.csv"], "no such file"),
    (["parse", "--input", "{empty}", "--out", "o.csv"], "empty"),
    (["parse", "--input", "{empty}", "--preset", "HDFS", "--out", "o.csv"], "input is empty"),
    (["parse", "--input", "{binary}", "--out", "o.csv"], "binary"),
    (["train", "--train", "{train}", "--model-dir", "x", "--format", "raw", "--session-by", "by:what"], "--session-by"),
])
def test_bad_input_exits_2_with_one_clear_line(workdir, args, fragment):
    (workdir / "empty.log").write_text("")
    (workdir / "core.bin").write_bytes(bytes(range(256)) * 64)
    args = [a.replace("{train}", str(workdir / "train.csv")).replace("{empty}", str(workdir / "empty.log"))
            .replace("{binary}", str(workdir / "core.bin")) for a in args]
    result = run(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert fragment in result.stderr


# -- raw logs ---------------------------------------------------------------------------

import csv as _csv

from conftest import ASSETS


def test_parse_writes_a_loghub_structured_csv(tmp_path):
    out = tmp_path / "structured.csv"
    result = run("parse", "--input", ASSETS / "HDFS_5k.log", "--out", out, "--quiet",
                 "--templates-out", tmp_path / "templates.json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["lines"] == 5000 and summary["preset"] == "HDFS" and summary["outside_log_format"] == 0
    rows = list(_csv.DictReader(out.open()))
    assert list(rows[0]) == ["LineId", "Date", "Time", "Pid", "Level", "Component", "Content",
                             "EventId", "EventTemplate", "ParameterList"]
    assert len(rows) == 5000 and rows[0]["EventTemplate"] == "Receiving block <*> src: /<*> dest: /<*>"
    assert json.loads(rows[0]["ParameterList"])[0] == "blk_-1608999687919862906"
    assert len({r["EventId"] for r in rows}) == summary["templates"]


def test_raw_logs_train_evaluate_detect(tmp_path):
    raw = ["--format", "raw", "--preset", "HDFS", "--labels", ASSETS / "anomaly_label.csv"]
    model = tmp_path / "m"
    result = run("train", "--train", ASSETS / "HDFS_5k.log", "--model-dir", model, *raw,
                 "--epochs", "40", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "left out 13 sessions labelled anomalous" in result.stderr
    assert (model / "parser.json").is_file()
    result = run("evaluate", "--model-dir", model, "--test", ASSETS / "HDFS_5k.log", *raw, "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["sessions"] == 626 and metrics["tp"] + metrics["fn"] == 13
    out = tmp_path / "v.jsonl"
    result = run("detect", "--model-dir", model, "--input", ASSETS / "HDFS_5k.log", "--format", "raw",
                 "--out", out, "--anomalous-only")
    assert result.returncode == 0, result.stderr
    verdict = json.loads(out.read_text().splitlines()[0])
    event = verdict["events"][0]
    assert event["line_no"] >= 1 and "blk_" in event["content"]


def test_raw_input_needs_a_model_trained_on_raw_logs(trained, tmp_path):
    result = run("detect", "--model-dir", trained[0], "--input", ASSETS / "HDFS_5k.log", "--format", "raw",
                 "--out", tmp_path / "o.jsonl")
    assert result.returncode == 2 and "trained on session files" in result.stderr


def test_parse_from_s3(s3_endpoint, tmp_path):
    import boto3
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="cli-logs")
    client.put_object(Bucket="cli-logs", Key="hdfs/a.log", Body=(ASSETS / "HDFS_5k.log").read_bytes())
    result = run("parse", "--input", "s3://cli-logs/hdfs/", "--s3-endpoint-url", s3_endpoint,
                 "--s3-region", "us-east-1", "--out", tmp_path / "s.csv", "--quiet")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["lines"] == 5000
    result = run("parse", "--input", "s3://no-bucket/x", "--s3-endpoint-url", s3_endpoint,
                 "--out", tmp_path / "t.csv", "--quiet")
    assert result.returncode == 2 and "bucket does not exist" in result.stderr


def test_dataset_create_from_several_files_in_order_and_list(tmp_path):
    lines = (ASSETS / "HDFS_5k.log").read_text().splitlines(keepends=True)
    a, b = tmp_path / "b-first.log", tmp_path / "a-second.log"
    a.write_text("".join(lines[:3000]))
    b.write_text("".join(lines[3000:]))
    db = tmp_path / "ws" / "deeplog.db"
    r = run("dataset", "create", "--name", "two", "--input", str(a), "--input", str(b), "--preset", "HDFS",
            "--labels", str(ASSETS / "anomaly_label.csv"), "--db", str(db), "--quiet",
            "--progress-file", str(tmp_path / "p.jsonl"))
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert (out["lines"], out["sessions"], out["labelled_anomalous"]) == (5000, 626, 13)
    phases = [json.loads(x)["phase"] for x in (tmp_path / "p.jsonl").read_text().splitlines()]
    assert phases == ["mining", "matching"]
    from deeplog_core.demo import Workspace
    first = Workspace.open(db.parent).datasets.load("two").grouped.events[0]
    assert first.raw == lines[0].rstrip("\n")            # the files were read in the given order
    again = run("dataset", "create", "--name", "two", "--input", str(a), "--db", str(db), "--quiet")
    assert again.returncode == 2 and "exists already" in again.stderr
    listed = [json.loads(x) for x in run("dataset", "list", "--db", str(db)).stdout.splitlines()]
    assert [d["name"] for d in listed] == ["two"]
