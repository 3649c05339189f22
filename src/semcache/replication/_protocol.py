"""The pure rules of reading another replica's change log (no I/O).

Each replica numbers the messages of its change log 1, 2, 3, ... (``n``). A
reader keeps a :class:`Cursor` per source (last stream id and ``n`` applied),
so it can tell a normal next batch from a log trimmed past its position (a
*gap*: repair by anti-entropy) and from a source that lost its data (a
*reset*: its count went backwards).

A cursor also carries a *horizon*: the source's hybrid clock when the reader
last caught up with its log. A source stamps its writes with a strictly
increasing clock in the same atomic step that appends them to its log, so the
reader has applied every write that source ever stamped at or below the
horizon.

A tombstone may be dropped once every known replica's horizon on every known
replica has passed the tombstone's clock. Then every replica has applied the
tombstone and every write that it beat (those have lower clocks, whether it
saw them or they were concurrent), so none of them can arrive anywhere later
and bring the entry back.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from .._errors import CorruptEntryError
from ._version import Clock

__all__ = ["Cursor", "Horizon", "Step", "classify", "collectable", "horizons"]

Horizon = tuple[int, int]
"""A hybrid clock reading without its replica id: (physical ms, logical)."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """How far a reader has applied a source's log: stream id, message count, horizon."""

    stream_id: str = "0-0"
    n: int = 0
    horizon: Horizon = (0, 0)

    def encode(self) -> str:
        return f"{self.stream_id} {self.n} {self.horizon[0]},{self.horizon[1]}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        parts = text.split(" ")
        phys, _, logical = parts[-1].partition(",")
        if len(parts) != 3 or not parts[1].isdigit() or not phys.isdigit() or not logical.isdigit():
            raise CorruptEntryError(f"bad cursor {text!r}")
        return cls(parts[0], int(parts[1]), (int(phys), int(logical)))


class Step(enum.Enum):
    """What a read of a source's log from a cursor means."""

    NEXT = "next"  # the messages continue where the cursor stopped (or none are new)
    GAP = "gap"  # messages the reader never applied were trimmed: anti-entropy
    RESET = "reset"  # the source counts fewer messages than were applied: it lost its data


def classify(cursor: Cursor, source_count: int, first_n: int | None) -> Step:
    """Judge a read: ``source_count`` is the source's message count, ``first_n`` the first read."""
    if source_count < cursor.n:
        return Step.RESET
    if first_n is None:
        return Step.GAP if source_count > cursor.n else Step.NEXT
    return Step.NEXT if first_n == cursor.n + 1 else Step.GAP


def horizons(replica: str, own_clock: Horizon, cursors: Mapping[str, Cursor]) -> dict[str, Horizon]:
    """A replica's horizons: its own clock, and how far it has caught up with every other log."""
    out = {peer: c.horizon for peer, c in cursors.items() if peer != replica}
    out[replica] = own_clock
    return out


def collectable(
    clock: Clock, seen: Iterable[Mapping[str, Horizon]], replicas: Collection[str]
) -> bool:
    """True when every horizon map passes ``clock`` on every replica (the tombstone can go)."""
    mark = (clock.phys, clock.logical)
    return all(all(h.get(r, (0, 0)) >= mark for r in replicas) for h in seen)
