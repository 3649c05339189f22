"""Lexical evidence for the verifier: compact text profiles and pair features.

A profile is one uint64 array: a header (``HEADER`` slots: word count,
SimHash, negation parity, bit masks of the polar (group, polarity) codes,
question words and units, the direction field (bit 0: a direction word occurs;
bits 1-31 and 32-62: the content words that follow "to" and "from", by hash, see
``_direction_bit``), the section offsets), then sections: the sorted distinct 64-bit hashes of the words,
content words, canonical numbers and years, the names (pairs, sorted by the first:
the name's hash, then that of the name with an "s" after it, the word a possessive
"Google's" gives), the sorted distinct
character 3-grams of the padded word sequence, and last the word hashes in
text order. A 3-gram is coded exactly (three 21-bit code points), so
character Jaccard has no collisions; words, numbers and entities are string
hashes (FNV-1a over code points, then the splitmix64 finaliser), so two
different strings count as one only on a 64-bit collision (about n^2 / 2^64
for n distinct strings).

The word tables (stopwords, negations, number words, units, polar, question
and direction words) come as one uint64 array ``tables`` built by
``semcache._features``: an open-addressing table from word hash to packed
flags, then the hashes of the canonical unit names and number strings. IDF
weights come as an open-addressing table too (``fill_table``).

The profile kernels call ``simhash._simhash_span``; Numba's on-disk cache does
not notice edits to another module, so clear ``__pycache__`` after changing it.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit, popcount
from .simhash import _simhash_span

__all__ = [
    "FEATURES",
    "HEADER",
    "entities_codepoints",
    "fill_table",
    "hash_strings",
    "joined_ascii",
    "joined_codepoints",
    "linear_logit",
    "logistic",
    "logistic_bytes",
    "logistic_codepoints",
    "logistic_context",
    "long_mismatch",
    "order_swap",
    "pack_context",
    "pair_features",
    "plain_utf8",
    "profile_bytes",
    "profile_codepoints",
    "profile_folded",
]

# header slots of a profile
N_WORDS = 0
SIMHASH = 1
NEGATED = 2
POLAR = 3
WH = 4
UNITS = 5
DIRECTION = 6
OFFSETS = 7  # offsets of the sections, then of their end
WORDS, CONTENT, SHINGLES, NUMBERS, YEARS, ENTITIES, TOKENS = range(7)
HEADER = OFFSETS + 8
FEATURES = 18
X_SIMHASH = 4  # positions in the feature vector of the SimHash distance
X_CHARS = 6  # and of the character 3-gram Jaccard

# flags of a word in the tables (an id field holds id + 1, 0 for none)
F_STOP = 1
F_NEG = 2
F_DIR = 4
F_TO = 8  # "to", "into", "onto": the next content word is where something goes
F_FROM = 16  # "from": the next content word is where it comes from
F_WHEN = 32  # a when-word (today, monday ...): a unit never joined to the number before it
WH_SHIFT = 8
UNIT_SHIFT = 16
POLAR_SHIFT = 24
NUM_SHIFT = 32
# tables header: mask, pct unit id, unit-hash base, number-hash base
T_MASK = 0
T_PCT = 1
T_UNITS = 2
T_NUMS = 3
T_HEADER = 8

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_U0 = np.uint64(0)
_U1 = np.uint64(1)
_B8 = np.uint64(0xFF)
_S21 = np.uint64(21)
_S42 = np.uint64(42)
_APOS = 39
_SPACE = 32
# rows of the code-point property bitsets (built by ``semcache._features``; bit ``cp``
# of a row is set iff Python says so of ``chr(cp)``)
U_ALNUM = 0  # str.isalnum: the regex class [^\W_]
U_UPPER = 1  # str.isupper
U_SPACE = 2  # str.isspace: the regex class \s
U_DIGIT = 3  # str.isdigit
U_ROWS = 4
_SENTENCE_END = np.zeros(256, np.bool_)  # the class [.!?:;"\n] (the newline is handled apart)
for _c in b'.!?:;"':
    _SENTENCE_END[_c] = True


# -- strings ------------------------------------------------------------------------
@jit()
def _step(h: np.uint64, c: int) -> np.uint64:
    return (h ^ np.uint64(c)) * _FNV_PRIME


@jit()
def _finish(h: np.uint64, n: int) -> np.uint64:
    z = h ^ (np.uint64(n) * _GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * _MIX1  # the splitmix64 finaliser
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z ^= z >> np.uint64(31)
    return z if z != _U0 else _U1  # 0 marks an empty table slot


@jit()
def _lower(c: int) -> int:
    return c + 32 if 65 <= c <= 90 else c


@jit()
def _digit(c: int) -> bool:
    return 48 <= c <= 57


@jit()
def _alnum(c: int) -> bool:
    return (48 <= c <= 57) or (65 <= c <= 90) or (97 <= c <= 122)


@jit()
def _hash_state(buf: np.ndarray, s: int, e: int) -> tuple[np.uint64, int]:
    """The FNV-1a state over buf[s:e] lower-cased (ASCII letters), apostrophes left
    out, and how many characters it read: ``_finish`` makes the hash."""
    h = _FNV_OFFSET
    n = 0
    for p in range(s, e):
        c = _lower(np.int64(buf[p]))
        if c != _APOS:
            h = _step(h, c)
            n += 1
    return h, n


@jit()
def _hash_span(buf: np.ndarray, s: int, e: int) -> np.uint64:
    """Hash of buf[s:e] lower-cased (ASCII letters), apostrophes left out."""
    h, n = _hash_state(buf, s, e)
    out: np.uint64 = _finish(h, n)
    return out


@jit()
def _hash_span_and_plural(buf: np.ndarray, s: int, e: int) -> tuple[np.uint64, np.uint64]:
    """``_hash_span`` of buf[s:e], and of the same span with an "s" after it (a name
    written as a possessive, "Google's", is the word "googles")."""
    h, n = _hash_state(buf, s, e)
    return _finish(h, n), _finish(_step(h, 115), n + 1)


@jit()
def hash_strings(cps: np.ndarray, n: int) -> np.ndarray:
    """Hashes of the ``n`` NUL-separated strings in code points ``cps`` (uint32)."""
    out = np.empty(n, np.uint64)
    if n == 0:
        return out
    k = 0
    s = 0
    for p in range(cps.shape[0] + 1):
        if p == cps.shape[0] or cps[p] == 0:
            out[k] = _hash_span(cps, s, p)
            k += 1
            s = p + 1
    return out


@jit()
def fill_table(hashes: np.ndarray, values: np.ndarray, keys: np.ndarray, vals: np.ndarray) -> None:
    """Insert ``hashes -> values`` by linear probing (``keys``: zeros, length a power of 2)."""
    mask = keys.shape[0] - 1
    for k in range(hashes.shape[0]):
        h = hashes[k]
        i = np.int64(h & np.uint64(mask))
        while keys[i] != _U0 and keys[i] != h:
            i = (i + 1) & mask
        if keys[i] == _U0:
            keys[i] = h
            vals[i] = values[k]


@jit()
def _direction_bit(h: np.uint64, origin: bool) -> np.uint64:
    """The direction-field bit of a content word (hash ``h``) after "to" (bits 1-31) or
    after "from" (``origin``: the same bit 31 places up, bits 32-62)."""
    bit = _U1 + h % np.uint64(31)
    if origin:
        bit += np.uint64(31)
    return _U1 << bit


_TO_BITS = np.uint64(0xFFFFFFFE)


@jit()
def _to_from_swap(da: np.uint64, db: np.uint64) -> bool:
    """A word (by its bit) after "to" in one direction field and after "from" in the
    other, and in neither role in both (so that two words sharing a bit, one of 31,
    count only when their roles differ: "how to copy photos from X" against "how do I
    copy photos from X" shares X's "from" on both sides)."""
    a_to, a_from = da & _TO_BITS, (da >> np.uint64(31)) & _TO_BITS
    b_to, b_from = db & _TO_BITS, (db >> np.uint64(31)) & _TO_BITS
    one = a_to & b_from & ~a_from & ~b_to
    other = b_to & a_from & ~b_from & ~a_to
    return bool(one | other)


@jit()
def _lookup(tables: np.ndarray, h: np.uint64) -> np.uint64:
    mask = np.int64(tables[T_MASK])
    cap = mask + 1
    i = np.int64(h & np.uint64(mask))
    while True:
        key = tables[T_HEADER + i]
        if key == h:
            value: np.uint64 = tables[T_HEADER + cap + i]
            return value
        if key == _U0:
            return _U0
        i = (i + 1) & mask


@jit()
def _idf(keys: np.ndarray, vals: np.ndarray, h: np.uint64) -> float:
    mask = keys.shape[0] - 1
    i = np.int64(h & np.uint64(mask))
    while True:
        key = keys[i]
        if key == h:
            return float(vals[2 + i])
        if key == _U0:
            return float(vals[1])
        i = (i + 1) & mask


# -- profiles -----------------------------------------------------------------------
@jit()
def _digits_hash(buf: np.ndarray, s: int, e: int) -> np.uint64:
    """Hash of the digits of buf[s:e] with leading zeros stripped ("0" when none are left)."""
    h = _FNV_OFFSET
    n = 0
    for p in range(s, e):
        c = np.int64(buf[p])
        if _digit(c) and (n > 0 or c != 48):
            h = _step(h, c)
            n += 1
    if n == 0:
        h = _step(h, 48)
        n = 1
    out: np.uint64 = _finish(h, n)
    return out


@jit()
def _suffix_hash(buf: np.ndarray, s: int, e: int, skip: int) -> np.uint64:
    """Hash of the word buf[s:e] (apostrophes left out) from its character ``skip`` on."""
    h = _FNV_OFFSET
    n = 0
    k = 0
    for p in range(s, e):
        c = _lower(np.int64(buf[p]))
        if c == _APOS:
            continue
        if k >= skip:
            h = _step(h, c)
            n += 1
        k += 1
    out: np.uint64 = _finish(h, n)
    return out


@jit()
def _insertion_sort(s: np.ndarray, lo: int, hi: int) -> None:
    for i in range(lo + 1, hi):
        x = s[i]
        j = i - 1
        while j >= lo and s[j] > x:
            s[j + 1] = s[j]
            j -= 1
        s[j + 1] = x


@jit()
def _sort(s: np.ndarray, first: int, end: int) -> None:
    """Sort s[first:end] in place: quicksort (median of three) down to runs of 16, then
    insertion sort (by index range: no array view).

    np.sort costs about 0.4 us of set-up, more than sorting a short text's words.
    """
    if end - first > 16:
        stack = np.empty(128, np.int64)
        stack[0] = first
        stack[1] = end - 1
        top = 2
        while top:
            top -= 2
            lo = stack[top]
            hi = stack[top + 1]
            while hi - lo >= 16:
                mid = (lo + hi) >> 1
                if s[mid] < s[lo]:
                    s[mid], s[lo] = s[lo], s[mid]
                if s[hi] < s[lo]:
                    s[hi], s[lo] = s[lo], s[hi]
                if s[hi] < s[mid]:
                    s[hi], s[mid] = s[mid], s[hi]
                pivot = s[mid]
                i = lo
                j = hi
                while i <= j:
                    while s[i] < pivot:
                        i += 1
                    while pivot < s[j]:
                        j -= 1
                    if i <= j:
                        s[i], s[j] = s[j], s[i]
                        i += 1
                        j -= 1
                # recurse into the smaller part, loop on the larger (stack depth <= log2 n)
                if j - lo < hi - i:
                    stack[top] = i
                    stack[top + 1] = hi
                    hi = j
                else:
                    stack[top] = lo
                    stack[top + 1] = j
                    lo = i
                top += 2
    _insertion_sort(s, first, end)


@jit()
def _sort_unique_range(s: np.ndarray, lo: int, hi: int) -> int:
    """Sort s[lo:hi] in place and move its distinct values to s[lo:lo + m]; returns m."""
    n = hi - lo
    if n < 2:
        return n
    _sort(s, lo, hi)
    m = 1
    for k in range(lo + 1, hi):
        if s[k] != s[lo + m - 1]:
            s[lo + m] = s[k]
            m += 1
    return m


@jit()
def _sort_unique_pairs(s: np.ndarray) -> int:
    """Sort the (key, value) pairs interleaved in ``s`` by key, in place, and move the
    pairs of distinct keys to its front; returns how many slots they fill (2 a pair).
    Insertion sort: a text names few things."""
    m = 0
    for k in range(0, s.shape[0] - 1, 2):
        key, val = s[k], s[k + 1]
        p = m
        while p > 0 and s[p - 2] > key:
            p -= 2
        if p > 0 and s[p - 2] == key:
            continue
        q = m
        while q > p:
            s[q] = s[q - 2]
            s[q + 1] = s[q - 1]
            q -= 2
        s[p] = key
        s[p + 1] = val
        m += 2
    return m


@jit()
def _sort_unique(s: np.ndarray) -> np.ndarray:
    """Sort ``s`` in place; its distinct values, a prefix view of it."""
    out: np.ndarray = s[: _sort_unique_range(s, 0, s.shape[0])]
    return out


@jit()
def _build(
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    ntok: int,
    ents: np.ndarray,
    has_pct: bool,
    simhash: np.uint64,
    tables: np.ndarray,
    with_shingles: bool = True,
) -> np.ndarray:
    """The profile of the words buf[starts[t]:ends[t]] (see the module docstring);
    without ``with_shingles``, its 3-gram section is left empty."""
    # one scratch allocation: words (text order), sorted words, content, numbers, years
    work = np.empty(6 * ntok, np.uint64)
    words = work[:ntok]
    content = work[2 * ntok : 3 * ntok]
    nums = work[3 * ntok : 5 * ntok]
    years = work[5 * ntok :]
    nc = nn = ny = 0
    neg = 0
    direction = _U0
    pending = 0  # 1: the last direction word was a "to", 2: a "from" (until a content word)
    after_number = False  # the word before was a number (not a year)
    polar = _U0
    wh = _U0
    units = _U0
    chars = 0
    unit_base = np.int64(tables[T_UNITS])
    num_base = np.int64(tables[T_NUMS])
    for t in range(ntok):
        s = starts[t]
        e = ends[t]
        h = _FNV_OFFSET
        n = 0
        ndig = 0
        first_digit = False
        value = 0
        for p in range(s, e):
            c = _lower(np.int64(buf[p]))
            if c == _APOS:
                continue
            if _digit(c):
                if n == 0:
                    first_digit = True
                ndig += 1
                value = value * 10 + (c - 48)
            h = _step(h, c)
            n += 1
        hw = _finish(h, n)
        chars += n
        words[t] = hw
        v = _lookup(tables, hw)
        if v & np.uint64(F_STOP) == _U0:
            content[nc] = hw
            nc += 1
            if pending:
                direction |= _direction_bit(hw, pending == 2)
                pending = 0
        if v & np.uint64(F_NEG) != _U0:
            neg += 1
        if v & np.uint64(F_DIR) != _U0:
            direction |= _U1
        if v & np.uint64(F_TO) != _U0:
            pending = 1
        elif v & np.uint64(F_FROM) != _U0:
            pending = 2
        f = np.int64((v >> np.uint64(WH_SHIFT)) & _B8)
        if f:
            wh |= _U1 << np.uint64(f - 1)
        f = np.int64((v >> np.uint64(UNIT_SHIFT)) & _B8)
        if f:
            units |= _U1 << np.uint64(f - 1)
        f = np.int64((v >> np.uint64(POLAR_SHIFT)) & _B8)
        if f:
            polar |= _U1 << np.uint64(f - 1)
        f = np.int64((v >> np.uint64(NUM_SHIFT)) & _B8)
        uw = np.int64((v >> np.uint64(UNIT_SHIFT)) & _B8)
        was_number = after_number
        after_number = True
        if ndig == n:
            if n == 4 and 1000 <= value <= 2199:
                years[ny] = hw
                ny += 1
                after_number = False
            else:
                nums[nn] = _digits_hash(buf, s, e)
                nn += 1
        elif f:
            nums[nn] = tables[num_base + f - 1]
            nn += 1
        elif first_digit:
            nums[nn] = _digits_hash(buf, s, e)
            nn += 1
            v = _lookup(tables, _suffix_hash(buf, s, e, ndig))
            u = np.int64((v >> np.uint64(UNIT_SHIFT)) & _B8)
            if u:
                nums[nn] = tables[unit_base + u - 1]
                nn += 1
        else:
            after_number = False
            if uw and was_number and v & np.uint64(F_WHEN) == _U0:  # "5 km" as "5km": the unit joins the numbers
                nums[nn] = tables[unit_base + uw - 1]
                nn += 1
    if has_pct:
        units |= _U1 << tables[T_PCT]
    # the character 3-grams of " " + " ".join(words) + " "
    plen = chars + max(ntok - 1, 0) + 2 if with_shingles else 2
    shingles = np.empty(plen - 2, np.uint64)
    x0 = _U0  # the last two characters of the padded text so far
    x1 = np.uint64(_SPACE)
    q = 1  # characters so far
    for t in range(ntok + 1 if with_shingles else 0):
        if t > 0:
            x2 = np.uint64(_SPACE)
            if q >= 2:
                shingles[q - 2] = (x0 << _S42) | (x1 << _S21) | x2
            x0, x1 = x1, x2
            q += 1
        if t == ntok:
            break
        for p in range(starts[t], ends[t]):
            c = _lower(np.int64(buf[p]))
            if c != _APOS:
                x2 = np.uint64(c)
                if q >= 2:
                    shingles[q - 2] = (x0 << _S42) | (x1 << _S21) | x2
                x0, x1 = x1, x2
                q += 1
    # each section sorted and made distinct in place, by index range: no array views
    # (a view and a call cost ~60 ns each, more than sorting a short text's section)
    for t in range(ntok):
        work[ntok + t] = words[t]
    starts_of = (ntok, 2 * ntok, 0, 3 * ntok, 5 * ntok, 0)
    sizes = (
        _sort_unique_range(work, ntok, 2 * ntok),
        _sort_unique_range(work, 2 * ntok, 2 * ntok + nc),
        _sort_unique_range(shingles, 0, shingles.shape[0]),
        _sort_unique_range(work, 3 * ntok, 3 * ntok + nn),
        _sort_unique_range(work, 5 * ntok, 5 * ntok + ny),
        _sort_unique_pairs(ents),
    )
    total = HEADER + ntok
    for m in sizes:
        total += m
    out = np.empty(total, np.uint64)
    out[N_WORDS] = ntok
    out[SIMHASH] = simhash
    out[NEGATED] = neg % 2
    out[POLAR] = polar
    out[WH] = wh
    out[UNITS] = units
    out[DIRECTION] = direction
    pos = HEADER
    for i in range(6):
        src = shingles if i == 2 else ents if i == 5 else work
        lo = starts_of[i]
        out[OFFSETS + i] = pos
        for k in range(sizes[i]):
            out[pos + k] = src[lo + k]
        pos += sizes[i]
    out[OFFSETS + 6] = pos
    for t in range(ntok):
        out[pos + t] = words[t]
    pos += ntok
    out[OFFSETS + 7] = pos
    return out


@jit()
def _upper(c: int) -> bool:
    return 65 <= c <= 90


@jit()
def _lower_letter(c: int) -> bool:
    return 97 <= c <= 122


@jit()
def _space(c: int) -> bool:
    return c == 32 or 9 <= c <= 13 or 28 <= c <= 31


@jit()
def plain_utf8(buf: bytes, symbols: np.ndarray) -> bool:
    """Whether every character beyond ASCII in UTF-8 ``buf`` has its bit set in
    ``symbols`` (a bitset over code points: the plain symbols)."""
    n = len(buf)
    p = 0
    while p < n:
        c = np.int64(buf[p])
        if c < 128:
            p += 1
            continue
        k = 3 if c >= 0xF0 else 2 if c >= 0xE0 else 1
        cp = c & (0x3F >> k)
        for j in range(1, k + 1):
            cp = (cp << 6) | (np.int64(buf[p + j]) & 0x3F)
        p += k + 1
        if (symbols[cp >> 6] >> np.uint64(cp & 63)) & _U1 == _U0:
            return False
    return True


@jit()
def profile_bytes(
    buf: bytes,
    has_simhash: bool,
    simhash: np.uint64,
    tables: np.ndarray,
    symbols: np.ndarray,
    with_shingles: bool = True,
) -> np.ndarray:
    """The profile of a text from its UTF-8 bytes, read as ASCII with every other byte a
    symbol; SimHash computed unless given. Empty when a character beyond ASCII is not a
    plain symbol (see ``plain_utf8``): such text needs Unicode rules."""
    if not plain_utf8(buf, symbols):
        return np.empty(0, np.uint64)
    starts, ends, ntok = _ascii_words(buf)
    out: np.ndarray = _profile_of_words(buf, starts, ends, ntok, has_simhash, simhash, tables, with_shingles)
    return out


@jit()
def _ascii_words(buf: bytes) -> tuple[np.ndarray, np.ndarray, int]:
    """The word spans of plain text's bytes (see ``_tokenize``) and their count."""
    n = len(buf)
    starts = np.empty(n // 2 + 1, np.int64)
    ends = np.empty(n // 2 + 1, np.int64)
    return starts, ends, _tokenize(buf, None, starts, ends)


@jit()
def _profile_of_words(
    buf: bytes,
    starts: np.ndarray,
    ends: np.ndarray,
    ntok: int,
    has_simhash: bool,
    simhash: np.uint64,
    tables: np.ndarray,
    with_shingles: bool,
) -> np.ndarray:
    """``profile_bytes`` once the text is known to be plain and split into words."""
    if not has_simhash:
        simhash = _simhash_span(buf, 0, len(buf), np.empty(64, np.int32))
    ents, _ = _entities(buf, None)
    out: np.ndarray = _build(buf, starts, ends, ntok, ents, _has_pct(buf), simhash, tables, with_shingles)
    return out


# -- text beyond ASCII: the same rules over code points -------------------------------


@jit()
def _has(props: np.ndarray, row: int, cp: int) -> bool:
    found: bool = (props[row, cp >> 6] >> np.uint64(cp & 63)) & _U1 != _U0
    return found


@jit()
def _is(props: np.ndarray | None, row: int, c: int) -> bool:
    """Whether character ``c`` is in class ``row`` (``U_*``): by ASCII's rules below 128
    (Python's there), by the bitsets above. ``props`` None: UTF-8 bytes of plain text,
    whose bytes >= 128 are parts of plain symbols, in no class (Numba compiles that case
    apart, with the branch gone)."""
    found: bool
    if c < 128:
        if row == U_ALNUM:
            found = _alnum(c)
        elif row == U_SPACE:
            found = _space(c)
        elif row == U_UPPER:
            found = _upper(c)
        else:
            found = _digit(c)
    elif props is None:
        found = False
    else:
        found = _has(props, row, c)
    return found


@jit()
def _tokenize(buf: np.ndarray, props: np.ndarray | None, starts: np.ndarray, ends: np.ndarray) -> int:
    """Spans of ``[^\\W_]+(?:'[^\\W_]+)?`` in ``buf`` (bytes of plain text with ``props`` None,
    or code points); returns their count."""
    n = len(buf)
    ntok = 0
    p = 0
    while p < n:
        if not _is(props, U_ALNUM, np.int64(buf[p])):
            p += 1
            continue
        s = p
        while p < n and _is(props, U_ALNUM, np.int64(buf[p])):
            p += 1
        if p + 1 < n and buf[p] == _APOS and _is(props, U_ALNUM, np.int64(buf[p + 1])):
            p += 1
            while p < n and _is(props, U_ALNUM, np.int64(buf[p])):
                p += 1
        starts[ntok] = s
        ends[ntok] = p
        ntok += 1
    return ntok


@jit()
def _word_char(props: np.ndarray | None, c: int) -> bool:
    return c == 95 or _is(props, U_ALNUM, c)


@jit()
def _sentence_start(buf: np.ndarray, p: int, props: np.ndarray | None) -> bool:
    """Whether the regex ``(?:^|[.!?:;"\\n]\\s*)([A-Z][\\w']*)`` finds a group at ``p``."""
    if p == 0:
        return True
    i = p - 1
    while i >= 0 and _is(props, U_SPACE, np.int64(buf[i])):
        if buf[i] == 10:
            return True
        i -= 1
    return i >= 0 and buf[i] < 128 and _SENTENCE_END[buf[i]]


@jit()
def _entities(buf: np.ndarray, props: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The names in a text as written (the rules of ``_features._entities``: the name
    patterns are ASCII ([A-Z], [a-z], [0-9]) while word characters, spaces, capitals and
    digits follow Unicode): for those that are ASCII, the hash of each and of it with an
    "s" after it (interleaved, as the profile keeps them), and the (start, end)
    spans of the others, which only Python can fold (NFKC, casefold). Plain text's bytes
    (``props`` None) have only ASCII names."""
    n = len(buf)
    out = np.empty(n + 2, np.uint64)
    odd = np.empty(0 if props is None else n + 2, np.int64)  # (plain bytes: no odd names)
    m = 0
    k_odd = 0
    p = 0
    while p < n:
        c = np.int64(buf[p])
        if not _word_char(props, c):
            p += 1
            continue
        r = p
        while r < n and _word_char(props, np.int64(buf[r])):
            r += 1
        e = -1
        if p > 0 and buf[p - 1] == _APOS:
            e = -1  # the lookbehind (?<![\w']) fails
        elif _upper(c):
            for k in range(p + 1, r):
                if _upper(np.int64(buf[k])) or _digit(np.int64(buf[k])):
                    e = r
                    break
            if e < 0:
                k = p + 1
                while k < r and (_lower_letter(np.int64(buf[k])) or _digit(np.int64(buf[k]))):
                    k += 1
                if k > p + 1:
                    e = k
        elif _lower_letter(c):
            k = p
            while k < n and _lower_letter(np.int64(buf[k])):
                k += 1
            if k < n and _upper(np.int64(buf[k])):
                e = r
        if e > 0:
            keep = True
            if _upper(c) and _sentence_start(buf, p, props):
                keep = False
                for k in range(p, e):
                    ck = np.int64(buf[k])
                    if (k > p and _is(props, U_UPPER, ck)) or _is(props, U_DIGIT, ck):
                        keep = True
                        break
            if keep:
                ascii_only = True
                if props is not None:  # (in plain bytes every name is ASCII)
                    for k in range(p, e):
                        if buf[k] >= 128:
                            ascii_only = False
                            break
                if ascii_only:
                    out[m], out[m + 1] = _hash_span_and_plural(buf, p, e)
                    m += 2
                else:
                    odd[k_odd] = p
                    odd[k_odd + 1] = e
                    k_odd += 2
        p = r
    return out[:m], odd[:k_odd]


@jit()
def entities_codepoints(cps: np.ndarray, props: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_entities`` of a text of any script, as uint32 code points, unfolded."""
    found: tuple[np.ndarray, np.ndarray] = _entities(cps, props)
    return found


@jit()
def profile_codepoints(
    text: np.ndarray,
    cps: np.ndarray,
    norm_utf8: bytes,
    has_simhash: bool,
    simhash: np.uint64,
    tables: np.ndarray,
    props: np.ndarray,
    with_shingles: bool = True,
) -> np.ndarray:
    """The profile of a text of any script from its code points (uint32) as written
    (``text``, for the names and the percent sign) and folded (``cps``: NFKC, casefold),
    and the folded text in UTF-8 (for the SimHash unless given). Empty when a word holds a
    digit beyond ASCII (such numbers follow Python's ``int`` and ``isdigit``); one slot
    when a name holds a letter beyond ASCII (only Python folds it: see
    ``entities_codepoints`` and ``profile_folded``)."""
    ents, odd = entities_codepoints(text, props)
    if odd.shape[0]:
        return np.zeros(1, np.uint64)
    has_pct = _has_pct(text)
    out: np.ndarray = profile_folded(cps, ents, has_pct, norm_utf8, has_simhash, simhash, tables, props, with_shingles)
    return out


@jit()
def _has_pct(text: np.ndarray | bytes) -> bool:
    """Whether the text (code points, or UTF-8 bytes) holds a '%'."""
    for p in range(len(text)):  # noqa: SIM110 (a loop that Numba compiles plainly)
        if text[p] == 37:
            return True
    return False


@jit()
def profile_folded(
    cps: np.ndarray,
    ents: np.ndarray,
    has_pct: bool,
    norm_utf8: bytes,
    has_simhash: bool,
    simhash: np.uint64,
    tables: np.ndarray,
    props: np.ndarray,
    with_shingles: bool = True,
) -> np.ndarray:
    """``profile_codepoints`` given the hashes of the names (pairs, as ``_entities``
    gives them: sorted here) and whether the text holds a percent sign."""
    starts, ends, ntok = _folded_words(cps, props)
    if ntok < 0:
        return np.empty(0, np.uint64)
    if not has_simhash:
        simhash = _simhash_span(norm_utf8, 0, len(norm_utf8), np.empty(64, np.int32))
    out: np.ndarray = _build(cps, starts, ends, ntok, ents, has_pct, simhash, tables, with_shingles)
    return out


@jit()
def _folded_words(cps: np.ndarray, props: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """The word spans of folded text (code points) and their count; -1 when a word
    holds a digit beyond ASCII."""
    n = cps.shape[0]
    starts = np.empty(n // 2 + 1, np.int64)
    ends = np.empty(n // 2 + 1, np.int64)
    for p in range(n):
        cp = np.int64(cps[p])
        if cp >= 128 and _has(props, U_DIGIT, cp):
            return starts, ends, -1
    return starts, ends, _tokenize(cps, props, starts, ends)


@jit()
def _joined(buf: np.ndarray, props: np.ndarray | None) -> np.ndarray:
    """The words of ``buf`` (as ``_tokenize`` reads it), lower-cased (ASCII letters),
    apostrophes left out, joined by spaces (uint32 code points)."""
    n = len(buf)
    starts = np.empty(n // 2 + 1, np.int64)
    ends = np.empty(n // 2 + 1, np.int64)
    ntok = _tokenize(buf, props, starts, ends)
    out = np.empty(n, np.uint32)
    q = 0
    for t in range(ntok):
        if t:
            out[q] = _SPACE
            q += 1
        for p in range(starts[t], ends[t]):
            c = _lower(np.int64(buf[p]))
            if c != _APOS:
                out[q] = c
                q += 1
    return out[:q].copy()


@jit()
def joined_codepoints(cps: np.ndarray, props: np.ndarray) -> np.ndarray:
    """The words of folded text (code points) joined by spaces, apostrophes left out."""
    out: np.ndarray = _joined(cps, props)
    return out


@jit()
def joined_ascii(buf: bytes) -> np.ndarray:
    """The lower-cased words of plain text's UTF-8 bytes joined by spaces (uint32 code points)."""
    out: np.ndarray = _joined(buf, None)
    return out


# -- pairs --------------------------------------------------------------------------
@jit()
def _intersection(
    a: np.ndarray, i: int, i_end: int, b: np.ndarray, j: int, j_end: int
) -> int:
    m = 0
    while i < i_end and j < j_end:
        if a[i] < b[j]:
            i += 1
        elif b[j] < a[i]:
            j += 1
        else:
            m += 1
            i += 1
            j += 1
    return m


@jit()
def _jaccard(a: np.ndarray, b: np.ndarray, sec: int) -> float:
    i, i_end = np.int64(a[OFFSETS + sec]), np.int64(a[OFFSETS + sec + 1])
    j, j_end = np.int64(b[OFFSETS + sec]), np.int64(b[OFFSETS + sec + 1])
    na = i_end - i
    nb = j_end - j
    if na == 0 and nb == 0:
        return 1.0
    inter = _intersection(a, i, i_end, b, j, j_end)
    value: float = inter / (na + nb - inter)
    return value


@jit()
def _same(a: np.ndarray, b: np.ndarray, sec: int) -> bool:
    i, i_end = np.int64(a[OFFSETS + sec]), np.int64(a[OFFSETS + sec + 1])
    j, j_end = np.int64(b[OFFSETS + sec]), np.int64(b[OFFSETS + sec + 1])
    n = i_end - i
    if n != j_end - j:
        return False
    k = 0
    while k < n and a[i + k] == b[j + k]:
        k += 1
    return k == n


@jit()
def _holds(b: np.ndarray, j: int, j_end: int, x: np.uint64) -> bool:
    """Whether the sorted b[j:j_end] holds ``x`` (binary search)."""
    while j < j_end:
        mid = (j + j_end) >> 1
        if b[mid] < x:
            j = mid + 1
        elif b[mid] > x:
            j_end = mid
        else:
            return True
    return False


@jit()
def _names_outside(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether ``a`` names something ``b`` does not hold among its words, as written or
    with an "s" after it (a possessive, "Google's": the word "googles")."""
    i, i_end = np.int64(a[OFFSETS + ENTITIES]), np.int64(a[OFFSETS + ENTITIES + 1])
    j, j_end = np.int64(b[OFFSETS + WORDS]), np.int64(b[OFFSETS + WORDS + 1])
    while i < i_end:
        if not (_holds(b, j, j_end, a[i]) or _holds(b, j, j_end, a[i + 1])):
            return True
        i += 2
    return False


@jit()
def _both_differ(x: np.uint64, y: np.uint64) -> bool:
    """Both non-empty and different."""
    both: bool = min(x, y) != _U0 and x != y
    return both


@jit()
def _polar_clash(pa: np.uint64, pb: np.uint64) -> bool:
    for g in range(32):
        ma = (pa >> np.uint64(2 * g)) & np.uint64(3)
        mb = (pb >> np.uint64(2 * g)) & np.uint64(3)
        if _both_differ(ma, mb):
            return True
    return False


@jit()
def _positive(x: float) -> float:
    return x if x > 0.0 else 0.0  # Python's max(0.0, x)


@jit()
def pair_features(
    a: np.ndarray, b: np.ndarray, cosine: float, keys: np.ndarray, vals: np.ndarray, out: np.ndarray
) -> None:
    """The feature vector of profiles ``a`` (query) and ``b`` (cached) into ``out``.

    ``keys``/``vals``: the IDF table (vals[0] 1.0 when there are weights,
    vals[1] the default weight, vals[2 + i] the weight of keys[i]).
    """
    wj = _jaccard(a, b, WORDS)
    # content words: symmetric difference and union, IDF-weighted
    i, i_end = np.int64(a[OFFSETS + CONTENT]), np.int64(a[OFFSETS + CONTENT + 1])
    j, j_end = np.int64(b[OFFSETS + CONTENT]), np.int64(b[OFFSETS + CONTENT + 1])
    use_idf = vals[0] != 0.0
    n_diff = 0
    n_union = 0
    s_diff = 0.0
    s_union = 0.0
    while i < i_end or j < j_end:
        if j == j_end or (i < i_end and a[i] < b[j]):
            x = a[i]
            i += 1
            diff = True
        elif i == i_end or b[j] < a[i]:
            x = b[j]
            j += 1
            diff = True
        else:
            x = a[i]
            i += 1
            j += 1
            diff = False
        n_union += 1
        if use_idf:
            w = _idf(keys, vals, x)
            s_union += w
            if diff:
                s_diff += w
        if diff:
            n_diff += 1
    if use_idf:
        if s_union == 0.0:
            s_union = 1.0
        idf_diff = s_diff / s_union
    else:
        idf_diff = n_diff / max(1, n_union)
    na = np.int64(a[N_WORDS])
    nb = np.int64(b[N_WORDS])
    lo = min(na, nb)
    hi = max(na, nb)
    out[0] = 1.0
    out[1] = cosine
    out[2] = _positive(cosine - 0.9) * 10.0
    out[3] = _positive(cosine - 0.95) * 20.0
    out[X_SIMHASH] = popcount(a[SIMHASH] ^ b[SIMHASH]) / 64.0  # type: ignore[call-arg]
    out[5] = wj
    out[X_CHARS] = _jaccard(a, b, SHINGLES)
    out[7] = lo / hi if hi else 1.0
    out[8] = idf_diff
    out[9] = np.log1p(float(n_diff))
    out[10] = 0.0 if _same(a, b, NUMBERS) else 1.0
    out[11] = 0.0 if _same(a, b, YEARS) else 1.0
    out[12] = 0.0 if a[NEGATED] == b[NEGATED] else 1.0
    out[13] = 1.0 if _names_outside(a, b) or _names_outside(b, a) else 0.0
    out[14] = 1.0 if _both_differ(a[UNITS], b[UNITS]) else 0.0
    out[15] = 1.0 if _polar_clash(a[POLAR], b[POLAR]) else 0.0
    out[16] = 1.0 if _both_differ(a[WH], b[WH]) else 0.0
    out[17] = cosine * wj


@jit()
def _content_order(a: np.ndarray) -> np.ndarray:
    """The content words in order of first occurrence."""
    c0, c1 = np.int64(a[OFFSETS + CONTENT]), np.int64(a[OFFSETS + CONTENT + 1])
    content = a[c0:c1]
    seen = np.zeros(c1 - c0, np.bool_)
    out = np.empty(c1 - c0, np.uint64)
    m = 0
    for p in range(np.int64(a[OFFSETS + TOKENS]), np.int64(a[OFFSETS + TOKENS + 1])):
        k = np.searchsorted(content, a[p])
        if k < content.shape[0] and content[k] == a[p] and not seen[k]:
            seen[k] = True
            out[m] = a[p]
            m += 1
    return out[:m]


@jit()
def order_swap(a: np.ndarray, b: np.ndarray) -> bool:
    """The same content words (at least two) in another order, around a direction word,
    or one of them after "to" in one text and after "from" in the other."""
    if not _same(a, b, CONTENT) or a[OFFSETS + CONTENT + 1] - a[OFFSETS + CONTENT] < 2:
        return False
    if _same(a, b, TOKENS) or (a[DIRECTION] == _U0 and b[DIRECTION] == _U0):
        return False
    if _to_from_swap(a[DIRECTION], b[DIRECTION]):
        return True
    sa = _content_order(a)
    sb = _content_order(b)
    if sa.shape[0] != sb.shape[0]:
        return True
    k = 0
    while k < sa.shape[0] and sa[k] == sb[k]:
        k += 1
    differ: bool = k < sa.shape[0]
    return differ


@jit()
def _over_limit(model: np.ndarray, n_words: int) -> bool:
    """Whether a text of ``n_words`` words calls for the long-prompt guard under
    ``model`` (packed as for ``logistic``: its last entry is the limit, < 0: none)."""
    limit = model[FEATURES + 1]
    return bool(limit >= 0.0 and n_words > limit)


@jit()
def linear_logit(
    a: np.ndarray,
    b: np.ndarray,
    cosine: float,
    keys: np.ndarray,
    vals: np.ndarray,
    model: np.ndarray,
    out: np.ndarray,
) -> float:
    """``features(a, b)`` into ``out`` and their logit ``out @ w``, plus the swap prior
    on an order swap (not clipped); NaN when either text is longer than the
    long-prompt limit (the caller checks the guard, then calls again without it).

    ``model`` is packed as for ``logistic``.
    """
    if _over_limit(model, max(a[N_WORDS], b[N_WORDS])):
        return np.nan
    z: float = _logit(a, b, cosine, keys, vals, model, out)
    return z


@jit()
def _logit(
    a: np.ndarray,
    b: np.ndarray,
    cosine: float,
    keys: np.ndarray,
    vals: np.ndarray,
    model: np.ndarray,
    out: np.ndarray,
) -> float:
    """``linear_logit`` whatever the texts' lengths (no long-prompt guard)."""
    pair_features(a, b, cosine, keys, vals, out)
    z = 0.0
    for k in range(FEATURES):
        z += out[k] * model[k]
    swap_prior = model[FEATURES]
    if swap_prior != 0.0 and order_swap(a, b):
        z += swap_prior
    return z


@jit()
def logistic(
    a: np.ndarray,
    b: np.ndarray,
    cosine: float,
    keys: np.ndarray,
    vals: np.ndarray,
    model: np.ndarray,
) -> float:
    """sigmoid(features(a, b) @ w, plus the swap prior on an order swap), the logit
    clipped to [-40, 40]; -1.0 when either text is longer than the long-prompt limit
    (the caller checks the guard, then calls again without the limit).

    ``model``: the weights w (FEATURES), the swap prior, the word limit (< 0: none).
    """
    x = np.empty(FEATURES, np.float64)
    z = linear_logit(a, b, cosine, keys, vals, model, x)
    if np.isnan(z):
        return -1.0
    p: float = _sigmoid(z)
    return p


@jit()
def _sigmoid(z: float) -> float:
    z = min(max(z, -40.0), 40.0)
    p: float = 1.0 / (1.0 + np.exp(-z))
    return p


@jit()
def _query_score(
    a: np.ndarray,
    b: np.ndarray,
    cosine: float,
    keys: np.ndarray,
    vals: np.ndarray,
    model: np.ndarray,
    long_pair: bool,
    at_least: float,
) -> float:
    """What the one-call kernels return for the query's profile ``a``: the probability,
    or for a pair that calls for the long-prompt guard its probability without the
    guard where that stays below ``at_least`` (the guard could only lower it), else -1.0."""
    p: float = _sigmoid(_logit(a, b, cosine, keys, vals, model, np.empty(FEATURES, np.float64)))
    return -1.0 if long_pair and p >= at_least else p


@jit()
def logistic_bytes(
    buf: bytes,
    b: np.ndarray,
    cosine: float,
    tables: np.ndarray,
    symbols: np.ndarray,
    keys: np.ndarray,
    vals: np.ndarray,
    model: np.ndarray,
    at_least: float = 0.0,
) -> float:
    """``logistic(profile_bytes(buf, ...), b, ..., at_least)`` of ``semcache._features``
    in one call, for a query scored against one cached profile: the query's SimHash and
    3-grams are only made when the model weighs them (a feature of weight 0 adds exactly
    0 to the logit), and its profile is not kept. -2.0 when the text needs the Unicode
    path (see ``profile_bytes``), -1.0 when the long-prompt guard must be checked (a
    long pair whose probability without it reaches ``at_least``); the caller then takes
    the general path. With ``at_least`` 0 that is known from the word counts, before the
    query's profile is made for nothing."""
    long_pair = _over_limit(model, b[N_WORDS])
    if long_pair and at_least <= 0.0:
        return -1.0
    if not plain_utf8(buf, symbols):
        return -2.0
    starts, ends, ntok = _ascii_words(buf)
    long_pair = long_pair or _over_limit(model, ntok)
    if long_pair and at_least <= 0.0:
        return -1.0
    a = _profile_of_words(buf, starts, ends, ntok, model[X_SIMHASH] == 0.0, _U0, tables, model[X_CHARS] != 0.0)
    p: float = _query_score(a, b, cosine, keys, vals, model, long_pair, at_least)
    return p


@jit()
def logistic_context(buf: bytes, b: np.ndarray, cosine: float, ctx: np.ndarray, at_least: float) -> float:
    """``logistic_bytes`` with its fixed tables packed in one array by ``pack_context``:
    the caller passes (and Numba unboxes) five arguments instead of nine."""
    p: float = logistic_bytes(
        buf,
        b,
        cosine,
        ctx[ctx[0] : ctx[1]],
        ctx[ctx[1] : ctx[2]],
        ctx[ctx[2] : ctx[3]],
        ctx[ctx[3] : ctx[4]].view(np.float64),
        ctx[ctx[4] : ctx[5]].view(np.float64),
        at_least,
    )
    return p


def pack_context(
    tables: np.ndarray, symbols: np.ndarray, keys: np.ndarray, vals: np.ndarray, model: np.ndarray
) -> np.ndarray:
    """The arguments of ``logistic_bytes`` that stay fixed for one verifier (the word
    tables, the symbol bits, the IDF table's keys and weights, the model), in one uint64
    array for ``logistic_context``: six offsets, then the arrays (float64 ones as bits)."""
    parts = [tables, symbols, keys, vals.view(np.uint64), model.view(np.uint64)]
    offsets = np.cumsum([6] + [x.shape[0] for x in parts]).astype(np.uint64)
    return np.ascontiguousarray(np.concatenate([offsets, *parts]))


@jit()
def logistic_codepoints(
    text: np.ndarray,
    cps: np.ndarray,
    norm_utf8: bytes,
    b: np.ndarray,
    cosine: float,
    tables: np.ndarray,
    props: np.ndarray,
    keys: np.ndarray,
    vals: np.ndarray,
    model: np.ndarray,
    at_least: float = 0.0,
) -> float:
    """``logistic_bytes`` for a query of any script, given as ``profile_codepoints``
    takes it (``norm_utf8`` is only read when the model weighs the SimHash). -2.0 when
    the query's profile needs Python (a name or a digit beyond ASCII), -1.0 as for
    ``logistic_bytes``."""
    long_pair = _over_limit(model, b[N_WORDS])
    if long_pair and at_least <= 0.0:
        return -1.0
    ents, odd = entities_codepoints(text, props)
    starts, ends, ntok = _folded_words(cps, props)
    if odd.shape[0] or ntok < 0:
        return -2.0
    long_pair = long_pair or _over_limit(model, ntok)
    if long_pair and at_least <= 0.0:
        return -1.0
    has_simhash = model[X_SIMHASH] == 0.0
    simhash = _U0 if has_simhash else _simhash_span(norm_utf8, 0, len(norm_utf8), np.empty(64, np.int32))
    a = _build(cps, starts, ends, ntok, ents, _has_pct(text), simhash, tables, model[X_CHARS] != 0.0)
    p: float = _query_score(a, b, cosine, keys, vals, model, long_pair, at_least)
    return p


@jit()
def _middle_shingles(x: np.ndarray, s: int, e: int) -> np.ndarray:
    """Sorted unique codes of {d[i:i+3] for i in range(max(1, len(d) - 2))}, d = x[s:e]."""
    n = e - s
    if n < 3:
        code = _U0
        for k in range(n):
            code |= np.uint64(x[s + k]) << np.uint64(42 - 21 * k)
        one = np.empty(1, np.uint64)
        one[0] = code
        return one
    sh = np.empty(n - 2, np.uint64)
    for k in range(n - 2):
        p = s + k
        sh[k] = (np.uint64(x[p]) << _S42) | (np.uint64(x[p + 1]) << _S21) | np.uint64(x[p + 2])
    out: np.ndarray = _sort_unique(sh)
    return out


@jit()
def _spans(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[0]
    starts = np.empty(n // 2 + 1, np.int64)
    ends = np.empty(n // 2 + 1, np.int64)
    m = 0
    s = 0
    for p in range(n + 1):
        if p == n or x[p] == _SPACE:
            if p > s:
                starts[m] = s
                ends[m] = p
                m += 1
            s = p + 1
    return starts[:m], ends[:m]


@jit()
def _same_token(
    x: np.ndarray, xs: int, xe: int, y: np.ndarray, ys: int, ye: int
) -> bool:
    n = xe - xs
    if n != ye - ys:
        return False
    k = 0
    while k < n and x[xs + k] == y[ys + k]:
        k += 1
    return k == n


@jit()
def long_mismatch(x: np.ndarray, y: np.ndarray) -> bool:
    """The long-prompt guard on two word sequences joined by spaces (uint32 code points):
    outside their common prefix and suffix words, character 3-gram Jaccard < 0.9."""
    if _same_token(x, 0, x.shape[0], y, 0, y.shape[0]):
        return False
    xs, xe = _spans(x)
    ys, ye = _spans(y)
    nx = xs.shape[0]
    ny = ys.shape[0]
    m = min(nx, ny)
    lo = 0
    while lo < m and _same_token(x, xs[lo], xe[lo], y, ys[lo], ye[lo]):
        lo += 1
    hi = 0
    while hi < m - lo and _same_token(
        x, xs[nx - 1 - hi], xe[nx - 1 - hi], y, ys[ny - 1 - hi], ye[ny - 1 - hi]
    ):
        hi += 1
    a0, a1 = (xs[lo], xe[nx - hi - 1]) if lo < nx - hi else (0, 0)
    b0, b1 = (ys[lo], ye[ny - hi - 1]) if lo < ny - hi else (0, 0)
    sa = _middle_shingles(x, a0, a1)
    sb = _middle_shingles(y, b0, b1)
    inter = _intersection(sa, 0, sa.shape[0], sb, 0, sb.shape[0])
    union = sa.shape[0] + sb.shape[0] - inter
    mismatch: bool = inter / max(1, union) < 0.9
    return mismatch
