"""The verifier's embedding head as one kernel (see ``semcache._head``).

For k candidates: a = P u once, b = P v for each (or u and v themselves when
P has no rows), z = [a*b, |a-b|, x[inputs]], logit = w2 . relu(W1 z + b1) + b2.
One call does all k: the first layer is one BLAS product over the k rows of z,
the rest plain loops (a BLAS call per row would cost more to start than to run).
"""

from __future__ import annotations

import numpy as np

from ._jit import jit

__all__ = ["head_logits"]


@jit(fastmath=True)
def _project(proj: np.ndarray, vec: np.ndarray, out: np.ndarray) -> None:
    for i in range(proj.shape[0]):
        s = np.float32(0.0)
        for j in range(proj.shape[1]):
            s += proj[i, j] * vec[j]
        out[i] = s


@jit(fastmath=True)
def head_logits(
    u: np.ndarray,
    v: np.ndarray,
    x: np.ndarray,
    inputs: np.ndarray,
    proj: np.ndarray,
    w1: np.ndarray,
    tail: np.ndarray,
    out: np.ndarray,
) -> None:
    """``out[r]`` = the head's logit for query ``u`` (d,) or ``u[r]`` ((k, d) queries)
    against ``v[r]`` (k, d), with feature rows ``x`` (k, f) float64.

    ``proj`` (m, d) float32, no rows for none; ``w1`` (h, 2m + len(inputs))
    float32; ``tail`` float64: b1 (h), w2 (h), b2.
    """
    k = v.shape[0]
    d = v.shape[1]
    m = proj.shape[0] if proj.shape[0] > 0 else d
    hidden = w1.shape[0]
    n_in = w1.shape[1]
    a = np.empty(m, np.float32)
    b = np.empty(m, np.float32)
    z = np.empty((k, n_in), np.float32)
    one_query = u.shape[0] == 1
    for r in range(k):
        if r == 0 or not one_query:
            q = u[0] if one_query else u[r]
            if proj.shape[0] > 0:
                _project(proj, q, a)
            else:
                a[:] = q
        if proj.shape[0] > 0:
            _project(proj, v[r], b)
        else:
            b[:] = v[r]
        for i in range(m):
            z[r, i] = a[i] * b[i]
            z[r, m + i] = abs(a[i] - b[i])
        for i in range(inputs.shape[0]):
            z[r, 2 * m + i] = np.float32(x[r, inputs[i]])
    h = np.dot(z, w1.T)  # one BLAS call for all candidates
    for r in range(k):
        total = tail[2 * hidden]
        for j in range(hidden):
            s = h[r, j] + np.float32(tail[j])
            if s > 0.0:
                total += tail[hidden + j] * s
        out[r] = total
