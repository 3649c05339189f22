#!/usr/bin/env python
"""GPU search (issue 6): lookup latency and batch throughput, GPU beside CPU.

On one machine, over the same random unit vectors (dim 384) and the same
queries (each at cosine 0.97 to a stored vector), for each pool size:

* GPU: the CuPy pool (managed memory) searched by ``GpuFlatIndex`` on its CuPy
  path (cuBLAS + on-device top-k) and on its faiss-gpu path (GpuIndexFlatIP);
* CPU: the NumPy pool searched by semcache's ``FlatIndex`` (exact scan) and
  ``LSHIndex`` (SimHash LSH planned for cosine 0.97).

Per path: single-lookup latency p50/p99 (each lookup timed alone, results
back on the host), batch throughput (``search_many`` on a batch of queries on
the GPU; a loop of ``search`` on the CPU), top-1 recall of the stored vector,
and build time. Memory: the pool's matrix, its cap, and the device memory in
use before and after (cudaMemGetInfo), naming the GPU (CuPy device
properties and nvidia-smi). Each timed loop runs until its time budget.

    python benchmarks/gpu_search.py                     # 1M, 10M -> results/gpu_search.json
    python benchmarks/gpu_search.py --sizes 10000000    # one size per run (10 min device calls)
    python benchmarks/gpu_search.py --quick             # 20k and 100k smoke run
    python benchmarks/gpu_search.py --cpu-only --quick  # the CPU paths only (no GPU needed)

Without a usable GPU (and without --cpu-only) it says why and exits with 2.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from lookup_latency import at_cosine, unit_rows  # shared vector generators

HERE = Path(__file__).resolve().parent
DIM = 384
COSINE = 0.97
K = 4
NO_GPU_EXIT = 2


def fingerprints(vecs: np.ndarray, chunk: int = 1 << 18) -> np.ndarray:
    from semcache.kernels.simhash import project_signs

    planes = np.random.default_rng(7).standard_normal((128, DIM), dtype=np.float32)
    planes_t = np.ascontiguousarray(planes.T)
    out = np.empty((vecs.shape[0], 2), dtype=np.uint64)
    for lo in range(0, vecs.shape[0], chunk):
        project_signs(vecs[lo : lo + chunk], planes_t, out[lo : lo + chunk])
    return out


def gpu_name() -> dict[str, Any]:
    info: dict[str, Any] = {}
    try:
        import cupy

        dev = cupy.cuda.runtime.getDevice()
        props = cupy.cuda.runtime.getDeviceProperties(dev)
        name = props["name"]
        info["cupy_device"] = name.decode() if isinstance(name, bytes) else str(name)
        info["total_memory_gib"] = round(props["totalGlobalMem"] / 2**30, 1)
        info["cupy_version"] = cupy.__version__
        info["cuda_runtime"] = cupy.cuda.runtime.runtimeGetVersion()
    except Exception as exc:  # reported, not fatal: the name is for the record
        info["cupy_error"] = str(exc)
    try:
        smi = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        )
        info["nvidia_smi"] = smi.stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        info["nvidia_smi_error"] = str(exc)
    return info


def device_used() -> int:
    import cupy

    free, total = cupy.cuda.runtime.memGetInfo()
    return int(total - free)


def timed_lookups(lookup: Any, count: int, budget_s: float, sync: Any = None) -> dict[str, Any]:
    """``lookup(i)`` for i = 3, 4, ... each timed alone until the budget is spent (at least 5)."""
    for i in range(3):  # warm-up: compile, first touch, cuBLAS handles
        lookup(i)
    ns: list[int] = []
    start = time.perf_counter()
    for i in range(3, count):
        t0 = time.perf_counter_ns()
        lookup(i)
        if sync is not None:
            sync()
        ns.append(time.perf_counter_ns() - t0)
        if len(ns) >= 5 and time.perf_counter() - start > budget_s:
            break
    arr = np.asarray(ns, dtype=np.float64) / 1e3
    return {
        "lookups": len(ns),
        "p50_us": float(np.percentile(arr, 50)),
        "p99_us": float(np.percentile(arr, 99)),
        "mean_us": float(arr.mean()),
    }


def timed_batches(run_batch: Any, batch: int, budget_s: float) -> dict[str, Any]:
    """``run_batch()`` (``batch`` queries) after one warm-up, until the budget is spent (>= 2)."""
    run_batch()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < 2 or time.perf_counter() - start < budget_s:
        t0 = time.perf_counter()
        run_batch()
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return {
        "batch": batch,
        "batches": len(times),
        "median_batch_ms": med * 1e3,
        "queries_per_s": batch / med,
    }


def recall(lookup: Any, truth: list[str], budget_s: float) -> dict[str, Any]:
    """Share of lookups whose best candidate is the stored vector the query was made from."""
    hits = done = 0
    start = time.perf_counter()
    for i, key in enumerate(truth):
        found = lookup(3 + i)
        hits += bool(found) and found[0][0] == key
        done += 1
        if done >= 10 and time.perf_counter() - start > budget_s:
            break
    return {"queries": done, "top1": hits / done}


def report(name: str, path: dict[str, Any]) -> None:
    lat, thr = path["latency"], path["throughput"]
    print(
        f"  {name}: p50 {lat['p50_us']:.0f} us, p99 {lat['p99_us']:.0f} us, "
        f"{thr['queries_per_s']:,.0f} q/s (batch {thr['batch']}), "
        f"recall@1 {path['recall']['top1']:.3f}",
        file=sys.stderr,
    )


def run_size(n: int, args: argparse.Namespace, gpu: bool) -> dict[str, Any]:
    from semcache.index import FlatIndex, LSHIndex
    from semcache.tiers.pool import EmbeddingPool

    rng = np.random.default_rng(n)
    t0 = time.perf_counter()
    vecs = unit_rows(rng, n)
    targets = rng.integers(0, n, args.lookups + 3)
    queries = at_cosine(rng, vecs[targets], COSINE)
    batch_q = at_cosine(rng, vecs[rng.integers(0, n, args.batch)], COSINE)
    truth = [f"e{j}" for j in targets[3 : 3 + args.recall_queries]]
    keys = [f"e{i}" for i in range(n)]
    out: dict[str, Any] = {"n": n, "dim": DIM, "k": K, "data_s": time.perf_counter() - t0}
    print(f"n={n:,}: data in {out['data_s']:.1f}s", file=sys.stderr)
    paths: dict[str, Any] = {}

    # -- CPU: semcache's exact scan and LSH over the NumPy pool ----------------------------
    t0 = time.perf_counter()
    cpool = EmbeddingPool(DIM, capacity=n)
    slots = cpool.add_many(vecs).tolist()
    fps, qfps, bfps = fingerprints(vecs), fingerprints(queries), fingerprints(batch_q)
    pool_s = time.perf_counter() - t0
    out["cpu_pool_bytes"] = cpool.nbytes
    cpu_batch = min(args.batch, max(4, int(2e8 // n)))  # a CPU loop: keep it bounded
    for name, index in (
        ("cpu semcache flat (numba scan)", FlatIndex()),
        ("cpu semcache LSH", LSHIndex(COSINE)),
    ):
        t0 = time.perf_counter()
        for key, s, fp in zip(keys, slots, fps, strict=True):
            index.add(key, s, fp)
        if isinstance(index, LSHIndex):
            index.rebuild()
        build_s = pool_s + time.perf_counter() - t0
        m = cpool.matrix

        def lookup(i: int, index: Any = index, m: np.ndarray = m) -> Any:
            return index.search(queries[i], qfps[i], m, K)

        def loop(index: Any = index, m: np.ndarray = m) -> None:
            for j in range(cpu_batch):
                index.search(batch_q[j], bfps[j], m, K)

        paths[name] = {
            "build_s": build_s,
            "latency": timed_lookups(lookup, len(queries), args.budget),
            "throughput": timed_batches(loop, cpu_batch, args.budget)
            | {"note": "a loop of single searches"},
            "recall": recall(lookup, truth, args.budget),
        }
        report(name, paths[name])
        del index
    del cpool

    # -- GPU: the CuPy pool, GpuFlatIndex on its CuPy and faiss-gpu paths -------------------
    if gpu:
        import cupy

        from semcache.index.gpu import GpuFlatIndex, faiss_gpu
        from semcache.tiers.pool_gpu import CupyEmbeddingPool

        sync = cupy.cuda.get_current_stream().synchronize
        no_fp = np.zeros(2, dtype=np.uint64)
        used0 = device_used()
        t0 = time.perf_counter()
        gpool = CupyEmbeddingPool(DIM, capacity=n, dtype=args.dtype, min_rows=n)
        gslots: list[int] = []
        for lo in range(0, n, 1 << 20):
            gslots += gpool.add_many(vecs[lo : lo + (1 << 20)]).tolist()
        gpool.prefetch()
        sync()
        gpool_s = time.perf_counter() - t0
        out["gpu_pool"] = {
            "dtype": args.dtype,
            "rows": gpool.capacity,
            "bytes": gpool.nbytes,
            "cap_rows": gpool.max_rows,
            "device_used_before": used0,
            "device_used_after_pool": device_used(),
            "build_s": gpool_s,
        }
        variants = {"gpu CuPy flat (cuBLAS + top-k)": False}
        if faiss_gpu() is not None:
            variants["gpu faiss-gpu GpuIndexFlatIP"] = True
        else:
            out["faiss_gpu"] = "faiss without GPU support here: faiss path not measured"
        for name, use_faiss in variants.items():
            gidx = GpuFlatIndex(use_faiss=use_faiss)
            t0 = time.perf_counter()
            for key, s in zip(keys, gslots, strict=True):
                gidx.add(key, s, no_fp)
            gidx.search(queries[0], no_fp, gpool.matrix, K)  # device copies are built here
            sync()
            build_s = gpool_s + time.perf_counter() - t0

            def glookup(i: int, gidx: GpuFlatIndex = gidx) -> Any:
                return gidx.search(queries[i], no_fp, gpool.matrix, K)

            def gbatch(gidx: GpuFlatIndex = gidx) -> None:
                gidx.search_many(batch_q, gpool.matrix, K)

            paths[name] = {
                "build_s": build_s,
                "kind": gidx.kind,
                "device_used_bytes": device_used(),
                "latency": timed_lookups(glookup, len(queries), args.budget, sync),
                "throughput": timed_batches(gbatch, args.batch, args.budget),
                "recall": recall(glookup, truth, args.budget),
            }
            report(name, paths[name])
            del gidx
        del gpool
    out["paths"] = paths
    return out


def table(results: dict[str, Any]) -> str:
    lines = [
        "| entries | path | p50 µs | p99 µs | batch q/s | recall@1 | build s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in results["sizes"]:
        for name, p in r["paths"].items():
            lat, thr = p["latency"], p["throughput"]
            lines.append(
                f"| {r['n']:,} | {name} | {lat['p50_us']:.0f} | {lat['p99_us']:.0f} | "
                f"{thr['queries_per_s']:,.0f} (batch {thr['batch']}) | {p['recall']['top1']:.3f} | "
                f"{p['build_s']:.1f} |"
            )
        if "gpu_pool" in r:
            g = r["gpu_pool"]
            lines.append(
                f"| {r['n']:,} | GPU pool ({g['dtype']}) | {g['bytes'] / 2**30:.2f} GiB matrix, "
                f"cap {g['cap_rows']:,} rows, device in use "
                f"{g['device_used_after_pool'] / 2**30:.1f} GiB | | | | |"
            )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small sizes, short budgets")
    ap.add_argument("--cpu-only", action="store_true", help="measure the CPU paths only")
    ap.add_argument("--sizes", help="comma-separated pool sizes (default 1000000,10000000)")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    ap.add_argument("--lookups", type=int, default=2000, help="single lookups at most, per path")
    ap.add_argument("--batch", type=int, default=1024, help="queries per batch")
    ap.add_argument("--budget", type=float, default=10.0, help="seconds per timed loop")
    ap.add_argument("--recall-queries", type=int, default=200)
    ap.add_argument("--out", help="JSON file (default benchmarks/results/gpu_search[-quick].json)")
    args = ap.parse_args()
    if args.quick:
        args.lookups, args.batch, args.budget = min(args.lookups, 200), min(args.batch, 256), 1.0
        args.recall_queries = min(args.recall_queries, 50)
    sizes = [
        int(s)
        for s in (args.sizes or ("20000,100000" if args.quick else "1000000,10000000")).split(",")
    ]
    args.recall_queries = min(args.recall_queries, args.lookups)

    from semcache.tiers import _gpu

    reason = _gpu.probe()
    gpu = not args.cpu_only
    if gpu and reason is not None:
        print(
            f"gpu_search: no usable GPU here ({reason}).\n"
            "Run it on a machine with an NVIDIA GPU and `pip install 'semcache[gpu]'`, "
            "or pass --cpu-only to measure the CPU paths alone.",
            file=sys.stderr,
        )
        return NO_GPU_EXIT

    results: dict[str, Any] = {
        "benchmark": "gpu_search",
        "quick": args.quick,
        "cpu_only": args.cpu_only,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": platform.python_version(),
        },
        "gpu": gpu_name() if gpu else None,
        "sizes": [],
    }
    for n in sizes:
        results["sizes"].append(run_size(n, args, gpu))
    suffix = ("-quick" if args.quick else "") + ("-cpu-only" if args.cpu_only else "")
    path = Path(args.out) if args.out else HERE / "results" / f"gpu_search{suffix}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if gpu:
        print(f"GPU: {results['gpu']}")
    print(table(results))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
