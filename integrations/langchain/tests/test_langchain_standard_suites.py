"""langchain-tests' public standard suites for BaseCache, run unmodified."""

from __future__ import annotations

import pytest
from langchain_core.caches import BaseCache
from langchain_semcache import SemcacheCache
from langchain_tests.integration_tests import AsyncCacheTestSuite, SyncCacheTestSuite

from semcache import SemanticCache


class TestSemcacheCacheSync(SyncCacheTestSuite):
    @pytest.fixture
    def cache(self) -> BaseCache:
        return SemcacheCache(SemanticCache("hashing", threshold=0.9))


class TestSemcacheCacheAsync(AsyncCacheTestSuite):
    @pytest.fixture
    async def cache(self) -> BaseCache:
        return SemcacheCache(SemanticCache("hashing", threshold=0.9))
