#!/usr/bin/env python
"""What the default verifier costs per lookup, and what its profiles cost in memory.

On real QQP dev pairs (question1 cached, question2 the query), every pair given
cosine 0.97 so that it passes the floor and is scored:

* ``decide`` with one candidate whose profile was made at put (the lookup path);
* the same on arena-hard prompts (real chat prompts; the script prints the queries'
  median and longest length, 134 and 9 140 characters: long ones take the long-prompt
  guard), the two prompts of a cluster
  as query and candidate, with its p99 over the pairs;
* the same on the QQP dev pairs whose query needs the Unicode path (letters beyond
  ASCII: accents, other scripts), with its p99;
* ``profile(query)`` alone (what the general path makes first), and on the longest
  arena-hard prompt that needs the Unicode path;
* bytes of profile data per question, with and without the character 3-grams
  (``profile(..., shingles=False)``, what the cache stores when its verifier
  does not read them), and per arena-hard prompt.

Each timing is the median over 5 runs of the per-call median over the pairs.
It runs on older commits too (parts they lack are skipped): copy it into an
archive of the commit's tree and run it there.

    python benchmarks/verifier_costs.py [--data ../shared/data] [--pairs 2000]
"""

from __future__ import annotations

import argparse
import inspect
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _data import data_dir, read_arena, read_qqp

from semcache import _features
from semcache._features import profile
from semcache.verify import Candidate, load_default_verifier


def per_call_us(fn, items, runs: int = 5, q: float = 0.5) -> float:  # type: ignore[no-untyped-def]
    """The median over ``runs`` of the per-call ``q`` quantile (0.5: median) in us."""
    for it in items[:200]:  # warm-up (compiles on first use)
        fn(it)
    values = []
    clock = time.perf_counter_ns
    for _ in range(runs):
        ts = []
        for it in items:
            a = clock()
            fn(it)
            ts.append(clock() - a)
        values.append(float(np.quantile(ts, q)) / 1e3)
    return statistics.median(values)


def _unicode_path(text: str) -> bool:
    """Whether a profile of ``text`` takes the Unicode path (its characters beyond ASCII
    are not all plain symbols, or NFKC changes it)."""
    return not _features._bytewise(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data")
    ap.add_argument("--pairs", type=int, default=2000)
    args = ap.parse_args()
    d = data_dir(args.data)
    dev = read_qqp(d / "qqp" / "dev.tsv")
    pairs = dev[: args.pairs]
    v = load_default_verifier(0.95)
    items = [(p.q2, [Candidate(p.q1, 0.97, profile(p.q1))]) for p in pairs]
    wide = [(p.q2, [Candidate(p.q1, 0.97, profile(p.q1))]) for p in dev if _unicode_path(p.q2)]
    arena_rows = read_arena(d)
    arena = [prompt for _, prompt in arena_rows]
    by_cluster: dict[str, list[str]] = {}
    for cluster, prompt in arena_rows:
        by_cluster.setdefault(cluster, []).append(prompt)
    lean = "shingles" in inspect.signature(profile).parameters
    stored = (lambda t: profile(t, shingles=False)) if lean else profile  # as the cache stores it
    arena_items = [(ps[0], [Candidate(ps[1], 0.97, stored(ps[1]))]) for ps in by_cluster.values() if len(ps) >= 2]
    lengths = [len(a) for a, _ in arena_items]
    out = {
        "pairs": len(items),
        "decide, one candidate (us)": per_call_us(lambda it: v.decide(it[0], it[1]), items),
        "arena-hard pairs": len(arena_items),
        "arena-hard query characters, median / max": f"{statistics.median(lengths):.0f} / {max(lengths)}",
        "decide, arena-hard prompts, p50 (us)": per_call_us(lambda it: v.decide(it[0], it[1]), arena_items),
        "decide, arena-hard prompts, p99 (us)": per_call_us(lambda it: v.decide(it[0], it[1]), arena_items, q=0.99),
        "QQP dev pairs whose query takes the Unicode path": len(wide),
        "decide, Unicode-path queries, p50 (us)": per_call_us(lambda it: v.decide(it[0], it[1]), wide),
        "decide, Unicode-path queries, p99 (us)": per_call_us(lambda it: v.decide(it[0], it[1]), wide, q=0.99),
        "profile(query) (us)": per_call_us(lambda it: profile(it[0]), items),
    }
    # the Unicode path of a profile, on the longest prompt that takes it
    unicode_texts = [t for t in arena if _unicode_path(t)]
    if unicode_texts:
        longest = max(unicode_texts, key=len)
        out[f"profile of the longest Unicode-path prompt ({len(longest)} characters) (us)"] = per_call_us(
            profile, [longest]
        )
    questions = list(dict.fromkeys(p.q1 for p in read_qqp(d / "qqp" / "train.tsv")[:20_000]))
    for label, texts in (("QQP train question", questions), ("arena-hard prompt", arena)):
        out[f"profile data per {label}, bytes"] = float(np.mean([profile(t).data.nbytes for t in texts]))
        if lean:
            out[f"profile data per {label} without 3-grams, bytes"] = float(
                np.mean([profile(t, shingles=False).data.nbytes for t in texts])
            )
    for k, val in out.items():
        print(f"{k}: {val:.2f}" if isinstance(val, float) else f"{k}: {val}")


if __name__ == "__main__":
    main()
