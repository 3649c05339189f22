"""What every candidate index shares: the protocol and dense local-id storage."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

__all__ = ["Candidate", "LocalIds", "SearchIndex"]

Candidate = tuple[str, float]


class SearchIndex(Protocol):
    """Candidate search over one namespace's entries, by cosine on a shared pool."""

    kind: str

    def add(self, key: str, slot: int, fingerprint: np.ndarray) -> None:
        """Index entry ``key`` whose embedding is pool row ``slot`` (fingerprint: uint64[2])."""

    def remove(self, key: str) -> int | None:
        """Forget ``key``; returns its pool slot, or None if it was not indexed."""

    def search(self, query: np.ndarray, fingerprint: np.ndarray, pool: np.ndarray, k: int) -> list[Candidate]:
        """Up to ``k`` (key, cosine) pairs, best first."""

    def items(self) -> Iterator[tuple[str, int, np.ndarray]]:
        """(key, slot, fingerprint) of every indexed entry."""

    def __len__(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...


class LocalIds:
    """Dense local ids with growable ``slots``/``fps``/``alive`` arrays and key maps."""

    def __init__(self, capacity: int = 64) -> None:
        self.slots = np.zeros(capacity, dtype=np.int64)
        self.fps = np.zeros((capacity, 2), dtype=np.uint64)
        self.alive = np.zeros(capacity, dtype=np.uint8)
        self.keys: list[str | None] = []
        self.lid_of: dict[str, int] = {}

    @property
    def high(self) -> int:
        """Local ids handed out (live or dead)."""
        return len(self.keys)

    def append(self, key: str, slot: int, fingerprint: np.ndarray) -> int:
        lid = len(self.keys)
        if lid == self.slots.shape[0]:
            self._grow(2 * lid)
        self.slots[lid] = slot
        self.fps[lid] = fingerprint
        self.alive[lid] = 1
        self.keys.append(key)
        self.lid_of[key] = lid
        return lid

    def items(self) -> Iterator[tuple[str, int, np.ndarray]]:
        for key, lid in list(self.lid_of.items()):
            yield key, int(self.slots[lid]), self.fps[lid].copy()

    def _grow(self, capacity: int) -> None:
        for name in ("slots", "fps", "alive"):
            old = getattr(self, name)
            new = np.zeros((capacity, *old.shape[1:]), dtype=old.dtype)
            new[: old.shape[0]] = old
            setattr(self, name, new)
