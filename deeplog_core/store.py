"""The app's state database (SQLite, WAL mode): one connection per call, so any thread
or process (the app, a job's supervisor, the CLI) can read and write it safely."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

def workspace_dir() -> Path:
    """Where the app and the CLI keep their state: $DEEPLOG_WORKSPACE or ./workspace."""
    path = Path(os.environ.get("DEEPLOG_WORKSPACE", Path.cwd() / "workspace"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_store() -> "Store":
    return Store(workspace_dir() / "deeplog.db")


SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL DEFAULT 'train',
    dataset       TEXT NOT NULL,
    params        TEXT NOT NULL DEFAULT '{}',
    launcher      TEXT NOT NULL DEFAULT '{}',
    command       TEXT NOT NULL DEFAULT '[]',
    status        TEXT NOT NULL CHECK (status IN ('queued','running','succeeded','failed','cancelled')),
    pid           INTEGER,
    pid_start     TEXT,
    created       REAL NOT NULL,
    started       REAL,
    finished      REAL,
    log_path      TEXT,
    progress_path TEXT,
    model_dir     TEXT,
    metrics       TEXT,
    model_version TEXT,
    error         TEXT
);
-- Labels are append-only: a newer label on the same event supersedes an older one in
-- effect (labels.effective), but no label row is ever updated away or deleted by an update.
CREATE TABLE IF NOT EXISTS labels (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset       TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    position      INTEGER,            -- NULL: the whole session
    key           TEXT,
    verdict       TEXT NOT NULL CHECK (verdict IN ('false_positive','confirmed_anomaly')),
    model_version TEXT,
    note          TEXT NOT NULL DEFAULT '',
    created       REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS labels_by_dataset ON labels (dataset, session_id);
CREATE TABLE IF NOT EXISTS label_uses (   -- which update consumed which label
    label_id      INTEGER NOT NULL REFERENCES labels(id),
    model_version TEXT NOT NULL,
    PRIMARY KEY (label_id, model_version)
);
CREATE TABLE IF NOT EXISTS models (
    version       TEXT PRIMARY KEY,   -- NAME-vN
    name          TEXT NOT NULL,
    number        INTEGER NOT NULL,
    parent        TEXT,
    path          TEXT NOT NULL,
    dataset       TEXT NOT NULL DEFAULT '',
    fingerprint   TEXT NOT NULL DEFAULT '',
    kind          TEXT NOT NULL DEFAULT 'train',
    metrics       TEXT NOT NULL DEFAULT '{}',
    created       REAL NOT NULL,
    UNIQUE (name, number)
);
CREATE TABLE IF NOT EXISTS activations (  -- the active version of a lineage is its latest row
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    version       TEXT NOT NULL REFERENCES models(version),
    at            REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS datasets (
    name          TEXT PRIMARY KEY,
    source        TEXT NOT NULL,      -- what the analyst picked (never credentials)
    spec          TEXT NOT NULL DEFAULT '{}',
    path          TEXT NOT NULL,      -- the workspace folder holding its parsed form
    stats         TEXT NOT NULL DEFAULT '{}',
    created       REAL NOT NULL
);
"""
JSON_FIELDS = ("params", "launcher", "command", "metrics")


class Store:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT: writers queue on the lock instead of interleaving."""
        with self.connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA busy_timeout=30000")
        try:
            yield db
        finally:
            db.close()

    @staticmethod
    def _row(row: Optional[sqlite3.Row]) -> Optional[dict]:
        if row is None:
            return None
        d = dict(row)
        for k in JSON_FIELDS:
            if d.get(k) is not None:
                d[k] = json.loads(d[k])
        return d

    def create_job(self, **fields: Any) -> int:
        fields = {k: json.dumps(v) if k in JSON_FIELDS else v for k, v in fields.items()}
        fields.setdefault("created", time.time())
        fields.setdefault("status", "queued")
        cols = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        with self.connect() as db:
            return db.execute(f"INSERT INTO jobs ({cols}) VALUES ({marks})", tuple(fields.values())).lastrowid

    def update_job(self, job_id: int, *, only_if_status: Optional[tuple] = None, **fields: Any) -> bool:
        """Set fields; with `only_if_status`, only while the job is in one of those states
        (so a late writer cannot turn a cancelled job back into a succeeded one)."""
        fields = {k: json.dumps(v) if k in JSON_FIELDS else v for k, v in fields.items()}
        sets = ", ".join(f"{k} = ?" for k in fields)
        sql, args = f"UPDATE jobs SET {sets} WHERE id = ?", [*fields.values(), job_id]
        if only_if_status:
            sql += f" AND status IN ({', '.join('?' for _ in only_if_status)})"
            args += list(only_if_status)
        with self.connect() as db:
            return db.execute(sql, args).rowcount > 0

    def get_job(self, job_id: int) -> Optional[dict]:
        with self.connect() as db:
            return self._row(db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone())

    def list_jobs(self, limit: int = 100) -> list[dict]:
        with self.connect() as db:
            rows = db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._row(r) for r in rows]
