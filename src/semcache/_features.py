"""Lexical evidence for the hit decision: a profile per text, features per pair.

A profile is computed once per text (at put for cached prompts, at lookup for
the query, and only when some candidate is close enough to matter), so
scoring a candidate is a few merges of short sorted arrays.

The features say how much two texts agree beyond their embedding: SimHash
distance of the whole normalised text, word and character overlap, length
ratio, rare-word (IDF-weighted) difference, and flags for the small changes
that flip an answer: numbers, years, negation, named entities, units,
comparison or direction words, and the question word.

Two implementations compute the same features. ``profile_reference`` and
``features_reference`` are plain Python over sets of strings: the definition
and the test oracle. ``profile`` and ``features`` are the fast path: a
profile is one uint64 array of sorted hashes and codes
(``semcache.kernels.lexical``), made and compared by Numba kernels. They give
the same vector (to rounding) except when two different words share a 64-bit
hash. A text whose characters beyond ASCII are all symbols (curly quotes,
dashes, emoji) is read byte by byte by one kernel call; other text (accents,
other scripts) is folded in Python (NFKC, casefold) and read as code points by
one kernel call, which takes Unicode's word, space, capital and digit classes
as bitsets built from Python's own ``str`` methods. Only a name with letters
beyond ASCII is folded in Python, and text with digits beyond ASCII is
profiled by the reference and compacted. The kernels load on first use, so
importing this module imports no Numba.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from ._errors import ArgumentTypeError, InvalidArgumentError, InvalidPromptError, check_utf8

__all__ = [
    "FEATURE_NAMES",
    "MISMATCH_FEATURES",
    "IdfTable",
    "ReferenceProfile",
    "TextProfile",
    "compact",
    "features",
    "features_reference",
    "idf_table",
    "linear_logit",
    "logistic",
    "long_mismatch",
    "long_mismatch_reference",
    "order_swap",
    "order_swap_reference",
    "profile",
    "profile_reference",
    "profiles",
    "query_logistic",
    "query_scorer",
    "read_words",
    "scoring_model",
    "usable_profile",
]


def _words(s: str) -> list[str]:
    return s.split()


_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_ENTITY = re.compile(r"(?<![\w'])([A-Z][\w]*[A-Z0-9][\w]*|[A-Z][a-z0-9]+|[a-z]+[A-Z][\w]*)")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"\n]\s*)([A-Z][\w']*)")

_NEGATIONS = frozenset(
    _words(
        "not no never none nobody nothing neither nor without cannot cant dont doesnt didnt "
        "isnt arent wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt mustnt neednt "
        "aint unable impossible hardly barely"
    )
)
_WH = frozenset(_words("what why how when where who whom whose which"))
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
        )
    )
}
# (not "hundreds", "millions" ...: "millions of" and "so many" ask the same)
_NUMBER_WORDS.update(
    {"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70", "eighty": "80",
     "ninety": "90", "hundred": "100", "thousand": "1000", "million": "1e6", "billion": "1e9",
     "dozen": "12", "half": "0.5", "quarter": "0.25", "once": "1", "twice": "2", "thrice": "3"}
)
_UNITS = {
    "km": "km", "kms": "km", "kilometer": "km", "kilometers": "km", "kilometre": "km",
    "kilometres": "km", "mile": "mi", "miles": "mi", "mph": "mph", "kmh": "kmh", "kph": "kmh",
    "kg": "kg", "kgs": "kg", "kilogram": "kg", "kilograms": "kg", "kilo": "kg", "kilos": "kg",
    "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb", "oz": "oz", "ounce": "oz",
    "ounces": "oz", "gram": "g", "grams": "g", "celsius": "c", "fahrenheit": "f", "kelvin": "k",
    "meter": "m", "meters": "m", "metre": "m", "metres": "m", "cm": "cm", "mm": "mm",
    "centimeter": "cm", "centimeters": "cm", "feet": "ft", "foot": "ft", "ft": "ft",
    "inch": "inch", "inches": "inch", "yard": "yd", "yards": "yd",
    "gb": "gb", "mb": "mb", "tb": "tb", "kb": "kb", "ghz": "ghz", "mhz": "mhz",
    "liter": "l", "liters": "l", "litre": "l", "litres": "l", "ml": "ml", "gallon": "gal",
    "gallons": "gal", "second": "s", "seconds": "s", "minute": "min", "minutes": "min",
    "hour": "h", "hours": "h", "day": "d", "days": "d", "week": "wk", "weeks": "wk",
    "month": "mo", "months": "mo",
    "dollar": "usd", "dollars": "usd", "usd": "usd", "euro": "eur", "euros": "eur", "eur": "eur",
    "rupee": "inr", "rupees": "inr", "inr": "inr", "yen": "jpy", "percent": "pct", "%": "pct",
    "watt": "w", "watts": "w", "volt": "v", "volts": "v",
    "teaspoon": "tsp", "teaspoons": "tsp", "tsp": "tsp", "tablespoon": "tbsp", "tablespoons": "tbsp",
    "tbsp": "tbsp", "pint": "pt", "pints": "pt", "quart": "qt", "quarts": "qt",
    "mg": "mg", "milligram": "mg", "milligrams": "mg", "mcg": "mcg", "microgram": "mcg", "micrograms": "mcg",
    "acre": "acre", "acres": "acre", "hectare": "ha", "hectares": "ha", "mbps": "mbps", "kbps": "kbps",
    "year": "yr", "years": "yr", "annual": "yr", "annually": "yr", "yearly": "yr",
    "pm": "pm", "yr": "yr", "yrs": "yr", "hr": "h", "hrs": "h", "mins": "min", "sec": "s", "secs": "s",
}
# when-words: the same request on another day or at another time has another answer. They
# count as units (a unit clashes only when both texts have one: "today" alone changes
# nothing), but never join a number before them ("open at 9 today" / "today at 9")
_WHEN = {
    "today": "today", "todays": "today", "tomorrow": "tmrw", "tomorrows": "tmrw", "yesterday": "yday",
    "yesterdays": "yday", "morning": "am", "evening": "pm", "tonight": "pm",
    **{f"{day}{s}": day[:3] for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday",
                                         "sunday") for s in ("", "s")},
}
_UNITS.update(_WHEN)
# word -> (group, polarity): texts that use opposite ends of one group ask opposite things
_POLAR: dict[str, tuple[str, int]] = {}
for _group, _plus, _minus in (
    ("best", "best better good great", "worst worse bad"),
    ("most", "most more max maximum maximize maximise highest higher largest larger biggest greater "
     "increase increasing raise", "least less fewer min minimum minimize minimise lowest smallest smaller "
     "decrease decreasing reduce lower"),
    ("cost", "expensive costliest pricey", "cheap cheapest cheaper affordable"),
    ("time", "before earlier earliest first", "after later latest last"),
    ("grade", "upgrade promote", "downgrade demote"),
    ("port", "import imports importing", "export exports exporting"),
    ("trade", "buy buying purchase", "sell selling"),
    ("win", "win winning won gain gaining gained", "lose losing lost"),
    ("pro", "pros advantages benefits", "cons disadvantages drawbacks"),
    ("run", "start starting begin enable on open", "stop stopping end disable off close"),
    ("edit", "add adding install create", "remove removing uninstall delete"),
    ("feel", "love like", "hate dislike"),
    ("wealth", "rich richest", "poor poorest"),
    ("speed", "fast faster fastest quick", "slow slower slowest"),
    ("heat", "hot hotter warm", "cold colder cool"),
    ("truth", "true right correct", "false wrong incorrect"),
    ("size", "big bigger large", "small tiny little"),
    ("dir", "north", "south"),
    ("dir2", "east", "west"),
    ("sex", "men man male boys boy", "women woman female girls girl"),
    ("age", "old older oldest", "young younger youngest new newer"),
    ("long", "long longer longest", "short shorter shortest"),
    ("up", "up upload", "down download"),
    ("in", "inside internal input", "outside external output"),
    ("easy", "easy easier easiest simple simpler", "hard harder hardest difficult"),
    ("legal", "legal legally lawful", "illegal illegally unlawful"),
    ("safe", "safe safely", "unsafe dangerous harmful"),
    ("weight", "overweight", "underweight"),
    ("above", "above", "below"),
    ("sign", "positive", "negative"),
    ("order", "ascending asc", "descending desc"),
):
    for _w in _plus.split():
        _POLAR[_w] = (_group, 1)
    for _w in _minus.split():
        _POLAR[_w] = (_group, -1)

# "convert PDF to Word" and "convert Word to PDF": the same words around a direction word
_DIRECTION = frozenset(
    _words("to from into onto over than vs versus with without instead between")
)
# "move files to Drive" and "move files from Drive": a word after one and after the other
_TO = frozenset(_words("to into onto"))
_FROM = frozenset(_words("from"))

_STOP = frozenset(
    _words(
        "a an the is are was were be been being am do does did doing have has had having i me "
        "my we our you your he she it its they them their this that these those of in on at to "
        "for from by with about as into over under and or but if then so than too very can could "
        "should would will shall may might must what why how when where who whom whose which "
        "there here some any all each every much many get got one ones just also way ways thing "
        "things best good use using used make know want need like does doesnt dont s t"
    )
)

FEATURE_NAMES = (
    "bias",
    "cosine",
    "cosine_hi",
    "cosine_top",
    "simhash_distance",
    "word_jaccard",
    "char_jaccard",
    "length_ratio",
    "idf_difference",
    "content_difference",
    "number_mismatch",
    "year_mismatch",
    "negation_mismatch",
    "entity_mismatch",
    "unit_mismatch",
    "polarity_mismatch",
    "question_word_mismatch",
    "cosine_x_word_jaccard",
)
# Features that may only lower the probability (their fitted weight is kept <= 0).
MISMATCH_FEATURES = frozenset(
    {
        "number_mismatch",
        "year_mismatch",
        "negation_mismatch",
        "entity_mismatch",
        "unit_mismatch",
        "polarity_mismatch",
    }
)


# -- the reference: plain Python over sets of strings -------------------------------
@dataclass(frozen=True, slots=True)
class ReferenceProfile:
    """What the decision needs to know of one text, as sets of strings (the oracle)."""

    norm: str
    tokens: tuple[str, ...]
    words: frozenset[str]
    content: frozenset[str]
    shingles: frozenset[str]
    numbers: frozenset[str]
    years: frozenset[str]
    negated: bool
    entities: frozenset[str]
    units: frozenset[str]
    polar: frozenset[tuple[str, int]]
    wh: frozenset[str]
    n_words: int
    simhash: int


_CURLY_INSIDE = re.compile(r"(?<=[^\W_])\u2019(?=[^\W_])")


def _apostrophes(text: str) -> str:
    """``text`` with a typographic apostrophe (U+2019) inside a word read as "'" (phones
    type "isn\u2019t", "Google\u2019s": then isnt, googles, as typed straight); every
    profile, score and guard reads words through this. A U+2019 closing a quotation
    (after a word, before a space) stays."""
    return _CURLY_INSIDE.sub("'", text) if "\u2019" in text else text


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def read_words(text: str) -> tuple[str, list[str]]:
    """``text`` folded, and its words in order as every profile reads them (a U+2019
    inside a word read as "'", then apostrophes left out): the reference's reading,
    which the IDF fit uses too."""
    norm = _fold(_apostrophes(text))
    return norm, [w.replace("'", "") for w in _WORD.findall(norm)]


def _entities(text: str) -> frozenset[str]:
    starts = {m.start(1) for m in _SENTENCE_START.finditer(text)}
    found = set()
    for m in _ENTITY.finditer(text):
        tok = m.group(1)
        # A capitalised word opening a sentence is no evidence of a name.
        if (
            m.start(1) in starts
            and not any(ch.isupper() for ch in tok[1:])
            and not any(ch.isdigit() for ch in tok)
        ):
            continue
        found.add(_fold(tok).replace("'", ""))
    return frozenset(found)


def profile_reference(text: str, simhash: int | None = None) -> ReferenceProfile:
    """The reference profile of one text (``simhash`` may be given when already computed)."""
    text = _apostrophes(text)
    norm, raw_words = read_words(text)
    words = frozenset(raw_words)
    numbers = set()
    years = set()
    after_number = False  # the word before was a number (not a year)
    for w in raw_words:
        was_number, after_number = after_number, True
        if w.isdigit():
            if len(w) == 4 and w.isdecimal() and 1000 <= int(w) <= 2199:  # (isdigit: also "\u2776" ...)
                years.add(w)
                after_number = False
            else:
                numbers.add(w.lstrip("0") or "0")
        elif w in _NUMBER_WORDS:
            numbers.add(_NUMBER_WORDS[w])
        elif w[:1].isdigit():
            digits = "".join(ch for ch in w if ch.isdigit())
            numbers.add(digits.lstrip("0") or "0")
            unit = w[len(digits):]
            if unit in _UNITS:
                numbers.add(_UNITS[unit])
        else:
            after_number = False
            if was_number and w in _UNITS and w not in _WHEN:  # "5 km" as "5km": the unit joins the numbers
                numbers.add(_UNITS[w])
    units = frozenset(_UNITS[w] for w in raw_words if w in _UNITS) | (
        frozenset({"pct"}) if "%" in text else frozenset()
    )
    negations = sum(1 for w in raw_words if w in _NEGATIONS)
    padded = f" {' '.join(raw_words)} "
    shingles = frozenset(padded[i : i + 3] for i in range(len(padded) - 2))
    if simhash is None:
        from .kernels.simhash import simhash_texts

        simhash = int(simhash_texts([text])[0])
    return ReferenceProfile(
        norm=norm,
        tokens=tuple(raw_words),
        words=words,
        content=frozenset(w for w in words if w not in _STOP),
        shingles=shingles,
        numbers=frozenset(numbers),
        years=frozenset(years),
        negated=negations % 2 == 1,
        entities=_entities(text),
        units=units,
        polar=frozenset(_POLAR[w] for w in raw_words if w in _POLAR),
        wh=frozenset(w for w in raw_words if w in _WH),
        n_words=len(raw_words),
        simhash=simhash,
    )


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


def _polarity_clash(a: frozenset[tuple[str, int]], b: frozenset[tuple[str, int]]) -> bool:
    if not a or not b:
        return False
    ga: dict[str, set[int]] = {}
    for g, p in a:
        ga.setdefault(g, set()).add(p)
    gb: dict[str, set[int]] = {}
    for g, p in b:
        gb.setdefault(g, set()).add(p)
    return any(g in gb and ga[g] != gb[g] for g in ga)


def _names_outside(a: ReferenceProfile, b: ReferenceProfile) -> bool:
    """Whether ``a`` names something ``b`` does not hold among its words, as written or
    with an "s" after it: a possessive with a straight apostrophe ("Google's") is the word
    "googles", while its name is "google"."""
    return any(e not in b.words and e + "s" not in b.words for e in a.entities)


def features_reference(
    q: ReferenceProfile, c: ReferenceProfile, cosine: float, idf: Mapping[str, float] | None = None
) -> np.ndarray:
    """The feature vector (see FEATURE_NAMES) of a query and a cached prompt (the oracle)."""
    wj = _jaccard(q.words, c.words)
    diff = q.content ^ c.content
    if idf:
        default = idf.get("", 8.0)
        union = q.content | c.content
        total = sum(idf.get(w, default) for w in union) or 1.0
        idf_diff = sum(idf.get(w, default) for w in diff) / total
    else:
        idf_diff = len(diff) / max(1, len(q.content | c.content))
    lo, hi = sorted((q.n_words, c.n_words))
    entity_clash = _names_outside(q, c) or _names_outside(c, q)
    return np.array(
        [
            1.0,
            cosine,
            max(0.0, cosine - 0.9) * 10.0,
            max(0.0, cosine - 0.95) * 20.0,
            (q.simhash ^ c.simhash).bit_count() / 64.0,
            wj,
            _jaccard(q.shingles, c.shingles),
            lo / hi if hi else 1.0,
            idf_diff,
            math.log1p(len(diff)),
            float(q.numbers != c.numbers),
            float(q.years != c.years),
            float(q.negated != c.negated),
            float(entity_clash),
            float(bool(q.units) and bool(c.units) and q.units != c.units),
            float(_polarity_clash(q.polar, c.polar)),
            float(bool(q.wh) and bool(c.wh) and q.wh != c.wh),
            cosine * wj,
        ],
        dtype=np.float64,
    )


def long_mismatch_reference(a: Any, b: Any, long_words: int) -> bool:
    """The long-prompt guard on ``tokens``: when either text has more than ``long_words``
    words, the words outside their common prefix and suffix must agree (char 3-gram
    Jaccard >= 0.9)."""
    if max(a.n_words, b.n_words) <= long_words or a.tokens == b.tokens:
        return False
    x, y = a.tokens, b.tokens
    lo = 0
    while lo < min(len(x), len(y)) and x[lo] == y[lo]:
        lo += 1
    hi = 0
    while hi < min(len(x), len(y)) - lo and x[-1 - hi] == y[-1 - hi]:
        hi += 1
    da = " ".join(x[lo : len(x) - hi])
    db = " ".join(y[lo : len(y) - hi])
    sa = {da[i : i + 3] for i in range(max(1, len(da) - 2))}
    sb = {db[i : i + 3] for i in range(max(1, len(db) - 2))}
    inter = len(sa & sb)
    return inter / max(1, len(sa | sb)) < 0.9


def _direction_field(ref: ReferenceProfile) -> int:
    """The profile's direction field: bit 0 when a direction word occurs, and a bit per
    content word that follows "to" (bits 1-31) or "from" (32-62), by the word's hash
    (as ``kernels.lexical._direction_bit`` sets them): stop words in between keep the word waiting."""
    field = int(bool(_DIRECTION & ref.words))
    pending = 0
    for w, h in zip(ref.tokens, _hash_strings(list(ref.tokens)).tolist(), strict=True):
        if w not in _STOP:
            if pending:
                field |= 1 << (1 + h % 31 + (31 if pending == 2 else 0))
            pending = 0
        if w in _TO:
            pending = 1
        elif w in _FROM:
            pending = 2
    return field


def order_swap_reference(a: ReferenceProfile, b: ReferenceProfile) -> bool:
    """The same content words (at least two) in another order, around a direction word,
    or one of them after "to" in one text and after "from" in the other, in neither role
    in both (the bits of ``_direction_field``: two words sharing a bit count as one)."""
    if a.content != b.content or len(a.content) < 2 or a.tokens == b.tokens:
        return False
    if not (_DIRECTION & a.words or _DIRECTION & b.words):
        return False
    da, db = _direction_field(a), _direction_field(b)
    to_bits = 0xFFFFFFFE
    a_to, a_from, b_to, b_from = da & to_bits, (da >> 31) & to_bits, db & to_bits, (db >> 31) & to_bits
    if (a_to & b_from & ~a_from & ~b_to) or (b_to & a_from & ~b_from & ~a_to):  # (roles that differ)
        return True
    seq_a = [t for t in dict.fromkeys(a.tokens) if t in a.content]
    seq_b = [t for t in dict.fromkeys(b.tokens) if t in b.content]
    return seq_a != seq_b


# -- the fast path: compact profiles and Numba kernels --------------------------------
_K: ModuleType | None = None  # semcache.kernels.lexical, once loaded
_TABLES = np.zeros(0, np.uint64)
_SYMBOL_BITS = np.zeros(0, np.uint64)
_PROPS = np.zeros((0, 0), np.uint64)  # code-point property bitsets (kernels.lexical.U_*)
_ZERO = np.uint64(0)
_NOT_WORD_CHARS = re.compile(r"[A-Z'\x00]")  # a key holding one of these is never a word

# ids of the small closed sets (bit positions in a profile's masks)
_WH_ID = {w: i for i, w in enumerate(sorted(_WH))}
_UNIT_ID = {u: i for i, u in enumerate(sorted(set(_UNITS.values())))}
_POLAR_GROUPS = list(dict.fromkeys(g for g, _ in _POLAR.values()))
_POLAR_CODE = {(g, p): 2 * i + (p > 0) for i, g in enumerate(_POLAR_GROUPS) for p in (-1, 1)}
_NUM_STRINGS = sorted(set(_NUMBER_WORDS.values()))
_NUM_ID = {s: i for i, s in enumerate(_NUM_STRINGS)}


def _pow2(n: int) -> int:
    cap = 2
    while cap < n:
        cap *= 2
    return cap


def _hash_strings(strings: list[str]) -> np.ndarray:
    """64-bit hashes of strings (no NUL inside), as the kernels hash words."""
    from .kernels.lexical import hash_strings

    if not strings:
        return np.zeros(0, np.uint64)
    cps = np.frombuffer("\x00".join(strings).encode("utf-32-le", "surrogatepass"), np.uint32)
    return hash_strings(cps, len(strings))  # type: ignore[no-any-return]


def _make_tables(k: ModuleType) -> np.ndarray:
    flags: dict[str, int] = {}

    def add(word: str, value: int) -> None:
        flags[word] = flags.get(word, 0) | value

    for words, flag in ((_STOP, k.F_STOP), (_NEGATIONS, k.F_NEG), (_DIRECTION, k.F_DIR), (_TO, k.F_TO),
                        (_FROM, k.F_FROM), (_WHEN, k.F_WHEN)):
        for w in words:
            add(w, flag)
    for w in _WH:
        add(w, (_WH_ID[w] + 1) << k.WH_SHIFT)
    for w, u in _UNITS.items():
        add(w, (_UNIT_ID[u] + 1) << k.UNIT_SHIFT)
    for w, gp in _POLAR.items():
        add(w, (_POLAR_CODE[gp] + 1) << k.POLAR_SHIFT)
    for w, s in _NUMBER_WORDS.items():
        add(w, (_NUM_ID[s] + 1) << k.NUM_SHIFT)
    assert max(len(_WH_ID), len(_UNIT_ID), len(_POLAR_CODE)) <= 64 and len(_NUM_ID) < 255
    names = list(flags)
    cap = _pow2(2 * len(names))
    keys = np.zeros(cap, np.uint64)
    vals = np.zeros(cap, np.uint64)
    k.fill_table(_hash_strings(names), np.array([flags[w] for w in names], np.uint64), keys, vals)
    head = np.zeros(k.T_HEADER, np.uint64)
    head[k.T_MASK] = cap - 1
    head[k.T_PCT] = _UNIT_ID["pct"]
    head[k.T_UNITS] = k.T_HEADER + 2 * cap
    head[k.T_NUMS] = k.T_HEADER + 2 * cap + len(_UNIT_ID)
    units = _hash_strings(sorted(_UNIT_ID, key=_UNIT_ID.__getitem__))
    nums = _hash_strings(_NUM_STRINGS)
    return np.ascontiguousarray(np.concatenate([head, keys, vals, units, nums]))


def _load() -> ModuleType:
    """The lexical kernels and the word tables, loaded on first use."""
    global _K, _TABLES, _SYMBOL_BITS, _PROPS  # noqa: PLW0603
    if _K is None:
        from .kernels import lexical

        assert FEATURE_NAMES[lexical.X_SIMHASH] == "simhash_distance"
        assert FEATURE_NAMES[lexical.X_CHARS] == "char_jaccard"
        _TABLES = _make_tables(lexical)
        _SYMBOL_BITS, _PROPS = _code_point_bits(lexical)
        _K = lexical
    return _K


_U64 = np.dtype(np.uint64)
# Bytes around a profile's arrays: the TextProfile, the array's header and Numba's
# allocation record, and the same for the joined words (tracemalloc over the 500
# arena-hard prompts: ~440 and ~380 a profile).
_PROFILE_OVERHEAD = 448
_JOINED_OVERHEAD = 384


class TextProfile:
    """What the decision needs to know of one text, computed once.

    ``data`` is the compact profile (see ``semcache.kernels.lexical``), ``text``
    the text it was made from. Kernels trust the offsets stored in ``data``, so it
    is read-only: the attribute cannot be rebound, and the array must not be
    changed in place (values, shape or dtype), by contract, as for any profile.
    The lookup path hands it to a compiled kernel without asking its type again
    (see ``query_scorer``), so its type is checked once, here: a writable (the
    type Numba compiled for), aligned, C-contiguous, 1-D native uint64 array.
    """

    __slots__ = ("_data", "_joined", "_n_words", "text")
    # how many profiles have made their joined words, in this process: a cache compares it
    # around a decision to know whether a candidate's profile grew (``nbytes``)
    joined_made = 0

    def __init__(self, text: str, data: np.ndarray) -> None:
        if not (
            type(data) is np.ndarray
            and (data.dtype is _U64 or data.dtype == _U64)
            and data.ndim == 1
            and data.flags.carray  # C-contiguous, aligned and writable
        ):
            got = _describe_array(data)
            raise ArgumentTypeError(f"a profile is a writable C-contiguous 1-D uint64 array, got {got}")
        self.text = text
        self._data = data
        self._n_words = int(data[0]) if data.shape[0] else 0  # (read on every lookup: kept as an int)
        self._joined: np.ndarray | None = None

    @property
    def data(self) -> np.ndarray:
        return self._data

    def __reduce__(self) -> tuple[type[TextProfile], tuple[str, np.ndarray]]:
        # rebuilt through __init__, so an unpickled array is checked as a new one is
        return (TextProfile, (self.text, self._data))

    @property
    def n_words(self) -> int:
        return self._n_words

    @property
    def simhash(self) -> int:
        return int(self.data[1])

    @property
    def has_shingles(self) -> bool:
        """Whether the character 3-grams are in (a text with words always has some;
        ``profile(..., shingles=False)`` leaves them out)."""
        k = _K or _load()
        o = k.OFFSETS + k.SHINGLES
        return bool(self.data[o + 1] > self.data[o] or self.data[k.N_WORDS] == 0)

    @property
    def nbytes(self) -> int:
        """Bytes this profile holds: its array, its joined words once made, and the
        objects around them (what a cache's ``max_bytes`` counts for it). Only a profile
        of more than the long-prompt limit's words keeps its joined words (``long_mismatch``)."""
        if self._joined is None:
            return int(self._data.nbytes) + _PROFILE_OVERHEAD
        return int(self._data.nbytes) + int(self._joined.nbytes) + _PROFILE_OVERHEAD + _JOINED_OVERHEAD

    @property
    def has_joined(self) -> bool:
        """Whether the joined words are made (and counted by ``nbytes``)."""
        return self._joined is not None

    @property
    def joined(self) -> np.ndarray:
        """The words joined by single spaces, as uint32 code points, kept once made
        (``joined_made`` counts that: the profile's ``nbytes`` grew)."""
        if self._joined is None:
            self._joined = joined_words(self.text)
            TextProfile.joined_made += 1
        return self._joined

    @property
    def tokens(self) -> tuple[str, ...]:
        """The words in order (lower-cased, apostrophes removed; the profile does not keep them)."""
        s = (self._joined if self._joined is not None else joined_words(self.text)).tobytes().decode(
            "utf-32-le", "surrogatepass"
        )
        return tuple(s.split(" ")) if s else ()

    def reference(self) -> ReferenceProfile:
        """The reference profile of the same text."""
        return profile_reference(self.text, self.simhash)

    def __repr__(self) -> str:
        return f"TextProfile({self.text!r}, n_words={self.n_words})"


def _describe_array(x: object) -> str:
    """``x``'s type, or for an array its dtype, shape and the flags kernels care about."""
    if not isinstance(x, np.ndarray):
        return type(x).__name__
    f = x.flags
    kind = "" if type(x) is np.ndarray else f"{type(x).__name__} "
    flags = f"C-contiguous {f.c_contiguous}, writable {f.writeable}, aligned {f.aligned}"
    return f"{kind}{x.dtype}{list(x.shape)} ({flags})"


def _codepoints(s: str) -> np.ndarray:
    return np.frombuffer(s.encode("utf-32-le", "surrogatepass"), np.uint32)


def _code_point_bits(k: ModuleType) -> tuple[np.ndarray, np.ndarray]:
    """Bitsets over all code points: the plain symbols (neither word (``\\w``) nor
    space (``\\s``) characters, nor surrogates, nor U+0345, the one other character
    that case folding changes but NFKC keeps), and the rows ``k.U_*`` of what Python's
    ``str`` methods say of each character (NumPy's string functions follow them)."""
    chars = np.arange(0x110000, dtype=np.uint32).view("<U1")
    alnum = np.char.isalnum(chars)
    space = np.char.isspace(chars)
    other = alnum | space
    other[0xD800:0xE000] = True
    other[0x345] = True

    def bits(mask: np.ndarray) -> np.ndarray:
        return np.packbits(mask, bitorder="little").view(np.uint64)

    props = np.empty((k.U_ROWS, 0x110000 // 64), np.uint64)
    props[k.U_ALNUM] = bits(alnum)
    props[k.U_UPPER] = bits(np.char.isupper(chars))
    props[k.U_SPACE] = bits(space)
    props[k.U_DIGIT] = bits(np.char.isdigit(chars))
    return np.ascontiguousarray(bits(~other)), props


def _bytewise(text: str) -> bool:
    """Whether the UTF-8 bytes of ``text`` can be read as ASCII with every other byte a
    symbol: ASCII text, or text kept by NFKC whose other characters (curly quotes,
    dashes, emoji) are plain symbols."""
    if text.isascii():
        return True
    if not unicodedata.is_normalized("NFKC", text):
        return False
    k = _K or _load()
    return bool(k.plain_utf8(text.encode("utf-8", "surrogatepass"), _SYMBOL_BITS))


def _name_hashes(names: list[str]) -> np.ndarray:
    """The hashes of ``names`` each followed by that of the name with an "s" after it
    (a possessive, "Google's", is the word "googles"): the names section's pairs."""
    pairs = np.empty(2 * len(names), np.uint64)
    pairs[0::2] = _hash_strings(names)
    pairs[1::2] = _hash_strings([n + "s" for n in names])
    return pairs


def compact(ref: ReferenceProfile) -> np.ndarray:
    """The compact profile array of a reference profile (the slow, obvious way)."""
    k = _load()

    def section(strings: frozenset[str]) -> np.ndarray:
        return np.unique(_hash_strings(list(strings)))

    def mask(ids: list[int]) -> int:
        return sum(1 << i for i in set(ids))

    shingles = np.unique(
        np.array(
            [(ord(s[0]) << 42) | (ord(s[1]) << 21) | ord(s[2]) for s in ref.shingles], np.uint64
        )
    )
    names = _name_hashes(list(ref.entities)).reshape(-1, 2)  # pairs, sorted by the name's hash
    parts = [
        section(ref.words),
        section(ref.content),
        shingles,
        section(ref.numbers),
        section(ref.years),
        names[np.argsort(names[:, 0])].ravel(),
        _hash_strings(list(ref.tokens)),
    ]
    head = np.zeros(k.HEADER, np.uint64)
    head[k.N_WORDS] = ref.n_words
    head[k.SIMHASH] = ref.simhash
    head[k.NEGATED] = ref.negated
    head[k.POLAR] = mask([_POLAR_CODE[gp] for gp in ref.polar])
    head[k.WH] = mask([_WH_ID[w] for w in ref.wh])
    head[k.UNITS] = mask([_UNIT_ID[u] for u in ref.units])
    head[k.DIRECTION] = _direction_field(ref)
    pos = k.HEADER
    for i, part in enumerate(parts):
        head[k.OFFSETS + i] = pos
        pos += len(part)
    head[k.OFFSETS + len(parts)] = pos
    return np.ascontiguousarray(np.concatenate([head, *parts]).astype(np.uint64))


def _profile(original: str, simhash: np.uint64 | None, shingles: bool = True) -> TextProfile:
    k = _K or _load()
    text = _apostrophes(original)
    given = simhash is not None
    sim = _ZERO if simhash is None else simhash
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        buf = text.encode("utf-8", "surrogatepass")
        data = k.profile_bytes(buf, given, sim, _TABLES, _SYMBOL_BITS, shingles)
        if data.shape[0]:
            return TextProfile(original, data)
    norm = unicodedata.normalize("NFKC", text).casefold()
    text_cps, cps, norm_utf8 = _codepoints(text), _codepoints(norm), norm.encode() if not given else b""
    data = k.profile_codepoints(text_cps, cps, norm_utf8, given, sim, _TABLES, _PROPS, shingles)
    if data.shape[0] == 1:  # a name with letters beyond ASCII: folded as the reference folds it
        ents, odd = k.entities_codepoints(text_cps, _PROPS)
        folded = [_fold(text[a:b]).replace("'", "") for a, b in odd.reshape(-1, 2).tolist()]
        ents = np.concatenate([ents, _name_hashes(folded)])
        data = k.profile_folded(cps, ents, "%" in text, norm_utf8, given, sim, _TABLES, _PROPS, shingles)
    if not data.shape[0]:  # digits beyond ASCII: built from the reference (3-grams kept)
        data = compact(profile_reference(text, None if simhash is None else int(simhash)))
    return TextProfile(original, data)


def profile(text: str, simhash: int | None = None, *, shingles: bool = True) -> TextProfile:
    """The profile of one text (``simhash`` may be given when already computed).

    ``shingles=False`` leaves out the character 3-grams, the largest section (8 bytes
    a character): for a model that gives ``char_jaccard`` no weight, whose
    probabilities are then the same.
    """
    try:
        return _profile(text, None if simhash is None else np.uint64(simhash), shingles)
    except UnicodeEncodeError:  # a lone surrogate: named, as a prompt's would be
        check_utf8(text, "text", InvalidPromptError)
        raise


def usable_profile(made: TextProfile | None, text: str, shingles: bool) -> TextProfile:
    """``made`` when it serves a model that does (``shingles``) or does not read the
    character 3-grams, else the profile of ``text`` made again (with them only when read)."""
    if made is None or (shingles and not made.has_shingles):
        return profile(text, shingles=shingles)
    return made


def profiles(texts: list[str], *, shingles: bool = True) -> list[TextProfile]:
    """Profiles of many texts, their SimHashes computed in one kernel call."""
    from .kernels.simhash import simhash_texts

    try:
        fps = simhash_texts([_apostrophes(t) for t in texts]) if texts else np.zeros(0, np.uint64)
        return [_profile(t, f, shingles) for t, f in zip(texts, fps, strict=True)]
    except UnicodeEncodeError:  # a lone surrogate: named, as a prompt's would be
        for i, t in enumerate(texts):
            check_utf8(t, f"texts[{i}]", InvalidPromptError)
        raise


class IdfTable(NamedTuple):
    """IDF weights as an open-addressing table: word hashes and their weights.

    ``vals[0]`` is 1.0 when there are weights (0.0: count words instead),
    ``vals[1]`` the weight of an unknown word, ``vals[2 + i]`` that of ``keys[i]``.
    """

    keys: np.ndarray
    vals: np.ndarray


_NO_IDF = IdfTable(np.zeros(2, np.uint64), np.array([0.0, 8.0, 0.0, 0.0]))
_IDF_CACHE: dict[int, tuple[Mapping[str, float], int, IdfTable]] = {}


def idf_table(idf: Mapping[str, float] | None) -> IdfTable:
    """The table of an IDF mapping (cached by identity and size: do not edit a mapping in use)."""
    if not idf:
        return _NO_IDF
    hit = _IDF_CACHE.get(id(idf))
    if hit is not None and hit[0] is idf and hit[1] == len(idf):
        return hit[2]
    k = _load()
    words = [w for w in idf if w and not _NOT_WORD_CHARS.search(w)]
    cap = _pow2(2 * len(words))
    keys = np.zeros(cap, np.uint64)
    weights = np.zeros(cap, np.float64)
    k.fill_table(_hash_strings(words), np.array([idf[w] for w in words], np.float64), keys, weights)
    head = np.array([1.0, float(idf.get("", 8.0))])
    table = IdfTable(keys, np.concatenate([head, weights]))
    if len(_IDF_CACHE) >= 8:
        _IDF_CACHE.clear()
    _IDF_CACHE[id(idf)] = (idf, len(idf), table)
    return table


def features(
    q: TextProfile,
    c: TextProfile,
    cosine: float,
    idf: Mapping[str, float] | IdfTable | None = None,
) -> np.ndarray:
    """The feature vector (see FEATURE_NAMES) of a query and a cached prompt."""
    k = _K or _load()
    t = idf if isinstance(idf, IdfTable) else idf_table(idf)
    out = np.empty(len(FEATURE_NAMES), np.float64)
    k.pair_features(q.data, c.data, float(cosine), t.keys, t.vals, out)
    if not isinstance(cosine, float | int):
        # e.g. np.float32: the reference computes these in the cosine's own type
        out[1] = cosine
        out[2] = max(0.0, cosine - 0.9) * 10.0
        out[3] = max(0.0, cosine - 0.95) * 20.0
        out[17] = cosine * float(out[5])
    return out


def scoring_model(
    w: np.ndarray, swap_prior: float = 0.0, long_words: int | None = None
) -> np.ndarray:
    """The weights, the order-swap prior and the long-prompt word limit, packed for ``logistic``."""
    tail = [swap_prior, -1.0 if long_words is None else float(long_words)]
    return np.ascontiguousarray(np.concatenate([np.asarray(w, np.float64), tail]))


def logistic(
    q: TextProfile, c: TextProfile, cosine: float, model: np.ndarray, idf: IdfTable, at_least: float = 0.0
) -> float:
    """The verifier's probability: 0.0 when the long-prompt guard fails, else
    sigmoid(features(q, c, cosine, idf) @ w, plus the swap prior on an order swap), the
    logit clipped to [-40, 40] (``model`` from ``scoring_model``).

    With ``at_least``, a pair whose probability without the guard stays below it gets
    that probability unguarded: a decision against ``at_least`` is the same (the guard
    only lowers it to 0.0), and two long prompts skip the guard's 3-gram sets. (A cosine
    of another type, e.g. np.float32, takes the reference-like path, always guarded.)
    """
    k = _K or _load()
    fast = type(cosine) is float or isinstance(cosine, float | int)
    if fast:
        p: float = k.logistic(q.data, c.data, float(cosine), idf.keys, idf.vals, model)
        if p >= 0.0:
            return p
    limit = model[-1]
    if fast:  # the kernel asked for the guard: score without the word limit, then guard
        p = k.logistic(q.data, c.data, float(cosine), idf.keys, idf.vals, without_limit(model))
        if p < at_least or not (limit >= 0.0 and long_mismatch(q, c, int(limit))):
            return p
        return 0.0
    if limit >= 0.0 and long_mismatch(q, c, int(limit)):  # (``at_least`` is not read here)
        return 0.0
    z = float(features(q, c, cosine, idf) @ model[: len(FEATURE_NAMES)])
    if order_swap(q, c):
        z += float(model[len(FEATURE_NAMES)])
    return float(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))))


def query_logistic(
    query: str, c: TextProfile, cosine: float, model: np.ndarray, idf: IdfTable, at_least: float = 0.0
) -> float:
    """``logistic(profile(query), c, cosine, model, idf, at_least)`` in one kernel call,
    for the common lookup (one candidate): the query's profile is not kept.
    -1.0 when the query's profile needs Python (a name or a digit beyond ASCII) or the
    long-prompt guard must be checked (the caller then takes the general path)."""
    k = _K or _load()
    if type(cosine) is not float and not isinstance(cosine, float | int):
        return -1.0  # (a float32 cosine is scored in its own type by ``logistic``)
    query = _apostrophes(query)
    if query.isascii() or unicodedata.is_normalized("NFKC", query):
        buf = query.encode("utf-8", "surrogatepass")
        p: float = k.logistic_bytes(
            buf, c.data, float(cosine), _TABLES, _SYMBOL_BITS, idf.keys, idf.vals, model, float(at_least)
        )
        if p != -2.0:
            return p if p >= 0.0 else -1.0
    norm = unicodedata.normalize("NFKC", query).casefold()
    norm_utf8 = norm.encode() if model[k.X_SIMHASH] != 0.0 else b""
    text, cps = _codepoints(query), _codepoints(norm)
    p = k.logistic_codepoints(
        text, cps, norm_utf8, c.data, float(cosine), _TABLES, _PROPS, idf.keys, idf.vals, model, float(at_least)
    )
    return p if p >= 0.0 else -1.0


def query_scorer(model: np.ndarray, idf: IdfTable) -> Callable[[str, TextProfile, float, float], float]:
    """``query_logistic`` with ``model`` and ``idf`` bound: ``score(query, c, cosine, at_least)``.

    For the lookup path, which scores one candidate per call: an ASCII query with a
    Python-float cosine and ``at_least`` and a ``TextProfile`` goes straight to the
    kernel's compiled entry point for exactly these argument types, its fixed tables
    packed in one array (``lexical.pack_context``), without the dispatcher's type
    resolution or the argument checks that ``query_logistic`` repeats on every call.
    That is safe because every argument's type is fixed: the bound arrays are checked
    here, the profile's array by ``TextProfile`` when it is made, and the rest by the
    test before the call.
    Anything else is passed to ``query_logistic``. (ASCII is always plain text to
    the kernel, so its -2.0 cannot come back here; any negative answer is -1.0.)
    """
    k = _K or _load()
    bound = (_TABLES, _SYMBOL_BITS, idf.keys, idf.vals, model)
    for x, dtype in zip(bound, (np.uint64, np.uint64, np.uint64, np.float64, np.float64), strict=True):
        if not (isinstance(x, np.ndarray) and x.dtype == dtype and x.ndim == 1):
            raise ArgumentTypeError(f"query_scorer needs 1-D {np.dtype(dtype)} tables, got {_describe_array(x)}")
    ctx = k.pack_context(*bound)
    kernel = _entry_point(k.logistic_context, (b"", np.zeros(0, np.uint64), 0.0, ctx, 0.0))

    def score(query: str, c: TextProfile, cosine: float, at_least: float) -> float:
        if (
            type(cosine) is float
            and type(at_least) is float
            and type(c) is TextProfile
            and type(query) is str
            and query.isascii()
        ):
            p: float = kernel(query.encode(), c._data, cosine, ctx, at_least)
            return p if p >= 0.0 else -1.0
        return query_logistic(query, c, cosine, model, idf, at_least)

    return score


def _entry_point(kernel: Any, sample: tuple[Any, ...]) -> Callable[..., Any]:
    """The compiled code of Numba ``kernel`` for the types of ``sample``'s arguments,
    called without the dispatcher's per-call type resolution; the dispatcher itself
    where there is no compiled code to call (e.g. under ``NUMBA_DISABLE_JIT``)."""
    compile_for = getattr(kernel, "compile", None)
    if compile_for is None:
        return kernel  # type: ignore[no-any-return]
    import numba

    entry: Callable[..., Any] = compile_for(tuple(numba.typeof(x) for x in sample))  # type: ignore[no-untyped-call]
    return entry


def linear_logit(
    q: TextProfile, c: TextProfile, cosine: float, model: np.ndarray, idf: IdfTable, out: np.ndarray
) -> float | None:
    """``features(q, c, cosine, idf)`` into ``out`` and their logit under ``model``
    (from ``scoring_model``), the swap prior added on an order swap; None when the
    long-prompt guard rejects the pair."""
    k = _K or _load()
    z: float = k.linear_logit(q.data, c.data, float(cosine), idf.keys, idf.vals, model, out)
    if not math.isnan(z):  # no long-prompt check was needed
        return z
    if long_mismatch(q, c, int(model[-1])):
        return None
    z = k.linear_logit(q.data, c.data, float(cosine), idf.keys, idf.vals, without_limit(model), out)
    return z


def without_limit(model: np.ndarray) -> np.ndarray:
    """``model`` (from ``scoring_model``) with no long-prompt word limit: for a pair whose
    guard is checked apart."""
    unlimited = model.copy()
    unlimited[-1] = -1.0
    return unlimited


def order_swap(a: TextProfile, b: TextProfile) -> bool:
    """``order_swap_reference`` by a kernel."""
    return bool((_K or _load()).order_swap(a.data, b.data))


def long_mismatch(a: TextProfile, b: TextProfile, long_words: int) -> bool:
    """``long_mismatch_reference`` by a kernel over the joined words."""
    if max(a.n_words, b.n_words) <= long_words:
        return False
    return bool((_K or _load()).long_mismatch(_guard_words(a, long_words), _guard_words(b, long_words)))


def _guard_words(p: TextProfile, long_words: int) -> np.ndarray:
    """``p.joined``, kept on the profile only when ``p`` is long: a short cached entry
    compared with a long query does not grow (its joined words are cheap to make again)."""
    if p.n_words > long_words or p.has_joined:
        return p.joined
    return joined_words(p.text)


def long_mismatch_text(query: str, c: TextProfile, long_words: int) -> bool:
    """``long_mismatch`` of a query not profiled yet, against ``c``, which must have
    more than ``long_words`` words (so the guard applies whatever the query's length):
    the query's words alone, without its profile, which costs several times more."""
    if not c.n_words > long_words:
        raise InvalidArgumentError(f"the candidate must have more than {long_words} words, got {c.n_words}")
    return bool((_K or _load()).long_mismatch(joined_words(query), c.joined))


def joined_words(text: str) -> np.ndarray:
    """The words of ``text`` joined by single spaces, as uint32 code points (what the
    long-prompt guard compares; ``TextProfile.joined``)."""
    k = _K or _load()
    text = _apostrophes(text)
    words: np.ndarray = (
        k.joined_ascii(text.encode()) if _bytewise(text) else k.joined_codepoints(_codepoints(_fold(text)), _PROPS)
    )
    return words
