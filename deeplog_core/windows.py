"""Sessions -> (history window, next key) pairs, the training and scoring unit.

Every event of a session is predicted from the h ids before it. The first events have
fewer than h predecessors, so the history is left-padded with PAD: a session shorter
than h+1 keys is scored key by key like any other (no session is skipped, and none is
flagged just for being short). With ``session_end`` an EOS id follows the last key, so
"the session stops here" is itself a prediction the model can find unlikely.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .sessions import Session
from .vocab import EOS, PAD, Vocabulary


@dataclass
class Windows:
    """All windows of a list of sessions, one row per predicted event.

    history   (N, h) int64 ids before the event
    target    (N,)   int64 id of the event
    session   (N,)   index of the session in the input list
    position  (N,)   position of the event within its session (EOS: len(keys))
    offsets   (S+1,) rows of session i are offsets[i]:offsets[i+1]
    """

    history: np.ndarray
    target: np.ndarray
    session: np.ndarray
    position: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.target)


def encode(sessions: Sequence[Session], vocab: Vocabulary, session_end: bool) -> list[np.ndarray]:
    tail = np.array([EOS] if session_end else [], dtype=np.int64)
    return [np.concatenate([vocab.encode(s.keys), tail]) for s in sessions]


def make_windows(encoded: Sequence[np.ndarray], window_size: int) -> Windows:
    """Windows of already-encoded sessions, built in one vectorised pass."""
    h = window_size
    lengths = np.fromiter((len(e) for e in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if offsets[-1] == 0:
        empty = np.zeros((0, h), dtype=np.int64)
        return Windows(empty, empty[:, 0], empty[:, 0], empty[:, 0], offsets)
    # One long array: h PADs before every session, so each event's window is the h
    # ids just before it and never reaches into the previous session.
    pad = np.full(h, PAD, dtype=np.int64)
    stream = np.concatenate([part for e in encoded for part in (pad, e)])
    session = np.repeat(np.arange(len(encoded), dtype=np.int64), lengths)
    position = np.arange(offsets[-1], dtype=np.int64) - offsets[session]
    # event j of session i sits at (i+1)*h + offsets[i] + j in the stream
    at = (session + 1) * h + offsets[session] + position
    history = sliding_window_view(stream, h)[at - h]
    return Windows(np.ascontiguousarray(history), stream[at], session, position, offsets)


def unique_pairs(windows: Windows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (history, target) pairs and how often each occurs.

    HDFS repeats the same windows thousands of times; training on distinct pairs
    weighted by their counts gives the same objective for a fraction of the work.
    """
    if len(windows) == 0:
        h = windows.history.shape[1]
        return np.zeros((0, h), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.concatenate([windows.history, windows.target[:, None]], axis=1)
    uniq, counts = np.unique(rows, axis=0, return_counts=True)
    return np.ascontiguousarray(uniq[:, :-1]), uniq[:, -1].copy(), counts
