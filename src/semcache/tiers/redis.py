"""The shared Redis tier: plain Redis data types, JSON values, one round trip per call.

Key layout under ``prefix`` (default ``semcache:``)::

    {p}e:<key>      hash   one entry: ns, p (prompt), kd (kind), d (response: str,
                           bytes or JSON text), m (metadata JSON), e (float32 LE
                           embedding), f (128-bit fingerprint), x (expiry, epoch ms),
                           vv (version vector), c (hybrid clock); a tombstone keeps
                           only vv, c and t=1. TTL through PEXPIREAT.
    {p}log          stream change log: k (key), n (1, 2, 3, ...), o (1: a local write,
                           0: a state merged from a peer); trimmed with MAXLEN ~
    {p}seq          string the message count (the n of the last message)
    {p}clock        hash   this replica's hybrid logical clock (p, l)
    {p}tombs        set    keys that hold a tombstone (for collection)
    {p}meta         hash   replica: the replica id served by this Redis
    {p}cursors      hash   peer replica id -> "stream-id n" applied from its log
    {p}readers      hash   replica ids that read this log (for tombstone collection)
    {p}lock:sync    string lease of the one process that syncs this replica now

Every write is one Lua script call (stamp, write, index the tombstone, append
to the log), so a put is one round trip; a lookup is one ``READ`` script that
returns the asked-for entries and the log messages (with the current state of
their keys) this process has not seen yet, so other processes' writes reach
the in-process index on the same round trip. Nothing read from Redis is
executed or unpickled: responses are str, bytes or JSON text.

Faults (connection, timeout, error replies, entries that do not decode) go
through one choke point, :meth:`RedisTier._fault`: logged on the ``semcache``
logger, counted, answered with a miss or a local-only write, or raised as
:class:`~semcache.BackendError` in strict mode. A circuit breaker skips
Redis for a growing cool-down after repeated connection failures, then lets
one call probe it.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from .._errors import BackendError, CorruptEntryError, InvalidConfigError, describe
from .._optional import require
from ..replication._protocol import Cursor, Step, classify
from ..replication._version import (
    Record,
    Version,
    check_replica_id,
    decode_clock,
    decode_vector,
    encode_clock,
    encode_vector,
)

__all__ = ["CircuitBreaker", "Entry", "Lookup", "RedisTier", "State"]

logger = logging.getLogger("semcache")

T = TypeVar("T")

DEFAULT_TIMEOUT = 0.1  # seconds: a dead Redis costs this, not the client's default 5 s
BULK_TIMEOUT = 10.0  # seconds, for scans and replication batches
LOG_MAXLEN = 100_000  # messages kept in the change log (about 100 bytes each)
FEED_BATCH = 256  # log messages a lookup brings along at most
SCAN_BATCH = 500
BULK_ITEMS = 16  # a store of more entries than this goes through the long-timeout client
SYNC_LEASE = "sync"
LOCAL_REPLICA = "local"  # the replica id of a cache that does not replicate

_CONNECTION_KEYS = (
    "host", "port", "db", "username", "password", "path", "credential_provider", "client_name",
    "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_path", "ssl_ca_data",
    "ssl_check_hostname", "ssl_password", "ssl_min_version", "ssl_ciphers",
)  # fmt: skip


# -- values --------------------------------------------------------------------
@dataclass(frozen=True, slots=True, order=True)
class Entry:
    """One cached answer as stored in Redis (totally ordered, for merge tie-breaks)."""

    namespace: str
    prompt: str
    kind: str  # "s" str, "b" bytes, "j" JSON text (see semcache._payload)
    data: bytes
    metadata: bytes  # JSON text, b"" for none
    embedding: bytes  # float32, little-endian
    fingerprint: bytes  # 16 bytes: two little-endian uint64
    expires_ms: int  # epoch milliseconds, 0 for never

    def payload(self) -> str | bytes:
        return self.data if self.kind == "b" else self.data.decode("utf-8")

    def metadata_text(self) -> str | None:
        return self.metadata.decode("utf-8") if self.metadata else None

    def vector(self) -> np.ndarray:
        return np.frombuffer(self.embedding, dtype="<f4").astype(np.float32)

    def fingerprint_words(self) -> np.ndarray:
        return np.frombuffer(self.fingerprint, dtype="<u8").astype(np.uint64)

    def ttl_left(self, now_ms: int) -> float | None:
        """Seconds left to live (None: no expiry; <= 0: expired)."""
        return None if self.expires_ms == 0 else (self.expires_ms - now_ms) / 1000.0


State = Record[Entry]
"""A stored state of one key: an Entry, or a tombstone, with its version."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """What one lookup round trip brought: the asked-for states and whether it failed."""

    found: list[State | None]
    ok: bool


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def make_entry(
    *,
    namespace: str,
    prompt: str,
    kind: str,
    payload: str | bytes,
    metadata: str | None,
    vector: np.ndarray,
    fingerprint: np.ndarray,
    ttl: float | None,
) -> Entry:
    """An Entry from what the cache holds (``ttl`` in seconds from now)."""
    data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    return Entry(
        namespace=namespace,
        prompt=prompt,
        kind=kind,
        data=data,
        metadata=metadata.encode("utf-8") if metadata else b"",
        embedding=np.ascontiguousarray(vector, dtype="<f4").tobytes(),
        fingerprint=np.ascontiguousarray(fingerprint, dtype="<u8").tobytes(),
        expires_ms=0 if ttl is None else now_ms() + max(1, math.ceil(ttl * 1000)),
    )


def _entry_values(entry: Entry) -> list[bytes | str]:
    """An entry's content as script arguments, in CONTENT order ('' for no m, no x)."""
    expires = str(entry.expires_ms) if entry.expires_ms else ""
    return [entry.namespace, entry.prompt, entry.kind, entry.data, entry.metadata,
            entry.embedding, entry.fingerprint, expires]  # fmt: skip


FIELDS = ("vv", "c", "t", "ns", "p", "kd", "d", "m", "e", "f", "x")
"""The hash fields read back, in the order of every HMGET (a state is one flat list of values)."""
CONTENT = FIELDS[3:]  # what a write passes, as values only (halves what is sent and parsed)

Values = Sequence[bytes | None]


def token_of(values: Values) -> bytes:
    """The compare-and-set token of a stored hash (``b""`` when absent): ``vv|c``."""
    if not values or values[1] is None:
        return b""
    return (values[0] or b"") + b"|" + values[1]


def decode_state(values: Values, dim: int) -> State | None:
    """The state in an HMGET of FIELDS (None when absent); CorruptEntryError if malformed."""
    if not values or values[1] is None:
        return None
    try:
        vv, c, t, ns, p, kd, data, meta, emb, fp, x = values
        if c is None:
            return None
        version = Version(decode_vector((vv or b"").decode("ascii")), decode_clock(c.decode("ascii")))
        if t == b"1":
            return Record(version, None)
        if ns is None or p is None or kd is None or data is None or emb is None or fp is None:
            raise CorruptEntryError("stored entry lacks a field")
        kind = kd.decode("ascii")
        if kind not in ("s", "b", "j"):
            raise CorruptEntryError(f"unknown response kind {kind!r}")
        if kind == "j":
            json.loads(data)
        elif kind == "s":
            data.decode("utf-8")
        if meta and not isinstance(json.loads(meta), dict):
            raise CorruptEntryError("metadata is not a JSON object")
        if len(emb) != 4 * dim or not np.isfinite(np.frombuffer(emb, dtype="<f4")).all():
            raise CorruptEntryError(f"embedding must be {dim} finite float32 values, got {len(emb)} bytes")
        if len(fp) != 16:
            raise CorruptEntryError(f"fingerprint must be 16 bytes, got {len(fp)}")
        entry = Entry(
            namespace=ns.decode("utf-8"),
            prompt=p.decode("utf-8"),
            kind=kind,
            data=data,
            metadata=meta or b"",
            embedding=emb,
            fingerprint=fp,
            expires_ms=int(x or b"0"),
        )
    except CorruptEntryError:
        raise
    except ValueError as exc:  # UnicodeDecodeError, JSONDecodeError, a wrong field count
        raise CorruptEntryError(f"stored entry does not decode: {type(exc).__name__}: {exc}") from exc
    return Record(version, entry)


# -- circuit breaker -------------------------------------------------------------
class CircuitBreaker:
    """Stops calls to a backend after ``threshold`` straight failures; one probe per cool-down.

    The cool-down starts at ``cooldown`` seconds and doubles after every failed
    probe up to ``max_cooldown``; one success closes the breaker again.
    """

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 0.5,
        max_cooldown: float = 5.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.base_cooldown = cooldown
        self.max_cooldown = max_cooldown
        self._timer = timer
        self._lock = threading.Lock()
        self._failures = 0
        self._cooldown = cooldown
        self._open_until: float | None = None
        self._probing = False

    @property
    def is_open(self) -> bool:
        return self._open_until is not None

    def retry_in(self) -> float:
        """Seconds until the next probe (0 when closed or due)."""
        until = self._open_until
        return 0.0 if until is None else max(0.0, until - self._timer())

    def allow(self) -> bool:
        """May a call go through now? (Half-open: exactly one probe at a time.)"""
        with self._lock:
            if self._open_until is None:
                return True
            if not self._probing and self._timer() >= self._open_until:
                self._probing = True
                return True
            return False

    def success(self) -> bool:
        """Record a success; True if this closed an open breaker."""
        with self._lock:
            was_open = self._open_until is not None
            self._failures = 0
            self._open_until = None
            self._probing = False
            self._cooldown = self.base_cooldown
            return was_open

    def failure(self) -> bool:
        """Record a failure; True if the breaker is (now) open."""
        with self._lock:
            self._failures += 1
            if self._probing:  # the probe failed: wait longer before the next one
                self._cooldown = min(2 * self._cooldown, self.max_cooldown)
            if self._probing or self._failures >= self.threshold:
                self._open_until = self._timer() + self._cooldown
                self._probing = False
            return self._open_until is not None


# -- Lua -------------------------------------------------------------------------
_LUA_HELPERS = (
    "local CONTENT = {"
    + ", ".join(f"'{f}'" for f in CONTENT)
    + "}"
    + r"""
local function content(first)  -- field, value pairs from ARGV[first], ... (CONTENT order)
  local out = {}
  for i, name in ipairs(CONTENT) do
    local v = ARGV[first + i - 1]
    if v ~= '' or (name ~= 'm' and name ~= 'x') then
      out[#out + 1] = name
      out[#out + 1] = v
    end
  end
  return out
end
local function num(x) return string.format('%.0f', x) end
local function parse_vv(s)
  local t = {}
  if s then for r, c in string.gmatch(s, '([^,=]+)=(%d+)') do t[r] = tonumber(c) end end
  return t
end
local function encode_vv(t)
  local ks = {}
  for r, c in pairs(t) do if c > 0 then ks[#ks + 1] = r end end
  table.sort(ks)
  local parts = {}
  for i, r in ipairs(ks) do parts[i] = r .. '=' .. num(t[r]) end
  return table.concat(parts, ',')
end
local function parse_clock(s)
  if not s then return 0, 0 end
  local p, l = string.match(s, '^(%d+),(%d+),')
  return tonumber(p) or 0, tonumber(l) or 0
end
local function log(key, id, origin)
  local n = redis.call('INCR', key[3])
  if ARGV[3] ~= '0' then
    redis.call('XADD', key[2], 'MAXLEN', '~', ARGV[3], '*', 'k', id, 'n', n, 'o', origin)
  end
  return n
end
"""
)

# A local write, stamped here so that every process of a replica shares one
# counter and one clock. KEYS: entry, log, seq, clock, tombs.
# ARGV: replica, mode (v value | t tombstone | x drop), maxlen, key, expiry ms, CONTENT values...
# Returns {n, had a live value (0/1)}.
_WRITE = (
    _LUA_HELPERS
    + r"""
if redis.replicate_commands then redis.replicate_commands() end
local cur = redis.call('HMGET', KEYS[1], 'vv', 'c', 't')
local existed = 0
if cur[2] and cur[3] ~= '1' then existed = 1 end
local mode = ARGV[2]
local n = redis.call('INCR', KEYS[3])
redis.call('DEL', KEYS[1])
if mode == 'x' then
  redis.call('SREM', KEYS[5], ARGV[4])
else
  local vv = parse_vv(cur[1])
  vv[ARGV[1]] = n
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local st = redis.call('HMGET', KEYS[4], 'p', 'l')
  local p, l = tonumber(st[1]) or 0, tonumber(st[2]) or 0
  local ep, el = parse_clock(cur[2])
  if ep > p or (ep == p and el > l) then p, l = ep, el end
  if now > p then p, l = now, 0 else l = l + 1 end
  redis.call('HSET', KEYS[4], 'p', num(p), 'l', num(l))
  local clock = num(p) .. ',' .. num(l) .. ',' .. ARGV[1]
  if mode == 'v' then
    redis.call('HSET', KEYS[1], 'vv', encode_vv(vv), 'c', clock, unpack(content(6)))
    local x = tonumber(ARGV[5])
    if x > 0 then redis.call('PEXPIREAT', KEYS[1], x) end
    redis.call('SREM', KEYS[5], ARGV[4])
  else
    redis.call('HSET', KEYS[1], 'vv', encode_vv(vv), 'c', clock, 't', '1')
    redis.call('SADD', KEYS[5], ARGV[4])
  end
end
if ARGV[3] ~= '0' then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'k', ARGV[4], 'n', n, 'o', '1')
end
return {n, existed}
"""
)

# A merged state, written only if the key still holds what the merge read
# (compare-and-set on "vv|c"), so a slower writer cannot overwrite a newer
# version, and only while the caller still holds the sync lease (fencing: a
# paused syncer must not apply stale states after tombstones were collected).
# KEYS: entry, log, seq, clock, tombs, lease.
# ARGV: expected token, mode (v | t), maxlen, key, expiry ms, vv, clock, lease token,
# CONTENT values... Returns 1 written, 0 lost the race, -1 lease lost.
_APPLY = (
    _LUA_HELPERS
    + r"""
if redis.call('GET', KEYS[6]) ~= ARGV[8] then return -1 end
local cur = redis.call('HMGET', KEYS[1], 'vv', 'c')
local token = ''
if cur[2] then token = (cur[1] or '') .. '|' .. cur[2] end
if token ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if ARGV[2] == 'v' then
  redis.call('HSET', KEYS[1], 'vv', ARGV[6], 'c', ARGV[7], unpack(content(9)))
  local x = tonumber(ARGV[5])
  if x > 0 then redis.call('PEXPIREAT', KEYS[1], x) end
  redis.call('SREM', KEYS[5], ARGV[4])
else
  redis.call('HSET', KEYS[1], 'vv', ARGV[6], 'c', ARGV[7], 't', '1')
  redis.call('SADD', KEYS[5], ARGV[4])
end
local ip, il = parse_clock(ARGV[7])
local st = redis.call('HMGET', KEYS[4], 'p', 'l')
local p, l = tonumber(st[1]) or 0, tonumber(st[2]) or 0
if ip > p or (ip == p and il > l) then redis.call('HSET', KEYS[4], 'p', num(ip), 'l', num(il)) end
log(KEYS, ARGV[4], '0')
return 1
"""
)

# Lookup: the asked-for entries, the message count, and up to ARGV[2] log
# messages after ARGV[1] ('' for none), each with the current state of its key
# (fetched once per key; with ARGV[4] = '1' only for local-write messages).
# The replica's clock comes along, read atomically with the log (its horizon).
# KEYS: entries..., log, seq, clock. ARGV: start id, count, entry key prefix, origin only.
# Reads keys named by log messages, so it needs a non-cluster Redis.
_READ = (
    "local FIELDS = {"
    + ", ".join(f"'{f}'" for f in FIELDS)
    + "}"
    + r"""
local m = #KEYS - 3
local found = {}
for i = 1, m do found[i] = redis.call('HMGET', KEYS[i], unpack(FIELDS)) end
local count = tonumber(redis.call('GET', KEYS[m + 2]) or '0')
local clock = redis.call('HMGET', KEYS[m + 3], 'p', 'l')
local out = {}
if ARGV[1] ~= '' then
  local r = redis.call('XREAD', 'COUNT', ARGV[2], 'STREAMS', KEYS[m + 1], ARGV[1])
  if r then
    local fetched = {}
    for _, msg in ipairs(r[1][2]) do
      local f = msg[2]
      local h = {}
      for j = 1, #f, 2 do h[f[j]] = f[j + 1] end
      local k, o = h['k'] or '', h['o'] or '0'
      local has, state = 0, {}
      if k ~= '' and not fetched[k] and (ARGV[4] ~= '1' or o == '1') then
        fetched[k] = true
        has, state = 1, redis.call('HMGET', ARGV[3] .. k, unpack(FIELDS))
      end
      out[#out + 1] = {msg[1], k, h['n'] or '0', o, has, state}
    end
  end
end
return {count, found, out, {clock[1] or '0', clock[2] or '0'}}
"""
)

# Where the log ends now: {message count, last stream id, clock}. KEYS: log, seq, clock.
_MARK = r"""
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local id = '0-0'
if last[1] then id = last[1][1] end
local clock = redis.call('HMGET', KEYS[3], 'p', 'l')
return {n, id, clock[1] or '0', clock[2] or '0'}
"""

# Drop a tombstone if it is still the one judged collectable, under the sync
# lease. KEYS: entry, tombs, lease. ARGV: token, key, lease token.
_PURGE = r"""
if redis.call('GET', KEYS[3]) ~= ARGV[3] then return -1 end
local cur = redis.call('HMGET', KEYS[1], 'vv', 'c', 't')
if not cur[2] then redis.call('SREM', KEYS[2], ARGV[2]) return 0 end
if cur[3] ~= '1' then redis.call('SREM', KEYS[2], ARGV[2]) return 0 end
if (cur[1] or '') .. '|' .. cur[2] ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""

# Release (ARGV[2] = '0') or renew (ARGV[2] = milliseconds) a lease we hold.
_LEASE = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""

_SCRIPTS = {
    "write": _WRITE,
    "apply": _APPLY,
    "read": _READ,
    "mark": _MARK,
    "purge": _PURGE,
    "lease": _LEASE,
}


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    """What a replica's Redis says about it (for sync and tombstone collection)."""

    replica: str | None
    cursors: dict[str, Cursor]
    readers: set[str]
    clock: tuple[int, int]


@dataclass(frozen=True, slots=True)
class LogRead:
    """What one READ brought: message count, asked-for states, messages, the clock."""

    count: int
    states: list[tuple[State | None, bytes]]  # (state, compare-and-set token) per asked key
    messages: list[LogMessage]
    clock: tuple[int, int]  # the replica's hybrid clock (phys, logical), read atomically

    @property
    def caught_up(self) -> bool:
        """The messages reach the end of the log (so ``clock`` is a horizon)."""
        return not self.messages or self.messages[-1].n == self.count


@dataclass(frozen=True, slots=True)
class LogMessage:
    """One change-log message with, where fetched, the current state of its key."""

    stream_id: str
    key: str
    n: int
    origin: bool
    fetched: bool
    state: State | None
    token: bytes


class _Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.entry_prefix = prefix + "e:"
        self.log = prefix + "log"
        self.seq = prefix + "seq"
        self.clock = prefix + "clock"
        self.tombs = prefix + "tombs"
        self.meta = prefix + "meta"
        self.cursors = prefix + "cursors"
        self.readers = prefix + "readers"

    def entry(self, key: str) -> str:
        return self.entry_prefix + key

    def lock(self, name: str) -> str:
        return f"{self.prefix}lock:{name}"

    def write_keys(self, key: str) -> list[str]:
        return [self.entry(key), self.log, self.seq, self.clock, self.tombs]

    def entry_pattern(self) -> str:
        escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in self.entry_prefix)
        return escaped + "*"


def _connection_class(redis_mod: Any, cls: type) -> type | None:
    name = cls.__name__
    if name in ("Connection", "SSLConnection", "UnixDomainSocketConnection"):
        return getattr(redis_mod.connection, name)  # type: ignore[no-any-return]
    return None


def _connect(redis_mod: Any, target: object, timeout: float) -> tuple[Any, str]:
    """A sync client with short timeouts, no retries and binary replies, and where it points.

    A URL is opened directly. A client (``redis.Redis`` or ``redis.asyncio.Redis``)
    contributes its connection settings (host, db, auth, TLS) to a pool of our
    own, since its defaults (5 s timeouts, retries) would make a dead Redis cost
    seconds per call; a client on a pool we cannot copy (Sentinel, custom
    connections) is used as it is.
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    opts: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,
        "health_check_interval": 0,
    }
    if isinstance(target, str):
        client = redis_mod.Redis.from_url(target, **opts)
        return client, _describe_target(client)
    pool = getattr(target, "connection_pool", None)
    if pool is None:
        raise InvalidConfigError(f"redis must be a redis:// URL or a redis client, got {describe(target)}")
    conn_cls = _connection_class(redis_mod, pool.connection_class)
    kwargs = pool.connection_kwargs
    if conn_cls is None:
        if kwargs.get("decode_responses"):
            raise InvalidConfigError("the redis client must be made with decode_responses=False")
        if kwargs.get("socket_timeout") is None:
            logger.warning("semcache: the redis client has no socket_timeout; a dead Redis may block calls")
        return target, _describe_target(target)
    conn = {k: kwargs[k] for k in _CONNECTION_KEYS if k in kwargs}
    own_pool = redis_mod.ConnectionPool(connection_class=conn_cls, **conn, **opts)
    client = redis_mod.Redis(connection_pool=own_pool)
    return client, _describe_target(client)


def _describe_target(client: Any) -> str:
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix:{kw['path']}"
    return f"{kw.get('host', '?')}:{kw.get('port', '?')}/{kw.get('db', 0)}"


# -- the tier --------------------------------------------------------------------
class RedisTier:
    """Entries of one cache (or replica) in one Redis, behind a small interface.

    ``on_change(changes)`` receives ``(key, state or None)`` for every change
    other processes (or replication) made, in log order, while the tier holds
    its feed lock, so a process mirrors the shared state in its local tiers;
    after a full reload ``on_reset(keys)`` says which keys Redis holds at all.
    """

    def __init__(
        self,
        target: object,
        *,
        dim: int,
        prefix: str = "semcache:",
        replica_id: str | None = None,
        tombstones: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        strict: bool = False,
        log_maxlen: int = LOG_MAXLEN,
        on_change: Callable[[Sequence[tuple[str, State | None]]], None] | None = None,
        on_reset: Callable[[set[str]], None] | None = None,
        on_error: Callable[[], None] | None = None,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        redis_mod = require("redis", "redis")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            raise InvalidConfigError(f"redis_timeout must be a number of seconds in (0, 60], got {timeout!r}")
        if isinstance(log_maxlen, bool) or not isinstance(log_maxlen, int) or log_maxlen < 1:
            raise InvalidConfigError(f"log_maxlen must be an int >= 1, got {log_maxlen!r}")
        self._redis_mod = redis_mod
        self._target = target
        self._timeout = float(timeout)
        self.client, self.where = _connect(redis_mod, target, self._timeout)
        self._bulk_client: Any = None
        exc = redis_mod.exceptions
        self._down_errors: tuple[type[BaseException], ...] = (exc.ConnectionError, exc.TimeoutError)
        self._reply_errors: tuple[type[BaseException], ...] = (exc.ResponseError,)
        self._noscript: type[BaseException] = exc.NoScriptError
        self.keys = _Keys(prefix)
        self.dim = dim
        self.replica = check_replica_id(replica_id) if replica_id is not None else LOCAL_REPLICA
        self.tombstones = tombstones
        self.strict = strict
        self.log_maxlen = log_maxlen
        self.on_change = on_change
        self.on_reset = on_reset
        self._on_error = on_error
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self._shas: dict[str, str] = {}
        self._feed: Cursor | None = None  # None: the local mirror must be (re)loaded
        self._feed_lock = threading.Lock()
        self.errors = 0
        self.skipped = 0

    def __repr__(self) -> str:
        return f"RedisTier({self.where!r}, prefix={self.keys.prefix!r}, replica={self.replica!r})"

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the settings only: the copy opens its own connections (callbacks stay behind)."""
        if not isinstance(self._target, str):
            raise TypeError("only a RedisTier made from a redis:// URL can be pickled")
        return {
            "target": self._target, "dim": self.dim, "prefix": self.keys.prefix,
            "replica_id": None if self.replica == LOCAL_REPLICA else self.replica,
            "tombstones": self.tombstones, "timeout": self._timeout, "strict": self.strict,
            "log_maxlen": self.log_maxlen,
        }  # fmt: skip

    def __setstate__(self, state: dict[str, Any]) -> None:
        target = state.pop("target")
        self.__init__(target, **state)  # type: ignore[misc]

    # -- the choke point ---------------------------------------------------------
    def _io(self, what: str, op: Callable[[], T], fallback: T) -> T:
        """Run ``op`` against Redis; every backend fault ends in ``_fault``."""
        if not self.breaker.allow():
            self.skipped += 1
            if self.strict:
                raise BackendError(
                    f"Redis at {self.where} is unavailable ({what} skipped; "
                    f"next try in {self.breaker.retry_in():.2f} s)"
                )
            return fallback
        try:
            result = op()
        except self._down_errors as exc:
            opened = self.breaker.failure()
            self._fault(what, exc, opened)
            return fallback
        except self._reply_errors as exc:
            self.breaker.success()
            self._fault(what, exc, False)
            return fallback
        if self.breaker.success():
            logger.info("semcache: Redis at %s answers again", self.where)
        return result

    def _fault(self, what: str, exc: BaseException, opened: bool) -> None:
        """Log and count a backend fault; in strict mode raise it as BackendError."""
        self.errors += 1
        if self._on_error is not None:
            self._on_error()
        if opened:
            logger.warning(
                "semcache: Redis at %s failed during %s (%s: %s); local tier only, retry in %.2f s",
                self.where, what, type(exc).__name__, exc, self.breaker.retry_in(),
            )  # fmt: skip
        else:
            logger.warning(
                "semcache: Redis at %s: %s failed (%s: %s)",
                self.where,
                what,
                type(exc).__name__,
                exc,
            )
        if self.strict:
            if isinstance(exc, BackendError):
                raise exc
            raise BackendError(f"Redis at {self.where}: {what} failed: {type(exc).__name__}: {exc}") from exc

    def _decode(self, values: Values, key: str) -> State | None:
        """Decode one stored state; a corrupt one is a fault and reads as absent."""
        try:
            return decode_state(values, self.dim)
        except CorruptEntryError as exc:
            self._fault(f"decoding {self.keys.entry(key)}", exc, False)
            return None

    # -- scripts -----------------------------------------------------------------
    def _load_scripts(self, client: Any) -> None:
        for name, src in _SCRIPTS.items():
            self._shas[name] = client.script_load(src)

    def _eval(self, name: str, keys: Sequence[str], args: Sequence[Any], client: Any = None) -> Any:
        client = self.client if client is None else client
        if name not in self._shas:
            self._load_scripts(client)
        try:
            return client.evalsha(self._shas[name], len(keys), *keys, *args)
        except self._noscript:  # the server restarted or was flushed
            self._load_scripts(client)
            return client.evalsha(self._shas[name], len(keys), *keys, *args)

    def _eval_many(self, calls: Sequence[tuple[str, Sequence[str], Sequence[Any]]], client: Any = None) -> list[Any]:
        """Several script calls in one pipeline (one round trip)."""
        client = self.client if client is None else client
        if not calls:
            return []
        if any(name not in self._shas for name, _, _ in calls):
            self._load_scripts(client)
        for attempt in (0, 1):
            pipe = client.pipeline(transaction=False)
            for name, keys, args in calls:
                pipe.evalsha(self._shas[name], len(keys), *keys, *args)
            results: list[Any] = pipe.execute(raise_on_error=False)
            if attempt == 0 and any(isinstance(r, self._noscript) for r in results):
                self._load_scripts(client)
                redo = [i for i, r in enumerate(results) if isinstance(r, self._noscript)]
                again = self._eval_many([calls[i] for i in redo], client)
                for i, r in zip(redo, again, strict=True):
                    results[i] = r
            for r in results:
                if isinstance(r, BaseException):
                    raise r
            return results
        return []  # pragma: no cover

    def _read(
        self,
        keys: Sequence[str],
        client: Any,
        start: str = "",
        count: int = 0,
        *,
        origin_only: bool = False,
    ) -> LogRead:
        """One READ call: states of ``keys`` and log messages after ``start`` ('' for none)."""
        names = [*(self.keys.entry(k) for k in keys), self.keys.log, self.keys.seq, self.keys.clock]
        args = [start, count, self.keys.entry_prefix, "1" if origin_only else "0"]
        n, found, msgs, clock = self._eval("read", names, args, client=client)
        states = [(self._decode(flat, k), token_of(flat)) for k, flat in zip(keys, found, strict=True)]
        return LogRead(int(n), states, self._messages(msgs), (int(clock[0]), int(clock[1])))

    def _bulk(self) -> Any:
        """A client with a longer timeout for scans and replication batches."""
        if self._bulk_client is None:
            self._bulk_client, _ = _connect(self._redis_mod, self._target, max(self._timeout, BULK_TIMEOUT))
        return self._bulk_client

    # -- the cache's interface -----------------------------------------------------
    def lookup(self, keys: Sequence[str], *, feed: bool = True) -> Lookup:
        """The stored states of ``keys``, in one round trip that also brings the feed along."""
        return self._io("lookup", lambda: self._lookup(keys, feed), Lookup([None] * len(keys), False))

    def _lookup(self, keys: Sequence[str], feed: bool) -> Lookup:
        if feed and self._feed is None:
            self._reload()
        taken = feed and self._feed_lock.acquire(blocking=False)
        try:
            cursor = self._feed if taken else None
            start = cursor.stream_id if cursor is not None else ""
            read = self._read(keys, self.client, start, FEED_BATCH)
            if cursor is not None:
                self._follow(cursor, read)
        finally:
            if taken:
                self._feed_lock.release()
        if feed and not taken:  # another thread is reading the feed: let it finish applying,
            with self._feed_lock:  # so this lookup sees what was logged before it began
                pass
        return Lookup([s for s, _ in read.states], True)

    def _messages(self, raw: Sequence[Any]) -> list[LogMessage]:
        out = []
        for stream_id, key, n, origin, has, flat in raw:
            k = key.decode("ascii", "replace")
            fetched = bool(int(has))
            out.append(
                LogMessage(
                    stream_id=stream_id.decode("ascii"),
                    key=k,
                    n=int(n),
                    origin=origin == b"1",
                    fetched=fetched,
                    state=self._decode(flat, k) if fetched else None,
                    token=token_of(flat) if fetched else b"",
                )
            )
        return out

    def _follow(self, cursor: Cursor, read: LogRead) -> None:
        """Apply the feed messages after ``cursor`` (feed lock held), or reload on a gap."""
        msgs = read.messages
        step = classify(cursor, read.count, msgs[0].n if msgs else None)
        if step is not Step.NEXT:
            logger.info("semcache: change log of %s %s; reloading the local tier", self.where, step.value)
            self._reload_locked()
            return
        if not msgs:
            return
        changes = [(m.key, m.state) for m in msgs if m.fetched]
        if changes and self.on_change is not None:
            self.on_change(changes)
        self._feed = Cursor(msgs[-1].stream_id, msgs[-1].n)

    def refresh(self) -> bool:
        """Bring the local mirror up to date with the log (reload if needed); False on failure."""

        def op() -> bool:
            while True:
                with self._feed_lock:
                    cursor = self._feed
                    if cursor is None:
                        self._reload_locked()
                        continue
                    read = self._read([], self._bulk(), cursor.stream_id, SCAN_BATCH)
                    self._follow(cursor, read)
                if read.caught_up:
                    return True

        return self._io("refresh", op, False)

    def _reload(self) -> None:
        with self._feed_lock:
            if self._feed is None:  # (another thread may have done it meanwhile)
                self._reload_locked()

    def _reload_locked(self) -> None:
        """Rebuild the local mirror: mark the log's end, stream every stored entry, drop the rest.

        Redis is the truth of the shared tier: after a gap in the log (or a
        Redis that lost its data), local entries Redis no longer holds may have
        been deleted elsewhere, so they go (``on_reset`` gets the keys to keep).
        """
        mark = self.mark()
        present: set[str] = set()
        for batch in self._scan_states(self._bulk()):
            changes = [(k, s) for k, s, _ in batch if s is not None]
            present.update(k for k, s in changes if s is not None and s.value is not None)
            if changes and self.on_change is not None:
                self.on_change(changes)
        if self.on_reset is not None:
            self.on_reset(present)
        self._feed = mark

    def store(self, items: Sequence[tuple[str, Entry]]) -> bool:
        """Write entries (stamped, logged) in one round trip; False if Redis was not reached."""

        # a big batch takes longer than the short per-call timeout allows for
        client = self._bulk() if len(items) > BULK_ITEMS else self.client

        def op() -> bool:
            calls = [("write", self.keys.write_keys(k), self._write_args("v", k, e)) for k, e in items]
            self._eval_many(calls, client)
            return True

        return self._io("store", op, False)

    def remove(self, key: str) -> bool:
        """Delete one entry (a tombstone when replicating); True if Redis held a live value."""
        mode = "t" if self.tombstones else "x"
        reply = self._io(
            "delete",
            lambda: self._eval("write", self.keys.write_keys(key), self._write_args(mode, key)),
            None,
        )
        return bool(reply and int(reply[1]))

    def clear(self, namespace: str | None = None) -> int:
        """Delete every entry (of ``namespace``); returns how many went."""
        mode = "t" if self.tombstones else "x"

        def op() -> int:
            gone = 0
            for batch in self._scan_states(self._bulk()):
                doomed = [
                    k for k, s, _ in batch
                    if s is not None and s.value is not None
                    and (namespace is None or s.value.namespace == namespace)
                ]  # fmt: skip
                calls = [("write", self.keys.write_keys(k), self._write_args(mode, k)) for k in doomed]
                gone += sum(int(r[1]) for r in self._eval_many(calls, self._bulk()))
            return gone

        return self._io("clear", op, 0)

    def _write_args(self, mode: str, key: str, entry: Entry | None = None) -> list[Any]:
        maxlen = self.log_maxlen
        if entry is None:
            return [self.replica, mode, maxlen, key, 0]
        return [self.replica, mode, maxlen, key, entry.expires_ms, *_entry_values(entry)]

    def close(self) -> None:
        """Release the connection pools (idempotent)."""
        for client in (self.client, self._bulk_client):
            if client is not None and client is not self._target:
                client.close()
        self._bulk_client = None

    # -- replication primitives (see semcache.replication) ------------------------
    def ensure_meta(self) -> bool:
        """Record this Redis's replica id; InvalidConfigError if another replica owns it."""

        def op() -> bool:
            self.client.hsetnx(self.keys.meta, "replica", self.replica)
            owner = self.client.hget(self.keys.meta, "replica")
            if owner is not None and owner.decode() != self.replica:
                raise InvalidConfigError(
                    f"Redis at {self.where} (prefix {self.keys.prefix!r}) belongs to replica "
                    f"{owner.decode()!r}, not {self.replica!r}"
                )
            return True

        return self._io("register replica", op, False)

    def info(self, reader: str | None = None) -> ReplicaInfo | None:
        """This Redis's replica id, cursors, readers and clock; ``reader`` is noted as a reader."""

        def op() -> ReplicaInfo:
            pipe = self.client.pipeline(transaction=True)  # one consistent snapshot
            pipe.hget(self.keys.meta, "replica")
            pipe.hgetall(self.keys.cursors)
            if reader is not None:
                pipe.hset(self.keys.readers, reader, str(now_ms()))
            pipe.hkeys(self.keys.readers)
            pipe.hmget(self.keys.clock, "p", "l")
            replies: list[Any] = pipe.execute()
            replica, cursors = replies[0], replies[1]
            readers, (phys, logical) = replies[-2], replies[-1]
            return ReplicaInfo(
                replica=replica.decode() if replica is not None else None,
                cursors={k.decode(): Cursor.decode(v.decode()) for k, v in cursors.items()},
                readers={r.decode() for r in readers},
                clock=(int(phys or 0), int(logical or 0)),
            )

        return self._io("read replica info", op, None)

    def read_log(self, cursor: Cursor, count: int) -> LogRead | None:
        """Up to ``count`` log messages after ``cursor``, with the states of local-write keys."""
        return self._io(
            "read change log",
            lambda: self._read([], self._bulk(), cursor.stream_id, count, origin_only=True),
            None,
        )

    def mark(self) -> Cursor:
        """Where the log ends now, with the clock as horizon (call inside an ``_io`` operation)."""
        keys = [self.keys.log, self.keys.seq, self.keys.clock]
        n, stream_id, phys, logical = self._eval("mark", keys, [], client=self._bulk())
        return Cursor(stream_id.decode("ascii"), int(n), (int(phys), int(logical)))

    def safe_mark(self) -> Cursor | None:
        return self._io("mark change log", self.mark, None)

    def _scan_page(self, client: Any, cursor: int) -> tuple[int, list[tuple[str, State | None, bytes]]]:
        cursor, names = client.scan(cursor, match=self.keys.entry_pattern(), count=SCAN_BATCH)
        batch: list[tuple[str, State | None, bytes]] = []
        if names:
            pipe = client.pipeline(transaction=False)
            for name in names:
                pipe.hmget(name, FIELDS)
            skip = len(self.keys.entry_prefix)
            for name, row in zip(names, pipe.execute(), strict=True):
                key = name[skip:].decode("ascii", "replace")
                batch.append((key, self._decode(row, key), token_of(row)))
        return int(cursor), batch

    def _scan_states(self, client: Any) -> Iterator[list[tuple[str, State | None, bytes]]]:
        cursor = -1
        while cursor != 0:
            cursor, batch = self._scan_page(client, max(cursor, 0))
            if batch:
                yield batch

    def scan_page(self, cursor: int) -> tuple[int, list[tuple[str, State | None, bytes]]] | None:
        """One page of stored states for anti-entropy: (next cursor, 0 when done; states)."""

        def op() -> tuple[int, list[tuple[str, State | None, bytes]]]:
            return self._scan_page(self._bulk(), cursor)

        return self._io("scan entries", op, None)

    def read_states(self, keys: Sequence[str]) -> dict[str, tuple[State | None, bytes]] | None:
        """The stored state and CAS token of each key, in one round trip."""

        def op() -> dict[str, tuple[State | None, bytes]]:
            return dict(zip(keys, self._read(keys, self._bulk()).states, strict=True))

        return self._io("read states", op, None)

    def apply(self, writes: Sequence[tuple[str, bytes, State]], lease: str) -> list[str] | None:
        """Compare-and-set merged states ``(key, expected token, state)`` under the sync lease.

        Returns the keys that lost a race, or None if Redis failed or the lease was lost.
        """

        def op() -> list[str] | None:
            calls = []
            keys = [*self.keys.write_keys(""), self.keys.lock(SYNC_LEASE)]
            for key, token, state in writes:
                version = state.version
                stamp = [encode_vector(version.vector), encode_clock(version.clock), lease]
                mode, expires = ("t", 0) if state.value is None else ("v", state.value.expires_ms)
                args = [token, mode, self.log_maxlen, key, expires, *stamp]
                if state.value is not None:
                    args += _entry_values(state.value)
                calls.append(("apply", [self.keys.entry(key), *keys[1:]], args))
            results = [int(r) for r in self._eval_many(calls, self._bulk())]
            if -1 in results:
                logger.warning("semcache: lost the sync lease of %s; sync abandoned", self.where)
                return None
            return [w[0] for w, r in zip(writes, results, strict=True) if r == 0]

        return self._io("apply merged states", op, None)

    def set_cursor(self, peer: str, cursor: Cursor) -> bool:
        def op() -> bool:
            self.client.hset(self.keys.cursors, peer, cursor.encode())
            return True

        return self._io("save cursor", op, False)

    def tombstone_states(self) -> list[tuple[str, State, bytes]] | None:
        """Every tombstone held, with its CAS token."""

        def op() -> list[tuple[str, State, bytes]]:
            client = self._bulk()
            out: list[tuple[str, State, bytes]] = []
            for _, names in _sscan_batches(client, self.keys.tombs):
                keys = [n.decode("ascii", "replace") for n in names]
                for k, (state, token) in zip(keys, self._read(keys, client).states, strict=True):
                    if state is not None and state.value is None:
                        out.append((k, state, token))
            return out

        return self._io("list tombstones", op, None)

    def purge(self, items: Sequence[tuple[str, bytes]], lease: str) -> int:
        """Drop tombstones ``(key, token)`` still as judged collectable, under the sync lease."""
        lock = self.keys.lock(SYNC_LEASE)

        def op() -> int:
            calls = [("purge", [self.keys.entry(k), self.keys.tombs, lock], [t, k, lease]) for k, t in items]
            return sum(max(0, int(r)) for r in self._eval_many(calls, self._bulk()))

        return self._io("purge tombstones", op, 0)

    def take_lease(self, ttl: float) -> str | None:
        """The sync lease for ``ttl`` seconds: a token; "" if held elsewhere, None on failure."""
        token = uuid.uuid4().hex

        def op() -> str | None:
            lock = self.keys.lock(SYNC_LEASE)
            got = self.client.set(lock, token, nx=True, px=max(1, int(ttl * 1000)))
            return token if got else ""

        return self._io("take sync lease", op, None)

    def renew_lease(self, token: str, ttl: float) -> bool:
        """Extend the lease; False if it was lost (or Redis failed)."""
        ms = str(max(1, int(ttl * 1000)))
        lock = self.keys.lock(SYNC_LEASE)
        return bool(self._io("renew sync lease", lambda: self._eval("lease", [lock], [token, ms]), 0))

    def release_lease(self, token: str) -> None:
        lock = self.keys.lock(SYNC_LEASE)
        self._io("release sync lease", lambda: self._eval("lease", [lock], [token, "0"]), None)


def _sscan_batches(client: Any, key: str) -> Iterator[tuple[int, list[bytes]]]:
    cursor = 0
    while True:
        cursor, names = client.sscan(key, cursor, count=SCAN_BATCH)
        if names:
            yield cursor, list(names)
        if cursor == 0:
            return
