"""SemanticCache: the one entry class.

Lookup: normalise -> exact key in the LRU tier -> embed -> candidate search in
the namespace's index -> the verifier decides -> payload from the LRU tier.
Store: normalise, embed, fingerprint, then LRU + pool + index under one lock.

The pure steps (normalise, search, decide) do no I/O; the async methods run
the same sync code in a worker thread, so nothing is written twice and the
event loop never waits on the embedding model.
"""

from __future__ import annotations

import asyncio
import math
import numbers
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from . import _payload
from ._config import DEFAULT_TARGET_PRECISION, CacheConfig, check_ttl
from ._errors import ArgumentTypeError, InvalidArgumentError, InvalidConfigError, check_text, describe
from ._features import TextProfile, profile, usable_profile
from .embedders import Embedder, check_embeddings, resolve_embedder
from .normalize import check_prompt, exact_key, normalize
from .tiers.lru import EvictReason, LRUTier
from .tiers.pool import EmbeddingPool, resolve_device
from .tiers.pool_gpu import CupyEmbeddingPool
from .verify import Candidate, CosineVerifier, Verifier, check_head_embedder, load_default_verifier

if TYPE_CHECKING:  # the Redis tier and replication load only when redis= is given
    from .replication import Background, Replicator, SyncReport
    from .tiers.redis import Entry, RedisTier, State

__all__ = ["CacheStats", "Hit", "SemanticCache"]

# Bytes of bookkeeping per entry, for max_bytes: the entry and its LRU slot, its key,
# its place in the index (tracemalloc: ~600 with the LSH index at 19 k QQP entries).
_ENTRY_OVERHEAD = 640
_PLANES_SEED = 0x5EC0C4E  # fixed: fingerprints must agree across processes
_UNIT_TOLERANCE = 2e-3  # |norm^2 - 1| that check_embeddings accepts without re-normalising


class _Reads(NamedTuple):
    """What a verifier reads, as the lookup path needs it."""

    verifier: Verifier
    floor: float  # its min_cosine: candidates below it are never scored
    vectors: bool  # it reads embeddings (Candidate.vector, query_vector=)
    profiles: bool  # it reads lexical profiles (every verifier but the cosine gate)
    shingles: bool  # and their character 3-grams
    long_words: int | None  # a profile stored with more words gets its joined words at put


@dataclass(frozen=True, slots=True)
class Hit:
    """A cached answer: what was stored, and why it was served."""

    response: Any
    score: float
    prompt: str
    entry_id: str
    exact: bool
    namespace: str
    metadata: dict[str, Any] | None = None
    confidence: float = 1.0


@dataclass(frozen=True, slots=True)
class CacheStats:
    """Counters since the cache was made; every entry that left is counted."""

    hits: int
    exact_hits: int
    semantic_hits: int
    misses: int
    puts: int
    evictions: int
    expirations: int
    errors: int
    rejected: int
    deletes: int
    entries: int
    bytes: int = 0  # held by the in-process tier, as ``max_bytes`` counts them


class _Entry:
    __slots__ = ("key", "kind", "metadata", "namespace", "payload", "profile", "prompt", "size", "slot")

    def __init__(
        self,
        key: str,
        namespace: str,
        prompt: str,
        kind: str,
        payload: str | bytes,
        metadata: str | None,
        slot: int,
        dim: int,
    ) -> None:
        self.key = key
        self.namespace = namespace
        self.prompt = prompt
        self.kind = kind
        self.payload = payload
        self.metadata = metadata
        self.slot = slot
        self.profile: TextProfile | None = None  # lexical profile for the verifier, made when first needed
        # the fixed part of what max_bytes counts: the objects the entry holds (str sizes,
        # not lengths), its embedding row and bookkeeping (``nbytes`` adds the profile's)
        self.size = (
            sys.getsizeof(prompt)
            + sys.getsizeof(payload)
            + (sys.getsizeof(metadata) if metadata else 0)
            + 4 * dim
            + _ENTRY_OVERHEAD
        )

    def nbytes(self) -> int:
        """What max_bytes counts for the entry now: its fixed part and its profile's bytes."""
        return self.size if self.profile is None else self.size + self.profile.nbytes


@dataclass(slots=True)
class _Query:
    prompt: str
    namespace: str
    key: str


def _checked_decision(decision: object, n: int) -> tuple[int, float]:
    """A verifier's decision as (index, confidence) when it names one of the ``n``
    candidates with a confidence in [0, 1] (a NumPy integer or float is taken), else
    ``InvalidArgumentError``: Python would read an index of -1 as the last candidate."""
    if isinstance(decision, tuple | list) and len(decision) == 2:
        i: Any = decision[0]
        confidence: Any = decision[1]
        if (
            isinstance(i, numbers.Integral)
            and not isinstance(i, bool | np.bool_)
            and 0 <= int(i) < n
            and isinstance(confidence, numbers.Real)
            and not isinstance(confidence, bool | np.bool_)
            and 0.0 <= float(confidence) <= 1.0
        ):
            return int(i), float(confidence)
    raise InvalidArgumentError(
        f"verifier.decide must return None or (index of one of the {n} candidates, confidence in [0, 1]), "
        f"got {describe(decision)}"
    )


def _long_words(verifier: Verifier) -> int | None:
    """The verifier's long-prompt word limit, if it has one (an int)."""
    limit = getattr(verifier, "long_words", None)
    return limit if isinstance(limit, int) and not isinstance(limit, bool) else None


def _search_range(verifier: Verifier) -> tuple[float, float]:
    """(``min_cosine``, ``search_cosine``) of ``verifier``: the cosines from which its
    candidate search must find everything, and keep its full recall target (the
    latter optional, defaulting to the former, and held within [min_cosine, 1])."""
    low = float(verifier.min_cosine)
    at = getattr(verifier, "search_cosine", None)
    if at is None:
        return low, low
    if isinstance(at, bool) or not isinstance(at, numbers.Real) or not math.isfinite(at):
        raise InvalidConfigError(f"verifier.search_cosine must be a finite number, got {describe(at)}")
    return low, min(1.0, max(low, float(at)))


def _check_namespace(namespace: object) -> str:
    return check_text(namespace, "namespace", InvalidArgumentError)


class SemanticCache:
    """A semantic response cache for LLM applications.

    Parameters
    ----------
    embedder:
        ``"auto"`` (all-MiniLM-L6-v2, needs the ``embeddings`` extra),
        ``"hashing"`` (model-free, lexical), a local model folder, or any object
        with ``dim`` and ``embed(texts)``.
    threshold:
        Serve the nearest entry when its cosine is at least this (the plain
        rule of other caches). Give this or ``target_precision``, not both.
    target_precision:
        The share of hits that should be right (default 0.95).
    max_entries, max_bytes:
        Bounds of the in-process tier; the least recently used entry goes first.
    ttl:
        Default seconds an entry lives (None: until evicted).
    index:
        ``"auto"`` (exact while small, SimHash-LSH when large), ``"flat"`` or ``"lsh"``.
    device:
        Where the embedding pool lives: ``"cpu"``, ``"auto"`` (the GPU when CuPy
        finds one, else the CPU, logged once) or ``"gpu"`` (raises
        :class:`~semcache.DeviceUnavailableError` without one). On the GPU the
        pool is CuPy unified memory and search is exact whatever ``index`` says.
    redis, redis_prefix, redis_timeout:
        A shared Redis tier (a ``redis://`` URL or a redis client, needs the
        ``redis`` extra), the prefix of its keys, and the seconds a Redis call
        may take (a dead Redis costs that, then a circuit breaker skips it).
        Entries already in Redis are served at once; other processes' writes
        reach this one's index with its next Redis lookup.
    replica_id, peers, sync_interval:
        Replication: this replica's id, the Redis of each peer replica, and
        how often (seconds) a background thread runs :meth:`sync`.
    strict:
        Raise :class:`~semcache.BackendError` on Redis faults instead of
        logging them and answering with a miss or a local-only write.
    """

    def __init__(
        self,
        embedder: object = "auto",
        *,
        threshold: float | None = None,
        target_precision: float | None = None,
        max_entries: int = 100_000,
        max_bytes: int | None = None,
        ttl: float | None = None,
        index: str = "auto",
        device: str = "cpu",
        redis: object = None,
        redis_prefix: str = "semcache:",
        redis_timeout: float = 0.1,
        replica_id: str | None = None,
        peers: Sequence[object] = (),
        sync_interval: float | None = None,
        verifier: Verifier | None = None,
        candidates: int = 4,
        strict: bool = False,
        timer: Any = None,
    ) -> None:
        self.config = CacheConfig(
            threshold=threshold,
            target_precision=target_precision,
            max_entries=max_entries,
            max_bytes=max_bytes,
            ttl=ttl,
            index=index,
            device=device,
            redis_prefix=redis_prefix,
            candidates=candidates,
            strict=strict,
        )
        self._device = resolve_device(device)
        self._embedder: Embedder = resolve_embedder(embedder)
        self.verifier: Verifier = self._choose_verifier(verifier)
        check_head_embedder(self.verifier, self._embedder)
        _search_range(self.verifier)  # a bad search_cosine is reported here, not at a put
        lru_kwargs: dict[str, Any] = {"getsizeof": _Entry.nbytes, "on_evict": self._on_evict}
        if timer is not None:
            lru_kwargs["timer"] = timer
        self._lru: LRUTier[str, _Entry] = LRUTier(max_entries, max_bytes, **lru_kwargs)
        self._pool: EmbeddingPool | CupyEmbeddingPool | None = None
        if self._device == "gpu":  # made now, so a cap too small for max_entries fails here
            self._pool = CupyEmbeddingPool(self._embedder.dim, min_rows=max_entries + 1)
        self._planes: np.ndarray | None = None
        self._project_signs: Any = None
        self._check_signs: Any = None
        self._reads: _Reads | None = None  # what ``verifier`` reads, made once per verifier object
        self._indexes: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._counts = dict.fromkeys(
            ("hits", "exact_hits", "semantic_hits", "misses", "puts", "errors", "deletes"), 0
        )
        self._redis: RedisTier | None = None
        self._replicator: Replicator | None = None
        self._background: Background | None = None
        if redis is not None:
            self._connect_redis(redis, redis_timeout, replica_id, peers, sync_interval)
        elif replica_id is not None or peers or sync_interval is not None:
            raise InvalidConfigError("replica_id, peers and sync_interval need redis=")

    def _choose_verifier(self, verifier: Verifier | None) -> Verifier:
        cfg = self.config
        if verifier is not None:
            if cfg.threshold is not None:
                raise InvalidConfigError("give threshold or verifier, not both")
            if isinstance(verifier, type) or not isinstance(verifier, Verifier):
                raise ArgumentTypeError(
                    f"verifier must be an object with 'min_cosine' and 'decide(query, candidates)', "
                    f"got {describe(verifier)}"
                )
            with_target = getattr(verifier, "with_target", None)
            if cfg.target_precision is not None:
                if not callable(with_target):  # (the target would be ignored without a word)
                    raise InvalidConfigError(
                        f"target_precision needs a verifier with with_target(target) (a CalibratedVerifier), "
                        f"got {type(verifier).__name__}; give one or the other"
                    )
                return with_target(cfg.target_precision)  # type: ignore[no-any-return]
            return verifier
        if cfg.threshold is not None:
            return CosineVerifier(cfg.threshold)
        target = cfg.target_precision if cfg.target_precision is not None else DEFAULT_TARGET_PRECISION
        return load_default_verifier(target)

    # -- public API ----------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        """The embedder in use."""
        return self._embedder

    def __len__(self) -> int:
        return self._lru.currsize

    def __repr__(self) -> str:
        return f"SemanticCache(embedder={self._embedder!r}, verifier={self.verifier!r}, entries={len(self)})"

    def __enter__(self) -> SemanticCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release resources held by the cache (idempotent)."""
        if self._background is not None:
            self._background.close()
            self._background = None
        if self._replicator is not None:
            self._replicator.close()
        if self._redis is not None:
            self._redis.close()

    def get(self, prompt: str, *, namespace: str = "", embedding: Any = None) -> Hit | None:
        """The cached answer for ``prompt`` in ``namespace``, or None."""
        q = self._query(prompt, namespace)
        with self._lock:
            hit = self._exact(q)
        if hit is None and self._redis is not None:
            hit = self._remote_exact([q])[0]
        if hit is not None:
            return hit
        vec, fp = self._query_vector(q, embedding)
        with self._lock:
            return self._semantic(q, vec, fp)

    def get_many(self, prompts: Sequence[str], *, namespace: str = "") -> list[Hit | None]:
        """``get`` for many prompts, embedding the ones without an exact hit in one batch."""
        queries = [self._query(p, namespace) for p in self._sequence(prompts, "prompts")]
        with self._lock:
            results = [self._exact(q) for q in queries]
        todo = [i for i, r in enumerate(results) if r is None]
        if todo and self._redis is not None:
            for i, hit in zip(todo, self._remote_exact([queries[i] for i in todo]), strict=True):
                results[i] = hit
            todo = [i for i in todo if results[i] is None]
        if todo:
            vecs = self._embed([queries[i].prompt for i in todo])
            with self._lock:
                for i, vec in zip(todo, vecs, strict=True):
                    results[i] = self._semantic(queries[i], vec)
        return results

    def put(
        self,
        prompt: str,
        response: Any,
        *,
        namespace: str = "",
        ttl: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        embedding: Any = None,
    ) -> str:
        """Cache ``response`` for ``prompt``; returns the entry id."""
        q = self._query(prompt, namespace)
        kind, payload = _payload.encode(response)
        meta = _payload.encode_metadata(metadata)
        ttl = self._ttl(ttl)
        vec = self._embed([q.prompt], embedding)
        fp = self._fingerprint(vec)[0]
        if self._redis is not None:  # one round trip; a failure leaves a local-only write
            self._redis.store([(q.key, self._stored(q, kind, payload, meta, vec[0], fp, ttl=ttl))])
        with self._lock:
            self._insert(q, kind, payload, meta, vec, fp, ttl)
        return q.key

    def put_many(
        self,
        prompts: Sequence[str],
        responses: Sequence[Any],
        *,
        namespace: str = "",
        ttl: float | None = None,
    ) -> list[str]:
        """``put`` for many pairs, embedding them in one batch."""
        prompts = self._sequence(prompts, "prompts")
        responses = self._sequence(responses, "responses")
        if len(prompts) != len(responses):
            raise InvalidArgumentError(
                f"prompts and responses must have the same length, got {len(prompts)} and {len(responses)}"
            )
        queries = [self._query(p, namespace) for p in prompts]
        payloads = [_payload.encode(r) for r in responses]
        ttl = self._ttl(ttl)
        vecs = self._embed([q.prompt for q in queries]) if queries else None
        if vecs is None:
            return []
        fps = self._fingerprint(vecs)  # one kernel call for the batch, shared by both tiers
        if self._redis is not None:
            self._redis.store(
                [
                    (q.key, self._stored(q, kind, payload, None, vec, fp, ttl=ttl))
                    for q, (kind, payload), vec, fp in zip(queries, payloads, vecs, fps, strict=True)
                ]
            )
        with self._lock:
            for i, (q, (kind, payload)) in enumerate(zip(queries, payloads, strict=True)):
                self._insert(q, kind, payload, None, vecs[i : i + 1], fps[i], ttl)
        return [q.key for q in queries]

    def delete(self, prompt: str, *, namespace: str = "") -> bool:
        """Remove the entry stored for ``prompt`` (exact match); True if there was one."""
        q = self._query(prompt, namespace)
        with self._lock:
            entry = self._lru.pop(q.key, None)
            found = isinstance(entry, _Entry)
            if isinstance(entry, _Entry):
                self._forget(entry)
        if self._redis is not None:  # a tombstone when replicating, so no copy brings it back
            found = self._redis.remove(q.key) or found
        if found:
            with self._lock:
                self._counts["deletes"] += 1
        return found

    def clear(self, namespace: str | None = None) -> None:
        """Remove every entry, or only those of ``namespace``."""
        if self._redis is not None:
            self._redis.clear(None if namespace is None else _check_namespace(namespace))
        with self._lock:
            if namespace is None:
                self._lru.clear()
                self._indexes.clear()
                if self._pool is not None:
                    self._pool.clear()
                return
            index = self._indexes.pop(_check_namespace(namespace), None)
            if index is None:
                return
            for key, _slot, _fp in list(index.items()):
                entry = self._lru.pop(key, None)
                if isinstance(entry, _Entry) and self._pool is not None:
                    self._pool.free(entry.slot)

    def stats(self) -> CacheStats:
        """A snapshot of the counters."""
        with self._lock:
            c = self._counts
            return CacheStats(
                hits=c["hits"],
                exact_hits=c["exact_hits"],
                semantic_hits=c["semantic_hits"],
                misses=c["misses"],
                puts=c["puts"],
                evictions=self._lru.evictions,
                expirations=self._lru.expirations,
                errors=c["errors"],
                rejected=self._lru.rejections,
                deletes=c["deletes"],
                entries=self._lru.currsize,
                bytes=self._lru.currbytes,
            )

    async def aget(self, prompt: str, *, namespace: str = "", embedding: Any = None) -> Hit | None:
        """``get`` without blocking the event loop."""
        return await asyncio.to_thread(self.get, prompt, namespace=namespace, embedding=embedding)

    async def aget_many(self, prompts: Sequence[str], *, namespace: str = "") -> list[Hit | None]:
        """``get_many`` without blocking the event loop."""
        return await asyncio.to_thread(self.get_many, prompts, namespace=namespace)

    async def aput(
        self,
        prompt: str,
        response: Any,
        *,
        namespace: str = "",
        ttl: float | None = None,
        metadata: Mapping[str, Any] | None = None,
        embedding: Any = None,
    ) -> str:
        """``put`` without blocking the event loop."""
        return await asyncio.to_thread(
            self.put, prompt, response, namespace=namespace, ttl=ttl, metadata=metadata, embedding=embedding
        )

    async def aput_many(
        self, prompts: Sequence[str], responses: Sequence[Any], *, namespace: str = "", ttl: float | None = None
    ) -> list[str]:
        """``put_many`` without blocking the event loop."""
        return await asyncio.to_thread(self.put_many, prompts, responses, namespace=namespace, ttl=ttl)

    async def adelete(self, prompt: str, *, namespace: str = "") -> bool:
        """``delete`` without blocking the event loop."""
        return await asyncio.to_thread(self.delete, prompt, namespace=namespace)

    async def aclear(self, namespace: str | None = None) -> None:
        """``clear`` without blocking the event loop."""
        await asyncio.to_thread(self.clear, namespace)

    def sync(self, *, full: bool = False) -> SyncReport:
        """Pull every peer's changes (``full``: anti-entropy with each), then catch up locally.

        Without peers it only brings this process up to date with its own Redis.
        """
        from .replication import SyncReport

        if self._redis is None:
            raise InvalidConfigError("sync() needs a Redis tier (redis=)")
        report = self._replicator.sync(full=full) if self._replicator is not None else SyncReport()
        self._redis.refresh()
        return report

    # -- pure steps (no I/O) ---------------------------------------------------
    def _query(self, prompt: str, namespace: str) -> _Query:
        check_prompt(prompt)
        ns = _check_namespace(namespace)
        return _Query(prompt, ns, exact_key(ns, normalize(prompt)))

    @staticmethod
    def _sequence(values: Iterable[Any], name: str) -> list[Any]:
        if isinstance(values, str | bytes) or not isinstance(values, Iterable):
            raise ArgumentTypeError(f"{name} must be a list of values, got {describe(values)}")
        return list(values)

    def _ttl(self, ttl: float | None) -> float | None:
        checked = check_ttl(ttl)
        return self.config.ttl if checked is None else checked

    def _embed(self, texts: list[str], given: Any = None) -> np.ndarray:
        if given is not None:
            return check_embeddings(given, 1, self._embedder.dim, source="embedding")
        return check_embeddings(self._embedder.embed(texts), len(texts), self._embedder.dim)

    def _query_vector(self, q: _Query, given: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """A lookup's embedding row and, when its namespace has an index, its fingerprint.

        A float32 vector of the right shape is checked (finite, non-zero, unit) and
        fingerprinted in one kernel call; anything else, or a vector that fails a
        check, goes through ``check_embeddings``, which coerces, re-normalises or
        raises, exactly as for a put.
        """
        raw = self._embedder.embed([q.prompt]) if given is None else given
        dim = self._embedder.dim
        if (
            q.namespace in self._indexes  # (read without the lock: a wrong guess only costs time)
            and type(raw) is np.ndarray
            and raw.dtype == np.float32
            and raw.flags.c_contiguous
            and raw.shape in ((dim,), (1, dim))
        ):
            vec = raw if raw.ndim == 1 else raw[0]
            fp = np.empty(2, dtype=np.uint64)
            planes = self._planes if self._planes is not None else self._make_planes(dim)
            if self._check_signs(vec, planes, _UNIT_TOLERANCE, fp) == 0:  # OK
                return vec, fp
        if given is None:
            return check_embeddings(raw, 1, dim)[0], None
        return check_embeddings(given, 1, dim, source="embedding")[0], None

    def _reads_of(self, verifier: Verifier) -> _Reads:
        """What ``verifier`` reads, worked out once per verifier object (``min_cosine``
        is a property that costs about a microsecond); a swapped verifier is noticed."""
        reads = self._reads
        if reads is None or reads.verifier is not verifier:
            reads = self._reads = _Reads(
                verifier,
                float(verifier.min_cosine),
                bool(getattr(verifier, "reads_embeddings", False)),
                not isinstance(verifier, CosineVerifier),
                bool(getattr(verifier, "reads_shingles", True)),
                _long_words(verifier),
            )
        return reads

    def _make_planes(self, dim: int) -> np.ndarray:
        from .kernels.simhash import project_signs_rows
        from .kernels.vectors import check_signs

        rng = np.random.default_rng(_PLANES_SEED)
        self._planes = rng.standard_normal((128, dim), dtype=np.float32)  # rows: C-contiguous
        self._project_signs = project_signs_rows
        self._check_signs = check_signs
        return self._planes

    def _fingerprint(self, vecs: np.ndarray) -> np.ndarray:
        """128-bit random-hyperplane SimHash of each row, as uint64[n, 2]."""
        planes = self._planes if self._planes is not None else self._make_planes(vecs.shape[1])
        out = np.empty((vecs.shape[0], 2), dtype=np.uint64)
        self._project_signs(vecs, planes, out)
        return out

    def _index_for(self, namespace: str) -> Any:
        index = self._indexes.get(namespace)
        if index is None:
            if self._device == "gpu":
                from .index.gpu import GpuFlatIndex

                index = GpuFlatIndex()
            else:
                from .index import make_index

                low, at = _search_range(self.verifier)
                index = make_index(self.config.index, low, at)
            self._indexes[namespace] = index
        return index

    def _hit(self, entry: _Entry, score: float, exact: bool, confidence: float) -> Hit:
        self._counts["hits"] += 1
        self._counts["exact_hits" if exact else "semantic_hits"] += 1
        # (by position, in field order: a frozen dataclass takes keywords more slowly)
        return Hit(
            _payload.decode(entry.kind, entry.payload),
            score,
            entry.prompt,
            entry.key,
            exact,
            entry.namespace,
            _payload.decode_metadata(entry.metadata),
            confidence,
        )

    def _exact(self, q: _Query) -> Hit | None:
        entry = self._lru.get(q.key)
        if isinstance(entry, _Entry):
            return self._hit(entry, 1.0, True, 1.0)
        return None

    def _semantic(self, q: _Query, vec: np.ndarray, fp: np.ndarray | None = None) -> Hit | None:
        index = self._indexes.get(q.namespace)
        if index is None or self._pool is None or len(index) == 0:
            self._counts["misses"] += 1
            return None
        if fp is None:
            fp = self._fingerprint(vec[None, :])[0]
        found = index.search(vec, fp, self._pool.matrix, self.config.candidates)
        entries: list[_Entry] = []
        cands: list[Candidate] = []
        remade = False  # a candidate's profile made or remade here
        joined_made = TextProfile.joined_made  # (a profile that makes its joined words grows)
        verifier = self.verifier
        reads = self._reads
        if reads is None or reads.verifier is not verifier:
            reads = self._reads_of(verifier)
        floor = reads.floor
        pool = self._pool if reads.vectors else None
        try:
            for key, score in found:
                if score < floor:
                    break  # best first: nothing further down can be served
                entry = self._lru.get(key)  # an expired entry leaves the index here
                if isinstance(entry, _Entry):
                    if reads.profiles and (entry.profile is None or reads.shingles):
                        # none made yet, or perhaps made without the 3-grams this verifier reads
                        made = usable_profile(entry.profile, entry.prompt, reads.shingles)
                        remade = remade or made is not entry.profile
                        entry.profile = made
                    entries.append(entry)
                    row = None if pool is None else pool.get(entry.slot)
                    cands.append(Candidate(entry.prompt, score, entry.profile, row))
            if not cands:
                decision = None
            elif pool is not None:  # the verifier read above, even if another thread swaps it now
                decision = verifier.decide(q.prompt, cands, query_vector=vec)  # type: ignore[call-arg]
            else:
                decision = verifier.decide(q.prompt, cands)
        finally:
            if remade or TextProfile.joined_made != joined_made:
                # a candidate's profile grew (made here, or its joined words made by the
                # verifier's long-prompt guard): count the candidates again, evicting only
                # now, so no row is freed under the verifier
                for e in entries:
                    self._lru.resize(e.key)
        if decision is None:
            self._counts["misses"] += 1
            return None
        try:
            i, confidence = decision
            ok = type(i) is int and 0 <= i < len(cands) and type(confidence) is float and 0.0 <= confidence <= 1.0
        except (TypeError, ValueError):
            ok = False
        if not ok:  # a custom verifier's answer must name a candidate (a wrong one is a wrong hit)
            i, confidence = _checked_decision(decision, len(cands))
        return self._hit(entries[i], cands[i].cosine, False, confidence)

    def _insert(
        self,
        q: _Query,
        kind: str,
        payload: str | bytes,
        meta: str | None,
        vec: np.ndarray,
        fp: np.ndarray,
        ttl: float | None,
        counted: bool = True,
    ) -> None:
        old = self._lru.pop(q.key, None)
        if isinstance(old, _Entry):
            self._forget(old)
        if self._pool is None:
            self._pool = EmbeddingPool(vec.shape[1])
        slot = self._pool.add(vec[0])
        entry = _Entry(q.key, q.namespace, q.prompt, kind, payload, meta, slot, vec.shape[1])
        reads = self._reads_of(self.verifier)
        if reads.profiles:  # made here, off the lookup path; 3-grams only when read
            made = entry.profile = profile(q.prompt, shingles=reads.shingles)
            if reads.long_words is not None and made.n_words > reads.long_words:
                made.joined  # noqa: B018 (made now and counted: the long-prompt guard reads them)
        self._index_for(q.namespace).add(q.key, slot, fp)
        if counted:
            self._counts["puts"] += 1
        self._lru.set(q.key, entry, ttl)

    def _forget(self, entry: _Entry) -> None:
        index = self._indexes.get(entry.namespace)
        if index is not None and index.remove(entry.key) is not None and self._pool is not None:
            self._pool.free(entry.slot)
        if index is not None and len(index) == 0:
            del self._indexes[entry.namespace]  # one namespace per conversation must not leak

    def _on_evict(self, key: str, entry: _Entry, reason: EvictReason) -> None:
        self._forget(entry)

    # -- the Redis tier (thin: the logic lives in tiers/redis.py and replication/) --
    def _connect_redis(
        self,
        target: object,
        timeout: float,
        replica_id: str | None,
        peers: Sequence[object],
        interval: float | None,
    ) -> None:
        from .replication import Background, Replicator
        from .tiers.redis import RedisTier

        if isinstance(peers, str | bytes) or not isinstance(peers, Sequence):
            raise ArgumentTypeError(f"peers must be a list of Redis URLs, got {describe(peers)}")

        def tier(where: object, **kwargs: Any) -> RedisTier:
            return RedisTier(
                where,
                dim=self._embedder.dim,
                prefix=self.config.redis_prefix,
                replica_id=replica_id,
                tombstones=replica_id is not None,
                timeout=timeout,
                strict=self.config.strict,
                on_error=self._count_error,
                **kwargs,
            )

        self._redis = tier(target, on_change=self._absorb, on_reset=self._keep_only)
        if replica_id is not None:
            self._redis.ensure_meta()
        if peers or replica_id is not None:  # (without peers it still collects tombstones)
            self._replicator = Replicator(self._redis, [tier(p) for p in peers])
        self._redis.refresh()  # serve what the Redis already holds
        if interval is not None:
            self._background = Background(self.sync, interval)

    def _count_error(self) -> None:
        with self._lock:
            self._counts["errors"] += 1

    def _stored(
        self,
        q: _Query,
        kind: str,
        payload: str | bytes,
        meta: str | None,
        vec: np.ndarray,
        fp: np.ndarray,
        *,
        ttl: float | None,
    ) -> Entry:
        from .tiers.redis import make_entry

        return make_entry(
            namespace=q.namespace,
            prompt=q.prompt,
            kind=kind,
            payload=payload,
            metadata=meta,
            vector=vec,
            fingerprint=fp,
            ttl=ttl,
        )

    def _remote_exact(self, queries: list[_Query]) -> list[Hit | None]:
        """Exact lookups in Redis (one round trip); what is found joins the local tiers."""
        assert self._redis is not None
        found = self._redis.lookup([q.key for q in queries]).found
        self._absorb([(q.key, s) for q, s in zip(queries, found, strict=True) if s is not None])
        hits: list[Hit | None] = []
        with self._lock:
            for q, state in zip(queries, found, strict=True):
                live = state is not None and state.value is not None
                entry = self._lru.get(q.key) if live else None
                if isinstance(entry, _Entry) and entry.namespace == q.namespace:
                    hits.append(self._hit(entry, 1.0, True, 1.0))
                else:
                    hits.append(None)
        return hits

    def _absorb(self, changes: Sequence[tuple[str, State | None]]) -> None:
        """Mirror states read from Redis (writes of other processes or replicas) locally."""
        from .tiers.redis import now_ms

        now = now_ms()
        with self._lock:
            for key, state in changes:
                value = None if state is None else state.value
                ttl = None if value is None else value.ttl_left(now)
                if value is None or (ttl is not None and ttl <= 0):
                    gone = self._lru.pop(key, None)
                    if isinstance(gone, _Entry):
                        self._forget(gone)
                    continue
                payload, meta = value.payload(), value.metadata_text()
                held = self._lru.peek(key)
                if (
                    isinstance(held, _Entry)
                    and held.prompt == value.prompt
                    and held.payload == payload
                    and held.metadata == meta
                    and held.namespace == value.namespace
                ):
                    continue  # already held: this process's own write, coming back
                q = _Query(value.prompt, value.namespace, key)
                vec = value.vector()[None, :]
                fp = value.fingerprint_words()  # stored with the entry: not computed again
                self._insert(q, value.kind, payload, meta, vec, fp, ttl, counted=False)

    def _keep_only(self, keys: set[str]) -> None:
        """After a full reload from Redis: drop local entries Redis no longer holds."""
        with self._lock:
            for key in list(self._lru):
                if key not in keys:
                    gone = self._lru.pop(key, None)
                    if isinstance(gone, _Entry):
                        self._forget(gone)
