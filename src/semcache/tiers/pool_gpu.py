"""The embedding pool on an NVIDIA GPU: one growing CuPy matrix in unified memory.

Same interface and slot rules as :class:`~semcache.tiers.pool.EmbeddingPool`
(free list, doubling growth), but the matrix is CUDA *managed* memory taken
from a private ``cupy.cuda.MemoryPool(cupy.cuda.malloc_managed)``:

* the matrix is capped at ``memory_fraction`` of the device memory free when
  the pool is made (and ``max_bytes`` if given), and a growth never asks for
  more than the device has free at that moment; past the cap ``add`` raises
  :class:`PoolFullError` (an eviction signal: free rows, then add again);
* :attr:`matrix` prefetches the live rows to the device before a search;
* rows are tracked in 2 MiB chunks; a chunk whose rows have all been freed
  (LRU eviction) is advised and prefetched back to the host, and advised back
  to the device when one of its rows is reused.

Prefetch and advice are hints: they never change what a search returns, and
on devices without concurrent managed access they are switched off (logged
once). CuPy is imported when a pool is made; without it
:class:`~semcache.MissingDependencyError` names the ``gpu`` extra.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Literal

import numpy as np

from .._errors import InvalidConfigError, InvalidEmbeddingError, SemcacheError
from .._optional import require

__all__ = ["CupyEmbeddingPool", "PoolFullError"]

log = logging.getLogger("semcache")

_CHUNK_BYTES = 2 << 20  # unit of host advice: the driver's large-page size
_PAGE = 4096  # advice to the host is trimmed inward to whole pages of freed rows
_ADVISE_PREFERRED_LOCATION = 3  # cudaMemAdviseSetPreferredLocation
_CPU_DEVICE = -1  # cudaCpuDeviceId
_DTYPES: dict[str, np.dtype[Any]] = {
    "float32": np.dtype(np.float32),
    "float16": np.dtype(np.float16),
}


class PoolFullError(SemcacheError, MemoryError):
    """The GPU pool would grow past its cap; free rows (evict) and add again."""


class CupyEmbeddingPool:
    """A growable ``[capacity, dim]`` float32/float16 CuPy matrix in managed memory."""

    def __init__(
        self,
        dim: int,
        *,
        capacity: int = 1024,
        dtype: str | Any = "float32",
        max_bytes: int | None = None,
        memory_fraction: float = 0.5,
        min_rows: int = 0,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidConfigError(f"dim must be an int >= 1, got {dim!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidConfigError(f"capacity must be an int >= 1, got {capacity!r}")
        name = np.dtype(dtype).name
        if name not in _DTYPES:
            raise InvalidConfigError(f"dtype must be float32 or float16, got {dtype!r}")
        if not 0.0 < memory_fraction <= 0.9:
            raise InvalidConfigError(
                f"memory_fraction must be in (0, 0.9], got {memory_fraction!r}"
            )
        cp = require("cupy", "gpu")
        self._cp = cp
        self.dim = dim
        self.dtype = _DTYPES[name]
        self.device: Literal["cpu", "gpu"] = "gpu"
        self._device_id = int(cp.cuda.runtime.getDevice())
        self._row_bytes = dim * self.dtype.itemsize
        free, _total = cp.cuda.runtime.memGetInfo()
        cap = int(free * memory_fraction)
        if max_bytes is not None:
            cap = min(cap, int(max_bytes))
        self.max_rows = cap // self._row_bytes
        """Most rows the cap allows."""
        need = max(min_rows, 1)
        if need > self.max_rows:
            raise PoolFullError(
                f"the GPU pool must hold {need} rows ({_gib(need * self._row_bytes)}) "
                f"but is capped at {self.max_rows} rows ({_gib(cap)}: {memory_fraction:g} of "
                f"the {_gib(free)} free on the device"
                + ("" if max_bytes is None else f", max_bytes={max_bytes}")
                + "); lower max_entries, use dtype float16, or use device='cpu'"
            )
        self._mempool = cp.cuda.MemoryPool(cp.cuda.malloc_managed)
        self._chunk_rows = max(1, _CHUNK_BYTES // self._row_bytes)
        self._free: list[int] = []
        self._high = 0  # slots below this were handed out at least once
        self._live = 0
        self._hints = True
        self._stale = True  # the live rows may not all be on the device
        self._matrix: Any = None
        self._base = 0
        self._chunk_live = np.zeros(0, dtype=np.int64)
        self._on_host: set[int] = set()
        self._allocate(min(capacity, self.max_rows), keep=0)

    # -- the EmbeddingPool interface --------------------------------------
    @property
    def matrix(self) -> Any:
        """The whole CuPy matrix, its live rows prefetched to the device first."""
        if self._stale:
            self.prefetch()
        return self._matrix

    @property
    def capacity(self) -> int:
        """Rows allocated."""
        return int(self._matrix.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the managed matrix."""
        return self.capacity * self._row_bytes

    def __len__(self) -> int:
        return int(self._live)

    def add(self, vector: np.ndarray) -> int:
        """Store one row and return its slot."""
        return int(self.add_many(np.asarray(vector).reshape(1, -1))[0])

    def add_many(self, vectors: Any) -> np.ndarray:
        """Store rows (NumPy or CuPy) and return their slots (int64[n])."""
        if not hasattr(vectors, "ndim"):
            vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise InvalidEmbeddingError(
                f"embeddings must have shape (n, {self.dim}), got {vectors.shape}"
            )
        n = int(vectors.shape[0])
        reuse = min(n, len(self._free))
        fresh = n - reuse
        self._reserve(self._high + fresh)  # may raise PoolFullError; nothing changed yet
        slots = np.empty(n, dtype=np.int64)
        for i in range(reuse):
            slots[i] = self._free.pop()
        slots[reuse:] = np.arange(self._high, self._high + fresh)
        self._high += fresh
        chunks = slots // self._chunk_rows
        np.add.at(self._chunk_live, chunks, 1)
        for c in self._on_host.intersection(chunks.tolist()):
            self._on_host.discard(c)
            self._advise(c * self._chunk_rows, (c + 1) * self._chunk_rows, self._device_id)
            self._stale = True
        cp = self._cp
        self._matrix[cp.asarray(slots)] = cp.asarray(vectors, dtype=self.dtype)
        self._live += n
        return slots

    def get(self, slot: int) -> np.ndarray:
        """A host (NumPy) copy of the row at ``slot``."""
        return np.asarray(self._cp.asnumpy(self._matrix[int(slot)]))

    def free(self, slot: int) -> None:
        """Give ``slot`` back for reuse; a chunk left with no live row goes to the host."""
        slot = int(slot)
        self._free.append(slot)
        self._live -= 1
        c = slot // self._chunk_rows
        self._chunk_live[c] -= 1
        if self._chunk_live[c] == 0:
            self._to_host(c * self._chunk_rows, (c + 1) * self._chunk_rows)
            self._on_host.add(c)

    def clear(self) -> None:
        """Free every slot (the capacity is kept; the memory is advised to the host)."""
        self._free.clear()
        self._high = 0
        self._live = 0
        self._chunk_live[:] = 0
        self._to_host(0, self.capacity)
        self._on_host = set(range(len(self._chunk_live)))

    # -- managed memory ------------------------------------------------------
    def prefetch(self) -> None:
        """Prefetch the chunks that hold live rows to the device (a hint, asynchronous)."""
        live = self._chunk_live > 0
        edges = np.flatnonzero(np.diff(np.concatenate(([0], live.view(np.int8), [0]))))
        for lo, hi in zip(edges[::2], edges[1::2], strict=True):
            self._prefetch(int(lo) * self._chunk_rows, int(hi) * self._chunk_rows, self._device_id)
        self._stale = False

    def _reserve(self, rows: int) -> None:
        cap = self.capacity
        if rows <= cap:
            return
        if rows > self.max_rows:
            raise PoolFullError(
                f"the GPU pool is full: {rows} rows asked for, its cap is {self.max_rows} "
                f"({_gib(self.max_rows * self._row_bytes)}); free rows (evict) and add again"
            )
        target = min(max(rows, 2 ** math.ceil(math.log2(2 * cap))), self.max_rows)
        self._allocate(target, keep=self._high)

    def _allocate(self, rows: int, keep: int) -> None:
        """Move to a fresh managed matrix of ``rows`` rows, copying the first ``keep``."""
        cp = self._cp
        nbytes = rows * self._row_bytes
        free, _total = cp.cuda.runtime.memGetInfo()
        if nbytes > free:
            raise PoolFullError(
                f"the GPU pool cannot grow to {rows} rows ({_gib(nbytes)}): "
                f"the device has only {_gib(free)} free"
            )
        mem = self._mempool.malloc(nbytes)
        grown = cp.ndarray((rows, self.dim), dtype=self.dtype, memptr=mem)
        grown[:] = 0
        if keep:
            grown[:keep] = self._matrix[:keep]
        self._matrix = grown
        self._base = int(mem.ptr)
        self._mempool.free_all_blocks()  # the old matrix goes back to the driver
        live = np.zeros(-(-rows // self._chunk_rows), dtype=np.int64)
        live[: len(self._chunk_live)] = self._chunk_live
        self._chunk_live = live
        self._on_host = set()
        self._stale = True

    def _to_host(self, lo: int, hi: int) -> None:
        """Advise rows [lo, hi) to the host and move them there, trimmed inward to whole pages."""
        hi = min(hi, self.capacity)
        start = -(-(self._base + lo * self._row_bytes) // _PAGE) * _PAGE
        end = (self._base + hi * self._row_bytes) // _PAGE * _PAGE
        if end <= start or not self._hints:
            return
        self._hint("memAdvise", start, end - start, _ADVISE_PREFERRED_LOCATION, _CPU_DEVICE)
        self._hint("memPrefetchAsync", start, end - start, _CPU_DEVICE, self._stream())

    def _advise(self, lo: int, hi: int, device: int) -> None:
        hi = min(hi, self.capacity)
        if hi > lo and self._hints:
            start, size = self._base + lo * self._row_bytes, (hi - lo) * self._row_bytes
            self._hint("memAdvise", start, size, _ADVISE_PREFERRED_LOCATION, device)

    def _prefetch(self, lo: int, hi: int, device: int) -> None:
        hi = min(hi, self.capacity)
        if hi > lo and self._hints:
            start, size = self._base + lo * self._row_bytes, (hi - lo) * self._row_bytes
            self._hint("memPrefetchAsync", start, size, device, self._stream())

    def _stream(self) -> int:
        return int(self._cp.cuda.get_current_stream().ptr)

    def _hint(self, call: str, *args: int) -> None:
        runtime = self._cp.cuda.runtime
        try:
            getattr(runtime, call)(*args)
        except (runtime.CUDARuntimeError, TypeError) as exc:  # no concurrent managed access
            self._hints = False
            log.warning("semcache: managed-memory hints are off on this GPU: %s", exc)


def _gib(nbytes: float) -> str:
    return f"{nbytes / 2**30:.2f} GiB"
