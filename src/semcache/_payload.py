"""Encoding of responses and metadata: str and bytes as they are, the rest as JSON.

JSON, never pickle: whatever is read back (from memory or, later, a shared
store) can only ever be data. Values are decoded afresh on every hit, so a
caller that mutates what it got cannot change what is cached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from ._errors import ArgumentTypeError, InvalidResponseError, describe, encodes_utf8

__all__ = ["Kind", "decode", "decode_metadata", "encode", "encode_metadata"]

Kind = Literal["s", "b", "j"]


def encode(response: object) -> tuple[Kind, str | bytes]:
    """(kind, data): ``s`` for str, ``b`` for bytes, ``j`` for JSON text of anything else
    (a str that does not encode as UTF-8, e.g. with a lone surrogate, included)."""
    if isinstance(response, str):
        if encodes_utf8(response):
            return "s", response
        return "j", json.dumps(response)  # a lone surrogate kept as its JSON escape ("\\ud800")
    if isinstance(response, bytes | bytearray | memoryview):
        return "b", bytes(response)
    try:
        return "j", _json(response)
    except (TypeError, ValueError) as exc:
        raise InvalidResponseError(
            f"response must be str, bytes or a JSON-serialisable value, got {describe(response)}: {exc}"
        ) from exc


def _json(value: object) -> str:
    """Compact JSON text of ``value``; a lone surrogate in it (a half of a UTF-16 pair, which
    UTF-8 cannot carry) is written as its escape, so that it comes back as it went in."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    if encodes_utf8(text):
        return text
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def decode(kind: str, data: str | bytes) -> Any:
    """The response that ``encode`` turned into (kind, data)."""
    if kind in {"s", "b"}:
        return data
    return json.loads(data)


def encode_metadata(metadata: object) -> str | None:
    """JSON text of a str-keyed mapping, or None."""
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise ArgumentTypeError(f"metadata must be a mapping or None, got {describe(metadata)}")
    try:
        return _json(dict(metadata))
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"metadata must be JSON-serialisable, got {describe(metadata)}: {exc}") from exc


def decode_metadata(text: str | None) -> dict[str, Any] | None:
    """The mapping that ``encode_metadata`` turned into text."""
    return None if text is None else json.loads(text)  # type: ignore[no-any-return]
