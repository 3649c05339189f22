"""The CPU hot tier: an LRU mapping bounded by entry count and by bytes, with TTL.

Every operation is O(1): an ``OrderedDict`` keeps recency, and expiry is
checked when an entry is touched (and swept from the cold end on every
insert). Time comes from an injectable ``timer`` so TTL tests never sleep.
Entries that leave because of the bounds or their TTL are reported to
``on_evict`` and counted, so nothing leaves silently.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, Literal, TypeVar

from .._errors import InvalidConfigError

__all__ = ["EvictReason", "LRUTier"]

K = TypeVar("K")
V = TypeVar("V")

EvictReason = Literal["evicted", "expired", "rejected"]
_MISSING = object()


class _Slot(Generic[V]):
    __slots__ = ("expires", "size", "value")

    def __init__(self, value: V, size: int, expires: float | None) -> None:
        self.value = value
        self.size = size
        self.expires = expires


class LRUTier(Generic[K, V]):
    """An LRU mapping with ``maxsize`` entries, optional ``maxbytes``, and per-entry TTL.

    ``getsizeof(value)`` gives an entry's size in bytes (default 1). An entry
    larger than ``maxbytes`` is refused (reported as ``"rejected"``).
    """

    def __init__(
        self,
        maxsize: int,
        maxbytes: int | None = None,
        *,
        getsizeof: Callable[[V], int] | None = None,
        timer: Callable[[], float] = time.monotonic,
        on_evict: Callable[[K, V, EvictReason], None] | None = None,
    ) -> None:
        if isinstance(maxsize, bool) or not isinstance(maxsize, int) or maxsize < 1:
            raise InvalidConfigError(f"maxsize must be an int >= 1, got {maxsize!r}")
        if maxbytes is not None and (
            isinstance(maxbytes, bool) or not isinstance(maxbytes, int) or maxbytes < 1
        ):
            raise InvalidConfigError(f"maxbytes must be None or an int >= 1, got {maxbytes!r}")
        self._data: OrderedDict[K, _Slot[V]] = OrderedDict()
        self._maxsize = maxsize
        self._maxbytes = maxbytes
        self._getsizeof = getsizeof
        self._timer = timer
        self._on_evict = on_evict
        self._bytes = 0
        self.evictions = 0
        self.expirations = 0
        self.rejections = 0

    # -- sizes -------------------------------------------------------------
    @property
    def maxsize(self) -> int:
        """The most entries the tier holds."""
        return self._maxsize

    @property
    def maxbytes(self) -> int | None:
        """The most bytes (by ``getsizeof``) the tier holds, or None for no bound."""
        return self._maxbytes

    @property
    def currsize(self) -> int:
        """Entries held now (some may have expired and not been touched yet)."""
        return len(self._data)

    @property
    def currbytes(self) -> int:
        """Bytes held now, by ``getsizeof``."""
        return self._bytes

    def getsizeof(self, value: V) -> int:
        """The size in bytes that ``value`` counts for."""
        return 1 if self._getsizeof is None else int(self._getsizeof(value))

    # -- mapping -----------------------------------------------------------
    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        slot = self._data.get(key)  # type: ignore[arg-type]
        return slot is not None and not self._expired(slot)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._data))

    def __getitem__(self, key: K) -> V:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value  # type: ignore[return-value]

    def __setitem__(self, key: K, value: V) -> None:
        self.set(key, value)

    def __delitem__(self, key: K) -> None:
        if self.pop(key, _MISSING) is _MISSING:
            raise KeyError(key)

    def get(self, key: K, default: V | object = None) -> V | object:
        """The value for ``key`` (now the most recently used), or ``default``."""
        slot = self._data.get(key)
        if slot is None:
            return default
        if self._expired(slot):
            self._drop(key, slot, "expired")
            return default
        self._data.move_to_end(key)
        return slot.value

    def peek(self, key: K, default: V | object = None) -> V | object:
        """Like ``get`` but leaves recency alone."""
        slot = self._data.get(key)
        if slot is None or self._expired(slot):
            return default
        return slot.value

    def set(self, key: K, value: V, ttl: float | None = None) -> bool:
        """Store ``value`` for ``ttl`` seconds (None: no expiry); False if refused."""
        size = self.getsizeof(value)
        old = self._data.pop(key, None)
        if old is not None:
            self._bytes -= old.size
        if self._maxbytes is not None and size > self._maxbytes:
            self.rejections += 1
            if self._on_evict is not None:
                self._on_evict(key, value, "rejected")
            return False
        expires = None if ttl is None else self._timer() + ttl
        self._data[key] = _Slot(value, size, expires)
        self._bytes += size
        self._sweep_cold()
        self._shrink()
        return True

    def resize(self, key: K) -> None:
        """Count ``key``'s value again (its size changed in place), then evict from the
        cold end while over the bounds (the value itself too, if it alone outgrew
        ``maxbytes``). Nothing happens for a key that is absent."""
        slot = self._data.get(key)
        if slot is None:
            return
        size = self.getsizeof(slot.value)
        self._bytes += size - slot.size
        slot.size = size
        self._shrink()

    def pop(self, key: K, default: V | object = None) -> V | object:
        """Remove ``key`` and return its value (``default`` if absent or expired)."""
        slot = self._data.pop(key, None)
        if slot is None:
            return default
        self._bytes -= slot.size
        if self._expired(slot):
            self.expirations += 1
            if self._on_evict is not None:
                self._on_evict(key, slot.value, "expired")
            return default
        return slot.value

    def clear(self) -> None:
        """Remove everything (not counted as evictions)."""
        self._data.clear()
        self._bytes = 0

    def expire(self) -> int:
        """Remove every expired entry now (O(n)); returns how many went."""
        gone = [(k, s) for k, s in self._data.items() if self._expired(s)]
        for key, slot in gone:
            self._drop(key, slot, "expired")
        return len(gone)

    def ttl_left(self, key: K) -> float | None:
        """Seconds until ``key`` expires, None if it never does; KeyError if absent."""
        slot = self._data.get(key)
        if slot is None or self._expired(slot):
            raise KeyError(key)
        return None if slot.expires is None else slot.expires - self._timer()

    # -- internals ---------------------------------------------------------
    def _expired(self, slot: _Slot[V]) -> bool:
        return slot.expires is not None and self._timer() >= slot.expires

    def _drop(self, key: K, slot: _Slot[V], reason: EvictReason) -> None:
        del self._data[key]
        self._bytes -= slot.size
        if reason == "expired":
            self.expirations += 1
        else:
            self.evictions += 1
        if self._on_evict is not None:
            self._on_evict(key, slot.value, reason)

    def _shrink(self) -> None:
        while len(self._data) > self._maxsize or (
            self._maxbytes is not None and self._bytes > self._maxbytes
        ):
            cold_key, cold = next(iter(self._data.items()))
            self._drop(cold_key, cold, "expired" if self._expired(cold) else "evicted")

    def _sweep_cold(self, budget: int = 2) -> None:
        # Expired entries that nobody touches drift to the cold end; look at
        # a couple there on every insert so they do not linger (O(1)).
        for _ in range(budget):
            if not self._data:
                return
            key, slot = next(iter(self._data.items()))
            if not self._expired(slot):
                return
            self._drop(key, slot, "expired")
