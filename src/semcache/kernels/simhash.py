"""64-bit SimHash of texts and of embeddings, and banded LSH keys.

Text SimHash: the text is normalised (NFKC + casefold for non-ASCII text,
ASCII lower-casing in the kernel), split into words (maximal runs of ASCII
letters and digits and of non-ASCII characters), and each word unigram and
word bigram is a feature with a 64-bit hash (a rotate-xor over the bytes, then the
splitmix64 finaliser). Bit i of the fingerprint is set iff more than half of the
features have bit i set (the sign of the +1/-1 weighted sum). A text with no
words has fingerprint 0.

Embedding SimHash: bit i is set iff ``vector @ planes[i] > 0`` (random
hyperplanes), bit 0 the least significant.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence

import numpy as np
from numba import prange

from ._jit import jit

__all__ = [
    "band_keys",
    "band_keys_into",
    "pack_signs",
    "project_signs",
    "project_signs_rows",
    "signs_of",
    "simhash_buffer",
    "simhash_texts",
    "simhash_vectors",
]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_S27 = np.uint64(27)
_S30 = np.uint64(30)
_S31 = np.uint64(31)
_SEP = 0  # texts are joined with NUL bytes
_BLOCK = 512  # texts per parallel work item
_CHUNK = 256  # code units per step of the non-ASCII text search


@jit()
def _mix(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


def _make_fold_table() -> np.ndarray:
    # byte -> lower-cased byte for word characters, 0 for separators
    table = np.zeros(256, dtype=np.uint64)
    for b in range(256):
        c = chr(b)
        if (c.isascii() and c.isalnum()) or b >= 128:
            table[b] = ord(c.lower()) if b < 128 else b
    return table


_FOLD = _make_fold_table()
_S7 = np.uint64(7)
_S57 = np.uint64(57)


_LANES = np.uint64(0x0101010101010101)
_U255 = np.uint64(255)
_HIGH = np.uint64(0x8080808080808080)


@jit()
def _spill(acc: np.ndarray, w: int, v: np.uint64) -> None:
    """Add the eight 8-bit counters of lane word ``w`` into the per-bit counters."""
    for lane in range(8):
        acc[w + 8 * lane] += np.int32((v >> np.uint64(8 * lane)) & _U255)


@jit()
def _spill_all(
    acc: np.ndarray,
    l0: np.uint64, l1: np.uint64, l2: np.uint64, l3: np.uint64,
    l4: np.uint64, l5: np.uint64, l6: np.uint64, l7: np.uint64,
) -> None:
    _spill(acc, 0, l0)
    _spill(acc, 1, l1)
    _spill(acc, 2, l2)
    _spill(acc, 3, l3)
    _spill(acc, 4, l4)
    _spill(acc, 5, l5)
    _spill(acc, 6, l6)
    _spill(acc, 7, l7)


@jit()
def _simhash_text(
    buf: np.ndarray, fold: np.ndarray, start: int, end: int, acc: np.ndarray, stop: int
) -> tuple[np.uint64, int]:
    """SimHash of the text from ``start`` up to the first unit equal to ``stop``
    (NUL; -1: none) or ``end``; returns (fingerprint, where it stopped). ``fold``
    maps a unit to its lower-cased value, 0 for a separator (one entry per
    possible unit). The ``stop`` test runs only between words."""
    # Bit-sliced counting: lane word lw keeps eight 8-bit counters, one for
    # each bit w + 8 * lane, so adding a feature costs 8 adds instead of 64.
    # The counters spill into ``acc`` before they pass 127, so that the
    # usual short text is finished with a SIMD-within-a-register compare.
    spilled = False
    l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = _U0
    nfeat = 0
    pending = 0
    prev = _U0
    h = _FNV_OFFSET
    length = _U0
    p = start
    while True:
        c = np.uint64(fold[buf[p]]) if p < end else _U0
        if c != _U0:
            # rotate-xor keeps the per-byte chain short; _mix does the avalanche
            h = ((h << _S7) | (h >> _S57)) ^ c
            length += _U1
            p += 1
            continue
        if length == _U0:
            if p >= end or buf[p] == stop:
                break
            p += 1
            continue
        word = _mix(h ^ (length * _GOLDEN))
        nfeat += 1
        # feature 1: the word; feature 2 (from the second word on): the bigram
        f = word
        for _ in range(2 if nfeat > 1 else 1):
            l0 += f & _LANES
            l1 += (f >> np.uint64(1)) & _LANES
            l2 += (f >> np.uint64(2)) & _LANES
            l3 += (f >> np.uint64(3)) & _LANES
            l4 += (f >> np.uint64(4)) & _LANES
            l5 += (f >> np.uint64(5)) & _LANES
            l6 += (f >> np.uint64(6)) & _LANES
            l7 += (f >> np.uint64(7)) & _LANES
            f = _mix((prev * _GOLDEN) ^ word ^ _GOLDEN)
        pending += 2
        if pending >= 126:
            if not spilled:
                acc[:] = 0
                spilled = True
            _spill_all(acc, l0, l1, l2, l3, l4, l5, l6, l7)
            l0 = l1 = l2 = l3 = l4 = l5 = l6 = l7 = _U0
            pending = 0
        prev = word
        h = _FNV_OFFSET
        length = _U0
        if p >= end or buf[p] == stop:
            break
        p += 1
    nfeat = 2 * nfeat - 1 if nfeat > 0 else 0
    # bit i is set iff its count c satisfies 2c > nfeat, i.e. c >= need
    need = nfeat // 2 + 1
    out = _U0
    if not spilled:
        # each 8-bit counter is <= 127: c >= need iff bit 7 of c + 128 - need
        bias = np.uint64(128 - need) * _LANES
        out |= ((l0 + bias) & _HIGH) >> np.uint64(7)
        out |= ((l1 + bias) & _HIGH) >> np.uint64(6)
        out |= ((l2 + bias) & _HIGH) >> np.uint64(5)
        out |= ((l3 + bias) & _HIGH) >> np.uint64(4)
        out |= ((l4 + bias) & _HIGH) >> np.uint64(3)
        out |= ((l5 + bias) & _HIGH) >> np.uint64(2)
        out |= ((l6 + bias) & _HIGH) >> np.uint64(1)
        out |= (l7 + bias) & _HIGH
        return out, p
    _spill_all(acc, l0, l1, l2, l3, l4, l5, l6, l7)
    for i in range(64):
        if acc[i] >= need:
            out |= _U1 << np.uint64(i)
    return out, p


@jit()
def _simhash_span(buf: np.ndarray, start: int, end: int, acc: np.ndarray) -> np.uint64:
    """SimHash of the UTF-8 bytes buf[start:end] (a NUL there is a separator like
    any other); kernels/lexical.py calls it."""
    return np.uint64(_simhash_text(buf, _FOLD, start, end, acc, -1)[0])


@jit()
def _count_sep(buf: np.ndarray) -> int:
    m = 0
    for p in range(buf.shape[0]):
        m += buf[p] == _SEP
    return m


@jit()
def _split_offsets(buf: np.ndarray, n: int, starts: np.ndarray, ends: np.ndarray) -> None:
    t = 0
    starts[0] = 0
    for p in range(buf.shape[0]):
        if buf[p] == _SEP:
            ends[t] = p
            t += 1
            starts[t] = p + 1
    ends[n - 1] = buf.shape[0]


@jit()
def _simhash_serial(buf: np.ndarray, fold: np.ndarray, out: np.ndarray) -> int:
    """Hash the NUL-separated texts of ``buf`` into ``out`` in one pass; returns
    how many there were, or -1 (and stops) when there are more than ``out`` holds."""
    acc = np.zeros(64, np.int32)
    end = buf.shape[0]
    p = 0
    for t in range(out.shape[0]):
        out[t], p = _simhash_text(buf, fold, p, end, acc, _SEP)
        if p >= end:
            return t + 1
        p += 1
    return -1


@jit()
def _mark_wide(units: np.ndarray, lo: int, hi: int, t: int, n: int, wide: np.ndarray, m: int) -> int:
    """Add the texts with a unit >= 128 in units[lo:hi] (the first is text ``t``) to ``wide``."""
    for p in range(lo, hi):
        x = units[p]
        if x == _SEP:
            t += 1
        elif x >= 128 and t < n and (m == 0 or wide[m - 1] != t):
            wide[m] = t
            m += 1
    return m


@jit()
def _wide_texts(units: np.ndarray, n: int, wide: np.ndarray) -> int:
    """Write the indices of the NUL-separated texts of ``units`` that hold a unit
    >= 128 into ``wide`` (ascending); return their count, or -1 when ``units``
    does not hold exactly ``n`` texts."""
    t = 0  # NULs before the current chunk
    m = 0
    for c in range(units.shape[0] // _CHUNK):
        lo = c * _CHUNK
        seen = np.int32(0)
        nuls = np.int32(0)
        for p in range(_CHUNK):  # fixed count, branch-free, 32-bit lanes: vectorises
            x = np.int32(units[lo + p])
            seen |= x
            nuls += np.int32(x == 0)
        if seen >= 128:  # rare: find the texts
            m = _mark_wide(units, lo, lo + _CHUNK, t, n, wide, m)
        t += int(nuls)
        if t >= n:
            return -1
    lo = units.shape[0] // _CHUNK * _CHUNK
    m = _mark_wide(units, lo, units.shape[0], t, n, wide, m)
    for p in range(lo, units.shape[0]):
        t += units[p] == _SEP
    return m if t == n - 1 else -1


@jit(parallel=True)
def _simhash_parallel(buf: np.ndarray, fold: np.ndarray, starts: np.ndarray, ends: np.ndarray, out: np.ndarray) -> None:
    n = starts.shape[0]
    nblocks = (n + _BLOCK - 1) // _BLOCK
    for blk in prange(nblocks):
        acc = np.zeros(64, np.int32)
        lo = blk * _BLOCK
        hi = min(n, lo + _BLOCK)
        for t in range(lo, hi):
            out[t] = _simhash_text(buf, fold, starts[t], ends[t], acc, _SEP)[0]


def simhash_buffer(buf: np.ndarray, n: int, *, parallel: bool = False) -> np.ndarray:
    """SimHash ``n`` NUL-separated UTF-8 texts in ``buf`` (uint8, C-contiguous).

    Raises ValueError when ``buf`` does not hold exactly ``n`` texts.
    """
    out = np.empty(n, dtype=np.uint64)
    if n == 0:
        return out
    if parallel:
        if _count_sep(buf) != n - 1:
            raise ValueError(f"buf must hold {n} NUL-separated texts, got {_count_sep(buf) + 1}")
        starts = np.empty(n, dtype=np.int64)
        ends = np.empty(n, dtype=np.int64)
        _split_offsets(buf, n, starts, ends)
        _simhash_parallel(buf, _FOLD, starts, ends, out)
    elif _simhash_serial(buf, _FOLD, out) != n:
        raise ValueError(f"buf must hold {n} NUL-separated texts, got {_count_sep(buf) + 1}")
    return out


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().replace("\x00", " ")


def simhash_texts(texts: Sequence[str], *, parallel: bool = False) -> np.ndarray:
    """64-bit SimHash fingerprints (uint64[n]) of ``texts`` over word shingles.

    Identical normalised texts give identical fingerprints. ``parallel=True``
    spreads the texts over Numba's threads.
    """
    if isinstance(texts, str):
        raise TypeError("simhash_texts expects a sequence of str, got a single str")
    if not isinstance(texts, list):
        texts = list(texts)
    n = len(texts)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    joined = "\x00".join(texts)
    if joined.isascii():
        buf = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
        if parallel:
            if _count_sep(buf) == n - 1:
                return simhash_buffer(buf, n, parallel=True)
        else:
            out = np.empty(n, dtype=np.uint64)
            if _simhash_serial(buf, _FOLD, out) == n:  # (the kernel counts the NULs as it goes)
                return out
    else:
        # UTF-16 code units (a near copy of the joined str): an ASCII text keeps
        # one unit per byte, so only the texts with a unit >= 128 need folding.
        try:
            units = np.frombuffer(joined.encode("utf-16-le"), dtype=np.uint16)
        except UnicodeEncodeError:  # a lone surrogate: the fold path raises the usual error
            units = None
        mixed = None if units is None else _simhash_mixed(texts, units, parallel)
        if mixed is not None:
            return mixed
    # Rare path: a NUL inside a text (a space once folded).
    return _simhash_folded([t if t.isascii() and "\x00" not in t else _fold(t) for t in texts], parallel)


def _simhash_folded(folded: list[str], parallel: bool) -> np.ndarray:
    """SimHash of texts that are already folded and hold no NUL."""
    buf = np.frombuffer("\x00".join(folded).encode("utf-8"), dtype=np.uint8)
    return simhash_buffer(buf, len(folded), parallel=parallel)


def _simhash_mixed(texts: list[str], units: np.ndarray, parallel: bool) -> np.ndarray | None:
    """ASCII texts hashed from their UTF-16 units in one kernel call; the others folded
    one by one. None when a text holds a NUL."""
    n = len(texts)
    wide = np.empty(n, dtype=np.int64)
    m = _wide_texts(units, n, wide)
    if m < 0:
        return None
    fold = _fold_units()
    out = np.empty(n, dtype=np.uint64)
    if parallel:
        starts = np.empty(n, dtype=np.int64)
        ends = np.empty(n, dtype=np.int64)
        _split_offsets(units, n, starts, ends)
        _simhash_parallel(units, fold, starts, ends, out)
    else:
        _simhash_serial(units, fold, out)
    if m:  # their fingerprints from the units are not the folded texts': replace them
        idx = wide[:m]
        out[idx] = _simhash_folded([_fold(texts[i]) for i in idx.tolist()], parallel and m > _BLOCK)
    return out


@functools.cache
def _fold_units() -> np.ndarray:
    """``_FOLD`` for UTF-16 code units (uint8[65536]); units >= 256 count as word characters."""
    table = np.full(65536, 255, dtype=np.uint8)
    table[:256] = _FOLD
    return table


@jit()
def pack_signs(proj: np.ndarray, out: np.ndarray) -> None:
    """out[k] has bit i set iff proj[k, i] > 0 (proj: float32[n, 64])."""
    for k in range(proj.shape[0]):
        v = _U0
        for i in range(64):
            if proj[k, i] > 0:
                v |= _U1 << np.uint64(i)
        out[k] = v


@jit(fastmath=True)
def project_signs(vectors: np.ndarray, planes_t: np.ndarray, out: np.ndarray) -> None:
    """out[k, w] has bit i set iff vectors[k] @ planes_t[:, 64 * w + i] > 0.

    ``planes_t`` is the transposed plane matrix (d, 64 * words), so the inner
    loop runs along contiguous memory and vectorises; for a handful of rows
    this beats a BLAS call plus ``pack_signs``.
    """
    d, nplanes = planes_t.shape
    acc = np.empty(nplanes, np.float32)
    for k in range(vectors.shape[0]):
        acc[:] = 0.0
        for t in range(d):
            x = vectors[k, t]
            for i in range(nplanes):
                acc[i] += x * planes_t[t, i]
        for w in range(nplanes // 64):
            v = _U0
            for i in range(64):
                if acc[64 * w + i] > 0:
                    v |= _U1 << np.uint64(i)
            out[k, w] = v


@jit(fastmath=True)
def signs_of(vector: np.ndarray, planes: np.ndarray, out: np.ndarray) -> None:
    """out[w] has bit i set iff vector @ planes[64 * w + i] > 0 (one vector; planes as rows).

    Four planes at a time share each load of the vector.
    """
    nplanes, d = planes.shape
    for w in range(nplanes // 64):
        v = _U0
        for i in range(0, 64, 4):
            row = 64 * w + i
            s0 = np.float32(0.0)
            s1 = np.float32(0.0)
            s2 = np.float32(0.0)
            s3 = np.float32(0.0)
            for t in range(d):
                x = vector[t]
                s0 += x * planes[row, t]
                s1 += x * planes[row + 1, t]
                s2 += x * planes[row + 2, t]
                s3 += x * planes[row + 3, t]
            if s0 > 0:
                v |= _U1 << np.uint64(i)
            if s1 > 0:
                v |= _U1 << np.uint64(i + 1)
            if s2 > 0:
                v |= _U1 << np.uint64(i + 2)
            if s3 > 0:
                v |= _U1 << np.uint64(i + 3)
        out[w] = v


@jit(fastmath=True)
def project_signs_rows(vectors: np.ndarray, planes: np.ndarray, out: np.ndarray) -> None:
    """``project_signs`` with the planes as rows (planes: float32[64 * words, d]).

    Four planes at a time share each load of the vector: 2.4 against 3.2 us a
    vector for 128 planes of dim 384 (``benchmarks/kernel_throughput.py --only vectors``).
    """
    for k in range(vectors.shape[0]):
        signs_of(vectors[k], planes, out[k])


def simhash_vectors(vectors: np.ndarray, planes: np.ndarray) -> np.ndarray:
    """Random-hyperplane SimHash: bit i of row k set iff ``vectors[k] @ planes[i] > 0``."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    planes = np.ascontiguousarray(planes, dtype=np.float32)
    if vectors.ndim == 1:
        vectors = vectors[None, :]
    if planes.ndim != 2 or planes.shape[0] != 64:
        raise ValueError(f"planes must have shape (64, d), got {planes.shape}")
    if vectors.ndim != 2 or vectors.shape[1] != planes.shape[1]:
        raise ValueError(
            f"vectors must have shape (n, {planes.shape[1]}), got {vectors.shape}"
        )
    proj = np.ascontiguousarray(vectors @ planes.T)
    out = np.empty(vectors.shape[0], dtype=np.uint64)
    pack_signs(proj, out)
    return out


@jit()
def band_keys_into(fps: np.ndarray, bands: int, out: np.ndarray) -> None:
    """out[k, j] = bits [j*w, (j+1)*w) of fps[k], shifted down; w = 64 // bands."""
    w = 64 // bands
    mask = ~_U0 if w == 64 else (_U1 << np.uint64(w)) - _U1
    for k in range(fps.shape[0]):
        f = fps[k]
        for j in range(bands):
            out[k, j] = (f >> np.uint64(j * w)) & mask


_BANDS = (1, 2, 4, 8, 16)


def band_keys(fingerprints: np.ndarray, bands: int) -> np.ndarray:
    """Split 64-bit fingerprints into ``bands`` equal bands (uint64[n, bands])."""
    if bands not in _BANDS:
        raise ValueError(f"bands must be one of {_BANDS}, got {bands!r}")
    fps = np.ascontiguousarray(fingerprints, dtype=np.uint64).reshape(-1)
    out = np.empty((fps.shape[0], bands), dtype=np.uint64)
    band_keys_into(fps, bands, out)
    return out
