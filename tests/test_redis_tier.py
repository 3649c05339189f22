"""The Redis tier against the shared Redis (each test under its own key prefix)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import sys
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from semcache import (
    BackendError,
    CorruptEntryError,
    InvalidConfigError,
    MissingDependencyError,
    SemanticCache,
)
from semcache.replication import Order, compare

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.redis

Q = "What is the capital of France?"


def make(url: str, prefix: str, **kwargs: Any) -> SemanticCache:
    return SemanticCache("hashing", threshold=0.7, redis=url, redis_prefix=prefix, **kwargs)


@pytest.fixture
def raw(redis_url: str) -> Iterator[Any]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts what is sent to any Redis: one packed send is one round trip."""
    sent = [0]
    original = redis.connection.Connection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        original(self, command, check_health)

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting)
    return sent


def test_two_caches_share_exact_hits_of_every_kind(redis_url: str, redis_prefix: str) -> None:
    a, b = make(redis_url, redis_prefix), make(redis_url, redis_prefix, max_entries=2)
    answers: list[Any] = [
        "Paris",
        b"\x00\xffbytes",
        {"city": "Paris", "n": [1, 2.5, None]},
        [1, "x"],
        42,
        "",
        b"",
    ]
    for i, answer in enumerate(answers):
        a.put(f"question number {i}", answer, metadata={"i": i}, namespace="ns")
    c = make(redis_url, redis_prefix, max_entries=2)  # holds 2 locally, finds the rest in Redis
    for i, answer in enumerate(answers):
        for cache in (b, c):
            hit = cache.get(f"Question number {i}?", namespace="ns")
            assert hit is not None and hit.exact
            assert hit.response == answer and hit.metadata == {"i": i}
            assert cache.get(f"question number {i}", namespace="other") is None
    assert c.stats().errors == 0
    a.put("in the default namespace", "")
    hit = make(redis_url, redis_prefix).get("in the default namespace")
    assert hit is not None and hit.response == "" and hit.namespace == "" and hit.metadata is None


def test_values_are_json_never_pickle(redis_url: str, redis_prefix: str, raw: Any) -> None:
    cache = make(redis_url, redis_prefix)
    key = cache.put(Q, {"answer": "Paris"}, metadata={"model": "m"})
    stored = raw.hgetall(f"{redis_prefix}e:{key}")
    assert stored[b"kd"] == b"j" and json.loads(stored[b"d"]) == {"answer": "Paris"}
    assert json.loads(stored[b"m"]) == {"model": "m"}
    assert stored[b"p"] == Q.encode()
    assert len(stored[b"e"]) == 4 * cache.embedder.dim and len(stored[b"f"]) == 16
    assert stored[b"vv"].startswith(b"local=") and stored[b"c"].endswith(b",local")
    assert not any(v.startswith(b"\x80") for v in stored.values())  # no pickle protocol header


def test_other_processes_writes_reach_the_semantic_index(redis_url: str, redis_prefix: str) -> None:
    a, b = make(redis_url, redis_prefix), make(redis_url, redis_prefix)
    assert b.get("How tall is Mount Everest?") is None
    a.put("How tall is Mount Everest?", "8849 m")
    hit = b.get("How tall is the Mount Everest")  # a different exact key: found semantically
    assert hit is not None and not hit.exact and hit.response == "8849 m"


def test_a_cache_starting_on_a_filled_redis_serves_it(redis_url: str, redis_prefix: str) -> None:
    a = make(redis_url, redis_prefix)
    a.put_many(
        [f"fact number {i} about cats" for i in range(50)], [f"answer {i}" for i in range(50)]
    )
    b = make(redis_url, redis_prefix)
    assert len(b) == 50  # its index was rebuilt from the stored embeddings
    hit = b.get("fact number 7 about cats!")
    assert hit is not None and hit.response == "answer 7"
    hit = b.get("fact number 7 about the cats")
    assert hit is not None and hit.response == "answer 7" and not hit.exact
    assert b.stats().puts == 0


def test_ttl_is_redis_expiry(redis_url: str, redis_prefix: str, raw: Any) -> None:
    a = make(redis_url, redis_prefix)
    key = a.put(Q, "Paris", ttl=0.3)
    assert 0 < raw.pttl(f"{redis_prefix}e:{key}") <= 300
    time.sleep(0.35)
    assert make(redis_url, redis_prefix).get(Q) is None


def test_deletes_and_clears_reach_other_processes(redis_url: str, redis_prefix: str) -> None:
    a, b = make(redis_url, redis_prefix), make(redis_url, redis_prefix)
    a.put("How tall is Mount Everest?", "8849 m", namespace="geo")
    a.put("How deep is the Mariana Trench?", "10994 m", namespace="geo")
    a.put("Who wrote Hamlet?", "Shakespeare", namespace="books")
    assert b.get("How tall is the Mount Everest", namespace="geo") is not None
    assert b.delete("How tall is Mount Everest?", namespace="geo")  # held by b and by Redis
    assert a.get("How tall is the Mount Everest", namespace="geo") is None  # a heard of it
    assert not make(redis_url, redis_prefix).delete("How tall is Mount Everest?", namespace="geo")
    b.clear("geo")
    assert a.get("How deep is the Mariana Trench", namespace="geo") is not None  # a local hit...
    a.sync()  # ... until a reads the change log (every sync_interval, or on its next Redis lookup)
    assert a.get("How deep is the Mariana Trench", namespace="geo") is None
    assert a.get("Who wrote Hamlet?", namespace="books") is not None
    assert make(redis_url, redis_prefix).get("Who wrote Hamlet", namespace="books") is not None
    a.clear()
    assert make(redis_url, redis_prefix).get("Who wrote Hamlet", namespace="books") is None


def test_a_gap_in_the_change_log_reloads_and_drops_what_redis_lost(
    redis_url: str, redis_prefix: str, raw: Any
) -> None:
    a, b = make(redis_url, redis_prefix), make(redis_url, redis_prefix)
    a.put("How tall is Mount Everest?", "8849 m")
    a.put("Who wrote Hamlet?", "Shakespeare")
    assert b.get("Who wrote Hamlet") is not None and len(b) == 2
    a.delete("How tall is Mount Everest?")
    a.put("Who painted the Mona Lisa?", "Leonardo")
    raw.xtrim(f"{redis_prefix}log", maxlen=0, approximate=False)  # b never sees those messages
    assert b.get("something unrelated") is None  # finds the gap, reloads from the entries
    assert b.get("How tall is Mount Everest?") is None  # dropped: Redis no longer holds it
    hit = b.get("Who painted the Mona Lisa")
    assert hit is not None and hit.response == "Leonardo"


def test_round_trips_per_operation(
    redis_url: str, redis_prefix: str, round_trips: list[int]
) -> None:
    a, b = make(redis_url, redis_prefix), make(redis_url, redis_prefix, max_entries=1)
    a.put("warm up the connection", "x")
    b.get("warm up the connection")

    def count(fn: Any) -> int:
        before = round_trips[0]
        fn()
        return round_trips[0] - before

    assert count(lambda: a.put(Q, "Paris")) == 1
    assert count(lambda: a.get(Q)) == 0  # the local tier
    assert count(lambda: b.get(Q)) == 1  # exact hit in Redis (plus the change feed)
    assert count(lambda: b.get("What is the capital city of France")) == 1  # semantic hit
    assert count(lambda: b.get("Something else entirely")) == 1  # miss
    assert count(lambda: b.get_many(["a", "b", "c"])) == 1
    assert count(lambda: a.put_many(["p1", "p2", "p3"], ["1", "2", "3"])) == 1
    assert count(lambda: a.delete(Q)) == 1


def test_corrupt_entries_are_misses_and_counted(
    redis_url: str, redis_prefix: str, raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    a = make(redis_url, redis_prefix)
    key = a.put(Q, {"answer": "Paris"})
    raw.hset(f"{redis_prefix}e:{key}", "d", b"{not json")
    b = make(redis_url, redis_prefix)
    with caplog.at_level(logging.WARNING, logger="semcache"):
        assert b.get(Q) is None
    assert b.stats().errors >= 1
    assert "does not decode" in caplog.text
    raw.hset(f"{redis_prefix}e:{key}", mapping={"d": b'"fine"', "e": b"short"})
    with pytest.raises(CorruptEntryError, match="embedding"):
        make(redis_url, redis_prefix, strict=True)  # strict: the startup load raises


def test_strict_mode_raises_backend_errors(redis_servers: Any) -> None:
    server = redis_servers()
    cache = SemanticCache(
        "hashing", threshold=0.7, redis=server.url, strict=True, redis_timeout=0.05
    )
    cache.put(Q, "Paris")
    server.kill()
    with pytest.raises(BackendError, match="Redis at") as info:
        cache.put("another question", "x")
    assert isinstance(info.value.__cause__, redis.exceptions.ConnectionError)
    assert cache.get(Q) is not None  # the local tier still answers


def test_a_slower_writer_cannot_overwrite_a_newer_version(
    redis_url: str, redis_prefix: str
) -> None:
    a = make(redis_url, redis_prefix, replica_id="r1")
    key = a.put(Q, "old")
    tier = a._redis
    assert tier is not None
    states = tier.read_states([key])
    assert states is not None
    old_state, old_token = states[key]
    a.put(Q, "new")  # a newer version lands first
    lease = tier.take_lease(5)
    assert lease
    try:
        assert tier.apply([(key, old_token, old_state)], lease) == [key]  # the CAS refuses
        assert tier.apply([(key, old_token, old_state)], "not-the-lease") is None  # fenced
    finally:
        tier.release_lease(lease)
    hit = make(redis_url, redis_prefix, replica_id="r1").get(Q)
    assert hit is not None and hit.response == "new"


def test_lua_stamps_follow_the_pure_rules(redis_url: str, redis_prefix: str) -> None:
    a = make(redis_url, redis_prefix, replica_id="r1")
    b = make(redis_url, redis_prefix, replica_id="r1")  # a second process of the same replica
    assert a._redis is not None
    versions = []
    for i, cache in enumerate([a, b, a, b, a]):
        if i == 3:
            cache.delete(Q)
        else:
            cache.put(Q, f"v{i}")
        states = a._redis.read_states([exact_key()])
        assert states is not None
        state = states[exact_key()][0]
        assert state is not None
        versions.append(state.version)
    for before, after in itertools.pairwise(versions):
        assert compare(after.vector, before.vector) is Order.AFTER
        assert after.clock > before.clock and after.clock.replica == "r1"


def exact_key() -> str:
    from semcache.normalize import exact_key as key_of
    from semcache.normalize import normalize

    return key_of("", normalize(Q))


async def test_asyncio_client_and_async_methods(redis_url: str, redis_prefix: str) -> None:
    client = redis.asyncio.Redis.from_url(redis_url, decode_responses=True)
    a = make(redis_url, redis_prefix)
    b = SemanticCache("hashing", threshold=0.7, redis=client, redis_prefix=redis_prefix)
    await a.aput(Q, "Paris")
    hits = await asyncio.gather(b.aget(Q), b.aget("What is the capital city of France"))
    assert [h.response if h else None for h in hits] == ["Paris", "Paris"]
    assert await b.adelete(Q)
    assert await make(redis_url, redis_prefix).aget(Q) is None
    await client.aclose()


def test_a_given_sync_client_is_copied_with_safe_settings(
    redis_url: str, redis_prefix: str
) -> None:
    client = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=None)
    cache = SemanticCache("hashing", threshold=0.7, redis=client, redis_prefix=redis_prefix)
    cache.put(Q, b"\xff binary")
    hit = make(redis_url, redis_prefix).get(Q)
    assert hit is not None and hit.response == b"\xff binary"
    assert cache._redis is not None
    kwargs = cache._redis.client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 0.1 and kwargs["decode_responses"] is False


def test_background_sync_thread_refreshes_and_stops(redis_url: str, redis_prefix: str) -> None:
    a = make(redis_url, redis_prefix)
    b = make(redis_url, redis_prefix, sync_interval=0.05)
    a.put(Q, "Paris")
    deadline = time.monotonic() + 5
    while len(b) == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(b) == 1  # arrived without any lookup by b
    thread = b._background._thread if b._background else None
    b.close()
    assert thread is not None and not thread.is_alive()
    b.close()  # idempotent


def test_threads_sharing_caches_do_not_deadlock_or_fail(redis_url: str, redis_prefix: str) -> None:
    import random
    import threading

    caches = [
        make(redis_url, redis_prefix, sync_interval=0.01),
        make(redis_url, redis_prefix, max_entries=5),
    ]
    failures: list[BaseException] = []

    def work(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(150):
                cache, q = rng.choice(caches), f"question {rng.randrange(20)} about threads"
                action = rng.random()
                if action < 0.5:
                    cache.get(q)
                elif action < 0.85:
                    cache.put(q, {"seed": seed})
                elif action < 0.97:
                    cache.delete(q)
                else:
                    cache.sync()
        except BaseException as exc:  # collected, so the test fails with it below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads) and not failures, failures
    assert all(c.stats().errors == 0 for c in caches)
    for c in caches:
        c.close()


def test_options_are_checked(redis_url: str, redis_prefix: str) -> None:
    with pytest.raises(InvalidConfigError, match="need redis="):
        SemanticCache("hashing", threshold=0.7, replica_id="eu-1")
    with pytest.raises(InvalidConfigError, match="replica_id"):
        make(redis_url, redis_prefix, replica_id="eu 1")
    with pytest.raises(InvalidConfigError, match="replica_id"):
        make(redis_url, redis_prefix, peers=["redis://127.0.0.1:1"])
    with pytest.raises(InvalidConfigError, match="redis_timeout"):
        make(redis_url, redis_prefix, redis_timeout=0)
    with pytest.raises(InvalidConfigError, match="sync_interval"):
        make(redis_url, redis_prefix, sync_interval=-1)
    with pytest.raises(InvalidConfigError, match="redis must be"):
        make(12345, redis_prefix)  # type: ignore[arg-type]
    make(redis_url, redis_prefix, replica_id="eu-1")
    with pytest.raises(InvalidConfigError, match="belongs to replica 'eu-1'"):
        make(redis_url, redis_prefix, replica_id="us-1")
    with pytest.raises(InvalidConfigError, match="needs a Redis"):
        SemanticCache("hashing", threshold=0.7).sync()


def test_missing_redis_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingDependencyError, match=r"semcache\[redis\]"):
        SemanticCache("hashing", threshold=0.7, redis="redis://127.0.0.1:6379")


def test_a_tier_pickles_without_its_connections(redis_url: str, redis_prefix: str) -> None:
    import pickle

    cache = make(redis_url, redis_prefix, replica_id="p1")
    cache.put(Q, "Paris")
    assert cache._redis is not None
    copy = pickle.loads(pickle.dumps(cache._redis))
    assert copy.replica == "p1" and copy.on_change is None
    assert copy.client is not cache._redis.client
    found = copy.lookup([exact_key()]).found[0]
    assert found is not None and found.value is not None and found.value.payload() == "Paris"
    copy.close()


def test_entry_codec_round_trips() -> None:
    from semcache.tiers.redis import FIELDS, decode_state, make_entry

    vec = np.linspace(-1, 1, 8, dtype=np.float32)
    fp = np.array([1, 2**63 + 5], dtype=np.uint64)
    e = make_entry(
        namespace="ns",
        prompt="p é",
        kind="s",
        payload="ü",
        metadata='{"a":1}',
        vector=vec,
        fingerprint=fp,
        ttl=None,
    )
    assert np.array_equal(e.vector(), vec) and np.array_equal(e.fingerprint_words(), fp)
    assert e.payload() == "ü" and e.metadata_text() == '{"a":1}' and e.ttl_left(0) is None
    fields = {"vv": b"a=1", "c": b"5,0,a", "ns": b"ns", "p": "p é".encode(), "kd": b"s",
              "d": "ü".encode(), "m": b'{"a":1}', "e": e.embedding, "f": e.fingerprint}  # fmt: skip
    values = [fields.get(f) for f in FIELDS]
    state = decode_state(values, 8)
    assert state is not None and state.value == e
    assert decode_state([None] * len(FIELDS), 8) is None
    with pytest.raises(CorruptEntryError, match="lacks"):
        decode_state([b"a=1", b"5,0,a"] + [None] * (len(FIELDS) - 2), 8)
    with pytest.raises(CorruptEntryError):
        decode_state([b"a=1", b"5,0,a"], 8)
    with pytest.raises(CorruptEntryError, match="kind"):
        decode_state([x if x != b"s" else b"z" for x in values], 8)
    tomb = decode_state([b"a=2", b"6,0,a", b"1"] + [None] * (len(FIELDS) - 3), 8)
    assert tomb is not None and tomb.value is None


@pytest.mark.parametrize(
    ("response", "metadata"),
    [("half of a pair: \ud83d", None), (["\ud800", "caf\u00e9"], {"note": "\udc00"}), ("caf\u00e9", {"k": "\u00e9"})],
)
def test_lone_surrogates_in_responses_and_metadata_round_trip(
    redis_url: str, redis_prefix: str, response: object, metadata: dict[str, str] | None
) -> None:
    """A response or metadata holding half of a UTF-16 pair (e.g. from a JSON "\\ud83d"
    escape) is stored as it came and comes back equal, from memory and from Redis."""
    writer = make(redis_url, redis_prefix)
    writer.put("what did the model say", response, metadata=metadata)
    for cache in (writer, make(redis_url, redis_prefix)):  # (a second process finds it in Redis)
        hit = cache.get("what did the model say")
        assert hit is not None and hit.response == response and hit.metadata == metadata
    assert writer.stats().errors == 0
