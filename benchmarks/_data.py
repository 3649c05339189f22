"""Shared data loading for the accuracy benchmarks: the real sets in ../shared/data.

The data is never copied into this repository; pass --data or put it at
../shared/data (relative to the repository root). Embeddings of every text
are computed once per embedder and kept in benchmarks/.cache (git-ignored).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
CACHE_DIR = ROOT / "benchmarks" / ".cache"

HOW_TO_GET = """\
The benchmark data lives outside the repository. Expected layout under --data:
  qqp/train.tsv, qqp/dev.tsv            (question1<TAB>question2<TAB>is_duplicate)
  paraphrase/gptcache_mock_data.json    (GPTCache's mock data: [{origin, similar}])
  chat_prompts/arena_hard_v0.1.jsonl    (lmarena arena-hard-auto v0.1 questions)
See shared/data/README.md of the semcache project for the sources and licences."""


def data_dir(path: str | None) -> Path:
    d = Path(path) if path else DEFAULT_DATA
    if not (d / "qqp" / "dev.tsv").exists():
        sys.exit(f"no benchmark data at {d}\n{HOW_TO_GET}")
    return d


@dataclass(frozen=True)
class LabelledPair:
    q1: str
    q2: str
    label: int


def read_qqp(path: Path) -> list[LabelledPair]:
    out = []
    with open(path, encoding="utf-8") as fh:
        fh.readline()
        for line in fh:
            a, b, y = line.rstrip("\n").split("\t")
            out.append(LabelledPair(a, b, int(y)))
    return out


def read_paraphrase(d: Path) -> list[tuple[str, str]]:
    rows = json.loads((d / "paraphrase" / "gptcache_mock_data.json").read_text(encoding="utf-8"))
    return [(r["origin"], r["similar"]) for r in rows]


def read_arena(d: Path) -> list[tuple[str, str]]:
    """(cluster, prompt) of every arena-hard prompt."""
    out = []
    with open(d / "chat_prompts" / "arena_hard_v0.1.jsonl", encoding="utf-8") as fh:
        for line in fh:
            r = json.loads(line)
            out.append((r["cluster"], r["prompt"]))
    return out


class Groups:
    """Union-find over texts linked by duplicate labels (identical text = same group)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        p = self.parent.setdefault(x, x)
        while p != self.parent[p]:
            self.parent[p] = self.parent[self.parent[p]]
            p = self.parent[p]
        self.parent[x] = p
        return p

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb

    def same(self, a: str, b: str) -> bool:
        return a == b or self.find(a) == self.find(b)


def qqp_groups(pairs: list[LabelledPair]) -> Groups:
    g = Groups()
    for p in pairs:
        g.find(p.q1)
        g.find(p.q2)
        if p.label:
            g.union(p.q1, p.q2)
    return g


def train_sample(train: list[LabelledPair], n: int = 35_000, seed: int = 7) -> list[LabelledPair]:
    """A fixed random sample of train pairs (embedding all of train costs too long on 2 cores)."""
    if len(train) <= n:
        return list(train)
    return random.Random(seed).sample(train, n)


def split_dev(dev: list[LabelledPair], seed: int = 20261121) -> tuple[list[LabelledPair], list[LabelledPair]]:
    """Split dev in two halves with no question shared between them.

    Pairs are grouped by connected component of the question graph (any
    label), components shuffled with a fixed seed and dealt into 'choose'
    (thresholds and operating points are picked here) and 'report' (figures
    are reported here, never seen by a fit or a choice).
    """
    g = Groups()
    for p in dev:
        g.union(p.q1, p.q2)
    comps: dict[str, list[LabelledPair]] = {}
    for p in dev:
        comps.setdefault(g.find(p.q1), []).append(p)
    keys = sorted(comps)
    random.Random(seed).shuffle(keys)
    choose: list[LabelledPair] = []
    report: list[LabelledPair] = []
    for k in keys:
        (choose if len(choose) <= len(report) else report).extend(comps[k])
    return choose, report


class EmbeddingStore:
    """Embeddings of texts under one embedder, computed once and kept on disk."""

    def __init__(self, embedder, name: str) -> None:  # type: ignore[no-untyped-def]
        self.embedder = embedder
        self.path = CACHE_DIR / f"emb-{name}.npz"
        self.index: dict[str, int] = {}
        self.vectors = np.zeros((0, embedder.dim), dtype=np.float32)
        if self.path.exists():
            z = np.load(self.path, allow_pickle=False)
            texts = [str(t) for t in z["texts"]]
            self.vectors = z["vectors"]
            self.index = {t: i for i, t in enumerate(texts)}

    def ensure(self, texts: list[str], batch: int = 8192) -> None:
        # sorted by length so that each model batch pads little
        todo = sorted(dict.fromkeys(t for t in texts if t not in self.index), key=len)
        if not todo:
            return
        t0 = time.time()
        chunks = []
        for i in range(0, len(todo), batch):
            chunks.append(self.embedder.embed(todo[i : i + batch]))
            done = min(i + batch, len(todo))
            print(f"\rembedding {done}/{len(todo)} ({time.time() - t0:.0f}s)", end="", file=sys.stderr)
        print(file=sys.stderr)
        base = len(self.index)
        for j, t in enumerate(todo):
            self.index[t] = base + j
        self.vectors = np.concatenate([self.vectors, *chunks]).astype(np.float32)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        texts = [None] * len(self.index)
        for t, i in self.index.items():
            texts[i] = t
        np.savez(self.path, texts=np.array(texts, dtype=object).astype(str), vectors=self.vectors)

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.ensure(texts)
        return self.vectors[[self.index[t] for t in texts]]


def digest(*parts: str) -> str:
    return hashlib.sha1("\x00".join(parts).encode()).hexdigest()[:12]


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
