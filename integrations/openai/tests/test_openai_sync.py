"""The sync wrapper against the local server: hits, misses, pass-through, errors."""

from __future__ import annotations

import logging
from typing import Any

import openai
import pytest
import semcache_openai
from openai import OpenAI
from openai.types.chat import ChatCompletion
from openai_fake_server import FakeOpenAI
from semcache_openai import cache_info, cached
from semcache_openai._request import Plan, Policy, plan_request

from semcache import SemanticCache

MODEL = "gpt-test"


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


def test_exported_names() -> None:
    assert semcache_openai.__all__ == sorted(semcache_openai.__all__)
    assert set(semcache_openai.__all__) == {
        "DEFAULT_IGNORED_PARAMS",
        "ID_PREFIX",
        "CacheInfo",
        "__version__",
        "cache_info",
        "cached",
    }


def test_miss_then_exact_hit(client: OpenAI, server: FakeOpenAI, semantic: SemanticCache) -> None:
    wrapped = cached(client, semantic)
    first = wrapped.chat.completions.create(**ask("What is the capital of France?"))
    assert isinstance(first, ChatCompletion)
    assert cache_info(first) is None
    second = wrapped.chat.completions.create(**ask("what is the capital of france"))
    assert server.calls == 1
    assert isinstance(second, ChatCompletion)
    assert second.choices[0].message.content == first.choices[0].message.content
    assert second.choices[0].finish_reason == "stop"
    assert second.model == MODEL
    assert second.id == "semcache-" + first.id
    assert second.usage is not None and second.usage.total_tokens == 0
    info = cache_info(second)
    assert info is not None and info.exact and info.original_id == first.id
    assert second.to_dict()["semcache"]["hit"] is True  # the marker survives serialisation


def test_paraphrase_hits(client: OpenAI, server: FakeOpenAI, semantic: SemanticCache) -> None:
    wrapped = cached(client, semantic)
    first = wrapped.chat.completions.create(**ask("What is the capital city of France?"))
    second = wrapped.chat.completions.create(**ask("What is the capital city of France, please?"))
    assert server.calls == 1
    info = cache_info(second)
    assert info is not None and not info.exact and 0.6 <= info.score < 1.0
    assert second.choices[0].message.content == first.choices[0].message.content


def test_tool_call_answers_are_cached(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    tools = [
        {"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}
    ]
    wrapped = cached(client, semantic)
    first = wrapped.chat.completions.create(**ask("Weather in Paris?", tools=tools))
    second = wrapped.chat.completions.create(**ask("Weather in Paris?", tools=tools))
    assert server.calls == 1
    call = second.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "weather"  # type: ignore[union-attr]
    assert call == first.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert second.choices[0].finish_reason == "tool_calls"


def test_history_built_from_response_objects(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    first = wrapped.chat.completions.create(**ask("Tell me about Python."))
    history: list[Any] = [
        {"role": "user", "content": "Tell me about Python."},
        first.choices[0].message,
    ]
    follow = wrapped.chat.completions.create(
        model=MODEL, messages=[*history, {"role": "user", "content": "What are its types?"}]
    )
    # The same history written as plain dicts is the same conversation.
    as_dicts = [history[0], {"role": "assistant", "content": first.choices[0].message.content}]
    again = wrapped.chat.completions.create(
        model=MODEL, messages=[*as_dicts, {"role": "user", "content": "What are its types?"}]
    )
    assert server.calls == 2
    assert again.choices[0].message.content == follow.choices[0].message.content


def test_generator_messages_are_sent_whole(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    messages = (
        {"role": r, "content": c} for r, c in [("system", "Be brief."), ("user", "Hello there")]
    )
    wrapped.chat.completions.create(model=MODEL, messages=messages)
    assert server.requests[0]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello there"},
    ]


def test_other_attributes_pass_through(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    assert wrapped.base_url == client.base_url
    assert wrapped.api_key == "test-key"
    assert wrapped.models is client.models
    assert wrapped.chat.completions.with_raw_response is not None
    raw = wrapped.chat.completions.with_raw_response.create(**ask("Hello"))
    assert raw.parse().choices[0].message.content.startswith("Answer #1")  # type: ignore[union-attr]
    assert len(semantic) == 0  # raw responses are not cached


def test_with_options_stays_cached(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    wrapped.chat.completions.create(**ask("Hello"))
    quick = wrapped.with_options(timeout=5.0)
    hit = quick.chat.completions.create(**ask("Hello"))
    assert cache_info(hit) is not None
    assert server.calls == 1
    assert quick.timeout == 5.0


def test_api_errors_propagate_and_store_nothing(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    with pytest.raises(openai.InternalServerError):
        wrapped.chat.completions.create(
            model="broken", messages=[{"role": "user", "content": "Hi"}]
        )
    assert len(semantic) == 0


def test_content_filtered_answers_are_not_stored(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    wrapped.chat.completions.create(**ask("Something forbidden"))
    wrapped.chat.completions.create(**ask("Something forbidden"))
    assert server.calls == 2
    assert len(semantic) == 0


def test_entry_that_is_not_ours_is_a_miss_and_dropped(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache, caplog: pytest.LogCaptureFixture
) -> None:
    wrapped = cached(client, semantic)
    _, plan = plan_request(ask("Hello"), Policy())
    assert isinstance(plan, Plan)
    semantic.put("Hello", {"not": "a completion"}, namespace=plan.namespace)
    with caplog.at_level(logging.WARNING, logger="semcache_openai"):
        fresh = wrapped.chat.completions.create(**ask("Hello"))
    assert "expected a stored ChatCompletion" in caplog.text
    assert cache_info(fresh) is None and server.calls == 1
    hit = semantic.get("Hello", namespace=plan.namespace)
    assert hit is not None and hit.response["id"] == fresh.id  # replaced by the fresh answer


def test_context_manager_closes_the_client(server: FakeOpenAI, semantic: SemanticCache) -> None:
    real = OpenAI(base_url=server.url, api_key="k", max_retries=0)
    with cached(real, semantic) as wrapped:
        wrapped.chat.completions.create(**ask("Hello"))
    assert real.is_closed()
