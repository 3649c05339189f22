"""The verifier: lexical features on hand-written cases, the fit, and calibrate()."""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcache import CalibratedVerifier, Candidate, HashingEmbedder, SemanticCache, calibrate
from semcache._errors import ArgumentTypeError, InvalidArgumentError, InvalidConfigError, InvalidPromptError
from semcache._features import (
    _JOINED_OVERHEAD,
    _PROFILE_OVERHEAD,
    FEATURE_NAMES,
    features,
    features_reference,
    logistic,
    long_mismatch,
    order_swap,
    profile,
    profile_reference,
    profiles,
    scoring_model,
)
from semcache.verify import (
    SWAP_PRIOR,
    TARGET_GRID,
    CosineVerifier,
    cosine_floors,
    fit_logistic,
    load_default_verifier,
    lookup_ids,
    operating_points,
    points_per_lookup,
    served_minima,
    served_per_lookup,
)

from .conftest import near, unit

F = {name: i for i, name in enumerate(FEATURE_NAMES)}


def feat(a: str, b: str, cos: float = 0.95) -> dict[str, float]:
    x = features(profile(a), profile(b), cos)
    return {name: float(x[i]) for name, i in F.items()}


@pytest.mark.parametrize(
    ("a", "b", "flag"),
    [
        ("Lock the account after 3 failed logins", "Lock the account after 5 failed logins", "number_mismatch"),
        ("How many days in three weeks", "How many days in four weeks", "number_mismatch"),
        ("Who won the World Cup in 2014", "Who won the World Cup in 2018", "year_mismatch"),
        ("Can I deduct my home office", "Can't I deduct my home office", "negation_mismatch"),
        ("Why does my laptop not charge", "Why does my laptop charge", "negation_mismatch"),
        ("How do I learn Python quickly", "How do I learn Java quickly", "entity_mismatch"),
        ("Flights from Paris to Rome", "Flights from Paris to Madrid", "entity_mismatch"),
        ("How far is 10 km in steps", "How far is 10 miles in steps", "unit_mismatch"),
        ("What is the best phone to buy", "What is the worst phone to buy", "polarity_mismatch"),
        ("How do I upgrade my plan", "How do I downgrade my plan", "polarity_mismatch"),
        ("Why is the sky blue", "When is the sky blue", "question_word_mismatch"),
        # found by a probe of hand-made flips (twelfth session): words the lists lacked
        ("Is a resting heart rate of sixty bpm normal", "Is a resting heart rate of ninety bpm normal",
         "number_mismatch"),
        ("How long do I boil two eggs", "How long do I boil two dozen eggs", "number_mismatch"),
        ("Will the store be open at 9am", "Will the store be open at 9pm", "number_mismatch"),
        ("Is it safe to reboot now", "Is it safe to reboot now? It isn\u2019t", "negation_mismatch"),
        ("Why is my code working", "Why isn\u2019t my code working", "negation_mismatch"),
        ("Why can I sleep after coffee", "Why can\u2019t I sleep after coffee", "negation_mismatch"),
        ("Why will my laptop turn on", "Why won\u2019t my laptop turn on", "negation_mismatch"),
        ("I am unable to log in", "I am able to log in", "negation_mismatch"),
        ("Can I order it today", "Can I order it tomorrow", "unit_mismatch"),
        ("Is the office open on Tuesday", "Is the office open on Thursday", "unit_mismatch"),
        ("How much salt is a teaspoon", "How much salt is a tablespoon", "unit_mismatch"),
        ("Is it legal to record a call", "Is it illegal to record a call", "polarity_mismatch"),
        ("Is it safe to eat raw eggs", "Is it unsafe to eat raw eggs", "polarity_mismatch"),
        ("Why are interest rates higher", "Why are interest rates lower", "polarity_mismatch"),
        ("Is Rust easier than Go", "Is Rust harder than Go", "polarity_mismatch"),
        ("How do I gain weight fast", "How do I lose weight fast", "polarity_mismatch"),
    ],
)
def test_meaning_flips_are_flagged(a: str, b: str, flag: str) -> None:
    assert feat(a, b)[flag] == 1.0
    assert feat(a, a)[flag] == 0.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Is the store open until 9pm", "Is the store open until 9 PM"),
        ("Is it safe to take 500mg of ibuprofen", "Is taking 500 mg of ibuprofen safe"),
        ("How long is a 5km run", "How long is a 5 km run"),
        ("Why is my 100mbps plan slow", "Why is my 100 Mbps plan slow"),
        ("What is the interest rate per cent", "What is the interest rate percent"),
        ("Is the gym open tonight", "Is the gym open this evening"),
        ("What are today's top stories", "What are the top stories today"),
        ("Is the museum open on Mondays", "Is the museum open on Monday"),
        ("How much do I earn a year at 50k dollars", "How much do I earn annually at 50k dollars"),
        ("Is a non-profit taxed", "Is a nonprofit taxed"),
        ("Millions of people use it, why", "So many people use it, why"),
        ("How do I copy photos from Android", "How to copy photos from Android"),
        ("How to move photos from Android", "How do I move photos from Android"),
        ("Is the bakery open at 9 today", "Is the bakery open today at 9"),
        ("Does it have a 5yr warranty", "Does it have a 5 year warranty"),
        ("Is a tax haven legal for a company", "Is a tax shelter legal for a company"),
    ],
)
def test_the_same_question_written_two_ways_raises_no_flag(a: str, b: str) -> None:
    """Found by a review of the grown word lists: a unit stuck to its number or apart,
    "tonight" and "this evening", a plural weekday, "non-" (a nonprofit), a vague
    plural number, and a word after "how to" sharing a bit with another after "from"."""
    f = feat(a, b)
    assert [n for n in FEATURE_NAMES if n.endswith("mismatch") and n != "entity_mismatch" and f[n]] == []
    assert not order_swap(profile(a), profile(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is Google's revenue", "What is Google's revenue"),
        ("What is Google's revenue", "What is the revenue of Google"),
        ("What is Google\u2019s revenue", "What is the revenue of Google"),
        ("What are your New Year's resolutions", "What are your resolutions for the New Year"),
        ("How big is McDonald's menu", "How big is the McDonald's menu"),
    ],
)
def test_a_possessive_name_matches_the_name(a: str, b: str) -> None:
    """A capitalised possessive ("Google's") names "google" and gives the word "googles":
    the entity flag fired between such a text and itself (older than the twelfth session,
    and the shipped weights were fitted with it until the thirteenth). A name is also
    held by a text that has it with an "s" after it."""
    assert feat(a, b)["entity_mismatch"] == 0.0
    assert feat(b, a)["entity_mismatch"] == 0.0
    ra, rb = profile_reference(a), profile_reference(b)
    assert features_reference(ra, rb, 0.97)[FEATURE_NAMES.index("entity_mismatch")] == 0.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("What is Google's revenue", "What is Apple's revenue"),
        ("What is Google's revenue", "What is the revenue of Apple"),
        ("Is Tesla's CEO on Twitter", "Is SpaceX's CEO on Twitter"),
    ],
)
def test_a_possessive_of_another_name_still_clashes(a: str, b: str) -> None:
    assert feat(a, b)["entity_mismatch"] == 1.0
    ra, rb = profile_reference(a), profile_reference(b)
    assert features_reference(ra, rb, 0.97)[FEATURE_NAMES.index("entity_mismatch")] == 1.0


def test_paraphrase_raises_no_flags() -> None:
    f = feat("How can I reset my password?", "how do I reset my password")
    flags = [n for n in FEATURE_NAMES if n.endswith("mismatch")]
    assert [n for n in flags if f[n]] == []
    assert f["word_jaccard"] > 0.5 and f["simhash_distance"] < 0.3


# (query, a rewording of it, the rewording with one meaning-flipping change):
# a number, a year, a negation, an entity
MEANING_FLIPS = [
    ("Reset the password after 3 failed logins", "Reset the password after 3 failed logins please",
     "Reset the password after 5 failed logins please"),
    ("Who won the election in 2016", "Who was the winner of the election in 2016",
     "Who was the winner of the election in 2020"),
    ("Can I return an opened item", "Can I send back an opened item", "Can't I send back an opened item"),
    ("How do I install Python on Windows", "How do I set up Python on Windows",
     "How do I set up Python on Linux"),
    # the same words in place, "to" and "from" swapped (the order-swap prior)
    ("How do I move my files to Google Drive", "How can I move my files to Google Drive",
     "How can I move my files from Google Drive"),
    ("Ship a package to Canada from the US", "Ship the package to Canada from the US",
     "Ship the package from Canada to the US"),
]


@pytest.mark.parametrize(("query", "same", "changed"), MEANING_FLIPS)
def test_changed_number_year_negation_entity_lower_the_probability(query: str, same: str, changed: str) -> None:
    v = load_default_verifier()
    q = profile(query)
    # the same cosine for both: only the lexical evidence differs
    assert v.probability(q, profile(changed), 0.95) < v.probability(q, profile(same), 0.95)


def test_default_verifier_weights_obey_their_signs() -> None:
    v = load_default_verifier()
    for name in ("number_mismatch", "year_mismatch", "negation_mismatch", "entity_mismatch", "polarity_mismatch"):
        assert v.weights[F[name]] <= 0, name
    assert v.weights[F["cosine"]] > 0
    assert 0.0 < v.min_cosine < 0.97
    assert v.with_target(0.99).threshold >= v.with_target(0.95).threshold >= v.with_target(0.8).threshold


def test_long_prompts_behind_one_template_never_match() -> None:
    template = "You are a helpful assistant. Follow the style guide closely. " * 40
    v = load_default_verifier()
    a = profile(template + "Write a haiku about autumn leaves.")
    b = profile(template + "Explain how a B-tree handles deletes.")
    assert v.probability(a, b, 0.999) == 0.0
    same = profile(template + "Write a haiku about autumn leaves!")
    assert v.probability(a, same, 0.999) > 0.5
    # decide, with the candidate long (the general path) and each side cached or asked
    for query, cached in ((a, b), (b, a)):
        assert v.decide(query.text, [Candidate(cached.text, 0.999, cached)]) is None
        assert v.decide(query.text, [Candidate(cached.text, 0.999, None), Candidate(query.text, 0.5)]) is None
    hit = v.decide(same.text, [Candidate(a.text, 0.999, a)])
    assert hit is not None and hit[0] == 0


def test_a_long_candidate_has_the_guard_run_first_and_the_query_is_never_profiled(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The one-candidate path runs the long-prompt guard first, on the query's words alone,
    for a long candidate; a pair that fails it is refused, one that passes it is scored
    in one kernel call without the word limit (the query's profile is never made)."""
    import semcache.verify as V
    from semcache._features import long_mismatch_text

    template = "You are a helpful assistant. Follow the style guide closely. " * 40
    v = load_default_verifier()
    cached = profile(template + "Write a haiku about autumn leaves.")
    profiled: list[str] = []

    def spy(text: str, *args: object, **kw: bool) -> object:
        profiled.append(text)
        return profile(text, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(V, "profile", spy)
    other = template + "Explain how a B-tree handles deletes."
    assert v.decide(other, [Candidate(cached.text, 0.999, cached)]) is None and profiled == []
    near = template + "Write a haiku about autumn leaves!"
    hit = v.decide(near, [Candidate(cached.text, 0.999, cached)])
    assert hit is not None and hit[0] == 0 and profiled == []  # (scored in one kernel call, unlimited)
    want = v._reference_probability(profile(near), cached, 0.999)
    assert abs(hit[1] - want) <= 1e-9
    with pytest.raises(InvalidArgumentError, match="more than 160 words"):
        long_mismatch_text(other, profile("a short prompt"), 160)
    # the scorer without the limit is made once per model: copies at other targets and an
    # unpickled verifier decide alike
    import pickle

    again, stricter = pickle.loads(pickle.dumps(v)), v.with_target(0.99)
    assert again.decide(near, [Candidate(cached.text, 0.999, cached)]) == hit
    assert stricter.decide(other, [Candidate(cached.text, 0.999, cached)]) is None
    stricter.decide(near, [Candidate(cached.text, 0.999, cached)])
    assert stricter._model_state().unlimited is v._model_state().unlimited is not None


@pytest.mark.parametrize("cosine", [0.999, 0.95, 0.5])
@pytest.mark.parametrize("long", [False, True])
@pytest.mark.parametrize("query", ["What is a B-tree\ud800", "Qu'est-ce qu'un arbre B\u00e9\udc00"])
def test_a_query_with_a_lone_surrogate_is_refused_on_every_path(query: str, long: bool, cosine: float) -> None:
    """The kernels read a lone surrogate as bytes while the profile cannot encode it, so
    ``decide`` once answered on some paths (one candidate, the long-prompt guard) and raised
    a bare UnicodeEncodeError on others (a close call): now it names the bad character
    wherever the pair would go, as ``SemanticCache`` does for a prompt."""
    v = load_default_verifier()
    template = "You are a helpful assistant. Follow the style guide closely. " * 40 if long else ""
    cached = profile(template + "What is a B-tree")
    for cands in ([Candidate(cached.text, cosine, cached)], [Candidate(cached.text, cosine, cached)] * 2):
        with pytest.raises(InvalidPromptError, match=r"query must be text that encodes as UTF-8.*lone surrogate"):
            v.decide(template + query, cands)
    with pytest.raises(ArgumentTypeError, match="query must be a str, got bytes"):
        v.decide(b"What is a B-tree", [Candidate(cached.text, cosine, cached)])  # type: ignore[arg-type]


def test_profiles_name_a_lone_surrogate() -> None:
    with pytest.raises(InvalidPromptError, match=r"text must be text that encodes as UTF-8.*index 1"):
        profile("\u00e9\ud800")
    with pytest.raises(InvalidPromptError, match=r"texts\[1\] must be text that encodes as UTF-8"):
        profiles(["fine", "x\udfff"])
    cached = profile("What is a B-tree")  # a candidate is profiled when it comes without one
    with pytest.raises(InvalidPromptError, match="lone surrogate"):
        load_default_verifier().decide("What is a B-tree", [Candidate("What is a B-tree\ud800", 0.999, None)])
    assert load_default_verifier().decide("What is a B-tree", [Candidate(cached.text, 0.999, cached)]) is not None


def test_only_a_long_profile_keeps_its_joined_words_and_counts_them() -> None:
    """The long-prompt guard keeps the joined words on a long profile (read on every
    lookup) but not on a short one compared with a long query, so a short cached entry
    does not grow after it was counted; ``nbytes`` counts them once kept."""
    template = "You are a helpful assistant. Follow the style guide closely. " * 40
    short, long = profile("Write a haiku about autumn leaves."), profile(template + "Write a haiku.")
    lean = long.nbytes
    assert lean == long.data.nbytes + _PROFILE_OVERHEAD
    assert long_mismatch(long, short, 160) and long_mismatch(short, long, 160)
    assert short._joined is None and long._joined is not None
    assert short.nbytes == short.data.nbytes + _PROFILE_OVERHEAD
    assert long.nbytes == lean + long.joined.nbytes + _JOINED_OVERHEAD


def test_logistic_checks_the_long_prompt_guard_only_where_it_can_matter() -> None:
    template = "You are a helpful assistant. Follow the style guide closely. " * 40
    v = load_default_verifier()
    model, idf = v._fast_state()  # type: ignore[attr-defined]
    a = profile(template + "Write a haiku about autumn leaves.")
    b = profile(template + "Explain how a B-tree handles deletes.")
    unguarded = scoring_model(v._w, SWAP_PRIOR, None)  # type: ignore[attr-defined]
    raw = logistic(a, b, 0.999, unguarded, idf)
    assert raw > 0.5 and logistic(a, b, 0.999, model, idf) == 0.0  # the guard rejects the pair
    assert logistic(a, b, 0.999, model, idf, at_least=raw + 1e-9) == raw  # below at_least: unguarded
    assert logistic(a, b, 0.999, model, idf, at_least=raw - 1e-9) == 0.0  # at or above: guarded
    same = profile(template + "Write a haiku about autumn leaves!")
    assert logistic(a, same, 0.999, model, idf, at_least=0.5) == logistic(a, same, 0.999, model, idf) > 0.5


def test_decide_prefers_the_most_probable_candidate() -> None:
    v = load_default_verifier(0.9)
    cands = [
        Candidate("How to reset my password after 5 failed logins", 0.97),
        Candidate("How to reset my password after 3 failed logins", 0.96),
    ]
    got = v.decide("How to reset my password after 3 failed logins?", cands)
    assert got is not None and got[0] == 1
    assert v.decide("anything", [Candidate("x", v.min_cosine - 0.01)]) is None
    # at a low target the model itself would serve it: only the floor stops it
    low = load_default_verifier(0.5)
    text = "How to reset my password after 3 failed logins"
    assert low.decide(text + "?", [Candidate(text, low.min_cosine)]) is not None
    assert low.decide(text + "?", [Candidate(text, low.min_cosine - 1e-6)]) is None


def test_cosine_verifier() -> None:
    v = CosineVerifier(0.9)
    assert v.decide("q", [Candidate("a", 0.91), Candidate("b", 0.95)]) == (0, 0.91)
    assert v.decide("q", [Candidate("a", 0.89)]) is None
    with pytest.raises(InvalidConfigError, match=r"threshold must be in \[0, 1\], got 2"):
        CosineVerifier(2)


def test_fit_logistic_recovers_known_weights() -> None:
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(20_000), rng.standard_normal((20_000, 3))])
    w_true = np.array([0.5, 2.0, -1.5, 0.0])
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(x @ w_true)))).astype(float)
    w = fit_logistic(x, y, l2=1e-6)
    assert np.allclose(w, w_true, atol=0.12)


def test_fit_logistic_keeps_nonpositive_columns_nonpositive() -> None:
    rng = np.random.default_rng(1)
    x = np.column_stack([np.ones(5000), rng.standard_normal((5000, 2))])
    y = (rng.random(5000) < 1 / (1 + np.exp(-(x @ np.array([0.0, 1.0, 2.0]))))).astype(float)
    w = fit_logistic(x, y, nonpositive=[2])
    assert w[2] == 0.0 and w[1] > 0.5
    w = fit_logistic(x, y, upper={1: 0.25}, fixed={0: 0.0})
    assert w[1] == 0.25 and w[0] == 0.0


def test_operating_points_reach_their_precision() -> None:
    rng = np.random.default_rng(2)
    scores = rng.random(10_000)
    correct = rng.random(10_000) < scores  # precision rises with the score
    for target, tau in operating_points(scores, correct, [0.8, 0.9, 0.95]):
        accepted = scores >= tau
        assert correct[accepted].mean() >= target - 0.01
    taus = [t for _, t in operating_points(scores, correct, [0.8, 0.9, 0.95])]
    assert taus == sorted(taus)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.booleans()), min_size=1, max_size=60),
    st.sampled_from([0.5, 0.7, 0.8, 0.9, 0.95]),
)
def test_operating_points_count_every_tied_score_they_accept(rows: list[tuple[int, bool]], target: float) -> None:
    """A threshold serves every score equal to it: the precision of all it accepts
    reaches the target (scores drawn from a few values, so runs of ties are common)."""
    scores = np.array([v / 6 for v, _ in rows])
    right = np.array([r for _, r in rows])
    ((_, tau),) = operating_points(scores, right, [target], min_hits=1)
    accepted = scores >= tau
    if tau < 1.0:  # (1.0: out of reach, and a calibrated verifier then serves nothing)
        assert accepted.any() and right[accepted].mean() >= target
    # and 1.0 only where no threshold below it reaches the target with a right score below
    # 1.0 (wrong ones past the last right one are not served): else the test above is empty
    reachable = [
        v for v in np.unique(scores)
        if right[scores >= v].mean() >= target and right[(scores >= v) & (scores < 1.0)].any()
    ]
    assert (tau < 1.0) == bool(reachable)


def test_operating_points_do_not_cut_a_run_of_ties() -> None:
    """Nine right at 0.9, then 0.5 held by one right and nine wrong: a cut after the
    first 0.5 reads 10/10, but 0.5 serves all ten of them (precision 10/19)."""
    scores = np.array([0.9] * 9 + [0.5] * 10)
    right = np.array([True] * 10 + [False] * 9)
    tau = operating_points(scores, right, [0.95], min_hits=1)[0][1]
    assert 0.5 < tau < 0.9  # (above the run, and not the out-of-reach 1.0: the 0.9 run reaches 0.95)


def test_a_point_out_of_reach_serves_nothing_even_at_probability_one() -> None:
    """operating_points gives 1.0 for a target no threshold reaches; a logit above ~37
    rounds to probability 1.0, which must not pass that threshold."""
    shipped = load_default_verifier()
    w = np.array(shipped.weights)
    w[F["bias"]] = 100.0  # every pair scores 1.0
    v = CalibratedVerifier(weights=tuple(w), points=((0.95, 1.0),), floor=0.0)
    text = "How do I reset my router password?"
    assert v.probability(profile(text), profile(text), 1.0) == 1.0
    assert v.decide(text, [Candidate(text, 1.0, profile(text))]) is None
    assert replace(v, points=((0.95, 0.999),)).decide(text, [Candidate(text, 1.0, profile(text))]) == (0, 1.0)
    # and where it serves, as the floors and the search plan read it: nowhere
    assert served_minima(np.array([1.0, 1.0, 0.9]), np.array([0.93, 0.99, 0.95]), [(0.995, 1.0)]) == ((0.995, 1.0),)
    assert cosine_floors(np.array([1.0, 1.0, 0.9]), np.array([0.93, 0.99, 0.95]), [(0.995, 1.0)]) == ((0.995, 1.0),)


def test_a_target_between_calibrated_points_takes_the_higher_point() -> None:
    """Two points that each just reach their own target do not make a point between
    them reach its own: 0.93 is served at the 0.95 point, never an interpolated one;
    a target above every point serves nothing (it was never measured)."""
    v = CalibratedVerifier(
        weights=load_default_verifier().weights,
        points=((0.95, 0.8), (0.9, 0.5), (0.99, 0.9)),  # (order does not matter)
        floor=0.85,
        cosine_floors=((0.9, 0.86), (0.95, 0.955), (0.99, 0.965)),
        served_cosines=((0.9, 0.88), (0.95, 0.957), (0.99, 0.985)),
    )
    # above every point (0.995 > 0.99) no point was measured: out of reach, nothing served
    for target, tau, floor, served in ((0.93, 0.8, 0.955, 0.957), (0.9, 0.5, 0.86, 0.88), (0.995, 1.0, 1.0, 1.0)):
        at = v.with_target(target)
        assert (at.threshold, at.min_cosine, at.search_cosine) == (tau, floor, served), target
    shipped = load_default_verifier()
    assert shipped.with_target(0.94).threshold == shipped.with_target(0.95).threshold


@pytest.mark.parametrize(
    ("bad", "error"),
    [(-1, InvalidArgumentError), (True, ArgumentTypeError), (160.5, ArgumentTypeError), ("160", ArgumentTypeError),
     (None, ArgumentTypeError)],
)
def test_a_verifier_refuses_a_long_words_limit_that_is_not_a_count(bad: object, error: type[Exception]) -> None:
    # (a negative limit meant "no guard" to the kernels and "guard every pair" to the Python paths)
    with pytest.raises(error, match=r"long_words must be a whole number >= 0, got "):
        replace(load_default_verifier(), long_words=bad)
    numpy_int = replace(load_default_verifier(), long_words=np.int64(0))
    assert type(numpy_int.long_words) is int and numpy_int.to_dict()["long_words"] == 0


def test_a_verifier_that_has_decided_pickles_and_decides_alike() -> None:
    import pickle

    v = load_default_verifier()
    cands = [Candidate(t, 0.97, profile(t), None) for t in ("How do I reset my router?", "How do I reset my modem?")]
    query = "how can I reset my router"
    want = v.decide(query, cands[:1]), v.decide(query, cands)
    again = pickle.loads(pickle.dumps(v))  # (its lookup state holds a closure, made again on first use)
    assert again == v
    assert (again.decide(query, cands[:1]), again.decide(query, cands)) == want


def test_a_verifiers_idf_weights_are_read_only_and_shared_by_its_copies() -> None:
    """The IDF weights feed tables packed on the first lookup, so like the frozen fields
    they cannot change afterwards: a read-only dict of the verifier's own, kept through
    pickling, copying and JSON, shared by ``with_target`` copies (no second table); still a
    dict for ``dataclasses.asdict`` and ``json``."""
    import copy
    import dataclasses
    import json
    import pickle

    v = load_default_verifier()
    assert isinstance(v.idf, dict) and len(v.idf) > 1000
    for change in (
        lambda d: d.__setitem__("reset", 0.0),
        lambda d: d.update(reset=0.0),
        lambda d: d.pop("reset"),
        lambda d: d.clear(),
        lambda d: d.setdefault("zzz", 1.0),
        lambda d: d.popitem(),
        lambda d: d.__delitem__("reset"),
    ):
        with pytest.raises(TypeError, match="idf weights are read-only"):
            change(v.idf)
    with pytest.raises(TypeError, match="read-only"):
        v.idf |= {"reset": 0.0}  # type: ignore[misc]
    assert v.with_target(0.99).idf is v.idf
    for again in (pickle.loads(pickle.dumps(v)), copy.deepcopy(v), copy.copy(v)):
        assert again.idf == v.idf and again == v
        with pytest.raises(TypeError, match="read-only"):
            again.idf["reset"] = 0.0  # type: ignore[index]
    assert dataclasses.asdict(v)["idf"] == v.idf and json.loads(json.dumps(v.idf)) == v.idf
    assert CalibratedVerifier.from_dict(v.to_dict()).idf == v.idf
    mine = {"reset": 3.0, "router": 5.0}
    own = replace(v, idf=mine)
    mine["reset"] = 9.0  # the caller's dict is the caller's
    assert own.idf == {"reset": 3.0, "router": 5.0}
    with pytest.raises(ArgumentTypeError, match="idf must be None or a mapping of words to weights, got list"):
        replace(v, idf=[("reset", 3.0)])


def test_verifiers_of_one_model_share_its_packed_tables_and_others_do_not() -> None:
    """Each cache holds its own verifier; at one model (any target) they share the packed
    tables and the scorer, so a thousand caches do not hold a thousand copies."""
    query = "how can I reset my router"
    cands = [Candidate("How do I reset my router?", 0.98, profile("How do I reset my router?"), None)]
    a, b = load_default_verifier(0.95), load_default_verifier(0.99)
    assert a.decide(query, cands) is not None and b.decide(query, cands) is None  # (its own threshold)
    assert a._hot_state().score_one is b._hot_state().score_one
    assert a._fast_state()[0] is b._fast_state()[0]
    other = replace(a, weights=tuple(w * 0.5 for w in a.weights))  # another model: its own tables
    other.decide(query, cands)
    assert other._hot_state().score_one is not a._hot_state().score_one
    assert not np.array_equal(other._fast_state()[0], a._fast_state()[0])


def test_several_candidates_with_one_past_the_floor_take_one_kernel_call(monkeypatch: pytest.MonkeyPatch) -> None:
    import semcache.verify as V

    v = load_default_verifier()
    hot = v._hot_state()
    assert hot.score_one is not None
    calls: list[tuple[object, ...]] = []

    def one(*args: object) -> float:
        calls.append(args)
        return hot.score_one(*args)  # type: ignore[misc, arg-type]

    def general(*args: object, **kw: object) -> float:
        raise AssertionError("the general path was taken")

    object.__setattr__(v, "_hot", hot._replace(score_one=one))
    monkeypatch.setattr(V, "logistic", general)
    texts = ("How do I reset my modem?", "How do I reset my router?", "How do I reset my phone?")
    low = hot.min_cosine - 0.01
    cands = [Candidate(t, c, profile(t), None) for t, c in zip(texts, (low, 0.98, low), strict=True)]
    got = v.decide("how can I reset my router", cands)
    assert got is not None and got[0] == 1 and len(calls) == 1
    assert calls[0][1] is cands[1].profile and calls[0][2] == 0.98


def _synthetic_pairs(rng: np.random.Generator, n: int) -> list[tuple[str, str, int]]:
    """Known answer: a filler word or punctuation changes nothing; a changed number changes everything."""
    subjects = ["invoice", "router", "passport", "garden hose", "savings account", "camera lens", "train ticket"]
    verbs = ["renew", "reset", "replace", "cancel", "upgrade", "return", "clean"]
    pairs = []
    for _ in range(n):
        s, v, k = rng.choice(subjects), rng.choice(verbs), int(rng.integers(2, 30))
        a = f"how do I {v} my {s} within {k} days"
        if rng.random() < 0.5:
            b = f"how can I {v} my {s} within {k} days please?"
            pairs.append((a, b, 1))
        else:
            b = f"how can I {v} my {s} within {k + int(rng.integers(1, 9))} days please?"
            pairs.append((a, b, 0))
    return pairs


def test_calibrate_learns_the_known_answer_on_synthetic_pairs() -> None:
    rng = np.random.default_rng(3)
    embedder = HashingEmbedder(dim=64)
    train = _synthetic_pairs(rng, 600)
    v = calibrate(train, embedder=embedder, target_precision=0.95, refit=True)
    assert isinstance(v, CalibratedVerifier) and "refitted" in v.source
    assert v.weights[F["number_mismatch"]] < -1.0
    held_out = _synthetic_pairs(rng, 300)
    cache = SemanticCache(embedder, verifier=v)
    right = wrong = 0
    for a, b, label in held_out:
        cache.clear()
        cache.put(a, "answer")
        hit = cache.get(b)
        if hit is not None:
            right += label
            wrong += 1 - label
    assert wrong == 0 and right >= 0.9 * sum(label for _, _, label in held_out)


def test_calibrate_without_refit_keeps_weights_and_moves_points() -> None:
    rng = np.random.default_rng(4)
    pairs = _synthetic_pairs(rng, 60)
    base = load_default_verifier()
    v = calibrate(pairs, embedder=HashingEmbedder(dim=64), base=base)
    assert v.weights == base.weights and "operating points only" in v.source


def _swaps_and_long_pairs(rng: np.random.Generator) -> list[tuple[str, str, int]]:
    """Pairs whose features look alike but whose answers differ only through what no
    weight covers: a direction swap (the swap prior) or another ending after one long
    shared template (the long-prompt guard)."""
    formats = ["pdf", "word", "excel", "png", "jpeg", "csv", "html", "markdown"]
    pairs: list[tuple[str, str, int]] = []
    for _ in range(60):
        a, b = (str(f) for f in rng.choice(formats, 2, replace=False))
        pairs.append((f"how do I convert {a} to {b}", f"how can I convert {a} to {b}?", 1))
        pairs.append((f"how do I convert {a} to {b}", f"how do I convert {b} to {a}", 0))
    template = " ".join(f"step{i} keep the answer short" for i in range(40))  # 200 words
    for i in range(15):
        pairs.append((f"{template} then summarise chapter {i}", f"{template} then summarise chapter {i}!", 1))
        pairs.append((f"{template} then summarise chapter {i}", f"{template} then translate chapter {i + 1}", 0))
    for _ in range(20):  # lookups whose answer is not cached: a wrong candidate only
        a, b = (str(f) for f in rng.choice(formats, 2, replace=False))
        pairs.append((f"how should I convert {a} to {b}", f"how do I convert {b} to {a}", 0))
    return pairs


@pytest.mark.parametrize("points", ["pairs", "lookups"])
@pytest.mark.parametrize("refit", [False, True])
def test_calibrate_chooses_points_on_the_probability_the_cache_computes(refit: bool, points: str) -> None:
    """decide() adds the swap prior and applies the long-prompt guard; points chosen on
    ``x @ w`` alone would belong to another model than the one returned. Per pair (the
    default) every pair counts; per lookup, each lookup's most probable candidate."""
    pairs = _swaps_and_long_pairs(np.random.default_rng(5))
    emb = HashingEmbedder(dim=64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (per lookup: too few queries without their answer at 0.95)
        v = calibrate(pairs, embedder=emb, base=load_default_verifier(), refit=refit, points=points)
    assert f"points per {points[:-1]}" in v.source
    texts = list(dict.fromkeys(t for a, b, _ in pairs for t in (a, b)))
    vecs = dict(zip(texts, emb.embed(texts), strict=True))
    probs, labels = [], []
    swapped = guarded = 0
    for a, b, label in pairs:
        pa, pb = profile(a), profile(b)
        swapped += order_swap(pa, pb)
        guarded += long_mismatch(pa, pb, v.long_words)
        probs.append(v.probability(pa, pb, float(vecs[a] @ vecs[b])))
        labels.append(bool(label))
    assert swapped == 80 and guarded == 15  # the case is what it claims
    scores, right = np.array(probs), np.array(labels)
    lookups = lookup_ids([a for a, _, _ in pairs])  # each query here has a right and a wrong candidate
    if refit:  # a refit chooses its points on the second half of a fixed shuffle of the lookups
        order = np.random.default_rng(0).permutation(int(lookups.max()) + 1)
        pick = np.isin(lookups, order[len(order) // 2 :])
        scores, right, lookups = scores[pick], right[pick], lookups[pick]
    if points == "lookups":
        want = points_per_lookup(scores, right, lookups, TARGET_GRID)[0]
    else:
        want = operating_points(scores, right, TARGET_GRID, min_hits=10)
    assert [t for t, _ in v.points] == [t for t, _ in want]
    assert [tau for _, tau in v.points] == pytest.approx([tau for _, tau in want], rel=1e-9, abs=1e-12)


def test_served_per_lookup_takes_the_most_probable_candidate_of_each_lookup() -> None:
    """Precision as the cache makes it: of a lookup's candidates it serves the most
    probable (the first of equals), so a wrong candidate below a right one costs nothing,
    and one above it is the lookup's answer."""
    queries = ["q1", "q1", "q2", "q2", "q2", "q3", "q1", "q3"]
    scores = np.array([0.9, 0.95, 0.4, 0.8, 0.8, 0.7, 0.2, 0.7])
    right = np.array([True, False, False, True, False, True, False, False])
    ids = lookup_ids(queries)
    assert ids.tolist() == [0, 0, 1, 1, 1, 2, 0, 2]
    served, ok = served_per_lookup(scores, right, ids)
    assert served.tolist() == [0.95, 0.8, 0.7] and ok.tolist() == [False, True, True]
    # three lookups, each a right candidate above a wrong one: every lookup is served
    # right from 0.6 up, where pairwise precision (0.9 R, 0.8 W, 0.7 R, 0.65 W, 0.6 R, 0.5 W)
    # reaches 0.95 only above 0.8, serving one lookup of three
    scores = np.array([0.6, 0.5, 0.9, 0.8, 0.7, 0.65])
    right = np.array([True, False, True, False, True, False])
    ids = lookup_ids(["a", "a", "b", "b", "c", "c"])
    assert operating_points(*served_per_lookup(scores, right, ids), [0.95], min_hits=1) == [(0.95, 0.6)]
    assert 0.8 < operating_points(scores, right, [0.95], min_hits=1)[0][1] < 0.9  # (between the two top pairs)


def test_calibrate_on_lookups_with_several_candidates_serves_the_most_probable() -> None:
    """Each query labelled against its right answer and a wrong near one (a lookup of two
    candidates), and 17 queries against a wrong one only, with points="lookups" at 0.8
    (17 such queries bound their share served at 0.8, not at 0.95): the cache then serves
    at the target precision."""
    pairs = _swaps_and_long_pairs(np.random.default_rng(5))
    emb = HashingEmbedder(dim=64)
    base = load_default_verifier()
    v = calibrate(pairs, embedder=emb, base=base, refit=False, points="lookups", target_precision=0.8)
    assert v.source.endswith("points per lookup)")
    texts = list(dict.fromkeys(t for a, b, _ in pairs for t in (a, b)))
    vecs = dict(zip(texts, emb.embed(texts), strict=True))
    by_query: dict[str, list[Candidate]] = {}
    labels: dict[tuple[str, str], int] = {}
    for a, b, label in pairs:
        by_query.setdefault(a, []).append(Candidate(b, float(vecs[a] @ vecs[b]), profile(b)))
        labels[a, b] = label
    served = [(q, v.decide(q, cands)) for q, cands in by_query.items()]
    hits = [labels[q, by_query[q][d[0]].prompt] for q, d in served if d is not None]
    assert len(hits) >= 0.5 * len(served) and sum(hits) / len(hits) >= 0.8


def _lookups_with_unanswered(rng: np.random.Generator, unanswered: np.ndarray) -> tuple[np.ndarray, ...]:
    """2 000 answered lookups (right at 0.3..1.0, wrong at 0.2) and one lookup per score in
    ``unanswered`` (a wrong candidate only), shuffled: scores, right, lookup ids."""
    good = rng.uniform(0.3, 1.0, 2000)
    scores = np.concatenate([np.column_stack([good, np.full(2000, 0.2)]).ravel(), unanswered])
    right = np.concatenate([np.tile([True, False], 2000), np.zeros(len(unanswered), bool)])
    ids = np.concatenate([np.repeat(np.arange(2000), 2), 2000 + np.arange(len(unanswered))])
    order = rng.permutation(len(scores))
    return scores[order], right[order], ids[order]


def test_points_per_lookup_bound_how_often_a_query_without_its_answer_is_served() -> None:
    """Per lookup, each point is chosen among the lookups served above the point where at
    most 1 - target of those without a right candidate are served (kept clear of it, in
    log-odds), so the bound and the precision both hold; with fewer than 3 / (1 - target)
    of them the point is the per-pair one."""
    unanswered = np.linspace(0.01, 0.99, 100)
    scores, right, ids = _lookups_with_unanswered(np.random.default_rng(0), unanswered)
    targets = [0.9, 0.95, 0.99]
    points, fell = points_per_lookup(scores, right, ids, targets)
    assert fell == [0.99]  # 100 unanswered < 300: per pair
    assert dict(points)[0.99] == dict(operating_points(scores, right, targets, min_hits=10))[0.99]
    served, ok = served_per_lookup(scores, right, ids)
    for t, want_served in ((0.95, 5), (0.9, 10)):
        tau = dict(points)[t]
        assert (unanswered >= tau).sum() == want_served  # the bound, and no tighter
        assert (unanswered >= tau - 0.005).sum() == want_served + 1
        assert ok[served >= tau].mean() >= t  # the precision of what is served
    # alone per lookup, 0.95 would be reached far lower, serving about half of them
    alone = dict(operating_points(served, ok, [0.95], min_hits=10))[0.95]
    assert (unanswered >= alone).sum() > 30
    # the boundary: 59 such lookups cannot bound 5 %, 60 can
    for n, falls in ((59, True), (60, False)):
        s2, r2, i2 = _lookups_with_unanswered(np.random.default_rng(1), np.linspace(0.01, 0.99, n))
        assert (0.95 in points_per_lookup(s2, r2, i2, [0.95])[1]) is falls
    # what lies above the bound decides: all wrong there, no point reaches 0.95
    s3 = np.concatenate([np.full(400, 0.45), np.linspace(0.5, 0.99, 60)])
    r3 = np.concatenate([np.ones(400, bool), np.zeros(60, bool)])
    (only,), _ = points_per_lookup(s3, r3, np.arange(460), [0.95])
    assert only == (0.95, 1.0)


def test_calibrate_per_lookup_with_too_few_queries_without_a_right_candidate_warns() -> None:
    """17 lookups without a right candidate bound their share served at 0.8 (3 / 0.2 = 15)
    but not at 0.95 (60): there the point is chosen per pair, with a warning that says
    what to label; the default needs none of this."""
    pairs = _swaps_and_long_pairs(np.random.default_rng(5))  # (17 lookups without a right candidate)
    emb = HashingEmbedder(dim=64)
    with pytest.warns(UserWarning, match=r"to bound how often such a query is served at target 0.95 \(it needs 60"):
        v = calibrate(pairs, embedder=emb, base=load_default_verifier(), refit=False, points="lookups")
    assert v.source.endswith("points per lookup, per pair at this target)")
    texts = list(dict.fromkeys(t for a, b, _ in pairs for t in (a, b)))
    vecs = dict(zip(texts, emb.embed(texts), strict=True))
    probs = np.array([v.probability(profile(a), profile(b), float(vecs[a] @ vecs[b])) for a, b, _ in pairs])
    per_pair = operating_points(probs, np.array([bool(lab) for *_, lab in pairs]), TARGET_GRID, min_hits=10)
    assert v.threshold == pytest.approx(dict(per_pair)[0.95], rel=1e-9)
    for asked, read in ((0.93, "0.95 \\(it needs 60"), (0.999, "0.995 \\(it needs 600")):  # the point read
        with pytest.warns(UserWarning, match=f"served at target {read}"):
            calibrate(pairs, embedder=emb, target_precision=asked, points="lookups")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lenient = calibrate(pairs, embedder=emb, target_precision=0.8, points="lookups")
        assert calibrate(pairs, embedder=emb).source.endswith("points per pair)")  # the default
    assert lenient.source.endswith("points per lookup)")
    with pytest.raises(InvalidArgumentError, match="points must be 'pairs' or 'lookups', got str 'lookup'"):
        calibrate(pairs, embedder=emb, points="lookup")


def test_calibrate_rejects_bad_input() -> None:
    with pytest.raises(ArgumentTypeError, match=r"pairs\[0\] must be \(str, str, label\)"):
        calibrate([("a", 1, 1)] * 30, embedder=HashingEmbedder())  # type: ignore[list-item]
    with pytest.raises(InvalidArgumentError, match="at least 10 pairs of each label"):
        calibrate([("a", "b", 1)] * 30, embedder=HashingEmbedder())


def test_cache_uses_calibrated_verifier_by_default_and_reports_confidence() -> None:
    cache = SemanticCache(HashingEmbedder(dim=128))
    assert isinstance(cache.verifier, CalibratedVerifier) and cache.verifier.target_precision == 0.95
    cache.put("How do I reset my password after 3 failed logins", "wait 10 minutes")
    hit = cache.get("how do i reset my password after 3 failed logins please")
    miss = cache.get("how do i reset my password after 5 failed logins please")
    assert miss is None
    if hit is not None:
        assert 0.0 < hit.confidence <= 1.0 and not hit.exact
    with pytest.raises(InvalidConfigError, match="threshold or verifier"):
        SemanticCache(HashingEmbedder(), threshold=0.9, verifier=load_default_verifier())
    assert SemanticCache(HashingEmbedder(), target_precision=0.99).verifier.target_precision == 0.99  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("How do I convert a PDF to a Word document?", "How do I convert a Word document to PDF?"),
        ("How do I convert 350 degrees Celsius to Fahrenheit?", "How do I convert 350 degrees Fahrenheit to Celsius?"),
        ("Is Paris bigger than London?", "Is London bigger than Paris?"),
    ],
)
def test_swapped_direction_lowers_the_probability(a: str, b: str) -> None:
    v = load_default_verifier()
    assert v.probability(profile(a), profile(b), 0.99) < v.with_target(0.9).threshold
    assert v.probability(profile(a), profile(a + " "), 0.99) > 0.9


def test_cache_keeps_3_grams_only_for_a_verifier_that_reads_them() -> None:
    emb = HashingEmbedder(dim=64)
    prompts = ["How do I reset my password?", "What is the capital of France in 2024?", "How many grams in a cup"]
    queries = ["how can I reset my password", "What is the capital of France in 2025", "how many grams are in a cup"]
    rng = np.random.default_rng(3)
    vecs = unit(rng, 3, 64)
    close = near(rng, vecs, 0.985)

    def filled(cache: SemanticCache) -> SemanticCache:
        for p, v in zip(prompts, vecs, strict=True):
            cache.put(p, p, embedding=v)
        return cache

    def answers(cache: SemanticCache) -> list[tuple[str, float] | None]:
        hits = [cache.get(q, embedding=v) for q, v in zip(queries, close, strict=True)]
        return [None if h is None else (h.entry_id, h.confidence) for h in hits]

    def stored(cache: SemanticCache) -> list[bool]:
        return [cache._lru.peek(k).profile.has_shingles for k in cache._lru]  # type: ignore[union-attr]

    lean = filled(SemanticCache(emb))
    assert stored(lean) == [False] * 3  # the shipped model gives char_jaccard weight 0
    assert answers(lean)[0] is not None  # the plain rewording is served
    # a verifier that weighs char_jaccard: the stored profiles are remade with their 3-grams
    w = np.array(lean.verifier.weights)  # type: ignore[attr-defined]
    w[FEATURE_NAMES.index("char_jaccard")] = 4.0
    chars = replace(lean.verifier, weights=tuple(w))  # type: ignore[type-var]
    assert chars.reads_shingles
    lean.verifier = chars
    full = filled(SemanticCache(emb, verifier=chars))
    assert stored(full) == [True] * 3
    assert answers(lean) == answers(full)
    assert stored(lean) == [True] * 3  # each was a candidate once


def test_decide_remakes_a_candidate_profile_that_lacks_the_3_grams_it_reads() -> None:
    v = load_default_verifier(0.8)
    w = np.array(v.weights)
    w[FEATURE_NAMES.index("char_jaccard")] = 4.0
    chars = replace(v, weights=tuple(w))
    q, c = "how can I reset my password", "How do I reset my password?"
    for cands in ([(c, 0.985)], [(c, 0.985), ("How do I reset my router?", 0.975)]):  # fused and general paths
        full = chars.decide(q, [Candidate(t, cos, profile(t)) for t, cos in cands])
        lean = chars.decide(q, [Candidate(t, cos, profile(t, shingles=False)) for t, cos in cands])
        assert full is not None and lean == full


def test_profiles_made_after_a_swap_from_the_cosine_gate_follow_the_new_verifier() -> None:
    emb = HashingEmbedder(dim=64)
    v = np.zeros(64, np.float32)
    v[0] = 1.0
    cache = SemanticCache(emb, threshold=0.9)
    cache.put("How do I reset my password?", "a", embedding=v)
    key = next(iter(cache._lru))
    assert cache._lru.peek(key).profile is None  # type: ignore[union-attr]  # a cosine gate keeps none
    cache.verifier = load_default_verifier()
    assert cache.get("how can I reset my password", embedding=v) is not None
    made = cache._lru.peek(key).profile  # type: ignore[union-attr]
    assert made is not None and not made.has_shingles


@pytest.mark.parametrize("label", ["0", "false", float("nan"), 2, None, 0.5])
def test_calibrate_refuses_a_label_that_is_not_true_or_false(label: object) -> None:
    """A truthy "0" or NaN (a TSV column, a missing pandas value) would count a different
    answer as the same: refused by the pair's index."""
    pairs: list[tuple[str, str, object]] = list(_synthetic_pairs(np.random.default_rng(5), 60))
    pairs[17] = (pairs[17][0], pairs[17][1], label)
    with pytest.raises(ArgumentTypeError, match=r"pairs\[17\]'s label must be True/False \(or 1/0\), got "):
        calibrate(pairs, embedder=HashingEmbedder(dim=64))  # type: ignore[arg-type]


def test_calibrate_takes_bools_ints_and_floats_of_one_and_zero_alike() -> None:
    pairs = _synthetic_pairs(np.random.default_rng(5), 80)
    emb = HashingEmbedder(dim=64)
    want = calibrate(pairs, embedder=emb).points
    for kind in (bool, np.int64, float, np.bool_):
        assert calibrate([(a, b, kind(y)) for a, b, y in pairs], embedder=emb).points == want


def test_calibrate_names_what_it_refuses() -> None:
    pairs = _synthetic_pairs(np.random.default_rng(5), 60)
    emb = HashingEmbedder(dim=64)
    with pytest.raises(ArgumentTypeError, match=r"refit must be None, True or False, got str 'no'"):
        calibrate(pairs, embedder=emb, refit="no")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match=r"base must be None or a CalibratedVerifier"):
        calibrate(pairs, embedder=emb, base=CosineVerifier(0.9))  # type: ignore[arg-type]
    bad = [*pairs[:30], (pairs[30][0], "half a pair \ud800", 0), *pairs[31:]]
    with pytest.raises(InvalidPromptError, match=r"pairs\[30\]\[1\]"):  # (its index in what was given)
        calibrate(bad, embedder=emb)


def test_a_verifier_keeps_its_target_through_to_dict() -> None:
    """A saved 0.99 verifier came back at 0.95 and served what the original refused."""
    import json

    v99 = load_default_verifier(0.99)
    back = CalibratedVerifier.from_dict(json.loads(json.dumps(v99.to_dict())))
    assert back.target_precision == 0.99 and back.threshold == v99.threshold
    assert CalibratedVerifier.from_dict(v99.to_dict(), target_precision=0.9).threshold == v99.with_target(0.9).threshold
    old = {k: val for k, val in v99.to_dict().items() if k != "target_precision"}  # a dict written before
    assert CalibratedVerifier.from_dict(old).target_precision == 0.95


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        ({"weights": None}, InvalidArgumentError, r"needs weights"),
        ({"points": [[0.95, 0.8, 1]]}, ArgumentTypeError, r"points\[0\] must be a \(target precision, value\) pair"),
        ({"points": [[0.95, float("nan")]]}, InvalidConfigError, r"points\[0\]'s value must be in \[0, 1\], got nan"),
        ({"points": [[0.95, -0.5]]}, InvalidConfigError, r"points\[0\]'s value must be in \[0, 1\]"),
        ({"points": [[1.5, 0.5]]}, InvalidConfigError, r"points\[0\]'s target precision must be in \(0, 1\)"),
        ({"points": [[0.9, 0.5], [0.9, 0.6]]}, InvalidArgumentError, r"points gives target precision 0.9 twice"),
        ({"points": {"0.95": 0.8}}, ArgumentTypeError, r"points must be a sequence of \(target precision, value\)"),
        ({"floor": 2.0}, InvalidConfigError, r"floor must be a cosine in \[-1, 1\], got 2.0"),
        ({"floor": None}, ArgumentTypeError, r"floor must be a number, got None"),
        ({"cosine_floors": [[0.95, 1.5]]}, InvalidConfigError, r"cosine_floors\[0\]'s value must be a cosine in \[-1"),
        ({"idf": {"router": "1.5"}}, ArgumentTypeError, r"idf\['router'\] must be a number, got str '1.5'"),
        ({"idf": {"router": True}}, ArgumentTypeError, r"idf\['router'\] must be a number, got bool True"),
        ({"long_words": 160.9}, ArgumentTypeError, r"long_words must be a whole number >= 0, got float 160.9"),
        ({"head": "not base64!"}, InvalidArgumentError, r"head is not base64 text"),
        ({"idf": {"router": None}}, ArgumentTypeError, r"idf\['router'\] must be a number, got None"),
        ({"idf": {"router": float("inf")}}, InvalidArgumentError, r"idf\['router'\] must be finite"),
        ({"head_scale": float("nan")}, InvalidArgumentError, r"head_scale must be finite"),
    ],
)
def test_from_dict_names_what_is_wrong(change: dict[str, object], error: type[Exception], message: str) -> None:
    data = {**load_default_verifier().to_dict(), **change}
    if change.get("weights", 0) is None:
        del data["weights"]
    with pytest.raises(error, match=message):
        CalibratedVerifier.from_dict(data)


def test_a_verifier_refuses_bad_weights_and_idf_words_at_construction() -> None:
    shipped = load_default_verifier()
    w = list(shipped.weights)
    v = replace(shipped, weights=w)  # type: ignore[arg-type]
    assert type(v.weights) is tuple and v.weights == shipped.weights  # (a list edited later changes nothing)
    w[0] = float("nan")
    with pytest.raises(InvalidArgumentError, match=r"weights\[0\] must be finite, got nan"):
        replace(shipped, weights=w)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match=r"idf's words must be str, got int 1"):
        replace(shipped, idf={1: 2.0})
    with pytest.raises(ArgumentTypeError, match=r"data must be a mapping"):
        CalibratedVerifier.from_dict(None)  # type: ignore[arg-type]
    assert shipped.with_target(np.float32(0.99)).threshold == shipped.with_target(0.99).threshold


def test_a_target_above_every_point_serves_nothing() -> None:
    """No point was measured for it: the highest point's threshold would fall short."""
    shipped = load_default_verifier()
    v = CalibratedVerifier(weights=shipped.weights, points=((0.8, 0.3),), floor=0.0, target_precision=0.99)
    assert v.threshold == 1.0
    text = "How do I reset my router password?"
    assert v.decide(text, [Candidate(text, 0.999, profile(text))]) is None
    assert v.with_target(0.8).decide(text, [Candidate(text, 0.999, profile(text))]) is not None


def test_probability_takes_texts_and_refuses_a_cosine_that_is_not_one() -> None:
    """A NaN cosine came back as -1.0 (the guard's internal mark); texts raised AttributeError."""
    v = load_default_verifier()
    a, b = "How do I reset my router password?", "How can I reset my router's password?"
    assert v.probability(a, b, 0.97) == v.probability(profile(a), profile(b), 0.97)
    for bad in (float("nan"), float("inf"), 1.5, "0.9", None, True):
        with pytest.raises(InvalidArgumentError, match=r"cosine must be a number in \[-1, 1\], got "):
            v.probability(a, b, bad)  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match=r"cached must be a str or a TextProfile, got "):
        v.probability(a, None, 0.9)  # type: ignore[arg-type]
    with pytest.raises(InvalidPromptError, match=r"query"):
        v.probability("half \ud800", b, 0.9)
    assert 0.0 < v.probability(a, b, np.float32(1.0000001)) <= 1.0  # (float32 rounding past 1)


def test_operating_points_name_what_they_refuse() -> None:
    assert 0.8 < operating_points([0.9, 0.8], [True, False], [0.9], min_hits=1)[0][1] <= 0.9  # (lists are taken)
    with pytest.raises(InvalidArgumentError, match=r"of one length \(> 0\), got shapes \(2,\) and \(3,\)"):
        operating_points(np.array([0.9, 0.8]), np.array([True, False, True]), [0.9])
    with pytest.raises(InvalidArgumentError, match=r"scores must be finite, got nan at 1"):
        operating_points(np.array([0.9, np.nan]), np.array([True, False]), [0.9])
    with pytest.raises(InvalidConfigError, match=r"target must be in \(0, 1\), got 1.0"):
        operating_points(np.array([0.9, 0.8]), np.array([True, False]), [1.0])


def test_calibrate_refuses_blank_texts_and_a_refit_it_cannot_split() -> None:
    pairs = _synthetic_pairs(np.random.default_rng(5), 60)
    emb = HashingEmbedder(dim=64)
    with pytest.raises(InvalidPromptError, match=r"pairs\[3\]\[0\] must be a non-empty, non-blank str"):
        calibrate([*pairs[:3], ("  ", pairs[3][1], 1), *pairs[4:]], embedder=emb)
    # every pair shares one query: one lookup, so one half of the split has no pair
    one_query = [("how do I renew my passport", b, y) for _, b, y in pairs]
    with pytest.raises(InvalidArgumentError, match=r"refit needs pairs of both labels in each half of the lookups"):
        calibrate(one_query, embedder=emb, refit=True)
    assert calibrate(one_query, embedder=emb, refit=False).points  # (the points alone need no split)


def test_a_verifier_takes_cosines_below_zero_and_points_as_an_array() -> None:
    """A served cosine may be negative (calibrate() on a head base found one); a 2-D
    NumPy array of points is a table too."""
    shipped = load_default_verifier()
    v = replace(shipped, floor=-0.2, served_cosines=((0.95, -0.04),), cosine_floors=((0.95, -0.1),))
    assert v.floor == -0.2 and v.served_cosines == ((0.95, -0.04),)
    arr = replace(shipped, points=np.array([[0.9, 0.5], [0.95, 0.8]]))
    assert arr.points == ((0.9, 0.5), (0.95, 0.8)) and type(arr.points[0][0]) is float


def test_a_probability_of_zero_is_never_served_even_at_threshold_zero() -> None:
    """The long-prompt guard refuses with probability 0.0: at a threshold of 0.0 two long
    candidates that both fail it were served as (0, 0.0)."""
    template = "You are a helpful assistant. Follow the style guide closely. " * 40
    v = replace(load_default_verifier(), points=((0.95, 0.0),), floor=0.0, cosine_floors=(), served_cosines=())
    texts = [template + f"Question {w}: tell me about {w}." for w in ("apples", "bridges")]
    cands = [Candidate(t, 0.99, profile(t)) for t in texts]
    query = template + "Question taxes: how do I file my taxes?"
    assert v.probability(query, cands[0].prompt, 0.99) == 0.0
    assert v.decide(query, cands) is None
    assert v.decide(query, cands[:1]) is None


def test_a_typographic_apostrophe_reads_as_a_straight_one() -> None:
    """Phones type "isn\u2019t": every path reads a U+2019 inside a word as "'" (the
    profile, the one-call query score, the long-prompt guard's words); the profile keeps
    the text it was given. A U+2019 closing a quotation stays."""
    from semcache._features import joined_words, query_logistic

    curly = "Why won\u2019t the caf\u00e9 open? It isn\u2019t late, I can\u2019t wait"
    straight = "Why won't the caf\u00e9 open? It isn't late, I can't wait"
    a, b = profile(curly), profile(straight)
    assert np.array_equal(a.data, b.data) and a.text == curly
    assert np.array_equal(joined_words(curly), joined_words(straight))
    v = load_default_verifier()
    model, idf = v._fast_state()
    c = profile("Why will the cafe open? It is late")
    assert query_logistic(curly, c, 0.97, model, idf) == query_logistic(straight, c, 0.97, model, idf)
    assert query_logistic(curly, c, 0.97, model, idf) == v.probability(a, c, 0.97)
    assert feat("Who was Don Bradman", "Who was Sir Donald Bradman")["negation_mismatch"] == 0.0
    possessive = "What are your New Year\u2019s resolutions"
    assert feat(possessive, possessive)["entity_mismatch"] == 0.0
    assert np.array_equal(profile(possessive).data, profile(possessive.replace("\u2019", "'")).data)
    quoted = "Is \u2018fine\u2019 the word"
    assert profile(quoted).tokens == ("is", "fine", "the", "word")
    # a U+2019 outside a word stays: a name after it is still a name (read as "'", the
    # name's lookbehind would drop it, and Paris / Rome would not clash)
    assert feat("Fly to \u2019Paris\u2019 now", "Fly to \u2019Rome\u2019 now")["entity_mismatch"] == 1.0
