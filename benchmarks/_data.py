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
import subprocess
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


def commit() -> str:
    """This checkout's commit as ``git describe --always --dirty`` gives it ("" without git):
    what a recorded figure was measured at."""
    git = ["git", "describe", "--always", "--dirty"]
    return subprocess.run(git, check=False, capture_output=True, text=True, cwd=ROOT).stdout.strip()


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
    """A VectorStore kept on disk (benchmarks/.cache): each text is embedded once per embedder.

    Texts are saved as one UTF-8 blob plus each text's byte length, so any text
    (a NUL or a lone surrogate included) comes back at its own row.
    """

    def __init__(self, embedder, name: str) -> None:  # type: ignore[no-untyped-def]
        super().__init__(embedder)
        self.path = CACHE_DIR / f"emb-{name}.npz"
        if self.path.exists():
            z = np.load(self.path, allow_pickle=False)
            if "texts_len" in z:
                blob, lengths = bytes(z["texts_blob"]), z["texts_len"]
                ends = np.cumsum(lengths)
                starts = ends - lengths
                texts = [blob[a:b].decode("utf-8", "surrogatepass") for a, b in zip(starts, ends, strict=True)]
            elif "texts_utf8" in z:  # an earlier format: NUL-joined UTF-8
                texts = bytes(z["texts_utf8"]).decode("utf-8").split("\x00")
            else:  # the first format: a fixed-width str array (as wide as the longest text)
                texts = [str(t) for t in z["texts"]]
            if len(texts) != len(z["vectors"]):  # e.g. a NUL inside a text in the NUL-joined format
                print(f"{self.path}: {len(texts)} texts for {len(z['vectors'])} vectors; re-embedding", file=sys.stderr)
            else:
                self.vectors = z["vectors"]
                self.index = {t: i for i, t in enumerate(texts)}

    def _embed_new(self, todo: list[str]) -> None:
        t0 = time.time()
        print(f"embedding {len(todo)} texts ...", end="", file=sys.stderr)
        super()._embed_new(todo)
        print(f" ({time.time() - t0:.0f}s)", file=sys.stderr)
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        encoded = [t.encode("utf-8", "surrogatepass") for t in self.index]  # in row order (insertion order)
        blob = np.frombuffer(b"".join(encoded), np.uint8)
        lengths = np.array([len(e) for e in encoded], np.int64)
        np.savez(self.path, texts_blob=blob, texts_len=lengths, vectors=self.vectors)


os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
