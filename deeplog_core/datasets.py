"""Datasets of a workspace: raw logs parsed once, kept with their templates and sessions.

A dataset is what an analyst saved from the Data page (or `Datasets.create`): the parsed
events of a source (one row per raw line, the raw line included, so Inspect can show it),
the parser state that produced their keys, and the sessions with their labels. On disk,
under ``root/NAME/``: ``events.parquet``, ``sessions.json``, ``parser.json``; in the
state database, one row with the source, how it was parsed and grouped, and counts.
Only the user's choice of source is recorded, never credentials.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional

import pandas as pd

from .errors import ConfigError, DataFormatError
from .grouping import UNKNOWN, GroupedLog, SessionSpec, attach_labels, group
from .ingest import parser_for
from .parsing import Event, LogParser
from .sessions import Session, SessionSet
from .sources import LogSource
from .store import Store

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class DatasetSpec:
    """How a dataset was made: which source, which header format, how sessions group."""

    source: str                    # what the user picked: a path, s3://..., upload:NAMES
    preset: str = ""               # "" with no log_format: chosen from a sample
    log_format: str = ""
    session_by: str = "id"         # grouping.SessionSpec.parse syntax

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class DatasetInfo:
    name: str
    spec: DatasetSpec
    path: str
    stats: dict = field(default_factory=dict)
    created: float = 0.0


@dataclass
class Dataset:
    info: DatasetInfo
    grouped: GroupedLog
    parser: LogParser

    @property
    def sessions(self) -> SessionSet:
        return self.grouped.sessions


def _events_frame(events: list[Event]) -> pd.DataFrame:
    return pd.DataFrame({
        "line_no": [e.line_no for e in events],
        "timestamp": [e.timestamp for e in events],
        "headers": [json.dumps(e.headers) for e in events],
        "content": [e.content for e in events],
        "key": [e.key for e in events],
        "template": [e.template for e in events],
        "params": [json.dumps(e.params) for e in events],
        "matched_format": [e.matched_format for e in events],
        "raw": [e.raw for e in events],
    })


def _events(frame: pd.DataFrame) -> list[Event]:
    cols = [frame[c].tolist() for c in ("line_no", "raw", "headers", "content", "key", "template",
                                        "params", "timestamp", "matched_format")]
    return [Event(int(n), raw, json.loads(h), c, k if isinstance(k, str) else None, t, json.loads(p),
                  None if ts is None or ts != ts else float(ts), bool(m))
            for n, raw, h, c, k, t, p, ts, m in zip(*cols)]


def _counted(lines: Iterable[str], phase: str, on_progress, every: int = 20_000) -> Iterator[str]:
    n = 0
    for n, line in enumerate(lines, start=1):
        if on_progress and n % every == 0:
            on_progress({"phase": phase, "lines": n})
        yield line
    if on_progress:
        on_progress({"phase": phase, "lines": n, "done": True})


def write_parsed(folder: Path, grouped: GroupedLog, parser: LogParser) -> Path:
    """A parsed log as files: events.parquet, sessions.json (ids, labels, members), parser.json."""
    folder.mkdir(parents=True)
    _events_frame(grouped.events).to_parquet(folder / "events.parquet", index=False)
    (folder / "sessions.json").write_text(json.dumps([
        {"id": s.id, "label": s.label, "members": m}
        for s, m in zip(grouped.sessions.sessions, grouped.members)]))
    (folder / "parser.json").write_text(json.dumps(parser.to_state()))
    return folder


def read_parsed(folder: Path, source: str = "") -> tuple[GroupedLog, LogParser]:
    try:
        events = _events(pd.read_parquet(folder / "events.parquet"))
        rows = json.loads((folder / "sessions.json").read_text())
        parser = LogParser.from_state(json.loads((folder / "parser.json").read_text()))
    except (OSError, ValueError, KeyError) as exc:
        raise DataFormatError(f"the parsed files at {folder} are damaged ({exc})") from None
    sessions = [Session(r["id"], [events[i].key or UNKNOWN for i in r["members"]], r["label"]) for r in rows]
    grouped = GroupedLog(events, SessionSet(sessions, parser.templates, source=source, format="raw"),
                         [r["members"] for r in rows])
    return grouped, parser


class Datasets:
    def __init__(self, store: Store, root: str | Path):
        self.store = store
        self.root = Path(root)

    def create(self, name: str, source: LogSource, spec: DatasetSpec,
               labels: Optional[dict[str, int]] = None, replace: bool = False,
               on_progress: Optional[Callable[[dict], None]] = None) -> DatasetInfo:
        """Parse `source` into a dataset called `name` (mining its templates).
        `on_progress` gets {"phase": "mining"|"matching", "lines": n} every 20,000 lines."""
        if not NAME_RE.match(name or ""):
            raise ConfigError(f"dataset name {name!r}: use letters, digits, '.', '_' or '-' (max 64)")
        if not replace and self.exists(name):
            raise ConfigError(f"a dataset called {name!r} exists already; pick another name")
        session_by = SessionSpec.parse(spec.session_by)
        parser, preset = parser_for(source, spec.preset or None, spec.log_format or None)
        parser.fit(_counted(source.lines(), "mining", on_progress))
        events = list(parser.parse(_counted(source.lines(), "matching", on_progress)))
        if not events:
            raise DataFormatError(f"{source.name}: no log lines in it")
        grouped = group(events, session_by, parser.templates)
        attach_labels(grouped, labels, parser.config.label_field)
        stats = {
            "lines": len(events), "sessions": len(grouped.sessions),
            "templates": len(parser.templates),
            "outside_log_format": sum(not e.matched_format for e in events),
            "replaced_lines": source.stats.replaced_lines,
            "labelled_anomalous": sum(s.label == 1 for s in grouped.sessions),
            "labelled_normal": sum(s.label == 0 for s in grouped.sessions),
            "preset": preset or "custom",
        }
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".staging-{name}-{time.time_ns()}"
        try:
            write_parsed(staging, grouped, parser)
            final = self.root / name
            with self.store.transaction() as db:
                if final.exists():
                    shutil.rmtree(final)
                staging.rename(final)
                db.execute("INSERT OR REPLACE INTO datasets (name, source, spec, path, stats, created) "
                           "VALUES (?, ?, ?, ?, ?, ?)",
                           (name, spec.source, json.dumps(spec.to_dict()), str(final.resolve()),
                            json.dumps(stats), time.time()))
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)
        return self.get(name)

    def exists(self, name: str) -> bool:
        with self.store.connect() as db:
            return db.execute("SELECT 1 FROM datasets WHERE name = ?", (name,)).fetchone() is not None

    def _info(self, row) -> DatasetInfo:
        return DatasetInfo(row["name"], DatasetSpec(**json.loads(row["spec"])), row["path"],
                           json.loads(row["stats"]), row["created"])

    def get(self, name: str) -> DatasetInfo:
        with self.store.connect() as db:
            row = db.execute("SELECT * FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise ConfigError(f"no dataset {name!r} in this workspace")
        return self._info(row)

    def list(self) -> list[DatasetInfo]:
        with self.store.connect() as db:
            return [self._info(r) for r in db.execute("SELECT * FROM datasets ORDER BY created")]

    def load(self, name: str) -> Dataset:
        info = self.get(name)
        try:
            grouped, parser = read_parsed(Path(info.path), info.spec.source)
        except DataFormatError as exc:
            raise DataFormatError(f"dataset {name!r}: {exc}; save it again") from None
        return Dataset(info, grouped, parser)

    def delete(self, name: str) -> None:
        info = self.get(name)
        with self.store.transaction() as db:
            db.execute("DELETE FROM datasets WHERE name = ?", (name,))
        shutil.rmtree(info.path, ignore_errors=True)
