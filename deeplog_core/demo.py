"""The demo workspace the dashboard opens with: the bundled raw HDFS sample (assets/:
5,000 lines, 626 blocks, 13 labelled anomalous) saved as a dataset, and a model our own
training code fits on its normal blocks (log keys and parameter values), registered as
the first version of its lineage. Seeded, so `tests/` reproduces it."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .artifacts import DeepLogModel
from .config import ModelConfig, TrainConfig
from .datasets import Dataset, Datasets, DatasetSpec
from .grouping import read_label_file
from .params import fit_for_normal_sessions
from .registry import ModelRegistry, Version
from .sources import LocalFileSource
from .store import Store, workspace_dir
from .training import train

DEMO_DATASET = "hdfs-sample"
DEMO_MODEL = "hdfs-sample"
DEMO_CONFIG = ModelConfig()
DEMO_TRAIN = TrainConfig(seed=1234)


def assets_dir() -> Path:
    return Path(os.environ.get("DEEPLOG_ASSETS", Path(__file__).resolve().parents[1] / "assets"))


@dataclass
class Workspace:
    """The state of one workspace folder: its database, datasets and models."""

    path: Path
    store: Store
    datasets: Datasets
    registry: ModelRegistry

    @classmethod
    def open(cls, path: Optional[Path] = None) -> "Workspace":
        path = Path(path or workspace_dir())
        path.mkdir(parents=True, exist_ok=True)
        store = Store(path / "deeplog.db")
        return cls(path, store, Datasets(store, path / "datasets"), ModelRegistry(store, path / "models"))


def fit_model(dataset: Dataset, config: ModelConfig = DEMO_CONFIG, tc: TrainConfig = DEMO_TRAIN,
              on_epoch=None) -> tuple[DeepLogModel, object]:
    """(log-key model, parameter-value model) fitted on a dataset's normal sessions."""
    normal = [s for s in dataset.sessions.sessions if s.label != 1]
    model = train(normal, config, tc, templates=dataset.sessions.templates, progress=False,
                  on_epoch=on_epoch)
    model.parser_state = dataset.parser.to_state()
    model.data["source"] = f"dataset:{dataset.info.name}"
    return model, fit_for_normal_sessions(dataset.grouped)


def ensure_demo(path: Optional[Path] = None) -> tuple[Workspace, str, Version]:
    """The demo dataset and model, made on first use (once, even with several callers)."""
    ws = Workspace.open(path)
    with open(ws.path / ".demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not ws.datasets.exists(DEMO_DATASET):
            log = assets_dir() / "HDFS_5k.log"
            ws.datasets.create(DEMO_DATASET, LocalFileSource(log),
                               DatasetSpec(source=str(log), preset="HDFS", session_by="id"),
                               labels=read_label_file(assets_dir() / "anomaly_label.csv"))
        if not ws.registry.list(DEMO_MODEL):
            model, values = fit_model(ws.datasets.load(DEMO_DATASET))
            version = ws.registry.register(model, DEMO_MODEL, dataset=DEMO_DATASET)
            values.save(version.path)
    return ws, DEMO_DATASET, ws.registry.active(DEMO_MODEL) or ws.registry.list(DEMO_MODEL)[-1]
