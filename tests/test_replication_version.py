"""Hybrid version vectors: merge laws (hypothesis), compare, clocks, wire forms, log rules."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcache import CorruptEntryError, InvalidConfigError
from semcache.replication import (
    Clock,
    Cursor,
    HybridClock,
    Order,
    Record,
    Step,
    Version,
    check_replica_id,
    classify,
    collectable,
    compare,
    decode_clock,
    decode_vector,
    dominates,
    encode_clock,
    encode_vector,
    horizons,
    join,
    make_vector,
    merge,
    stamp,
)

REPLICAS = ["a", "b", "c", "d"]

# Small domains on purpose: equal clocks with different values, equal vectors
# with different clocks, and so on, come up often.
vectors = st.dictionaries(st.sampled_from(REPLICAS), st.integers(1, 4), max_size=4).map(make_vector)
clocks = st.builds(Clock, st.integers(0, 3), st.integers(0, 2), st.sampled_from(REPLICAS))
values = st.none() | st.integers(0, 3)
records = st.builds(lambda v, c, x: Record(Version(v, c), x), vectors, clocks, values)


@given(records, records)
def test_merge_is_commutative(a: Record[int], b: Record[int]) -> None:
    assert merge(a, b) == merge(b, a)


@given(records, records, records)
def test_merge_is_associative(a: Record[int], b: Record[int], c: Record[int]) -> None:
    assert merge(merge(a, b), c) == merge(a, merge(b, c))


@given(records, records)
def test_merge_is_idempotent(a: Record[int], b: Record[int]) -> None:
    assert merge(a, a) == a
    ab = merge(a, b)
    assert merge(ab, a) == ab
    assert merge(ab, b) == ab


@given(records, records)
def test_merge_joins_vectors_and_keeps_one_of_the_inputs(a: Record[int], b: Record[int]) -> None:
    m = merge(a, b)
    assert m.version.vector == join(a.version.vector, b.version.vector)
    assert (m.value, m.version.clock) in {(a.value, a.version.clock), (b.value, b.version.clock)}


@given(records, records)
def test_concurrent_versions_resolve_by_highest_clock(a: Record[int], b: Record[int]) -> None:
    if a.version.clock != b.version.clock:
        top = a if a.version.clock > b.version.clock else b
        assert merge(a, b).value == top.value


@given(vectors, vectors)
def test_compare_is_consistent(
    a: tuple[tuple[str, int], ...], b: tuple[tuple[str, int], ...]
) -> None:
    flipped = {Order.BEFORE: Order.AFTER, Order.AFTER: Order.BEFORE}
    order = compare(a, b)
    assert compare(b, a) == flipped.get(order, order)
    assert (order is Order.EQUAL) == (a == b)
    j = join(a, b)
    assert dominates(j, a) and dominates(j, b)
    assert dominates(a, b) == (order in (Order.AFTER, Order.EQUAL))


def test_compare_cases() -> None:
    v = make_vector
    assert compare(v({"a": 1}), v({"a": 2})) is Order.BEFORE
    assert compare(v({"a": 2, "b": 1}), v({"a": 2})) is Order.AFTER
    assert compare(v({"a": 1, "b": 0}), v({"a": 1})) is Order.EQUAL
    assert compare(v({"a": 2}), v({"b": 1})) is Order.CONCURRENT
    assert compare((), ()) is Order.EQUAL


@st.composite
def histories(draw: st.DrawFn) -> list[Record[int]]:
    """Every state produced by a random run of 2-4 replicas that write, delete and gossip."""
    names = REPLICAS[: draw(st.integers(2, 4))]
    now = [1000]
    hlc = {r: HybridClock(r, lambda: now[0]) for r in names}
    counter = dict.fromkeys(names, 0)
    stores: dict[str, Record[int] | None] = dict.fromkeys(names)
    produced: list[Record[int]] = []
    for step in range(draw(st.integers(1, 25))):
        r = draw(st.sampled_from(names))
        now[0] += draw(st.sampled_from([0, 0, 1, -3]))  # clocks stall and go backwards
        action = draw(st.sampled_from(["write", "write", "delete", "gossip"])) if step else "write"
        cur = stores[r]
        if action == "gossip":
            other = stores[draw(st.sampled_from(names))]
            if other is not None:
                hlc[r].observe(other.version.clock)
                stores[r] = other if cur is None else merge(cur, other)
            continue
        counter[r] += 1
        prev = cur.version if cur is not None else None
        version = stamp(prev, r, counter[r], hlc[r].tick(prev.clock if prev else None))
        stores[r] = Record(version, None if action == "delete" else step)
        produced.append(stores[r])  # type: ignore[arg-type]
        produced.extend(s for s in stores.values() if s is not None)
    return produced


@settings(max_examples=200)
@given(histories(), st.data())
def test_merge_keeps_the_dominating_version(states: list[Record[int]], data: st.DataObject) -> None:
    a = data.draw(st.sampled_from(states))
    b = data.draw(st.sampled_from(states))
    order = compare(a.version.vector, b.version.vector)
    m = merge(a, b)
    if order is Order.AFTER:
        assert (m.value, m.version) == (a.value, a.version)
    elif order is Order.BEFORE:
        assert (m.value, m.version) == (b.value, b.version)
    # stamping puts a dominating version at or above what it saw (at: the same write, merged)
    if order is Order.AFTER:
        assert a.version.clock >= b.version.clock


def test_a_tombstone_wins_over_what_it_saw() -> None:
    h = HybridClock("a", lambda: 5)
    put = Record(stamp(None, "a", 1, h.tick()), 7)
    gone: Record[int] = Record(
        stamp(put.version, "b", 1, HybridClock("b", lambda: 1).tick(put.version.clock)), None
    )
    assert merge(put, gone) == gone
    assert merge(gone, put) == gone


def test_hybrid_clock_is_strictly_increasing_even_when_time_goes_back() -> None:
    now = [100]
    h = HybridClock("a", lambda: now[0])
    seen = [h.tick()]
    for t in (100, 99, 50, 101, 101):
        now[0] = t
        seen.append(h.tick())
    assert all(x < y for x, y in itertools.pairwise(seen))
    floor = Clock(500, 3, "z")
    assert h.tick(floor) > floor
    h.observe(Clock(900, 1, "b"))
    assert (h.phys, h.logical) == (900, 1)


def test_stamp_dominates_what_it_overwrites() -> None:
    prev = Version(make_vector({"a": 3, "b": 2}), Clock(10, 0, "a"))
    new = stamp(prev, "b", 5, Clock(11, 0, "b"))
    assert compare(new.vector, prev.vector) is Order.AFTER
    assert dict(new.vector) == {"a": 3, "b": 5}


@given(vectors, clocks)
def test_wire_forms_round_trip(vector: tuple[tuple[str, int], ...], clock: Clock) -> None:
    assert decode_vector(encode_vector(vector)) == vector
    assert decode_clock(encode_clock(clock)) == clock


@pytest.mark.parametrize("text", ["a", "a=", "a=x", "=3", "a=1,,b=2", "a b=1"])
def test_bad_vectors_are_corrupt(text: str) -> None:
    with pytest.raises(CorruptEntryError):
        decode_vector(text)


@pytest.mark.parametrize("text", ["", "1,2", "1,2,", "x,1,a", "1,2,a b", "1,-2,a"])
def test_bad_clocks_are_corrupt(text: str) -> None:
    with pytest.raises(CorruptEntryError):
        decode_clock(text)


def test_replica_ids_are_checked() -> None:
    assert check_replica_id("eu-west_1.a") == "eu-west_1.a"
    for bad in ("", "a,b", "a=b", "a b", "x" * 65, 3):
        with pytest.raises(InvalidConfigError, match="replica_id"):
            check_replica_id(bad)


def test_classify_log_reads() -> None:
    at5 = Cursor("5-0", 5)
    assert classify(at5, 5, None) is Step.NEXT  # nothing new
    assert classify(at5, 9, 6) is Step.NEXT  # the next messages
    assert classify(at5, 9, 7) is Step.GAP  # 6 was trimmed away
    assert classify(at5, 9, None) is Step.GAP  # everything after 5 was trimmed
    assert classify(at5, 2, None) is Step.RESET  # the source lost its data
    assert classify(at5, 7, 1) is Step.GAP  # ... and has written again since


def test_cursor_wire_form() -> None:
    c = Cursor("1700000000000-3", 42, (1700000000000, 2))
    assert Cursor.decode(c.encode()) == c
    for bad in ("", "1-0", "1-0 x 1,2", "1-0 3 1"):
        with pytest.raises(CorruptEntryError):
            Cursor.decode(bad)


def test_collectable_needs_every_horizon_past_the_tombstone() -> None:
    tomb = Clock(100, 1, "a")
    a = horizons("a", (120, 0), {"b": Cursor("1-0", 4, (100, 1))})
    b = horizons("b", (130, 0), {"a": Cursor("1-0", 9, (120, 0))})
    assert collectable(tomb, [a, b], ["a", "b"])
    behind = horizons("b", (130, 0), {"a": Cursor("1-0", 9, (100, 0))})
    assert not collectable(tomb, [a, behind], ["a", "b"])
    assert not collectable(tomb, [a, b], ["a", "b", "c"])  # c's writes are unaccounted for
