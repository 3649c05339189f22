#!/usr/bin/env python
"""Lookup latency through the Redis tier on loopback, with 1 and 8 concurrent client processes.

A private ``redis-server`` (no persistence) is started on a free port and
filled with ``--entries`` entries (random unit vectors, dim 384, given through
``embedding=``, so no embedding model runs). Every client is its own process
with two caches on that Redis: a *cold* one (``max_entries=1``, so exact hits
must come from Redis) and a *warm* one (which loaded every entry into its
local index at start). Each kind of operation runs as one phase, all clients
at once (a barrier starts them together), each timing every call alone with
``perf_counter_ns`` after a warm-up:

* ``exact (local)``: a stored prompt, answered by the warm cache's LRU tier (0 round trips);
* ``exact (Redis)``: a stored prompt the cold cache does not hold: one READ round trip;
* ``semantic``: an unseen prompt whose vector has cosine 0.97 to a stored one:
  one READ round trip (exact miss, plus the change feed), then the local index;
* ``miss``: an unseen prompt with a random vector: one round trip, then the local index;
* ``put``: a new entry: one WRITE round trip (stamp, hash, log).

Round trips per operation are counted apart from the timed runs, by counting
``send_packed_command`` calls of redis-py's connections (one per pipeline or
script call). Every phase is repeated ``--repeats`` times; the report gives
the median over repeats of each repeat's p50 and p99 (all clients' calls pooled).

    python benchmarks/redis_latency.py                 # 10k entries, 1 and 8 clients, 5 repeats
    python benchmarks/redis_latency.py --quick         # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DIM = 384
COSINE = 0.97
PREFIX = "bench:"
KINDS = ("exact (local)", "exact (Redis)", "semantic", "miss", "put")


def unit_rows(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def near(v: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A unit vector at cosine COSINE to unit vector ``v``."""
    u = rng.standard_normal(DIM).astype(np.float32)
    u -= (u @ v) * v
    u /= np.linalg.norm(u)
    return (COSINE * v + np.sqrt(1 - COSINE**2) * u).astype(np.float32)


# -- the Redis server -------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    exe = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.exceptions.ConnectionError:
            time.sleep(0.02)
    client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


def fill(url: str, n: int) -> None:
    from semcache import HashingEmbedder, SemanticCache

    cache = SemanticCache(HashingEmbedder(dim=DIM), threshold=0.9, redis=url, redis_prefix=PREFIX, max_entries=1)
    vecs = unit_rows(n, 0)
    for i in range(n):
        cache.put(f"entry {i}", f"answer {i} " + "x" * 200, embedding=vecs[i])
    cache.close()


@contextlib.contextmanager
def count_round_trips(redis: Any) -> Iterator[list[int]]:
    """Count what redis-py sends: one packed send per command, pipeline or script call."""
    sent = [0]
    original = redis.connection.Connection.send_packed_command

    def counting(self: Any, command: Any, check_health: bool = True) -> None:
        sent[0] += 1
        original(self, command, check_health)

    redis.connection.Connection.send_packed_command = counting
    try:
        yield sent
    finally:
        redis.connection.Connection.send_packed_command = original


# -- one client process -------------------------------------------------------------
def client(url: str, n: int, ops: int, warmup: int, repeats: int, cid: int, barrier: Any, out: Any) -> None:
    import redis

    from semcache import HashingEmbedder, SemanticCache

    emb = HashingEmbedder(dim=DIM)
    # a long timeout: this measures latency, so no call may turn into a fast failure
    opts: dict[str, Any] = {"threshold": 0.9, "redis": url, "redis_prefix": PREFIX, "redis_timeout": 5.0}
    cold = SemanticCache(emb, max_entries=1, **opts)
    warm = SemanticCache(emb, max_entries=4 * n, **opts)
    vecs = unit_rows(n, 0)
    rng = np.random.default_rng(1000 + cid)
    serial = [0]

    def op(kind: str) -> Any:
        j = int(rng.integers(n))
        serial[0] += 1
        if kind == "exact (local)":
            return lambda: warm.get(f"entry {j}", embedding=vecs[j])
        if kind == "exact (Redis)":
            return lambda: cold.get(f"entry {j}", embedding=vecs[j])
        if kind == "semantic":
            q = near(vecs[j], rng)
            return lambda: warm.get(f"query {cid}.{serial[0]}", embedding=q)
        if kind == "miss":
            q = unit_rows(1, int(rng.integers(1 << 30)))[0]
            return lambda: warm.get(f"query {cid}.{serial[0]}", embedding=q)
        q = unit_rows(1, int(rng.integers(1 << 30)))[0]
        return lambda: warm.put(f"new {cid}.{serial[0]}", "fresh answer", embedding=q)

    result: dict[str, Any] = {"latency_ns": {}, "hits": {}, "round_trips": {}}
    for kind in KINDS:
        for _rep in range(repeats):
            calls = [op(kind) for _ in range(warmup + ops)]
            barrier.wait()
            times, hits = [], 0
            for i, call in enumerate(calls):
                t0 = time.perf_counter_ns()
                r = call()
                dt = time.perf_counter_ns() - t0
                if i >= warmup:
                    times.append(dt)
                    hits += r is not None and not isinstance(r, str)
            result["latency_ns"].setdefault(kind, []).append(times)
            result["hits"].setdefault(kind, []).append(hits / ops)
        # round trips, counted apart from the timed runs
        calls = [op(kind) for _ in range(100)]
        with count_round_trips(redis) as sent:
            for call in calls:
                call()
        result["round_trips"][kind] = sent[0] / len(calls)
    result["errors"] = cold.stats().errors + warm.stats().errors
    out.put((cid, result))


def run(url: str, n: int, clients: int, ops: int, warmup: int, repeats: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(clients)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=client, args=(url, n, ops, warmup, repeats, cid, barrier, out)) for cid in range(clients)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    summary: dict[str, Any] = {"errors": sum(r["errors"] for _, r in results)}
    for kind in KINDS:
        p50s, p99s = [], []
        for rep in range(repeats):
            pooled = np.concatenate([r["latency_ns"][kind][rep] for _, r in results]) / 1000.0
            p50s.append(float(np.percentile(pooled, 50)))
            p99s.append(float(np.percentile(pooled, 99)))
        summary[kind] = {
            "p50_us_median": statistics.median(p50s),
            "p99_us_median": statistics.median(p99s),
            "p50_us_runs": p50s,
            "p99_us_runs": p99s,
            "hit_rate": statistics.mean(h for _, r in results for h in r["hits"][kind]),
            "round_trips": statistics.mean(r["round_trips"][kind] for _, r in results),
        }
    return summary


def machine() -> dict[str, Any]:
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines()[:10]
    exe = shutil.which("redis-server") or "redis-server"
    redis_v = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    import redis

    return {
        "lscpu": lscpu,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "redis_server": redis_v,
        "redis_py": redis.__version__,
        "loadavg": Path("/proc/loadavg").read_text().split()[:3],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--ops", type=int, default=2_000, help="timed calls per client per repeat")
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "redis_latency.json")
    args = ap.parse_args()
    if args.quick:
        args.entries, args.ops, args.warmup, args.repeats = 2_000, 300, 50, 2
        args.out = args.out.with_name("redis_latency-quick.json")
    proc, url = start_redis()
    try:
        report: dict[str, Any] = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
        t0 = time.perf_counter()
        fill(url, args.entries)
        report["fill_seconds"] = time.perf_counter() - t0
        for c in args.clients:
            report[f"clients={c}"] = run(url, args.entries, c, args.ops, args.warmup, args.repeats)
            errors = report[f"clients={c}"]["errors"]
            print(f"\n{c} client(s), {args.entries} entries (median over {args.repeats} runs), {errors} errors")
            print(f"{'operation':<16}{'p50 us':>10}{'p99 us':>10}{'hits':>8}{'RT/op':>7}")
            for kind in KINDS:
                s = report[f"clients={c}"][kind]
                print(
                    f"{kind:<16}{s['p50_us_median']:>10.0f}{s['p99_us_median']:>10.0f}"
                    f"{s['hit_rate']:>8.2f}{s['round_trips']:>7.2f}"
                )
        report["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    finally:
        proc.kill()
        proc.wait()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
