"""Shared fixtures: a fake clock, a fast embedder, and a cache built on them."""

from __future__ import annotations

import pytest

from semcache import HashingEmbedder, SemanticCache

from .redis_fixtures import redis_prefix, redis_servers, redis_url  # noqa: F401  (fixtures)


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
