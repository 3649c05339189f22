"""Hybrid version vectors: pure values and functions, no I/O.

Every stored state of an entry (a value or a tombstone) carries a
:class:`Version`: a version vector ``{replica: counter}`` saying which writes
it has seen, and a hybrid logical clock ``(physical ms, logical, replica)``
saying when it was written.

Writes are *stamped* on top of what the writer holds (:func:`stamp`): the
vector takes the writer's next counter and the clock ticks past both the
writer's clock and the clock of the state it overwrites. So a version that
dominates another (saw it) also has the greater clock.

:func:`merge` keeps the winner by *rank* (clock, then tombstone, then value)
and joins the vectors (pointwise max). Because of the stamping rule the
winner is the dominating version when there is one, and the highest HLC
(then replica id) among concurrent ones; picking by rank alone makes merge a
join on a semilattice for *any* inputs, so it stays commutative, associative
and idempotent even for states that no correct replica produces. A tombstone
wins over everything it saw for the same reason.

Wire forms (shared with the Lua scripts of the Redis tier): a vector is
``"a=3,b=7"`` sorted by replica id; a clock is ``"1732190000000,0,a"``.
"""

from __future__ import annotations

import enum
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .._errors import CorruptEntryError, InvalidConfigError

__all__ = [
    "Clock",
    "HybridClock",
    "Order",
    "Record",
    "Vector",
    "Version",
    "check_replica_id",
    "compare",
    "decode_clock",
    "decode_vector",
    "dominates",
    "encode_clock",
    "encode_vector",
    "join",
    "joined",
    "make_vector",
    "merge",
    "stamp",
]

Vector = tuple[tuple[str, int], ...]
"""A version vector as ``((replica, counter), ...)`` sorted by replica, counters > 0."""

_REPLICA_ID = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


def check_replica_id(replica_id: object) -> str:
    """A replica id: 1-64 of ``A-Z a-z 0-9 _ . -`` (they appear in the wire forms)."""
    if not isinstance(replica_id, str) or not _REPLICA_ID.fullmatch(replica_id):
        raise InvalidConfigError(
            f"replica_id must be 1-64 of the characters A-Z a-z 0-9 _ . -, got {replica_id!r}"
        )
    return replica_id


class Order(enum.Enum):
    """How two version vectors relate."""

    BEFORE = "before"
    AFTER = "after"
    EQUAL = "equal"
    CONCURRENT = "concurrent"


@dataclass(frozen=True, slots=True, order=True)
class Clock:
    """A hybrid logical clock reading; ordered by (phys, logical, replica)."""

    phys: int
    logical: int
    replica: str


@dataclass(frozen=True, slots=True)
class Version:
    """What a stored state has seen (``vector``) and when it was written (``clock``)."""

    vector: Vector
    clock: Clock


V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Record(Generic[V]):
    """A stored state: a value, or a tombstone (``value is None``), with its version.

    Values must be totally ordered (``<``): equal clocks are broken by value so
    that merge stays commutative on any input.
    """

    version: Version
    value: V | None

    @property
    def tombstone(self) -> bool:
        return self.value is None


# -- vectors -------------------------------------------------------------------
def make_vector(counters: Mapping[str, int]) -> Vector:
    """The canonical vector of a mapping (zero counters dropped, sorted by replica)."""
    return tuple(sorted((r, int(c)) for r, c in counters.items() if c > 0))


def compare(a: Vector, b: Vector) -> Order:
    """BEFORE if ``a`` < ``b`` pointwise, AFTER if ``a`` > ``b``, else EQUAL or CONCURRENT."""
    if a == b:
        return Order.EQUAL
    da, db = dict(a), dict(b)
    a_ahead = any(c > db.get(r, 0) for r, c in da.items())
    b_ahead = any(c > da.get(r, 0) for r, c in db.items())
    if a_ahead and b_ahead:
        return Order.CONCURRENT
    if a_ahead:
        return Order.AFTER
    if b_ahead:
        return Order.BEFORE
    return Order.EQUAL


def dominates(a: Vector, b: Vector) -> bool:
    """``a`` has seen everything ``b`` has (``a >= b`` pointwise)."""
    return compare(a, b) in (Order.AFTER, Order.EQUAL)


def join(a: Vector, b: Vector) -> Vector:
    """The pointwise maximum of two vectors."""
    if a == b:
        return a
    out = dict(a)
    for r, c in b:
        if c > out.get(r, 0):
            out[r] = c
    return tuple(sorted(out.items()))


# -- merge ---------------------------------------------------------------------
def _rank(rec: Record[Any]) -> tuple[Any, ...]:
    if rec.value is None:
        return (rec.version.clock, 1, ())
    return (rec.version.clock, 0, rec.value)


def merge(a: Record[V], b: Record[V]) -> Record[V]:
    """The state that reconciles ``a`` and ``b``: the higher-ranked one, vectors joined."""
    if a == b:
        return a
    win = a if _rank(a) >= _rank(b) else b
    vector = join(a.version.vector, b.version.vector)
    if vector == win.version.vector:
        return win
    return Record(Version(vector, win.version.clock), win.value)


# -- clocks --------------------------------------------------------------------
def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class HybridClock:
    """A replica's hybrid logical clock: physical milliseconds plus a logical counter.

    ``tick`` reads it for a local write, strictly above every earlier reading
    and above ``floor`` (the clock of the state being overwritten);
    ``observe`` folds in a clock received from elsewhere.
    """

    def __init__(self, replica: str, now_ms: Callable[[], int] = _wall_ms) -> None:
        self.replica = check_replica_id(replica)
        self._now = now_ms
        self.phys = 0
        self.logical = 0

    def observe(self, clock: Clock) -> None:
        self.phys, self.logical = max((self.phys, self.logical), (clock.phys, clock.logical))

    def tick(self, floor: Clock | None = None) -> Clock:
        if floor is not None:
            self.observe(floor)
        now = self._now()
        if now > self.phys:
            self.phys, self.logical = now, 0
        else:
            self.logical += 1
        return Clock(self.phys, self.logical, self.replica)


def stamp(prev: Version | None, replica: str, counter: int, clock: Clock) -> Version:
    """The version of a write by ``replica`` over ``prev``: its counter set, the new clock.

    ``counter`` must exceed every counter ``replica`` used before, so the new
    version dominates ``prev`` strictly.
    """
    vector = dict(prev.vector) if prev is not None else {}
    vector[replica] = counter
    return Version(make_vector(vector), clock)


# -- wire forms ----------------------------------------------------------------
def encode_vector(vector: Vector) -> str:
    return ",".join(f"{r}={c}" for r, c in vector)


def decode_vector(text: str) -> Vector:
    """Parse ``"a=3,b=7"``; CorruptEntryError if it is not that form."""
    if not text:
        return ()
    out: dict[str, int] = {}
    for part in text.split(","):
        replica, sep, count = part.partition("=")
        if not sep or not _REPLICA_ID.fullmatch(replica) or not count.isdigit():
            raise CorruptEntryError(f"bad version vector {text!r}")
        out[replica] = int(count)
    return make_vector(out)


def encode_clock(clock: Clock) -> str:
    return f"{clock.phys},{clock.logical},{clock.replica}"


def decode_clock(text: str) -> Clock:
    """Parse ``"phys,logical,replica"``; CorruptEntryError if it is not that form."""
    parts = text.split(",")
    if len(parts) != 3 or not parts[0].isdigit() or not parts[1].isdigit():
        raise CorruptEntryError(f"bad clock {text!r}")
    if not _REPLICA_ID.fullmatch(parts[2]):
        raise CorruptEntryError(f"bad clock {text!r}")
    return Clock(int(parts[0]), int(parts[1]), parts[2])


def joined(vectors: Iterable[Vector]) -> Vector:
    """The join of many vectors (the empty vector for none)."""
    out: Vector = ()
    for v in vectors:
        out = join(out, v)
    return out
