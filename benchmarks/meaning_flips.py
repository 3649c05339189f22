"""Stress probe: hand-written pairs where one detail changes the answer.

    python benchmarks/meaning_flips.py [--out PATH]

Each pair is a cached prompt and a query. A "flip" asks something else (a
changed number, year, version, price, quantity, ordinal, day or time, negation,
entity, unit, opposite word, or swapped roles or direction): any hit is wrong.
A "paraphrase" asks the same: a hit is right. Each is looked up as the cache
does it (put the cached prompt, get the query, clear), in the default cache
(target precision 0.95) and in a plain cosine gate at 0.979 (the fixed cosine
chosen on QQP dev for precision 0.95), both with all-MiniLM-L6-v2.

Three sets, written by three helpers in the twelfth session (``benchmarks/flips``):
``probe_a`` (326 flips, 60 paraphrases) found the words the verifier's lists
lacked, so the lists were grown against it; ``probe_b`` (308 flips, 108
paraphrases) was written afterwards, without reading the lists or probe_a, to
measure the change on pairs it was not made for; ``probe_c`` (114 paraphrases
that use the new words) was a review's check that the grown lists do not refuse
the same question asked two ways. These are hand-written
cases, a stress test like arena-hard's; the accuracy figures are QQP's
(hit_rate.py). Run from an archive of another commit (``PYTHONPATH=<archive>/src``)
with ``SEMCACHE_BENCH_COMMIT=<commit>``, to compare commits.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _data import ROOT
from lookup_latency import machine, machine_line, write_json

from semcache._bench import markdown_table

SETS = ("probe_a", "probe_b", "probe_c")
GATE = 0.979


def read_set(name: str) -> list[dict[str, str]]:
    """The rows (kind, category, cached, query) of ``benchmarks/flips/<name>.tsv``."""
    with (ROOT / "benchmarks" / "flips" / f"{name}.tsv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", help="JSON path (default benchmarks/results/meaning_flips-<commit>.json)")
    args = ap.parse_args()
    from semcache import SemanticCache
    from semcache.embedders import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    caches = {"default": SemanticCache(emb), f"cosine {GATE}": SemanticCache(emb, threshold=GATE)}
    out: dict[str, Any] = {"machine": machine(), "command": "python benchmarks/meaning_flips.py", "sets": {}}
    for name in SETS:
        rows = read_set(name)
        vecs = emb.embed([r["cached"] for r in rows] + [r["query"] for r in rows])
        cos = np.sum(vecs[: len(rows)] * vecs[len(rows) :], axis=1)
        table: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        wrong: dict[str, list[dict[str, object]]] = defaultdict(list)
        for r, c in zip(rows, cos.tolist(), strict=True):
            key = "paraphrase" if r["kind"] == "paraphrase" else r["category"]
            for system, cache in caches.items():
                cache.put(r["cached"], "the cached answer")
                hit = cache.get(r["query"]) is not None
                cache.clear()
                cell = table[key][system]
                cell[0] += 1
                cell[1] += hit
                if hit and r["kind"] == "flip" and system == "default":
                    wrong[r["category"]].append({"cached": r["cached"], "query": r["query"], "cosine": round(c, 4)})
        flips = [k for k in table if k != "paraphrase"]
        total = {s: [sum(table[k][s][0] for k in flips), sum(table[k][s][1] for k in flips)] for s in caches}
        lines = [(k, table[k]) for k in [*sorted(flips), "paraphrase"] if k in table]
        if flips:
            lines.append(("all flips", total))
        print(f"\n{name}: hits per category (flips: wrong hits; paraphrases: right hits)")
        print(markdown_table([{"category": k, "pairs": t["default"][0], **{s: t[s][1] for s in caches}}
                              for k, t in lines]))
        out["sets"][name] = {"table": {k: dict(v) for k, v in table.items()}, "all flips": total,
                             "wrong hits of the default": dict(wrong)}
    tested = out["machine"]["semcache_commit"] or out["machine"]["commit"]
    path = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"meaning_flips-{tested}.json"
    write_json(out, path)
    print(f"\n{machine_line(out['machine'])}\nwrote {path}")


if __name__ == "__main__":
    main()
