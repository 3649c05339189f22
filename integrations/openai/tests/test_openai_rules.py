"""What goes into the namespace, what bypasses the cache, and the options of cached()."""

from __future__ import annotations

import os
import traceback
from typing import Any

import pytest
from openai import NOT_GIVEN, OpenAI
from openai_fake_server import FakeOpenAI
from semcache_openai import DEFAULT_IGNORED_PARAMS, cache_info, cached
from semcache_openai._request import Policy, plan_request

import semcache
from semcache import HashingEmbedder, SemanticCache

MODEL = "gpt-test"
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]


def ask(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "messages": [{"role": "user", "content": text}], **extra}


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-other"},
        {"temperature": 0.2},
        {"top_p": 0.5},
        {"seed": 7},
        {"stop": ["\n"]},
        {"max_tokens": 16},
        {"max_completion_tokens": 16},
        {"tools": TOOLS},
        {"tool_choice": "none"},
        {"response_format": {"type": "json_object"}},
        {"presence_penalty": 0.5},
        {"logit_bias": {"50256": -100}},
        {"reasoning_effort": "low"},
        {"extra_body": {"top_k": 5}},
        {"some_future_parameter": True},  # unknown parameters count too
    ],
)
def test_answer_changing_parameters_are_in_the_namespace(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache, change: dict[str, Any]
) -> None:
    wrapped = cached(client, semantic)
    wrapped.chat.completions.create(**ask("What is the capital of France?", temperature=0.0))
    request = {**ask("What is the capital of France?", temperature=0.0), **change}
    if "some_future_parameter" in change:
        request["extra_body"] = {"some_future_parameter": True}
        del request["some_future_parameter"]
    response = wrapped.chat.completions.create(**request)
    assert cache_info(response) is None
    assert server.calls == 2


@pytest.mark.parametrize(
    "change",
    [
        {"user": "end-user-42"},
        {"metadata": {"trace": "abc"}},
        {"timeout": 30.0},
        {"extra_headers": {"X-Trace": "abc"}},
        {"service_tier": "auto"},
        {"prompt_cache_key": "k1"},
        {"stream_options": {"include_usage": True}},
        {"temperature": NOT_GIVEN},
    ],
)
def test_ignored_parameters_still_hit(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache, change: dict[str, Any]
) -> None:
    wrapped = cached(client, semantic)
    wrapped.chat.completions.create(**ask("What is the capital of France?"))
    response = wrapped.chat.completions.create(**ask("What is the capital of France?", **change))
    assert cache_info(response) is not None
    assert server.calls == 1


def test_ignored_params_can_be_chosen(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic, ignored_params=DEFAULT_IGNORED_PARAMS - {"user"} | {"seed"})
    wrapped.chat.completions.create(**ask("Hello", user="a", seed=1))
    assert cache_info(wrapped.chat.completions.create(**ask("Hello", user="a", seed=2))) is not None
    assert cache_info(wrapped.chat.completions.create(**ask("Hello", user="b", seed=1))) is None


def conversation(subject: str, follow_up: str, system: str = "Be brief.") -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Tell me about {subject}."},
        {"role": "assistant", "content": f"{subject} is interesting."},
        {"role": "user", "content": follow_up},
    ]


def test_context_is_in_the_namespace(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    python = wrapped.chat.completions.create(
        model=MODEL, messages=conversation("Python", "What are its types?")
    )
    snakes = wrapped.chat.completions.create(
        model=MODEL, messages=conversation("snakes", "What are its types?")
    )
    assert cache_info(snakes) is None
    other_system = conversation("Python", "What are its types?", system="Answer in French.")
    assert cache_info(wrapped.chat.completions.create(model=MODEL, messages=other_system)) is None
    again = wrapped.chat.completions.create(
        model=MODEL, messages=conversation("Python", "What are its types?")
    )
    assert cache_info(again) is not None
    assert again.choices[0].message.content == python.choices[0].message.content
    assert server.calls == 3


def test_tool_results_after_the_user_message_are_context(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)

    def with_result(result: str) -> list[dict[str, Any]]:
        call = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}
        return [
            {"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": result},
        ]

    wrapped.chat.completions.create(model=MODEL, messages=with_result("sunny"))
    rainy = wrapped.chat.completions.create(model=MODEL, messages=with_result("rainy"))
    sunny = wrapped.chat.completions.create(model=MODEL, messages=with_result("sunny"))
    assert cache_info(rainy) is None and cache_info(sunny) is not None


def test_image_parts_are_context(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)

    def about(url: str) -> list[dict[str, Any]]:
        return [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What animal is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            }
        ]

    wrapped.chat.completions.create(model=MODEL, messages=about("https://example.com/cat.png"))
    dog = wrapped.chat.completions.create(
        model=MODEL, messages=about("https://example.com/dog.png")
    )
    cat = wrapped.chat.completions.create(
        model=MODEL, messages=about("https://example.com/cat.png")
    )
    assert cache_info(dog) is None and cache_info(cat) is not None


def test_no_user_message_hits_only_exactly(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    only_system = [{"role": "system", "content": "Say a greeting."}]
    wrapped.chat.completions.create(model=MODEL, messages=only_system)
    assert (
        cache_info(wrapped.chat.completions.create(model=MODEL, messages=only_system)) is not None
    )
    other = [{"role": "system", "content": "Say a farewell."}]
    assert cache_info(wrapped.chat.completions.create(model=MODEL, messages=other)) is None


@pytest.mark.parametrize(
    "request_",
    [
        ask("What is the capital of France? \ud800"),
        {**ask("Hello"), "messages": [{"role": "system", "content": "\udc00"}, {"role": "user", "content": "Hello"}]},
        ask("Hello", stop=["\ud800"]),
    ],
)
def test_text_with_a_lone_surrogate_bypasses_and_the_client_reports_it(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache, request_: dict[str, Any]
) -> None:
    """Text that does not encode as UTF-8 (e.g. JSON's "\\ud800") is not the cache's to
    judge: the request goes to the client as it came, and the client reports it."""
    _, plan = plan_request(request_, Policy())
    assert plan == "the request holds text that does not encode as UTF-8 (a lone surrogate)"  # bypassed
    wrapped = cached(client, semantic)
    with pytest.raises(UnicodeEncodeError) as raised:
        wrapped.chat.completions.create(**request_)
    assert any(f.filename.endswith("openai/_utils/_json.py") for f in traceback.extract_tb(raised.tb))
    core = os.path.dirname(semcache.__file__) + os.sep  # (the core library, wherever the checkout lies)
    assert not any(f.filename.startswith(core) for f in traceback.extract_tb(raised.tb))
    assert len(semantic) == 0 and server.calls == 0


def test_a_namespace_with_a_lone_surrogate_is_refused_up_front(client: OpenAI, semantic: SemanticCache) -> None:
    with pytest.raises(ValueError, match="namespace must be text that encodes as UTF-8, got a lone surrogate at index 1"):  # noqa: E501
        cached(client, semantic, namespace="t\ud800")


def test_namespace_option_isolates(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    a = cached(client, semantic, namespace="tenant-a")
    b = cached(client, semantic, namespace="tenant-b")
    a.chat.completions.create(**ask("Hello"))
    assert cache_info(b.chat.completions.create(**ask("Hello"))) is None
    assert cache_info(a.chat.completions.create(**ask("Hello"))) is not None


def test_n_above_one_bypasses(client: OpenAI, server: FakeOpenAI, semantic: SemanticCache) -> None:
    wrapped = cached(client, semantic)
    for _ in range(2):
        response = wrapped.chat.completions.create(**ask("Name a colour", n=3))
        assert len(response.choices) == 3 and cache_info(response) is None
    assert server.calls == 2 and len(semantic) == 0


def test_max_n_lets_several_choices_be_cached(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic, max_n=3)
    first = wrapped.chat.completions.create(**ask("Name a colour", n=3))
    again = wrapped.chat.completions.create(**ask("Name a colour", n=3))
    assert cache_info(again) is not None
    assert [c.message.content for c in again.choices] == [c.message.content for c in first.choices]
    streamed = list(wrapped.chat.completions.create(**ask("Name a colour", n=3, stream=True)))
    assert {c.choices[0].index for c in streamed} == {0, 1, 2}
    one = wrapped.chat.completions.create(**ask("Name a colour", n=1))
    assert cache_info(one) is None  # n is in the namespace
    assert server.calls == 2


@pytest.mark.parametrize("stream", [False, True])
def test_temperature_above_the_ceiling_bypasses(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache, stream: bool
) -> None:
    wrapped = cached(client, semantic)
    for _ in range(2):
        response = wrapped.chat.completions.create(
            **ask("Write a poem", temperature=1.4, stream=stream)
        )
        if stream:
            list(response)  # type: ignore[call-overload]
    assert server.calls == 2 and len(semantic) == 0


def test_temperature_ceiling_is_configurable(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    strict = cached(client, semantic, max_temperature=0.5)
    strict.chat.completions.create(**ask("Write a poem", temperature=0.7))
    strict.chat.completions.create(**ask("Write a poem"))  # no temperature: counts as 1.0
    assert len(semantic) == 0
    strict.chat.completions.create(**ask("Write a poem", temperature=0.5))
    assert len(semantic) == 1
    free = cached(client, semantic, max_temperature=None)
    free.chat.completions.create(**ask("Write a poem", temperature=1.9))
    assert (
        cache_info(free.chat.completions.create(**ask("Write a poem", temperature=1.9))) is not None
    )


def test_parameter_not_json_bypasses_and_the_client_reports_it(
    client: OpenAI, server: FakeOpenAI, semantic: SemanticCache
) -> None:
    wrapped = cached(client, semantic)
    with pytest.raises(ValueError, match="not JSON compliant"):  # raised by the openai client
        wrapped.chat.completions.create(**ask("Hello", temperature=float("nan")))
    assert len(semantic) == 0 and server.calls == 0


def test_options_are_checked(client: OpenAI, semantic: SemanticCache) -> None:
    with pytest.raises(
        TypeError, match=r"client must be an openai\.OpenAI or openai\.AsyncOpenAI, got str"
    ):
        cached("client", semantic)  # type: ignore[type-var]
    with pytest.raises(
        TypeError, match=r"cache must be a semcache\.SemanticCache or None, got dict"
    ):
        cached(client, {})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"max_temperature must be in \[0, 2\], got 3"):
        cached(client, semantic, max_temperature=3)
    with pytest.raises(ValueError, match="max_n must be >= 1, got 0"):
        cached(client, semantic, max_n=0)
    with pytest.raises(TypeError, match="ignored_params must be a collection of names, got str"):
        cached(client, semantic, ignored_params="user")
    with pytest.raises(TypeError, match="ignored_params must hold str names, got 1"):
        cached(client, semantic, ignored_params=[1])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="ttl must be a finite number of seconds > 0, got -1"):
        cached(client, semantic, ttl=-1)
    with pytest.raises(TypeError, match="namespace must be a str, got NoneType"):
        cached(client, semantic, namespace=None)  # type: ignore[arg-type]


def test_ttl_is_passed_to_the_cache(client: OpenAI, server: FakeOpenAI) -> None:
    now = [1000.0]
    semantic = SemanticCache(HashingEmbedder(dim=64), threshold=0.6, timer=lambda: now[0])
    wrapped = cached(client, semantic, ttl=10)
    wrapped.chat.completions.create(**ask("Hello"))
    now[0] += 9
    assert cache_info(wrapped.chat.completions.create(**ask("Hello"))) is not None
    now[0] += 2
    assert cache_info(wrapped.chat.completions.create(**ask("Hello"))) is None
    assert server.calls == 2
