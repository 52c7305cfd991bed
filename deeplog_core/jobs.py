"""Training jobs: a subprocess per job, a record per job in the state database.

`JobRunner.start` validates the request (fails fast, in the record, with the reason),
then launches a supervisor in a new process group:
    python -m deeplog_core.jobs supervise --db DB --job ID
which runs the training command (plain Python or torchrun; an argument list, never a
shell string), sends its output to the job's log file and records the outcome. Rank 0
appends one JSON line per epoch to the job's progress file, so any reader sees the job
live. Cancelling kills the whole process group. `refresh` marks a job whose processes
are gone (killed, machine restarted) as failed with the tail of its log, so nothing
stays "running" for ever.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from .errors import ConfigError, DeepLogError
from .store import Store

ACTIVE = ("queued", "running")
LOG_TAIL_LINES = 40


@dataclass(frozen=True)
class Launcher:
    """How to run training: in one process, or under torchrun."""

    kind: str = "python"          # "python" | "torchrun"
    nproc_per_node: int = 1
    nnodes: int = 1
    rdzv_endpoint: str = ""       # HOST:PORT, for nnodes > 1
    max_restarts: int = 0

    def __post_init__(self):
        if self.kind not in ("python", "torchrun"):
            raise ConfigError(f"launcher must be python or torchrun, got {self.kind!r}")
        if self.nproc_per_node < 1 or self.nnodes < 1 or self.max_restarts < 0:
            raise ConfigError("processes per node and nodes must be at least 1, restarts at least 0")
        if self.kind == "python" and (self.nproc_per_node > 1 or self.nnodes > 1):
            raise ConfigError("several processes need the torchrun launcher")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise ConfigError("several nodes need a rendezvous endpoint HOST:PORT")

    def command(self, train_args: list[str], job_id: int) -> list[str]:
        if self.kind == "python":
            return [sys.executable, "-m", "deeplog_core.train", *train_args]
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        cmd = [torchrun, "--nproc-per-node", str(self.nproc_per_node),
               "--max-restarts", str(self.max_restarts)]
        if self.nnodes == 1:
            cmd.append("--standalone")
        else:
            cmd += ["--nnodes", str(self.nnodes), "--rdzv-backend", "c10d",
                    "--rdzv-endpoint", self.rdzv_endpoint, "--rdzv-id", f"deeplog-job-{job_id}"]
        return [*cmd, "-m", "deeplog_core.train", *train_args]


def train_flags(params: dict) -> list[str]:
    """{"window_size": 10, "no_session_end": True} -> ["--window-size", "10", "--no-session-end"]."""
    flags = []
    for key, value in params.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is not None and value is not False:
            flags += [flag, str(value)]
    return flags


def flags_to_params(flags: list[str]) -> dict:
    """["--epochs", "5", "--no-session-end"] -> {"epochs": "5", "no_session_end": True}."""
    params, i = {}, 0
    while i < len(flags):
        if not flags[i].startswith("--"):
            raise ConfigError(f"unexpected argument {flags[i]!r}; training flags look like --name value")
        name = flags[i][2:].replace("-", "_")
        if i + 1 < len(flags) and not flags[i + 1].startswith("--"):
            params[name], i = flags[i + 1], i + 2
        else:
            params[name], i = True, i + 1
    return params


def validate(dataset: str, model_dir: str, params: dict) -> list[str]:
    """The full training argument list, or a ConfigError saying what is wrong."""
    from .artifacts import prepare_model_dir
    from .cli import _model_config, build_parser
    from .config import TrainConfig

    if dataset.startswith("dataset:"):
        from .demo import Workspace

        Workspace.open(Path(params["db"]).parent if params.get("db") else None).datasets.get(dataset[8:])
    elif not dataset.startswith("s3://") and not Path(dataset).exists():
        raise ConfigError(f"dataset {dataset} does not exist")
    args_list = ["--train", dataset, "--model-dir", model_dir, *train_flags(params)]
    parser = build_parser()
    parser.exit_on_error = False
    try:
        args = parser.parse_args(["train", *args_list])
    except (argparse.ArgumentError, SystemExit) as exc:
        raise ConfigError(f"invalid training parameters: {exc}") from None
    _model_config(args)
    TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                val_fraction=args.val_fraction, patience=args.patience,
                pair_weighting=args.pair_weighting, device=args.device)
    prepare_model_dir(model_dir)
    return args_list


def _proc_start(pid: int) -> Optional[str]:
    """The kernel's start time of a process (tells a live job from a reused pid)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def log_tail(path: Optional[str], lines: int = LOG_TAIL_LINES) -> str:
    if not path or not Path(path).exists():
        return ""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 64 * 1024))
        text = fh.read().decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


class JobRunner:
    def __init__(self, store: Store, jobs_dir: str | Path):
        self.store = store
        self.jobs_dir = Path(jobs_dir)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)

    def start(self, dataset: str, model_dir: Optional[str] = None, params: Optional[dict] = None,
              launcher: Launcher = Launcher()) -> int:
        """Start a job (model_dir defaults to models/job-ID beside the jobs folder)."""
        params = dict(params or {})
        job_id = self.store.create_job(dataset=dataset, params=params, launcher=asdict(launcher),
                                       model_dir=model_dir)
        if model_dir is None:
            model_dir = str(self.jobs_dir.parent / "models" / f"job-{job_id}")
            self.store.update_job(job_id, model_dir=model_dir)
        folder = self.jobs_dir / str(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        log, progress = folder / "train.log", folder / "progress.jsonl"
        self.store.update_job(job_id, log_path=str(log), progress_path=str(progress))
        if params.get("register") or dataset.startswith("dataset:"):
            params.setdefault("db", str(self.store.path))   # the job's workspace
        try:
            args = validate(dataset, model_dir, params)
        except DeepLogError as exc:
            self.store.update_job(job_id, status="failed", finished=time.time(), error=str(exc))
            return job_id

        command = launcher.command([*args, "--quiet", "--progress-file", str(progress)], job_id)
        return self._launch(job_id, command)

    def start_update(self, model_dir: str, data: str, dataset: Optional[str] = None,
                     replay: Optional[str] = None, params: Optional[dict] = None) -> int:
        """Start an online update of a registered model from the labels of `dataset`
        (default: the `data` path). The new version is registered when it succeeds."""
        from .cli_feedback import _registry, dataset_key
        from .labels import LabelStore

        params = dict(params or {})
        job_id = self.store.create_job(kind="update", dataset=dataset or data, params=params,
                                       launcher=asdict(Launcher()))
        out_dir = str(self.jobs_dir.parent / "models" / f"update-{job_id}")
        folder = self.jobs_dir / str(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        log, progress = folder / "update.log", folder / "progress.jsonl"
        self.store.update_job(job_id, model_dir=out_dir, log_path=str(log), progress_path=str(progress))
        try:
            if _registry(self.store).by_path(model_dir) is None:
                raise ConfigError(f"{model_dir} is not a registered model version")
            if not LabelStore(self.store).effective(dataset or dataset_key(data)):
                raise ConfigError(f"no labels for dataset {dataset or data}: mark a false positive first")
        except DeepLogError as exc:
            self.store.update_job(job_id, status="failed", finished=time.time(), error=str(exc))
            return job_id
        command = [sys.executable, "-m", "deeplog_core.cli", "update", "--model-dir", str(model_dir),
                   "--data", data, "--out", out_dir, "--db", str(self.store.path), "--quiet",
                   "--progress-file", str(progress), *train_flags(params)]
        if dataset:
            command += ["--dataset", dataset]
        if replay:
            command += ["--replay", replay]
        return self._launch(job_id, command)

    def start_ingest(self, name: str, inputs: list[str], flags: list[str]) -> int:
        """Parse sources into the workspace dataset `name` in the background (`flags`:
        those of ``deeplog dataset create`` besides --name and --input)."""
        job_id = self.store.create_job(kind="ingest", dataset=name, params={"inputs": inputs, "flags": flags},
                                       launcher=asdict(Launcher()))
        folder = self.jobs_dir / str(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        log, progress = folder / "ingest.log", folder / "progress.jsonl"
        self.store.update_job(job_id, log_path=str(log), progress_path=str(progress))
        command = [sys.executable, "-m", "deeplog_core.cli", "dataset", "create", "--name", name,
                   *[arg for path in inputs for arg in ("--input", path)], *flags,
                   "--db", str(self.store.path), "--quiet", "--progress-file", str(progress)]
        return self._launch(job_id, command)

    def _launch(self, job_id: int, command: list[str]) -> int:
        self.store.update_job(job_id, command=command)
        proc = subprocess.Popen(
            [sys.executable, "-m", "deeplog_core.jobs", "supervise", "--db", str(self.store.path),
             "--job", str(job_id)],
            start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        self.store.update_job(job_id, status="running", pid=proc.pid, pid_start=_proc_start(proc.pid),
                              started=time.time(), only_if_status=("queued",))
        return job_id

    def progress(self, job_id: int) -> list[dict]:
        job = self.store.get_job(job_id)
        path = job and job.get("progress_path")
        if not path or not Path(path).exists():
            return []
        out = []
        for line in Path(path).read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line being written right now
        return out

    def cancel(self, job_id: int, grace_s: float = 5.0) -> bool:
        job = self.store.get_job(job_id)
        if job is None:
            raise ConfigError(f"no job {job_id}")
        if job["status"] not in ACTIVE:
            return False
        self.store.update_job(job_id, status="cancelled", finished=time.time(),
                              error="cancelled by the user", only_if_status=ACTIVE)
        pid = job.get("pid")
        if pid and _proc_start(pid) == job.get("pid_start"):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    break
                deadline = time.time() + grace_s
                while time.time() < deadline and _group_alive(pid):
                    time.sleep(0.1)
                if not _group_alive(pid):
                    break
        return True

    def refresh(self) -> None:
        """Mark active jobs whose supervisor is gone as failed, with their log tail."""
        for job in self.store.list_jobs(limit=1000):
            if job["status"] not in ACTIVE:
                continue
            pid = job.get("pid")
            if pid:
                try:  # reap a supervisor that this process started and that has exited
                    os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    pass
            gone = pid is None and time.time() - job["created"] > 60
            gone = gone or (pid is not None and _proc_start(pid) != job.get("pid_start"))
            if gone:
                tail = log_tail(job.get("log_path"))
                self.store.update_job(job["id"], status="failed", finished=time.time(),
                                      error="the job's process ended without reporting"
                                            + (f"; log tail:\n{tail}" if tail else ""),
                                      only_if_status=ACTIVE)

    def get(self, job_id: int) -> Optional[dict]:
        self.refresh()
        return self.store.get_job(job_id)

    def list(self) -> list[dict]:
        self.refresh()
        return self.store.list_jobs()


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def supervise(db: str, job_id: int) -> int:
    """Run one job's command, stream its output to the log, record the outcome."""
    store = Store(db)
    job = store.get_job(job_id)
    with open(job["log_path"], "ab") as log:
        log.write(f"$ {' '.join(job['command'])}\n".encode())
        log.flush()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        code = subprocess.call(job["command"], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=env)
    if code == 0:
        from .cli_feedback import _registry

        metrics, version = {}, ""
        config = Path(job["model_dir"]) / "config.json" if job.get("model_dir") else None
        if config is not None and config.is_file():
            doc = json.loads(config.read_text())
            metrics = {k: v for k, v in doc.get("metrics", {}).items() if k != "history"}
            registered = _registry(store).by_path(job["model_dir"])
            version = registered.version if registered else doc.get("created", "")
        store.update_job(job_id, status="succeeded", finished=time.time(), metrics=metrics,
                         model_version=version, only_if_status=ACTIVE)
    else:
        store.update_job(job_id, status="failed", finished=time.time(),
                         error=f"{job['kind']} exited with status {code}; log tail:\n{log_tail(job['log_path'])}",
                         only_if_status=ACTIVE)
    return code


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m deeplog_core.jobs")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("supervise")
    s.add_argument("--db", required=True)
    s.add_argument("--job", type=int, required=True)
    a = p.parse_args()
    sys.exit(supervise(a.db, a.job))
