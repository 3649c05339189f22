"""Replicas on their own redis-server processes converge through change logs and anti-entropy."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import pytest

from semcache import SemanticCache

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.redis

NAMES = ["eu-1", "us-1", "ap-1"]
KEYS = [f"question number {i} about the weather" for i in range(12)]


def replica(servers: list[Any], i: int, **kwargs: Any) -> SemanticCache:
    peers = [s.url for j, s in enumerate(servers) if j != i]
    return SemanticCache(
        "hashing", threshold=0.97, redis=servers[i].url, replica_id=NAMES[i], peers=peers, **kwargs
    )


def answers(cache: SemanticCache) -> list[Any]:
    out = []
    for k in KEYS:
        hit = cache.get(k)
        out.append(None if hit is None else hit.response)
    return out


def sync_all(caches: list[SemanticCache], rounds: int = 2) -> None:
    for _ in range(rounds):
        for c in caches:
            report = c.sync()
            assert report.failed == 0 and not report.busy, report


def raw(server: Any) -> Any:
    return redis.Redis.from_url(server.url)


def test_three_replicas_on_three_servers_converge(redis_servers: Any) -> None:
    servers = [redis_servers() for _ in range(3)]
    caches = [replica(servers, i) for i in range(3)]
    rng = random.Random(7)
    deleted: set[str] = set()
    for step in range(60):
        c, k = rng.randrange(3), rng.choice(KEYS)
        if rng.random() < 0.25:
            caches[c].delete(k)
        else:
            caches[c].put(k, f"{NAMES[c]}:{step}")
        if rng.random() < 0.2:  # partial, uneven syncing while writes go on
            caches[rng.randrange(3)].sync()
    for k in KEYS[:3]:  # deleted on one replica after the others have synced a value
        caches[0].put(k, "to be deleted")
        sync_all(caches, 1)
        caches[2].delete(k)
        deleted.add(k)
    sync_all(caches)
    views = [answers(c) for c in caches]
    assert views[0] == views[1] == views[2]
    assert all(views[0][KEYS.index(k)] is None for k in deleted)
    # fresh processes on each replica see the same (they rebuild from their own Redis)
    assert all(answers(replica(servers, i)) == views[0] for i in range(3))
    # tombstones are collected once every replica has seen them, and nothing comes back
    sync_all(caches, 2)
    assert all(raw(s).scard("semcache:tombs") == 0 for s in servers)
    sync_all(caches, 1)
    assert [answers(c) for c in caches] == views


def test_concurrent_writes_resolve_the_same_everywhere(redis_servers: Any) -> None:
    servers = [redis_servers() for _ in range(3)]
    caches = [replica(servers, i) for i in range(3)]
    for i, c in enumerate(caches):  # the same key written on every replica before any sync
        c.put(KEYS[0], f"from {NAMES[i]}")
        time.sleep(0.005)
    caches[1].delete(KEYS[1])  # a delete concurrent with ...
    time.sleep(0.005)  # (a later millisecond: equal clocks would go to the higher replica id)
    caches[2].put(KEYS[1], "a later write")  # ... a later put: the later one wins
    sync_all(caches)
    views = [answers(c) for c in caches]
    assert views[0] == views[1] == views[2]
    assert views[0][0] == "from ap-1" and views[0][1] == "a later write"  # highest clock wins


def test_a_replica_that_was_down_catches_up(redis_servers: Any) -> None:
    servers = [redis_servers() for _ in range(3)]
    caches = [replica(servers, i) for i in range(3)]
    caches[0].put(KEYS[0], "before")
    sync_all(caches)
    caches[2].close()  # ap-1's application is down; its Redis dies too and comes back empty
    servers[2].kill()
    for i, k in enumerate(KEYS):
        caches[i % 2].put(k, f"while ap-1 was away {i}")
    caches[1].delete(KEYS[5])
    for c in caches[:2]:
        report = c.sync()
        assert report.failed == 1  # ap-1 cannot be reached: no error, just reported
    servers[2].start()
    back = replica(servers, 2)
    report = back.sync()
    assert report.failed == 0 and report.repaired == 0  # its cursors are gone: logs from 0
    sync_all([*caches[:2], back])
    assert answers(back) == answers(caches[0]) == answers(caches[1])
    assert answers(back)[5] is None and answers(back)[0] == "while ap-1 was away 0"


def test_a_trimmed_log_is_repaired_by_anti_entropy(redis_servers: Any) -> None:
    servers = [redis_servers() for _ in range(2)]
    caches = [replica(servers, i) for i in range(2)]
    caches[0].put(KEYS[0], "first")
    sync_all(caches)
    for i, k in enumerate(KEYS):
        caches[0].put(k, f"v{i}")
    caches[0].delete(KEYS[3])
    raw(servers[0]).xtrim(
        "semcache:log", maxlen=2, approximate=False
    )  # eu-1's log lost what us-1 had not read
    report = caches[1].sync()
    assert report.repaired == 1
    assert answers(caches[1]) == answers(caches[0])
    assert answers(caches[1])[3] is None
    caches[0].put(KEYS[1], "after the repair")  # and the log is followed again from there
    assert caches[1].sync().repaired == 0
    assert caches[1].get(KEYS[1]).response == "after the repair"  # type: ignore[union-attr]


def test_one_process_per_replica_syncs_at_a_time(redis_servers: Any) -> None:
    servers = [redis_servers() for _ in range(2)]
    a0, b = replica(servers, 0), replica(servers, 1)
    a1 = replica(servers, 0)  # a second process of eu-1
    b.put_many(KEYS, [f"b{i}" for i in range(len(KEYS))])
    reports: list[Any] = []
    barrier = threading.Barrier(2)

    def run(c: SemanticCache) -> None:
        barrier.wait()
        reports.append(c.sync())

    threads = [threading.Thread(target=run, args=(c,)) for c in (a0, a1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    applied = sum(r.applied for r in reports)
    assert applied == len(KEYS)  # each state merged once, by whichever process held the lease
    assert answers(a0) == answers(a1) == answers(b)


def test_a_lone_replica_collects_its_tombstones_unless_someone_reads_its_log(
    redis_servers: Any,
) -> None:
    server = redis_servers()
    lone = SemanticCache("hashing", threshold=0.97, redis=server.url, replica_id="solo")
    lone.put(KEYS[0], "x")
    lone.delete(KEYS[0])
    assert raw(server).scard("semcache:tombs") == 1
    assert lone.sync().purged == 1 and raw(server).scard("semcache:tombs") == 0
    raw(server).hset("semcache:readers", "elsewhere", 1)  # a replica we cannot see pulls from us
    lone.put(KEYS[1], "y")
    lone.delete(KEYS[1])
    assert lone.sync().purged == 0 and raw(server).scard("semcache:tombs") == 1


def test_background_sync_converges_without_calls(redis_servers: Any) -> None:
    servers = [redis_servers() for _ in range(2)]
    caches = [replica(servers, i, sync_interval=0.05) for i in range(2)]
    caches[0].put(KEYS[0], "pushed")
    caches[1].put(KEYS[1], "pulled")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not (len(caches[0]) == len(caches[1]) == 2):
        time.sleep(0.05)
    assert len(caches[0]) == len(caches[1]) == 2
    for c in caches:
        c.close()
