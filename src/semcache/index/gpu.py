"""Exact cosine top-k on an NVIDIA GPU: CuPy (cuBLAS) while small, faiss-gpu when large.

The index keeps its entries as append-only *rows* (row -> key, pool slot,
fingerprint); a removed row is a tombstone until the next compaction, so the
row numbers a GPU copy was built with stay valid.

* CuPy path: the scores of a batch of queries against the index's pool rows
  are one matrix product (cuBLAS), tombstones are masked to -inf, and the
  top k are taken on the device (argpartition, then a sort of those k).
  Queries go in chunks so the score matrix stays under ``_SCRATCH_BYTES``.
* faiss path (from ``faiss_min`` live entries, when faiss has GPU support):
  a ``GpuIndexFlatIP`` holding a float32 (or float16) copy of the rows in row
  order. faiss cannot remove from a flat GPU index, so a search asks for
  ``k + tombstones`` and drops the tombstones; while that would pass faiss's
  largest k (2048) the CuPy path answers instead. Exact either way.

Tombstones are compacted away (and the faiss copy rebuilt) once they are half
the rows, so a removal costs O(1) amortised.

``search`` has the :class:`~semcache.index.SearchIndex` signature (``pool`` is
the CuPy matrix of :class:`~semcache.tiers.pool_gpu.CupyEmbeddingPool`);
``search_many`` answers a batch of queries at once, which is where a GPU pays.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._errors import InvalidConfigError
from .._optional import require
from ._base import Candidate

__all__ = ["FAISS_MIN", "GpuFlatIndex", "faiss_gpu"]

FAISS_MIN = 1 << 18  # live entries from which faiss-gpu is used (when it is installed)
_FAISS_MAX_K = 2048  # the largest k of faiss's GPU k-selection
_SCRATCH_BYTES = 1 << 30  # score-matrix budget of one query chunk
_ADD_CHUNK = 1 << 16  # rows copied to faiss at a time


def faiss_gpu() -> Any | None:
    """The faiss module when it has GPU support and sees a GPU, else None."""
    try:
        faiss = importlib.import_module("faiss")
    except ImportError:
        return None
    if not hasattr(faiss, "StandardGpuResources") or faiss.get_num_gpus() < 1:
        return None
    return faiss


@functools.cache
def _resources(faiss: Any, device: int) -> Any:
    """One StandardGpuResources per device (its scratch memory is shared by all indexes)."""
    return faiss.StandardGpuResources()


class GpuFlatIndex:
    """Exact top-k by cosine over pool rows on the GPU; see the module docstring."""

    def __init__(self, *, faiss_min: int = FAISS_MIN, use_faiss: bool | None = None) -> None:
        self._cp = require("cupy", "gpu")
        self._faiss_mod = None if use_faiss is False else faiss_gpu()
        if use_faiss and self._faiss_mod is None:
            raise InvalidConfigError("use_faiss=True needs faiss with GPU support (semcache[gpu])")
        self.faiss_min = 0 if use_faiss else faiss_min
        self._keys: list[str | None] = []  # row -> key (None: removed)
        self._row_of: dict[str, int] = {}
        self._slots = np.zeros(64, dtype=np.int64)  # row -> pool slot (-1: removed)
        self._fps = np.zeros((64, 2), dtype=np.uint64)
        self._dead = 0
        self._slot_hi = 0  # above every slot ever indexed
        self._dev_slots: Any = None  # device copy of _slots[:_synced]
        self._synced = 0
        self._removed: list[int] = []  # synced rows removed since the last sync
        self._faiss: Any = None  # GpuIndexFlatIP over rows [0, _in_faiss)
        self._in_faiss = 0

    @property
    def kind(self) -> str:
        return "gpu-faiss" if self._faiss is not None else "gpu-flat"

    def __len__(self) -> int:
        return len(self._row_of)

    def __contains__(self, key: object) -> bool:
        return key in self._row_of

    def add(self, key: str, slot: int, fingerprint: np.ndarray) -> None:
        self.remove(key)
        row = len(self._keys)
        if row == self._slots.shape[0]:
            self._slots = np.concatenate([self._slots, np.zeros_like(self._slots)])
            self._fps = np.concatenate([self._fps, np.zeros_like(self._fps)])
        self._slots[row] = slot
        self._fps[row] = fingerprint
        self._keys.append(key)
        self._row_of[key] = row
        self._slot_hi = max(self._slot_hi, int(slot) + 1)

    def remove(self, key: str) -> int | None:
        row = self._row_of.pop(key, None)
        if row is None:
            return None
        slot = int(self._slots[row])
        self._keys[row] = None
        self._slots[row] = -1
        self._dead += 1
        if row < self._synced:
            self._removed.append(row)
        return slot

    def items(self) -> Iterator[tuple[str, int, np.ndarray]]:
        for key, row in list(self._row_of.items()):
            yield key, int(self._slots[row]), self._fps[row].copy()

    def search(
        self, query: np.ndarray, fingerprint: np.ndarray, pool: Any, k: int
    ) -> list[Candidate]:
        """Up to ``k`` (key, cosine) pairs, best first (``fingerprint`` is not needed)."""
        return self.search_many(np.asarray(query).reshape(1, -1), pool, k)[0]

    def search_many(self, queries: Any, pool: Any, k: int) -> list[list[Candidate]]:
        """The top ``k`` (key, cosine) of each query row, best first."""
        nq = int(queries.shape[0])
        if not self._row_of or k < 1:
            return [[] for _ in range(nq)]
        if self._faiss is None and self._faiss_mod is not None and len(self) >= self.faiss_min:
            self._faiss = self._new_faiss(pool)
            self._in_faiss = 0
        if self._dead * 2 > len(self._keys):
            self._compact()
        if self._faiss is not None and k + self._dead <= _FAISS_MAX_K:
            rows, scores = self._faiss_topk(queries, pool, k)
        else:
            rows, scores = self._cupy_topk(queries, pool, k)
        keys = self._keys
        out: list[list[Candidate]] = []
        for i in range(nq):
            hits: list[Candidate] = []
            for r, s in zip(rows[i].tolist(), scores[i].tolist(), strict=True):
                key = keys[r] if r >= 0 else None
                if key is not None and len(hits) < k:
                    hits.append((key, float(s)))
            out.append(hits)
        return out

    # -- the CuPy path -----------------------------------------------------
    def _sync(self) -> Any:
        """The device copy of row -> slot, brought up to date with adds and removals."""
        cp = self._cp
        n = len(self._keys)
        if self._dev_slots is None or self._dev_slots.shape[0] < n:
            grown = cp.empty(max(64, 2 * n), dtype=cp.int64)
            if self._synced:
                grown[: self._synced] = self._dev_slots[: self._synced]
            self._dev_slots = grown
        if self._removed:
            self._dev_slots[cp.asarray(self._removed)] = -1
            self._removed = []
        if n > self._synced:
            self._dev_slots[self._synced : n] = cp.asarray(self._slots[self._synced : n])
            self._synced = n
        return self._dev_slots[:n]

    def _cupy_topk(self, queries: Any, pool: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        cp = self._cp
        slots = self._sync()
        n = int(slots.shape[0])
        alive = slots >= 0
        safe = cp.maximum(slots, 0)
        whole = 2 * n >= self._slot_hi  # score the pool's rows in place, or gather ours
        rows_scored = self._slot_hi if whole else n
        base = pool[: self._slot_hi] if whole else pool[safe]
        kk = min(k, n)
        step = max(1, _SCRATCH_BYTES // (4 * 3 * (rows_scored + n)))
        q_all = cp.asarray(queries, dtype=pool.dtype)
        out_rows, out_scores = [], []
        for lo in range(0, int(q_all.shape[0]), step):
            scores = (q_all[lo : lo + step] @ base.T).astype(cp.float32)
            if whole:
                scores = scores[:, safe]
            scores = cp.where(alive[None, :], scores, -cp.inf)
            if kk < n:
                part = cp.argpartition(-scores, kk - 1, axis=1)[:, :kk]
            else:
                part = cp.broadcast_to(cp.arange(n)[None, :], scores.shape)
            top = cp.take_along_axis(scores, part, axis=1)
            order = cp.argsort(-top, axis=1)
            out_rows.append(cp.asnumpy(cp.take_along_axis(part, order, axis=1)))
            out_scores.append(cp.asnumpy(cp.take_along_axis(top, order, axis=1)))
        rows = np.concatenate(out_rows)
        scores_h = np.concatenate(out_scores)
        rows[~np.isfinite(scores_h)] = -1  # fewer live rows than k: tombstones came back
        return rows, scores_h

    # -- the faiss path ----------------------------------------------------
    def _new_faiss(self, pool: Any) -> Any:
        faiss = self._faiss_mod
        assert faiss is not None
        device = int(self._cp.cuda.runtime.getDevice())
        config = faiss.GpuIndexFlatConfig()
        config.device = device
        config.useFloat16 = pool.dtype == np.float16
        return faiss.GpuIndexFlatIP(_resources(faiss, device), int(pool.shape[1]), config)

    def _faiss_topk(self, queries: Any, pool: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        cp = self._cp
        n = len(self._keys)
        for lo in range(self._in_faiss, n, _ADD_CHUNK):
            hi = min(n, lo + _ADD_CHUNK)
            slots = np.maximum(self._slots[lo:hi], 0)  # tombstones go in too, to keep row numbers
            rows = cp.asnumpy(pool[cp.asarray(slots)].astype(cp.float32))
            self._faiss.add(np.ascontiguousarray(rows))
        self._in_faiss = n
        q = np.ascontiguousarray(cp.asnumpy(queries), dtype=np.float32)
        scores, rows = self._faiss.search(q, min(n, k + self._dead))
        return rows, scores

    def _compact(self) -> None:
        """Drop the tombstones: live rows renumbered in order, GPU copies rebuilt."""
        live = [r for r, key in enumerate(self._keys) if key is not None]
        self._keys = [self._keys[r] for r in live]
        self._row_of = {key: i for i, key in enumerate(self._keys) if key is not None}
        size = max(64, len(live))
        slots = np.zeros(size, dtype=np.int64)
        fps = np.zeros((size, 2), dtype=np.uint64)
        slots[: len(live)] = self._slots[live]
        fps[: len(live)] = self._fps[live]
        self._slots, self._fps = slots, fps
        self._dead = 0
        self._synced = 0
        self._removed = []
        if self._faiss is not None:
            self._faiss.reset()
            self._in_faiss = 0
