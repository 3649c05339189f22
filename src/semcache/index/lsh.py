"""SimHash-LSH search: random-hyperplane fingerprints, banded tables, multi-probe.

Each entry's 64-bit fingerprint (bit i: sign of ``v @ planes[i]``) is split
into 4 bands of 16 bits with a bucket table per band. For two vectors at
cosine c each bit differs independently with probability p = acos(c) / pi, so
the chance that some band lies within ``probe_radius`` bits of the query's is

    recall(c) = 1 - (1 - P[Binomial(16, p) <= probe_radius]) ** 4

The index picks the smallest probe radius that gives ``recall`` at
``min_cosine`` (the lowest cosine the cache's decision can accept), and a
full-fingerprint Hamming radius that loses at most 1e-3 of such pairs, then
re-ranks the survivors by exact cosine over the pool.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from .._errors import InvalidConfigError
from ..kernels.search import N_BANDS, N_BUCKETS, build_tables, lsh_topk, probe_masks
from ._base import Candidate, LocalIds

__all__ = ["MAX_PROBE_RADIUS", "LSHIndex", "lsh_parameters", "lsh_recall"]

MAX_PROBE_RADIUS = 3
_BAND = 64 // N_BANDS


def _binom_cdf(n: int, p: float, k: int) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def lsh_recall(cosine: float, probe_radius: int) -> float:
    """Modelled chance that a pair at ``cosine`` shares a probed bucket."""
    p = math.acos(max(-1.0, min(1.0, cosine))) / math.pi
    band = _binom_cdf(_BAND, p, probe_radius)
    return 1.0 - (1.0 - band) ** N_BANDS


def lsh_parameters(min_cosine: float, recall: float = 0.99) -> tuple[int, int, float]:
    """(probe radius, Hamming radius, modelled recall) for pairs at ``min_cosine``."""
    probe = MAX_PROBE_RADIUS
    for r in range(MAX_PROBE_RADIUS + 1):
        if lsh_recall(min_cosine, r) >= recall:
            probe = r
            break
    p = math.acos(max(-1.0, min(1.0, min_cosine))) / math.pi
    radius = 64
    for r in range(65):
        if 1.0 - _binom_cdf(64, p, r) <= 1e-3:
            radius = r
            break
    got = lsh_recall(min_cosine, probe) * (1.0 - 1e-3)
    return probe, radius, got


class LSHIndex:
    """Multi-index SimHash LSH with exact cosine re-rank (see the module docstring)."""

    kind = "lsh"

    def __init__(self, min_cosine: float = 0.9, recall: float = 0.99) -> None:
        if not -1.0 <= min_cosine <= 1.0:
            raise InvalidConfigError(f"min_cosine must be in [-1, 1], got {min_cosine!r}")
        self.min_cosine = min_cosine
        self.probe_radius, self.radius, self.modelled_recall = lsh_parameters(min_cosine, recall)
        self._probes = probe_masks(self.probe_radius)
        self._ids = LocalIds()
        self._live = 0
        self._built = 0  # local ids below this are in the tables
        self._offsets = np.zeros((N_BANDS, N_BUCKETS + 1), dtype=np.int64)
        self._table = np.zeros((N_BANDS, 0), dtype=np.int64)
        self._stamp = np.zeros(64, dtype=np.int32)
        self._epoch = 0

    def __len__(self) -> int:
        return self._live

    def __contains__(self, key: object) -> bool:
        return key in self._ids.lid_of

    def add(self, key: str, slot: int, fingerprint: int) -> None:
        self.remove(key)
        self._ids.append(key, slot, fingerprint)
        self._live += 1
        if self._ids.high - self._built > self._tail_limit():
            self.rebuild()

    def remove(self, key: str) -> int | None:
        ids = self._ids
        lid = ids.lid_of.pop(key, None)
        if lid is None:
            return None
        ids.alive[lid] = 0
        ids.keys[lid] = None
        self._live -= 1
        return int(ids.slots[lid])

    def rebuild(self) -> None:
        """Fold the tail into the tables, dropping deleted ids when they pile up."""
        ids = self._ids
        if ids.high - self._live > max(64, ids.high // 4):
            self._compact()
        n = ids.high
        if self._table.shape[1] < n:
            self._table = np.zeros((N_BANDS, max(n, 2 * self._table.shape[1])), dtype=np.int64)
        build_tables(ids.fps, ids.alive, n, self._offsets, self._table)
        self._built = n

    def search(self, query: np.ndarray, fingerprint: int, pool: np.ndarray, k: int) -> list[Candidate]:
        ids = self._ids
        if self._stamp.shape[0] < ids.high:
            self._stamp = np.zeros(max(ids.high, 2 * self._stamp.shape[0]), dtype=np.int32)
        self._epoch += 1
        if self._epoch >= 2**31 - 1:
            self._stamp[:] = 0
            self._epoch = 1
        out_ids = np.empty(k, dtype=np.int64)
        out_scores = np.empty(k, dtype=np.float32)
        found = lsh_topk(
            query, np.uint64(fingerprint), pool, ids.slots, ids.fps, ids.alive,
            self._offsets, self._table, self._probes, self._built, ids.high,
            self.radius, self._stamp, np.int32(self._epoch), out_ids, out_scores,
        )
        keys = ids.keys
        return [(keys[out_ids[j]], float(out_scores[j])) for j in range(found)]  # type: ignore[misc]

    def items(self) -> Iterator[tuple[str, int, int]]:
        return self._ids.items()

    def _tail_limit(self) -> int:
        return min(8192, max(256, self._ids.high // 16))

    def _compact(self) -> None:
        old = self._ids
        fresh = LocalIds(max(64, self._live))
        for key, slot, fp in old.items():
            fresh.append(key, slot, fp)
        self._ids = fresh
        self._built = 0
