"""Prompt canonicalisation and exact-match keys.

Two prompts that differ only in Unicode form, letter case, runs of white space
or trailing ``?``/``.``/``!`` share one exact key, so the exact tier answers
them without embedding anything.
"""

from __future__ import annotations

import hashlib
import unicodedata

from ._errors import InvalidPromptError, check_text, encodes_utf8

__all__ = ["check_prompt", "encodes_utf8", "exact_key", "normalize"]

_TRAILING = "?.! \t\r\n\f\v"


def check_prompt(prompt: object, name: str = "prompt") -> str:
    """Return ``prompt`` if it is a non-blank str that encodes as UTF-8, else raise a clear error."""
    text = check_text(prompt, name, InvalidPromptError)
    if not text.strip():
        raise InvalidPromptError(f"{name} must be a non-empty, non-blank str, got {text!r}")
    return text


def normalize(text: str) -> str:
    """NFKC, casefold, collapse white space, strip trailing ``?.!`` and spaces."""
    folded = text.lower() if text.isascii() else unicodedata.normalize("NFKC", text).casefold()
    # str.split() splits on exactly the characters regex \s matches in a str, and
    # drops the ends: the same as re.sub(r"\s+", " ", .).strip(), 4x faster
    return " ".join(folded.split()).rstrip(_TRAILING)


def exact_key(namespace: str, normalized: str) -> str:
    """A stable 128-bit hex key for (namespace, normalised text).

    The namespace is length-prefixed so no (namespace, text) pair can collide
    with another by moving characters across the boundary.
    """
    h = hashlib.blake2b(digest_size=16)
    ns = namespace.encode("utf-8")
    h.update(len(ns).to_bytes(8, "little"))
    h.update(ns)
    h.update(normalized.encode("utf-8"))
    return h.hexdigest()
