"""Experiment: what would mending the possessive entity clash be worth on QQP?

    python benchmarks/possessive_entities.py [--data ../shared/data]

A capitalised possessive with a straight apostrophe ("Google's") gives the entity
"google" but the word "googles", so the entity-mismatch flag fires even between a
text and itself (an older defect; the shipped weights were fitted with it). This
scores dev's warm stream with the reference features (short texts: no long-prompt
guard), the shipped weights and the swap prior, once as shipped and once with an
entity also found as its word plus "s", and gives the report half's figures at
the point chosen on 'choose' (each query's best candidate at or above the
verifier's cosine floor).

The thirteenth session shipped this mend (kernels and reference: a name is held
by a text that has it among its words as written or with an "s" after it) with
a refit, so from then on both scorings here are the same; run it from an
archive of ``ec7a94e`` (``PYTHONPATH=<archive>/src``) for the figures in
RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _data import EmbeddingStore, data_dir, qqp_groups, read_qqp, split_dev
from token_alignment import hindsight

from semcache._bench import markdown_table
from semcache._features import FEATURE_NAMES, features_reference, order_swap_reference, profile_reference
from semcache._workloads import Groups, LabelledPair, nearest
from semcache.verify import SWAP_PRIOR, load_default_verifier, operating_points


def best_per_query(
    pairs: Sequence[LabelledPair], store: EmbeddingStore, groups: Groups
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int]:
    """Per scoring ("shipped", "mended"): each query's best logit and whether that candidate
    is right; and on how many candidates the mend changes the flag."""
    v = load_default_verifier()
    w = np.asarray(v.weights)
    flag = FEATURE_NAMES.index("entity_mismatch")
    near = nearest(pairs, store, groups)
    qr = [profile_reference(t) for t in near.queries]
    cr = [profile_reference(t) for t in near.cached]
    best: dict[str, list[tuple[float, bool]]] = {"shipped": [], "mended": []}
    changed = 0
    for i, row in enumerate(near.top):
        top = {"shipped": (-np.inf, False), "mended": (-np.inf, False)}
        for r, j in enumerate(row):
            cos = float(near.cos[i, r])
            if cos < v.min_cosine:
                continue
            a, b = qr[i], cr[j]
            x = features_reference(a, b, cos, v.idf)
            mended = x.copy()
            mended[flag] = float(any(e not in b.words and e + "s" not in b.words for e in a.entities)
                                 or any(e not in a.words and e + "s" not in a.words for e in b.entities))
            changed += mended[flag] != x[flag]
            swap = SWAP_PRIOR if order_swap_reference(a, b) else 0.0
            for name, xx in (("shipped", x), ("mended", mended)):
                z = float(xx @ w) + swap
                if z > top[name][0]:
                    top[name] = (z, bool(near.right[i, r]))
        for name, found in best.items():
            found.append(top[name])
    return {k: (np.array([s for s, _ in v_]), np.array([r for _, r in v_])) for k, v_ in best.items()}, changed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="the shared data folder (default ../shared/data)")
    args = ap.parse_args()
    from semcache.embedders import SentenceTransformerEmbedder

    d = data_dir(args.data)
    dev = read_qqp(d / "qqp" / "dev.tsv")
    groups = qqp_groups(read_qqp(d / "qqp" / "train.tsv") + dev)
    choose, report = split_dev(dev)
    store = EmbeddingStore(SentenceTransformerEmbedder(batch_size=128), "minilm")
    (c, c_changed), (r, r_changed) = best_per_query(choose, store, groups), best_per_query(report, store, groups)
    print(f"the mend changes the flag on {c_changed} 'choose' and {r_changed} 'report' candidates")
    rows = []
    for name in ("shipped", "mended"):
        tau = operating_points(np.where(np.isinf(c[name][0]), -1e9, c[name][0]), c[name][1], [0.95])[0][1]
        s, ok = np.where(np.isinf(r[name][0]), -1e9, r[name][0]), r[name][1]
        acc = s >= tau
        rows.append({"scoring": name, "correct hits @0.95": float(ok[acc].sum() / len(s)),
                     "precision @0.95": float(ok[acc].mean()), "hindsight correct hits @0.95": hindsight(s, ok, 0.95)})
    print(markdown_table(rows, percent=True))


if __name__ == "__main__":
    main()
