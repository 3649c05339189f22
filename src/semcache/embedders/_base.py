"""The embedder protocol and the checks applied to whatever an embedder returns."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import Protocol, runtime_checkable

import numpy as np

from .._errors import ArgumentTypeError, InvalidEmbeddingError, describe

__all__ = ["Embedder", "check_embeddings", "check_texts"]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows of width ``dim``."""

    @property
    def dim(self) -> int: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32[len(texts), dim], rows of unit length."""
        ...


def check_texts(texts: Sequence[str], *, source: str = "embed") -> list[str]:
    """``texts`` as a list of str, or ArgumentTypeError naming what came: a single
    str would otherwise be embedded one character per row."""
    if isinstance(texts, (str, bytes)):
        raise ArgumentTypeError(f"{source} expects a sequence of str, got a single {describe(texts)}; pass [text]")
    if isinstance(texts, Mapping) or not isinstance(texts, Iterable):
        raise ArgumentTypeError(f"{source} expects a sequence of str, got {describe(texts)}")
    out = list(texts)
    for i, t in enumerate(out):
        if not isinstance(t, str):
            raise ArgumentTypeError(f"{source} expects a sequence of str, got {describe(t)} at index {i}")
    return out


_KERNELS: list[ModuleType] = []


def _vector_kernels() -> ModuleType:
    """The Numba kernel module, imported once on first use (not at package import)."""
    if not _KERNELS:
        from ..kernels import vectors

        _KERNELS.append(vectors)
    return _KERNELS[0]


def check_embeddings(vectors: object, n: int, dim: int, *, source: str = "embedder") -> np.ndarray:
    """Coerce to C-contiguous float32[n, dim] of unit rows, or raise a clear error.

    Rows are re-normalised (a model that forgot to normalise still works), but
    a wrong shape, a non-finite value or an all-zero row is an error.
    """
    arr = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors)
    if arr.ndim == 1 and n == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape != (n, dim):
        raise InvalidEmbeddingError(
            f"{source} must give embeddings of shape ({n}, {dim}), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "fiu":
        raise InvalidEmbeddingError(f"{source} must give numbers, got dtype {arr.dtype}")
    kern = _vector_kernels()
    if arr.dtype != np.float32 or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=np.float32)
    sq = np.empty(n, dtype=np.float64)
    status, row = kern.check_rows(arr, sq, 2e-3)
    if status == kern.NOT_FINITE:
        raise InvalidEmbeddingError(
            f"{source} gave a NaN or infinite value in row {row}; expected finite numbers"
        )
    if status == kern.ZERO_ROW:
        raise InvalidEmbeddingError(
            f"{source} gave an all-zero embedding in row {row}; expected a non-zero vector"
        )
    if status == kern.NOT_UNIT:
        arr = np.ascontiguousarray(arr / np.sqrt(sq)[:, None], dtype=np.float32)
    return arr
