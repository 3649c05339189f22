"""Fixtures: the local OpenAI-compatible server, real clients pointed at it, a fast cache."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from openai import AsyncOpenAI, OpenAI
from openai_fake_server import FakeOpenAI

from semcache import HashingEmbedder, SemanticCache


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    srv = FakeOpenAI()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()
    thread.join()


@pytest.fixture
def client(server: FakeOpenAI) -> Iterator[OpenAI]:
    with OpenAI(base_url=server.url, api_key="test-key", max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(server: FakeOpenAI) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(base_url=server.url, api_key="test-key", max_retries=0) as c:
        yield c


@pytest.fixture
def semantic() -> SemanticCache:
    """A fast model-free cache; near-identical wordings hit."""
    return SemanticCache(HashingEmbedder(dim=256), threshold=0.6)
