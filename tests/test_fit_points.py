"""benchmarks/fit_verifier.py chooses operating points on what the cache decides."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from semcache._features import features, order_swap, profiles
from semcache.verify import TARGET_GRID, Candidate, load_default_verifier, operating_points


@pytest.fixture(scope="module")
def fit_module() -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "fit_verifier.py"
    spec = importlib.util.spec_from_file_location("_fit_verifier_under_test", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    saved_path, had_data = list(sys.path), "_data" in sys.modules
    sys.modules[spec.name] = mod
    try:
        spec.loader.exec_module(mod)  # (puts benchmarks/ on sys.path and imports _data)
    finally:
        del sys.modules[spec.name]
        sys.path[:] = saved_path
        if not had_data:
            sys.modules.pop("_data", None)
    return mod


def _rows(rng: np.random.Generator) -> dict[str, object]:
    """One candidate per query, as candidate_rows makes them: paraphrases (right),
    changed numbers and direction swaps (wrong), at cosines from 0.90 to 1."""
    things = ["invoice", "router", "passport", "camera lens", "train ticket", "savings account"]
    formats = ["pdf", "word", "excel", "png", "csv", "html"]
    queries, cached, right = [], [], []
    for _ in range(300):
        kind = rng.integers(3)
        if kind == 2:
            a, b = (str(f) for f in rng.choice(formats, 2, replace=False))
            queries.append(f"how do I convert {a} to {b}")
            cached.append(f"how do I convert {b} to {a}")
            right.append(False)
            continue
        s, k = rng.choice(things), int(rng.integers(2, 30))
        queries.append(f"how can I renew my {s} within {k} days?")
        cached.append(f"how do I renew my {s} within {k + (kind == 1) * int(rng.integers(1, 9))} days")
        right.append(kind == 0)
    n = len(queries)
    cos = np.where(np.array(right), rng.uniform(0.93, 1.0, n), rng.uniform(0.90, 1.0, n))
    # noisy labels, as QQP's: a paraphrase is labelled wrong more often the lower its cosine
    right = [ok and rng.random() > 6.0 * (1.0 - c) for ok, c in zip(right, cos, strict=True)]
    qprof, cprof, idf = profiles(queries), profiles(cached), load_default_verifier().idf
    return {
        "q": np.arange(n), "c": np.arange(n), "cos": cos, "y": np.array(right), "nq": n,
        "u": np.zeros((n, 4), np.float32), "v": np.zeros((n, 4), np.float32),
        "x": np.array([features(a, b, float(c), idf) for a, b, c in zip(qprof, cprof, cos, strict=True)]),
        "qprof": qprof, "cprof": cprof, "queries": queries, "cached": cached,
    }


def test_points_are_chosen_on_the_runtime_probability_above_each_floor(fit_module: ModuleType) -> None:
    rows = _rows(np.random.default_rng(11))
    base = load_default_verifier()
    assert sum(order_swap(a, b) for a, b in zip(rows["qprof"], rows["cprof"], strict=True)) > 50  # type: ignore[call-overload]
    # a bound that bites: from 0.95 up nothing below 0.975, where the pairs are seldom
    # wrong, so 0.95's own threshold would fall below 0.925's (the point must not).
    # (Carrying a floor to the next target changes a point only through a query's best
    # among several candidates; these rows have one each.)
    lowest = {0.95: 0.975}
    v = fit_module.with_points(base, rows, lowest)
    p = np.array([
        base.probability(a, b, float(c))
        for a, b, c in zip(rows["qprof"], rows["cprof"], rows["cos"], strict=True)  # type: ignore[call-overload]
    ])
    right = rows["y"]
    want, low = [], 0.0
    for t, (_, floor) in zip(TARGET_GRID, v.cosine_floors, strict=True):
        low = max(low, lowest.get(t, 0.0))  # nothing below this target's bound or the last floor
        scores = np.where(rows["cos"] >= low, p, 0.0)  # type: ignore[operator]
        want.append(operating_points(scores, right, [t])[0][1])  # type: ignore[arg-type]
        low = floor
    assert [tau for _, tau in v.points] == pytest.approx(np.maximum.accumulate(want).tolist(), abs=1e-12)
    assert len({tau for _, tau in v.points}) >= 4  # the targets really differ here
    for name in ("points", "cosine_floors"):
        values = [x for _, x in getattr(v, name)]
        assert values == sorted(values), name
    for t, floor in v.cosine_floors:
        assert floor >= lowest.get(t, 0.0)
    # through decide(), every reachable target is met on the rows it was chosen on
    for t, tau in v.points:
        if tau >= 1.0 or t < 0.8:
            continue
        at = v.with_target(t)
        served = []
        for query, prompt, prof, c, ok in zip(
            rows["queries"], rows["cached"], rows["cprof"], rows["cos"], right, strict=True  # type: ignore[call-overload]
        ):
            if at.decide(query, [Candidate(prompt, float(c), prof)]) is not None:
                served.append(ok)
        assert served and np.mean(served) >= t, (t, len(served))
