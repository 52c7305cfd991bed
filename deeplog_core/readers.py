"""Readers of session files, behind one interface; the format is detected from content.

Formats
  deeplog       one session a line, space-separated integer log keys (the DeepLog
                authors' HDFS files). Blank lines are skipped and counted.
  sessions-csv  a header with an ``EventSequence`` column (space-separated keys), an id
                column (``BlockId`` or the first column) and optionally ``Label``
                (Normal/Anomaly, 0/1). A ``templates.csv`` (EventId,EventTemplate) next
                to it is read too.
Files may be gzip-compressed (detected from the magic bytes, not the name).
"""

from __future__ import annotations

import csv
import gzip
import io
import os
from pathlib import Path
from typing import Callable, Optional

from .errors import DataFormatError
from .sessions import ANOMALY, NORMAL, Session, SessionSet

FORMATS = ("auto", "deeplog", "sessions-csv")

_LABELS = {
    "normal": NORMAL, "0": NORMAL, "benign": NORMAL, "-": NORMAL,
    "anomaly": ANOMALY, "abnormal": ANOMALY, "1": ANOMALY, "anomalous": ANOMALY,
}


def open_text(path: str | os.PathLike) -> io.TextIOBase:
    """Open a text file, plain or gzip, with a clear error for binary content."""
    path = Path(path)
    if not path.exists():
        raise DataFormatError(f"{path}: no such file")
    if path.is_dir():
        raise DataFormatError(f"{path}: is a folder, expected a file")
    with open(path, "rb") as raw:
        magic = raw.read(2)
    stream = gzip.open(path, "rb") if magic == b"\x1f\x8b" else open(path, "rb")
    return io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline="")


def read_text(path) -> str:
    try:
        with open_text(path) as fh:
            text = fh.read()
    except UnicodeDecodeError as exc:
        raise DataFormatError(
            f"{path}: not UTF-8 text (byte {exc.start}); is it a binary file?") from None
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise DataFormatError(f"{path}: cannot be read: {exc}") from None
    if "\x00" in text:
        raise DataFormatError(f"{path}: contains NUL bytes; it looks like a binary file")
    return text


def detect_format(text: str, path: str = "") -> str:
    """Name the format of `text` from its first non-blank line."""
    first = next((ln for ln in text.splitlines() if ln.strip()), None)
    if first is None:
        raise DataFormatError(f"{path or 'input'}: is empty; expected sessions of log keys")
    header = [c.strip() for c in next(csv.reader([first]))]
    if "EventSequence" in header:
        return "sessions-csv"
    if all(tok.lstrip("-").isdigit() for tok in first.split()):
        return "deeplog"
    raise DataFormatError(
        f"{path or 'input'}: unrecognised format; expected a DeepLog key file "
        f"(space-separated integer keys, one session a line) or a session CSV with an "
        f"EventSequence column. First line: {first[:80]!r}")


def _parse_deeplog(text: str, path: str) -> SessionSet:
    name = Path(path).name if path else "input"
    sessions, skipped = [], 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            skipped += 1
            continue
        bad = next((t for t in tokens if not t.lstrip("-").isdigit()), None)
        if bad is not None:
            raise DataFormatError(
                f"{path}:{lineno}: {bad!r} is not an integer log key (DeepLog key file)")
        sessions.append(Session(f"{name}:{lineno}", tokens))
    return SessionSet(sessions, source=str(path), format="deeplog", skipped_lines=skipped)


def parse_label(value: str, where: str) -> Optional[int]:
    value = value.strip()
    if value == "":
        return None
    try:
        return _LABELS[value.lower()]
    except KeyError:
        raise DataFormatError(f"{where}: label {value!r} is neither Normal nor Anomaly") from None


def _parse_sessions_csv(text: str, path: str) -> SessionSet:
    reader = csv.DictReader(io.StringIO(text))
    columns = reader.fieldnames or []
    if "EventSequence" not in columns:
        raise DataFormatError(f"{path}: session CSV needs an EventSequence column; has {columns}")
    id_col = "BlockId" if "BlockId" in columns else columns[0]
    sessions, skipped = [], 0
    for row_no, row in enumerate(reader, start=2):
        if None in row:  # more cells than columns: a broken row, not a session
            raise DataFormatError(f"{path}:{row_no}: more cells than header columns")
        seq = (row.get("EventSequence") or "").split()
        sid = (row.get(id_col) or "").strip() or f"row{row_no}"
        if not seq:
            skipped += 1
            continue
        label = parse_label(row["Label"], f"{path}:{row_no}") if "Label" in columns else None
        sessions.append(Session(sid, seq, label))
    templates = {}
    tpl = Path(path).with_name("templates.csv") if path else None
    if tpl is not None and tpl.exists() and tpl.resolve() != Path(path).resolve():
        templates = read_templates(tpl)
    return SessionSet(sessions, templates, str(path), "sessions-csv", skipped)


def read_templates(path) -> dict[str, str]:
    """EventId -> EventTemplate from a loghub templates CSV."""
    rows = csv.DictReader(io.StringIO(read_text(path)))
    if not rows.fieldnames or not {"EventId", "EventTemplate"} <= set(rows.fieldnames):
        raise DataFormatError(f"{path}: a templates CSV needs EventId and EventTemplate columns")
    return {r["EventId"]: r["EventTemplate"] for r in rows}


_PARSERS: dict[str, Callable[[str, str], SessionSet]] = {
    "deeplog": _parse_deeplog,
    "sessions-csv": _parse_sessions_csv,
}


def parse_sessions(text: str, format: str = "auto", path: str = "") -> SessionSet:
    """Sessions from text already in memory (uploads, request bodies)."""
    if format not in FORMATS:
        raise DataFormatError(f"unknown format {format!r}; choose one of {FORMATS}")
    if format == "auto":
        format = detect_format(text, path)
    elif not text.strip():
        raise DataFormatError(f"{path or 'input'}: is empty; expected sessions of log keys")
    result = _PARSERS[format](text, path)
    if not result.sessions:
        raise DataFormatError(f"{path or 'input'}: holds no sessions")
    return result


def read_sessions(path, format: str = "auto") -> SessionSet:
    """Read a session file (plain or gzip) in the named or detected format."""
    return parse_sessions(read_text(path), format, str(path))
