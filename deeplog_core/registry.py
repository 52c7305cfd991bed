"""The model registry: every version of every model lineage, and which one is active.

A lineage (``name``) is a model and the versions that online updates made of it:
``NAME-v1`` trained, ``NAME-v2`` updated from v1 with labels, and so on. Each version
records its parent, the fingerprint of its data, its metrics and its model directory.
One version per lineage is active (the latest row of ``activations``, which is kept as
an audit log); `activate` and `rollback` are one call each, and rollback goes to the
parent of the active version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

from .artifacts import CONFIG_FILE, DeepLogModel, load_model, save_model
from .errors import ConfigError, ModelFileError
from .store import Store

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Version:
    version: str
    name: str
    number: int
    parent: Optional[str]
    path: str
    dataset: str
    fingerprint: str
    kind: str                 # "train" | "update" | "import"
    metrics: dict
    created: float
    active: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


def _metrics_summary(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k != "history"}


class ModelRegistry:
    def __init__(self, store: Store, root: str | Path):
        self.store = store
        self.root = Path(root)

    # -- reading --------------------------------------------------------------------
    def _active_versions(self, db) -> set[str]:
        rows = db.execute("SELECT version FROM activations WHERE id IN "
                          "(SELECT MAX(id) FROM activations GROUP BY name)").fetchall()
        return {r[0] for r in rows}

    def _version(self, row, active: set[str]) -> Version:
        d = dict(row)
        d["metrics"] = json.loads(d["metrics"] or "{}")
        return Version(**d, active=d["version"] in active)

    def list(self, name: Optional[str] = None) -> list[Version]:
        sql, args = "SELECT * FROM models", ()
        if name is not None:
            sql, args = sql + " WHERE name = ?", (name,)
        with self.store.connect() as db:
            active = self._active_versions(db)
            rows = db.execute(sql + " ORDER BY name, number", args).fetchall()
        return [self._version(r, active) for r in rows]

    def names(self) -> list[str]:
        with self.store.connect() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT name FROM models ORDER BY name")]

    def get(self, version: str) -> Version:
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM models WHERE version = ?", (version,)).fetchone()
            if row is None:
                raise ConfigError(f"no model version {version!r} in the registry")
            return self._version(row, self._active_versions(db))

    def by_path(self, path: str | Path) -> Optional[Version]:
        resolved = str(Path(path).resolve())
        return next((v for v in self.list() if v.path == resolved), None)

    def active(self, name: str) -> Optional[Version]:
        return next((v for v in self.list(name) if v.active), None)

    def load(self, version: str, device: str = "cpu") -> DeepLogModel:
        return load_model(self.get(version).path, device=device)

    # -- writing --------------------------------------------------------------------
    def register(self, model: DeepLogModel | str | Path, name: str, *, parent: Optional[str] = None,
                 dataset: str = "", kind: str = "train", activate: bool = True) -> Version:
        """Add a version: a fitted model is saved under root/NAME/vN; a model directory
        (a finished job's output) is recorded where it is, after checking it loads."""
        if not NAME_RE.match(name or ""):
            raise ConfigError(f"model name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
        if parent is not None:
            self.get(parent)
        staged = None
        if isinstance(model, DeepLogModel):
            # Saved beside its final place, renamed in once the number is ours.
            self.root.joinpath(name).mkdir(parents=True, exist_ok=True)
            staged = self.root / name / f".staging-{os.getpid()}-{time.time_ns()}"
            save_model(model, staged)
            fitted = model
        else:
            path = Path(model).resolve()
            if not (path / CONFIG_FILE).is_file():
                raise ModelFileError(f"{path}: not a model directory (no {CONFIG_FILE})")
            fitted = load_model(path, device="cpu")
        try:
            with self.store.transaction() as db:
                number = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM models WHERE name = ?",
                                    (name,)).fetchone()[0]
                version = f"{name}-v{number}"
                if staged is not None:
                    path = self.root / name / f"v{number}"
                    if path.exists():  # left by a crash before its row was committed
                        shutil.rmtree(path)
                    staged.rename(path)
                    staged = None
                db.execute(
                    "INSERT INTO models (version, name, number, parent, path, dataset, fingerprint, "
                    "kind, metrics, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (version, name, number, parent, str(Path(path).resolve()), dataset,
                     fitted.data.get("fingerprint", ""), kind,
                     json.dumps(_metrics_summary(fitted.metrics)), time.time()))
                if activate:
                    db.execute("INSERT INTO activations (name, version, at) VALUES (?, ?, ?)",
                               (name, version, time.time()))
        finally:
            if staged is not None and staged.exists():
                shutil.rmtree(staged, ignore_errors=True)
        return self.get(version)

    def activate(self, version: str) -> Version:
        v = self.get(version)
        if not (Path(v.path) / CONFIG_FILE).is_file():
            raise ModelFileError(f"{version}: its model directory {v.path} is gone")
        with self.store.transaction() as db:
            db.execute("INSERT INTO activations (name, version, at) VALUES (?, ?, ?)",
                       (v.name, version, time.time()))
        return self.get(version)

    def rollback(self, name: str) -> Version:
        """Make the parent of the active version active again."""
        current = self.active(name)
        if current is None:
            raise ConfigError(f"model {name!r} has no active version")
        if current.parent is None:
            raise ConfigError(f"{current.version} is the first version of {name!r}: nothing to roll back to")
        return self.activate(current.parent)
