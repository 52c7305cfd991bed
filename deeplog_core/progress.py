"""A job's progress file: one JSON object a line, appended and flushed as work goes on,
so any reader (the app, `deeplog jobs show`) sees it live. Training, updates and
ingestion all report through it."""

from __future__ import annotations

import json
import os
from typing import Optional


class ProgressFile:
    """Appends records to `path`; with no path, records go nowhere."""

    def __init__(self, path: Optional[str | os.PathLike]):
        self._fh = open(path, "a", encoding="utf-8") if path else None

    def write(self, record: dict) -> None:
        if self._fh:
            self._fh.write(json.dumps(record) + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "ProgressFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def epoch_text(record: dict) -> str:
    """Where an epoch record stands: "epoch 14/100", or "member 2/3 · epoch 14/100"."""
    text = f"epoch {record['epoch']}/{record['epochs']}"
    if record.get("members", 1) > 1:
        text = f"member {record['member']}/{record['members']} · {text}"
    return text


def epoch_fraction(record: dict) -> float:
    """Share of the work an epoch record has reached (members before it counted whole)."""
    members, member = record.get("members", 1), record.get("member", 1)
    done = (member - 1) * record["epochs"] + record["epoch"]
    return min(1.0, done / (members * record["epochs"]))
