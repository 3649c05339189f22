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
        # ... and its hits, paired query by query, are exactly the queries it served
        assert [r["lookups"] for r in same[pair.BOTH]["repeats"]] == [round(gate_served * 200)]
    flipped = pair.child([gate, default], n=2_000, lookups=200, repeats=1, warmup=20, second_first=True)
    assert flipped["served"] == out["served"]  # indexed by configuration, not by build order


def test_the_table_gives_each_trial_and_the_median_and_a_dash_where_none_was_served_by_both(
    pair: ModuleType,
) -> None:
    def trial(times: tuple[list[int], list[int]], both: bool, second_first: bool) -> dict:
        t = {"second_first": second_first, "load_1min_at_start": 0.5}
        for kind in pair.SUMMARIES:
            if kind != pair.BOTH or both:
                t[kind] = pair.summary(times)
        return t

    ms = 1_000  # ns per us
    one = trial(([10 * ms] * 99 + [30 * ms], [12 * ms] * 100), both=True, second_first=False)
    assert one["miss"]["p50_us"] == [10.0, 12.0] and one["miss"]["p50_ratio"] == pytest.approx(1.2)
    two = trial(([10 * ms] * 100, [11 * ms] * 100), both=False, second_first=True)
    rows = pair.table([one, two], ["a", "b"]).splitlines()
    assert len(rows) == 2 + 3  # header, rule, two trials, the median
    first, second, median = ([c.strip() for c in r.strip("|").split("|")] for r in rows[2:])
    assert first[:3] == ["1", "first", "0.50"] and second[:3] == ["2", "second", "0.50"]
    assert median[:3] == ["median", "", ""]
    hit_p99 = f"{one[pair.BOTH]['p99_ratio'] - 1:+.1%}"
    assert first[-2:] == ["+20.0%", hit_p99] and hit_p99 != "+20.0%"
    # the second trial served no query in both: its hit cells are dashes, and the median
    # of the hit columns is the first trial's alone
    assert second[-2:] == ["-", "-"] and second[3 + 4 : 3 + 6] == ["-", "-"]
    assert median[-2:] == first[-2:] and median[3 + 4 : 3 + 6] == first[3 + 4 : 3 + 6]
    # miss: the medians over both trials (p99 of a: 10.2 and 10.0; b: 12 and 11)
    assert median[3:5] == ["10.0 / 10.1", "11.5 / 11.5"] and median[-5] == "+15.0%"
