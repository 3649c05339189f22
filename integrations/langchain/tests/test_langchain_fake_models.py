"""SemcacheCache under LangChain's fake LLMs and chat models: global and per-model caches."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.globals import get_llm_cache, set_llm_cache
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    FakeMessagesListChatModel,
)
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from langchain_semcache import SemcacheCache

from semcache import HashingEmbedder, SemanticCache


@pytest.fixture
def backend() -> SemcacheCache:
    return SemcacheCache(SemanticCache(HashingEmbedder(dim=256), threshold=0.6))


@pytest.fixture
def global_cache(backend: SemcacheCache) -> Iterator[SemcacheCache]:
    before = get_llm_cache()
    set_llm_cache(backend)
    yield backend
    set_llm_cache(before)


def tool_answer() -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": "weather", "args": {"city": "Paris"}, "id": "call_9"}],
        usage_metadata={"input_tokens": 20, "output_tokens": 5, "total_tokens": 25},
        response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
    )


def test_set_llm_cache_serves_an_llm(global_cache: SemcacheCache) -> None:
    llm = FakeListLLM(responses=["first", "second"])
    assert llm.invoke("What is the capital of France?") == "first"
    assert llm.invoke("What is the capital of France?") == "first"
    assert llm.i == 1  # the model ran once
    assert llm.invoke("Name a large city in Japan.") == "second"


def test_set_llm_cache_serves_a_chat_model(global_cache: SemcacheCache) -> None:
    model = FakeListChatModel(responses=["Paris", "Lyon"])
    assert model.invoke("What is the capital of France?").content == "Paris"
    assert model.invoke("What is the capital of France?").content == "Paris"
    assert model.i == 1


def test_models_own_cache_keeps_tool_calls_and_usage(backend: SemcacheCache) -> None:
    model = FakeMessagesListChatModel(responses=[tool_answer(), AIMessage("other")], cache=backend)
    first = model.invoke("What is the weather in Paris?")
    second = model.invoke("What is the weather in Paris?")
    assert model.i == 1
    assert isinstance(second, AIMessage)
    assert second.tool_calls == first.tool_calls == tool_answer().tool_calls
    assert second.response_metadata == tool_answer().response_metadata
    assert second.usage_metadata is not None
    assert second.usage_metadata["total_tokens"] == 25
    # A model without the cache is not served by it.
    uncached = FakeMessagesListChatModel(responses=[AIMessage("fresh")])
    assert uncached.invoke("What is the weather in Paris?").content == "fresh"


async def test_async_chat_model(backend: SemcacheCache) -> None:
    model = FakeMessagesListChatModel(responses=[tool_answer(), AIMessage("other")], cache=backend)
    first = await model.ainvoke("What is the weather in Paris?")
    second = await model.ainvoke("What is the weather in Paris?")
    assert model.i == 1
    assert isinstance(second, AIMessage) and second.tool_calls == first.tool_calls


def test_follow_up_is_answered_per_conversation(backend: SemcacheCache) -> None:
    model = FakeListChatModel(responses=["int, str, list", "vipers, pythons"], cache=backend)
    python = [
        SystemMessage("Be brief."),
        HumanMessage("Tell me about Python."),
        AIMessage("A programming language."),
        HumanMessage("What are its types?"),
    ]
    snakes = [
        SystemMessage("Be brief."),
        HumanMessage("Tell me about snakes."),
        AIMessage("Legless reptiles."),
        HumanMessage("What are its types?"),
    ]
    assert model.invoke(python).content == "int, str, list"
    assert model.invoke(snakes).content == "vipers, pythons"
    assert model.invoke(python).content == "int, str, list"
    assert model.invoke(snakes).content == "vipers, pythons"
    assert model.i == 0  # two calls to the model, cycled back to the start


def test_other_model_settings_never_share_answers(backend: SemcacheCache) -> None:
    a = FakeListChatModel(responses=["from a"], cache=backend)
    b = FakeListChatModel(responses=["from b"], cache=backend)
    assert a.invoke("Hello").content == "from a"
    assert b.invoke("Hello").content == "from b"
    assert a.invoke("Hello", stop=["\n"]).content == "from a"  # stop words: another namespace
    assert b.invoke("Hello").content == "from b"


def test_clear_empties_a_models_cache(backend: SemcacheCache) -> None:
    model = FakeListChatModel(responses=["one", "two"], cache=backend)
    assert model.invoke("Hello").content == "one"
    backend.clear()
    assert model.invoke("Hello").content == "two"
