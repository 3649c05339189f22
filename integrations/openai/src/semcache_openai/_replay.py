"""Stored answers and OpenAI objects: what is stored, and what a hit looks like.

Pure functions, no I/O. An answer is stored as the JSON of the ChatCompletion
(``to_dict(mode="json")``), or, for a streamed miss, of the ChatCompletion the
chunks add up to. A hit is a real ``ChatCompletion`` (or a list of
``ChatCompletionChunk`` to replay) carrying a ``semcache`` field, with an id
starting ``semcache-``, ``created`` set to now and zero token usage, since the
hit cost no tokens.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from openai.types.chat import ChatCompletion, ChatCompletionChunk

from semcache import Hit

__all__ = [
    "ID_PREFIX",
    "CacheInfo",
    "StreamAssembler",
    "cache_info",
    "check_payload",
    "chunks_from_hit",
    "completion_from_hit",
    "payload_of",
]

ID_PREFIX = "semcache-"
_FIELD = "semcache"
# A choice that ended so is not stored: the same request may well pass next time.
_NOT_STORED_FINISH = frozenset({"content_filter"})


@dataclass(frozen=True, slots=True)
class CacheInfo:
    """Why a response was served from the cache."""

    exact: bool
    score: float
    entry_id: str
    original_id: str


def cache_info(response: object) -> CacheInfo | None:
    """How ``response`` (a ChatCompletion or chunk) came from the cache; None if it did not."""
    info = getattr(response, _FIELD, None)
    if not isinstance(info, Mapping):
        return None
    return CacheInfo(
        exact=bool(info.get("exact")),
        score=float(info.get("score", 0.0)),
        entry_id=str(info.get("entry_id", "")),
        original_id=str(info.get("original_id", "")),
    )


def _storable(choices: object) -> bool:
    return (
        isinstance(choices, list)
        and bool(choices)
        and all(
            isinstance(c, Mapping)
            and c.get("finish_reason") is not None
            and c.get("finish_reason") not in _NOT_STORED_FINISH
            for c in choices
        )
    )


def payload_of(response: object) -> dict[str, Any] | None:
    """The JSON to store for a ChatCompletion, or None when it should not be stored."""
    if not isinstance(response, ChatCompletion) or cache_info(response) is not None:
        return None
    payload = response.to_dict(mode="json")
    return check_payload(payload)


def check_payload(value: object) -> dict[str, Any] | None:
    """A stored value if it has the shape of a stored ChatCompletion, else None."""
    if isinstance(value, dict) and _storable(value.get("choices")):
        return value
    return None


def _hit_fields(payload: Mapping[str, Any], hit: Hit) -> dict[str, Any]:
    original_id = str(payload.get("id", ""))
    return {
        "id": ID_PREFIX + original_id,
        "created": int(time.time()),
        "model": payload.get("model", ""),
        "system_fingerprint": payload.get("system_fingerprint"),
        _FIELD: {
            "hit": True,
            "exact": hit.exact,
            "score": hit.score,
            "entry_id": hit.entry_id,
            "original_id": original_id,
        },
    }


def _zero_usage() -> dict[str, int]:
    return {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def completion_from_hit(payload: Mapping[str, Any], hit: Hit) -> ChatCompletion:
    """The ChatCompletion a hit is served as."""
    data = {
        **payload,
        **_hit_fields(payload, hit),
        "object": "chat.completion",
        "usage": _zero_usage(),
    }
    return ChatCompletion.construct(**data)


def chunks_from_hit(
    payload: Mapping[str, Any], hit: Hit, *, include_usage: bool
) -> list[ChatCompletionChunk]:
    """The chunks a hit is replayed as when the request asked for ``stream=True``.

    Per choice: the role, the content (with its logprobs), the refusal, each
    tool call whole, then the finish reason; last, when the request asked for
    ``stream_options={"include_usage": True}``, a usage chunk with no choices.
    """
    base = {**_hit_fields(payload, hit), "object": "chat.completion.chunk"}
    if include_usage:
        base["usage"] = None
    deltas: list[dict[str, Any]] = []
    for choice in payload["choices"]:
        index = choice.get("index", 0)
        message = choice.get("message") or {}

        def delta(body: dict[str, Any], index: int = index, **extra: Any) -> None:
            deltas.append({"index": index, "delta": body, "finish_reason": None, **extra})

        first: dict[str, Any] = {"role": message.get("role", "assistant"), "content": ""}
        if message.get("audio") is not None:
            first["audio"] = message["audio"]
        delta(first)
        logprobs = choice.get("logprobs")
        if message.get("content"):
            delta({"content": message["content"]}, logprobs=logprobs)
            logprobs = None
        if message.get("refusal"):
            delta({"refusal": message["refusal"]}, logprobs=logprobs)
        for position, call in enumerate(message.get("tool_calls") or []):
            delta({"tool_calls": [{"index": position, **call}]})
        if message.get("function_call"):
            delta({"function_call": message["function_call"]})
        deltas.append({"index": index, "delta": {}, "finish_reason": choice.get("finish_reason")})
    chunks = [ChatCompletionChunk.construct(**base, choices=[d]) for d in deltas]
    if include_usage:
        chunks.append(ChatCompletionChunk.construct(**{**base, "usage": _zero_usage()}, choices=[]))
    return chunks


class _ChoiceParts:
    __slots__ = (
        "content",
        "finish_reason",
        "function_call",
        "logprobs",
        "refusal",
        "role",
        "tools",
    )

    def __init__(self) -> None:
        self.role = "assistant"
        self.content: list[str] = []
        self.refusal: list[str] = []
        self.tools: dict[int, dict[str, Any]] = {}
        self.function_call: dict[str, str] | None = None
        self.logprobs: dict[str, list[Any]] | None = None
        self.finish_reason: str | None = None


class StreamAssembler:
    """Adds up the chunks of a streamed answer into the ChatCompletion they make."""

    def __init__(self) -> None:
        self._meta: dict[str, Any] = {}
        self._choices: dict[int, _ChoiceParts] = {}
        self._usage: Any = None
        self._unsupported = False

    def add(self, chunk: object) -> None:
        """Take one chunk, as the stream yields it."""
        if not isinstance(chunk, ChatCompletionChunk):
            self._unsupported = True
            return
        data: dict[str, Any] = chunk.to_dict(mode="json")
        for name in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if data.get(name) is not None and name not in self._meta:
                self._meta[name] = data[name]
        if data.get("usage") is not None:
            self._usage = data["usage"]
        for choice in data.get("choices") or []:
            self._add_choice(choice)

    def _add_choice(self, choice: Mapping[str, Any]) -> None:
        parts = self._choices.setdefault(int(choice.get("index", 0)), _ChoiceParts())
        delta = choice.get("delta") or {}
        if delta.get("role"):
            parts.role = delta["role"]
        if delta.get("content"):
            parts.content.append(delta["content"])
        if delta.get("refusal"):
            parts.refusal.append(delta["refusal"])
        if delta.get("audio") is not None:
            self._unsupported = True  # audio answers arrive in pieces we do not reassemble
        for call in delta.get("tool_calls") or []:
            tool = parts.tools.setdefault(
                int(call.get("index", 0)),
                {"id": None, "type": "function", "name": [], "arguments": []},
            )
            if call.get("id"):
                tool["id"] = call["id"]
            if call.get("type"):
                tool["type"] = call["type"]
            function = call.get("function") or {}
            if function.get("name"):
                tool["name"].append(function["name"])
            if function.get("arguments"):
                tool["arguments"].append(function["arguments"])
        if delta.get("function_call"):
            fc = parts.function_call or {"name": "", "arguments": ""}
            fc["name"] += delta["function_call"].get("name") or ""
            fc["arguments"] += delta["function_call"].get("arguments") or ""
            parts.function_call = fc
        logprobs = choice.get("logprobs")
        if logprobs:
            merged = parts.logprobs or {}
            for key in ("content", "refusal"):
                if logprobs.get(key):
                    merged.setdefault(key, []).extend(logprobs[key])
            parts.logprobs = merged
        if choice.get("finish_reason"):
            parts.finish_reason = choice["finish_reason"]

    def result(self) -> dict[str, Any] | None:
        """The ChatCompletion JSON the chunks make, or None if it should not be stored."""
        if self._unsupported:
            return None
        choices = []
        for index in sorted(self._choices):
            parts = self._choices[index]
            message: dict[str, Any] = {
                "role": parts.role,
                "content": "".join(parts.content) if parts.content else None,
            }
            if parts.refusal:
                message["refusal"] = "".join(parts.refusal)
            if parts.tools:
                message["tool_calls"] = [
                    {
                        "id": t["id"],
                        "type": t["type"],
                        "function": {
                            "name": "".join(t["name"]),
                            "arguments": "".join(t["arguments"]),
                        },
                    }
                    for _, t in sorted(parts.tools.items())
                ]
            if parts.function_call is not None:
                message["function_call"] = parts.function_call
            choices.append(
                {
                    "index": index,
                    "message": message,
                    "finish_reason": parts.finish_reason,
                    "logprobs": parts.logprobs,
                }
            )
        if not _storable(choices):
            return None
        payload = {**self._meta, "object": "chat.completion", "choices": choices}
        if self._usage is not None:
            payload["usage"] = self._usage
        return payload
