"""The vocabulary: log keys <-> contiguous ids, with reserved ids the model relies on.

Reserved ids
  0 PAD  left padding of the first windows of a session (so "nothing before" is a
         history the model learns, and every key of a short session gets predicted)
  1 UNK  a key never seen in training; it is never a prediction target and never a
         candidate, so it cannot be mistaken for a real key: detection flags it.
  2 EOS  end of session, predicted after the last key (when the model config says so).
"""

from __future__ import annotations

import re
from itertools import repeat
from typing import Iterable

import numpy as np

PAD, UNK, EOS = 0, 1, 2
RESERVED = ("<pad>", "<unk>", "<eos>")


def _natural(key: str):
    # "E2" before "E10", "3" before "12": keys read the way an analyst expects.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", key)]


class Vocabulary:
    """Maps log keys (strings) onto ids 3..V-1, in natural order."""

    def __init__(self, keys: Iterable[str]):
        self.keys = [str(k) for k in keys]
        if len(set(self.keys)) != len(self.keys):
            raise ValueError("vocabulary keys must be distinct")
        clash = set(self.keys) & set(RESERVED)
        if clash:
            raise ValueError(f"log keys may not use reserved names {sorted(clash)}")
        self._index = {k: i + len(RESERVED) for i, k in enumerate(self.keys)}

    @classmethod
    def fit(cls, sequences: Iterable[Iterable[str]]) -> "Vocabulary":
        seen: set[str] = set()
        for seq in sequences:
            seen.update(seq)
        return cls(sorted(seen, key=_natural))

    def __len__(self) -> int:
        return len(RESERVED) + len(self.keys)

    def __contains__(self, key: str) -> bool:
        return key in self._index

    def encode(self, keys: Iterable[str]) -> np.ndarray:
        return np.fromiter(map(self._index.get, keys, repeat(UNK)), dtype=np.int64)

    def id_of(self, key: str) -> int:
        return self._index.get(key, UNK)

    def key_of(self, idx: int) -> str:
        idx = int(idx)
        if idx < len(RESERVED):
            return RESERVED[idx]
        return self.keys[idx - len(RESERVED)]

    def to_list(self) -> list[str]:
        return list(self.keys)

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.keys == other.keys

    def __repr__(self) -> str:
        return f"Vocabulary({len(self.keys)} keys)"
