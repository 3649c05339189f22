"""SemcacheCache called directly: values, namespaces, clear, errors, the event loop."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

import langchain_semcache
import numpy as np
import pytest
from langchain_core.documents import Document
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, Generation
from langchain_semcache import SemcacheCache
from langchain_semcache._keys import make_key

from semcache import ArgumentTypeError, HashingEmbedder, SemanticCache

LLM = "[('_type', 'fake-chat'), ('model', 'm1'), ('stop', None), ('temperature', 0.0)]"


def chat(*messages: BaseMessage) -> str:
    """A chat prompt as LangChain passes it to the cache."""
    return dumps(list(messages))


@pytest.fixture
def semantic() -> SemanticCache:
    return SemanticCache(HashingEmbedder(dim=256), threshold=0.6)


@pytest.fixture
def backend(semantic: SemanticCache) -> SemcacheCache:
    return SemcacheCache(semantic)


def rich_generations() -> list[Generation]:
    message = AIMessage(
        content="Calling the weather tool.",
        tool_calls=[{"name": "weather", "args": {"city": "Paris", "days": 3}, "id": "call_1"}],
        usage_metadata={"input_tokens": 12, "output_tokens": 7, "total_tokens": 19},
        response_metadata={"model_name": "m1", "finish_reason": "tool_calls", "logprobs": None},
        additional_kwargs={"refusal": None},
    )
    return [
        ChatGeneration(
            message=message, generation_info={"finish_reason": "tool_calls", "n": [1, 2]}
        ),
        Generation(text="plain", generation_info={"reason": "test"}),
    ]


def test_exported_names() -> None:
    assert langchain_semcache.__all__ == sorted(langchain_semcache.__all__)
    assert set(langchain_semcache.__all__) == {"SemcacheCache", "__version__"}


def test_rich_generations_come_back_equal(backend: SemcacheCache) -> None:
    prompt = chat(HumanMessage("What is the weather in Paris?"))
    stored = rich_generations()
    backend.update(prompt, LLM, stored)
    got = backend.lookup(prompt, LLM)
    assert got == stored
    assert got is not None
    first = got[0]
    assert isinstance(first, ChatGeneration)
    assert isinstance(first.message, AIMessage)
    assert first.message.tool_calls[0]["args"] == {"city": "Paris", "days": 3}
    assert first.message.usage_metadata == {
        "input_tokens": 12,
        "output_tokens": 7,
        "total_tokens": 19,
    }
    assert first.message.response_metadata["finish_reason"] == "tool_calls"
    assert type(got[1]) is Generation


async def test_rich_generations_come_back_equal_async(backend: SemcacheCache) -> None:
    prompt = chat(HumanMessage("What is the weather in Paris?"))
    stored = rich_generations()
    await backend.aupdate(prompt, LLM, stored)
    assert await backend.alookup(prompt, LLM) == stored
    assert backend.lookup(prompt, LLM) == stored  # sync and async share entries


def test_hits_are_fresh_copies(backend: SemcacheCache) -> None:
    backend.update("hello there", LLM, [Generation(text="hi", generation_info={"k": [1]})])
    got = backend.lookup("hello there", LLM)
    assert got is not None and got[0].generation_info is not None
    got[0].generation_info["k"].append(2)
    assert backend.lookup("hello there", LLM) == [Generation(text="hi", generation_info={"k": [1]})]


def test_llm_string_is_part_of_the_namespace(backend: SemcacheCache) -> None:
    backend.update("What is the capital of France?", LLM, [Generation(text="Paris")])
    other = LLM.replace("0.0", "0.7")
    assert backend.lookup("What is the capital of France?", other) is None
    assert backend.lookup("What is the capital of France?", LLM) == [Generation(text="Paris")]


def test_backend_namespace_isolates(semantic: SemanticCache) -> None:
    a, b = (
        SemcacheCache(semantic, namespace="tenant-a"),
        SemcacheCache(semantic, namespace="tenant-b"),
    )
    a.update("What is the capital of France?", LLM, [Generation(text="Paris")])
    assert b.lookup("What is the capital of France?", LLM) is None
    assert a.lookup("What is the capital of France?", LLM) == [Generation(text="Paris")]


def test_plain_prompt_matches_semantically(backend: SemcacheCache, semantic: SemanticCache) -> None:
    backend.update(
        "Tell me about the types of snakes found in Europe", LLM, [Generation(text="Vipers...")]
    )
    got = backend.lookup("Tell me about the types of snakes found in Europe please", LLM)
    assert got == [Generation(text="Vipers...")]
    assert semantic.stats().semantic_hits == 1


def test_chat_embeds_only_the_latest_human_message(
    backend: SemcacheCache, semantic: SemanticCache
) -> None:
    history = (
        SystemMessage("You are a helpful zoologist."),
        HumanMessage("Tell me about snakes."),
        AIMessage("Snakes are elongated, legless reptiles."),
    )
    backend.update(
        chat(*history, HumanMessage("What are the types of snakes found in Europe?")),
        LLM,
        [Generation(text="Vipers and grass snakes.")],
    )
    key = make_key(
        chat(*history, HumanMessage("What are the types of snakes found in Europe?")), LLM
    )
    assert key.text == "What are the types of snakes found in Europe?"
    # A near-paraphrase of the follow-up in the same conversation hits semantically.
    got = backend.lookup(
        chat(*history, HumanMessage("What are the types of snakes found in Europe, please?")), LLM
    )
    assert got == [Generation(text="Vipers and grass snakes.")]
    assert semantic.stats().semantic_hits == 1


def test_same_follow_up_in_another_conversation_misses(backend: SemcacheCache) -> None:
    python = chat(
        HumanMessage("Tell me about Python."),
        AIMessage("Python is a programming language."),
        HumanMessage("What are its types?"),
    )
    snakes = chat(
        HumanMessage("Tell me about snakes."),
        AIMessage("Snakes are legless reptiles."),
        HumanMessage("What are its types?"),
    )
    backend.update(python, LLM, [Generation(text="int, str, list...")])
    assert backend.lookup(snakes, LLM) is None
    assert backend.lookup(python, LLM) == [Generation(text="int, str, list...")]


def test_system_prompt_and_tool_results_are_context(backend: SemcacheCache) -> None:
    base = chat(SystemMessage("Answer in English."), HumanMessage("Say hello."))
    backend.update(base, LLM, [Generation(text="Hello")])
    assert (
        backend.lookup(chat(SystemMessage("Answer in French."), HumanMessage("Say hello.")), LLM)
        is None
    )
    assert backend.lookup(chat(HumanMessage("Say hello.")), LLM) is None
    with_tool = chat(
        SystemMessage("Answer in English."),
        HumanMessage("Say hello."),
        AIMessage("", tool_calls=[{"name": "greet", "args": {}, "id": "c1"}]),
        ToolMessage("hello!", tool_call_id="c1"),
    )
    assert backend.lookup(with_tool, LLM) is None
    assert backend.lookup(base, LLM) == [Generation(text="Hello")]


def test_metadata_the_model_never_sees_is_not_context(backend: SemcacheCache) -> None:
    def conversation(meta: dict[str, object]) -> str:
        return chat(
            HumanMessage("Tell me about Python."),
            AIMessage(
                "Python is a language.",
                response_metadata=meta,
                usage_metadata={"input_tokens": 1, "output_tokens": 2, "total_tokens": 3},
            ),
            HumanMessage("What are its types?"),
        )

    backend.update(conversation({"created": 1}), LLM, [Generation(text="int, str")])
    assert backend.lookup(conversation({"created": 2}), LLM) == [Generation(text="int, str")]


def test_human_message_without_text_hits_only_exactly(backend: SemcacheCache) -> None:
    def image(url: str) -> str:
        return chat(HumanMessage(content=[{"type": "image_url", "image_url": {"url": url}}]))

    backend.update(image("https://example.com/cat.png"), LLM, [Generation(text="A cat.")])
    assert backend.lookup(image("https://example.com/cat.png"), LLM) == [Generation(text="A cat.")]
    assert backend.lookup(image("https://example.com/dog.png"), LLM) is None


def test_image_is_context_of_the_text_beside_it(backend: SemcacheCache) -> None:
    def ask(url: str) -> str:
        return chat(
            HumanMessage(
                content=[
                    {"type": "text", "text": "What animal is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ]
            )
        )

    backend.update(ask("https://example.com/cat.png"), LLM, [Generation(text="A cat.")])
    assert make_key(ask("https://example.com/cat.png"), LLM).text == "What animal is this?"
    assert backend.lookup(ask("https://example.com/dog.png"), LLM) is None
    assert backend.lookup(ask("https://example.com/cat.png"), LLM) == [Generation(text="A cat.")]


@pytest.mark.parametrize(
    "prompt", ["", "   ", "[1, 2]", "[not json", chat(SystemMessage("Only a system prompt."))]
)
def test_odd_prompts_round_trip_exactly(backend: SemcacheCache, prompt: str) -> None:
    backend.update(prompt, LLM, [Generation(text="ok")])
    assert backend.lookup(prompt, LLM) == [Generation(text="ok")]
    assert backend.lookup(prompt + " something else entirely", LLM) is None


def test_clear_removes_only_what_this_backend_wrote(semantic: SemanticCache) -> None:
    semantic.put("unrelated entry", "kept", namespace="someone-else")
    backend = SemcacheCache(semantic)
    backend.update("What is the capital of France?", LLM, [Generation(text="Paris")])
    backend.update(chat(HumanMessage("Hi")), LLM, [Generation(text="Hello")])
    backend.clear()
    assert backend.lookup("What is the capital of France?", LLM) is None
    assert backend.lookup(chat(HumanMessage("Hi")), LLM) is None
    hit = semantic.get("unrelated entry", namespace="someone-else")
    assert hit is not None and hit.response == "kept"


async def test_aclear_removes_only_what_this_backend_wrote(semantic: SemanticCache) -> None:
    await semantic.aput("unrelated entry", "kept", namespace="someone-else")
    backend = SemcacheCache(semantic)
    await backend.aupdate("What is the capital of France?", LLM, [Generation(text="Paris")])
    await backend.aclear()
    assert await backend.alookup("What is the capital of France?", LLM) is None
    assert await semantic.aget("unrelated entry", namespace="someone-else") is not None


def test_ttl_is_passed_to_the_cache() -> None:
    now = [1000.0]
    semantic = SemanticCache(HashingEmbedder(dim=64), threshold=0.6, timer=lambda: now[0])
    backend = SemcacheCache(semantic, ttl=10)
    backend.update("What is the capital of France?", LLM, [Generation(text="Paris")])
    now[0] += 9
    assert backend.lookup("What is the capital of France?", LLM) is not None
    now[0] += 2
    assert backend.lookup("What is the capital of France?", LLM) is None


def test_clear_one_llm_string(backend: SemcacheCache) -> None:
    other = LLM.replace("m1", "m2")
    backend.update("What is the capital of France?", LLM, [Generation(text="Paris")])
    backend.update("What is the capital of France?", other, [Generation(text="Paris!")])
    backend.clear(llm_string=other)
    assert backend.lookup("What is the capital of France?", other) is None
    assert backend.lookup("What is the capital of France?", LLM) == [Generation(text="Paris")]


def test_clear_rejects_unknown_arguments(backend: SemcacheCache) -> None:
    with pytest.raises(ArgumentTypeError, match=r"accepts only llm_string=\.\.\., got namespace"):
        backend.clear(namespace="x")
    with pytest.raises(TypeError, match="llm_string must be a str or None, got int 3"):
        backend.clear(llm_string=3)


def test_bad_arguments_say_what_was_expected(semantic: SemanticCache) -> None:
    with pytest.raises(TypeError, match=r"semcache\.SemanticCache or None, got dict"):
        SemcacheCache({})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="namespace must be a str, got int"):
        SemcacheCache(semantic, namespace=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ttl must be a finite number of seconds > 0, got 0"):
        SemcacheCache(semantic, ttl=0)
    with pytest.raises(TypeError, match="ttl must be None or a number of seconds, got str"):
        SemcacheCache(semantic, ttl="1")  # type: ignore[arg-type]
    backend = SemcacheCache(semantic)
    with pytest.raises(TypeError, match="return_val must be a list of Generation, got str"):
        backend.update("p", LLM, "text")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="got an item dict"):
        backend.update("p", LLM, [{"text": "x"}])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="prompt must be a str, got NoneType"):
        backend.lookup(None, LLM)  # type: ignore[arg-type]


def test_unserialisable_generation_is_not_cached(
    backend: SemcacheCache, caplog: pytest.LogCaptureFixture
) -> None:
    generation = Generation(text="x", generation_info={"handle": object()})
    with caplog.at_level(logging.WARNING, logger="langchain_semcache"):
        backend.update("some prompt", LLM, [generation])
    assert "cannot serialise" in caplog.text
    assert backend.lookup("some prompt", LLM) is None


@pytest.mark.parametrize(
    "stored",
    [
        '{"lc": 1, "type": "constructor", "id": ["os", "system"], "kwargs": {}}',
        dumps([Document(page_content="a core class, but not a generation")]),
        "not json at all",
        '{"a": "dict"}',
    ],
)
def test_entry_that_is_not_generations_is_a_miss_and_dropped(
    backend: SemcacheCache,
    semantic: SemanticCache,
    caplog: pytest.LogCaptureFixture,
    stored: str,
) -> None:
    key = make_key("some prompt", LLM)
    semantic.put(key.text, stored, namespace=key.namespace)
    with caplog.at_level(logging.WARNING, logger="langchain_semcache"):
        assert backend.lookup("some prompt", LLM) is None
    assert "dropped" in caplog.text
    assert semantic.get(key.text, namespace=key.namespace) is None


class SlowEmbedder:
    """A HashingEmbedder that takes 0.2 s per call, like a model on a busy CPU."""

    def __init__(self) -> None:
        self._inner = HashingEmbedder(dim=64)

    @property
    def dim(self) -> int:
        return self._inner.dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(0.2)
        return self._inner.embed(texts)


async def test_async_calls_do_not_block_the_event_loop() -> None:
    backend = SemcacheCache(SemanticCache(SlowEmbedder(), threshold=0.6))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await backend.aupdate("first question", LLM, [Generation(text="a")])
    assert await backend.alookup("second question", LLM) is None  # embeds: a miss
    task.cancel()
    assert ticks >= 10  # 0.4 s of embedding; a blocked loop would tick about once


@pytest.mark.parametrize("wrap", [lambda t: t, lambda t: chat(HumanMessage(t))])
def test_text_with_a_lone_surrogate_hits_only_exactly(backend: SemcacheCache, wrap) -> None:  # type: ignore[no-untyped-def]
    """Text that does not encode as UTF-8 (e.g. JSON's "\\ud800") is cached, never raised
    on: only its exact repeat hits, as for a prompt with no text."""
    prompt = wrap("What is the capital of France? \ud800")
    backend.update(prompt, LLM, [Generation(text="Paris.")])
    assert backend.lookup(prompt, LLM) == [Generation(text="Paris.")]
    assert backend.lookup(wrap("What is the capital of France? \ud801"), LLM) is None
    assert backend.lookup(wrap("What is the capital of France?"), LLM) is None
