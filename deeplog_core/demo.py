"""The demo workspace the dashboard opens with: a model our own training code fits on
the bundled HDFS sample (assets/), reproducible from its seed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

from .artifacts import DeepLogModel, load_model, save_model
from .config import ModelConfig, TrainConfig
from .errors import ModelFileError
from .readers import read_sessions
from .sessions import SessionSet, fingerprint
from .store import workspace_dir
from .training import train

DEMO_CONFIG = ModelConfig()
DEMO_TRAIN = TrainConfig(seed=1234)


def assets_dir() -> Path:
    return Path(os.environ.get("DEEPLOG_ASSETS", Path(__file__).resolve().parents[1] / "assets"))


def demo_data() -> tuple[SessionSet, SessionSet]:
    """(normal training blocks, labelled blocks to inspect) of the bundled HDFS sample."""
    base = assets_dir() / "hdfs_100k"
    return read_sessions(base / "train.csv"), read_sessions(base / "dev.csv")


def demo_model(workspace: Optional[Path] = None,
               on_epoch: Optional[Callable[[dict], None]] = None) -> DeepLogModel:
    """The demo model: loaded when it exists and matches the bundled data, else trained."""
    model_dir = (workspace or workspace_dir()) / "models" / "demo"
    train_set, _ = demo_data()
    try:
        model = load_model(model_dir, device="cpu")
        if model.data.get("fingerprint") == fingerprint(train_set.sessions):
            return model
    except ModelFileError:
        pass
    model = train(train_set.sessions, DEMO_CONFIG, DEMO_TRAIN, templates=train_set.templates,
                  progress=False, on_epoch=on_epoch)
    save_model(model, model_dir)
    return model
