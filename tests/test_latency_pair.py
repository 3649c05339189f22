"""benchmarks/latency_pair.py times two caches over one workload (what its ratios rest on)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def pair(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    monkeypatch.syspath_prepend(str(BENCH))  # (the script imports lookup_latency from its folder)
    for name in ("latency_pair", "lookup_latency"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    import latency_pair  # type: ignore[import-not-found]

    yield latency_pair
    for name in ("latency_pair", "lookup_latency"):
        sys.modules.pop(name, None)


def test_each_cache_serves_by_its_configuration_whatever_the_build_order(pair: ModuleType) -> None:
    gate, default = "threshold=0.97", "default (target_precision 0.95)"
    out = pair.child([gate, default], n=2_000, lookups=200, repeats=2, warmup=20)
    assert out["configs"] == [gate, default] and out["n"] == 2_000
    # every semantic query sits at cosine 0.97 to its entry: the default serves (nearly) all of
    # them, the gate at exactly 0.970 about half (float32 rounding); no miss is served
    gate_served, default_served = out["served"]["semantic"]
    assert default_served >= 0.95 and 0.2 <= gate_served <= 0.8
    assert out["served"]["miss"] == [0.0, 0.0]
    for kind in ("miss", "semantic", pair.BOTH):
        assert len(out[kind]["repeats"]) == 2
        for rep in out[kind]["repeats"]:
            assert rep["p50_ratio"] == pytest.approx(rep["p50_us"][1] / rep["p50_us"][0])
    # the hit-to-hit figures are over the queries both served: all that the gate served
    # and the default served too, so no more than either served
    for rep in out[pair.BOTH]["repeats"]:
        assert 0 < rep["lookups"] <= round(min(gate_served, default_served) * 200)
        assert rep["lookups"] >= round((gate_served + default_served - 1.0) * 200)
    # a configuration against itself serves the same queries in both caches, as it did next to
    # the default, whichever cache is built first
    for second_first in (False, True):
        same = pair.child([gate, gate], n=2_000, lookups=200, repeats=1, warmup=20, second_first=second_first)
        assert same["served"]["semantic"] == [gate_served, gate_served] and same["second_first"] is second_first
    flipped = pair.child([gate, default], n=2_000, lookups=200, repeats=1, warmup=20, second_first=True)
    assert flipped["served"] == out["served"]  # indexed by configuration, not by build order
