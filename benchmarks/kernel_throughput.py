#!/usr/bin/env python
"""Kernel benchmarks (issue 2): text SimHash, hyperplane fingerprints, Hamming search.

Peers run in the same process, on the same inputs:

* text SimHash: ``simhash`` (PyPI, ``simhash.Simhash``) and ``simhash-pybind``
  (PyPI; its C++ ``compute`` in ``simhash._simhash``) beside
  ``semcache.kernels.simhash_texts`` on QQP questions of 5-20 words;
* hyperplane fingerprints: a NumPy reference beside ``simhash_vectors`` and
  ``project_signs``;
* Hamming search over 1 M random 64-bit fingerprints: faiss
  ``IndexBinaryMultiHash`` (and the exact ``IndexBinaryFlat``) beside
  ``hamming_search``, with the recall of each against the exact result.

Throughput is reported as the median over timed runs (after a warm-up run) and
as the slow tail: the throughput at the 99th percentile of run time.

    python benchmarks/kernel_throughput.py            # full run, writes benchmarks/results/kernels.json
    python benchmarks/kernel_throughput.py --quick    # smoke run, writes benchmarks/results/kernels-quick.json
    python benchmarks/kernel_throughput.py --only texts --out /tmp/k.json   # one part (texts, vectors, hamming)

(Named ``kernels.py`` until the tenth session: a script's folder comes first on
``sys.path``, and transformers imports Hugging Face's ``kernels`` package where it
is installed, so that name broke every benchmark that loads MiniLM.)
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import os
import re
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from lookup_latency import machine, machine_line, write_json

HERE = Path(__file__).resolve().parent
PARTS = ("texts", "vectors", "hamming")
QQP = Path(os.environ.get("SEMCACHE_QQP", "/work/shared/data/qqp/train.tsv"))


# -- shared helpers ---------------------------------------------------------------
def timed_runs(fn: Callable[[], object], runs: int, min_seconds: float) -> tuple[list[float], int]:
    """Seconds per run of ``fn`` repeated ``reps`` times (reps chosen by the warm-up)."""
    t0 = time.perf_counter_ns()
    fn()  # warm-up (compiles / loads the Numba cache)
    warm = (time.perf_counter_ns() - t0) / 1e9
    reps = max(1, int(np.ceil(min_seconds / max(warm, 1e-9))))
    if reps > 1:  # a second warm-up: the first may have included compilation
        t0 = time.perf_counter_ns()
        fn()
        warm = (time.perf_counter_ns() - t0) / 1e9
        reps = max(1, int(np.ceil(min_seconds / max(warm, 1e-9))))
    out = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        for _ in range(reps):
            fn()
        out.append((time.perf_counter_ns() - t0) / 1e9)
    return out, reps


def throughput(items: int, seconds: list[float], reps: int) -> dict:
    per_run = [items * reps / s for s in seconds]
    return {
        "median_per_s": float(np.median(per_run)),
        "p99_per_s": float(items * reps / np.percentile(seconds, 99)),  # slow tail
        "runs_per_s": per_run,
        "reps_per_run": reps,
        "items": items,
    }


def fmt_rate(x: float) -> str:
    if x >= 1e6:
        return f"{x / 1e6:.2f} M"
    if x >= 1e3:
        return f"{x / 1e3:.1f} k"
    return f"{x:.0f}"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


# -- 1. text SimHash ------------------------------------------------------------------
def load_questions(n: int | None = None, seed: int = 0) -> list[str]:
    """``n`` (default: all) distinct QQP questions of 5-20 words, shuffled (read in place, never copied)."""
    seen: dict[str, None] = {}
    with QQP.open(encoding="utf-8") as f:
        next(f)  # header: question1 question2 is_duplicate
        for line in f:
            parts = line.rstrip("\n").split("\t")
            for q in parts[:2]:
                if 5 <= len(q.split()) <= 20:
                    seen.setdefault(q, None)
    texts = list(seen)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))[:n]
    return [texts[i] for i in order]


def _pybind_unsigned_hash(obj: bytes) -> int:
    # simhash-pybind 0.0.3 simhash/__init__.py ``unsigned_hash`` (first 8 bytes of MD5),
    # copied because the ``simhash`` package installs over that file (same import name).
    digest = hashlib.md5(obj).digest()[0:8]
    return struct.unpack(">Q", digest)[0] & 0xFFFFFFFFFFFFFFFF


_WORD = re.compile(r"\w+")


def _pybind_features(text: str) -> list[bytes]:
    """The same features as semcache: lower-cased words and word bigrams."""
    words = _WORD.findall(text.lower())
    return [w.encode() for w in words] + [f"{a} {b}".encode() for a, b in itertools.pairwise(words)]


def bench_texts(n: int, runs: int, min_seconds: float) -> dict:
    import numba
    from simhash import Simhash  # PyPI ``simhash`` (1e0n)
    from simhash._simhash import compute as pybind_compute  # PyPI ``simhash-pybind``

    from semcache.kernels import simhash_texts

    pool = load_questions()
    texts = pool[:n]  # as they come: about 1 % hold a non-ASCII character
    ascii_texts = [t for t in pool if t.isascii()][:n]
    words = [len(t.split()) for t in texts]
    hashes = [[_pybind_unsigned_hash(f) for f in _pybind_features(t)] for t in texts]
    t0 = time.perf_counter_ns()
    simhash_texts(texts[:10])
    first_call_ms = (time.perf_counter_ns() - t0) / 1e6

    impls: dict[str, Callable[[], object]] = {
        "semcache simhash_texts, 1 thread": lambda: simhash_texts(texts),
        f"semcache simhash_texts, parallel=True ({numba.get_num_threads()} threads)": lambda: simhash_texts(
            texts, parallel=True
        ),
        "semcache simhash_texts, 1 thread, ASCII-only questions": lambda: simhash_texts(ascii_texts),
        "semcache simhash_texts, parallel=True, ASCII-only questions": lambda: simhash_texts(
            ascii_texts, parallel=True
        ),
        "simhash 2.1.2 (Simhash(text).value)": lambda: [Simhash(t).value for t in texts],
        "simhash-pybind 0.0.3 (text -> md5 features -> compute)": lambda: [
            pybind_compute([_pybind_unsigned_hash(f) for f in _pybind_features(t)]) for t in texts
        ],
        "simhash-pybind 0.0.3 compute only (feature hashes given)": lambda: [pybind_compute(h) for h in hashes],
    }
    results = {}
    for name, fn in impls.items():
        secs, reps = timed_runs(fn, runs, min_seconds)
        results[name] = throughput(len(texts), secs, reps)
        print(f"  {name}: {fmt_rate(results[name]['median_per_s'])} texts/s", file=sys.stderr)
    return {
        "texts": len(texts),
        "non_ascii_texts": sum(not t.isascii() for t in texts),
        "words_mean": float(np.mean(words)),
        "source": str(QQP),
        "first_call_ms": first_call_ms,
        "results": results,
    }


# -- 2. hyperplane fingerprints --------------------------------------------------------
def bench_vectors(n: int, single_calls: int, runs: int, min_seconds: float) -> dict:
    from semcache.kernels import simhash_vectors
    from semcache.kernels.simhash import project_signs, project_signs_rows
    from semcache.kernels.vectors import OK, check_signs

    rng = np.random.default_rng(1)
    d = 384
    vecs = rng.standard_normal((n, d), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    planes64 = rng.standard_normal((64, d), dtype=np.float32)
    planes128_t = np.ascontiguousarray(rng.standard_normal((128, d), dtype=np.float32).T)
    out_batch = np.empty((n, 2), dtype=np.uint64)
    singles = [np.ascontiguousarray(vecs[i : i + 1]) for i in range(single_calls)]
    out1 = np.empty((1, 2), dtype=np.uint64)
    planes128 = np.ascontiguousarray(planes128_t.T)

    def np_batch64() -> np.ndarray:
        return np.packbits((vecs @ planes64.T) > 0, axis=1, bitorder="little").view(np.uint64).ravel()

    def single_project() -> None:
        for v in singles:
            project_signs(v, planes128_t, out1)

    rows1 = [v[0] for v in singles]
    fp1 = np.empty(2, dtype=np.uint64)

    def single_check_signs() -> None:
        for v in rows1:
            check_signs(v, planes128, 2e-3, fp1)

    def single_numpy() -> None:
        for v in singles:
            np.packbits((planes128 @ v[0]) > 0, bitorder="little").view(np.uint64)

    # the kernels agree with the NumPy reference
    assert np.array_equal(simhash_vectors(vecs[:1000], planes64), np_batch64()[:1000])
    chk = np.empty((1, 2), dtype=np.uint64)
    project_signs(singles[0], planes128_t, chk)
    assert np.array_equal(chk[0], np.packbits((planes128 @ singles[0][0]) > 0, bitorder="little").view(np.uint64))
    assert check_signs(rows1[0], planes128, 2e-3, fp1) == OK and np.array_equal(fp1, chk[0])

    cases = {
        "simhash_vectors, 64 planes, batch": (n, lambda: simhash_vectors(vecs, planes64)),
        "NumPy reference (matmul + packbits), 64 planes, batch": (n, np_batch64),
        "project_signs_rows, 128 planes, batch (the cache's put path)": (
            n,
            lambda: project_signs_rows(vecs, planes128, out_batch),
        ),
        "project_signs (planes transposed), 128 planes, batch": (
            n,
            lambda: project_signs(vecs, planes128_t, out_batch),
        ),
        "check_signs (checks + 128-plane fingerprint), one vector per call (the cache's lookup path)": (
            single_calls,
            single_check_signs,
        ),
        "project_signs (planes transposed), 128 planes, one vector per call": (single_calls, single_project),
        "NumPy reference, 128 planes, one vector per call": (single_calls, single_numpy),
    }
    results = {}
    for name, (items, fn) in cases.items():
        secs, reps = timed_runs(fn, runs, min_seconds)
        results[name] = throughput(items, secs, reps)
        results[name]["ns_per_item"] = 1e9 / results[name]["median_per_s"]
        print(f"  {name}: {fmt_rate(results[name]['median_per_s'])} fp/s", file=sys.stderr)
    return {"n": n, "dim": d, "single_calls": single_calls, "results": results}


# -- 3. Hamming search ------------------------------------------------------------------
def bench_hamming(n: int, nq: int, radii: list[int], runs: int, min_seconds: float, configs: dict) -> dict:
    import faiss

    from semcache.kernels import hamming_search

    faiss.omp_set_num_threads(1)  # one thread, like hamming_search
    rng = np.random.default_rng(2)
    fps = np.frombuffer(rng.bytes(8 * n), dtype=np.uint64).copy()
    codes = fps.view(np.uint8).reshape(n, 8)  # same bits, as faiss's byte codes
    t0 = time.perf_counter()
    flat = faiss.IndexBinaryFlat(64)
    flat.add(codes)
    build = {"IndexBinaryFlat": time.perf_counter() - t0}
    multi = {}
    for nhash, b in {tuple(c[:2]) for cs in configs.values() for c in cs}:
        t0 = time.perf_counter()
        idx = faiss.IndexBinaryMultiHash(64, nhash, b)
        idx.add(codes)
        multi[(nhash, b)] = idx
        build[f"IndexBinaryMultiHash(64, {nhash}, {b})"] = time.perf_counter() - t0

    out: dict = {"n": n, "queries": nq, "faiss": faiss.__version__, "faiss_threads": 1, "build_s": build, "radii": {}}

    def one_radius(radius: int) -> dict:
        # planted queries: a stored fingerprint with t random bits flipped, t uniform in 0..radius,
        # so every query has at least one answer (random 64-bit queries have none within 8 bits)
        src = rng.integers(0, n, nq)
        qs = fps[src].copy()
        for j in range(nq):
            for bit in rng.choice(64, int(rng.integers(0, radius + 1)), replace=False):
                qs[j] ^= np.uint64(1) << np.uint64(bit)
        qcodes = qs.view(np.uint8).reshape(nq, 8)
        exact = [hamming_search(q, fps, radius) for q in qs]
        n_true = sum(len(e) for e in exact)

        def ours() -> None:
            for q in qs:
                hamming_search(q, fps, radius)

        def per_query(index) -> Callable[[], None]:
            def run() -> None:
                for j in range(nq):
                    index.range_search(qcodes[j : j + 1], radius + 1)  # faiss: distance < radius

            return run

        def batched(index) -> Callable[[], None]:
            return lambda: index.range_search(qcodes, radius + 1)

        def recall_of(index) -> tuple[float, int]:
            lims, _d, ids = index.range_search(qcodes, radius + 1)
            got = wrong = 0
            for j in range(nq):
                found = set(ids[lims[j] : lims[j + 1]].tolist())
                truth = set(exact[j].tolist())
                got += len(found & truth)
                wrong += len(found - truth)
            return got / max(n_true, 1), wrong

        cases: dict[str, tuple[Callable[[], object], float, int, dict]] = {
            "semcache hamming_search (exact scan), per query": (ours, 1.0, 0, {})
        }
        for nhash, b, nflip in configs[radius]:
            idx = multi[(nhash, b)]
            idx.nflip = nflip
            rec, wrong = recall_of(idx)
            p = {"nhash": nhash, "b": b, "nflip": nflip}
            tag = f"faiss IndexBinaryMultiHash(64, {nhash}, {b}), nflip={nflip}"
            cases[tag + ", per query"] = (per_query(idx), rec, wrong, p)
            cases[tag + f", batch of {nq}"] = (batched(idx), rec, wrong, p)
        rec, wrong = recall_of(flat)
        cases["faiss IndexBinaryFlat (exact scan), per query"] = (per_query(flat), rec, wrong, {})
        cases[f"faiss IndexBinaryFlat (exact scan), batch of {nq}"] = (batched(flat), rec, wrong, {})

        res = {}
        for name, (fn, rec, wrong, params) in cases.items():
            if params:
                multi[(params["nhash"], params["b"])].nflip = params["nflip"]
            secs, reps = timed_runs(fn, runs, min_seconds)
            res[name] = throughput(nq, secs, reps) | {"recall": rec, "false_results": wrong, **params}
            print(f"  r={radius} {name}: {fmt_rate(res[name]['median_per_s'])} q/s recall {rec:.4f}", file=sys.stderr)
        return {"true_results": n_true, "results": res}

    for radius in radii:
        out["radii"][str(radius)] = one_radius(radius)
    return out


# -- report ---------------------------------------------------------------------------
def report(data: dict) -> str:
    parts = []
    if "texts" in data:
        parts.append(report_texts(data["texts"]))
    if "vectors" in data:
        parts.append(report_vectors(data["vectors"]))
    if "hamming" in data:
        parts.extend(report_hamming(data["hamming"]))
    return "\n\n".join(parts)


def report_texts(t: dict) -> str:
    base = t["results"]["semcache simhash_texts, 1 thread"]["median_per_s"]
    rows = []
    for name, r in t["results"].items():
        rows.append([name, fmt_rate(r["median_per_s"]), fmt_rate(r["p99_per_s"]), f"{base / r['median_per_s']:.1f}x"])
    return (
        f"simhash_texts: {t['texts']} distinct QQP questions of 5-20 words (mean {t['words_mean']:.1f} words, "
        f"{t['non_ascii_texts']} of them non-ASCII; the ASCII-only rows use as many ASCII questions)\n\n"
        + table(["implementation", "texts/s median", "texts/s p99 run", "semcache 1-thread / this"], rows)
    )


def report_vectors(v: dict) -> str:
    rows = [
        [name, fmt_rate(r["median_per_s"]), fmt_rate(r["p99_per_s"]), f"{r['ns_per_item']:.0f}"]
        for name, r in v["results"].items()
    ]
    return (
        f"Hyperplane fingerprints: float32 unit vectors, dim {v['dim']}, batch n = {v['n']}\n\n"
        + table(["case", "fingerprints/s median", "p99 run", "ns each"], rows)
    )


def report_hamming(h: dict) -> list[str]:
    parts = []
    for radius, rr in h["radii"].items():
        ours = rr["results"]["semcache hamming_search (exact scan), per query"]["median_per_s"]
        rows = [
            [
                name,
                fmt_rate(r["median_per_s"]),
                fmt_rate(r["p99_per_s"]),
                f"{r['median_per_s'] / ours:.2f}x",
                f"{r['recall']:.4f}",
            ]
            for name, r in rr["results"].items()
        ]
        parts.append(
            f"Hamming search, radius {radius}: {h['n']:,} random 64-bit fingerprints, {h['queries']} planted queries "
            f"({rr['true_results']} true results), faiss {h['faiss']} on 1 thread\n\n"
            + table(["implementation", "queries/s median", "p99 run", "vs semcache", "recall"], rows)
        )
    return parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--out", type=Path, default=None, help="JSON output path")
    ap.add_argument("--only", nargs="+", choices=PARTS, default=list(PARTS), help="parts to run (default: all)")
    args = ap.parse_args()
    q = args.quick
    runs = 3 if q else 7
    min_s = 0.05 if q else 0.3
    # (nhash, b, nflip): pigeonhole-exact layouts, and one cheaper, lossy layout
    configs = {
        4: [(5, 12, 0), (4, 16, 1)],
        8: [(5, 12, 1), (4, 16, 1)],
    }
    data = {"machine": machine(), "quick": q}
    if "texts" in args.only:
        print("text simhash ...", file=sys.stderr)
        data["texts"] = bench_texts(2_000 if q else 20_000, runs, min_s)
    if "vectors" in args.only:
        print("hyperplane fingerprints ...", file=sys.stderr)
        data["vectors"] = bench_vectors(5_000 if q else 100_000, 500 if q else 5_000, runs, min_s)
    if "hamming" in args.only:
        print("hamming search ...", file=sys.stderr)
        data["hamming"] = bench_hamming(100_000 if q else 1_000_000, 50 if q else 500, [4, 8], runs, min_s, configs)
    out = args.out or HERE / "results" / ("kernels-quick.json" if q else "kernels.json")
    write_json(data, out)
    print(machine_line(data["machine"]) + "\n")
    print(report(data))
    print(f"\nraw numbers: {out}")


if __name__ == "__main__":
    main()
