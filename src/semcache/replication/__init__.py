"""Replication: hybrid version vectors, the log-reading protocol, and the replicator.

``_version`` and ``_protocol`` are pure (no I/O) so their laws can be
property-tested; ``_replicator`` moves states between Redis replicas.
"""

from ._protocol import Cursor, Horizon, Step, classify, collectable, horizons
from ._replicator import Background, Replicator, SyncReport
from ._version import (
    Clock,
    HybridClock,
    Order,
    Record,
    Vector,
    Version,
    check_replica_id,
    compare,
    decode_clock,
    decode_vector,
    dominates,
    encode_clock,
    encode_vector,
    join,
    joined,
    make_vector,
    merge,
    stamp,
)

__all__ = [
    "Background",
    "Clock",
    "Cursor",
    "Horizon",
    "HybridClock",
    "Order",
    "Record",
    "Replicator",
    "Step",
    "SyncReport",
    "Vector",
    "Version",
    "check_replica_id",
    "classify",
    "collectable",
    "compare",
    "decode_clock",
    "decode_vector",
    "dominates",
    "encode_clock",
    "encode_vector",
    "horizons",
    "join",
    "joined",
    "make_vector",
    "merge",
    "stamp",
]
