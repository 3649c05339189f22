"""A model-free embedder: signed feature hashing of words and character trigrams.

Deterministic across processes and machines (it hashes with BLAKE2, not
Python's salted ``hash``), needs nothing beyond NumPy, and costs a few
microseconds per text. It captures lexical overlap only, so it suits tests
and exact-ish caching, not paraphrase detection.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from .._errors import InvalidConfigError
from ..normalize import normalize
from ._base import check_texts

__all__ = ["HashingEmbedder"]

_WORD = re.compile(r"\w+")


class HashingEmbedder:
    """Hash word unigrams and character trigrams into ``dim`` signed buckets."""

    def __init__(self, dim: int = 256) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 8:
            raise InvalidConfigError(f"dim must be an int >= 8, got {dim!r}")
        self._dim = dim
        self._memo: dict[str, tuple[int, float]] = {}

    @property
    def dim(self) -> int:
        return self._dim

    def __repr__(self) -> str:
        return f"HashingEmbedder(dim={self._dim})"

    def _bucket(self, feature: str) -> tuple[int, float]:
        hit = self._memo.get(feature)
        if hit is None:
            raw = feature.encode("utf-8", "surrogatepass")  # a lone surrogate hashes too
            h = int.from_bytes(hashlib.blake2b(raw, digest_size=8).digest(), "little")
            hit = (h % self._dim, 1.0 if (h >> 63) & 1 else -1.0)
            if len(self._memo) < 200_000:
                self._memo[feature] = hit
        return hit

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        texts = check_texts(texts, source="HashingEmbedder.embed")
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            norm = normalize(text)
            words = _WORD.findall(norm)
            feats = [f"w:{w}" for w in words]
            padded = f" {norm} "
            feats += [f"c:{padded[i:i + 3]}" for i in range(len(padded) - 2)]
            for feat in feats:
                col, sign = self._bucket(feat)
                out[row, col] += sign
            n = float(np.linalg.norm(out[row]))
            if n == 0.0:
                out[row, 0] = 1.0
            else:
                out[row] /= n
        return out
