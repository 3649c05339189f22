#!/usr/bin/env python
"""Two cache configurations timed side by side, lookup by lookup (issue 3's latency).

``lookup_latency.py`` times each configuration in its own process; on a shared
VM whose speed drifts over minutes, the ratio of two such medians moves by
tens of percent between runs (two gates that differ only in threshold, 0.970
and 0.969, came out 0 % and 43 % apart). Here both caches are built in one
process from the same entries and queries (``lookup_latency.workload``), and
every query is looked up in each in turn, the order swapped from query to
query, so that both see the same machine at the same moment. The cache built
second runs about 2 % slower (a configuration against itself), so every other
trial builds them in the other order, and the trials are even in number. Each
repeat gives both a p50 and a p99 and their ratio (second configuration over
first); a trial (a fresh process) reports the median over its repeats, the run
the median over trials. Beside all semantic lookups, it reports the semantic
hits: the lookups that both caches served, timed in the same loop (a gate at
exactly 0.970 serves about half of the queries at cosine 0.97, because of
float32 rounding, and a lookup it does not serve skips the hit's work).

    python benchmarks/latency_pair.py "threshold=0.97" "default (target_precision 0.95)" --trials 6
    python benchmarks/latency_pair.py --quick "threshold=0.97" "default (target_precision 0.95)"
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from lookup_latency import (
    CONFIGS,
    RowEmbedder,
    fill,
    machine,
    machine_line,
    percentile_us,
    warm_kernels,
    workload,
    write_json,
)

HERE = Path(__file__).resolve().parent
KINDS = ("miss", "semantic")  # (an exact hit never reaches the index or the verifier)
# the semantic lookups that both caches served, timed in the same loop: the semantic-hit
# latency of each on the same queries (a gate at exactly 0.970 serves only about half of
# the queries at cosine 0.97, because of float32 rounding, and a lookup it does not serve
# skips the hit's work)
BOTH = "semantic_served_by_both"
SUMMARIES = (*KINDS, BOTH)
KINDS_RATIOS = (  # the table's ratios
    ("miss", "p50_ratio"),
    ("semantic", "p50_ratio"),
    ("semantic", "p99_ratio"),
    (BOTH, "p50_ratio"),
    (BOTH, "p99_ratio"),
)


def paired_lookups(
    gets: list, prompts: list[str], vecs: np.ndarray, indices: range, first: int = 0
) -> tuple[tuple[list[int], list[int]], tuple[list[bool], list[bool]]]:
    """Each query ``i`` of ``indices`` looked up by both ``gets`` in turn, cache ``first``
    first for an even ``i``, the other for an odd one: ns per lookup and whether it was
    served, per cache."""
    clock = time.perf_counter_ns
    times: tuple[list[int], list[int]] = ([], [])
    hit: tuple[list[bool], list[bool]] = ([], [])
    orders = ((first, 1 - first), (1 - first, first))
    for i in indices:
        p, v = prompts[i], vecs[i]
        for j in orders[i & 1]:
            t = clock()
            r = gets[j](p, embedding=v)
            times[j].append(clock() - t)
            hit[j].append(r is not None)
    return times, hit


def child(names: list[str], n: int, lookups: int, repeats: int, warmup: int, second_first: bool = False) -> dict:
    """Both caches over one workload, each query looked up in both, order alternating;
    with ``second_first`` the second configuration's cache is built first. Everything
    returned is indexed by configuration (0: ``names[0]``), whatever the build order."""
    from semcache import SemanticCache

    w = workload(n, lookups + warmup)
    built = {}
    for j in (1, 0) if second_first else (0, 1):
        warm_kernels(CONFIGS[names[j]], w)
        built[j] = SemanticCache(RowEmbedder(w.vecs), max_entries=n, **CONFIGS[names[j]])
        fill(built[j], w.prompts, w.responses)
    caches = [built[0], built[1]]
    gc.collect()
    gets = [c.get for c in caches]
    reps: dict[str, list[dict]] = {k: [] for k in SUMMARIES}
    served = {}
    for rep in range(repeats):
        for kind in KINDS:
            ps, vs = w.queries[kind]
            if rep == 0:
                for i in range(warmup):
                    for get in gets:
                        get(ps[i], embedding=vs[i])
            times, hit = paired_lookups(gets, ps, vs, range(warmup, len(ps)))
            reps[kind].append(summary(times))
            served[kind] = [sum(h) / lookups for h in hit]
            if kind == "semantic":
                both = [k for k, (a, b) in enumerate(zip(*hit, strict=True)) if a and b]
                if both:
                    reps[BOTH].append({**summary(tuple([t[k] for k in both] for t in times)), "lookups": len(both)})
    out: dict = {"configs": names, "n": n, "second_first": second_first,
                 "verifiers": [repr(c.verifier) for c in caches], "served": served}
    for kind in SUMMARIES:
        r = reps[kind]
        if not r:
            continue  # (no semantic query served by both)
        out[kind] = {
            "p50_us": [float(np.median([x["p50_us"][j] for x in r])) for j in (0, 1)],
            "p99_us": [float(np.median([x["p99_us"][j] for x in r])) for j in (0, 1)],
            "p50_ratio": float(np.median([x["p50_ratio"] for x in r])),
            "p99_ratio": float(np.median([x["p99_ratio"] for x in r])),
            "repeats": r,
        }
    return out


def summary(times: tuple[list[int], ...]) -> dict:
    """p50 and p99 (us) of both configurations' lookup times, and their ratios (second over first)."""
    p50 = [percentile_us(t, 50) for t in times]
    p99 = [percentile_us(t, 99) for t in times]
    return {"p50_us": p50, "p99_us": p99, "p50_ratio": p50[1] / p50[0], "p99_ratio": p99[1] / p99[0]}


def table(trials: list[dict], names: list[str]) -> str:
    """Markdown: each trial's p50 / p99 of both and their ratios, then the medians over
    trials ("-" where no semantic query was served by both)."""
    a, b = names
    heads = {"miss": "miss", "semantic": "semantic", BOTH: "semantic hit (served by both)"}
    cols = [f"{n}: {heads[k]} p50 / p99 us" for k in SUMMARIES for n in (a, b)]
    cols += ["miss p50 ratio", "semantic p50 ratio", "semantic p99 ratio", "hit p50 ratio", "hit p99 ratio"]
    lines = ["| " + " | ".join(["trial", "built first (configuration)", "load", *cols]) + " |"]
    lines.append("|" + "---|" * (3 + len(cols)))
    rows = [*((str(i + 1), [t]) for i, t in enumerate(trials)), ("median", trials)]
    for label, ts in rows:
        if label != "median":
            t = ts[0]
            cells = [label, "second" if t["second_first"] else "first", f"{t['load_1min_at_start']:.2f}"]
        else:
            cells = [label, "", ""]
        for kind in SUMMARIES:
            have = [x[kind] for x in ts if kind in x]
            for j in (0, 1):
                p50 = np.median([x["p50_us"][j] for x in have]) if have else None
                p99 = np.median([x["p99_us"][j] for x in have]) if have else None
                cells.append("-" if p50 is None else f"{p50:.1f} / {p99:.1f}")
        for k, q in KINDS_RATIOS:
            have_r = [x[k][q] for x in ts if k in x]
            cells.append(f"{np.median(have_r) - 1:+.1%}" if have_r else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the trials in fresh processes, print the table, write the JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("configs", nargs=2, choices=list(CONFIGS), metavar="CONFIG", help=f"two of: {', '.join(CONFIGS)}")
    ap.add_argument("--size", type=int, default=100_000, help="entries in each cache (default 100 000)")
    ap.add_argument("--trials", type=int, default=6, help="fresh processes, an even number (default 6)")
    ap.add_argument("--lookups", type=int, default=5000, help="timed lookups per kind and repeat (default 5000)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=500, help="untimed lookups per kind before the first repeat")
    ap.add_argument(
        "--quick", action="store_true", help="smoke run: 5 000 entries, 2 trials of 2 x 300 lookups (overrides those)"
    )
    ap.add_argument("--second-first", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help="JSON (default results/latency_pair.json; quick: not written)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.quick:
        args.size, args.trials, args.lookups, args.repeats, args.warmup = 5_000, 2, 300, 2, 50
    if args.child:
        res = child(args.configs, args.size, args.lookups, args.repeats, args.warmup, args.second_first)
        print(json.dumps(res))
        return
    if args.trials % 2:
        ap.error(f"--trials must be even (each build order in half the trials), got {args.trials}")
    m = machine()
    trials = []
    for trial in range(args.trials):
        load = os.getloadavg()[0]
        print(f"trial {trial + 1}/{args.trials} (load {load:.2f}) ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, __file__, *args.configs, "--child", "--size", str(args.size)]
        cmd += ["--lookups", str(args.lookups), "--repeats", str(args.repeats), "--warmup", str(args.warmup)]
        cmd += ["--second-first"] if trial % 2 else []
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if out.returncode:
            sys.stderr.write(out.stderr)
            raise SystemExit(f"trial {trial + 1} failed")
        res = json.loads(out.stdout.strip().splitlines()[-1])
        res["load_1min_at_start"] = round(load, 2)
        trials.append(res)
    m["load_1min_end"] = round(os.getloadavg()[0], 2)
    data = {"machine": m, "configs": args.configs, "n": args.size, "lookups": args.lookups,
            "repeats": args.repeats, "warmup": args.warmup, "trials": trials}
    print(machine_line(m))
    print(f"{args.size} entries each; {args.lookups} lookups per kind x {args.repeats} repeats, each query looked up "
          f"in both caches in turn; ratios: {args.configs[1]} over {args.configs[0]}, per repeat, median of repeats; "
          f"served semantic: {[round(s, 3) for s in trials[0]['served']['semantic']]}\n")
    print(table(trials, args.configs))
    if not args.quick or args.out:
        path = args.out or HERE / "results" / "latency_pair.json"
        write_json(data, path)
        print(f"\nraw numbers: {path}")


if __name__ == "__main__":
    main()
