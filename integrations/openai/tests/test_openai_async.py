"""The AsyncOpenAI wrapper against the local server: hits, streams, bypass."""

from __future__ import annotations

from typing import Any

from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai_fake_server import FakeOpenAI
from semcache_openai import cache_info, cached

from semcache import SemanticCache

MODEL = "gpt-test"


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


async def test_async_miss_then_hit(
    aclient: AsyncOpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(aclient, semantic)
    first = await wrapped.chat.completions.create(**ask("What is the capital of France?"))
    second = await wrapped.chat.completions.create(**ask("What is the capital of France?"))
    assert server.calls == 1
    assert isinstance(second, ChatCompletion) and cache_info(second) is not None
    assert second.choices[0].message.content == first.choices[0].message.content


async def test_async_stream_miss_is_stored_and_replayed(
    aclient: AsyncOpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(aclient, semantic)
    stream = await wrapped.chat.completions.create(**ask("Tell me a fact", stream=True))
    live = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in live)
    assert text.startswith("Answer #1")

    async with await wrapped.chat.completions.create(
        **ask("Tell me a fact", stream=True)
    ) as replay:
        chunks = [chunk async for chunk in replay]
    assert server.calls == 1
    assert all(isinstance(c, ChatCompletionChunk) and cache_info(c) is not None for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == text

    completion = await wrapped.chat.completions.create(**ask("Tell me a fact"))
    assert completion.choices[0].message.content == text
    assert server.calls == 1


async def test_async_abandoned_stream_stores_nothing(
    aclient: AsyncOpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(aclient, semantic)
    stream = await wrapped.chat.completions.create(**ask("Tell me a long story", stream=True))
    await stream.__anext__()
    await stream.close()
    assert len(semantic) == 0


async def test_async_bypass(
    aclient: AsyncOpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(aclient, semantic)
    for _ in range(2):
        response = await wrapped.chat.completions.create(**ask("Name a colour", n=2))
        assert len(response.choices) == 2 and cache_info(response) is None
    for _ in range(2):
        await wrapped.chat.completions.create(**ask("Name a colour", temperature=1.5))
    assert server.calls == 4
    assert len(semantic) == 0


async def test_async_with_options_and_context_manager(
    server: FakeOpenAI, semantic: SemanticCache
) -> None:
    real = AsyncOpenAI(base_url=server.url, api_key="k", max_retries=0)
    async with cached(real, semantic) as wrapped:
        await wrapped.chat.completions.create(**ask("Hello"))
        hit = await wrapped.with_options(max_retries=1).chat.completions.create(**ask("Hello"))
        assert cache_info(hit) is not None
    assert real.is_closed()
    assert server.calls == 1
