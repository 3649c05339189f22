"""From ``chat.completions.create(**kwargs)`` to a cache plan: pure, no I/O.

The rules (also in docs/openai.md):

* Bypass (no lookup, no store) when ``n`` is above ``max_n`` (default 1),
  when ``temperature`` is above ``max_temperature`` (default 1.0; a request
  without one counts as 1.0, OpenAI's default), when a parameter cannot be
  written as JSON, or when the request holds text that does not encode as
  UTF-8 (a lone surrogate): the client then reports what it cannot send.
* The namespace is a hash of the wrapper's own namespace, every request
  parameter except ``messages``, ``stream``, ``stream_options`` and the
  ignored ones (``DEFAULT_IGNORED_PARAMS``: transport and bookkeeping
  parameters that do not change the answer), and the conversation context.
  Unknown or future parameters are in the namespace: a deny rule, so a new
  answer-changing parameter can only cost hits, never serve a wrong answer.
* The text matched semantically is the text of the latest ``user`` message.
  The context holds everything else: system/developer messages, earlier
  turns, messages after that user message (tool results), and the non-text
  parts (images, audio, files) of the user message itself. ``None`` fields of
  a message are dropped, so a message built as a dict and the same message
  taken from a response object give one namespace.
* When there is no user text (no user message, or only an image), a fixed
  marker is matched and the whole conversation is the context: exact repeats
  only.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from openai import NotGiven, Omit
from pydantic import BaseModel

from semcache.normalize import encodes_utf8

__all__ = ["DEFAULT_IGNORED_PARAMS", "NAMESPACE_PREFIX", "Plan", "Policy", "plan_request"]

NAMESPACE_PREFIX = "openai:"
_VERSION = b"semcache-openai/1"
_NO_TEXT = "[no text to match]"
_DEFAULT_TEMPERATURE = 1.0  # OpenAI's default when a request gives none

#: Parameters left out of the namespace: they change how a request travels or
#: is billed and logged, not the answer. ``user`` and ``safety_identifier`` are
#: end-user ids for abuse monitoring; use ``namespace=`` to keep tenants apart.
DEFAULT_IGNORED_PARAMS: frozenset[str] = frozenset(
    {
        "extra_headers",
        "extra_query",
        "metadata",
        "prompt_cache_key",
        "prompt_cache_options",
        "prompt_cache_retention",
        "safety_identifier",
        "service_tier",
        "store",
        "timeout",
        "user",
    }
)
# Handled by the wrapper itself, never part of the namespace.
_HANDLED = frozenset({"messages", "stream", "stream_options"})


@dataclass(frozen=True, slots=True)
class Policy:
    """What the wrapper caches and how requests map to namespaces."""

    namespace: str = ""
    max_temperature: float | None = 1.0
    max_n: int = 1
    ignored_params: frozenset[str] = DEFAULT_IGNORED_PARAMS
    ttl: float | None = None


@dataclass(frozen=True, slots=True)
class Plan:
    """How one cacheable request is looked up and stored."""

    text: str
    namespace: str
    stream: bool
    include_usage: bool


def _materialise(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments to send: NOT_GIVEN/omit dropped, one-shot iterators made lists.

    ``messages`` and ``tools`` may be generators; the wrapper reads them to
    build the namespace, so it forwards lists, never a spent iterator.
    """
    out: dict[str, Any] = {}
    for name, value in kwargs.items():
        if isinstance(value, NotGiven | Omit):
            continue
        out[name] = list(value) if isinstance(value, Iterator) else value
    return out


def _plain(value: Any) -> Any:
    """JSON-ready form of a request value; pydantic models (response messages) as dicts."""
    if isinstance(value, BaseModel):
        return _plain(value.model_dump(mode="json", exclude_none=True))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _message(message: Any) -> Any:
    """A message as a dict without ``None`` fields (None means absent to the API)."""
    plain = _plain(message)
    if isinstance(plain, dict):
        return {k: v for k, v in plain.items() if v is not None}
    return plain


def _canonical(value: object) -> str:
    return json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def _digest(*parts: str) -> str:
    h = hashlib.blake2b(_VERSION, digest_size=16)
    for part in parts:
        data = part.encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def _split_content(content: object) -> tuple[str, list[Any]]:
    """(text of a message's content, its non-text parts)."""
    if isinstance(content, str):
        return content, []
    if content is None:
        return "", []
    texts: list[str] = []
    other: list[Any] = []
    for part in content if isinstance(content, list) else [content]:
        if (
            isinstance(part, dict)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        ):
            texts.append(part["text"])
        else:
            other.append(part)
    return "\n".join(texts), other


def _text_and_context(messages: list[Any]) -> tuple[str, object]:
    latest = next(
        (
            i
            for i in range(len(messages) - 1, -1, -1)
            if isinstance(messages[i], dict) and messages[i].get("role") == "user"
        ),
        None,
    )
    if latest is None:
        return _NO_TEXT, {"messages": messages}
    user = dict(messages[latest])
    text, other = _split_content(user.pop("content", None))
    context = {
        "before": messages[:latest],
        "user": {**user, "content": other},
        "after": messages[latest + 1 :],
    }
    return (text if text.strip() else _NO_TEXT), context


def plan_request(kwargs: Mapping[str, Any], policy: Policy) -> tuple[dict[str, Any], Plan | str]:
    """(the arguments to send, the cache plan or the reason the request bypasses the cache)."""
    sent = _materialise(kwargs)
    n = sent.get("n")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int)):
        return sent, f"n must be an int, got {type(n).__name__}"
    if n is not None and n > policy.max_n:
        return sent, f"n={n} is above max_n={policy.max_n}"
    temperature = sent.get("temperature")
    if temperature is None:
        temperature = _DEFAULT_TEMPERATURE
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        return sent, f"temperature must be a number, got {type(temperature).__name__}"
    if policy.max_temperature is not None and temperature > policy.max_temperature:
        return sent, f"temperature={temperature} is above max_temperature={policy.max_temperature}"
    messages = sent.get("messages")
    if not isinstance(messages, list):
        return sent, f"messages must be a list, got {type(messages).__name__}"
    params = {k: v for k, v in sent.items() if k not in _HANDLED and k not in policy.ignored_params}
    text, context = _text_and_context([_message(m) for m in messages])
    try:
        params_json = _canonical(_plain(params))
        context_json = _canonical(context)
    except (TypeError, ValueError) as exc:
        return sent, f"a parameter cannot be written as JSON ({exc})"
    if not (encodes_utf8(text) and encodes_utf8(params_json) and encodes_utf8(context_json)):
        return sent, "the request holds text that does not encode as UTF-8 (a lone surrogate)"
    stream_options = sent.get("stream_options")
    include_usage = isinstance(stream_options, Mapping) and bool(
        stream_options.get("include_usage")
    )
    namespace = NAMESPACE_PREFIX + _digest(policy.namespace, params_json, context_json)
    return sent, Plan(
        text=text,
        namespace=namespace,
        stream=sent.get("stream") is True,
        include_usage=include_usage,
    )
