"""Shared fixtures: a synthetic log grammar whose anomalies are known exactly, and
small models trained on it once per test session."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deeplog_core import ModelConfig, Session, TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data"
ASSETS = REPO / "assets"


def grammar_session(rng: random.Random, sid: str) -> Session:
    """A normal session of the grammar  A [F] (B C){1..3} D E.

    From any history the legal next keys are at most two, so with g=2 the model must
    accept every normal session and reject every deviation.
    """
    keys = ["A"]
    if rng.random() < 0.3:
        keys.append("F")
    for _ in range(rng.randint(1, 3)):
        keys += ["B", "C"]
    keys += ["D", "E"]
    return Session(sid, keys, 0)


def grammar_sessions(n: int, seed: int = 0) -> list[Session]:
    rng = random.Random(seed)
    return [grammar_session(rng, f"s{i}") for i in range(n)]


# Deviations of the grammar: the position of the first wrong event, why it is wrong,
# and how many keys the grammar allows at that point (top-g with a larger g may fill
# its spare slots with arbitrary keys, so each case is checked at its own g).
ANOMALIES = [
    (Session("swap", ["A", "D", "B", "C", "E"], 1), 1, "unexpected_key", 2),
    (Session("unknown", ["A", "B", "C", "Z", "D", "E"], 1), 3, "unknown_key", 2),
    (Session("early_end", ["A", "B", "C"], 1), 3, "unexpected_end", 2),
    (Session("bad_start", ["B", "C", "D", "E"], 1), 0, "unexpected_key", 1),
    (Session("repeat", ["A", "B", "C", "D", "D", "E"], 1), 4, "unexpected_key", 1),
    (Session("too_long", ["A", "B", "C", "D", "E", "A"], 1), 5, "unexpected_key", 1),
]

GRAMMAR_CONFIG = ModelConfig(window_size=6, hidden_size=32, num_layers=2, num_candidates=2)
GRAMMAR_TRAIN = TrainConfig(epochs=80, batch_size=64, lr=5e-3, seed=7, patience=10)


@pytest.fixture(scope="session")
def grammar_model():
    return train(grammar_sessions(400), GRAMMAR_CONFIG, GRAMMAR_TRAIN, progress=False)


@pytest.fixture(scope="session")
def saved_model(grammar_model, tmp_path_factory):
    from deeplog_core import save_model

    return save_model(grammar_model, tmp_path_factory.mktemp("model"))


# -- a real S3 wire-protocol server (moto's server mode) in its own process ----------

import os
import socket
import subprocess
import sys
import time
import urllib.request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto(env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, **(env_extra or {}))
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            return proc, url
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto server did not start")


@pytest.fixture(scope="session")
def s3_endpoint():
    """An S3 endpoint on 127.0.0.1 and test credentials in the environment."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    proc, url = start_moto()
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
