"""Sessions -> (history window, next key) pairs, the training and scoring unit.

Every event of a session is predicted from the h ids before it. The first events have
fewer than h predecessors, so the history is left-padded with PAD: a session shorter
than h+1 keys is scored key by key like any other (no session is skipped, and none is
flagged just for being short). With ``session_end`` an EOS id follows the last key, so
"the session stops here" is itself a prediction the model can find unlikely.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
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


@dataclass
class Encoded:
    """Sessions as one flat array of ids (EOS after each when modelled) and lengths."""

    ids: np.ndarray
    lengths: np.ndarray


def encode(sessions: Sequence[Session], vocab: Vocabulary, session_end: bool) -> Encoded:
    """All sessions' ids in one pass over their keys."""
    flat = vocab.encode(chain.from_iterable(s.keys for s in sessions))
    lengths = np.fromiter((len(s.keys) for s in sessions), dtype=np.int64, count=len(sessions))
    if session_end:
        flat = np.insert(flat, np.cumsum(lengths), EOS)
        lengths = lengths + 1
    return Encoded(flat, lengths)


def distinct_rows(rows: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """(distinct rows, inverse) of a 2-D array of ids in [0, base).

    When base**width fits in 62 bits each row is packed into one integer, so the
    sort runs over a 1-D int64 array: ~20x faster than np.unique(axis=0).
    """
    n, width = rows.shape
    if n and width and base ** width < 2 ** 62:
        packed = np.zeros(n, dtype=np.int64)
        for col in range(width):
            packed = packed * base + rows[:, col]
        _, first, inverse = np.unique(packed, return_index=True, return_inverse=True)
        return rows[first], inverse.reshape(-1)
    uniq, inverse = np.unique(rows, axis=0, return_inverse=True)
    return uniq, inverse.reshape(-1)


def make_windows(encoded: Encoded, window_size: int) -> Windows:
    """Windows of encoded sessions, built without a Python loop over sessions."""
    h = window_size
    lengths = encoded.lengths
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    session = np.repeat(np.arange(len(lengths), dtype=np.int64), lengths)
    position = np.arange(total, dtype=np.int64) - offsets[session]
    # One long stream with h PADs before every session, so each event's window is the
    # h ids just before it and never reaches into the previous session:
    # event j of session i sits at (i+1)*h + offsets[i] + j.
    at = (session + 1) * h + offsets[session] + position
    stream = np.full(total + h * len(lengths), PAD, dtype=np.int64)
    stream[at] = encoded.ids
    if total == 0:
        history = np.zeros((0, h), dtype=np.int64)
    else:
        history = np.ascontiguousarray(sliding_window_view(stream, h)[at - h])
    return Windows(history, encoded.ids.copy(), session, position, offsets)


def unique_pairs(windows: Windows, base: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct (history, target) pairs and how often each occurs.

    HDFS repeats the same windows thousands of times; training on distinct pairs
    weighted by their counts gives the same objective for a fraction of the work.
    """
    if len(windows) == 0:
        h = windows.history.shape[1]
        return np.zeros((0, h), np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    rows = np.concatenate([windows.history, windows.target[:, None]], axis=1)
    uniq, inverse = distinct_rows(rows, base)
    counts = np.bincount(inverse, minlength=len(uniq))
    return np.ascontiguousarray(uniq[:, :-1]), uniq[:, -1].copy(), counts
