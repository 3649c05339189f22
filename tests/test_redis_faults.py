"""A Redis that dies, hangs or comes back: misses and local-only writes, never exceptions."""

from __future__ import annotations

import logging
import signal
import time
from typing import Any

import pytest

from semcache import SemanticCache
from semcache.tiers.redis import CircuitBreaker

redis = pytest.importorskip("redis")

pytestmark = pytest.mark.redis


def make(url: str, **kwargs: Any) -> SemanticCache:
    return SemanticCache("hashing", threshold=0.95, redis=url, redis_timeout=0.05, **kwargs)


def wait_until(cond: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def test_a_killed_redis_gives_misses_and_writes_resume_after_a_restart(
    redis_servers: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server = redis_servers()
    a = make(server.url)
    b = make(server.url, max_entries=1)
    for i in range(20):
        a.put(f"question {i} about rivers", f"answer {i}")
    assert b.get("question 3 about rivers") is not None
    server.kill()

    with caplog.at_level(logging.WARNING, logger="semcache"):
        t0 = time.perf_counter()
        misses = [b.get(f"question {i} about rivers!") for i in range(4, 20)]
        elapsed = time.perf_counter() - t0
        assert elapsed < 3.0  # refused connections, then the breaker: no 5 s client timeouts
        assert all(m is None for m in misses)
        a.put("written while Redis is down", "local only")  # no exception
        assert a.get("written while Redis is down") is not None  # served locally
    errors = b.stats().errors
    probes = int(elapsed / 0.5) + 1  # at most one try per cool-down once the breaker opened
    assert 3 <= errors <= 3 + probes  # the breaker stopped trying after three failures
    assert b._redis is not None and b._redis.skipped > 0
    assert "Redis at" in caplog.text and "local tier" in caplog.text

    server.start()  # same port, empty (no persistence)
    assert wait_until(
        lambda: a.put("written after the restart", "reaches Redis") and _stored(server)
    )
    c = make(server.url)
    hit = c.get("written after the restart")
    assert hit is not None and hit.response == "reaches Redis"
    assert c.get("written while Redis is down") is None  # that write stayed local
    assert wait_until(lambda: b.get("written after the restart") is not None)


def _stored(server: Any) -> bool:
    client = redis.Redis.from_url(server.url)
    try:
        return any(True for _ in client.scan_iter(match="semcache:e:*"))
    finally:
        client.close()


def test_a_hung_redis_costs_the_timeout_then_nothing(redis_servers: Any) -> None:
    server = redis_servers()
    cache = make(server.url, max_entries=1)
    cache.put("warm", "up")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGSTOP)  # accepts connections, never answers
    try:
        t0 = time.perf_counter()
        for i in range(30):
            assert cache.get(f"anything {i}") is None
        elapsed = time.perf_counter() - t0
        assert elapsed < 3.0  # a few 50 ms timeouts, then the open breaker skips Redis
        assert cache.stats().errors <= 3 + int(elapsed / 0.5) + 1
    finally:
        server.proc.send_signal(signal.SIGCONT)
    assert wait_until(lambda: cache.get("warm ") is not None)  # back, via Redis


def test_circuit_breaker_opens_probes_and_closes() -> None:
    now = [0.0]
    b = CircuitBreaker(threshold=2, cooldown=1.0, max_cooldown=3.0, timer=lambda: now[0])
    assert b.allow()
    assert not b.failure()
    assert b.failure() and b.is_open
    assert not b.allow()
    now[0] = 1.0
    assert b.allow() and not b.allow()  # one probe at a time
    assert b.failure()  # the probe failed: twice the cool-down
    now[0] = 2.5
    assert not b.allow()
    now[0] = 3.0
    assert b.allow()
    assert b.success() and not b.is_open and b.allow()
    for _ in range(2):
        b.failure()
    now[0] = 3.5
    assert not b.allow()  # the cool-down is back to 1 s after a success
    now[0] = 4.0
    assert b.allow()
