"""The fast lexical path (compact profiles, Numba kernels) against the Python reference."""

from __future__ import annotations

import pickle
import re
import string
import subprocess
import sys
import unicodedata
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from semcache import Candidate
from semcache import _features as F
from semcache._errors import ArgumentTypeError
from semcache.verify import CalibratedVerifier, load_default_verifier

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

TABLE_WORDS = sorted(
    F._STOP
    | F._NEGATIONS
    | F._WH
    | F._DIRECTION
    | set(F._NUMBER_WORDS)
    | set(F._UNITS)
    | set(F._POLAR)
)
ODD_WORDS = [
    "Paris", "London", "iPhone", "McDonald's", "O'Brien", "NASA", "B2B", "Foo_Bar", "x_Y",
    "Google's", "Googles", "Google\u2019s", "Year\u2019s", "\u2018Quoted\u2019",
    "abC", "Python", "Java", "can't", "don't", "don\u2019t", "isn't", "It's", "COVID-19",
    "caf\u00e9", "Z\u00fcrich", "na\u00efve", "stra\u00dfe", "\ufb01le",
    "\uff30\uff41\uff52\uff49\uff53",
    "\u6771\u4eac", "\u0663\u0662", "x\u00b2", "10\u043a\u043c", "\u2460", "\uff05", "%", "_", "'",
    "\u00c9cole", "\u0130stanbul", "\u00bd", "\u2167", "a'b'c", "Mr.", "U.S.", "e.g.",
    # symbols beyond ASCII that the byte-wise path reads (and some that it must not)
    "\u2019", "\u201cQuoted\u201d", "\u2014", "\u2026", "\U0001f600", "\u20ac5", "\u00a9",
    "\u0345", "e\u0301", "\u00a0", "\u2028", "Don\u2019t", "\u00bfQu\u00e9?",
    # names whose letters go beyond ASCII (folded apart), capitals and digits beyond ASCII
    "GmbH\u00e4", "iPh\u00f6ne", "McD\u00f6nald", "Jos\u00e9", "X\u00c6", "A\u00c9b", "Ab\u0663",
    "\u01c5ab", "Q\u2160", "\u1e9e", "\u0130", "K\u212a",
]
NUMBERS = [
    "0", "00", "007", "3", "10", "1999", "2014", "2199", "2200", "0999", "1000", "12345",
    "10km", "5kg", "3d4", "1a2b", "5'km", "100%", "2nd", "3pm", "4GB", "0x1f",
    "\u2776\u2777\u2778\u2779", "\u1369\u136a\u136b\u136c",  # digits (isdigit) that int() cannot read
]
SEPARATORS = [
    " ", " ", " ", "  ", "", "\n", ". ", ", ", "? ", "! ", ": ", "; ", '"', "\t", " - ",
    " \u2014 ", "\u2019", "\u201d ", "\u2026 ", "\U0001f642", ".\u00a0", "\u3000", "!\u2029", "\u0085", ":\u1680",
]

word = st.one_of(
    st.sampled_from(TABLE_WORDS),
    st.sampled_from(TABLE_WORDS).map(str.capitalize),
    st.sampled_from(TABLE_WORDS).map(str.upper),
    st.sampled_from(ODD_WORDS),
    st.sampled_from(NUMBERS),
    st.integers(0, 3000).map(str),
    st.text(alphabet=string.ascii_letters + string.digits + "_'", min_size=1, max_size=8),
    st.text(min_size=1, max_size=4),
)


@st.composite
def texts(draw: st.DrawFn, max_words: int = 14) -> str:
    words = draw(st.lists(word, max_size=max_words))
    out = draw(st.sampled_from(["", "", " ", "\n"]))
    for w in words:
        out += w + draw(st.sampled_from(SEPARATORS))
    return out


@st.composite
def pairs(draw: st.DrawFn, max_words: int = 14) -> tuple[str, str]:
    """Two texts, often one a small edit of the other (so that some features agree)."""
    a = draw(texts(max_words))
    kind = draw(st.sampled_from(["other", "edit", "edit", "same", "swap", "case"]))
    if kind == "other":
        return a, draw(texts(max_words))
    if kind == "same":
        return a, a + draw(st.sampled_from(["", " ", "?", "!"]))
    if kind == "case":
        return a, a.swapcase()
    toks = a.split(" ")
    if kind == "swap" and len(toks) >= 2:
        i, j = draw(st.integers(0, len(toks) - 1)), draw(st.integers(0, len(toks) - 1))
        toks[i], toks[j] = toks[j], toks[i]
        return a, " ".join(toks)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["replace", "insert", "delete"]))
        i = draw(st.integers(0, len(toks)))
        if op == "insert" or not toks:
            toks.insert(i, draw(word))
        elif op == "replace":
            toks[min(i, len(toks) - 1)] = draw(word)
        else:
            del toks[min(i, len(toks) - 1)]
    return a, " ".join(toks)


cosines = st.one_of(
    st.sampled_from([0.0, 0.5, 0.9, 0.93, 0.95, 0.97, 0.99, 1.0]),
    st.floats(-1.0, 1.0, allow_nan=False),
)

DEFAULT = load_default_verifier()


@st.composite
def idfs(draw: st.DrawFn) -> dict[str, float] | None:
    kind = draw(st.sampled_from(["none", "empty", "shipped", "random"]))
    if kind == "none":
        return None
    if kind == "empty":
        return {}
    if kind == "shipped":
        return DEFAULT.idf  # type: ignore[return-value]
    keys = draw(st.lists(st.one_of(st.sampled_from(TABLE_WORDS + ODD_WORDS), word), max_size=20))
    table = {k: draw(st.floats(0.0, 20.0)) for k in keys}
    if draw(st.booleans()):
        table[""] = draw(st.floats(0.1, 20.0))
    return table


def ref_features(a: str, b: str, cosine: float, idf: dict[str, float] | None) -> np.ndarray:
    return F.features_reference(F.profile_reference(a), F.profile_reference(b), cosine, idf)


# -- profiles -------------------------------------------------------------------------
@SETTINGS
@given(texts(40))
@example("")
@example("How far is 10km in 0007 steps 50% iPhone McDonald's O'Brien")
@example("Hello. World! New York: Foo_Bar x_Y abC\n\nThe End")
@example("x \u00b2 \u0663 10\u043a\u043c")
@example("steps \u2776\u2777\u2778\u2779")
def test_profile_equals_the_compacted_reference(text: str) -> None:
    fast = F.profile(text)
    ref = F.profile_reference(text)
    assert np.array_equal(fast.data, F.compact(ref))
    assert fast.tokens == ref.tokens
    assert fast.n_words == ref.n_words and fast.simhash == ref.simhash


any_character = st.one_of(
    st.characters(blacklist_categories=("Cs",)),
    st.sampled_from(list("AZaz09_'. \n\"!?:;%\u00c9\u00e9\u00dc\u0130\u212a")),
)


@SETTINGS
@given(st.lists(any_character, max_size=30).map("".join))
def test_the_unicode_path_equals_the_reference_on_any_characters(text: str) -> None:
    fast = F.profile(text)
    assert np.array_equal(fast.data, F.compact(F.profile_reference(text)))
    assert fast.tokens == F.profile_reference(text).tokens


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("Comment r\u00e9initialiser mon mot de passe ?", "Comment puis-je r\u00e9initialiser mon mot de passe ?"),
        (  # Russian
            "\u041a\u0430\u043a \u0441\u0431\u0440\u043e\u0441\u0438\u0442\u044c "
            "\u043f\u0430\u0440\u043e\u043b\u044c?",
            "\u041a\u0430\u043a \u044f \u043c\u043e\u0433\u0443 \u0441\u0431\u0440\u043e\u0441\u0438\u0442\u044c "
            "\u043f\u0430\u0440\u043e\u043b\u044c?",
        ),
        ("\u5982\u4f55\u91cd\u7f6e\u6211\u7684\u5bc6\u7801\uff1f", "\u600e\u6837\u91cd\u7f6e\u5bc6\u7801\uff1f"),
        ("Wie viel kostet ein Ticket nach Z\u00fcrich?", "Was kostet ein Ticket nach Z\u00fcrich?"),
    ],
)
def test_text_beyond_ascii_takes_the_one_call_path(query: str, cached: str) -> None:
    """Accents and other scripts are scored by one kernel call, as plain text is."""
    model, table = DEFAULT._fast_state()
    cp = F.profile(cached, shingles=False)
    got = F.query_logistic(query, cp, 0.97, model, table)
    assert got >= 0.0
    assert got == F.logistic(F.profile(query), cp, 0.97, model, table)


@SETTINGS
@given(st.lists(texts(), max_size=6))
def test_profiles_in_a_batch_equal_one_by_one(batch: list[str]) -> None:
    for p, t in zip(F.profiles(batch), batch, strict=True):
        assert np.array_equal(p.data, F.profile(t).data)


# -- features ---------------------------------------------------------------------------
@SETTINGS
@given(pairs(), cosines, idfs())
def test_features_equal_the_reference(
    pair: tuple[str, str], cosine: float, idf: dict[str, float] | None
) -> None:
    a, b = pair
    fast = F.features(F.profile(a), F.profile(b), cosine, idf)
    np.testing.assert_allclose(fast, ref_features(a, b, cosine, idf), rtol=0, atol=1e-9)
    assert fast.dtype == np.float64 and fast.shape == (len(F.FEATURE_NAMES),)


@SETTINGS
@given(pairs(), st.sampled_from([np.float32(0.96), np.float64(0.96), 1, 0]))
def test_features_keep_the_reference_arithmetic_for_any_cosine_type(
    pair: tuple[str, str], cosine: float
) -> None:
    a, b = pair
    fast = F.features(F.profile(a), F.profile(b), cosine, DEFAULT.idf)
    np.testing.assert_allclose(fast, ref_features(a, b, cosine, DEFAULT.idf), rtol=0, atol=1e-9)


@SETTINGS
@given(pairs())
@example(("How do I convert a PDF to a Word document?", "How do I convert a Word document to PDF?"))
@example(("Is Paris bigger than London?", "Is London bigger than Paris?"))
@example(("move files to my Drive from the PC", "move files from my Drive to the PC"))
@example(("get to Boston from NYC", "get from NYC to Boston"))
def test_order_swap_equals_the_reference(pair: tuple[str, str]) -> None:
    a, b = (F.profile(t) for t in pair)
    assert F.order_swap(a, b) == F.order_swap_reference(a.reference(), b.reference())


@SETTINGS
@given(pairs(40), st.integers(0, 30))
def test_long_mismatch_equals_the_reference(pair: tuple[str, str], long_words: int) -> None:
    a, b = (F.profile(t) for t in pair)
    want = F.long_mismatch_reference(a.reference(), b.reference(), long_words)
    assert F.long_mismatch(a, b, long_words) == want


# -- the verifier -------------------------------------------------------------------------
def verifiers() -> st.SearchStrategy[CalibratedVerifier]:
    return st.builds(
        lambda target, long_words, no_idf: replace(
            DEFAULT.with_target(target), long_words=long_words, idf=None if no_idf else DEFAULT.idf
        ),
        st.sampled_from([0.8, 0.9, 0.95, 0.99]),
        st.sampled_from([160, 12, 3]),
        st.booleans(),
    )


@SETTINGS
@given(pairs(30), cosines, verifiers())
def test_probability_equals_the_reference(
    pair: tuple[str, str], cosine: float, v: CalibratedVerifier
) -> None:
    a, b = (F.profile(t) for t in pair)
    assert abs(v.probability(a, b, cosine) - v._reference_probability(a, b, cosine)) <= 1e-9


@SETTINGS
@given(
    pairs(30),
    cosines,
    idfs(),
    st.lists(st.floats(-5.0, 5.0), min_size=len(F.FEATURE_NAMES), max_size=len(F.FEATURE_NAMES)),
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, 160, 6]),
    st.sampled_from([0.0, 0.0, 0.5, 0.95, 1.0]),
)
def test_query_logistic_equals_logistic_of_the_profile(
    pair: tuple[str, str],
    cosine: float,
    idf: dict[str, float] | None,
    weights: list[float],
    weigh_simhash: bool,
    weigh_chars: bool,
    long_words: int | None,
    at_least: float,
) -> None:
    # the fused kernel skips the query's SimHash and 3-grams when their weights are 0
    w = np.array(weights)
    w[F.FEATURE_NAMES.index("simhash_distance")] *= weigh_simhash
    w[F.FEATURE_NAMES.index("char_jaccard")] *= weigh_chars
    model = F.scoring_model(w, -1.0, long_words)
    table = F.idf_table(idf)
    q, c = pair
    cp = F.profile(c)
    got = F.query_logistic(q, cp, float(cosine), model, table, at_least)
    want = F.logistic(F.profile(q), cp, float(cosine), model, table, at_least)
    # the lookup path's bound form answers as query_logistic, also where it hands a call on
    score = F.query_scorer(model, table)
    assert score(q, cp, float(cosine), float(at_least)) == got
    assert score(q, cp, np.float32(cosine), float(at_least)) == F.query_logistic(  # type: ignore[arg-type]
        q, cp, np.float32(cosine), model, table, at_least  # type: ignore[arg-type]
    )
    if got == -1.0:  # only where the general path is needed: a name or digit beyond ASCII, or the guard
        folded = F._codepoints(unicodedata.normalize("NFKC", q).casefold())
        kernel = F._load().profile_codepoints(F._codepoints(q), folded, b"", True, F._ZERO, F._TABLES, F._PROPS)
        guard = long_words is not None and max(F.profile(q).n_words, cp.n_words) > long_words
        unguarded = F.logistic(F.profile(q), cp, float(cosine), F.without_limit(model), table)
        assert kernel.shape[0] <= 1 or (guard and unguarded >= at_least)
    else:
        assert got == want
        if not weigh_chars:  # against a stored profile without its 3-grams too
            lean = F.profile(c, shingles=False)
            assert F.query_logistic(q, lean, float(cosine), model, table, at_least) == want


@pytest.mark.parametrize("query", ["Please summarise this report about the quarterly sales " * 30,
                                   "R\u00e9sumez ce rapport sur les ventes du trimestre " * 30])
def test_a_long_pair_far_below_the_threshold_is_scored_in_one_call(query: str) -> None:
    """The long-prompt guard can only lower a probability, so a long pair already below
    ``at_least`` is answered by the one-call kernel without it (no second profile)."""
    model, table = DEFAULT._fast_state()
    cp = F.profile("What is the capital of France?", shingles=False)
    assert F.profile(query).n_words > DEFAULT.long_words  # a long pair
    assert F.query_logistic(query, cp, 0.9, model, table) == -1.0  # without at_least: the guard decides
    got = F.query_logistic(query, cp, 0.9, model, table, at_least=0.9)
    assert 0.0 <= got < 0.9
    assert got == F.logistic(F.profile(query), cp, 0.9, model, table, at_least=0.9)
    score = F.query_scorer(model, table)  # the lookup path's form, ASCII or not
    assert score(query, cp, 0.9, 0.9) == got and score(query, cp, 0.9, 0.0) == -1.0


@pytest.mark.parametrize(
    ("query", "cached"),
    [
        ("How do I get a 5% discount in 2019?", "How can I get a 10% discount in 2018?"),
        ("Is Python better than Java?", "Is Java better than Python?"),
        ("Why can't I sleep at night", "Why can I sleep at night"),
        ("What is the best laptop under 500 dollars", "What is the worst laptop under 500 dollars"),
        ("Who is Barack Obama", "Who is Donald Trump"),
        ("reset", "reset"),
    ],
)
@pytest.mark.parametrize("at_least", [0.0, 0.5, 0.9])
def test_the_lookup_scorer_answers_as_query_logistic_on_plain_ascii(query: str, cached: str, at_least: float) -> None:
    """The property tests' text is seldom all ASCII, the case the scorer sends straight to the kernel."""
    model, table = DEFAULT._fast_state()
    cp = F.profile(cached)
    want = F.query_logistic(query, cp, 0.93, model, table, at_least)
    assert F.query_scorer(model, table)(query, cp, 0.93, at_least) == want
    assert want == F.logistic(F.profile(query), cp, 0.93, model, table, at_least)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (np.zeros(F.profile("a b").data.shape[0], np.int64), "int64"),
        (np.zeros((2, 20), np.uint64), "uint64[2, 20]"),
        (np.zeros(40, np.uint64)[::2], "C-contiguous False"),
        (np.frombuffer(np.zeros(20, np.uint64).tobytes(), np.uint64), "writable False"),
        ([0] * 20, "list"),
    ],
)
def test_a_profile_array_of_another_kind_is_refused_when_made(data: object, named: str) -> None:
    """The lookup path hands a profile's array to compiled code that reads it as uint64
    without asking again, so ``TextProfile`` refuses anything else when it is made."""
    with pytest.raises(ArgumentTypeError, match=re.escape(named)):
        F.TextProfile("a b", data)  # type: ignore[arg-type]


def test_the_lookup_scorer_refuses_tables_of_another_type() -> None:
    model, table = DEFAULT._fast_state()
    with pytest.raises(ArgumentTypeError, match="float64"):
        F.query_scorer(model.astype(np.float32), table)


def test_the_lookup_scorer_hands_lookalike_arguments_to_the_checked_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only a ``TextProfile`` (whose array was checked when made) and a plain ``str`` reach
    the entry point; an object that merely looks like one takes ``query_logistic``."""

    class Lookalike:
        def __init__(self, p: F.TextProfile) -> None:
            self.text, self.data = p.text, p.data

    class Text(str):
        pass

    model, table = DEFAULT._fast_state()
    cp = F.profile("How do I reset my password?")
    query = "How can I reset my password?"
    score = F.query_scorer(model, table)
    want = score(query, cp, 0.97, 0.5)
    checked: list[object] = []
    real = F.query_logistic

    def spy(q: str, c: F.TextProfile, *rest: Any) -> float:
        checked.append(c if type(q) is str else q)
        return real(q, c, *rest)

    monkeypatch.setattr(F, "query_logistic", spy)
    assert score(query, cp, 0.97, 0.5) == want and checked == []  # the entry point
    look = Lookalike(cp)
    assert score(query, look, 0.97, 0.5) == want  # type: ignore[arg-type]
    text = Text(query)
    assert score(text, cp, 0.97, 0.5) == want
    assert score(query, cp, np.float64(0.97), 0.5) == want  # type: ignore[arg-type]
    assert checked == [look, text, cp]


def test_a_profile_array_cannot_be_rebound_and_a_pickle_is_rebuilt_through_the_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = F.profile("How do I reset my password?")
    with pytest.raises(AttributeError):
        p.data = np.zeros(3)  # type: ignore[misc]
    made: list[np.ndarray] = []
    init = F.TextProfile.__init__

    def spy(self: F.TextProfile, text: str, data: np.ndarray) -> None:
        made.append(data)
        init(self, text, data)

    monkeypatch.setattr(F.TextProfile, "__init__", spy)
    back = pickle.loads(pickle.dumps(p))  # (slot state would be set without __init__)
    assert type(back) is F.TextProfile and back.text == p.text and np.array_equal(back.data, p.data)
    assert len(made) == 1 and made[0] is back.data


def test_the_entry_point_is_the_compiled_code_and_a_plain_function_is_kept() -> None:
    """A Numba kernel gives its compiled code for the sample's types; a plain function
    (no ``compile``) is called as it is."""

    def plain(*args: object) -> float:
        return 0.5

    assert F._entry_point(plain, (b"", 0.0)) is plain
    kernel = F._load().logistic_context
    entry = F._entry_point(kernel, (b"", np.zeros(0, np.uint64), 0.0, np.zeros(0, np.uint64), 0.0))
    assert entry is not kernel and callable(entry)


@SETTINGS
@given(pairs(30), cosines, idfs(), verifiers())
def test_a_profile_without_shingles_scores_the_same_where_they_have_no_weight(
    pair: tuple[str, str], cosine: float, idf: dict[str, float] | None, v: CalibratedVerifier
) -> None:
    q, c = pair
    full, lean = F.profile(c), F.profile(c, shingles=False)
    assert full.has_shingles
    if lean.has_shingles:  # no words, or digits beyond ASCII (built from the reference, 3-grams kept)
        assert np.array_equal(lean.data, full.data)
    else:
        assert full.n_words > 0
    k = F._load()
    s = k.OFFSETS + k.SHINGLES
    cut = lambda d: np.concatenate([d[k.HEADER : d[s]], d[d[s + 1] :]])  # noqa: E731
    assert np.array_equal(cut(full.data), cut(lean.data))  # all but the 3-grams
    assert np.array_equal(full.data[: k.OFFSETS], lean.data[: k.OFFSETS])  # and the header fields
    assert not v.reads_shingles  # the shipped model gives char_jaccard weight 0
    w = np.array(v._w)
    w[F.FEATURE_NAMES.index("char_jaccard")] = 0.0  # (what makes the lean profile enough)
    model, table = F.scoring_model(w, -1.0, v.long_words), F.idf_table(idf)
    qp = F.profile(q)
    assert F.logistic(qp, lean, float(cosine), model, table) == F.logistic(qp, full, float(cosine), model, table)


def reference_decide(
    v: CalibratedVerifier, query: str, cands: list[Candidate]
) -> tuple[int, float] | None:
    """CalibratedVerifier.decide as it was: the reference probability of every candidate
    from ``min_cosine`` up (it serves nothing below: the lowest cosine the lexical evidence
    could lift to the threshold, or the cosine floor fitted for the target if higher)."""
    best = None
    q = F.profile(query)
    for i, c in enumerate(cands):
        if c.cosine < v.min_cosine:
            continue
        p = v._reference_probability(q, F.profile(c.prompt), c.cosine)
        if p >= v.threshold and (best is None or p > best[1]):
            best = (i, p)
    return best


@SETTINGS
@given(
    texts(),
    st.lists(st.tuples(st.one_of(texts(), st.just("")), st.floats(0.7, 1.0)), max_size=4),
    verifiers(),
)
def test_decide_equals_the_reference(
    query: str, cands: list[tuple[str, float]], v: CalibratedVerifier
) -> None:
    cs = [Candidate(t if t else query, c) for t, c in cands]
    got = v.decide(query, cs)
    want = reference_decide(v, query, cs)
    assert (got is None) == (want is None)
    if got is not None and want is not None:
        assert got[0] == want[0] and abs(got[1] - want[1]) <= 1e-9


def test_close_calls_go_to_the_reference() -> None:
    v = load_default_verifier()
    q = "How do I reset my password after 3 failed logins"
    c = Candidate("how can I reset my password after 3 failed logins", 0.97)
    p = v._reference_probability(F.profile(q), F.profile(c.prompt), c.cosine)
    at = replace(v, points=((v.target_precision, p),))  # the candidate sits on the threshold
    assert at.decide(q, [c]) == (0, p)
    twins = [c, Candidate(c.prompt, c.cosine)]  # equal probabilities: the first one wins
    assert v.decide(q, twins) == reference_decide(v, q, twins)


# -- hand-written cases, idf tables ---------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Lock the account after 3 failed logins", "Lock the account after 5 failed logins"),
        ("Who won the World Cup in 2014", "Who won the World Cup in 2018"),
        ("Can I deduct my home office", "Can't I deduct my home office"),
        ("How far is 10 km in steps", "How far is 10 miles in steps"),
        ("What is the best phone to buy", "What is the worst phone to buy"),
        ("Why is the sky blue", "When is the sky blue"),
        ("It costs 50% more", "It costs 50 percent more"),
        ("Caf\u00e9 in Z\u00fcrich open at 10\u00a0am?", "caf\u00e9 in zurich open at 10 am"),
        ("", "   "),
    ],
)
def test_hand_written_pairs(a: str, b: str) -> None:
    for idf in (None, DEFAULT.idf):
        fast = F.features(F.profile(a), F.profile(b), 0.95, idf)
        np.testing.assert_allclose(fast, ref_features(a, b, 0.95, idf), rtol=0, atol=1e-9)


def test_idf_tables_are_cached_by_identity_and_skip_keys_that_are_never_words() -> None:
    idf = {"paris": 3.0, "Paris": 9.0, "don't": 9.0, "": 5.0}
    table = F.idf_table(idf)
    assert F.idf_table(idf) is table and F.idf_table(dict(idf)) is not table
    a, b = F.profile("Paris trip"), F.profile("London trip")
    want = F.features_reference(a.reference(), b.reference(), 0.9, idf)
    np.testing.assert_allclose(F.features(a, b, 0.9, table), want, rtol=0, atol=1e-12)


def test_plain_symbols_are_the_characters_no_regex_rule_sees() -> None:
    """The byte-wise path holds iff no character beyond ASCII is a word or space
    character for ``re`` (or a surrogate, or U+0345, which case folding changes)."""
    F._load()
    bits = np.unpackbits(F._SYMBOL_BITS.view(np.uint8), bitorder="little").astype(bool)
    rule = re.compile(r"[\w\s\ud800-\udfff\u0345]")
    want = np.array([rule.match(chr(i)) is None for i in range(0x110000)])
    assert np.array_equal(bits[0x80:], want[0x80:])


def test_code_point_properties_are_pythons() -> None:
    """The Unicode path's bitsets say of each character what ``str`` (and so ``re``'s
    ``[^\\W_]`` and ``\\s``) says."""
    F._load()
    k = F._K
    assert k is not None

    def row(i: int) -> np.ndarray:
        return np.unpackbits(F._PROPS[i].view(np.uint8), bitorder="little").astype(bool)

    chars = [chr(i) for i in range(0x110000)]
    for index, method in ((k.U_ALNUM, str.isalnum), (k.U_UPPER, str.isupper), (k.U_SPACE, str.isspace),
                          (k.U_DIGIT, str.isdigit)):
        assert np.array_equal(row(index), [method(c) for c in chars]), method.__name__
    word, space = re.compile(r"[^\W_]"), re.compile(r"\s")
    assert np.array_equal(row(k.U_ALNUM), [word.match(c) is not None for c in chars])
    assert np.array_equal(row(k.U_SPACE), [space.match(c) is not None for c in chars])


def test_importing_features_loads_no_numba() -> None:
    code = "import sys, semcache, semcache.verify; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
