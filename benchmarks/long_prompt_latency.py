#!/usr/bin/env python
"""Lookup latency with long prompts: arena-hard requests behind one long template.

Real chat prompts are long and often share a template prefix (issue 3). Here the
first prompt of each arena-hard cluster is cached behind ``TEMPLATE`` (about 450
words), or behind it repeated ``--repeat-template`` times; queries are either the
cluster's other prompt behind the same template ("other": a different request, which
the long-prompt guard refuses behind a template; without one most prompts are under
its 160 words and only the lexical model stands between them) or the cached prompt with a comma after its first
word ("near": the same request, not an exact match, which the guard lets through). Query vectors sit at cosine 0.99 to
their cluster's entry, so every lookup reaches the verifier (the embedding is
excluded: vectors are given). Both caches see every query, the order swapped from
query to query, as in ``latency_pair.py``; each repeat gives p50 and p99 per cache
and kind, the run the median over repeats.

    python benchmarks/long_prompt_latency.py [--data ../shared/data] [--repeat-template 0 1 4] [--out FILE]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _data import data_dir
from latency_pair import paired_lookups
from lookup_latency import (
    CONFIGS,
    NoEmbedder,
    at_cosine,
    machine,
    machine_line,
    percentile_us,
    unit_rows,
    write_json,
)

from semcache import SemanticCache
from semcache._workloads import TEMPLATE, arena_pairs

HERE = Path(__file__).resolve().parent
NAMES = ("threshold=0.97", "default (target_precision 0.95)")


def near(prompt: str) -> str:
    """``prompt`` with a comma after its first word: the same words (the guard passes),
    another exact key (the lookup reaches the verifier)."""
    head, _, tail = prompt.partition(" ")
    return f"{head}, {tail}"


def run(prompts: list[tuple[str, str]], template: str, repeats: int, rng: np.random.Generator) -> dict:
    """Both caches over one template: p50/p99 (us) per cache and kind, and what each served."""
    firsts, seconds = [], []
    for first, second in prompts:
        firsts.append(template + first)
        seconds.append(template + second)
    vecs = unit_rows(rng, len(firsts))
    caches = [SemanticCache(NoEmbedder(), max_entries=len(firsts) + 1, **CONFIGS[n]) for n in NAMES]
    for c in caches:
        for text, v in zip(firsts, vecs, strict=True):
            c.put(text, "answer", embedding=v)
    queries = {"other": seconds, "near": [template + near(first) for first, _ in prompts]}
    qvecs = at_cosine(rng, vecs, 0.99)
    out: dict = {"template_words": len(template.split()), "entries": len(firsts)}
    gets = [c.get for c in caches]
    for kind, texts in queries.items():
        for c in caches:  # warm-up (compiles, fills caches)
            for t, v in zip(texts[:20], qvecs[:20], strict=True):
                c.get(t, embedding=v)
        reps: list[dict] = []
        served = [0, 0]
        for _ in range(repeats):
            times, hit = paired_lookups(gets, texts, qvecs, range(len(texts)), first=1)
            served = [sum(h) for h in hit]
            p50, p99 = ([percentile_us(x, q) for x in times] for q in (50, 99))
            reps.append({"p50_us": p50, "p99_us": p99})
        out[kind] = {
            "p50_us": [float(np.median([r["p50_us"][j] for r in reps])) for j in (0, 1)],
            "p99_us": [float(np.median([r["p99_us"][j] for r in reps])) for j in (0, 1)],
            "served": [s / len(texts) for s in served],
            "repeats": reps,
        }
    return out


def table(runs: list[dict]) -> str:
    lines = [
        "| template words | query | " + " | ".join(f"{n}: p50 / p99 us | {n}: served" for n in NAMES)
        + " | p50 ratio (second over first) |",
        "|---|---|" + "---|---|" * len(NAMES) + "---|",
    ]
    for r in runs:
        for kind in ("other", "near"):
            x = r[kind]
            cells = [str(r["template_words"]), kind]
            for j in (0, 1):
                cells += [f"{x['p50_us'][j]:.1f} / {x['p99_us'][j]:.1f}", f"{x['served'][j]:.0%}"]
            cells.append(f"{x['p50_us'][1] / x['p50_us'][0] - 1:+.1%}")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="the benchmark data folder (default ../shared/data)")
    ap.add_argument("--repeat-template", type=int, nargs="+", default=[0, 1, 4], help="0: no template")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=HERE / "results" / "long_prompt_latency.json")
    args = ap.parse_args()
    pairs = list(zip(*arena_pairs(data_dir(args.data)), strict=True))  # (first, second) of each cluster
    m = machine()
    runs = [run(pairs, TEMPLATE * k, args.repeats, np.random.default_rng(k)) for k in args.repeat_template]
    data = {"machine": m, "configs": list(NAMES), "repeats": args.repeats, "runs": runs}
    write_json(data, args.out)
    print(machine_line(m))
    print(f"{len(pairs)} arena-hard clusters, first prompt cached; median over {args.repeats} repeats\n")
    print(table(runs))
    print(f"\nraw numbers: {args.out}")


if __name__ == "__main__":
    main()
