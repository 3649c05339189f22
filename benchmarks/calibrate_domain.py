#!/usr/bin/env python
"""calibrate() on another domain: fitted on half the paraphrase set, reported on the other half.

    python benchmarks/calibrate_domain.py [--data ../shared/data] [--seed 7] [--cached-share 0.5]
        [--report-share 0.5] [--out FILE]

The shipped verifier was fitted on Quora questions. GPTCache's paraphrase set
(technical sentences and LLM-written paraphrases, shared/data/paraphrase) is
another domain: there the shipped model is cautious. A user with such traffic
labels what the cache showed and calls ``semcache.calibrate``; this measures
what that buys, with all-MiniLM-L6-v2 for every system.

- Split: the (origin, similar) pairs, shuffled with ``--seed``, into a fit half
  and a report half; nothing of the report half is read before the report.
- Labelled pairs from the fit half, as a cache's log would show them: a cache
  holds ``--cached-share`` of the fit half's origins (half, by default: real
  traffic asks for answers that are not cached too); every similar of the fit
  half is looked up there, and its 4 nearest (exact search) labelled 1 for its
  own origin, else 0. ``calibrate(pairs, target_precision=t)``: enough of both
  labels, so the weights are refitted on half of the lookups and the points
  chosen on the other half, per pair (the default: every wrong candidate
  counted as if it were served); and the same with ``points="lookups"`` (on
  what the cache would serve, opt-in).
- The fixed-cosine peer's threshold is chosen on the same lookups: the lowest
  cosine whose top-1 precision there reaches t.
- Report: the report half the same way (a cache holding ``--report-share`` of
  its origins, every similar looked up; a share other than ``--cached-share``
  is traffic unlike the labels), and three streams where every hit is wrong: the
  report half's similars against the fit half's origins, and arena-hard's
  false-hit stress (plain and behind one long template).
"""

from __future__ import annotations

import argparse
import random
import time
from pathlib import Path

import numpy as np
from _data import EmbeddingStore, data_dir
from lookup_latency import machine, machine_line, write_json

from semcache import SemanticCache, calibrate
from semcache._workloads import TEMPLATE, Groups, arena_pairs, percent_table, read_paraphrase, run_stream, summarize
from semcache.verify import operating_points

HERE = Path(__file__).resolve().parent
TARGETS = (0.95, 0.99)


def split(pairs: list[tuple[str, str]], seed: int) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The pairs shuffled into a fit half and a report half (no origin in both)."""
    origins = sorted(dict.fromkeys(o for o, _ in pairs))
    random.Random(seed).shuffle(origins)
    fit_origins = set(origins[: len(origins) // 2])
    fit = [p for p in pairs if p[0] in fit_origins]
    return fit, [p for p in pairs if p[0] not in fit_origins]


def groups_of(pairs: list[tuple[str, str]]) -> Groups:
    g = Groups()
    for o, s in pairs:
        g.union(o, s)
    return g


def cached_part(pairs: list[tuple[str, str]], share: float, seed: int) -> list[str]:
    """The origins a cache holds: ``share`` of them, drawn with ``seed``."""
    origins = sorted(dict.fromkeys(o for o, _ in pairs))
    random.Random(seed).shuffle(origins)
    return origins[: round(share * len(origins))]


def lookups(
    pairs: list[tuple[str, str]], cached: list[str], store: EmbeddingStore, k: int = 4
) -> tuple[list[tuple[str, str, int]], np.ndarray, np.ndarray]:
    """Every similar of ``pairs`` looked up among ``cached`` (exact search): its ``k``
    nearest as labelled pairs (similar, origin, same?), and the nearest's cosine and
    rightness (what a fixed-cosine cache would serve)."""
    g = groups_of(pairs)
    queries = [s for _, s in pairs]
    sims = store(queries) @ store(cached).T
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    out = [(q, cached[j], int(g.same(q, cached[j]))) for q, row in zip(queries, top, strict=True) for j in row]
    first = top[:, 0]
    right = np.array([g.same(q, cached[j]) for q, j in zip(queries, first, strict=True)])
    return out, sims[np.arange(len(queries)), first], right


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", help="the benchmark data folder (default ../shared/data)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--cached-share", type=float, default=0.5, help="share of origins cached while labelling")
    ap.add_argument("--report-share", type=float, default=0.5, help="share of origins cached in the report")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "calibrate_domain.json")
    args = ap.parse_args()
    d = data_dir(args.data)
    from semcache.embedders.sentence_transformers import SentenceTransformerEmbedder

    m = machine()
    store = EmbeddingStore(SentenceTransformerEmbedder(batch_size=128), "minilm")
    pairs = read_paraphrase(d)
    fit, report = split(pairs, args.seed)
    firsts, seconds = arena_pairs(d)
    store.ensure([t for p in pairs for t in p] + firsts + seconds + [TEMPLATE + x for x in firsts + seconds])

    fit_cached = cached_part(fit, args.cached_share, args.seed)
    train, first_cos, first_right = lookups(fit, fit_cached, store)
    t0 = time.perf_counter()
    per_pair = {t: calibrate(train, embedder=store, target_precision=t) for t in TARGETS}  # the default
    fit_s = time.perf_counter() - t0
    calibrated = {t: calibrate(train, embedder=store, target_precision=t, points="lookups") for t in TARGETS}
    thresholds = dict(zip(TARGETS, (tau for _, tau in operating_points(first_cos, first_right, TARGETS)), strict=True))

    def shipped(t: float) -> SemanticCache:
        return SemanticCache(store, target_precision=t)

    def mine(t: float) -> SemanticCache:
        return SemanticCache(store, verifier=calibrated[t])

    def mine_per_pair(t: float) -> SemanticCache:
        return SemanticCache(store, verifier=per_pair[t])

    def fixed(t: float) -> SemanticCache:
        return SemanticCache(store, threshold=thresholds[t])

    systems = [
        *((f"semcache shipped (QQP), target {t}", lambda t=t: shipped(t)) for t in TARGETS),
        *((f"semcache calibrated here, target {t}", lambda t=t: mine_per_pair(t)) for t in TARGETS),
        *((f"... points per lookup (opt-in), target {t}", lambda t=t: mine(t)) for t in TARGETS),
        *((f"fixed cosine {thresholds[t]:.3f} (chosen here for {t})", lambda t=t: fixed(t)) for t in TARGETS),
    ]
    report_cached = cached_part(report, args.report_share, args.seed + 1)
    similars = [s for _, s in report]
    g = groups_of(report)
    rows = [summarize(name, run_stream(make(), report_cached, similars, store, g)) for name, make in systems]
    arena = []
    templated = ([TEMPLATE + x for x in firsts], [TEMPLATE + x for x in seconds])
    # the report half's similars against the fit half's origins: no right answer is cached
    novel = (list(dict.fromkeys(o for o, _ in fit)), similars)
    for label, (f, s) in (
        ("paraphrase, answer not cached", novel),
        ("arena-hard, plain", (firsts, seconds)),
        ("arena-hard, behind one long template", templated),
    ):
        for name, make in systems:
            res = run_stream(make(), f, s, store, Groups())
            wrong = sum(r[0] for r in res) / len(s)
            arena.append({"prompts": label, "system": name, "queries": str(len(s)), "wrong hits": wrong})

    data = {
        "machine": m,
        "seed": args.seed,
        "fit_pairs": len(fit),
        "report_pairs": len(report),
        "labelled_pairs": len(train),
        "labelled_positive": sum(lab for *_, lab in train),
        "calibrate_seconds": fit_s,
        "calibrated": {
            points: {str(t): {"threshold": v.threshold, "min_cosine": v.min_cosine, "source": v.source}
                     for t, v in made.items()}
            for points, made in (("pairs", per_pair), ("lookups", calibrated))
        },
        "fixed_thresholds": {str(t): v for t, v in thresholds.items()},
        "cached_share": args.cached_share,
        "report_share": args.report_share,
        "report": rows,
        "arena": arena,
    }
    write_json(data, args.out)
    print(machine_line(m))
    print(
        f"paraphrase set: {len(fit)} pairs to fit ({len(train)} labelled pairs, {data['labelled_positive']} positive), "
        f"{len(report)} to report; caches hold {args.cached_share:.0%} of the origins while labelling, "
        f"{args.report_share:.0%} in the report; "
        f"calibrate() took {fit_s:.1f} s for both targets\n"
    )
    print(percent_table(rows))
    print()
    print(percent_table(arena))
    print(f"\nraw numbers: {args.out}")


if __name__ == "__main__":
    main()
