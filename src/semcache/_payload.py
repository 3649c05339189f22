"""Encoding of responses and metadata: str and bytes as they are, the rest as JSON.

JSON, never pickle: whatever is read back (from memory or, later, a shared
store) can only ever be data. Values are decoded afresh on every hit, so a
caller that mutates what it got cannot change what is cached.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

from ._errors import ArgumentTypeError, InvalidResponseError, check_utf8, describe

__all__ = ["Kind", "decode", "decode_metadata", "encode", "encode_metadata"]

Kind = Literal["s", "b", "j"]


def encode(response: object) -> tuple[Kind, str | bytes]:
    """(kind, data): ``s`` for str, ``b`` for bytes, ``j`` for JSON text of anything else."""
    if isinstance(response, str):
        return "s", check_utf8(response, "response", InvalidResponseError)
    if isinstance(response, bytes | bytearray | memoryview):
        return "b", bytes(response)
    try:
        text = json.dumps(response, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidResponseError(
            f"response must be str, bytes or a JSON-serialisable value, got {describe(response)}: {exc}"
        ) from exc
    return "j", check_utf8(text, "response (as JSON)", InvalidResponseError)


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
        text = json.dumps(dict(metadata), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ArgumentTypeError(f"metadata must be JSON-serialisable, got {describe(metadata)}: {exc}") from exc
    return check_utf8(text, "metadata (as JSON)", ArgumentTypeError)


def decode_metadata(text: str | None) -> dict[str, Any] | None:
    """The mapping that ``encode_metadata`` turned into text."""
    return None if text is None else json.loads(text)  # type: ignore[no-any-return]
