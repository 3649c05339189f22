"""The LRU tier: a contract that holds for every bound, and a model-based state machine."""

from __future__ import annotations

from collections import OrderedDict

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from semcache._errors import InvalidConfigError
from semcache.tiers.lru import LRUTier

from .conftest import FakeClock


def test_bounds_by_count_evicting_least_recent() -> None:
    gone: list[tuple[str, str]] = []
    lru: LRUTier[str, int] = LRUTier(2, on_evict=lambda k, v, why: gone.append((k, why)))
    lru["a"] = 1
    lru["b"] = 2
    assert lru["a"] == 1  # a is now the most recent
    lru["c"] = 3
    assert "b" not in lru and "a" in lru and "c" in lru
    assert gone == [("b", "evicted")] and lru.evictions == 1


def test_bounds_by_bytes_and_refuses_oversized() -> None:
    gone: list[tuple[str, str]] = []
    lru: LRUTier[str, bytes] = LRUTier(100, 10, getsizeof=len, on_evict=lambda k, v, why: gone.append((k, why)))
    lru["a"] = b"xxxx"
    lru["b"] = b"yyyy"
    lru["c"] = b"zzzz"  # 12 bytes > 10: a goes
    assert list(lru) == ["b", "c"] and lru.currbytes == 8
    assert lru.set("big", b"x" * 11) is False
    assert "big" not in lru and lru.rejections == 1 and gone[-1] == ("big", "rejected")


def test_resize_counts_a_value_that_changed_in_place_and_evicts_from_the_cold_end() -> None:
    gone: list[tuple[str, str]] = []
    lru: LRUTier[str, list[int]] = LRUTier(
        100, 10, getsizeof=len, on_evict=lambda k, v, why: gone.append((k, why))
    )
    a, b, c = [1, 1], [2, 2], [3, 3]
    lru["a"], lru["b"], lru["c"] = a, b, c
    assert lru.currbytes == 6
    b.extend([2, 2, 2])  # b grows to 5 bytes: 2 + 5 + 2 = 9, within the bound
    lru.resize("b")
    assert lru.currbytes == 9 and gone == []
    c.extend([3] * 4)  # c grows to 6: 2 + 5 + 6 > 10, so the coldest (a, then b) go
    lru.resize("c")
    assert list(lru) == ["c"] and lru.currbytes == 6 and gone == [("a", "evicted"), ("b", "evicted")]
    del c[1:]  # shrinking is counted too
    lru.resize("c")
    assert lru.currbytes == 1
    lru.resize("absent")  # nothing to count
    c.extend([3] * 20)  # alone beyond the bound: it leaves, counted as an eviction
    lru.resize("c")
    assert len(lru) == 0 and lru.currbytes == 0 and gone[-1] == ("c", "evicted") and lru.evictions == 3


def test_ttl_with_injected_clock() -> None:
    clock = FakeClock()
    lru: LRUTier[str, int] = LRUTier(10, timer=clock)
    lru.set("a", 1, ttl=5)
    lru.set("b", 2)
    clock.advance(4.9)
    assert lru.get("a") == 1 and lru.ttl_left("a") == pytest.approx(0.1)
    clock.advance(0.2)
    assert lru.get("a") is None and lru.expirations == 1
    assert lru.get("b") == 2 and lru.ttl_left("b") is None


def test_expire_sweeps_everything_expired() -> None:
    clock = FakeClock()
    lru: LRUTier[str, int] = LRUTier(10, timer=clock)
    for i in range(5):
        lru.set(str(i), i, ttl=1 + i)
    clock.advance(3.5)
    assert lru.expire() == 3 and sorted(lru) == ["3", "4"]


def test_cold_expired_entries_are_swept_on_insert() -> None:
    clock = FakeClock()
    gone: list[str] = []
    lru: LRUTier[str, int] = LRUTier(10, timer=clock, on_evict=lambda k, v, why: gone.append(why))
    lru.set("old", 1, ttl=1)
    clock.advance(2)
    lru.set("new", 2)
    assert "old" not in lru._data and gone == ["expired"]


@pytest.mark.parametrize("kwargs", [{"maxsize": 0}, {"maxsize": 1.5}, {"maxsize": 3, "maxbytes": 0}])
def test_rejects_bad_bounds(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidConfigError):
        LRUTier(**kwargs)  # type: ignore[arg-type]


def test_mapping_protocol() -> None:
    lru: LRUTier[str, int] = LRUTier(3)
    lru["a"] = 1
    with pytest.raises(KeyError):
        lru["missing"]
    with pytest.raises(KeyError):
        del lru["missing"]
    del lru["a"]
    assert len(lru) == 0 and lru.pop("a", 7) == 7


class LRUModel(RuleBasedStateMachine):
    """The tier must behave exactly like this OrderedDict model of its rules:
    touch moves to the hot end; an insert first drops up to two expired
    entries from the cold end, then the coldest entries until within bounds;
    an expired entry is never returned."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock()
        self.events: list[tuple[str, str]] = []
        self.lru: LRUTier[str, str] = LRUTier(
            4, 40, getsizeof=len, timer=self.clock, on_evict=lambda k, v, why: self.events.append((k, why))
        )
        self.model: OrderedDict[str, tuple[str, float | None]] = OrderedDict()

    def _expired(self, key: str) -> bool:
        expires = self.model[key][1]
        return expires is not None and self.clock.now >= expires

    @rule(key=st.sampled_from("abcdef"), value=st.text(max_size=15), ttl=st.none() | st.floats(0.5, 5))
    def put(self, key: str, value: str, ttl: float | None) -> None:
        stored = self.lru.set(key, value, ttl)
        self.model.pop(key, None)
        if len(value) > 40:
            assert not stored
            return
        assert stored
        self.model[key] = (value, None if ttl is None else self.clock.now + ttl)
        for _ in range(2):
            cold = next(iter(self.model))
            if not self._expired(cold):
                break
            del self.model[cold]
        while len(self.model) > 4 or sum(len(v) for v, _ in self.model.values()) > 40:
            self.model.popitem(last=False)

    @rule(key=st.sampled_from("abcdef"))
    def get(self, key: str) -> None:
        got = self.lru.get(key)
        if key in self.model and not self._expired(key):
            assert got == self.model[key][0]
            self.model.move_to_end(key)
        else:
            assert got is None
            self.model.pop(key, None)

    @rule(key=st.sampled_from("abcdef"))
    def delete(self, key: str) -> None:
        got = self.lru.pop(key, None)
        live = key in self.model and not self._expired(key)
        assert got == (self.model[key][0] if live else None)
        self.model.pop(key, None)

    @rule(dt=st.floats(0, 3))
    def tick(self, dt: float) -> None:
        self.clock.advance(dt)

    @invariant()
    def bounds_hold(self) -> None:
        assert self.lru.currsize <= 4 and self.lru.currbytes <= 40
        assert self.lru.currbytes == sum(len(s.value) for s in self.lru._data.values())

    @invariant()
    def same_entries_in_same_order(self) -> None:
        assert list(self.lru._data) == list(self.model)
        assert {k for k in self.model if not self._expired(k)} == {k for k in list(self.lru._data) if k in self.lru}

    @invariant()
    def counted(self) -> None:
        assert self.lru.evictions + self.lru.expirations + self.lru.rejections == len(self.events)


TestLRUModel = LRUModel.TestCase
TestLRUModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
