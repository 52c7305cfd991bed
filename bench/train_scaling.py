"""Training throughput with 1 and 2 processes (torchrun, gloo on CPU; nccl on GPUs when
present) and the time from "start job" to the first progress report.

Every run trains the paper's HDFS model (h=10, L=2, alpha=64) on four fifths of
hdfs_train for a fixed number of epochs; samples/s is training windows per second,
averaged over the epochs after the first. Scaling efficiency is the 2-process rate over
twice the 1-process rate, each process on one core (OMP_NUM_THREADS=1).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import DEEPLOG, REPO, emit

import torch

from deeplog_core.jobs import JobRunner
from deeplog_core.store import Store

EPOCHS = 6
TORCHRUN = str(Path(sys.executable).with_name("torchrun"))


def write_train_split(folder: Path) -> Path:
    lines = (DEEPLOG / "hdfs_train").read_text().splitlines()
    kept = [ln for i, ln in enumerate(lines) if (i - 4) % 5 != 0]
    path = folder / "hdfs_train_4of5"
    path.write_text("\n".join(kept) + "\n")
    return path


def run(launcher: list[str], data: Path, folder: Path, threads: int, device: str) -> float:
    progress = folder / "progress.jsonl"
    cmd = [*launcher, "-m", "deeplog_core.train", "--train", str(data), "--model-dir", str(folder / "m"),
           "--epochs", str(EPOCHS), "--patience", "1000", "--quiet", "--device", device,
           "--progress-file", str(progress)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    subprocess.run(cmd, check=True, env=env, cwd=REPO, capture_output=True)
    rates = [json.loads(line)["samples_per_s"] for line in progress.read_text().splitlines()]
    return statistics.mean(rates[1:])


def time_to_first_progress(data: Path, folder: Path) -> float:
    runner = JobRunner(Store(folder / "state.db"), folder / "jobs")
    t0 = time.perf_counter()
    job = runner.start(str(data), str(folder / "jm"), {"epochs": 2, "patience": 100, "device": "cpu"})
    while not runner.progress(job):
        time.sleep(0.05)
    first = time.perf_counter() - t0
    while runner.get(job)["status"] == "running":
        time.sleep(0.2)
    return first


def main():
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_train_split(tmp)
        figures = {"bench": "train_scaling", "epochs": EPOCHS}
        cases = {"cpu_1proc_1thread": ([sys.executable], 1, "cpu"),
                 "cpu_1proc_2threads": ([sys.executable], 2, "cpu"),
                 "cpu_2proc_1thread": ([TORCHRUN, "--standalone", "--nproc-per-node", "2"], 1, "cpu")}
        gpus = torch.cuda.device_count()
        if gpus:
            cases["gpu_1proc"] = ([sys.executable], 4, "cuda")
            if gpus > 1:
                cases[f"gpu_{gpus}proc"] = ([TORCHRUN, "--standalone", "--nproc-per-node", str(gpus)], 4, "cuda")
        for name, (launcher, threads, device) in cases.items():
            folder = tmp / name
            folder.mkdir()
            figures[f"{name}_samples_per_s"] = round(run(launcher, data, folder, threads, device))
            print(name, figures[f"{name}_samples_per_s"], "samples/s", flush=True)
        figures["cpu_scaling_efficiency_2proc"] = round(
            figures["cpu_2proc_1thread_samples_per_s"] / (2 * figures["cpu_1proc_1thread_samples_per_s"]), 3)
        first = tmp / "job"
        first.mkdir()
        figures["start_to_first_progress_s"] = round(time_to_first_progress(data, first), 2)
        print("start job -> first progress:", figures["start_to_first_progress_s"], "s")
    emit(figures)


if __name__ == "__main__":
    main()
