"""Shared fixtures: a fake clock, a fast embedder, and a cache built on them."""

from __future__ import annotations

import numpy as np
import pytest

from semcache import HashingEmbedder, SemanticCache

from .redis_fixtures import redis_prefix, redis_servers, redis_url  # noqa: F401  (fixtures)


def unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    """``n`` random unit rows of width ``dim`` (float32)."""
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def near(rng: np.random.Generator, base: np.ndarray, cosine: float) -> np.ndarray:
    """Unit vectors at exactly ``cosine`` to each row of ``base``."""
    noise = rng.standard_normal(base.shape).astype(np.float32)
    noise -= (noise * base).sum(1, keepdims=True) * base
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    return (cosine * base + np.sqrt(1 - cosine**2) * noise).astype(np.float32)


class FakeClock:
    """A clock that moves only when told to, for TTL tests that never sleep."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def embedder() -> HashingEmbedder:
    return HashingEmbedder(dim=128)


@pytest.fixture
def cache(embedder: HashingEmbedder, clock: FakeClock) -> SemanticCache:
    return SemanticCache(embedder, threshold=0.6, timer=clock)
