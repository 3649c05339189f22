"""The embedding head of the verifier: what two embeddings say beyond their cosine.

A cosine is one number; two embeddings hold more. The head is a small network
over the element-wise product and the absolute difference of the two
(optionally projected) embeddings and the pair's lexical features (not the
meaning-flip flags, which stay linear so that a flag can only lower the
probability). It adds a term to the verifier's logit. Its weights belong to one
embedding model (``embedder``): with any other model the numbers mean nothing,
so the cache uses it only with that model.

Run time is one Numba kernel call for all candidates (``semcache.kernels.head``);
``logits_numpy`` is the same arithmetic in NumPy, kept as its test oracle.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._errors import InvalidArgumentError

__all__ = ["PairHead"]

_ARRAYS = ("w1", "b1", "w2", "b2")


class PairHead:
    """logit term = w2 . relu(W1 [a*b, |a-b|, x[inputs]] + b1) + b2, with a = P u, b = P v.

    ``proj`` (m x dim) may be None (a, b = u, v). ``inputs`` are indices into the
    verifier's feature vector; their normalisation is folded into ``w1``.
    """

    __slots__ = ("_kernel", "_need", "_proj", "_tail", "b1", "b2", "dim", "embedder", "inputs", "proj", "w1", "w2")

    def __init__(
        self,
        *,
        embedder: str,
        dim: int,
        w1: np.ndarray,
        b1: np.ndarray,
        w2: np.ndarray,
        b2: float,
        inputs: Sequence[int],
        proj: np.ndarray | None = None,
    ) -> None:
        self.embedder = str(embedder)
        self.dim = int(dim)
        self.proj = None if proj is None else np.ascontiguousarray(proj, np.float32)
        width = self.dim if self.proj is None else self.proj.shape[0]
        if self.proj is not None and self.proj.shape != (width, self.dim):
            raise InvalidArgumentError(f"proj must be (m, {self.dim}), got {self.proj.shape}")
        self.inputs = np.asarray(inputs, np.int64)
        self.w1 = np.ascontiguousarray(w1, np.float32)
        hidden = self.w1.shape[0]
        expected = (hidden, 2 * width + len(self.inputs))
        if self.w1.ndim != 2 or self.w1.shape != expected:
            raise InvalidArgumentError(f"w1 must be {expected}, got {self.w1.shape}")
        self.b1 = np.ascontiguousarray(b1, np.float32).reshape(hidden)
        self.w2 = np.ascontiguousarray(w2, np.float64).reshape(hidden)
        self.b2 = float(b2)
        self._proj = self.proj if self.proj is not None else np.zeros((0, self.dim), np.float32)
        self._tail = np.concatenate([self.b1.astype(np.float64), self.w2, [self.b2]])
        self._kernel: Any = None
        self._need = int(self.inputs.max()) + 1 if len(self.inputs) else 0  # feature columns read
        if len(self.inputs) and int(self.inputs.min()) < 0:
            raise InvalidArgumentError(f"inputs must be feature indices >= 0, got {self.inputs.tolist()}")

    def __repr__(self) -> str:
        width = self.dim if self.proj is None else self.proj.shape[0]
        return f"PairHead({self.embedder!r}, dim={self.dim}, width={width}, hidden={self.w1.shape[0]})"

    def logits(self, query: np.ndarray, cached: np.ndarray, x: np.ndarray) -> np.ndarray:
        """The head's logit term for one query vector (dim,) against k cached
        vectors (k, dim), or k query vectors (k, dim) against theirs, with the k
        pairs' feature vectors ``x`` (k, features)."""
        if self._kernel is None:
            from .kernels.head import head_logits

            self._kernel = head_logits
        u = np.ascontiguousarray(query, np.float32).reshape(-1, self.dim)
        v = np.ascontiguousarray(cached, np.float32).reshape(-1, self.dim)
        x = np.asarray(x)
        if u.shape[0] not in (1, v.shape[0]) or x.ndim != 2 or x.shape[0] != v.shape[0] or x.shape[1] < self._need:
            raise InvalidArgumentError(
                f"the head takes 1 or k query rows, k cached rows and k feature rows of >= {self._need} columns, "
                f"got {u.shape[0]}, {v.shape[0]} and {x.shape}"
            )
        out = np.empty(v.shape[0], np.float64)
        self._kernel(u, v, np.ascontiguousarray(x, np.float64), self.inputs, self._proj, self.w1, self._tail, out)
        return out

    def logits_numpy(self, query: np.ndarray, cached: np.ndarray, x: np.ndarray) -> np.ndarray:
        """``logits`` in NumPy (the kernel's oracle)."""
        u = np.asarray(query, np.float32).reshape(-1, self.dim)
        v = np.asarray(cached, np.float32).reshape(-1, self.dim)
        if self.proj is not None:
            u = u @ self.proj.T
            v = v @ self.proj.T
        z = np.concatenate([u * v, np.abs(u - v), x[:, self.inputs].astype(np.float32)], axis=1)
        h = z @ self.w1.T
        h += self.b1
        np.maximum(h, 0.0, out=h)
        out: np.ndarray = h.astype(np.float64) @ self.w2 + self.b2
        return out

    # -- persistence ----------------------------------------------------------
    def to_bytes(self) -> bytes:
        """The head as an .npz archive (no pickles)."""
        buf = io.BytesIO()
        arrays: dict[str, Any] = {name: getattr(self, name) for name in _ARRAYS}
        arrays["inputs"] = self.inputs
        arrays["meta"] = np.array([self.embedder, str(self.dim)])
        if self.proj is not None:
            arrays["proj"] = self.proj
        np.savez_compressed(buf, **arrays)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> PairHead:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return cls.from_arrays({k: z[k] for k in z.files})

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray]) -> PairHead:
        missing = [k for k in (*_ARRAYS, "inputs", "meta") if k not in arrays]
        if missing:
            raise InvalidArgumentError(f"a head needs arrays {', '.join(missing)}, got {sorted(arrays)}")
        meta = [str(m) for m in arrays["meta"]]
        return cls(
            embedder=meta[0],
            dim=int(meta[1]),
            w1=arrays["w1"],
            b1=arrays["b1"],
            w2=arrays["w2"],
            b2=float(np.asarray(arrays["b2"]).reshape(-1)[0]),
            inputs=[int(i) for i in arrays["inputs"]],
            proj=arrays.get("proj"),
        )
