"""Checks over embedding rows, in one pass and without temporaries."""

from __future__ import annotations

import numpy as np

from ._jit import jit
from .simhash import signs_of

__all__ = ["NOT_FINITE", "NOT_UNIT", "OK", "ZERO_ROW", "check_rows", "check_signs"]

OK = 0
NOT_UNIT = 1
ZERO_ROW = 2
NOT_FINITE = 3


@jit()
def _square_norm(row: np.ndarray) -> float:
    """The squared norm of a row; NaN as soon as an element is not finite."""
    s = 0.0
    for t in range(row.shape[0]):
        x = row[t]
        if not np.isfinite(x):
            return np.nan
        s += x * x
    return s


@jit()
def check_rows(rows: np.ndarray, sq: np.ndarray, tol: float) -> tuple[int, int]:
    """(status, row): NOT_FINITE/ZERO_ROW name the first bad row; NOT_UNIT if any
    row's squared norm is off 1 by more than ``tol`` (sq holds the squared norms)."""
    status = OK
    for k in range(rows.shape[0]):
        s = _square_norm(rows[k])
        if np.isnan(s):
            return NOT_FINITE, k
        if s == 0.0:
            return ZERO_ROW, k
        sq[k] = s
        if abs(s - 1.0) > tol:
            status = NOT_UNIT
    return status, -1


@jit()
def check_signs(vector: np.ndarray, planes: np.ndarray, tol: float, out: np.ndarray) -> int:
    """``check_rows`` for one vector, then, when it is OK (finite, non-zero, unit
    within ``tol``), its hyperplane signs into ``out`` (see ``simhash.signs_of``):
    a lookup's checks and fingerprint in one call. Returns the status."""
    s = _square_norm(vector)
    if np.isnan(s):
        return NOT_FINITE
    if s == 0.0:
        return ZERO_ROW
    if abs(s - 1.0) > tol:
        return NOT_UNIT
    signs_of(vector, planes, out)
    return OK
