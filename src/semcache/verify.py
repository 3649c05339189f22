"""The hit decision: given a query and its nearest cached prompts, serve one or not.

A verifier sees the query and the best few candidates (cached prompt, cosine)
and returns the one to serve with a confidence, or None. ``min_cosine`` is
the lowest cosine it can ever accept; candidate search is tuned to find every
entry above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ._errors import InvalidConfigError

__all__ = ["CosineVerifier", "Verifier", "cosine_for_precision"]


@runtime_checkable
class Verifier(Protocol):
    """Decides which candidate, if any, answers the query."""

    @property
    def min_cosine(self) -> float: ...

    def decide(self, query: str, candidates: Sequence[tuple[str, float]]) -> tuple[int, float] | None:
        """(index into candidates, confidence in [0, 1]) of the one to serve, or None."""
        ...


class CosineVerifier:
    """The plain rule of most semantic caches: serve the nearest entry if cosine >= threshold."""

    def __init__(self, threshold: float) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise InvalidConfigError(f"threshold must be a number in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)

    @property
    def min_cosine(self) -> float:
        return self.threshold

    def __repr__(self) -> str:
        return f"CosineVerifier(threshold={self.threshold})"

    def decide(self, query: str, candidates: Sequence[tuple[str, float]]) -> tuple[int, float] | None:
        if candidates and candidates[0][1] >= self.threshold:
            return 0, max(0.0, min(1.0, candidates[0][1]))
        return None


# Measured with all-MiniLM-L6-v2 on held-out Quora Question Pairs (see
# shared/data/README.md): cosine 0.80 gives precision 0.74, 0.970 gives 0.95,
# 0.993 gives 0.99. Between and beyond these points the cosine is
# interpolated linearly and clamped.
_PRECISION_TO_COSINE = ((0.74, 0.80), (0.95, 0.970), (0.99, 0.993))


def cosine_for_precision(target: float) -> float:
    """The fixed cosine that reached ``target`` precision on held-out QQP with MiniLM."""
    if isinstance(target, bool) or not isinstance(target, int | float) or not 0.0 < target < 1.0:
        raise InvalidConfigError(f"target_precision must be a number in (0, 1), got {target!r}")
    pts = _PRECISION_TO_COSINE
    if target <= pts[0][0]:
        return pts[0][1]
    for (p0, c0), (p1, c1) in zip(pts, pts[1:], strict=False):
        if target <= p1:
            return c0 + (c1 - c0) * (target - p0) / (p1 - p0)
    return min(1.0, pts[-1][1] + (1.0 - pts[-1][1]) * (target - pts[-1][0]) / (1.0 - pts[-1][0]))
