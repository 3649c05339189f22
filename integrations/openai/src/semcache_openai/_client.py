"""``cached(client)``: an OpenAI client whose ``chat.completions.create`` is cached.

The wrapper is a thin proxy: every attribute it does not define is the real
client's. Planning a request, building hits and adding up streams are pure
(``_request``, ``_replay``); the sync and async classes here only do the I/O
around them, so the two never differ in what they cache.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import Any, TypeVar, cast

from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from semcache import ArgumentTypeError, Hit, InvalidArgumentError, SemanticCache

from ._replay import (
    StreamAssembler,
    check_payload,
    chunks_from_hit,
    completion_from_hit,
    payload_of,
)
from ._request import DEFAULT_IGNORED_PARAMS, Plan, Policy, plan_request

__all__ = ["cached"]

logger = logging.getLogger("semcache_openai")

_ClientT = TypeVar("_ClientT", OpenAI, AsyncOpenAI)


def _describe(value: object) -> str:
    """A value's type and short repr, for error messages."""
    text = repr(value)
    return f"{type(value).__name__} {text[:57] + '...' if len(text) > 60 else text}"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _policy(
    namespace: object,
    max_temperature: object,
    max_n: object,
    ignored_params: object,
    ttl: object,
) -> Policy:
    """Check the options of ``cached`` once, so requests never meet a bad one."""
    if not isinstance(namespace, str):
        raise ArgumentTypeError(f"namespace must be a str, got {_describe(namespace)}")
    try:
        namespace.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidArgumentError(
            f"namespace must be text that encodes as UTF-8, got a lone surrogate at index {exc.start} of "
            f"{_describe(namespace)}"
        ) from None
    if max_temperature is not None:
        if not _is_number(max_temperature):
            raise ArgumentTypeError(
                f"max_temperature must be None or a number, got {_describe(max_temperature)}"
            )
        if not 0.0 <= float(max_temperature) <= 2.0:  # type: ignore[arg-type]
            raise InvalidArgumentError(
                f"max_temperature must be in [0, 2], got {max_temperature!r}"
            )
    if isinstance(max_n, bool) or not isinstance(max_n, int):
        raise ArgumentTypeError(f"max_n must be an int, got {_describe(max_n)}")
    if max_n < 1:
        raise InvalidArgumentError(f"max_n must be >= 1, got {max_n}")
    if isinstance(ignored_params, str) or not isinstance(ignored_params, Iterable):
        raise ArgumentTypeError(
            f"ignored_params must be a collection of names, got {_describe(ignored_params)}"
        )
    ignored = frozenset(ignored_params)
    odd = sorted(repr(p) for p in ignored if not isinstance(p, str))
    if odd:
        raise ArgumentTypeError(f"ignored_params must hold str names, got {', '.join(odd)}")
    if ttl is not None:
        if not _is_number(ttl):
            raise ArgumentTypeError(
                f"ttl must be None or a number of seconds, got {_describe(ttl)}"
            )
        if not math.isfinite(float(ttl)) or float(ttl) <= 0:  # type: ignore[arg-type]
            raise InvalidArgumentError(f"ttl must be a finite number of seconds > 0, got {ttl!r}")
    return Policy(
        namespace=namespace,
        max_temperature=None if max_temperature is None else float(max_temperature),  # type: ignore[arg-type]
        max_n=max_n,
        ignored_params=ignored,
        ttl=None if ttl is None else float(ttl),  # type: ignore[arg-type]
    )


class _Engine:
    """The cache and policy one wrapped client (and its copies) share."""

    __slots__ = ("cache", "policy")

    def __init__(self, cache: SemanticCache, policy: Policy) -> None:
        self.cache = cache
        self.policy = policy

    def plan(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Plan | None]:
        sent, plan = plan_request(kwargs, self.policy)
        if isinstance(plan, str):
            logger.debug("not cached: %s", plan)
            return sent, None
        return sent, plan

    def answer(self, hit: Hit, plan: Plan) -> ChatCompletion | list[ChatCompletionChunk] | None:
        """What a hit is served as; None (and a warning) for an entry that is not ours."""
        payload = check_payload(hit.response)
        if payload is None:
            logger.warning(
                "cache entry %s holds %s, expected a stored ChatCompletion; dropped",
                hit.entry_id,
                _describe(hit.response),
            )
            return None
        if plan.stream:
            return chunks_from_hit(payload, hit, include_usage=plan.include_usage)
        return completion_from_hit(payload, hit)


class _Proxy:
    """Forwards every attribute it does not define to the wrapped object."""

    def __init__(self, wrapped: Any) -> None:
        self._wrapped = wrapped

    def __getattr__(self, name: str) -> Any:
        wrapped = self.__dict__.get("_wrapped")  # absent while unpickling: no recursion
        if wrapped is None:
            raise AttributeError(name)
        return getattr(wrapped, name)

    def __repr__(self) -> str:
        return f"cached({self._wrapped!r})"


# -- streams -----------------------------------------------------------------------


class _ReplayStream:
    """A hit replayed as the chunks of a stream."""

    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self._chunks = iter(chunks)

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        return next(self._chunks)

    def __enter__(self) -> _ReplayStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the chunks not read yet."""
        self._chunks = iter(())


class _AsyncReplayStream:
    """A hit replayed as the chunks of an async stream."""

    def __init__(self, chunks: list[ChatCompletionChunk]) -> None:
        self._chunks = iter(chunks)

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            return next(self._chunks)
        except StopIteration:
            raise StopAsyncIteration from None

    async def __aenter__(self) -> _AsyncReplayStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Drop the chunks not read yet."""
        self._chunks = iter(())

    async def aclose(self) -> None:
        """Alias of ``close``."""
        await self.close()


class _RecordingStream(_Proxy):
    """The real stream, passed through chunk by chunk; the whole answer is stored at its end.

    Stored when the stream runs out, or when it is closed after every choice
    has finished; a stream abandoned midway stores nothing.
    """

    def __init__(self, stream: Any, store: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(stream)
        self._store = store
        self._assembler = StreamAssembler()
        self._done = False

    def __iter__(self) -> Iterator[ChatCompletionChunk]:
        return self

    def __next__(self) -> ChatCompletionChunk:
        try:
            chunk = next(self._wrapped)
        except StopIteration:
            self._finish()
            raise
        self._assembler.add(chunk)
        return cast(ChatCompletionChunk, chunk)

    def __enter__(self) -> _RecordingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the real stream; store the answer if it was complete."""
        self._wrapped.close()
        self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        payload = self._assembler.result()
        if payload is not None:
            self._store(payload)


class _AsyncRecordingStream(_Proxy):
    """``_RecordingStream`` for an async stream."""

    def __init__(
        self, stream: Any, store: Callable[[dict[str, Any]], Coroutine[Any, Any, None]]
    ) -> None:
        super().__init__(stream)
        self._store = store
        self._assembler = StreamAssembler()
        self._done = False

    def __aiter__(self) -> AsyncIterator[ChatCompletionChunk]:
        return self

    async def __anext__(self) -> ChatCompletionChunk:
        try:
            chunk = await self._wrapped.__anext__()
        except StopAsyncIteration:
            await self._finish()
            raise
        self._assembler.add(chunk)
        return cast(ChatCompletionChunk, chunk)

    async def __aenter__(self) -> _AsyncRecordingStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the real stream; store the answer if it was complete."""
        await self._wrapped.close()
        await self._finish()

    async def aclose(self) -> None:
        """Alias of ``close``."""
        await self.close()

    async def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        payload = self._assembler.result()
        if payload is not None:
            await self._store(payload)


# -- chat.completions ----------------------------------------------------------------


class _Completions(_Proxy):
    """``chat.completions`` with ``create`` cached."""

    def __init__(self, wrapped: Any, engine: _Engine) -> None:
        super().__init__(wrapped)
        self._engine = engine

    def create(self, **kwargs: Any) -> Any:
        """``chat.completions.create``, answered from the cache when it can be."""
        engine: _Engine = self._engine
        sent, plan = engine.plan(kwargs)
        if plan is None:
            return self._wrapped.create(**sent)
        hit = engine.cache.get(plan.text, namespace=plan.namespace)
        if hit is not None:
            served = engine.answer(hit, plan)
            if isinstance(served, list):
                return _ReplayStream(served)
            if served is not None:
                return served
            engine.cache.delete(hit.prompt, namespace=hit.namespace)
        response = self._wrapped.create(**sent)

        def store(payload: dict[str, Any]) -> None:
            engine.cache.put(plan.text, payload, namespace=plan.namespace, ttl=engine.policy.ttl)

        if plan.stream:
            return _RecordingStream(response, store)
        payload = payload_of(response)
        if payload is not None:
            store(payload)
        return response


class _AsyncCompletions(_Proxy):
    """Async ``chat.completions`` with ``create`` cached."""

    def __init__(self, wrapped: Any, engine: _Engine) -> None:
        super().__init__(wrapped)
        self._engine = engine

    async def create(self, **kwargs: Any) -> Any:
        """``chat.completions.create``, answered from the cache when it can be."""
        engine: _Engine = self._engine
        sent, plan = engine.plan(kwargs)
        if plan is None:
            return await self._wrapped.create(**sent)
        hit = await engine.cache.aget(plan.text, namespace=plan.namespace)
        if hit is not None:
            served = engine.answer(hit, plan)
            if isinstance(served, list):
                return _AsyncReplayStream(served)
            if served is not None:
                return served
            await engine.cache.adelete(hit.prompt, namespace=hit.namespace)
        response = await self._wrapped.create(**sent)

        async def store(payload: dict[str, Any]) -> None:
            await engine.cache.aput(
                plan.text, payload, namespace=plan.namespace, ttl=engine.policy.ttl
            )

        if plan.stream:
            return _AsyncRecordingStream(response, store)
        payload = payload_of(response)
        if payload is not None:
            await store(payload)
        return response


class _Chat(_Proxy):
    """``client.chat`` with its ``completions`` cached."""

    def __init__(self, wrapped: Any, completions: _Proxy) -> None:
        super().__init__(wrapped)
        self.completions = completions


# -- clients -------------------------------------------------------------------------


class _CachedOpenAI(_Proxy):
    """An ``openai.OpenAI`` whose ``chat.completions.create`` is cached."""

    def __init__(self, client: OpenAI, engine: _Engine) -> None:
        super().__init__(client)
        self._engine = engine
        self.chat = _Chat(client.chat, _Completions(client.chat.completions, engine))

    def copy(self, **kwargs: Any) -> _CachedOpenAI:
        """The real client's ``copy``, still cached (same cache and rules)."""
        return _CachedOpenAI(self._wrapped.copy(**kwargs), self._engine)

    with_options = copy

    def __enter__(self) -> _CachedOpenAI:
        return self

    def __exit__(self, *exc: object) -> None:
        self._wrapped.close()


class _CachedAsyncOpenAI(_Proxy):
    """An ``openai.AsyncOpenAI`` whose ``chat.completions.create`` is cached."""

    def __init__(self, client: AsyncOpenAI, engine: _Engine) -> None:
        super().__init__(client)
        self._engine = engine
        completions = _AsyncCompletions(client.chat.completions, engine)
        self.chat = _Chat(client.chat, completions)

    def copy(self, **kwargs: Any) -> _CachedAsyncOpenAI:
        """The real client's ``copy``, still cached (same cache and rules)."""
        return _CachedAsyncOpenAI(self._wrapped.copy(**kwargs), self._engine)

    with_options = copy

    async def __aenter__(self) -> _CachedAsyncOpenAI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._wrapped.close()


def cached(
    client: _ClientT,
    cache: SemanticCache | None = None,
    *,
    namespace: str = "",
    max_temperature: float | None = 1.0,
    max_n: int = 1,
    ignored_params: Iterable[str] = DEFAULT_IGNORED_PARAMS,
    ttl: float | None = None,
) -> _ClientT:
    """Wrap an ``openai.OpenAI`` or ``openai.AsyncOpenAI`` so ``chat.completions.create`` is cached.

    Parameters
    ----------
    client:
        The client to wrap; it is used as it is, for every call.
    cache:
        The SemanticCache to use; by default a new one with the default
        embedder (all-MiniLM-L6-v2, the ``semcache[embeddings]`` extra).
    namespace:
        Kept apart from every other namespace (a tenant, an app).
    max_temperature:
        Requests with a higher ``temperature`` bypass the cache (None: no
        ceiling). A request without ``temperature`` counts as 1.0.
    max_n:
        Requests asking for more choices than this bypass the cache.
    ignored_params:
        Request parameters left out of the namespace; every other one must
        match for a hit. Defaults to ``DEFAULT_IGNORED_PARAMS``.
    ttl:
        Seconds an entry lives; None takes the SemanticCache's default.

    The result behaves as the client (and is typed as it); a response served
    from the cache is told apart by ``cache_info(response)``.
    """
    policy = _policy(namespace, max_temperature, max_n, ignored_params, ttl)
    if cache is None:
        cache = SemanticCache()
    elif not isinstance(cache, SemanticCache):
        raise ArgumentTypeError(
            f"cache must be a semcache.SemanticCache or None, got {_describe(cache)}"
        )
    engine = _Engine(cache, policy)
    if isinstance(client, AsyncOpenAI):
        return cast(_ClientT, _CachedAsyncOpenAI(client, engine))
    if isinstance(client, OpenAI):
        return cast(_ClientT, _CachedOpenAI(client, engine))
    raise ArgumentTypeError(
        f"client must be an openai.OpenAI or openai.AsyncOpenAI, got {_describe(client)}"
    )
