"""Experiment: what a fine-tuned cross-encoder verifier would reach (a bound; nothing ships).

    python benchmarks/cross_encoder_bound.py [--data ../shared/data] [--epochs 1]

Issue 3 asks for 2x the correct hits of a fixed cosine at precision 0.95. No
scorer over the pooled embedding and lexical features has come near it
(RESULTS.md, token_alignment.py). This script asks whether the labels allow
it at all with a much stronger model: all-MiniLM-L6-v2's own weights (the
shipped package, no download) fine-tuned as a cross-encoder that reads query
and candidate together, with a new one-logit classifier on top.

It is fitted on the warm stream over the shipped verifier's 35 000-pair train
sample (every question1 cached, each question2's 4 nearest with cosine >= 0.80,
labelled by equivalence group), scored on dev's 'choose' and 'report' halves
over every query's 4 nearest (the candidates semcache sees), operating points
chosen on 'choose', figures on 'report', as token_alignment.py does. It also
times one lookup's worth of scoring (4 pairs) on this CPU: a cross-encoder is
milliseconds where the cache's verifier is microseconds, and its weights are
~90 MB, so it could not ship as the verifier. Its fit took 12.8 min per epoch on
2 cores, the embedding 285 s when benchmarks/.cache had none, then the scoring; writes
benchmarks/results/cross_encoder_bound.json.

Some of dev's questions also occur in the fit sample (QQP reuses questions
across pairs); labels do not leak (the groups give every fit pair its own
label), but the model may have seen a scored text, which can only favour it.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _data import ROOT, EmbeddingStore, data_dir, qqp_groups, read_qqp, split_dev, train_sample
from token_alignment import figures, print_table, served, write_json

from semcache._workloads import Groups, LabelledPair, Nearest, nearest

FLOOR = 0.80
MAX_LEN = 96  # tokens of the pair; QQP questions are short, longer pairs are cut
OUT = ROOT / "benchmarks" / "results" / "cross_encoder_bound.json"


def candidates(near: Nearest, floor: float = -1.0) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray]:
    """(query, cached) text pairs of the 4 nearest at cosine >= ``floor``, whether each
    is right, and its query's row."""
    pairs, right, query = [], [], []
    for i, top in enumerate(near.top):
        for r, j in enumerate(top):
            if near.cos[i, r] >= floor:
                pairs.append((near.queries[i], near.cached[j]))
                right.append(bool(near.right[i, r]))
                query.append(i)
    return pairs, np.array(right), np.array(query)


class CrossEncoder:
    """MiniLM with a one-logit head over the (query, candidate) pair, fitted with BCE."""

    def __init__(self, seed: int = 0) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging

        from semcache.embedders.sentence_transformers import default_model_path

        logging.set_verbosity_error()  # (the new head's "newly initialized" notice)
        torch.manual_seed(seed)
        path = str(default_model_path())
        self.torch = torch
        self.tok = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1)

    def _batch(self, pairs: Sequence[tuple[str, str]]):  # type: ignore[no-untyped-def]
        a, b = zip(*pairs, strict=True)
        return self.tok(list(a), list(b), truncation=True, max_length=MAX_LEN, padding=True, return_tensors="pt")

    def fit(
        self, pairs: list[tuple[str, str]], right: np.ndarray, epochs: int, batch: int = 32, lr: float = 3e-5
    ) -> None:
        torch = self.torch
        opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.01)
        steps = epochs * ((len(pairs) + batch - 1) // batch)
        warm = max(1, steps // 10)
        decay = max(1, steps - warm)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / decay)))
        loss_fn = torch.nn.BCEWithLogitsLoss()
        rng = random.Random(0)
        self.model.train()
        t0, done = time.time(), 0
        for _ in range(epochs):
            order = list(range(len(pairs)))
            rng.shuffle(order)
            for k in range(0, len(order), batch):
                idx = order[k : k + batch]
                logits = self.model(**self._batch([pairs[i] for i in idx])).logits.squeeze(-1)
                loss = loss_fn(logits, torch.tensor(right[idx], dtype=torch.float32))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                done += 1
                if done % 200 == 0:
                    print(f"  step {done}/{steps} loss {loss.item():.3f} ({time.time() - t0:.0f}s)", file=sys.stderr)
        self.model.eval()

    def score(self, pairs: list[tuple[str, str]], batch: int = 256) -> np.ndarray:
        """Probabilities, batched in order of length (less padding)."""
        torch = self.torch
        order = sorted(range(len(pairs)), key=lambda i: len(pairs[i][0]) + len(pairs[i][1]))
        out = np.empty(len(pairs))
        with torch.inference_mode():
            for k in range(0, len(order), batch):
                idx = order[k : k + batch]
                out[idx] = torch.sigmoid(self.model(**self._batch([pairs[i] for i in idx])).logits.squeeze(-1)).numpy()
        return out

    def lookup_ms(self, pairs: list[tuple[str, str]], n: int = 200) -> tuple[float, float]:
        """p50 / p99 milliseconds to score one lookup's 4 candidates (batch of 4)."""
        times = []
        with self.torch.inference_mode():
            for k in range(n):
                group = pairs[4 * k : 4 * k + 4]
                t0 = time.perf_counter()
                self.model(**self._batch(group))
                times.append(1e3 * (time.perf_counter() - t0))
        return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="the shared data folder (default ../shared/data)")
    ap.add_argument("--epochs", type=int, default=1)
    args = ap.parse_args()
    from semcache.embedders.sentence_transformers import SentenceTransformerEmbedder

    d = data_dir(args.data)
    full_train = read_qqp(d / "qqp" / "train.tsv")
    dev = read_qqp(d / "qqp" / "dev.tsv")
    groups: Groups = qqp_groups(full_train + dev)
    train: list[LabelledPair] = train_sample(full_train)
    choose_pairs, report_pairs = split_dev(dev)
    store = EmbeddingStore(SentenceTransformerEmbedder(batch_size=128), "minilm")  # shared with hit_rate.py
    store.ensure([t for p in train + dev for t in (p.q1, p.q2)])

    fit_pairs, fit_right, _ = candidates(nearest(train, store, groups), FLOOR)
    near = {name: nearest(p, store, groups) for name, p in (("choose", choose_pairs), ("report", report_pairs))}
    cand = {name: candidates(n) for name, n in near.items()}
    print(f"fit on {len(fit_pairs)} pairs ({fit_right.mean():.3f} right)", file=sys.stderr)

    ce = CrossEncoder()
    t0 = time.time()
    ce.fit(fit_pairs, fit_right, args.epochs)
    fit_s = time.time() - t0
    results = {}
    cos = {name: (np.clip(n.cos[:, 0], 0.0, 1.0).astype(np.float64), n.right[:, 0]) for name, n in near.items()}
    results["fixed cosine (nearest only)"] = figures(cos["choose"], cos["report"])
    scored = {name: served(len(near[name].queries), ce.score(p), r, q) for name, (p, r, q) in cand.items()}
    results["fine-tuned MiniLM cross-encoder"] = figures(scored["choose"], scored["report"])
    p50, p99 = ce.lookup_ms(cand["report"][0])

    cols = ["correct hits @0.95", "precision @0.95", "hindsight correct hits @0.95",
            "correct hits @0.99", "precision @0.99", "area"]
    print_table(results, cols)
    print(f"\ncross-encoder: fit {fit_s / 60:.1f} min ({args.epochs} epoch(s), {len(fit_pairs)} pairs); "
          f"scoring one lookup's 4 candidates p50 {p50:.1f} ms, p99 {p99:.1f} ms on this CPU")
    write_json(OUT, {
        "command": f"python benchmarks/cross_encoder_bound.py --epochs {args.epochs}", "fit pairs": len(fit_pairs),
        "fit share right": float(fit_right.mean()),
        "fit minutes": fit_s / 60, "lookup of 4 candidates ms": {"p50": p50, "p99": p99}, "results": results,
    })

if __name__ == "__main__":
    main()
