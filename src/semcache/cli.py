"""The ``semcache`` command: ``bench`` (cache-hit benchmark) and ``info``."""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Sequence

__all__ = ["main"]


def _bench(args: argparse.Namespace) -> int:
    import numpy as np

    from . import SemanticCache
    from ._bench import ExactMatchCache, load_demo_pairs, load_tsv_pairs, markdown_table, run_pairs
    from .embedders import resolve_embedder

    if args.data:
        return _bench_data(args)
    pairs = load_tsv_pairs(args.pairs) if args.pairs else load_demo_pairs()
    if args.limit:
        pairs = pairs[: args.limit]
    source = args.pairs or "the demo FAQ set shipped with semcache"
    print(f"semcache bench: {len(pairs)} pairs from {source}", file=sys.stderr)
    embedder = resolve_embedder(args.embedder)
    t0 = time.perf_counter()
    embedder.embed(["warm-up"])
    print(f"embedder {embedder!r} ready in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    queries = [p.query for p in pairs]
    t0 = time.perf_counter()
    vecs = np.ascontiguousarray(embedder.embed(queries), dtype=np.float32)
    embed_us = (time.perf_counter() - t0) / max(len(queries), 1) * 1e6
    single = []
    for q in queries[:50]:
        t1 = time.perf_counter_ns()
        embedder.embed([q])
        single.append((time.perf_counter_ns() - t1) / 1000)
    configs: list[tuple[str, object]] = [
        (f"semcache target_precision={t}", SemanticCache(embedder, target_precision=t))
        for t in args.target_precision
    ]
    configs += [(f"fixed cosine {c}", SemanticCache(embedder, threshold=c)) for c in args.baseline_threshold]
    configs.append(("exact match", ExactMatchCache()))
    rows = []
    for name, cache in configs:
        out = run_pairs(cache, pairs, name, query_vectors=vecs)
        row = out.row()
        row["p50 us"] = row.pop("p50 us")
        row["p99 us"] = row.pop("p99 us")
        rows.append(row)
    print(markdown_table(rows))
    print(
        "\ncorrect-hit rate: share of queries answered right from cache; wrong-hit rate: share answered "
        "wrongly; ceiling: share whose right answer was cached."
    )
    print(
        f"\nlookup latency above excludes the embedding; embedding one query takes "
        f"p50 {np.percentile(single, 50) / 1000:.1f} ms (batched: {embed_us / 1000:.2f} ms per query) "
        f"on {platform.machine()} with {embedder!r}."
    )
    return 0


def _bench_data(args: argparse.Namespace) -> int:
    """The real-data workloads (shared/data layout): QQP warm and cold streams, the
    paraphrase stream, the arena-hard false-hit stress; GPTCache runs only in
    ``benchmarks/hit_rate.py`` (it needs its own virtual environment)."""
    from ._bench import Progress
    from ._workloads import (
        VectorStore,
        all_texts,
        check_data_dir,
        choose_thresholds,
        default_systems,
        load,
        percent_table,
        run_workloads,
        summary_line,
    )
    from .embedders import resolve_embedder
    from .verify import load_default_verifier

    try:
        prep = load(check_data_dir(args.data), quick=args.quick)
        texts = all_texts(prep)
    except (OSError, ValueError, KeyError) as exc:  # missing files, malformed rows or JSON
        print(f"semcache bench: {exc}", file=sys.stderr)
        return 2
    embedder = resolve_embedder(args.embedder)
    store = VectorStore(embedder)
    t0 = time.perf_counter()
    bar = Progress(len(texts), "embedding")
    for i in range(0, len(texts), 512):
        store.ensure(texts[i : i + 512])
        bar.update(min(512, len(texts) - i))
    bar.close()
    print(f"semcache bench: {len(texts)} texts embedded in {time.perf_counter() - t0:.0f}s", file=sys.stderr)
    choose_thresholds(prep, store)
    systems = default_systems(store, prep)
    out = run_workloads(prep, store, systems, verifiers={"semcache": load_default_verifier()})
    sem, cos = out.curves["semcache"], out.curves["fixed cosine"]
    print(f"QQP dev 'report' half: {len(prep.report)} pairs; thresholds chosen on the 'choose' half "
          f"({len(prep.choose)} pairs); embedder {embedder!r}\n")
    print("1. QQP warm stream (cache question1, query question2)\n")
    print(percent_table(out.warm))
    best1, best4 = out.curves["perfect ranking, nearest"], out.curves["perfect ranking, 4 nearest"]
    print(
        f"\narea under precision vs hit rate: semcache {sem[2]:.3f}, fixed cosine {cos[2]:.3f}; "
        f"a perfect ranking {best1[2]:.3f} (nearest entry), {best4[2]:.3f} (4 nearest)"
    )
    print("\n2. QQP cold stream (query, store on a miss)\n")
    print(percent_table(out.cold))
    print("\n3. paraphrase stream (cache origin, query similar)\n")
    print(percent_table(out.paraphrase))
    print("\n4. arena-hard false-hit stress (every hit is wrong)\n")
    print(percent_table(out.arena))
    print("\n" + summary_line(out, prep))
    return 0


def _info(args: argparse.Namespace) -> int:
    import semcache

    from ._optional import import_problem

    print(f"semcache {semcache.__version__} on Python {platform.python_version()} ({platform.machine()})")
    for mod in ("numpy", "numba", "sentence_transformers", "redis", "faiss", "cupy", "langchain_core"):
        try:
            m = __import__(mod)
            print(f"  {mod:<22} {getattr(m, '__version__', '?')}")
        except ImportError as exc:
            print(f"  {mod:<22} {import_problem(mod, exc)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``semcache`` console script."""
    parser = argparse.ArgumentParser(prog="semcache", description="semantic cache for LLM applications")
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="cache-hit benchmark (demo FAQ set by default)")
    bench.add_argument("--pairs", help="a question1<TAB>question2<TAB>is_duplicate file instead of the demo set")
    bench.add_argument(
        "--data", help="the benchmark data folder (qqp/, paraphrase/, chat_prompts/): run its workloads instead"
    )
    bench.add_argument("--quick", action="store_true", help="with --data: small subsets, for a smoke run")
    bench.add_argument("--embedder", default="auto", help="'auto' (all-MiniLM-L6-v2), 'hashing', or a model folder")
    bench.add_argument(
        "--target-precision", type=float, nargs="+", default=[0.95, 0.8],
        help="semcache's targets on a pair file (--data runs 0.95 and 0.99)",
    )
    bench.add_argument(
        "--baseline-threshold", type=float, nargs="+", default=[0.80, 0.90],
        help="cosines of the fixed-threshold peers on a pair file (the rule of RedisVL / langchain-redis; "
        "--data chooses them on its dev half)",
    )
    bench.add_argument("--limit", type=int, default=0, help="use only the first N pairs")
    bench.set_defaults(func=_bench)
    info = sub.add_parser("info", help="versions of semcache and its optional dependencies")
    info.set_defaults(func=_info)
    args = parser.parse_args(argv)
    if args.command == "bench":
        if args.data and (args.pairs or args.limit):
            parser.error("bench: --data runs its own workloads; --pairs and --limit are for pair files")
        if args.quick and not args.data:
            parser.error("bench: --quick goes with --data")
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
