"""Kernels against NumPy / pure-Python oracles, with hypothesis generating inputs."""

from __future__ import annotations

import unicodedata

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from semcache.kernels import band_keys, hamming, hamming_search, simhash_texts, simhash_vectors
from semcache.kernels.simhash import project_signs
from semcache.kernels.vectors import NOT_FINITE, NOT_UNIT, OK, ZERO_ROW, check_rows

MASK = (1 << 64) - 1
u64 = st.integers(min_value=0, max_value=MASK)
u64_arrays = st.lists(u64, min_size=0, max_size=300).map(lambda xs: np.array(xs, dtype=np.uint64))


# ---- a pure-Python oracle of the text SimHash --------------------------------
def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _words(text: str) -> list[bytes]:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).casefold()
    data = text.replace("\x00", " ").encode("utf-8")
    words, cur = [], bytearray()
    for b in data:
        if (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b >= 128:
            cur.append(b + 32 if 65 <= b <= 90 else b)
        elif cur:
            words.append(bytes(cur))
            cur = bytearray()
    if cur:
        words.append(bytes(cur))
    return words


def oracle_simhash(text: str) -> int:
    golden = 0x9E3779B97F4A7C15
    feats = []
    prev = None
    for w in _words(text):
        h = 0xCBF29CE484222325
        for b in w:
            h = (((h << 7) | (h >> 57)) & MASK) ^ b
        word = _mix(h ^ ((len(w) * golden) & MASK))
        feats.append(word)
        if prev is not None:
            feats.append(_mix(((prev * golden) & MASK) ^ word ^ golden))
        prev = word
    out = 0
    for i in range(64):
        ones = sum((f >> i) & 1 for f in feats)
        if 2 * ones > len(feats):
            out |= 1 << i
    return out


texts = st.lists(st.text(max_size=80), min_size=0, max_size=20)


@settings(max_examples=200, deadline=None)
@given(texts)
def test_simhash_texts_matches_oracle(batch: list[str]) -> None:
    got = simhash_texts(batch)
    assert got.dtype == np.uint64 and got.shape == (len(batch),)
    assert [int(x) for x in got] == [oracle_simhash(t) for t in batch]


@settings(max_examples=50, deadline=None)
@given(texts)
def test_simhash_parallel_equals_serial(batch: list[str]) -> None:
    assert np.array_equal(simhash_texts(batch, parallel=True), simhash_texts(batch))


ascii_or_not = st.lists(
    st.one_of(st.text(alphabet=st.characters(max_codepoint=127), max_size=60), st.text(max_size=60)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=100, deadline=None)
@given(ascii_or_not, st.booleans())
def test_simhash_mixed_batch_equals_per_text(batch: list[str], parallel: bool) -> None:
    # a batch that mixes ASCII and non-ASCII texts (the ASCII ones are hashed from
    # UTF-16 units, the others folded one by one) gives each text its own fingerprint
    got = simhash_texts(batch, parallel=parallel)
    assert [int(x) for x in got] == [int(simhash_texts([t])[0]) for t in batch]
    assert [int(x) for x in got] == [oracle_simhash(t) for t in batch]


def test_simhash_mixed_batch_examples() -> None:
    batch = [
        "How do I learn Python?",
        "Qu'est-ce que l'\u00e9t\u00e9 ?",
        "",
        "\uff28\uff2f\uff37 do I reset my password",
        "emoji \U0001f600 inside",
        "nul\x00inside",
        "caf\u00e9\x00bar",
        "plain ascii again",
    ] * 300  # more than one parallel block
    for parallel in (False, True):
        got = simhash_texts(batch, parallel=parallel)
        assert [int(x) for x in got] == [oracle_simhash(t) for t in batch]


def test_simhash_buffer_checks_text_count() -> None:
    from semcache.kernels.simhash import simhash_buffer

    buf = np.frombuffer(b"a b\x00c d\x00e", dtype=np.uint8)
    assert simhash_buffer(buf, 3).shape == (3,)
    for parallel in (False, True):
        for n in (2, 4):
            with pytest.raises(ValueError, match="NUL-separated texts"):
                simhash_buffer(buf, n, parallel=parallel)


def test_simhash_span_reads_nul_as_a_separator() -> None:
    # kernels/lexical.py hashes a whole text's bytes with it, NULs included
    from semcache.kernels.simhash import _simhash_span

    buf = np.frombuffer(b"Hello\x00world  again", dtype=np.uint8)
    got = _simhash_span(buf, 0, buf.shape[0], np.empty(64, np.int32))
    assert int(got) == oracle_simhash("hello world again")


def test_simhash_lone_surrogate_still_raises() -> None:
    with pytest.raises(UnicodeEncodeError):
        simhash_texts(["ok", "bad \ud800 text"])


def test_simhash_long_text_spills_counters() -> None:
    long_text = " ".join(f"w{i % 97}" for i in range(600))  # > 127 features
    assert int(simhash_texts([long_text])[0]) == oracle_simhash(long_text)


def test_identical_normalised_texts_share_fingerprint() -> None:
    fullwidth_how = "\uff28\uff2f\uff37"
    a, b, c = simhash_texts(
        ["How do I  RESET my password?", "how do i reset my password", f"{fullwidth_how} do I reset my password"]
    )
    assert a == b == c


def test_simhash_texts_rejects_single_str() -> None:
    with pytest.raises(TypeError, match="sequence of str"):
        simhash_texts("not a list")  # type: ignore[arg-type]


def test_simhash_empty_inputs() -> None:
    assert simhash_texts([]).shape == (0,)
    assert int(simhash_texts([""])[0]) == 0


@settings(max_examples=100, deadline=None)
@given(
    hnp.arrays(np.float32, st.tuples(st.integers(1, 20), st.just(16)), elements=st.floats(-1, 1, width=32)),
    st.integers(0, 2**32 - 1),
)
def test_simhash_vectors_matches_oracle(vectors: np.ndarray, seed: int) -> None:
    planes = np.random.default_rng(seed).standard_normal((64, 16)).astype(np.float32)
    got = simhash_vectors(vectors, planes)
    proj = vectors.astype(np.float64) @ planes.astype(np.float64).T
    for k in range(vectors.shape[0]):
        for i in range(64):
            if abs(proj[k, i]) > 1e-4:  # float32 rounding may flip values at zero
                assert ((int(got[k]) >> i) & 1) == int(proj[k, i] > 0)


def test_project_signs_rows_equals_project_signs() -> None:
    from semcache.kernels.simhash import project_signs_rows

    rng = np.random.default_rng(7)
    planes = rng.standard_normal((128, 96), dtype=np.float32)
    vecs = rng.standard_normal((300, 96), dtype=np.float32)
    a = np.empty((300, 2), np.uint64)
    b = np.empty((300, 2), np.uint64)
    project_signs(vecs, np.ascontiguousarray(planes.T), a)
    project_signs_rows(vecs, planes, b)
    # float sums in another order may flip a sign within rounding of zero; nothing else
    proj = vecs.astype(np.float64) @ planes.T.astype(np.float64)
    differ = np.unpackbits((a ^ b).view(np.uint8), bitorder="little").reshape(300, 128).astype(bool)
    assert np.all(np.abs(proj[differ]) < 1e-4)
    ref = np.packbits(proj > 0, axis=1, bitorder="little").view(np.uint64)
    near_zero = np.abs(proj) < 1e-4
    mism = np.unpackbits((b ^ ref).view(np.uint8), bitorder="little").reshape(300, 128).astype(bool)
    assert not np.any(mism & ~near_zero)


def test_project_signs_equals_simhash_vectors() -> None:
    rng = np.random.default_rng(3)
    planes = rng.standard_normal((128, 32)).astype(np.float32)
    vecs = rng.standard_normal((50, 32)).astype(np.float32)
    out = np.empty((50, 2), dtype=np.uint64)
    project_signs(vecs, np.ascontiguousarray(planes.T), out)
    assert np.array_equal(out[:, 0], simhash_vectors(vecs, planes[:64]))
    assert np.array_equal(out[:, 1], simhash_vectors(vecs, planes[64:]))


@pytest.mark.parametrize("bad", [np.zeros((3, 8)), np.zeros((63, 8))])
def test_simhash_vectors_checks_shapes(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="shape"):
        simhash_vectors(np.zeros((2, 9), np.float32), bad)


@settings(max_examples=200, deadline=None)
@given(u64_arrays, st.sampled_from([1, 2, 4, 8, 16]))
def test_band_keys_matches_oracle(fps: np.ndarray, bands: int) -> None:
    got = band_keys(fps, bands)
    w = 64 // bands
    assert got.shape == (fps.shape[0], bands)
    for k, f in enumerate(int(x) for x in fps):
        assert [int(x) for x in got[k]] == [(f >> (j * w)) & ((1 << w) - 1) for j in range(bands)]


@pytest.mark.parametrize("bands", [0, 3, 32])
def test_band_keys_rejects_other_band_counts(bands: int) -> None:
    with pytest.raises(ValueError, match="bands must be one of"):
        band_keys(np.zeros(2, np.uint64), bands)


@settings(max_examples=200, deadline=None)
@given(u64_arrays, u64)
def test_hamming_scalar_matches_oracle(a: np.ndarray, b: int) -> None:
    got = hamming(a, b)
    assert got.dtype == np.uint8
    assert [int(x) for x in got] == [(int(x) ^ b).bit_count() for x in a]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(u64, u64), max_size=200))
def test_hamming_pairs_matches_oracle(pairs: list[tuple[int, int]]) -> None:
    a = np.array([p[0] for p in pairs], dtype=np.uint64)
    b = np.array([p[1] for p in pairs], dtype=np.uint64)
    assert [int(x) for x in hamming(a, b)] == [(x ^ y).bit_count() for x, y in pairs]


def test_hamming_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same shape"):
        hamming(np.zeros(3, np.uint64), np.zeros(4, np.uint64))


@settings(max_examples=200, deadline=None)
@given(u64_arrays, u64, st.integers(0, 64))
def test_hamming_search_matches_oracle(fps: np.ndarray, q: int, radius: int) -> None:
    got = hamming_search(q, fps, radius)
    assert got.dtype == np.int64
    assert list(got) == [k for k, f in enumerate(int(x) for x in fps) if (f ^ q).bit_count() <= radius]


def test_hamming_search_rejects_bad_radius() -> None:
    with pytest.raises(ValueError, match=r"radius must be in \[0, 64\]"):
        hamming_search(0, np.zeros(2, np.uint64), 65)


def test_check_rows_statuses() -> None:
    sq = np.empty(2)
    unit = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    assert check_rows(unit, sq, 1e-3) == (OK, -1)
    assert check_rows(unit * 2, sq, 1e-3) == (NOT_UNIT, -1)
    assert check_rows(np.array([[1, 0], [0, 0]], np.float32), sq, 1e-3) == (ZERO_ROW, 1)
    assert check_rows(np.array([[1, 0], [np.nan, 0]], np.float32), sq, 1e-3) == (NOT_FINITE, 1)
