"""Parsed events -> sessions: by an identifier in the line, a header field, or time windows.

Each session keeps, per event, the index of the event it came from, so the raw lines,
parameter values and the time elapsed since the previous event of the same session
(the parameter-value model's input) stay reachable from any verdict.
"""

from __future__ import annotations

import csv
import math
import io
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence

from .errors import ConfigError, DataFormatError
from .parsing import Event
from .readers import parse_label, read_text
from .sessions import ANOMALY, NORMAL, Session, SessionSet

HDFS_BLOCK = r"blk_-?\d+"
UNKNOWN = "<unk>"  # the key of an event that matches no template


@dataclass(frozen=True)
class SessionSpec:
    """How to group: kind is "id" (regex), "field" (header field) or "window" (seconds)."""

    kind: str = "id"
    pattern: str = HDFS_BLOCK
    field_name: str = ""
    size: float = 60.0
    step: float = 0.0       # 0: fixed windows (step = size); < size: sliding windows

    def __post_init__(self):
        if self.kind not in ("id", "field", "window"):
            raise ConfigError(f"session grouping must be id, field or window, got {self.kind!r}")
        if self.kind == "id":
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ConfigError(f"session id regex {self.pattern!r} is invalid: {exc}") from None
        if self.kind == "field" and not self.field_name:
            raise ConfigError("grouping by field needs a field name")
        if self.kind == "window" and (self.size <= 0 or self.step < 0):
            raise ConfigError("time windows need a positive size and a non-negative step")

    @classmethod
    def parse(cls, text: str) -> "SessionSpec":
        """From the CLI: ``id``, ``id:REGEX``, ``field:NAME``, ``window:SIZE[,STEP]``."""
        kind, _, arg = text.partition(":")
        if kind == "id":
            return cls("id", arg or HDFS_BLOCK)
        if kind == "field":
            return cls("field", field_name=arg)
        if kind == "window":
            size, _, step = arg.partition(",")
            try:
                size_s, step_s = float(size), float(step or 0)
            except ValueError:
                raise ConfigError(f"window size {arg!r} is not a number of seconds") from None
            return cls("window", size=size_s, step=step_s)
        raise ConfigError(f"--session-by {text!r}: use id[:REGEX], field:NAME or window:SIZE[,STEP]")


@dataclass
class GroupedLog:
    """Sessions of parsed events, with a way back from each session to its events."""

    events: list[Event]
    sessions: SessionSet
    members: list[list[int]] = field(default_factory=list)   # event indices per session

    def elapsed(self, i: int) -> list[Optional[float]]:
        """Seconds since the previous event of session i, per event (None for the first)."""
        out, prev = [], None
        for idx in self.members[i]:
            t = self.events[idx].timestamp
            out.append(None if t is None or prev is None else t - prev)
            prev = t if t is not None else prev
        return out


def _key(event: Event) -> str:
    return event.key if event.key is not None else UNKNOWN


def group(events: Sequence[Event], spec: SessionSpec = SessionSpec(),
          templates: Optional[dict] = None) -> GroupedLog:
    buckets: "OrderedDict[str, list[int]]" = OrderedDict()
    if spec.kind == "id":
        rx = re.compile(spec.pattern)
        for i, e in enumerate(events):
            for sid in dict.fromkeys(rx.findall(e.content if e.content else e.raw)):
                buckets.setdefault(sid if isinstance(sid, str) else sid[0], []).append(i)
    elif spec.kind == "field":
        for i, e in enumerate(events):
            value = e.headers.get(spec.field_name)
            if value:
                buckets.setdefault(f"{spec.field_name}={value}", []).append(i)
    else:
        timed = [(e.timestamp, i) for i, e in enumerate(events) if e.timestamp is not None]
        if not timed:
            raise DataFormatError("time windows need timestamps, and no line has one "
                                  "(check the log format's date and time fields)")
        step = spec.step or spec.size
        start = min(t for t, _ in timed)
        for t, i in sorted(timed):
            # window k spans [start + k*step, start + k*step + size): t is in windows
            # floor((t - start - size) / step) + 1 .. floor((t - start) / step)
            last = math.floor((t - start) / step)
            first = max(0, math.floor((t - start - spec.size) / step) + 1)
            for k in range(first, last + 1):
                buckets.setdefault(f"window@{start + k * step:.3f}", []).append(i)
    if not buckets:
        raise DataFormatError(f"no line holds a session id for grouping {spec}")
    sessions, members = [], []
    for sid, idx in buckets.items():
        sessions.append(Session(sid, [_key(events[i]) for i in idx]))
        members.append(idx)
    return GroupedLog(list(events), SessionSet(sessions, dict(templates or {}), format="raw"), members)


def parse_label_table(text: str, where: str) -> dict[str, int]:
    """Session labels from a BlockId,Label table (loghub ``anomaly_label.csv``)."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header or len(header) < 2:
        raise DataFormatError(f"{where}: a label file needs two columns, an id and a label "
                              "(e.g. BlockId,Label)")
    labels = {}
    for n, row in enumerate(rows, start=2):
        if len(row) >= 2 and row[0].strip():
            label = parse_label(row[1], f"{where}:{n}")
            if label is not None:
                labels[row[0].strip()] = label
    if not labels:
        raise DataFormatError(f"{where}: no labelled rows under its header")
    return labels


def read_label_file(path) -> dict[str, int]:
    """Session labels from a loghub ``anomaly_label.csv`` (BlockId,Label)."""
    return parse_label_table(read_text(path), str(path))


def attach_labels(grouped: GroupedLog, labels: Optional[dict[str, int]] = None,
                  label_field: str = "") -> GroupedLog:
    """Label sessions from a label table, or from a per-line label field ("-" normal)."""
    for i, session in enumerate(grouped.sessions.sessions):
        if labels is not None:
            session.label = labels.get(session.id)
        elif label_field:
            values = [grouped.events[j].headers.get(label_field, "-") for j in grouped.members[i]]
            session.label = ANOMALY if any(v != "-" for v in values) else NORMAL
    return grouped
