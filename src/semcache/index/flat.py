"""Exact search: the cosine of the query against every entry, top-k kept."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..kernels.search import flat_topk
from ._base import Candidate, LocalIds

__all__ = ["FlatIndex"]


class FlatIndex:
    """Exact top-k by cosine; removal swaps the last entry in, so ids stay dense."""

    kind = "flat"

    def __init__(self) -> None:
        self._ids = LocalIds()

    def __len__(self) -> int:
        return self._ids.high

    def __contains__(self, key: object) -> bool:
        return key in self._ids.lid_of

    def add(self, key: str, slot: int, fingerprint: np.ndarray) -> None:
        self.remove(key)
        self._ids.append(key, slot, fingerprint)

    def remove(self, key: str) -> int | None:
        ids = self._ids
        lid = ids.lid_of.pop(key, None)
        if lid is None:
            return None
        slot = int(ids.slots[lid])
        last = ids.high - 1
        if lid != last:
            moved = ids.keys[last]
            assert moved is not None
            ids.slots[lid] = ids.slots[last]
            ids.fps[lid] = ids.fps[last]
            ids.keys[lid] = moved
            ids.lid_of[moved] = lid
        ids.keys.pop()
        ids.alive[last] = 0
        return slot

    def search(self, query: np.ndarray, fingerprint: np.ndarray, pool: np.ndarray, k: int) -> list[Candidate]:
        ids = self._ids
        out_ids = np.empty(k, dtype=np.int64)
        out_scores = np.empty(k, dtype=np.float32)
        found = flat_topk(query, pool, ids.slots, ids.high, out_ids, out_scores)
        keys = ids.keys
        return [(keys[out_ids[j]], float(out_scores[j])) for j in range(found)]  # type: ignore[misc]

    def items(self) -> Iterator[tuple[str, int, np.ndarray]]:
        return self._ids.items()
