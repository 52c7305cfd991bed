"""Sessions: the unit DeepLog scores (an HDFS block, a time window, ...)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Iterable, Optional

NORMAL, ANOMALY = 0, 1


@dataclass
class Session:
    """One session: its id, its log keys in order, and its label when known.

    label is NORMAL (0), ANOMALY (1) or None (unlabelled).
    """

    id: str
    keys: list[str]
    label: Optional[int] = None


@dataclass
class SessionSet:
    """Sessions read from one source, with the templates of their keys when known."""

    sessions: list[Session]
    templates: dict[str, str] = field(default_factory=dict)
    source: str = ""
    format: str = ""
    skipped_lines: int = 0

    def __len__(self) -> int:
        return len(self.sessions)

    def __iter__(self):
        return iter(self.sessions)

    @property
    def labels(self) -> list[Optional[int]]:
        return [s.label for s in self.sessions]

    def with_label(self, label: int) -> "SessionSet":
        """The same sessions, every one labelled `label` (for normal/abnormal files)."""
        return SessionSet(
            [Session(s.id, s.keys, label) for s in self.sessions],
            dict(self.templates), self.source, self.format, self.skipped_lines,
        )


def fingerprint(sessions: Iterable[Session]) -> str:
    """A sha256 over the key sequences, in order: identifies the training data."""
    digest = hashlib.sha256()
    count = 0
    for session in sessions:
        digest.update(" ".join(session.keys).encode())
        digest.update(b"\n")
        count += 1
    return f"sha256:{digest.hexdigest()}:{count}"


def split_every_nth(sessions: list[Session], n: int, offset: int = 0) -> tuple[list[Session], list[Session]]:
    """(kept, held_out): every n-th session (from `offset`) is held out."""
    kept = [s for i, s in enumerate(sessions) if (i - offset) % n != 0]
    held = [s for i, s in enumerate(sessions) if (i - offset) % n == 0]
    return kept, held
