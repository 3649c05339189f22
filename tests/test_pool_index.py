"""The embedding pool, and candidate search: LSH against exact search."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcache._errors import DeviceUnavailableError, InvalidConfigError, InvalidEmbeddingError
from semcache.index import AutoIndex, FlatIndex, LSHIndex, lsh_recall, make_index, plan_lsh
from semcache.index.lsh import MIN_RECALL
from semcache.kernels.simhash import project_signs
from semcache.tiers import _gpu
from semcache.tiers.pool import EmbeddingPool, resolve_device

from .conftest import near, unit

DIM = 32


def fingerprints(vecs: np.ndarray, seed: int = 7) -> np.ndarray:
    planes = np.random.default_rng(seed).standard_normal((128, vecs.shape[1])).astype(np.float32)
    out = np.empty((vecs.shape[0], 2), dtype=np.uint64)
    project_signs(np.ascontiguousarray(vecs), np.ascontiguousarray(planes.T), out)
    return out


# ---- pool ---------------------------------------------------------------------
def test_pool_reuses_freed_slots_and_grows_by_doubling() -> None:
    pool = EmbeddingPool(4, capacity=2)
    rng = np.random.default_rng(0)
    rows = unit(rng, 5, 4)
    slots = [pool.add(r) for r in rows[:3]]
    assert slots == [0, 1, 2] and pool.capacity == 4
    pool.free(1)
    assert pool.add(rows[3]) == 1 and len(pool) == 3
    assert np.array_equal(pool.get(0), rows[0]) and np.array_equal(pool.get(1), rows[3])
    assert pool.matrix.flags.c_contiguous


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), min_size=1, max_size=80))
def test_pool_rows_survive_growth_and_reuse(ops: list[bool]) -> None:
    pool = EmbeddingPool(3, capacity=1)
    rng = np.random.default_rng(len(ops))
    live: dict[int, np.ndarray] = {}
    for add in ops:
        if add or not live:
            row = unit(rng, 1, 3)[0]
            slot = pool.add(row)
            assert slot not in live
            live[slot] = row
        else:
            slot = next(iter(live))
            pool.free(slot)
            del live[slot]
        assert len(pool) == len(live)
        for s, row in live.items():
            assert np.array_equal(pool.matrix[s], row)


def test_pool_rejects_wrong_dimension() -> None:
    with pytest.raises(InvalidEmbeddingError, match=r"shape \(n, 4\)"):
        EmbeddingPool(4).add_many(np.zeros((2, 5), np.float32))


def test_device_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == "cpu"
    with pytest.raises(InvalidConfigError, match="device must be one of"):
        resolve_device("tpu")
    monkeypatch.setattr(_gpu, "probe", lambda: "no CUDA here")
    assert resolve_device("auto") == "cpu"
    with pytest.raises(DeviceUnavailableError, match="no CUDA here"):
        resolve_device("gpu")


# ---- indexes ----------------------------------------------------------------------
def build(index: FlatIndex | LSHIndex | AutoIndex, vecs: np.ndarray) -> None:
    fps = fingerprints(vecs)
    for i in range(vecs.shape[0]):
        index.add(f"k{i}", i, fps[i])


def test_flat_is_exact_and_removal_keeps_it_dense() -> None:
    rng = np.random.default_rng(1)
    vecs = unit(rng, 200)
    flat = FlatIndex()
    build(flat, vecs)
    q = vecs[17]
    got = flat.search(q, fingerprints(q[None])[0], vecs, 3)
    exact = np.argsort(-(vecs @ q))[:3]
    assert [k for k, _ in got] == [f"k{i}" for i in exact]
    assert flat.remove("k17") == 17 and flat.remove("k17") is None
    got = flat.search(q, fingerprints(q[None])[0], vecs, 1)
    assert got[0][0] != "k17" and len(flat) == 199 and "k17" not in flat


@pytest.mark.parametrize(("cosine", "recall_at"), [(0.97, None), (0.9, None), (0.944, 0.964)])
def test_lsh_recall_against_exact_search(cosine: float, recall_at: float | None) -> None:
    rng = np.random.default_rng(2)
    vecs = unit(rng, 20_000, 64)
    lsh = LSHIndex(min_cosine=cosine, recall_at=recall_at)
    build(lsh, vecs)
    lsh.rebuild()
    planned = plan_lsh(cosine, len(lsh), recall_at=recall_at)
    assert (lsh.plan.bits, lsh.plan.probe_radius) == (planned.bits, planned.probe_radius)
    targets = rng.integers(0, vecs.shape[0], 400)
    queries = near(rng, vecs[targets], cosine)
    qfps = fingerprints(queries)
    found = sum(
        any(k == f"k{t}" for k, _ in lsh.search(queries[j], qfps[j], vecs, 4)) for j, t in enumerate(targets)
    )
    assert found / len(targets) >= 0.97, (found, lsh.plan)


def test_lsh_tail_and_deletes_are_searched_correctly() -> None:
    rng = np.random.default_rng(3)
    vecs = unit(rng, 3000)
    lsh = LSHIndex(min_cosine=0.95)
    build(lsh, vecs)  # the last ones stay in the unbuilt tail
    assert lsh._built < 3000
    for i in range(0, 3000, 3):
        lsh.remove(f"k{i}")
    fps = fingerprints(vecs)
    for i in (1, 2, 2999, 2998):
        got = lsh.search(vecs[i], fps[i], vecs, 1)
        assert got[0][0] == f"k{i}" and got[0][1] == pytest.approx(1.0, abs=1e-5)
    for i in (0, 3, 2997):
        assert all(k != f"k{i}" for k, _ in lsh.search(vecs[i], fps[i], vecs, 4))
    lsh.rebuild()  # compacts the deleted ids
    assert len(lsh) == 2000 and lsh._ids.high == 2000
    assert lsh.search(vecs[1], fps[1], vecs, 1)[0][0] == "k1"


def test_auto_moves_to_lsh_when_large_and_keeps_answers() -> None:
    rng = np.random.default_rng(4)
    vecs = unit(rng, 3000)
    auto = AutoIndex(min_cosine=0.97, flat_max=1000)
    build(auto, vecs)
    assert auto.kind == "lsh" and len(auto) == 3000
    fps = fingerprints(vecs)
    assert auto.search(vecs[5], fps[5], vecs, 1)[0][0] == "k5"


def test_auto_passes_recall_at_to_its_lsh_plan() -> None:
    rng = np.random.default_rng(4)
    auto = AutoIndex(min_cosine=0.944, flat_max=1000, recall_at=0.964)
    build(auto, unit(rng, 3000))
    assert auto.kind == "lsh" and isinstance(auto._impl, LSHIndex) and auto._impl.recall_at == 0.964
    want = plan_lsh(0.944, 3000, recall_at=0.964)
    assert (auto._impl.plan.bits, auto._impl.plan.probe_radius) == (want.bits, want.probe_radius)
    assert (want.bits, want.probe_radius) != (plan_lsh(0.944, 3000).bits, plan_lsh(0.944, 3000).probe_radius)
    with pytest.raises(InvalidConfigError, match="recall_at must be in"):
        AutoIndex(min_cosine=0.95, recall_at=float("nan"))


def test_auto_stays_exact_when_lsh_cannot_reach_recall() -> None:
    auto = AutoIndex(min_cosine=0.2, flat_max=10)
    build(auto, unit(np.random.default_rng(5), 50))
    assert auto.kind == "flat"


def test_lsh_plan_model() -> None:
    assert lsh_recall(1.0, 0, 16) == pytest.approx(1.0)
    assert lsh_recall(0.97, 2, 16) > lsh_recall(0.97, 1, 16) > lsh_recall(0.97, 0, 16)
    plan = plan_lsh(0.97, 100_000)
    assert plan.recall >= 0.99
    assert plan_lsh(0.85, 100_000).radius > plan.radius


def test_lsh_plan_with_recall_at() -> None:
    floor, at = 0.944, 0.964
    plan = plan_lsh(floor, 100_000, 0.99, recall_at=at)
    full = plan_lsh(floor, 100_000, 0.99)
    # the full target from recall_at up, MIN_RECALL down to the floor, and no dearer
    assert lsh_recall(at, plan.probe_radius, plan.bits) * (1 - 1e-3) >= 0.99
    assert plan.recall >= MIN_RECALL
    assert plan.cost_ns <= full.cost_ns and plan.radius == full.radius
    assert (plan.bits, plan.probe_radius) != (full.bits, full.probe_radius)  # here it is cheaper
    assert plan_lsh(floor, 100_000, 0.99, recall_at=floor) == full
    # recall_at just above the floor: the full target there binds, not MIN_RECALL
    tight = plan_lsh(0.94, 100_000, 0.99, recall_at=0.945)
    assert lsh_recall(0.945, tight.probe_radius, tight.bits) * (1 - 1e-3) >= 0.99
    with pytest.raises(InvalidConfigError, match="recall_at must be in"):
        LSHIndex(min_cosine=0.95, recall_at=0.9)


def test_make_index_rejects_unknown_kind() -> None:
    with pytest.raises(InvalidConfigError, match="index must be one of"):
        make_index("faiss-ivf", 0.9)
