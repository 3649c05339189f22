"""Lexical evidence for the hit decision: a profile per text, features per pair.

A profile is computed once per text (at put for cached prompts, at lookup for
the query, and only when some candidate is close enough to matter), so
scoring a candidate is a handful of set operations.

The features say how much two texts agree beyond their embedding: SimHash
distance of the whole normalised text, word and character overlap, length
ratio, rare-word (IDF-weighted) difference, and flags for the small changes
that flip an answer: numbers, years, negation, named entities, units,
comparison or direction words, and the question word.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

__all__ = ["FEATURE_NAMES", "MISMATCH_FEATURES", "TextProfile", "features", "profile", "profiles"]

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?")
_ENTITY = re.compile(r"(?<![\w'])([A-Z][\w]*[A-Z0-9][\w]*|[A-Z][a-z0-9]+|[a-z]+[A-Z][\w]*)")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;\"\n]\s*)([A-Z][\w']*)")

_NEGATIONS = frozenset(
    "not no never none nobody nothing neither nor without cannot cant dont doesnt didnt isnt arent "
    "wasnt werent wont wouldnt shouldnt couldnt hasnt havent hadnt mustnt neednt".split()
)
_WH = frozenset("what why how when where who whom whose which".split())
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "hundred": "100", "thousand": "1000",
                      "million": "1e6", "billion": "1e9", "half": "0.5", "once": "1", "twice": "2"})
_UNITS = {
    "km": "km", "kms": "km", "kilometer": "km", "kilometers": "km", "kilometre": "km", "kilometres": "km",
    "mile": "mi", "miles": "mi", "mph": "mph", "kmh": "kmh", "kph": "kmh",
    "kg": "kg", "kgs": "kg", "kilogram": "kg", "kilograms": "kg", "kilo": "kg", "kilos": "kg",
    "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb", "oz": "oz", "ounce": "oz", "ounces": "oz",
    "gram": "g", "grams": "g", "celsius": "c", "fahrenheit": "f", "kelvin": "k",
    "meter": "m", "meters": "m", "metre": "m", "metres": "m", "cm": "cm", "mm": "mm",
    "centimeter": "cm", "centimeters": "cm", "feet": "ft", "foot": "ft", "ft": "ft",
    "inch": "inch", "inches": "inch", "yard": "yd", "yards": "yd",
    "gb": "gb", "mb": "mb", "tb": "tb", "kb": "kb", "ghz": "ghz", "mhz": "mhz",
    "liter": "l", "liters": "l", "litre": "l", "litres": "l", "ml": "ml", "gallon": "gal", "gallons": "gal",
    "second": "s", "seconds": "s", "minute": "min", "minutes": "min", "hour": "h", "hours": "h",
    "day": "d", "days": "d", "week": "wk", "weeks": "wk", "month": "mo", "months": "mo",
    "dollar": "usd", "dollars": "usd", "usd": "usd", "euro": "eur", "euros": "eur", "eur": "eur",
    "rupee": "inr", "rupees": "inr", "inr": "inr", "yen": "jpy", "percent": "pct", "%": "pct",
    "watt": "w", "watts": "w", "volt": "v", "volts": "v",
}
# word -> (group, polarity): texts that use opposite ends of one group ask opposite things
_POLAR = {}
for _group, _plus, _minus in (
    ("best", "best better good great", "worst worse bad"),
    ("most", "most more max maximum highest largest biggest greater increase increasing raise",
     "least less fewer min minimum lowest smallest smaller decrease decreasing reduce lower"),
    ("cost", "expensive costliest pricey", "cheap cheapest cheaper affordable"),
    ("time", "before earlier earliest first", "after later latest last"),
    ("grade", "upgrade promote", "downgrade demote"),
    ("port", "import imports importing", "export exports exporting"),
    ("trade", "buy buying purchase", "sell selling"),
    ("win", "win winning won", "lose losing lost"),
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
):
    for _w in _plus.split():
        _POLAR[_w] = (_group, 1)
    for _w in _minus.split():
        _POLAR[_w] = (_group, -1)

_STOP = frozenset(
    "a an the is are was were be been being am do does did doing have has had having i me my we our you "
    "your he she it its they them their this that these those of in on at to for from by with about as "
    "into over under and or but if then so than too very can could should would will shall may might "
    "must what why how when where who whom whose which there here some any all each every much many "
    "get got one ones just also way ways thing things best good use using used make know want need "
    "like does doesnt dont s t".split()
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


@dataclass(frozen=True, slots=True)
class TextProfile:
    """What the decision needs to know of one text, computed once."""

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


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).casefold()


def _entities(text: str) -> frozenset[str]:
    starts = {m.start(1) for m in _SENTENCE_START.finditer(text)}
    found = set()
    for m in _ENTITY.finditer(text):
        tok = m.group(1)
        # A capitalised word opening a sentence is no evidence of a name.
        if m.start(1) in starts and not any(ch.isupper() for ch in tok[1:]) and not any(ch.isdigit() for ch in tok):
            continue
        found.add(_fold(tok).replace("'", ""))
    return frozenset(found)


def profile(text: str, simhash: int | None = None) -> TextProfile:
    """The profile of one text (``simhash`` may be given when already computed)."""
    norm = _fold(text)
    raw_words = [w.replace("'", "") for w in _WORD.findall(norm)]
    words = frozenset(raw_words)
    numbers = set()
    years = set()
    for w in raw_words:
        if w.isdigit():
            if len(w) == 4 and 1000 <= int(w) <= 2199:
                years.add(w)
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
    units = frozenset(_UNITS[w] for w in raw_words if w in _UNITS) | (
        frozenset({"pct"}) if "%" in text else frozenset()
    )
    negations = sum(1 for w in raw_words if w in _NEGATIONS)
    padded = f" {' '.join(raw_words)} "
    shingles = frozenset(padded[i : i + 3] for i in range(len(padded) - 2))
    if simhash is None:
        from .kernels.simhash import simhash_texts

        simhash = int(simhash_texts([text])[0])
    return TextProfile(
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


def profiles(texts: list[str]) -> list[TextProfile]:
    """Profiles of many texts, their SimHashes computed in one kernel call."""
    from .kernels.simhash import simhash_texts

    fps = simhash_texts(texts) if texts else np.zeros(0, np.uint64)
    return [profile(t, int(f)) for t, f in zip(texts, fps, strict=True)]


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


def features(q: TextProfile, c: TextProfile, cosine: float, idf: Mapping[str, float] | None = None) -> np.ndarray:
    """The feature vector (see FEATURE_NAMES) of a query and a cached prompt."""
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
    entity_clash = bool((q.entities - c.words) or (c.entities - q.words))
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
