#!/usr/bin/env python
"""SemanticCache lookup latency excluding the embedding (issue 2).

Embeddings are random unit vectors of dim 384 (float32), so no model runs:
every ``get`` gets its vector through ``embedding=``, and ``put_many`` goes
through an embedder that looks rows up in a prepared matrix. Each cache size
and configuration is built in its own child process, so that the RSS delta
is the cache's alone.

Lookups, each timed alone with ``time.perf_counter_ns``:

* miss: an unseen prompt and a fresh random unit vector;
* exact: a stored prompt (answered from the exact tier; no search);
* semantic: an unseen prompt whose vector is ``0.97 v + sqrt(1 - 0.97^2) u``,
  ``v`` a stored vector and ``u`` a random unit vector orthogonal to ``v``,
  so its cosine to ``v`` is 0.97.

Trials (``--trials``, a fresh process each) interleave the configurations, in
reversed order every other trial, and each configuration's p50 is also given
as a ratio to the first configuration's in the same trial (paired ratios):
on a shared VM whose speed drifts, that ratio is steadier than one of medians
taken minutes apart.

LSH recall is the share of semantic queries whose true entry is among the
index's candidates (``index.search``, the ``candidates`` best), checked apart
from the timed loop. The served-hit rate is the share of semantic ``get``
calls that returned that entry; it is the verifier's call, not the index's: a
plain cosine gate at 0.970 sits exactly on the queries' cosine, so float32
rounding decides about half (``threshold=0.969`` serves them all); a verifier
that weighs lexical evidence sees none in the synthetic prompts ("e123" vs
"s45") and decides on the cosine (the shipped one serves them since its 0.95
point is chosen on the probability the cache computes).

    python benchmarks/lookup_latency.py            # 10k, 100k, 1M; writes results/lookup_latency.json + plot
    python benchmarks/lookup_latency.py --quick    # smoke run (5k, 20k)
    python benchmarks/lookup_latency.py --sizes 100000 --trials 3 --no-memory --out benchmarks/results/x.json
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

HERE = Path(__file__).resolve().parent
DIM = 384
COSINE = 0.97
CONFIGS = {
    "default (target_precision 0.95)": {},
    "threshold=0.9": {"threshold": 0.9},
    "threshold=0.85": {"threshold": 0.85},
    # the core issue's cache: a plain cosine gate at the cosine that gave
    # precision 0.95 on QQP, no verifier (what issue 3's latency is compared to)
    "threshold=0.97": {"threshold": 0.97},
    # the same gate a hair lower: it serves every semantic query at cosine 0.97 (at exactly
    # 0.970 float32 rounding rejects about half), as the default does, so that the two
    # pay for the same hits and the difference is the verifier
    "threshold=0.969": {"threshold": 0.969},
}
KINDS = ("miss", "exact", "semantic")


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class RowEmbedder:
    """Prompt ``e{i}`` -> row i of a prepared matrix: put_many without a model."""

    def __init__(self, rows: np.ndarray) -> None:
        self.rows = rows
        self.dim = rows.shape[1]

    def embed(self, texts: list[str]) -> np.ndarray:
        return self.rows[[int(t[1:]) for t in texts]]


class NoEmbedder:
    """For benchmarks that give every vector: a put or get that would embed is a bug there."""

    dim = DIM

    def embed(self, texts: list[str]) -> np.ndarray:
        raise AssertionError("this benchmark gives every vector")


def fill(cache: Any, prompts: list[str], responses: list[str], chunk: int = 50_000) -> None:
    """Every (prompt, response) into ``cache``, ``chunk`` at a time (as a bulk load would)."""
    for lo in range(0, len(prompts), chunk):
        cache.put_many(prompts[lo : lo + chunk], responses[lo : lo + chunk])


def unit_rows(rng: np.random.Generator, n: int, chunk: int = 100_000) -> np.ndarray:
    out = np.empty((n, DIM), dtype=np.float32)
    for lo in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - lo), DIM), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[lo : lo + block.shape[0]] = block
    return out


def at_cosine(rng: np.random.Generator, v: np.ndarray, c: float) -> np.ndarray:
    """Unit vectors at cosine ``c`` to the rows of ``v``."""
    v64 = v.astype(np.float64)
    u = rng.standard_normal(v64.shape)
    u -= np.sum(u * v64, axis=1, keepdims=True) * v64
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    return np.ascontiguousarray(c * v64 + math.sqrt(1.0 - c * c) * u, dtype=np.float32)


def percentile_us(ns: list[int], q: float) -> float:
    return float(np.percentile(np.asarray(ns, dtype=np.float64), q)) / 1e3


# -- child: one cache size and configuration ---------------------------------------------
_GROUPS = (  # tracemalloc filename -> part of the cache
    ("tiers/pool.py", "pool (float32 matrix, capacity doubles)"),
    ("index/", "index (ids, fingerprints, bucket tables)"),
    ("tiers/lru.py", "LRU tier (OrderedDict + slots)"),
    ("_cache.py", "entries (_Entry, prompt/payload refs)"),
    ("normalize.py", "exact keys (32-char hex str)"),
)


def memory_child(config_name: str, n: int) -> dict:
    """Bytes per entry held after put_many, by tracemalloc (NumPy data included)."""
    import tracemalloc

    from semcache import SemanticCache

    rng = np.random.default_rng(n)
    vecs = unit_rows(rng, n)
    emb = RowEmbedder(vecs)
    prompts = [f"e{i}" for i in range(n)]
    responses = [f"answer {i}" for i in range(n)]
    warm = SemanticCache(RowEmbedder(unit_rows(rng, 5_000)), max_entries=5_000, **CONFIGS[config_name])
    warm.put_many([f"e{i}" for i in range(5_000)], ["x"] * 5_000)
    warm.get("q", embedding=vecs[0])
    del warm
    gc.collect()
    tracemalloc.start()
    cache = SemanticCache(emb, max_entries=n, **CONFIGS[config_name])
    fill(cache, prompts, responses)
    gc.collect()
    snap = tracemalloc.take_snapshot()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    parts: dict[str, int] = {}
    for stat in snap.statistics("filename"):
        fname = stat.traceback[0].filename.replace(os.sep, "/")
        if "/semcache/" not in fname:
            continue
        label = next((lab for key, lab in _GROUPS if key in fname), "other semcache")
        parts[label] = parts.get(label, 0) + stat.size
    # the response strings and prompts were made by this script before tracing: count them as an app would
    strings = sum(sys.getsizeof(p) + sys.getsizeof(r) for p, r in zip(prompts, responses, strict=True))
    return {
        "config": config_name,
        "n": n,
        "traced_bytes": current,
        "traced_per_entry": current / n,
        "peak_per_entry": peak / n,
        "parts_per_entry": {k: v / n for k, v in parts.items()},
        "pool_rows_used_per_entry": 4 * DIM,
        "pool_capacity_rows": cache._pool.capacity,
        "prompt_and_response_str_per_entry": strings / n,
    }


class Workload(NamedTuple):
    """The entries of an ``n``-entry cache and ``nq`` lookups of each kind (seeded by ``n``)."""

    rng: np.random.Generator
    vecs: np.ndarray
    prompts: list[str]
    responses: list[str]
    targets: np.ndarray  # the entry each exact and semantic lookup is about
    queries: dict[str, tuple[list[str], np.ndarray]]


def workload(n: int, nq: int) -> Workload:
    """Random unit entries ``e<i>`` and lookups ``m<i>`` (unseen), exact, and ``s<i>`` (at cosine 0.97 to an entry)."""
    rng = np.random.default_rng(n)
    vecs = unit_rows(rng, n)
    prompts = [f"e{i}" for i in range(n)]
    targets = rng.integers(0, n, nq)
    queries = {
        "miss": ([f"m{i}" for i in range(nq)], unit_rows(rng, nq)),
        "exact": ([prompts[j] for j in targets], np.ascontiguousarray(vecs[targets])),
        "semantic": ([f"s{i}" for i in range(nq)], at_cosine(rng, vecs[targets], COSINE)),
    }
    return Workload(rng, vecs, prompts, [f"answer {i}" for i in range(n)], targets, queries)


def warm_kernels(kwargs: dict, w: Workload) -> None:
    """Compile / load every kernel (flat and LSH paths) on a throwaway cache, so that
    neither the clock nor the RSS delta sees Numba's compiler."""
    from semcache import SemanticCache

    n, warm_n = len(w.prompts), 5_000
    rows = w.vecs[:warm_n] if n >= warm_n else unit_rows(w.rng, warm_n)
    warm = SemanticCache(RowEmbedder(rows), max_entries=warm_n, **kwargs)
    warm.put_many(w.prompts[:warm_n] if n >= warm_n else [f"e{i}" for i in range(warm_n)], ["x"] * warm_n)
    for kind in KINDS:
        warm.get(w.queries[kind][0][0], embedding=w.queries[kind][1][0])


def child(config_name: str, n: int, lookups: int, repeats: int, warmup: int, breakdown: bool) -> dict:
    from semcache import SemanticCache

    kwargs = CONFIGS[config_name]
    nq = lookups + warmup
    w = workload(n, nq)
    _, vecs, prompts, responses, targets, queries = w
    true_cos = np.einsum("ij,ij->i", queries["semantic"][1].astype(np.float64), vecs[targets].astype(np.float64))
    warm_kernels(kwargs, w)
    cache = SemanticCache(RowEmbedder(vecs), max_entries=n, **kwargs)
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter_ns()
    fill(cache, prompts, responses)
    insert_s = (time.perf_counter_ns() - t0) / 1e9
    gc.collect()
    rss1 = rss_bytes()
    assert len(cache) == n, (len(cache), n)

    index = cache._indexes[""]
    impl = getattr(index, "_impl", index)
    arrays = {"pool": cache._pool.nbytes}
    ids = impl._ids
    arrays["index ids (slots, fps, alive)"] = ids.slots.nbytes + ids.fps.nbytes + ids.alive.nbytes
    for name in ("_offsets", "_tables"):
        if hasattr(impl, name):
            arrays["index tables"] = arrays.get("index tables", 0) + getattr(impl, name).nbytes
    plan = getattr(impl, "plan", None)
    info = {
        "config": config_name,
        "kwargs": kwargs,
        "n": n,
        "min_cosine": cache.verifier.min_cosine,
        "verifier": repr(cache.verifier),
        "index_kind": index.kind,
        "plan": None
        if plan is None
        else {
            "bits": plan.bits,
            "probe_radius": plan.probe_radius,
            "radius": plan.radius,
            "modelled_recall": plan.recall,
        },
        "unbuilt_tail": None if plan is None else int(impl._ids.high - impl._built),
        "insert_s": insert_s,
        "insert_per_s": n / insert_s,
        "rss_delta_bytes": rss1 - rss0,
        "rss_per_entry": (rss1 - rss0) / n,
        "array_bytes": arrays,
        "array_bytes_per_entry": sum(arrays.values()) / n,
        "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }

    # timed lookups
    runs: dict[str, list[dict]] = {k: [] for k in KINDS}
    outcome: dict[str, list] = {}
    get = cache.get
    clock = time.perf_counter_ns
    for rep in range(repeats):
        for kind in KINDS:
            ps, vs = queries[kind]
            lo = 0 if rep == 0 else warmup  # the first repeat warms up on the first queries
            if rep == 0:
                for i in range(warmup):
                    get(ps[i], embedding=vs[i])
            times = []
            results = []
            for i in range(warmup, nq):
                p, v = ps[i], vs[i]
                t = clock()
                r = get(p, embedding=v)
                times.append(clock() - t)
                results.append(r)
            del lo
            runs[kind].append(
                {
                    "p50_us": percentile_us(times, 50),
                    "p99_us": percentile_us(times, 99),
                    "mean_us": float(np.mean(times)) / 1e3,
                }
            )
            outcome[kind] = results
    summary = {}
    for kind in KINDS:
        summary[kind] = {
            "p50_us": float(np.median([r["p50_us"] for r in runs[kind]])),
            "p99_us": float(np.median([r["p99_us"] for r in runs[kind]])),
            "mean_us": float(np.median([r["mean_us"] for r in runs[kind]])),
            "runs": runs[kind],
        }
    tk = targets[warmup:]
    summary["miss"]["false_hits"] = sum(r is not None for r in outcome["miss"])
    summary["exact"]["exact_hits"] = sum(r is not None and r.exact for r in outcome["exact"])
    sem = outcome["semantic"]
    summary["semantic"]["served_true"] = sum(
        r is not None and r.entry_id == cache._query(prompts[j], "").key for r, j in zip(sem, tk, strict=True)
    )
    summary["semantic"]["served_other"] = sum(r is not None for r in sem) - summary["semantic"]["served_true"]

    # LSH recall at cosine 0.97: is the true entry among the index's candidates?
    pool = cache._pool.matrix
    k = cache.config.candidates
    found = 0
    ps, vs = queries["semantic"]
    for i in range(warmup, nq):
        v = vs[i]
        fp = cache._fingerprint(v[None, :])[0]
        key = cache._query(prompts[targets[i]], "").key
        found += any(c[0] == key for c in index.search(v, fp, pool, k))
    summary["semantic"]["recall"] = found / lookups
    summary["semantic"]["cosine_min"] = float(true_cos.min())
    summary["semantic"]["cosine_max"] = float(true_cos.max())
    info["lookups"] = lookups
    info["repeats"] = repeats
    info["latency"] = summary
    if breakdown:
        info["breakdown"] = pieces(cache, queries, warmup, nq)
    return info


def pieces(cache, queries: dict, warmup: int, nq: int) -> dict:
    """Median ns of each step of a semantic lookup, timed one by one (where the time goes)."""
    index = cache._indexes[""]
    pool = cache._pool.matrix
    k = cache.config.candidates
    clock = time.perf_counter_ns
    out = {}
    if hasattr(cache, "_query_vector"):
        query_vector = cache._query_vector
        semantic = cache._semantic
    else:  # code from before check_signs: checks, then the fingerprint (timed again in 4b)

        def query_vector(q, v):
            vec = cache._embed([q.prompt], v)[0]
            return vec, cache._fingerprint(vec[None, :])[0]

        def semantic(q, vec, fp):
            return cache._semantic(q, vec)

    for kind in ("miss", "semantic"):
        ps, vs = queries[kind]
        t = {
            name: []
            for name in (
                "1 _query: check + normalize + blake2b key",
                "2 exact tier (LRU get)",
                "3-4 embedding checks + fingerprint (check_signs: one kernel call)",
                "4b fingerprint alone (project_signs_rows, 128 planes)",
                "5 index.search (LSH probe + re-rank)",
                "6 _semantic() whole: 5 + LRU get of candidates, verifier, Hit",
                "total get()",
            )
        }
        names = list(t)
        for i in range(warmup, nq):
            p, v = ps[i], vs[i]
            a = clock()
            q = cache._query(p, "")
            b = clock()
            cache._lru.get(q.key)
            c = clock()
            vec, fp = query_vector(q, v)
            d = clock()
            fp = cache._fingerprint(vec[None, :])[0]
            e = clock()
            index.search(vec, fp, pool, k)
            f = clock()
            semantic(q, vec, fp)  # search + candidates, verifier, Hit
            g = clock()
            cache.get(p, embedding=v)
            h = clock()
            for name, dt in zip(names, (b - a, c - b, d - c, e - d, f - e, g - f, h - g), strict=True):
                t[name].append(dt)
        out[kind] = {name: float(np.median(x)) / 1e3 for name, x in t.items()}
        out[kind]["p99 total get()"] = percentile_us(t["total get()"], 99)
    impl = getattr(index, "_impl", index)
    if hasattr(impl, "rebuild"):
        # the same queries once the unbuilt tail (scanned linearly) is folded into the tables
        out["unbuilt_tail"] = int(impl._ids.high - impl._built)
        impl.rebuild()
        for kind in ("miss", "semantic"):
            ps, vs = queries[kind]
            ts = []
            for i in range(warmup, nq):
                vec = vs[i]
                fp = cache._fingerprint(vec[None, :])[0]
                a = clock()
                index.search(vec, fp, pool, k)
                ts.append(clock() - a)
            out[kind]["5b index.search after rebuild() (no unbuilt tail)"] = float(np.median(ts)) / 1e3
        # the same kernel with nothing to probe: Python wrapper + Numba dispatch of its 14 arguments
        empty = np.zeros(0, dtype=impl._probes.dtype)
        saved = impl._probes
        impl._probes = empty
        vec = queries["miss"][1][warmup]
        fp = cache._fingerprint(vec[None, :])[0]
        ts = []
        for _ in range(2000):
            a = clock()
            index.search(vec, fp, pool, k)
            ts.append(clock() - a)
        impl._probes = saved
        for kind in ("miss", "semantic"):
            out[kind]["5c index.search with no bucket probed (call overhead)"] = float(np.median(ts)) / 1e3
    return out


# -- parent ----------------------------------------------------------------------------------
def machine() -> dict:
    """The machine and code a figure was measured on (the benchmarks' JSONs keep it)."""
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        model = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?")
    except OSError:
        model = platform.processor() or "?"
    try:
        git = ["git", "rev-parse", "--short", "HEAD"]
        commit = subprocess.run(git, capture_output=True, text=True, cwd=HERE, check=False).stdout.strip()
        git = ["git", "status", "--porcelain", "src"]  # (run from the repository root: "src" is relative)
        dirty = subprocess.run(git, capture_output=True, text=True, cwd=HERE.parent, check=False).stdout.strip()
    except OSError:
        commit, dirty = "?", ""
    import numba

    import semcache

    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "load_1min": round(os.getloadavg()[0], 2),
        "semcache_file": semcache.__file__,
        "repo_src_dirty": bool(dirty),
        "semcache_commit": os.environ.get("SEMCACHE_BENCH_COMMIT", ""),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }


def machine_line(m: dict) -> str:
    """One line naming the machine, its load over the run and the code measured."""
    load = f"load {m['load_1min']} -> {m.get('load_1min_end', '?')}"
    return f"machine: {m['cpu']}, {m['cores']} cores, {load}, commit {m['semcache_commit'] or m['commit']}"


def write_json(data: dict, path: Path) -> None:
    """``data`` as JSON at ``path``, its machine given the load at the end if it has none."""
    data["machine"].setdefault("load_1min_end", round(os.getloadavg()[0], 2))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def merge_trials(trials: list[dict]) -> dict:
    """One case from independent child runs: the median over trials of each p50 and p99."""
    case = dict(trials[0])
    if len(trials) == 1:
        return case
    case["trials"] = trials
    lat = {k: dict(v) for k, v in case["latency"].items()}
    for kind in KINDS:
        for q in ("p50_us", "p99_us", "mean_us"):
            lat[kind][q] = float(np.median([t["latency"][kind][q] for t in trials]))
            lat[kind][q.replace("_us", "_range_us")] = [
                min(t["latency"][kind][q] for t in trials),
                max(t["latency"][kind][q] for t in trials),
            ]
    lat["semantic"]["recall"] = float(np.mean([t["latency"]["semantic"]["recall"] for t in trials]))
    case["latency"] = lat
    case["insert_per_s"] = float(np.median([t["insert_per_s"] for t in trials]))
    return case


def trials_table(cases: list[dict]) -> str:
    lines = [
        "| config | entries | trial | load at start | miss p50 / p99 us | semantic p50 / p99 us | LSH recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in cases:
        for i, t in enumerate(c.get("trials", [])):
            lat = t["latency"]
            lines.append(
                f"| {c['config']} | {fmt_n(c['n'])} | {i + 1} | {t['load_1min_at_start']:.2f} | "
                f"{lat['miss']['p50_us']:.1f} / {lat['miss']['p99_us']:.1f} | "
                f"{lat['semantic']['p50_us']:.1f} / {lat['semantic']['p99_us']:.1f} | "
                f"{lat['semantic']['recall']:.4f} |"
            )
    return "\n".join(lines) if len(lines) > 2 else ""


def paired_ratios(case: dict, base: dict, kind: str) -> list[float]:
    """``case``'s p50 of ``kind`` over ``base``'s, trial by trial (trial i of each ran
    one after the other, so the ratio is measured under the same load)."""
    return [
        t["latency"][kind]["p50_us"] / b["latency"][kind]["p50_us"]
        for t, b in zip(case.get("trials", []), base.get("trials", []), strict=True)
    ]


def ratio_table(cases: list[dict]) -> str:
    """Median and range over trials of each configuration's paired p50 ratio to the first."""
    first = cases[0]["config"]
    base = {c["n"]: c for c in cases if c["config"] == first}
    lines = [
        f"| config | entries | miss p50 / {first}: median (range) | semantic p50 / {first}: median (range) |",
        "|---|---|---|---|",
    ]
    for c in cases:
        if c["config"] == first or c["n"] not in base:
            continue
        cells = []
        for kind in ("miss", "semantic"):
            r = paired_ratios(c, base[c["n"]], kind)
            cells.append(f"{np.median(r) - 1:+.1%} ({min(r) - 1:+.1%} to {max(r) - 1:+.1%})")
        lines.append(f"| {c['config']} | {fmt_n(c['n'])} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def fmt_n(n: int) -> str:
    return (
        f"{n // 1_000_000} M"
        if n >= 1_000_000 and n % 1_000_000 == 0
        else f"{n // 1000} k"
        if n % 1000 == 0
        else str(n)
    )


def report(cases: list[dict]) -> str:
    head = [
        "config",
        "min cosine",
        "entries",
        "index (plan)",
        "miss p50 / p99 us",
        "exact p50 / p99 us",
        "semantic p50 / p99 us",
        "LSH recall @0.97",
        "served hits",
        "insert/s",
        "RSS B/entry",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for c in cases:
        lat = c["latency"]
        plan = c["plan"]
        kind = (
            c["index_kind"]
            if plan is None
            else f"lsh ({plan['bits']}-bit bands, probe {plan['probe_radius']}, r {plan['radius']})"
        )
        cell = [f"{lat[k]['p50_us']:.1f} / {lat[k]['p99_us']:.1f}" for k in KINDS]
        lines.append(
            "| "
            + " | ".join(
                [
                    c["config"],
                    f"{c['min_cosine']:.3f}",
                    fmt_n(c["n"]),
                    kind,
                    *cell,
                    f"{lat['semantic']['recall']:.4f}",
                    f"{lat['semantic']['served_true'] / c['lookups']:.3f}",
                    f"{c['insert_per_s'] / 1e3:.1f} k",
                    f"{c['rss_per_entry']:.0f}",
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def report_breakdown(cases: list[dict]) -> str:
    parts = []
    for c in cases:
        if "breakdown" not in c:
            continue
        b = c["breakdown"]
        names = list(b["semantic"])
        if "unbuilt_tail" in b:
            names = [x for x in names if not x.startswith("5b") and not x.startswith("5c")]
            names[5:5] = [x for x in b["semantic"] if x.startswith(("5b", "5c"))]
        tail = f", {b['unbuilt_tail']} entries in the unbuilt tail" if "unbuilt_tail" in b else ""
        lines = [
            f"Where the time goes: {c['config']}, {fmt_n(c['n'])} entries{tail} (median us per step)\n",
            "| step | miss | semantic |",
            "|---|---|---|",
        ]
        lines += [f"| {name} | {b['miss'][name]:.2f} | {b['semantic'][name]:.2f} |" for name in names]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def memory_table(cases: list[dict], mem: list[dict]) -> str:
    parts_all = list(dict.fromkeys(k for m in mem for k in m["parts_per_entry"]))
    lines = [
        "Memory per entry (tracemalloc after put_many, NumPy buffers included; prompts 'e<i>' and responses "
        "'answer <i>' of ~10 chars, dim 384; capacity slack counted as allocated)\n",
        "| config | entries | traced B/entry | " + " | ".join(parts_all) + " | RSS delta B/entry (timed run) |",
        "|" + "---|" * (len(parts_all) + 4),
    ]
    rss = {(c["config"], c["n"]): c["rss_per_entry"] for c in cases}
    for m in mem:
        cells = [f"{m['parts_per_entry'].get(p, 0):.0f}" for p in parts_all]
        r = rss.get((m["config"], m["n"]))
        lines.append(
            f"| {m['config']} | {fmt_n(m['n'])} | {m['traced_per_entry']:.0f} | "
            + " | ".join(cells)
            + f" | {'' if r is None else f'{r:.0f}'} |"
        )
    return "\n".join(lines)


def array_table(cases: list[dict]) -> str:
    lines = [
        "Arrays allocated per entry by configuration (NumPy nbytes; RSS counts only touched pages, so it can be "
        "lower)\n",
        "| config | entries | RSS delta / entry | arrays allocated / entry (pool, index ids, index tables) |",
        "|---|---|---|---|",
    ]
    for c in cases:
        arr = c["array_bytes"]
        n = c["n"]
        split = ", ".join(f"{v / n:.0f}" for v in arr.values())
        lines.append(
            f"| {c['config']} | {fmt_n(n)} | {c['rss_per_entry']:.0f} B | "
            f"{c['array_bytes_per_entry']:.0f} B ({split}) |"
        )
    return "\n".join(lines)


def plot(cases: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(CONFIGS), figsize=(5 * len(CONFIGS), 4.2), sharey=True)
    colors = {"miss": "tab:blue", "exact": "tab:green", "semantic": "tab:red"}
    for ax, cfg in zip(np.atleast_1d(axes), CONFIGS, strict=True):
        cs = sorted((c for c in cases if c["config"] == cfg), key=lambda c: c["n"])
        xs = [c["n"] for c in cs]
        for kind in KINDS:
            ax.plot(xs, [c["latency"][kind]["p50_us"] for c in cs], "o-", color=colors[kind], label=f"{kind} p50")
            ax.plot(xs, [c["latency"][kind]["p99_us"] for c in cs], "s--", color=colors[kind], label=f"{kind} p99")
        ax.axhline(50, color="grey", lw=0.8, ls=":", label="target p50 (100 k)")
        ax.axhline(250, color="grey", lw=0.8, ls="-.", label="target p99 (100 k)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("entries")
        ax.set_title(cfg, fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("lookup latency excl. embedding (us)")
    np.atleast_1d(axes)[0].legend(fontsize=7, loc="upper left")
    fig.suptitle(
        "SemanticCache.get latency, random unit vectors dim 384 (targets: p50 50 us, p99 250 us at 100 k)", fontsize=10
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--sizes", type=int, nargs="*", help="cache sizes (default 10k 100k 1M; quick: 5k 20k)")
    ap.add_argument("--configs", nargs="*", choices=list(CONFIGS), help="configurations (default: all)")
    ap.add_argument("--lookups", type=int, help="timed lookups per kind and repeat (default 5000; quick 300)")
    ap.add_argument("--repeats", type=int, help="repeats (default 5; quick 2)")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", nargs=2, metavar=("CONFIG", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=500, help="untimed lookups per kind before the first repeat")
    ap.add_argument("--breakdown", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--memory-child", nargs=2, metavar=("CONFIG", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc builds")
    ap.add_argument("--trials", type=int, default=1, help="independent child runs per case (median reported)")
    args = ap.parse_args()
    lookups = args.lookups or (300 if args.quick else 5000)
    repeats = args.repeats or (2 if args.quick else 5)
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child[0], int(args.memory_child[1]))))
        return
    if args.child:
        res = child(args.child[0], int(args.child[1]), lookups, repeats, args.warmup, args.breakdown)
        print(json.dumps(res))
        return
    sizes = args.sizes or ([5_000, 20_000] if args.quick else [10_000, 100_000, 1_000_000])
    configs = args.configs or list(CONFIGS)
    if len(set(configs)) < len(configs):
        ap.error(f"each configuration at most once, got {configs} (to time one against itself: latency_pair.py)")
    data = {
        "machine": machine(),
        "quick": args.quick,
        "dim": DIM,
        "cosine": COSINE,
        "lookups": lookups,
        "repeats": repeats,
        "trials": args.trials,
        "warmup": args.warmup,
        "cases": [],
    }
    breakdown_at = 100_000 if 100_000 in sizes else sizes[-1]
    runs: dict[tuple[str, int], list[dict]] = {(cfg, n): [] for cfg in configs for n in sizes}
    for n in sizes:
        for trial in range(args.trials):
            # configurations interleaved, in reversed order every other trial: which one
            # runs second (and any drift of the shared VM) weighs on each alike
            for cfg in configs if trial % 2 == 0 else configs[::-1]:
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    cfg,
                    str(n),
                    "--lookups",
                    str(lookups),
                    "--repeats",
                    str(repeats),
                    "--warmup",
                    str(args.warmup),
                ]
                if n == breakdown_at and trial == 0:
                    cmd.append("--breakdown")
                t0 = time.perf_counter()
                load = os.getloadavg()[0]
                print(
                    f"{cfg}, {n} entries, trial {trial + 1}/{args.trials} ... (load {load:.2f})",
                    file=sys.stderr,
                    flush=True,
                )
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                if out.returncode:
                    sys.stderr.write(out.stderr)
                    raise SystemExit(f"child failed: {cfg} {n}")
                case = json.loads(out.stdout.strip().splitlines()[-1])
                case["wall_s"] = time.perf_counter() - t0
                case["load_1min_at_start"] = round(load, 2)
                runs[cfg, n].append(case)
                lat = case["latency"]
                print(
                    "   "
                    + ", ".join(f"{k} {lat[k]['p50_us']:.1f}/{lat[k]['p99_us']:.1f} us" for k in KINDS)
                    + f", recall {lat['semantic']['recall']:.4f}, {case['wall_s']:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    for cfg in configs:
        for n in sizes:
            data["cases"].append(merge_trials(runs[cfg, n]))
    data["memory"] = []
    if not args.no_memory:
        for n in sizes:  # the first configuration only: the others differ only in the index tables
            print(f"memory (tracemalloc), {configs[0]}, {n} entries ...", file=sys.stderr, flush=True)
            out = subprocess.run(
                [sys.executable, __file__, "--memory-child", configs[0], str(n)],
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode:
                sys.stderr.write(out.stderr)
                raise SystemExit(f"memory child failed: {n}")
            data["memory"].append(json.loads(out.stdout.strip().splitlines()[-1]))
    out_path = args.out or HERE / "results" / ("lookup_latency-quick.json" if args.quick else "lookup_latency.json")
    write_json(data, out_path)
    print(machine_line(data["machine"]))
    print(
        f"{lookups} timed lookups per kind x {repeats} repeats (median of the per-repeat p50 and p99), "
        f"random unit vectors dim {DIM}, semantic queries at cosine {COSINE}\n"
    )
    print(report(data["cases"]))
    print()
    if args.trials > 1:
        print(f"Independent trials (fresh process each; the table above gives the median of {args.trials})\n")
        print(trials_table(data["cases"]))
        print()
        if len(configs) > 1:
            print(f"Paired ratios: each trial's p50 over {configs[0]}'s in the same trial (run next to it)\n")
            print(ratio_table(data["cases"]))
            print()
    if data["memory"]:
        print(memory_table(data["cases"], data["memory"]))
        print()
    print(array_table(data["cases"]))
    print()
    print(report_breakdown(data["cases"]))
    if not args.quick and len(sizes) > 1:
        png = HERE / "plots" / f"{out_path.stem}.png"
        plot(data["cases"], png)
        print(f"\nplot: {png}")
    print(f"raw numbers: {out_path}")


if __name__ == "__main__":
    main()
