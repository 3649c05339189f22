"""stream=True, sync: a streamed miss is stored whole; a hit replays as chunks."""

from __future__ import annotations

from typing import Any

from openai import OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai_fake_server import FakeOpenAI
from semcache_openai import cache_info, cached

from semcache import SemanticCache

MODEL = "gpt-test"
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


def text_of(chunks: list[ChatCompletionChunk]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_streamed_miss_is_stored_and_replayed(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    live = list(wrapped.chat.completions.create(**ask("Tell me a fact", stream=True)))
    assert all(isinstance(c, ChatCompletionChunk) for c in live)
    assert all(cache_info(c) is None for c in live)
    assert len(live) > 3  # the server sent it word by word
    expected = text_of(live)
    assert expected.startswith("Answer #1")

    completion = wrapped.chat.completions.create(**ask("Tell me a fact"))
    assert isinstance(completion, ChatCompletion)
    assert completion.choices[0].message.content == expected
    assert completion.choices[0].finish_reason == "stop"

    replay = list(wrapped.chat.completions.create(**ask("Tell me a fact", stream=True)))
    assert server.calls == 1
    assert all(isinstance(c, ChatCompletionChunk) for c in replay)
    assert text_of(replay) == expected
    assert replay[0].choices[0].delta.role == "assistant"
    assert replay[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in replay}) == 1  # one id per stream, as OpenAI sends
    assert replay[0].id.startswith("semcache-chatcmpl-1")
    info = cache_info(replay[0])
    assert info is not None and info.exact


def test_non_streamed_miss_replays_as_stream(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    completion = wrapped.chat.completions.create(**ask("Tell me a fact"))
    with wrapped.chat.completions.create(**ask("Tell me a fact", stream=True)) as stream:
        chunks = list(stream)
    assert server.calls == 1
    assert text_of(chunks) == completion.choices[0].message.content


def test_usage_chunk_when_asked(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    options = {"stream": True, "stream_options": {"include_usage": True}}
    live = list(wrapped.chat.completions.create(**ask("Tell me a fact", **options)))
    assert live[-1].usage is not None and live[-1].usage.total_tokens == 18
    replay = list(wrapped.chat.completions.create(**ask("Tell me a fact", **options)))
    assert server.calls == 1
    assert replay[-1].choices == []
    assert replay[-1].usage is not None and replay[-1].usage.total_tokens == 0
    assert all(c.usage is None for c in replay[:-1])
    # Without include_usage the replay has no usage chunk.
    plain = list(wrapped.chat.completions.create(**ask("Tell me a fact", stream=True)))
    assert all(c.choices for c in plain)


def test_streamed_tool_call_is_assembled(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    live = list(
        wrapped.chat.completions.create(**ask("Weather in Paris?", tools=TOOLS, stream=True))
    )
    arguments = "".join(
        c.choices[0].delta.tool_calls[0].function.arguments or ""  # type: ignore[index, union-attr]
        for c in live
        if c.choices and c.choices[0].delta.tool_calls
    )
    completion = wrapped.chat.completions.create(**ask("Weather in Paris?", tools=TOOLS))
    assert server.calls == 1
    call = completion.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.id == "call_1_0"
    assert call.function.name == "weather"  # type: ignore[union-attr]
    assert call.function.arguments == arguments == '{"q": "Weather in Paris?"}'  # type: ignore[union-attr]
    assert completion.choices[0].message.content is None
    assert completion.choices[0].finish_reason == "tool_calls"

    replay = list(
        wrapped.chat.completions.create(**ask("Weather in Paris?", tools=TOOLS, stream=True))
    )
    deltas = [c.choices[0].delta.tool_calls for c in replay if c.choices[0].delta.tool_calls]
    assert len(deltas) == 1 and deltas[0][0].function.arguments == arguments  # type: ignore[union-attr]
    assert replay[-1].choices[0].finish_reason == "tool_calls"


def test_abandoned_stream_stores_nothing(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    stream = wrapped.chat.completions.create(**ask("Tell me a long story", stream=True))
    next(iter(stream))
    stream.close()
    assert len(semantic) == 0
    wrapped.chat.completions.create(**ask("Tell me a long story"))
    assert server.calls == 2


def test_stream_closed_after_the_last_choice_finished_is_stored(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    with wrapped.chat.completions.create(**ask("Tell me a fact", stream=True)) as stream:
        for chunk in stream:
            if chunk.choices and chunk.choices[0].finish_reason:
                break  # stop reading at the finish, before [DONE]
    assert len(semantic) == 1


def test_stream_passes_through_attributes(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    stream = wrapped.chat.completions.create(**ask("Hello", stream=True))
    assert stream.response.status_code == 200
    list(stream)
