"""The semcache exception tree.

Every error semcache raises is a ``SemcacheError`` and also the built-in an
application would naturally catch, so ``except ValueError`` keeps working::

    SemcacheError(Exception)
    ├── InvalidArgumentError(SemcacheError, ValueError)   a value is out of range
    │   ├── InvalidPromptError                           empty prompt, lone surrogate
    │   ├── InvalidEmbeddingError                        NaN, wrong dimension
    │   └── InvalidConfigError                           bad option value
    ├── ArgumentTypeError(SemcacheError, TypeError)       a value has the wrong type
    │   └── InvalidResponseError                         response not str/bytes/JSON
    ├── MissingDependencyError(SemcacheError, ImportError) an optional extra is absent
    ├── DeviceUnavailableError(SemcacheError, RuntimeError) device="gpu" without a GPU
    └── BackendError(SemcacheError, RuntimeError)         a storage backend failed
        └── CorruptEntryError                             an entry could not be decoded

Backend errors reach the caller only in strict mode; otherwise they are
logged, counted in ``stats().errors`` and served as a miss.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ArgumentTypeError",
    "BackendError",
    "CorruptEntryError",
    "DeviceUnavailableError",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidEmbeddingError",
    "InvalidPromptError",
    "InvalidResponseError",
    "MissingDependencyError",
    "SemcacheError",
    "check_text",
    "check_utf8",
    "describe",
    "encodes_utf8",
]


class SemcacheError(Exception):
    """Base class of every error semcache raises."""


class InvalidArgumentError(SemcacheError, ValueError):
    """An argument has the right type but a value outside what is accepted."""


class InvalidPromptError(InvalidArgumentError):
    """A prompt is empty or blank."""


class InvalidEmbeddingError(InvalidArgumentError):
    """An embedding has the wrong shape, a wrong dimension, or non-finite values."""


class InvalidConfigError(InvalidArgumentError):
    """A cache option is out of range or unknown."""


class ArgumentTypeError(SemcacheError, TypeError):
    """An argument has the wrong type."""


class InvalidResponseError(ArgumentTypeError):
    """A response is not str, bytes, or a JSON-serialisable value."""


class MissingDependencyError(SemcacheError, ImportError):
    """An optional dependency is not installed, or is installed but fails to import;
    the message says which and names the extra."""


class DeviceUnavailableError(SemcacheError, RuntimeError):
    """``device="gpu"`` was asked for and no usable GPU answered."""


class BackendError(SemcacheError, RuntimeError):
    """A storage backend (Redis) failed; raised only in strict mode."""


class CorruptEntryError(BackendError):
    """A stored entry could not be decoded."""


def describe(value: Any) -> str:
    """Describe a value for an error message: its type and a short repr."""
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def encodes_utf8(text: str) -> bool:
    """Whether ``text`` encodes as UTF-8, i.e. holds no lone surrogate (half of a UTF-16
    pair): what a prompt or namespace must, and what the integrations test before
    handing text to the cache (public as ``semcache.normalize.encodes_utf8``)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: object, name: str, error: type[SemcacheError]) -> str:
    """``value`` if it is a str that encodes as UTF-8, else ``ArgumentTypeError`` (not a
    str) or ``error`` naming the lone surrogate (``check_utf8``)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{name} must be a str, got {describe(value)}")
    return check_utf8(value, name, error)


def check_utf8(text: str, name: str, error: type[SemcacheError]) -> str:
    """``text`` if it encodes as UTF-8, as prompts and namespaces must (they are
    hashed and matched as text); else ``error`` naming the lone surrogate (a half of
    a UTF-16 pair, e.g. from JSON's "\\ud800") that stops it."""
    if encodes_utf8(text):
        return text
    at = next(i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff")
    raise error(
        f"{name} must be text that encodes as UTF-8, got a lone surrogate {text[at]!r} at index "
        f"{at} of {describe(text)}: half of a UTF-16 pair (e.g. a JSON \\u escape or text cut "
        "inside an emoji); replace it, e.g. with text.encode('utf-8', 'replace').decode(), or where "
        "both halves of a pair are there, join them with text.encode('utf-16', 'surrogatepass').decode('utf-16')"
    )
