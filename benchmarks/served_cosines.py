#!/usr/bin/env python
"""Where the default verifier serves, and what each LSH plan may lose there.

QQP dev (both halves, 10 000 pairs), warm stream with all-MiniLM-L6-v2: cache
every question1, query every question2 through ``SemanticCache`` (exact flat
search, so nothing is lost to the index here). For each target precision, the
semantic hits are counted by cosine band, and for each band the modelled LSH
recall (``semcache.index.lsh_recall``) of two plans at 100 k entries:

* planned at the floor (``min_cosine``, recall 0.99 there): the plan before
  ``search_cosine``;
* planned from ``search_cosine`` (recall 0.99 there, 0.98 at the floor): now.

"expected lost" is the sum over served hits of (1 - modelled recall at its
cosine): how many of them a 100 k-entry LSH index would be expected to miss.

    python benchmarks/served_cosines.py [--data ../shared/data] [--entries 100000]
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _data import EmbeddingStore, data_dir

from semcache import SemanticCache
from semcache._workloads import qqp_groups, read_qqp, run_stream
from semcache.embedders.sentence_transformers import SentenceTransformerEmbedder
from semcache.index import lsh_recall, plan_lsh
from semcache.normalize import normalize

BANDS = (0.96, 0.97, 0.98, 1.0001)  # upper edges; the first band starts at the floor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data")
    ap.add_argument("--entries", type=int, default=100_000, help="cache size the plans are made for")
    args = ap.parse_args()
    d = data_dir(args.data)
    dev = read_qqp(d / "qqp" / "dev.tsv")
    groups = qqp_groups(read_qqp(d / "qqp" / "train.tsv") + dev)
    store = EmbeddingStore(SentenceTransformerEmbedder(), "minilm")
    cached = list(dict.fromkeys(p.q1 for p in dev))
    queries = [p.q2 for p in dev]
    qv, cv = store(queries), store(cached)
    row = {c: i for i, c in enumerate(cached)}
    print(f"QQP dev, {len(queries)} queries, {len(cached)} cached; plans for {args.entries} entries\n")
    print(
        "| target | floor | search_cosine | cosine band | semantic hits | right "
        "| recall, plan at floor | recall, plan now |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for target in (0.95, 0.99):
        # the store as the cache's embedder: the cache searches exactly the vectors scored here
        cache = SemanticCache(store, target_precision=target, index="flat")
        rows = run_stream(cache, cached, queries, store, groups)
        v = cache.verifier
        low, at = v.min_cosine, v.search_cosine  # type: ignore[attr-defined]
        old = plan_lsh(low, args.entries)
        new = plan_lsh(low, args.entries, recall_at=at)
        # semantic hits (an exact hit is a stored prompt with the query's normalised text)
        hits = [(i, r) for i, r in enumerate(rows) if r[0] and normalize(str(r[1])) != normalize(queries[i])]
        cos = np.array([float(qv[i] @ cv[row[r[1]]]) for i, r in hits])
        right = np.array([r[2] for _, r in hits], dtype=bool)
        lost = {"old": 0.0, "new": 0.0}
        assert not (cos < low).any(), "a semantic hit below the verifier's floor"
        for lo, hi in itertools.pairwise([low, *(b for b in BANDS if b > low)]):
            m = (cos >= lo) & (cos < hi)
            r_old = lsh_recall(lo, old.probe_radius, old.bits)
            r_new = lsh_recall(lo, new.probe_radius, new.bits)
            print(
                f"| {target} | {low:.3f} | {at:.3f} | [{lo:.3f}, {min(hi, 1.0):.3f}) | {int(m.sum())} | "
                f"{int(right[m].sum())} | {r_old:.4f} | {r_new:.4f} |"
            )
        for c in cos:
            lost["old"] += 1.0 - lsh_recall(float(c), old.probe_radius, old.bits)
            lost["new"] += 1.0 - lsh_recall(float(c), new.probe_radius, new.bits)
        print(
            f"| {target} | plans: at floor {old.bits}-bit bands, probe {old.probe_radius} ({old.probes} buckets); "
            f"now {new.bits}-bit, probe {new.probe_radius} ({new.probes} buckets) | | all | {len(cos)} | "
            f"{int(right.sum())} | expected lost {lost['old']:.2f} | "
            f"expected lost {lost['new']:.2f} |"
        )
    print("\n(recall per band: modelled at its lower edge; the first band starts at the floor)")
    # why the lexical model's floor for targets >= 0.95 is 0.955 (fit_verifier.LEXICAL_SEARCH_FLOOR):
    # the lowest floor whose plan, full recall at the floor, is the 0.970 cosine gate's own
    print("\nplan_lsh with 0.99 modelled recall at the floor (bits, probe radius, modelled ns per lookup):\n")
    sizes = (10_000, 100_000, 1_000_000)
    print("| floor | " + " | ".join(f"{n // 1000} k entries" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for floor in (0.944, 0.95, 0.954, 0.955, 0.96, 0.97):
        plans = [plan_lsh(floor, n) for n in sizes]
        cells = " | ".join(f"{q.bits}, {q.probe_radius}, {q.cost_ns:.0f}" for q in plans)
        print(f"| {floor:.3f}{' (cosine gate)' if floor == 0.97 else ''} | {cells} |")


if __name__ == "__main__":
    main()
