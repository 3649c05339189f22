"""Candidate search: exact flat, SimHash-LSH, and the automatic choice between them."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._errors import InvalidConfigError
from ._base import Candidate, SearchIndex
from .flat import FlatIndex
from .lsh import MIN_RECALL, LSHIndex, LSHPlan, check_recall_at, lsh_parameters, lsh_recall, plan_lsh

__all__ = [
    "INDEX_KINDS",
    "AutoIndex",
    "Candidate",
    "FlatIndex",
    "LSHIndex",
    "LSHPlan",
    "SearchIndex",
    "lsh_parameters",
    "lsh_recall",
    "make_index",
    "plan_lsh",
]

INDEX_KINDS = ("auto", "flat", "lsh")

# Below this many entries an exact scan is about as fast as LSH and never misses.
FLAT_MAX = 2048
_FLAT_COST = 40.0  # ns per entry of an exact scan (one 384-d dot product)


class AutoIndex:
    """Exact while small; moves to LSH past ``flat_max`` entries when LSH pays.

    LSH pays when its plan's modelled recall at the decision's lowest cosine
    reaches ``MIN_RECALL`` (0.98) and it is modelled cheaper than an exact scan;
    else the index stays exact whatever its size.
    """

    def __init__(self, min_cosine: float, flat_max: int = FLAT_MAX, recall_at: float | None = None) -> None:
        check_recall_at(min_cosine, recall_at)
        self.min_cosine = min_cosine
        self.recall_at = recall_at
        self.flat_max = flat_max
        self._next_check = flat_max
        self._impl: FlatIndex | LSHIndex = FlatIndex()

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self._impl.kind

    def __len__(self) -> int:
        return len(self._impl)

    def __contains__(self, key: object) -> bool:
        return key in self._impl

    def add(self, key: str, slot: int, fingerprint: np.ndarray) -> None:
        self._impl.add(key, slot, fingerprint)
        n = len(self._impl)
        if isinstance(self._impl, FlatIndex) and n > self._next_check:
            self._next_check = 2 * n
            plan = plan_lsh(self.min_cosine, n, recall_at=self.recall_at)
            if plan.recall < MIN_RECALL or plan.cost_ns >= n * _FLAT_COST:
                return
            lsh = LSHIndex(self.min_cosine, recall_at=self.recall_at)
            for k, s, fp in self._impl.items():
                lsh.add(k, s, fp)
            lsh.rebuild()
            self._impl = lsh

    def remove(self, key: str) -> int | None:
        return self._impl.remove(key)

    def search(self, query: np.ndarray, fingerprint: np.ndarray, pool: np.ndarray, k: int) -> list[Candidate]:
        return self._impl.search(query, fingerprint, pool, k)

    def items(self) -> Iterator[tuple[str, int, np.ndarray]]:
        return self._impl.items()


def make_index(kind: str, min_cosine: float, recall_at: float | None = None) -> FlatIndex | LSHIndex | AutoIndex:
    """An index of ``kind`` ('auto', 'flat' or 'lsh') tuned for ``min_cosine``
    (and ``recall_at``, see ``plan_lsh``)."""
    if kind == "auto":
        return AutoIndex(min_cosine, recall_at=recall_at)
    if kind == "flat":
        return FlatIndex()
    if kind == "lsh":
        return LSHIndex(min_cosine, recall_at=recall_at)
    raise InvalidConfigError(f"index must be one of {INDEX_KINDS}, got {kind!r}")
