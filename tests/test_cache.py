"""SemanticCache behaviour: hits, namespaces, TTL, bounds, errors, batching, async, threads."""

from __future__ import annotations

import asyncio
import threading
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import semcache
from semcache import (
    ArgumentTypeError,
    HashingEmbedder,
    Hit,
    InvalidArgumentError,
    InvalidConfigError,
    InvalidEmbeddingError,
    InvalidPromptError,
    InvalidResponseError,
    SemanticCache,
)
from semcache.verify import load_default_verifier

from .conftest import FakeClock, near, unit


def test_exact_hit_skips_embedding_and_normalises(cache: SemanticCache) -> None:
    key = cache.put("How do I reset my password?", "Use the 'Forgot password' link.")
    calls = []
    original = cache.embedder.embed
    cache.embedder.embed = lambda texts: calls.append(texts) or original(texts)  # type: ignore[method-assign]
    hit = cache.get("  how do I RESET my   password!! ")
    assert isinstance(hit, Hit) and hit.exact and hit.score == 1.0 and hit.entry_id == key
    assert hit.response == "Use the 'Forgot password' link." and hit.prompt == "How do I reset my password?"
    assert calls == []
    assert cache.stats().exact_hits == 1


def test_semantic_hit_and_miss(cache: SemanticCache) -> None:
    cache.put("How do I reset my password on the website", "Use the link.")
    hit = cache.get("How can I reset my password on the website")
    assert hit is not None and not hit.exact and 0.6 <= hit.score < 1.0
    assert cache.get("Which trains go to the airport on Sundays") is None
    s = cache.stats()
    assert (s.hits, s.semantic_hits, s.misses, s.puts) == (1, 1, 1, 1)


def test_namespaces_never_answer_each_other(cache: SemanticCache) -> None:
    cache.put("What is the capital of France", "Paris", namespace="gpt-4o|t=0")
    assert cache.get("What is the capital of France", namespace="gpt-4o|t=1") is None
    assert cache.get("what is the capital of france?", namespace="") is None
    hit = cache.get("What is the capital of France", namespace="gpt-4o|t=0")
    assert hit is not None and hit.namespace == "gpt-4o|t=0"


@pytest.mark.parametrize(
    "response",
    ["text", "", b"\x00\xffbytes", {"a": [1, 2.5, None, True], "b": {"c": "d"}}, [1, "two"], 3, 2.5, None, True],
)
def test_responses_round_trip_unchanged(cache: SemanticCache, response: object) -> None:
    cache.put("a prompt", response)
    hit = cache.get("a prompt")
    assert hit is not None and hit.response == response and type(hit.response) is type(response)


@pytest.mark.parametrize(
    ("response", "metadata"),
    [("half of a pair: \ud83d", None), (["\ud800", "caf\u00e9"], {"note": "\udc00"})],
)
def test_lone_surrogates_round_trip_without_redis(
    cache: SemanticCache, response: object, metadata: dict[str, str] | None
) -> None:
    """The in-memory tier stores a lone surrogate as it came (the Redis tier has its own test)."""
    cache.put("what did the model say", response, metadata=metadata)
    hit = cache.get("what did the model say")
    assert hit is not None and hit.response == response and hit.metadata == metadata
    assert cache.stats().errors == 0


def test_mutating_a_hit_does_not_change_the_cache(cache: SemanticCache) -> None:
    cache.put("p", {"list": [1]}, metadata={"source": "test"})
    hit = cache.get("p")
    assert hit is not None and hit.metadata == {"source": "test"}
    hit.response["list"].append(2)
    hit.metadata["source"] = "changed"  # type: ignore[index]
    again = cache.get("p")
    assert again is not None and again.response == {"list": [1]} and again.metadata == {"source": "test"}


def test_put_replaces_the_same_prompt(cache: SemanticCache) -> None:
    a = cache.put("What time is it", "noon")
    b = cache.put("what time is it?", "one o'clock")
    assert a == b and len(cache) == 1
    hit = cache.get("What time is it")
    assert hit is not None and hit.response == "one o'clock"


def test_delete_and_clear(cache: SemanticCache) -> None:
    cache.put("alpha question about cats", "1", namespace="a")
    cache.put("beta question about dogs", "2", namespace="b")
    assert cache.delete("alpha question about cats", namespace="a") is True
    assert cache.delete("alpha question about cats", namespace="a") is False
    assert cache.get("alpha question about cats", namespace="a") is None
    cache.put("gamma question about fish", "3", namespace="a")
    cache.clear("a")
    assert cache.get("gamma question about fish", namespace="a") is None
    assert cache.get("beta question about dogs", namespace="b") is not None
    cache.clear()
    assert len(cache) == 0 and cache.get("beta question about dogs", namespace="b") is None
    assert cache.stats().deletes == 1


def test_ttl_expiry_with_fake_clock(cache: SemanticCache, clock: FakeClock) -> None:
    cache.put("short lived question here", "x", ttl=10)
    cache.put("zebra crossings in Kyoto", "y")
    clock.advance(9)
    assert cache.get("short lived question here") is not None
    clock.advance(2)
    assert cache.get("short lived question here") is None
    # the expired entry left the index too: a paraphrase cannot reach it
    assert cache.get("short lived question here please") is None
    assert cache.stats().expirations == 1 and len(cache) == 1
    assert len(cache._indexes[""]) == 1


def test_default_ttl_from_config(embedder: HashingEmbedder, clock: FakeClock) -> None:
    c = SemanticCache(embedder, threshold=0.6, ttl=5, timer=clock)
    c.put("q", "a")
    clock.advance(6)
    assert c.get("q") is None


def test_max_entries_evicts_least_recent_and_frees_pool(embedder: HashingEmbedder) -> None:
    c = SemanticCache(embedder, threshold=0.99, max_entries=3)
    for i in range(10):
        c.put(f"question number {i} about topic {i * 7}", str(i))
    s = c.stats()
    assert len(c) == 3 and s.evictions == 7
    assert c.get("question number 9 about topic 63") is not None
    assert c.get("question number 0 about topic 0") is None
    assert c._pool is not None and len(c._pool) == 3 and c._pool.capacity <= 1024


def test_max_bytes_rejects_oversized_entry(embedder: HashingEmbedder) -> None:
    c = SemanticCache(embedder, threshold=0.99, max_bytes=4096)
    c.put("small", "ok")
    c.put("huge", "x" * 10_000)
    assert c.get("huge") is None and c.get("small") is not None
    assert c.stats().rejected == 1


_TEMPLATE = " ".join(
    f"Rule {i}: answer in plain words, cite the {w} you used, and keep the tone {t}."
    for i, (w, t) in enumerate(zip(["source", "paper", "manual", "page"] * 6, ["calm", "warm", "dry"] * 8, strict=True))
)  # ~330 words: past the long-prompt limit (160)


def _prompt(i: int, long: bool) -> str:
    """A distinct prompt, made now (so its memory is the cache's once stored)."""
    nouns, verbs = ["printer", "laptop", "router", "phone", "camera"], ["start", "charge", "connect", "update"]
    ask = f"Why will my {nouns[i % 5]} model {i} not {verbs[i % 4]} after update {i * 7 % 13}?"
    return f"{_TEMPLATE} Now the question: {ask}" if long else ask


@pytest.mark.parametrize("long", [False, True])
def test_max_bytes_bounds_the_memory_the_entries_really_hold(long: bool) -> None:
    """``max_bytes`` counts what an entry really holds (tracemalloc): its strings, its
    embedding row, its lexical profile (with the joined words the long-prompt guard
    reads, for a long prompt) and its bookkeeping. It counted characters and the row
    alone, so a cache of long prompts held ~3.5x its bound."""
    import gc
    import tracemalloc

    emb = HashingEmbedder(dim=64)
    bound, n = (600_000, 400) if long else (300_000, 600)
    rng = np.random.default_rng(11)
    vecs = unit(rng, n, 64)
    close = near(rng, vecs, 0.985)  # past the verifier's floor: each lookup reaches the verifier
    warm = SemanticCache(emb)  # what is no entry's first: the kernels these prompts need
    for i in range(20):
        warm.put(_prompt(i, long), "x", embedding=vecs[i])
        warm.get(_prompt(i, long) + " please", embedding=close[i])
    cache = SemanticCache(emb, max_bytes=bound)  # then this cache's hyperplanes and index
    cache.put(_prompt(0, long), "x", embedding=vecs[0])
    cache.get(_prompt(0, long) + " please", embedding=close[0])
    cache.delete(_prompt(0, long))
    del warm
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(n):
            cache.put(_prompt(i, long), f"Answer {i}: " + "check the cable and the settings. " * 6, embedding=vecs[i])
            if i % 10 == 0:  # (lookups must not grow entries uncounted)
                cache.get(_prompt(i, long) + " please", embedding=close[i])
        gc.collect()
        snap = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    # nor are the embedder's memo, the pool's spare rows (it grows by doubling), or what
    # Numba allocates to compile or load a kernel (with a cold cache, some happens here)
    others = [tracemalloc.Filter(False, f) for f in ("*/tiers/pool.py", "*/embedders/*", "*/numba/*", "*/llvmlite/*")]
    mine = snap.filter_traces(others)
    held = sum(t.size for t in mine.traces)
    rows = len(cache) * 4 * emb.dim
    assert cache.stats().evictions > 0 and cache._lru.currbytes <= bound
    assert held + rows <= 1.1 * bound
    assert 0.8 <= held / (cache._lru.currbytes - rows) <= 1.2  # (measured 0.86 and 0.98)


class _Wrapper:
    """A verifier wrapping the default (a logging wrapper, say): it names no word limit,
    and the verifier inside makes a long profile's joined words as it decides."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    @property
    def min_cosine(self) -> float:
        return float(self.inner.min_cosine)

    def decide(self, query: str, candidates: Any) -> tuple[int, float] | None:
        return self.inner.decide(query, candidates)  # type: ignore[no-any-return]


@pytest.mark.parametrize("swap", ["3-grams", "word limit", "wrapper"])
def test_profiles_remade_after_a_verifier_swap_are_counted(swap: str) -> None:
    """A verifier that reads what the stored profiles lack has it made on lookup: the
    character 3-grams (a verifier that weighs them), or the joined words of a prompt
    longer than its word limit but not the old verifier's, or of any long prompt for a
    verifier that names no limit (counted after its decision). The entries grow, the
    tier counts every byte, and the bound holds (cold entries go)."""
    from dataclasses import replace

    from semcache._features import FEATURE_NAMES
    from semcache.verify import load_default_verifier

    emb = HashingEmbedder(dim=64)
    rng = np.random.default_rng(5)
    vecs = unit(rng, 25, 64)
    close = near(rng, vecs, 0.985)  # past the verifier's floor: every entry is a candidate once
    default = load_default_verifier()
    if swap == "3-grams":
        long, first, bound = False, default, 50_000  # 25 lean entries take ~47 kB
        w = np.array(default.weights)
        w[FEATURE_NAMES.index("char_jaccard")] = 4.0
        then = replace(default, weights=tuple(w))
    elif swap == "word limit":  # prompts of ~400 words, stored under a limit of 400, looked up under 160
        long, first, bound, then = True, replace(default, long_words=400), 200_000, default
    else:
        long, first, bound, then = True, _Wrapper(default), 300_000, None  # (3-grams too: it names none)
    cache = SemanticCache(emb, verifier=first, max_bytes=bound)
    for i in range(25):
        cache.put(_prompt(i, long), f"answer {i}", embedding=vecs[i])
    assert cache.stats().evictions == 0
    before = {k: cache._lru._data[k].size for k in cache._lru}  # what the tier counted for each
    if then is not None:
        cache.verifier = then
    for i in range(25):
        cache.get(_prompt(i, long) + " today", embedding=close[i])
    entries: dict[str, Any] = {k: cache._lru.peek(k) for k in cache._lru}
    counted = {k: cache._lru._data[k].size for k in entries}
    grown = [e for k, e in entries.items() if counted[k] > before[k]]
    assert grown and all(e.profile.has_joined if long else e.profile.has_shingles for e in grown)
    assert all(counted[k] == e.size + e.profile.nbytes for k, e in entries.items())  # nothing grew unseen
    assert cache.stats().bytes == cache._lru.currbytes == sum(counted.values()) <= bound
    assert cache.stats().evictions > 0


def test_batch_calls_match_single_calls(cache: SemanticCache) -> None:
    prompts = ["first prompt about apples", "second prompt about pears", "third prompt about plums"]
    ids = cache.put_many(prompts, ["A", "B", "C"], namespace="n")
    assert len(ids) == 3 and len(set(ids)) == 3
    queries = ["first prompt about apples", "nothing like it at all zzz", "third prompt about plums"]
    got = cache.get_many(queries, namespace="n")
    assert [h.response if h else None for h in got] == ["A", None, "C"]
    assert cache.get_many([], namespace="n") == []


def test_user_supplied_embeddings_are_validated(embedder: HashingEmbedder) -> None:
    c = SemanticCache(embedder, threshold=0.9)
    vec = np.zeros(128, np.float32)
    vec[3] = 2.0  # not unit length: re-normalised
    c.put("p", "r", embedding=vec)
    hit = c.get("other words entirely", embedding=vec)
    assert hit is not None and hit.score == pytest.approx(1.0)
    with pytest.raises(InvalidEmbeddingError, match=r"shape \(1, 128\), got shape \(1, 127\)"):
        c.get("q", embedding=np.ones(127, np.float32))
    bad = np.ones(128, np.float32)
    bad[5] = np.nan
    with pytest.raises(InvalidEmbeddingError, match="NaN"):
        c.put("q", "r", embedding=bad)
    with pytest.raises(InvalidEmbeddingError, match="all-zero"):
        c.put("q", "r", embedding=np.zeros(128, np.float32))


def test_lookup_embeddings_are_validated_on_the_fast_path(embedder: HashingEmbedder) -> None:
    # once the namespace has an index, a float32 vector is checked and fingerprinted in one kernel call
    c = SemanticCache(embedder, threshold=0.9)
    unit = np.zeros(128, np.float32)
    unit[3] = 1.0
    c.put("p", "r", embedding=unit)
    for vector in (unit, unit[None, :], 2 * unit, (2 * unit).astype(np.float64), [float(x) for x in unit]):
        hit = c.get("other words entirely", embedding=vector)
        assert hit is not None and hit.score == pytest.approx(1.0)
    nan = unit.copy()
    nan[5] = np.nan
    inf = unit.copy()
    inf[0] = np.inf
    for bad, match in (
        (nan, "NaN"),
        (inf, "NaN or infinite"),
        (np.zeros(128, np.float32), "all-zero"),
        (np.ones((2, 128), np.float32), r"shape \(1, 128\), got shape \(2, 128\)"),
        (np.ones(129, np.float32), r"got shape \(1, 129\)"),
        (np.ones(256, np.float32)[::2], None),  # not contiguous: coerced, then accepted
    ):
        if match is None:
            c.get("q", embedding=bad)  # no error
            continue
        with pytest.raises(InvalidEmbeddingError, match=match):
            c.get("q", embedding=bad)
    assert c.stats().misses >= 1


class BrokenEmbedder:
    dim = 8

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 7), np.float32)


def test_embedder_with_wrong_dimension_is_reported() -> None:
    c = SemanticCache(BrokenEmbedder(), threshold=0.9)
    with pytest.raises(InvalidEmbeddingError, match=r"embedder must give embeddings of shape \(1, 8\)"):
        c.put("p", "r")


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda c: c.get(""), InvalidPromptError, "non-empty"),
        (lambda c: c.get("   "), InvalidPromptError, "non-blank"),
        (lambda c: c.get(42), ArgumentTypeError, "prompt must be a str, got int 42"),
        (lambda c: c.get("why \ud800"), InvalidPromptError, r"prompt must be text that encodes as UTF-8, got a lone "
         r"surrogate '\\ud800' at index 4"),
        (lambda c: c.put("p", "r", namespace="n\udc00"), InvalidArgumentError, "namespace must be text that encodes"),
        (lambda c: c.put("p", object()), InvalidResponseError, "JSON-serialisable"),
        (lambda c: c.put("p", float("nan")), InvalidResponseError, "JSON-serialisable"),
        (lambda c: c.put("p", "r", ttl=-1), InvalidConfigError, "ttl must be a finite number of seconds > 0"),
        (lambda c: c.put("p", "r", ttl="1"), ArgumentTypeError, "ttl must be None or a number"),
        (lambda c: c.put("p", "r", namespace=None), ArgumentTypeError, "namespace must be a str"),
        (lambda c: c.put("p", "r", metadata=[1]), ArgumentTypeError, "metadata must be a mapping"),
        (lambda c: c.put_many(["a", "b"], ["x"]), ValueError, "same length"),
        (lambda c: c.put_many("ab", "xy"), ArgumentTypeError, "prompts must be a list"),
    ],
)
def test_bad_input_gets_clear_errors(cache: SemanticCache, call, error, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(error, match=message):
        call(cache)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, r"threshold must be in \[0, 1\], got 1.5"),
        ({"threshold": -0.1}, r"threshold must be in \[0, 1\]"),
        ({"target_precision": 1.0}, r"target_precision must be in \(0, 1\)"),
        ({"threshold": 0.9, "target_precision": 0.9}, "not both"),
        ({"max_entries": 0}, "max_entries must be >= 1, got 0"),
        ({"max_bytes": -5}, "max_bytes must be >= 1"),
        ({"ttl": -3}, "ttl must be a finite number of seconds > 0, got -3"),
        ({"index": "hnsw"}, "index must be one of"),
        ({"device": "tpu"}, "device must be one of"),
    ],
)
def test_bad_config_gets_clear_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        SemanticCache("hashing", **kwargs)  # type: ignore[arg-type]
    assert isinstance(info.value, semcache.SemcacheError)


def test_bad_embedder_type() -> None:
    with pytest.raises(TypeError, match="embedder must be 'auto', 'hashing'"):
        SemanticCache(12345)


def test_async_methods_match_sync(cache: SemanticCache) -> None:
    async def run() -> list[object]:
        await cache.aput("async question about rivers", "nile")
        await cache.aput_many(["async one", "async two"], [1, 2])
        hit = await cache.aget("async question about rivers")
        many = await cache.aget_many(["async one", "async two"])
        removed = await cache.adelete("async one")
        await cache.aclear()
        return [hit.response if hit else None, [h.response if h else None for h in many], removed, len(cache)]

    assert asyncio.run(run()) == ["nile", [1, 2], True, 0]


def test_async_does_not_block_the_event_loop(embedder: HashingEmbedder) -> None:
    class SlowEmbedder:
        dim = embedder.dim

        def embed(self, texts: list[str]) -> np.ndarray:
            threading.Event().wait(0.2)
            return embedder.embed(texts)

    c = SemanticCache(SlowEmbedder(), threshold=0.9)

    async def run() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        await c.aput("slow", "x")
        task.cancel()
        return ticks

    assert asyncio.run(run()) >= 5


def test_thread_safety_under_concurrent_use(embedder: HashingEmbedder) -> None:
    c = SemanticCache(embedder, threshold=0.95, max_entries=300)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(150):
                c.put(f"thread {t} prompt {i}", f"{t}:{i}", namespace=str(t % 2))
                hit = c.get(f"thread {t} prompt {i // 2}", namespace=str(t % 2))
                if hit is not None and hit.exact:
                    assert hit.response == f"{t}:{i // 2}"
                if i % 10 == 0:
                    c.delete(f"thread {t} prompt {i - 5}", namespace=str(t % 2))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    s = c.stats()
    assert len(c) <= 300 and s.puts == 900
    assert c._pool is not None and len(c._pool) == len(c)
    assert sum(len(ix) for ix in c._indexes.values()) == len(c)


def test_lsh_index_serves_large_namespace(embedder: HashingEmbedder) -> None:
    c = SemanticCache(embedder, threshold=0.97, index="lsh")
    c.put_many([f"entry number {i} of many" for i in range(500)], list(range(500)))
    hit = c.get("entry number 321 of many!")
    assert hit is not None and hit.response == 321
    assert c._indexes[""].kind == "lsh"


@pytest.mark.parametrize("index", ["lsh", "auto"])
def test_index_keeps_full_recall_from_the_verifiers_search_cosine(embedder: HashingEmbedder, index: str) -> None:
    # the default verifier's floor keeps a margin under where it serves: search plans
    # for full recall from search_cosine and MIN_RECALL at the floor; a cosine gate
    # (no search_cosine) plans for full recall at its threshold
    for kwargs in ({"target_precision": 0.95}, {"threshold": 0.97}):
        c = SemanticCache(embedder, index=index, **kwargs)  # type: ignore[arg-type]
        c.put("a prompt", "an answer")
        v = c.verifier
        ix = c._indexes[""]
        assert ix.min_cosine == v.min_cosine
        assert ix.recall_at == getattr(v, "search_cosine", v.min_cosine)
    assert isinstance(v, semcache.CosineVerifier) and ix.recall_at == 0.97
    d = semcache.SemanticCache(embedder).verifier
    assert d.min_cosine < d.search_cosine <= d.min_cosine + semcache.verify.FLOOR_MARGIN + 1e-12  # type: ignore[attr-defined]


def test_a_verifiers_search_cosine_is_checked_and_bounded(embedder: HashingEmbedder) -> None:
    class Gate(semcache.CosineVerifier):
        def __init__(self, threshold: float, search_cosine: object) -> None:
            super().__init__(threshold)
            self.search_cosine = search_cosine

    for bad in (float("nan"), "0.97", object()):
        with pytest.raises(InvalidConfigError, match="search_cosine must be a finite number"):
            SemanticCache(embedder, verifier=Gate(0.9, bad))
    for asked, used in ((1.2, 1.0), (0.5, 0.9), (0.95, 0.95)):  # held within [min_cosine, 1]
        c = SemanticCache(embedder, verifier=Gate(0.9, asked), index="lsh")
        c.put("a prompt", "an answer")
        assert c._indexes[""].recall_at == used
    # a target out of the verifier's reach (its point 1.0): floor and search_cosine both 1.0
    shipped = load_default_verifier()

    def unreachable(pairs: tuple[tuple[float, float], ...]) -> tuple[tuple[float, float], ...]:
        return tuple((t, 1.0 if t == 0.995 else x) for t, x in pairs)

    out_of_reach = replace(
        shipped,
        points=unreachable(shipped.points),
        cosine_floors=unreachable(shipped.cosine_floors),
        served_cosines=unreachable(shipped.served_cosines),
    )
    strict = SemanticCache(embedder, verifier=out_of_reach, target_precision=0.995, index="lsh")
    strict.put("a prompt", "an answer")  # (the put makes the index: it must not raise)
    assert strict._indexes[""].min_cosine == strict._indexes[""].recall_at == 1.0
    assert strict.get("a prompt") is not None


def test_context_manager_and_repr(embedder: HashingEmbedder) -> None:
    with SemanticCache(embedder, threshold=0.9) as c:
        c.put("x", "y")
        assert "SemanticCache(" in repr(c) and "entries=1" in repr(c)


def test_cosine_for_precision_interpolates_the_measured_points() -> None:
    from semcache.verify import cosine_for_precision

    assert cosine_for_precision(0.95) == pytest.approx(0.970)
    assert cosine_for_precision(0.99) == pytest.approx(0.993)
    assert 0.970 < cosine_for_precision(0.97) < 0.993


def test_empty_namespaces_release_their_index(cache: SemanticCache) -> None:
    for i in range(20):
        cache.put(f"follow-up question {i}", "x", namespace=f"conversation-{i}")
    for i in range(20):
        assert cache.delete(f"follow-up question {i}", namespace=f"conversation-{i}")
    assert cache._indexes == {}


def _normalize_reference(text: str) -> str:
    """The exact-key normalisation written out: NFKC, casefold, runs of white space
    to one space, ends stripped, trailing ``?.!`` and spaces stripped."""
    import re
    import unicodedata

    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"\s+", " ", folded).strip().rstrip("?.! \t\r\n\f\v")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aZé ?!.\t\n\u00a0\u2003\u1680\x1cİßﬁ\u0301x1")) | st.characters(),
               max_size=40))
def test_normalize_matches_its_reference(text: str) -> None:
    from semcache.normalize import normalize

    assert normalize(text) == _normalize_reference(text)


def test_a_target_precision_the_verifier_cannot_take_is_refused(embedder: HashingEmbedder) -> None:
    """Without with_target the target would be ignored, with no word."""
    with pytest.raises(InvalidConfigError, match=r"target_precision needs a verifier with with_target"):
        SemanticCache(embedder, verifier=semcache.CosineVerifier(0.5), target_precision=0.99)
    with pytest.raises(ArgumentTypeError, match=r"verifier must be an object with"):
        SemanticCache(embedder, verifier=semcache.CalibratedVerifier)  # type: ignore[arg-type]
    assert SemanticCache(embedder, target_precision=0.99).verifier.target_precision == 0.99  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "decision", [(-1, 0.9), (2, 0.9), (0, 7.5), (0, float("nan")), (0,), "yes", (True, 0.9), (0, True)]
)
def test_a_verifier_decision_that_names_no_candidate_is_refused(
    embedder: HashingEmbedder, decision: object
) -> None:
    """(-1, 0.9) served the last candidate, a confidence of 7.5 went into the Hit as is."""

    class Odd(semcache.CosineVerifier):
        def decide(self, query: str, candidates: Any, query_vector: Any = None) -> Any:
            return decision if candidates else None

    cache = SemanticCache(embedder, verifier=Odd(0.0), candidates=2)
    cache.put("what is the capital of France", "Paris")
    cache.put("what is the capital of Spain", "Madrid")
    with pytest.raises(InvalidArgumentError, match=r"verifier.decide must return None or \(index of one of the "):
        cache.get("what is the capital of Italy")


def test_a_verifier_decision_may_use_numpy_numbers(embedder: HashingEmbedder) -> None:
    class Numpy(semcache.CosineVerifier):
        def decide(self, query: str, candidates: Any, query_vector: Any = None) -> Any:
            return (np.int64(0), np.float32(0.75)) if candidates else None

    cache = SemanticCache(embedder, verifier=Numpy(0.0))
    cache.put("what is the capital of France", "Paris")
    hit = cache.get("what is the capital of Italy")
    assert hit is not None and hit.response == "Paris" and hit.confidence == 0.75 and type(hit.confidence) is float
