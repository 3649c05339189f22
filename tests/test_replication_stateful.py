"""Stateful convergence tests of replication over the pure merge and log-protocol layers.

Two models, both with 3-5 replicas doing random puts and deletes:

* ``Gossip``: every write is sent to every other replica as a message that
  the network drops, duplicates and reorders at will; a final anti-entropy
  exchange repairs what was lost. Checks merge alone.
* ``Protocol``: the replicator's protocol as implemented against Redis
  (numbered change logs, cursors with horizons, log trimming, anti-entropy on
  a gap or a reset, tombstone collection, stale responses fenced off), with
  read responses that the network drops, duplicates, delays and reorders.

After full syncs, every replica must answer every key identically, the
answer must be the merge of every version ever written, and no value a delete
overrode may come back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from semcache.replication import (
    Cursor,
    HybridClock,
    Order,
    Record,
    Step,
    Version,
    classify,
    collectable,
    compare,
    horizons,
    merge,
    stamp,
)

KEYS = ["k0", "k1", "k2"]
NAMES = ["r0", "r1", "r2", "r3", "r4"]

Value = str  # "<replica>#<n>": every write is told apart


class World:
    """What every write ever produced, to judge the end state by."""

    def __init__(self) -> None:
        self.written: dict[str, list[Record[Value]]] = {k: [] for k in KEYS}

    def expected(self, key: str) -> Value | None:
        states = self.written[key]
        if not states:
            return None
        out = states[0]
        for s in states[1:]:
            out = merge(out, s)
        return out.value

    def check_no_resurrection(self, key: str, value: Value | None) -> None:
        """A value some delete overrode (the tombstone saw it) must not be the answer."""
        if value is None:
            return
        held = next(s for s in self.written[key] if s.value == value)
        for t in self.written[key]:
            if t.value is None and compare(t.version.vector, held.version.vector) is Order.AFTER:
                raise AssertionError(f"{key}: {value} came back after a delete that saw it")


def _visible(state: Record[Value] | None) -> Value | None:
    return None if state is None else state.value


# -- gossip: merge under a hostile network ------------------------------------------
class Gossip(RuleBasedStateMachine):
    @initialize(n=st.integers(3, 5))
    def start(self, n: int) -> None:
        self.now = [1_000]
        self.names = NAMES[:n]
        self.clock = {r: HybridClock(r, lambda: self.now[0]) for r in self.names}
        self.count = dict.fromkeys(self.names, 0)
        self.store: dict[str, dict[str, Record[Value]]] = {r: {} for r in self.names}
        self.net: list[tuple[str, str, Record[Value]]] = []  # (to, key, state) in flight
        self.world = World()

    def _write(self, r: str, key: str, value: Value | None) -> None:
        prev = self.store[r].get(key)
        self.count[r] += 1
        pv = prev.version if prev is not None else None
        version = stamp(pv, r, self.count[r], self.clock[r].tick(pv.clock if pv else None))
        state = Record(version, value)
        self.store[r][key] = state
        self.world.written[key].append(state)
        self.net.extend((other, key, state) for other in self.names if other != r)

    def _receive(self, r: str, key: str, state: Record[Value]) -> None:
        self.clock[r].observe(state.version.clock)
        ours = self.store[r].get(key)
        self.store[r][key] = state if ours is None else merge(ours, state)

    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def put(self, data: st.DataObject, key: str) -> None:
        r = data.draw(st.sampled_from(self.names))
        self._write(r, key, f"{r}#{self.count[r] + 1}")

    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def delete(self, data: st.DataObject, key: str) -> None:
        self._write(data.draw(st.sampled_from(self.names)), key, None)

    @rule(ms=st.sampled_from([0, 1, 5, -20]))
    def time_passes(self, ms: int) -> None:
        self.now[0] += ms  # wall clocks stall and step back; the HLC copes

    @precondition(lambda self: self.net)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:  # any message: reordering
        to, key, state = self.net.pop(data.draw(st.integers(0, len(self.net) - 1)))
        self._receive(to, key, state)

    @precondition(lambda self: self.net)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        self.net.append(self.net[data.draw(st.integers(0, len(self.net) - 1))])

    @precondition(lambda self: self.net)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        self.net.pop(data.draw(st.integers(0, len(self.net) - 1)))

    @rule()
    def full_sync(self) -> None:
        """Anti-entropy: every replica merges every other replica's whole state."""
        for r in self.names:
            for other in self.names:
                for key, state in list(self.store[other].items()):
                    self._receive(r, key, state)
        for key in KEYS:
            answers = {_visible(self.store[r].get(key)) for r in self.names}
            assert len(answers) == 1, (key, answers)
            (answer,) = answers
            assert answer == self.world.expected(key)
            self.world.check_no_resurrection(key, answer)
        first = self.store[self.names[0]]
        assert all(self.store[r] == first for r in self.names)  # vectors too

    def teardown(self) -> None:
        if hasattr(self, "store"):
            self.full_sync()


# -- the log protocol -------------------------------------------------------------
@dataclass
class Node:
    name: str
    clock: HybridClock
    store: dict[str, Record[Value]] = field(default_factory=dict)
    count: int = 0  # messages ever appended (the log's n)
    log: list[tuple[int, str, bool]] = field(default_factory=list)  # (n, key, local write)
    cursors: dict[str, Cursor] = field(default_factory=dict)
    lease: int = 0  # bumped by every tombstone collection: fences older responses

    def append(self, key: str, origin: bool) -> int:
        self.count += 1
        self.log.append((self.count, key, origin))
        return self.count

    def write(self, key: str, value: Value | None) -> Record[Value]:
        """A local write: stamped above what the node holds, as the WRITE script does."""
        prev = self.store.get(key)
        pv = prev.version if prev is not None else None
        n = self.count + 1
        state = Record(stamp(pv, self.name, n, self.clock.tick(pv.clock if pv else None)), value)
        self.store[key] = state
        self.append(key, True)
        return state

    def apply(self, key: str, theirs: Record[Value]) -> None:
        """Merge a peer's state, as the APPLY script does (logged only if it changed)."""
        ours = self.store.get(key)
        merged = theirs if ours is None else merge(ours, theirs)
        if merged != ours:
            self.store[key] = merged
            self.clock.observe(merged.version.clock)
            self.append(key, False)

    def now(self) -> tuple[int, int]:
        return (self.clock.phys, self.clock.logical)


@dataclass
class Response:
    to: str
    source: str
    lease: int
    cursor: Cursor
    count: int
    messages: list[tuple[int, str, bool, Record[Value] | None]]
    clock: tuple[int, int]
    caught_up: bool


BATCH = 3


class Protocol(RuleBasedStateMachine):
    @initialize(n=st.integers(3, 5))
    def start(self, n: int) -> None:
        self.now = [1_000]
        self.nodes = {r: Node(r, HybridClock(r, lambda: self.now[0])) for r in NAMES[:n]}
        self.net: list[Response] = []
        self.world = World()
        self.collected = 0

    # -- writes ----------------------------------------------------------------
    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def put(self, data: st.DataObject, key: str) -> None:
        node = self.nodes[data.draw(st.sampled_from(sorted(self.nodes)))]
        self.world.written[key].append(node.write(key, f"{node.name}#{node.count + 1}"))

    @rule(data=st.data(), key=st.sampled_from(KEYS))
    def delete(self, data: st.DataObject, key: str) -> None:
        node = self.nodes[data.draw(st.sampled_from(sorted(self.nodes)))]
        self.world.written[key].append(node.write(key, None))

    @rule(ms=st.sampled_from([0, 1, 7, -30]))
    def time_passes(self, ms: int) -> None:
        self.now[0] += ms

    # -- the network ------------------------------------------------------------
    def _read(self, to: str, source: str) -> Response:
        """What the READ script returns: messages after the cursor, states of local-write keys."""
        dst, src = self.nodes[to], self.nodes[source]
        cursor = dst.cursors.get(source, Cursor())
        msgs, fetched = [], set()
        for n, key, origin in src.log:
            if n <= cursor.n or len(msgs) == BATCH:
                continue
            state = None
            if origin and key not in fetched:
                fetched.add(key)
                state = src.store.get(key)
            msgs.append((n, key, origin, state))
        caught_up = not msgs or msgs[-1][0] == src.count
        return Response(to, source, dst.lease, cursor, src.count, msgs, src.now(), caught_up)

    def _handle(self, resp: Response) -> None:
        """The replicator's _follow step for one response."""
        dst = self.nodes[resp.to]
        if resp.lease != dst.lease or dst.cursors.get(resp.source, Cursor()) != resp.cursor:
            return  # a stale or duplicated response: its request is no longer the current one
        step = classify(resp.cursor, resp.count, resp.messages[0][0] if resp.messages else None)
        if step is not Step.NEXT:
            self._repair(resp.to, resp.source)
            return
        for _n, key, origin, state in resp.messages:
            if origin and state is not None:
                dst.apply(key, state)
        horizon = resp.clock if resp.caught_up else resp.cursor.horizon
        last = resp.messages[-1][0] if resp.messages else resp.cursor.n
        dst.cursors[resp.source] = Cursor(str(last), last, horizon)

    def _repair(self, to: str, source: str) -> None:
        """Anti-entropy: mark the source's log end and clock, merge all its states."""
        dst, src = self.nodes[to], self.nodes[source]
        mark = Cursor(str(src.count), src.count, src.now())
        for key, state in list(src.store.items()):
            dst.apply(key, state)
        dst.cursors[source] = mark

    def _pair(self, data: st.DataObject) -> tuple[str, str]:
        names = sorted(self.nodes)
        to = data.draw(st.sampled_from(names))
        return to, data.draw(st.sampled_from([n for n in names if n != to]))

    @rule(data=st.data())
    def request(self, data: st.DataObject) -> None:
        self.net.append(self._read(*self._pair(data)))

    @precondition(lambda self: self.net)
    @rule(data=st.data())
    def deliver(self, data: st.DataObject) -> None:
        self._handle(self.net.pop(data.draw(st.integers(0, len(self.net) - 1))))

    @precondition(lambda self: self.net)
    @rule(data=st.data())
    def duplicate(self, data: st.DataObject) -> None:
        self.net.append(self.net[data.draw(st.integers(0, len(self.net) - 1))])

    @precondition(lambda self: self.net)
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        self.net.pop(data.draw(st.integers(0, len(self.net) - 1)))

    @rule(data=st.data(), keep=st.integers(0, 3))
    def trim(self, data: st.DataObject, keep: int) -> None:
        node = self.nodes[data.draw(st.sampled_from(sorted(self.nodes)))]
        node.log = node.log[len(node.log) - keep :] if keep else []

    @rule(data=st.data())
    def collect(self, data: st.DataObject) -> None:
        """Tombstone collection at one replica, judged on every replica's horizons."""
        node = self.nodes[data.draw(st.sampled_from(sorted(self.nodes)))]
        seen = [horizons(n.name, n.now(), n.cursors) for n in self.nodes.values()]
        node.lease += 1
        for key, state in list(node.store.items()):
            if state.value is None and collectable(state.version.clock, seen, list(self.nodes)):
                del node.store[key]
                self.collected += 1

    # -- the end ---------------------------------------------------------------
    def _sync_everything(self) -> None:
        for _ in range(3):
            for to in sorted(self.nodes):
                for source in sorted(self.nodes):
                    if to == source:
                        continue
                    while True:
                        resp = self._read(to, source)
                        self._handle(resp)
                        if resp.caught_up:
                            break

    @rule()
    def full_sync(self) -> None:
        self._sync_everything()
        names = sorted(self.nodes)
        for key in KEYS:
            answers = {_visible(self.nodes[r].store.get(key)) for r in names}
            assert len(answers) == 1, (key, answers)
            (answer,) = answers
            assert answer == self.world.expected(key), (key, answer)
            self.world.check_no_resurrection(key, answer)

    @invariant()
    def states_only_move_forward(self) -> None:
        """A replica never goes back to a state below one it held, even after collecting it."""
        high = self.__dict__.setdefault("high", {})
        for node in getattr(self, "nodes", {}).values():
            for key, state in node.store.items():
                before = high.get((node.name, key))
                if before is not None:  # (vectors may shrink once a tombstone is collected)
                    won = merge(before, state)
                    assert (won.value, won.version.clock) == (state.value, state.version.clock), (
                        node.name, key, before, state,
                    )  # fmt: skip
                high[(node.name, key)] = state

    def teardown(self) -> None:
        if hasattr(self, "nodes"):
            self.full_sync()
            for r in self.nodes:  # after full syncs every tombstone can go, everywhere
                seen = [horizons(n.name, n.now(), n.cursors) for n in self.nodes.values()]
                tombs = [s for s in self.nodes[r].store.values() if s.value is None]
                assert all(collectable(t.version.clock, seen, list(self.nodes)) for t in tombs)


_SETTINGS = settings(
    max_examples=60,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestGossip = Gossip.TestCase
TestGossip.settings = _SETTINGS
TestProtocol = Protocol.TestCase
TestProtocol.settings = settings(_SETTINGS, max_examples=120)


def test_version_of_a_write_sees_what_it_overwrote() -> None:
    node = Node("r0", HybridClock("r0", lambda: 5))
    a = node.write("k0", "x")
    b = node.write("k0", None)
    assert compare(b.version.vector, a.version.vector) is Order.AFTER
    assert isinstance(b.version, Version)
