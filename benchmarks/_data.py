"""Shared data loading for the accuracy benchmarks: the real sets in ../shared/data.

The data is never copied into this repository; pass --data or put it at
../shared/data (relative to the repository root). The readers and the
workloads live in the package (``semcache._workloads``, also behind ``semcache
bench --data``); here embeddings of every text are computed once per embedder
and kept in benchmarks/.cache (git-ignored).
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

import numpy as np

from semcache._workloads import (  # noqa: F401  (re-exported for the benchmark scripts)
    LabelledPair,
    VectorStore,
    check_data_dir,
    qqp_groups,
    read_arena,
    read_qqp,
    split_dev,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
CACHE_DIR = ROOT / "benchmarks" / ".cache"


def data_dir(path: str | None) -> Path:
    try:
        return check_data_dir(path or DEFAULT_DATA)
    except FileNotFoundError as exc:
        sys.exit(str(exc))


def train_sample(train: list[LabelledPair], n: int = 35_000, seed: int = 7) -> list[LabelledPair]:
    """A fixed random sample of train pairs (embedding all of train costs too long on 2 cores)."""
    if len(train) <= n:
        return list(train)
    return random.Random(seed).sample(train, n)


class EmbeddingStore(VectorStore):
    """A VectorStore kept on disk (benchmarks/.cache): each text is embedded once per embedder."""

    def __init__(self, embedder, name: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(embedder)
        self.path = CACHE_DIR / f"emb-{name}.npz"
        if self.path.exists():
            z = np.load(self.path, allow_pickle=False)
            if "texts_utf8" in z:  # NUL-joined UTF-8
                texts = bytes(z["texts_utf8"]).decode("utf-8").split("\x00")
            else:  # the earlier format: a fixed-width str array (as wide as the longest text)
                texts = [str(t) for t in z["texts"]]
            self.vectors = z["vectors"]
            self.index = {t: i for i, t in enumerate(texts)}

    def _embed_new(self, todo: list[str]) -> None:
        t0 = time.time()
        print(f"embedding {len(todo)} texts ...", end="", file=sys.stderr)
        super()._embed_new(todo)
        print(f" ({time.time() - t0:.0f}s)", file=sys.stderr)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        texts = list(self.index)  # (in row order: rows are given in insertion order)
        joined = np.frombuffer("\x00".join(texts).encode("utf-8"), np.uint8)
        np.savez(self.path, texts_utf8=joined, vectors=self.vectors)


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
