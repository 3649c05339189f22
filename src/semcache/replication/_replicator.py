"""Pull replication between Redis-backed replicas: change logs, anti-entropy, tombstone collection.

Each replica writes its changes to a change log (a Redis Stream) in its own
Redis. ``Replicator.sync`` reads every peer's log from the cursor it saved
last time, merges the states of the keys it names into the local Redis with
compare-and-set (so a concurrent writer is never overwritten by an older
state), and saves the new cursor. A log trimmed past the cursor, or a peer
that lost its data, is repaired by anti-entropy: scan every state the peer
holds and merge it. Tombstones every known replica has seen are dropped.

The protocol decisions are the pure functions of ``_protocol`` and
``_version``; this module only moves data.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .._errors import InvalidConfigError, SemcacheError
from ._protocol import Cursor, Step, classify, collectable, horizons
from ._version import merge

if TYPE_CHECKING:
    from ..tiers.redis import RedisTier, ReplicaInfo, State

__all__ = ["Background", "Replicator", "SyncReport"]

logger = logging.getLogger("semcache")

LOG_BATCH = 500  # log messages per round trip
CAS_ROUNDS = 8  # compare-and-set attempts before a batch is left for the next sync
LEASE_TTL = 30.0  # seconds the sync lease lasts unless renewed (it is, every batch)


@dataclass(slots=True)
class SyncReport:
    """What one ``sync`` did."""

    peers: int = 0  # peers read
    failed: int = 0  # peers that could not be read (or applied) this time
    messages: int = 0  # log messages read
    applied: int = 0  # merged states written to the local Redis
    conflicts: int = 0  # compare-and-set writes that lost a race and were redone
    repaired: int = 0  # anti-entropy passes
    purged: int = 0  # tombstones collected
    busy: bool = False  # another process of this replica was syncing (nothing done)


class Replicator:
    """Pulls peers' changes into ``local``; every peer is a RedisTier on the peer's Redis."""

    def __init__(
        self, local: RedisTier, peers: Sequence[RedisTier], *, batch: int = LOG_BATCH
    ) -> None:
        if local.replica == "local" and peers:
            raise InvalidConfigError("peers need a replica_id naming this replica")
        self.local = local
        self.peers = list(peers)
        self.batch = batch
        self._lock = threading.Lock()

    def close(self) -> None:
        for peer in self.peers:
            peer.close()

    def sync(self, *, full: bool = False) -> SyncReport:
        """Pull every peer once (``full``: anti-entropy with each); collect tombstones.

        One process per replica syncs at a time, under a lease in the local
        Redis; every merged write is fenced by that lease. A process that finds
        the lease taken returns at once (``report.busy``).
        """
        report = SyncReport()
        with self._lock:
            lease = self.local.take_lease(LEASE_TTL)
            if not lease:  # "": another process holds it; None: the local Redis failed
                report.busy = lease == ""
                report.failed += lease is None
                return report
            try:
                peers: dict[str, ReplicaInfo] = {}
                complete = True
                for peer in self.peers:
                    info = self._pull(peer, lease, full, report)
                    if info is None or info.replica is None:
                        complete = False
                    else:
                        peers[info.replica] = info
                if complete and self.local.renew_lease(lease, LEASE_TTL):
                    self._collect(peers, lease, report)
            finally:
                self.local.release_lease(lease)
        return report

    # -- pulling ---------------------------------------------------------------
    def _pull(
        self, peer: RedisTier, lease: str, full: bool, report: SyncReport
    ) -> ReplicaInfo | None:
        """Apply one peer's new changes; what the peer said about itself, or None on failure."""
        info = peer.info(reader=self.local.replica)
        own = self.local.info()
        if info is None or own is None:
            report.failed += 1
            return None
        if info.replica is None:  # semcache has never run on the peer: nothing to pull
            return None
        if info.replica == self.local.replica:
            logger.warning(
                "semcache: peer %s is this replica (%s); skipped", peer.where, info.replica
            )
            return None
        report.peers += 1
        cursor = own.cursors.get(info.replica, Cursor())
        if not self._follow(peer, info.replica, cursor, lease=lease, full=full, report=report):
            report.failed += 1
            return None
        return info

    def _follow(
        self,
        peer: RedisTier,
        pid: str,
        cursor: Cursor | None,
        *,
        lease: str,
        full: bool,
        report: SyncReport,
    ) -> bool:
        """Read ``peer``'s log from ``cursor`` to its end, merging as it goes."""
        repair = full
        while True:
            if not self.local.renew_lease(lease, LEASE_TTL):
                return False
            if repair:
                cursor = self._repair(peer, pid, lease, report)
                repair = False
            if cursor is None:
                return False
            read = peer.read_log(cursor, self.batch)
            if read is None:
                return False
            msgs = read.messages
            step = classify(cursor, read.count, msgs[0].n if msgs else None)
            if step is not Step.NEXT:
                logger.info("semcache: change log of replica %s: %s; anti-entropy", pid, step.value)
                repair = True
                continue
            incoming = {
                m.key: m.state for m in msgs if m.origin and m.fetched and m.state is not None
            }
            if not self._merge_in(incoming, lease, report):
                return False
            horizon = read.clock if read.caught_up else cursor.horizon
            last = msgs[-1] if msgs else None
            moved = (
                Cursor(last.stream_id, last.n, horizon)
                if last
                else Cursor(cursor.stream_id, cursor.n, horizon)
            )
            if moved != cursor and not self.local.set_cursor(pid, moved):
                return False
            cursor = moved
            report.messages += len(msgs)
            if read.caught_up:
                return True

    def _repair(self, peer: RedisTier, pid: str, lease: str, report: SyncReport) -> Cursor | None:
        """Anti-entropy: merge every state ``peer`` holds, then go on from where its log ended."""
        mark = peer.safe_mark()
        if mark is None:
            return None
        scan = 0
        while True:
            page = peer.scan_page(scan)
            if page is None:
                return None
            scan, batch = page
            incoming = {k: s for k, s, _ in batch if s is not None}
            if incoming and not self._merge_in(incoming, lease, report):
                return None
            if not self.local.renew_lease(lease, LEASE_TTL):
                return None
            if scan == 0:
                break
        if not self.local.set_cursor(pid, mark):
            return None
        report.repaired += 1
        return mark

    def _merge_in(self, incoming: dict[str, State], lease: str, report: SyncReport) -> bool:
        """Merge states into the local Redis with compare-and-set, redoing lost races."""
        pending = incoming
        for _ in range(CAS_ROUNDS):
            if not pending:
                return True
            current = self.local.read_states(list(pending))
            if current is None:
                return False
            writes: list[tuple[str, bytes, State]] = []
            for key, theirs in pending.items():
                ours, token = current[key]
                merged = theirs if ours is None else merge(ours, theirs)
                if merged == ours or (ours is None and _expired(merged)):
                    continue
                writes.append((key, token, merged))
            if not writes:
                return True
            lost = self.local.apply(writes, lease)
            if lost is None:
                return False
            report.applied += len(writes) - len(lost)
            report.conflicts += len(lost)
            pending = {k: pending[k] for k in lost}
        logger.warning(
            "semcache: %d keys kept changing during sync; left for the next one", len(pending)
        )
        return False

    # -- tombstones ------------------------------------------------------------
    def _collect(self, peers: dict[str, ReplicaInfo], lease: str, report: SyncReport) -> None:
        """Drop tombstones whose clock every known replica's horizons have passed."""
        me = self.local.replica
        own = self.local.info()
        if own is None:
            return
        seen = {me: horizons(me, own.clock, own.cursors)}
        for pid, info in peers.items():
            seen[pid] = horizons(pid, info.clock, info.cursors)
        if not own.readers <= seen.keys():  # someone reads our log whose progress we cannot see
            return
        tombs = self.local.tombstone_states()
        if not tombs:
            return
        doomed = [
            (k, token)
            for k, state, token in tombs
            if collectable(state.version.clock, seen.values(), seen.keys())
        ]
        if doomed:
            report.purged += self.local.purge(doomed, lease)


def _expired(state: State) -> bool:
    from ..tiers.redis import now_ms

    return (
        state.value is not None
        and state.value.expires_ms != 0
        and state.value.expires_ms <= now_ms()
    )


class Background:
    """Runs ``fn`` every ``interval`` seconds in a daemon thread until ``close``."""

    def __init__(self, fn: Callable[[], Any], interval: float, name: str = "semcache-sync") -> None:
        if isinstance(interval, bool) or not isinstance(interval, int | float) or not interval > 0:
            raise InvalidConfigError(
                f"sync_interval must be None or a number of seconds > 0, got {interval!r}"
            )
        self._fn = fn
        self._interval = float(interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self._fn()
            except SemcacheError as exc:  # strict mode: report, keep syncing
                logger.warning("semcache: background sync failed: %s", exc)

    def close(self) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
