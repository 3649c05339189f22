#!/usr/bin/env python
"""What ``max_bytes`` counts against what a cache's entries really hold, on real prompts.

A default cache bounded by ``max_bytes`` is filled, one put at a time, with QQP
questions, with arena-hard prompts, and with arena-hard prompts behind the long
template of issue 3 (``semcache._workloads.TEMPLATE``); each entry gets a
response of ~620 characters and a given unit vector of MiniLM's width (384: the model
is not loaded, its memory is no entry's). One lookup in ten asks for a stored
prompt reworded, at cosine 0.985, so the verifier reads the stored profiles as it
would in use. tracemalloc then gives the bytes held: everything made during the
fill and still alive, less the embedding pool's allocation, which is reported on
its own (it doubles, so up to half of it is spare rows), and less what Numba and
llvmlite allocated (a kernel compiled or loaded for the first prompt that needs it).
The prompts and responses
are made during the fill, so they count, as they would in an application that
hands them over.

    python benchmarks/entry_bytes.py [--data ../shared/data] [--out FILE]

Reported per workload: entries kept, bytes counted (``currbytes``) and held per
entry, and held (with the rows in use) over the bound.
"""

from __future__ import annotations

import argparse
import gc
import tracemalloc
from pathlib import Path

import numpy as np
from _data import data_dir
from lookup_latency import DIM, NoEmbedder, at_cosine, machine, machine_line, unit_rows, write_json

from semcache import SemanticCache
from semcache._workloads import TEMPLATE, read_arena, read_qqp

HERE = Path(__file__).resolve().parent
RESPONSE = "Check the cable, restart the device, then update the settings and try again. " * 8  # 616 chars
BOUNDS = {"QQP questions": 16_000_000, "arena-hard": 1_000_000, "arena-hard behind the template": 4_000_000}


def workloads(data: Path) -> dict[str, list[str]]:
    """Distinct prompts of each workload, in file order."""
    qqp = list(dict.fromkeys(t for p in read_qqp(data / "qqp" / "dev.tsv") for t in (p.q1, p.q2) if t.strip()))
    arena = list(dict.fromkeys(p for _, p in read_arena(data) if p.strip()))
    return {
        "QQP questions": qqp[:20_000],
        "arena-hard": arena,
        "arena-hard behind the template": [TEMPLATE + p for p in arena],
    }


def measure(name: str, prompts: list[str], bound: int, rng: np.random.Generator) -> dict:
    """Fill a cache bounded by ``bound`` with ``prompts``; bytes counted and held."""
    vecs = unit_rows(rng, len(prompts) + 1)
    close = at_cosine(rng, vecs, 0.985)
    # what is no entry's is made first: the kernels these prompts need (compiled, or loaded
    # from Numba's cache), the verifier's tables; then this cache's hyperplanes and index
    warm = SemanticCache(NoEmbedder())
    for i, p in enumerate(prompts[:200]):
        warm.put(p, RESPONSE, embedding=vecs[i])
        warm.get(p + " Thanks!", embedding=close[i])
    del warm
    cache = SemanticCache(NoEmbedder(), max_bytes=bound, max_entries=10**7)
    cache.put("warm-up prompt of the cache", "x", embedding=vecs[-1])
    cache.get("warm-up prompt of the cache, reworded", embedding=close[-1])
    cache.delete("warm-up prompt of the cache")
    gc.collect()
    tracemalloc.start()
    try:
        for i, p in enumerate(prompts):
            cache.put(p[:-1] + p[-1], f"{i}: {RESPONSE}", embedding=vecs[i])  # (a new str: the cache's)
            if i % 10 == 0:
                cache.get(p + " Thanks!", embedding=close[i])
        gc.collect()
        snap = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    pool = sum(t.size for t in snap.filter_traces([tracemalloc.Filter(True, "*/tiers/pool.py")]).traces)
    # Numba compiling (or loading) a kernel that a later prompt needs first is no entry's
    jit = ("*/numba/*", "*/llvmlite/*")
    compiled = sum(t.size for t in snap.filter_traces([tracemalloc.Filter(True, f) for f in jit]).traces)
    others = [tracemalloc.Filter(False, f) for f in ("*/tiers/pool.py", *jit)]
    held = sum(t.size for t in snap.filter_traces(others).traces)
    n = len(cache)
    rows = n * 4 * DIM
    return {
        "workload": name,
        "prompts": len(prompts),
        "mean_prompt_chars": sum(map(len, prompts)) / len(prompts),
        "bound": bound,
        "entries_kept": n,
        "evictions": cache.stats().evictions,
        "counted_bytes": cache._lru.currbytes,
        "held_bytes_without_pool": held,
        "pool_bytes": pool,
        "numba_bytes": compiled,
        "rows_in_use_bytes": rows,
        "held_over_bound": (held + rows) / bound,
    }


def table(results: list[dict]) -> str:
    lines = [
        "| workload | mean prompt chars | bound | entries kept | counted B/entry | held B/entry (rows in use) "
        "| held / bound | pool allocation B/entry |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        n = r["entries_kept"]
        held = r["held_bytes_without_pool"] + r["rows_in_use_bytes"]
        lines.append(
            f"| {r['workload']} | {r['mean_prompt_chars']:.0f} | {r['bound'] / 1e6:g} MB | {n} "
            f"| {r['counted_bytes'] / n:.0f} | {held / n:.0f} | {r['held_over_bound']:.2f} "
            f"| {r['pool_bytes'] / n:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="the benchmark data folder (default ../shared/data)")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "entry_bytes.json")
    args = ap.parse_args()
    m = machine()
    results = [
        measure(name, prompts, BOUNDS[name], np.random.default_rng(i))
        for i, (name, prompts) in enumerate(workloads(data_dir(args.data)).items())
    ]
    write_json({"machine": m, "dim": DIM, "results": results}, args.out)
    print(machine_line(m))
    print(table(results))
    print(f"\nraw numbers: {args.out}")


if __name__ == "__main__":
    main()
