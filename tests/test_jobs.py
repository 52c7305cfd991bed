"""Training jobs as real subprocesses recorded in SQLite: live progress, success,
cancellation of every process, a SIGKILLed job, and requests that fail fast."""

import os
import signal
import time
from pathlib import Path

import pytest

from conftest import ASSETS
from deeplog_core.jobs import JobRunner, Launcher, _group_alive, flags_to_params
from deeplog_core.store import Store
from deeplog_core.errors import ConfigError

pytestmark = pytest.mark.slow
TRAIN = str(ASSETS / "hdfs_100k" / "train.csv")


@pytest.fixture
def runner(tmp_path):
    return JobRunner(Store(tmp_path / "state.db"), tmp_path / "jobs")


def wait_for(predicate, timeout=180, step=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out")


def test_a_job_reports_progress_live_and_succeeds(runner, tmp_path):
    job_id = runner.start(TRAIN, str(tmp_path / "m"), {"epochs": 6, "patience": 100, "members": 2,
                                                       "device": "cpu"})
    job = runner.get(job_id)
    assert job["status"] == "running" and job["pid"] and job["started"]
    first = wait_for(lambda: runner.progress(job_id))
    assert first[0]["epoch"] == 1 and "samples_per_s" in first[0] and "eta_s" in first[0]
    done = wait_for(lambda: (j := runner.get(job_id))["status"] not in ("queued", "running") and j)
    assert done["status"] == "succeeded", done["error"]
    assert done["metrics"]["epochs_run"] == 12 and done["model_version"]   # 2 LSTMs x 6 epochs
    assert [(r["member"], r["epoch"]) for r in runner.progress(job_id)][5:7] == [(1, 6), (2, 1)]
    assert (tmp_path / "m" / "config.json").is_file()
    assert Path(done["log_path"]).read_text().startswith("$ ")


def test_cancel_stops_every_process_of_a_torchrun_job(runner, tmp_path):
    job_id = runner.start(TRAIN, str(tmp_path / "m"), {"epochs": 200, "patience": 1000, "batch_size": 32,
                                                       "device": "cpu"},
                          Launcher("torchrun", nproc_per_node=2))
    wait_for(lambda: runner.progress(job_id))
    pid = runner.get(job_id)["pid"]
    assert _group_alive(pid)
    assert runner.cancel(job_id)
    assert not _group_alive(pid)                      # supervisor, torchrun and both workers
    job = runner.get(job_id)
    assert job["status"] == "cancelled" and job["finished"]
    time.sleep(1)
    assert runner.get(job_id)["status"] == "cancelled"   # nothing turns it back


def test_a_sigkilled_job_ends_failed_with_its_log_tail(runner, tmp_path):
    job_id = runner.start(TRAIN, str(tmp_path / "m"), {"epochs": 200, "patience": 1000, "batch_size": 32,
                                                       "device": "cpu"})
    wait_for(lambda: runner.progress(job_id))
    os.killpg(runner.get(job_id)["pid"], signal.SIGKILL)
    job = wait_for(lambda: (j := runner.get(job_id))["status"] != "running" and j, timeout=30)
    assert job["status"] == "failed"
    assert "ended without reporting" in job["error"] and "log tail" in job["error"]


@pytest.mark.parametrize("dataset,model_dir,params,fragment", [
    ("/no/such/data.csv", "{tmp}/m", {}, "does not exist"),
    (TRAIN, "{tmp}/file/m", {}, "cannot create model directory"),
    (TRAIN, "{tmp}/m", {"window_size": 0}, "window_size must be"),
    (TRAIN, "{tmp}/m", {"lr": -1}, "lr must be"),
    (TRAIN, "{tmp}/m", {"no_such_flag": 3}, "invalid training parameters"),
])
def test_bad_requests_fail_fast_in_the_record(runner, tmp_path, dataset, model_dir, params, fragment):
    (tmp_path / "file").write_text("not a folder")
    job_id = runner.start(dataset, model_dir.replace("{tmp}", str(tmp_path)), params)
    job = runner.get(job_id)
    assert job["status"] == "failed" and fragment in job["error"] and job["pid"] is None


def test_launcher_commands_and_flags():
    assert Launcher().command(["--epochs", "1"], 3)[1:] == ["-m", "deeplog_core.train", "--epochs", "1"]
    multi = Launcher("torchrun", 2, 2, "10.0.0.5:29500", 1).command([], 7)
    assert "--standalone" not in multi and "deeplog-job-7" in multi and "10.0.0.5:29500" in multi
    assert "--standalone" in Launcher("torchrun", 2).command([], 1)
    with pytest.raises(ConfigError):
        Launcher("python", nproc_per_node=2)
    with pytest.raises(ConfigError):
        Launcher("torchrun", nnodes=2)
    assert flags_to_params(["--epochs", "3", "--no-session-end"]) == {"epochs": "3", "no_session_end": True}
    with pytest.raises(ConfigError):
        flags_to_params(["stray"])


def test_store_survives_concurrent_writers(tmp_path):
    from concurrent.futures import ThreadPoolExecutor
    store = Store(tmp_path / "s.db")
    with ThreadPoolExecutor(8) as pool:
        ids = list(pool.map(lambda i: store.create_job(dataset=f"d{i}"), range(200)))
    assert len(set(ids)) == 200 and len(store.list_jobs(limit=500)) == 200
