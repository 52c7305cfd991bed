"""Analyst labels: "this flag was a false positive", "this anomaly is real".

A label names a dataset, a session, optionally one event of it (its position; none
means the whole session), the key there, the model version that flagged it, and when.
Labels are append-only rows in the state database: relabelling an event adds a row that
supersedes the older one in `effective()`, and nothing an update does (or fails to do)
removes or rewrites a label. Each write is one short transaction, so concurrent writers
(two analysts, the app and the CLI) queue on SQLite's lock instead of losing rows.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Iterable, Optional

from .errors import ConfigError
from .store import Store

FALSE_POSITIVE, CONFIRMED = "false_positive", "confirmed_anomaly"
VERDICTS = (FALSE_POSITIVE, CONFIRMED)


@dataclass(frozen=True)
class Label:
    id: int
    dataset: str
    session_id: str
    position: Optional[int]     # None: the whole session
    key: Optional[str]
    verdict: str
    model_version: Optional[str]
    note: str
    created: float

    def to_dict(self) -> dict:
        return asdict(self)


def _label(row) -> Label:
    return Label(**{k: row[k] for k in Label.__dataclass_fields__})


class LabelStore:
    def __init__(self, store: Store):
        self.store = store

    def add(self, dataset: str, session_id: str, verdict: str, *, position: Optional[int] = None,
            key: Optional[str] = None, model_version: Optional[str] = None, note: str = "") -> Label:
        if verdict not in VERDICTS:
            raise ConfigError(f"a label is {' or '.join(VERDICTS)}, got {verdict!r}")
        if not dataset or not session_id:
            raise ConfigError("a label needs a dataset and a session id")
        if position is not None and (not isinstance(position, int) or position < 0):
            raise ConfigError(f"an event position is a non-negative integer, got {position!r}")
        with self.store.transaction() as db:
            cur = db.execute(
                "INSERT INTO labels (dataset, session_id, position, key, verdict, model_version, note, created) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (dataset, session_id, position, key, verdict, model_version, note, time.time()))
            row = db.execute("SELECT * FROM labels WHERE id = ?", (cur.lastrowid,)).fetchone()
        return _label(row)

    def all(self, dataset: Optional[str] = None) -> list[Label]:
        """Every label ever written (oldest first), superseded ones included."""
        sql, args = "SELECT * FROM labels", ()
        if dataset is not None:
            sql, args = sql + " WHERE dataset = ?", (dataset,)
        with self.store.connect() as db:
            return [_label(r) for r in db.execute(sql + " ORDER BY id", args).fetchall()]

    def effective(self, dataset: Optional[str] = None) -> list[Label]:
        """The latest label per (dataset, session, event): what an update learns from."""
        latest: dict[tuple, Label] = {}
        for label in self.all(dataset):
            latest[(label.dataset, label.session_id, label.position)] = label
        return sorted(latest.values(), key=lambda l: l.id)

    def mark_used(self, label_ids: Iterable[int], model_version: str) -> None:
        with self.store.transaction() as db:
            db.executemany("INSERT OR IGNORE INTO label_uses (label_id, model_version) VALUES (?, ?)",
                           [(int(i), model_version) for i in label_ids])

    def used_by(self, label_id: int) -> list[str]:
        with self.store.connect() as db:
            rows = db.execute("SELECT model_version FROM label_uses WHERE label_id = ? ORDER BY rowid",
                              (label_id,)).fetchall()
        return [r[0] for r in rows]

    def datasets(self) -> list[str]:
        with self.store.connect() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT dataset FROM labels ORDER BY dataset")]
