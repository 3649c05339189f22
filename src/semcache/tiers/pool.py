"""The embedding pool: one contiguous float matrix of embeddings with a free list.

Rows are handed out as integer *slots*; a freed slot is reused before the
matrix grows, and growth doubles the capacity (one copy per doubling, never
one per insert), so search kernels always see a single C-contiguous matrix.

``device`` is a policy: ``"cpu"`` (NumPy), ``"gpu"`` (CuPy; raises when no
GPU answers) or ``"auto"`` (the GPU when one answers, else the CPU).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from .._errors import InvalidConfigError, InvalidEmbeddingError

__all__ = ["Device", "EmbeddingPool", "resolve_device"]

Device = Literal["cpu", "auto", "gpu"]
_DEVICES = ("cpu", "auto", "gpu")


def resolve_device(device: str) -> Literal["cpu", "gpu"]:
    """Turn a device policy into the device to use; ``"gpu"`` raises if none answers."""
    if device not in _DEVICES:
        raise InvalidConfigError(f"device must be one of {_DEVICES}, got {device!r}")
    if device == "cpu":
        return "cpu"
    from . import _gpu

    return _gpu.resolve(device)


class EmbeddingPool:
    """A growable ``float32[capacity, dim]`` matrix of L2-normalised rows with a free list."""

    def __init__(self, dim: int, *, capacity: int = 1024, dtype: Any = np.float32) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise InvalidConfigError(f"dim must be an int >= 1, got {dim!r}")
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidConfigError(f"capacity must be an int >= 1, got {capacity!r}")
        self.dim = dim
        self.device: Literal["cpu", "gpu"] = "cpu"
        self._matrix = np.zeros((capacity, dim), dtype=dtype)
        self._free: list[int] = []
        self._high = 0  # slots below this were handed out at least once
        self._live = 0

    @property
    def matrix(self) -> np.ndarray:
        """The whole backing matrix (rows of freed or unused slots are stale)."""
        return self._matrix

    @property
    def capacity(self) -> int:
        """Rows allocated."""
        return int(self._matrix.shape[0])

    @property
    def nbytes(self) -> int:
        """Bytes of the backing matrix."""
        return int(self._matrix.nbytes)

    def __len__(self) -> int:
        return self._live

    def add(self, vector: np.ndarray) -> int:
        """Store one row and return its slot."""
        return int(self.add_many(np.asarray(vector).reshape(1, -1))[0])

    def add_many(self, vectors: np.ndarray) -> np.ndarray:
        """Store rows and return their slots (int64[n])."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.dim:
            raise InvalidEmbeddingError(
                f"embeddings must have shape (n, {self.dim}), got {vectors.shape}"
            )
        n = vectors.shape[0]
        slots = np.empty(n, dtype=np.int64)
        reuse = min(n, len(self._free))
        for i in range(reuse):
            slots[i] = self._free.pop()
        fresh = n - reuse
        if fresh:
            self._reserve(self._high + fresh)
            slots[reuse:] = np.arange(self._high, self._high + fresh)
            self._high += fresh
        self._matrix[slots] = vectors
        self._live += n
        return slots

    def get(self, slot: int) -> np.ndarray:
        """A copy of the row at ``slot``."""
        return np.array(self._matrix[slot])

    def free(self, slot: int) -> None:
        """Give ``slot`` back for reuse."""
        self._free.append(int(slot))
        self._live -= 1

    def clear(self) -> None:
        """Free every slot (the capacity is kept)."""
        self._free.clear()
        self._high = 0
        self._live = 0

    def _reserve(self, rows: int) -> None:
        cap = self.capacity
        if rows <= cap:
            return
        new_cap = max(rows, 2 ** math.ceil(math.log2(max(rows, 2 * cap))))
        grown = np.zeros((new_cap, self.dim), dtype=self._matrix.dtype)
        grown[: self._high] = self._matrix[: self._high]
        self._matrix = grown
