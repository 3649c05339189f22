"""The cache-hit benchmark behind ``semcache bench``: workload, scoring, progress.

A workload is a list of pairs (cached prompt, query prompt, same meaning?).
Every distinct cached prompt is stored, every query looked up, and each
lookup scored as a correct hit, a wrong hit, a missed opportunity (a right
entry was cached) or a correct miss.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO, TypeVar

import numpy as np

__all__ = [
    "ExactMatchCache",
    "Outcome",
    "Pair",
    "Progress",
    "load_demo_pairs",
    "load_tsv_pairs",
    "markdown_table",
    "run_pairs",
]

T = TypeVar("T")
_DASH = "\u2013"  # en dash: a cell with no value


@dataclass(frozen=True, slots=True)
class Pair:
    cached: str
    query: str
    duplicate: bool


def load_tsv_pairs(path: str | Path) -> list[Pair]:
    """Pairs from a ``question1<TAB>question2<TAB>is_duplicate`` file with a header."""
    pairs = []
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().rstrip("\n").split("\t")
        if header[:3] != ["question1", "question2", "is_duplicate"]:
            raise ValueError(f"{path}: expected header 'question1 question2 is_duplicate', got {header!r}")
        for n, line in enumerate(fh, start=2):
            parts = line.rstrip("\n").split("\t")
            if len(parts) != 3 or parts[2] not in {"0", "1"}:
                raise ValueError(f"{path}:{n}: expected 3 tab-separated fields ending in 0 or 1")
            pairs.append(Pair(parts[0], parts[1], parts[2] == "1"))
    return pairs


def load_demo_pairs() -> list[Pair]:
    """The FAQ-style demo set shipped with the package (written by the semcache team)."""
    ref = resources.files("semcache") / "data" / "demo_faq.tsv"
    with resources.as_file(ref) as path:
        return load_tsv_pairs(path)


class Progress:
    """A dependency-free progress bar on stderr (silent when stderr is not a terminal)."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None, force: bool = False) -> None:
        self.total = max(total, 1)
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = force or self.stream.isatty()
        self.done = 0
        self._last = 0.0

    def wrap(self, items: Iterable[T]) -> Iterator[T]:
        for item in items:
            yield item
            self.update(1)
        self.close()

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._last > 0.1 or self.done >= self.total):
            self._last = now
            frac = min(1.0, self.done / self.total)
            bar = "#" * int(30 * frac)
            self.stream.write(f"\r{self.label:<22} [{bar:<30}] {self.done}/{self.total}")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


@dataclass
class Outcome:
    """Counts and latencies of one cache on one workload."""

    name: str
    correct_hits: int = 0
    wrong_hits: int = 0
    missed: int = 0
    correct_misses: int = 0
    latency_us: list[float] = field(default_factory=list)

    @property
    def queries(self) -> int:
        return self.correct_hits + self.wrong_hits + self.missed + self.correct_misses

    @property
    def hits(self) -> int:
        return self.correct_hits + self.wrong_hits

    def row(self) -> dict[str, Any]:
        q = max(self.queries, 1)
        lat = np.asarray(self.latency_us) if self.latency_us else np.zeros(1)
        return {
            "cache": self.name,
            "queries": self.queries,
            "hit rate": self.hits / q,
            "correct-hit rate": self.correct_hits / q,
            "wrong-hit rate": self.wrong_hits / q,
            "precision": self.correct_hits / self.hits if self.hits else float("nan"),
            "ceiling": (self.correct_hits + self.missed) / q,
            "p50 us": float(np.percentile(lat, 50)),
            "p99 us": float(np.percentile(lat, 99)),
        }


class ExactMatchCache:
    """The floor: a dict keyed by normalised prompt (LangChain InMemoryCache behaviour)."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def put_many(self, prompts: Sequence[str], responses: Sequence[Any]) -> None:
        from .normalize import normalize

        for p in prompts:
            self._data[normalize(p)] = p

    def put(self, prompt: str, response: Any, embedding: Any = None) -> None:
        self.put_many([prompt], [response])

    def get(self, prompt: str, embedding: Any = None) -> Any:
        from ._cache import Hit
        from .normalize import normalize

        got = self._data.get(normalize(prompt))
        return None if got is None else Hit(got, 1.0, got, "", True, "")


def run_pairs(
    cache: Any,
    pairs: Sequence[Pair],
    name: str,
    *,
    query_vectors: np.ndarray | None = None,
    progress: bool = True,
) -> Outcome:
    """Store each distinct cached prompt, query each query prompt, score each lookup.

    With ``query_vectors`` (the queries' embeddings, in order) latency is that
    of ``cache.get`` excluding the embedding; otherwise it includes it.
    """
    from .normalize import normalize

    cached = list(dict.fromkeys(p.cached for p in pairs))
    cache.put_many(cached, cached)  # the response is the cached prompt itself
    right: dict[str, set[str]] = {}
    for p in pairs:
        if p.duplicate:
            right.setdefault(p.query, set()).add(normalize(p.cached))
    out = Outcome(name)
    bar = Progress(len(pairs), name) if progress else None
    for i, p in enumerate(pairs):
        vec = None if query_vectors is None else query_vectors[i]
        t0 = time.perf_counter_ns()
        hit = cache.get(p.query, embedding=vec)
        out.latency_us.append((time.perf_counter_ns() - t0) / 1000)
        if bar is not None:
            bar.update(1)
        good = right.get(p.query, set()) | {normalize(p.query)}
        if hit is not None:
            if normalize(hit.prompt) in good:
                out.correct_hits += 1
            else:
                out.wrong_hits += 1
        elif p.duplicate:
            out.missed += 1
        else:
            out.correct_misses += 1
    if bar is not None:
        bar.close()
    return out


def markdown_table(rows: Sequence[dict[str, Any]], *, percent: bool = False) -> str:
    """Rows of dicts as a markdown table. Floats: microseconds (a column named "... us")
    to 1 decimal (whole with ``percent``), others to 3 decimals (as percentages with
    ``percent``); NaN (e.g. the precision of no hits) as a dash."""
    if not rows:
        return ""
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        cells = []
        for c in cols:
            v = r[c]
            if isinstance(v, float) and math.isnan(v):
                cells.append(_DASH)
            elif isinstance(v, float) and c.endswith(" us"):
                cells.append(f"{v:.0f}" if percent else f"{v:.1f}")
            elif isinstance(v, float):
                cells.append(f"{100 * v:.1f} %" if percent else f"{v:.3f}")
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
