"""Hamming distances between 64-bit fingerprints (popcount of xor)."""

from __future__ import annotations

import numpy as np

from ._jit import jit, popcount

__all__ = ["hamming", "hamming_pairs", "hamming_scalar", "hamming_search", "hamming_search_into"]


@jit()
def hamming_pairs(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
    """out[k] = popcount(a[k] ^ b[k])."""
    for k in range(a.shape[0]):
        out[k] = np.uint8(popcount(a[k] ^ b[k]))


@jit()
def hamming_scalar(a: np.ndarray, b: np.uint64, out: np.ndarray) -> None:
    """out[k] = popcount(a[k] ^ b)."""
    for k in range(a.shape[0]):
        out[k] = np.uint8(popcount(a[k] ^ b))


@jit()
def hamming_search_into(query: np.uint64, fps: np.ndarray, radius: int, out: np.ndarray) -> int:
    """Write the indices k with popcount(fps[k] ^ query) <= radius into out; return the count."""
    m = 0
    r = np.uint64(radius)
    for k in range(fps.shape[0]):
        if popcount(fps[k] ^ query) <= r:
            out[m] = k
            m += 1
    return m


@jit()
def _count_within(query: np.uint64, fps: np.ndarray, radius: int) -> int:
    m = 0
    r = np.uint64(radius)
    for k in range(fps.shape[0]):
        if popcount(fps[k] ^ query) <= r:
            m += 1
    return m


def _as_u64(x: object, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.dtype != np.uint64:
        if arr.dtype.kind not in "iu":
            raise TypeError(f"{name} must hold unsigned 64-bit integers, got dtype {arr.dtype}")
        arr = arr.astype(np.uint64)
    return np.ascontiguousarray(arr)


def hamming(a: np.ndarray, b: np.ndarray | int) -> np.ndarray:
    """Hamming distance (uint8) between fingerprints ``a`` and ``b`` (array or scalar)."""
    aa = _as_u64(a, "a")
    shape = aa.shape
    flat = aa.reshape(-1)
    out = np.empty(flat.shape[0], dtype=np.uint8)
    if np.ndim(b) == 0:
        hamming_scalar(flat, np.uint64(int(b)), out)  # type: ignore[arg-type]
    else:
        bb = _as_u64(b, "b")
        if bb.shape != shape:
            raise ValueError(f"a and b must have the same shape, got {shape} and {bb.shape}")
        hamming_pairs(flat, bb.reshape(-1), out)
    return out.reshape(shape)


def hamming_search(query: int | np.uint64, fingerprints: np.ndarray, radius: int) -> np.ndarray:
    """Indices (int64, ascending) of fingerprints within ``radius`` bits of ``query``."""
    if not 0 <= int(radius) <= 64:
        raise ValueError(f"radius must be in [0, 64], got {radius!r}")
    fps = _as_u64(fingerprints, "fingerprints").reshape(-1)
    q = np.uint64(int(query))
    m = _count_within(q, fps, int(radius))
    out = np.empty(m, dtype=np.int64)
    if m:
        hamming_search_into(q, fps, int(radius), out)
    return out
