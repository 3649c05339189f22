"""SemcacheCache: LangChain's ``BaseCache`` on a semcache ``SemanticCache``.

Lookups and stores go through the SemanticCache (its async methods in the
async calls, so the event loop never waits on the embedding model). Values are
LangChain's own JSON serialisation of the generations (``dumps``, and
``load`` with an allowlist of generation and message classes), never pickle.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.caches import RETURN_VAL_TYPE, BaseCache
from langchain_core.load import dumps, load
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, Generation, GenerationChunk

from semcache import ArgumentTypeError, Hit, InvalidArgumentError, SemanticCache

from ._keys import Key, llm_digest, make_key

__all__ = ["SemcacheCache"]

logger = logging.getLogger("langchain_semcache")

# What a cached value may revive into: generations and the messages they carry.
_ALLOWED_OBJECTS = (
    Generation,
    GenerationChunk,
    ChatGeneration,
    ChatGenerationChunk,
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    ChatMessageChunk,
    FunctionMessage,
    FunctionMessageChunk,
    HumanMessage,
    HumanMessageChunk,
    SystemMessage,
    SystemMessageChunk,
    ToolMessage,
    ToolMessageChunk,
)
# LangChain checks an allowlist by comparing class paths with every known
# mapping, about 40 us per class on each call; a value names one or two
# classes, so each call is given just those (see _allowed_for).
_ALLOWED_BY_PATH = {tuple(cls.lc_id()): cls for cls in _ALLOWED_OBJECTS}


def _describe(value: object) -> str:
    """A value's type and short repr, for error messages."""
    text = repr(value)
    return f"{type(value).__name__} {text[:57] + '...' if len(text) > 60 else text}"


class SemcacheCache(BaseCache):
    """A LangChain LLM cache that answers paraphrases, not only exact repeats.

    Parameters
    ----------
    cache:
        The SemanticCache to use; by default a new one with the default
        embedder (all-MiniLM-L6-v2, the ``semcache[embeddings]`` extra).
    namespace:
        Kept apart from every other namespace (a tenant, an app); entries of
        one namespace never answer another's lookups.
    ttl:
        Seconds an entry lives; None takes the SemanticCache's default.

    ``clear()`` empties what this backend stored: the whole SemanticCache it
    made itself, or, for a cache passed in, the namespaces it wrote there.
    ``clear(llm_string=...)`` removes only the entries of that model setup.
    """

    def __init__(
        self,
        cache: SemanticCache | None = None,
        *,
        namespace: str = "",
        ttl: float | None = None,
    ) -> None:
        if cache is not None and not isinstance(cache, SemanticCache):
            raise ArgumentTypeError(
                f"cache must be a semcache.SemanticCache or None, got {_describe(cache)}"
            )
        if not isinstance(namespace, str):
            raise ArgumentTypeError(f"namespace must be a str, got {_describe(namespace)}")
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int | float):
                raise ArgumentTypeError(
                    f"ttl must be None or a number of seconds, got {_describe(ttl)}"
                )
            if not math.isfinite(ttl) or ttl <= 0:
                raise InvalidArgumentError(
                    f"ttl must be a finite number of seconds > 0, got {ttl!r}"
                )
        self._owned = cache is None
        self._cache = SemanticCache() if cache is None else cache
        self._namespace = namespace
        self._ttl = ttl
        self._lock = threading.Lock()
        self._written: dict[str, set[str]] = {}  # llm digest -> namespaces written

    @property
    def cache(self) -> SemanticCache:
        """The SemanticCache behind this backend."""
        return self._cache

    def __repr__(self) -> str:
        return f"SemcacheCache({self._cache!r}, namespace={self._namespace!r})"

    # -- BaseCache -------------------------------------------------------------
    def lookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """The generations stored for this prompt (or a paraphrase of it) and model, or None."""
        key = self._key(prompt, llm_string)
        hit = self._cache.get(key.text, namespace=key.namespace)
        if hit is None:
            return None
        generations = _decode(hit)
        if generations is None:
            self._cache.delete(hit.prompt, namespace=hit.namespace)
        return generations

    def update(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """Store the generations the model gave for this prompt."""
        key = self._key(prompt, llm_string)
        payload = _encode(return_val)
        if payload is None:
            return
        self._cache.put(key.text, payload, namespace=key.namespace, ttl=self._ttl)
        self._remember(key)

    def clear(self, **kwargs: Any) -> None:
        """Remove what this backend stored; ``llm_string=...`` limits it to one model setup."""
        for namespace in self._to_clear(kwargs):
            self._cache.clear(namespace)

    async def alookup(self, prompt: str, llm_string: str) -> RETURN_VAL_TYPE | None:
        """``lookup`` without blocking the event loop."""
        key = self._key(prompt, llm_string)
        hit = await self._cache.aget(key.text, namespace=key.namespace)
        if hit is None:
            return None
        generations = _decode(hit)
        if generations is None:
            await self._cache.adelete(hit.prompt, namespace=hit.namespace)
        return generations

    async def aupdate(self, prompt: str, llm_string: str, return_val: RETURN_VAL_TYPE) -> None:
        """``update`` without blocking the event loop."""
        key = self._key(prompt, llm_string)
        payload = _encode(return_val)
        if payload is None:
            return
        await self._cache.aput(key.text, payload, namespace=key.namespace, ttl=self._ttl)
        self._remember(key)

    async def aclear(self, **kwargs: Any) -> None:
        """``clear`` without blocking the event loop."""
        for namespace in self._to_clear(kwargs):
            await self._cache.aclear(namespace)

    # -- pure steps --------------------------------------------------------------
    def _key(self, prompt: object, llm_string: object) -> Key:
        if not isinstance(prompt, str):
            raise ArgumentTypeError(f"prompt must be a str, got {_describe(prompt)}")
        if not isinstance(llm_string, str):
            raise ArgumentTypeError(f"llm_string must be a str, got {_describe(llm_string)}")
        return make_key(prompt, llm_string, self._namespace)

    def _remember(self, key: Key) -> None:
        # After the put: a clear() that runs between the two then leaves the
        # entry tracked for the next clear(), never stored but forgotten.
        with self._lock:
            self._written.setdefault(key.llm, set()).add(key.namespace)

    def _to_clear(self, kwargs: Mapping[str, Any]) -> Sequence[str | None]:
        """The namespaces to clear (None: the whole cache), forgotten as they are returned."""
        unknown = sorted(set(kwargs) - {"llm_string"})
        if unknown:
            raise ArgumentTypeError(
                f"clear() accepts only llm_string=..., got {', '.join(unknown)}"
            )
        llm_string = kwargs.get("llm_string")
        if llm_string is not None and not isinstance(llm_string, str):
            raise ArgumentTypeError(
                f"llm_string must be a str or None, got {_describe(llm_string)}"
            )
        with self._lock:
            if llm_string is not None:
                return sorted(self._written.pop(llm_digest(llm_string), set()))
            namespaces = sorted(set().union(*self._written.values()))
            self._written.clear()
        return [None] if self._owned else namespaces


def _encode(return_val: object) -> str | None:
    """LangChain's JSON for the generations; None (and a warning) if they cannot be serialised."""
    if not isinstance(return_val, Sequence) or isinstance(return_val, str | bytes):
        raise ArgumentTypeError(
            f"return_val must be a list of Generation, got {_describe(return_val)}"
        )
    generations = list(return_val)
    for item in generations:
        if not isinstance(item, Generation):
            raise ArgumentTypeError(
                f"return_val must be a list of Generation, got an item {_describe(item)}"
            )
    text = dumps(generations)
    if '"not_implemented"' in text and _has_unserialisable(json.loads(text)):
        logger.warning(
            "not caching: a generation holds a value LangChain cannot serialise (%s)",
            ", ".join(type(g).__name__ for g in generations),
        )
        return None
    return text


def _has_unserialisable(value: object) -> bool:
    if isinstance(value, dict):
        if value.get("lc") == 1 and value.get("type") == "not_implemented":
            return True
        return any(_has_unserialisable(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_unserialisable(v) for v in value)
    return False


def _class_paths(value: object, found: set[tuple[str, ...]]) -> None:
    if isinstance(value, dict):
        path = value.get("id")
        if value.get("lc") == 1 and value.get("type") == "constructor" and isinstance(path, list):
            found.add(tuple(str(p) for p in path))
        for item in value.values():
            _class_paths(item, found)
    elif isinstance(value, list):
        for item in value:
            _class_paths(item, found)


def _allowed_for(data: object) -> tuple[type[Any], ...]:
    """The allowed classes a stored value names; all of them if it names an unknown path.

    An unknown path (a legacy alias, or a class not allowed) goes to LangChain's
    own check against the whole allowlist, which accepts or rejects it.
    """
    found: set[tuple[str, ...]] = set()
    _class_paths(data, found)
    chosen = [_ALLOWED_BY_PATH.get(path) for path in found]
    if any(cls is None for cls in chosen):
        return _ALLOWED_OBJECTS
    return tuple(cls for cls in chosen if cls is not None)


def _decode(hit: Hit) -> list[Generation] | None:
    """The generations in a hit, or None (with a warning) when the entry is not one of ours."""
    if not isinstance(hit.response, str):
        logger.warning(
            "cache entry %s holds %s, expected LangChain JSON; dropped",
            hit.entry_id,
            _describe(hit.response),
        )
        return None
    try:
        data = json.loads(hit.response)
        value = load(data, allowed_objects=_allowed_for(data))
    except (ValueError, TypeError, KeyError) as exc:
        logger.warning("cache entry %s could not be revived (%s); dropped", hit.entry_id, exc)
        return None
    if not isinstance(value, list) or not all(isinstance(g, Generation) for g in value):
        logger.warning(
            "cache entry %s revived as %s, expected a list of Generation; dropped",
            hit.entry_id,
            _describe(value),
        )
        return None
    return value
