"""The GPU tier: device policy, the CuPy pool and GPU search against the CPU path.

Three kinds of test live here:

* the device policy and error paths, run everywhere (no GPU, no CuPy needed);
* the CuPy pool and GpuFlatIndex against EmbeddingPool and FlatIndex, run
  twice: on an *emulated* CuPy (a NumPy-backed stand-in that records the
  managed-memory calls; it checks the bookkeeping, not CUDA) and, marked
  ``gpu``, on the real CuPy; the ``gpu`` runs are skipped unless a device
  answers (``semcache.tiers._gpu.probe()``);
* managed-memory hint calls, checked on the emulated CuPy only.
"""

from __future__ import annotations

import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from semcache import HashingEmbedder, SemanticCache
from semcache._errors import DeviceUnavailableError, MissingDependencyError
from semcache.index import FlatIndex
from semcache.index import gpu as gpu_index
from semcache.index.gpu import GpuFlatIndex
from semcache.tiers import _gpu, pool_gpu
from semcache.tiers.pool import EmbeddingPool
from semcache.tiers.pool_gpu import CupyEmbeddingPool, PoolFullError

from .conftest import near, unit

DIM = 32
_NO_GPU = _gpu.probe()
_gpu.probe.cache_clear()
on_gpu = [pytest.mark.gpu, pytest.mark.skipif(_NO_GPU is not None, reason=f"no GPU: {_NO_GPU}")]


# ---- an emulated CuPy ----------------------------------------------------------
class FakeRuntime:
    """cupy.cuda.runtime on NumPy: a fixed amount of free memory; hint calls recorded."""

    class CUDARuntimeError(RuntimeError):
        pass

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls: list[tuple[Any, ...]] = []
        self.fail_hints = False

    def getDeviceCount(self) -> int:
        return 1

    def getDevice(self) -> int:
        return 0

    def memGetInfo(self) -> tuple[int, int]:
        return self.free, 2 * self.free

    def memPrefetchAsync(self, ptr: int, size: int, device: int, stream: int) -> None:
        self._hint(("prefetch", ptr, size, device))

    def memAdvise(self, ptr: int, size: int, advice: int, device: int) -> None:
        self._hint(("advise", ptr, size, advice, device))

    def _hint(self, call: tuple[Any, ...]) -> None:
        if self.fail_hints:
            raise self.CUDARuntimeError("cudaErrorInvalidDevice: invalid device ordinal")
        self.calls.append(call)


class FakeMemoryPool:
    """Hands out 2 MiB-aligned fake pointers."""

    def __init__(self, allocator: object) -> None:
        self.next = 1 << 30

    def malloc(self, nbytes: int) -> types.SimpleNamespace:
        ptr = self.next
        self.next += -(-nbytes // (2 << 20)) * (2 << 20)
        return types.SimpleNamespace(ptr=ptr)

    def free_all_blocks(self) -> None:
        pass


def fake_cupy(free: int = 1 << 30) -> types.ModuleType:
    cp = types.ModuleType("cupy")
    for name in (
        "arange", "argpartition", "argsort", "asarray", "broadcast_to", "empty",
        "float16", "float32", "inf", "int64", "maximum", "take_along_axis", "where",
    ):  # fmt: skip
        setattr(cp, name, getattr(np, name))
    cp.asnumpy = np.asarray  # type: ignore[attr-defined]
    cp.ndarray = lambda shape, dtype, memptr: np.empty(shape, dtype)  # type: ignore[attr-defined]
    cp.cuda = types.SimpleNamespace(  # type: ignore[attr-defined]
        runtime=FakeRuntime(free),
        MemoryPool=FakeMemoryPool,
        malloc_managed=object(),
        get_current_stream=lambda: types.SimpleNamespace(ptr=0),
    )
    return cp


@pytest.fixture(autouse=True)
def _fresh_probe() -> Iterator[None]:
    """The probe and the fallback warning are cached per process; start and end clean."""
    _gpu.probe.cache_clear()
    _gpu._warn_fallback.cache_clear()
    yield
    _gpu.probe.cache_clear()
    _gpu._warn_fallback.cache_clear()


@pytest.fixture(params=["emulated", pytest.param("cuda", marks=on_gpu)])
def cp(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """CuPy: the NumPy stand-in, or the real one on a GPU."""
    if request.param == "emulated":
        fake = fake_cupy()
        monkeypatch.setitem(sys.modules, "cupy", fake)
        return fake
    import cupy

    return cupy


@pytest.fixture
def emulated(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    fake = fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    return fake


def faiss_shim() -> types.ModuleType:
    """faiss-gpu's names over faiss-cpu, to run the faiss path's bookkeeping here."""
    faiss = pytest.importorskip("faiss")
    shim = types.ModuleType("faiss")
    shim.StandardGpuResources = object  # type: ignore[attr-defined]
    shim.GpuIndexFlatConfig = types.SimpleNamespace  # type: ignore[attr-defined]
    shim.GpuIndexFlatIP = lambda res, dim, config: faiss.IndexFlatIP(dim)  # type: ignore[attr-defined]
    shim.get_num_gpus = lambda: 1  # type: ignore[attr-defined]
    return shim


NO_FP = np.zeros(2, dtype=np.uint64)


# ---- device policy and errors (no GPU needed) ------------------------------------
def test_auto_without_cupy_falls_back_to_cpu_and_logs_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy -> ImportError
    with caplog.at_level(logging.WARNING, logger="semcache"):
        a = SemanticCache(HashingEmbedder(dim=64), threshold=0.6, device="auto")
        b = SemanticCache(HashingEmbedder(dim=64), threshold=0.6, device="auto")
    assert a._device == b._device == "cpu"
    falls = [r for r in caplog.records if "falls back to the CPU" in r.getMessage()]
    assert len(falls) == 1
    assert "CuPy is not installed" in falls[0].getMessage()
    a.put("what is the capital of france", "Paris")
    hit = a.get("what is the capital of france?")
    assert hit is not None and hit.response == "Paris"


def test_auto_when_cuda_does_not_answer(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    broken = fake_cupy()

    def no_driver() -> int:
        raise broken.cuda.runtime.CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device")

    broken.cuda.runtime.getDeviceCount = no_driver
    monkeypatch.setitem(sys.modules, "cupy", broken)
    with caplog.at_level(logging.WARNING, logger="semcache"):
        assert SemanticCache(HashingEmbedder(dim=64), threshold=0.6, device="auto")._device == "cpu"
    assert "CUDA did not answer: cudaErrorNoDevice" in caplog.text
    with pytest.raises(DeviceUnavailableError, match="cudaErrorNoDevice"):
        SemanticCache(HashingEmbedder(dim=64), threshold=0.6, device="gpu")


def test_gpu_without_a_device_raises_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(DeviceUnavailableError, match=r"device='gpu'.*CuPy is not installed"):
        SemanticCache(HashingEmbedder(dim=64), threshold=0.6, device="gpu")


def test_missing_cupy_names_the_gpu_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'semcache\[gpu\]'"):
        CupyEmbeddingPool(DIM)
    with pytest.raises(ImportError, match=r"semcache\[gpu\]"):
        GpuFlatIndex()


def test_cpu_device_never_touches_cupy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "cupy", None)
    cache = SemanticCache(HashingEmbedder(dim=64), threshold=0.6, device="cpu")
    cache.put("hello there", "hi")
    assert isinstance(cache._pool, EmbeddingPool)


# ---- the CuPy pool against the NumPy pool ------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_pool_matches_numpy_pool_through_growth_and_reuse(cp: Any, dtype: str) -> None:
    rng = np.random.default_rng(1)
    gpu = CupyEmbeddingPool(DIM, capacity=4, dtype=dtype)
    cpu = EmbeddingPool(DIM, capacity=4)
    live: set[int] = set()
    for step in range(300):
        if live and rng.random() < 0.35:
            slot = int(rng.choice(sorted(live)))
            gpu.free(slot)
            cpu.free(slot)
            live.discard(slot)
        else:
            rows = unit(rng, int(rng.integers(1, 4)))
            s_gpu, s_cpu = gpu.add_many(rows), cpu.add_many(rows)
            assert s_gpu.tolist() == s_cpu.tolist()
            live.update(s_cpu.tolist())
        assert len(gpu) == len(cpu) == len(live)
        if step % 50 == 0:
            tol = 1e-3 if dtype == "float16" else 0
            for s in live:
                np.testing.assert_allclose(gpu.get(s), cpu.matrix[s], atol=tol)
    assert gpu.capacity >= max(live) + 1
    assert gpu.nbytes == gpu.capacity * DIM * np.dtype(dtype).itemsize
    assert gpu.device == "gpu" and gpu.matrix.shape == (gpu.capacity, DIM)


def test_pool_cap_refuses_growth_and_keeps_its_state(cp: Any) -> None:
    row_bytes = DIM * 4
    pool = CupyEmbeddingPool(DIM, capacity=2, max_bytes=10 * row_bytes)
    assert pool.max_rows == 10
    rng = np.random.default_rng(2)
    slots = pool.add_many(unit(rng, 10))
    assert pool.capacity == 10  # doubling stops at the cap
    with pytest.raises(PoolFullError, match="cap is 10"):
        pool.add(unit(rng, 1)[0])
    assert len(pool) == 10
    pool.free(int(slots[3]))
    assert pool.add(unit(rng, 1)[0]) == 3  # a freed row is reused under the cap
    with pytest.raises(PoolFullError, match="must hold 11 rows"):
        CupyEmbeddingPool(DIM, max_bytes=10 * row_bytes, min_rows=11)


def test_pool_never_asks_for_more_than_the_device_has_free(emulated: Any) -> None:
    pool = CupyEmbeddingPool(DIM, capacity=2, memory_fraction=0.9)
    emulated.cuda.runtime.free = 3 * DIM * 4  # the card filled up since
    pool.add_many(unit(np.random.default_rng(3), 2))
    with pytest.raises(PoolFullError, match=r"only 0\.00 GiB free"):
        pool.add_many(unit(np.random.default_rng(4), 3))
    assert len(pool) == 2 and pool.capacity == 2


def test_pool_prefetches_before_search_and_advises_freed_chunks_to_host(
    emulated: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_gpu, "_CHUNK_BYTES", 4096)  # 32 rows of 128 bytes per chunk
    calls = emulated.cuda.runtime.calls
    pool = CupyEmbeddingPool(DIM, capacity=128)
    base = 1 << 30
    pool.add_many(unit(np.random.default_rng(5), 70))  # chunks 0, 1, 2 live
    calls.clear()
    pool.matrix  # noqa: B018 (the property prefetches)
    assert calls == [("prefetch", base, 96 * 128, 0)]
    calls.clear()
    pool.matrix  # noqa: B018
    assert calls == []  # nothing changed: no second prefetch
    for s in range(32, 64):
        pool.free(s)  # chunk 1 empties -> host
    assert calls == [("advise", base + 4096, 4096, 3, -1), ("prefetch", base + 4096, 4096, -1)]
    calls.clear()
    pool.matrix  # noqa: B018
    assert calls == []
    assert pool.add(np.ones(DIM, np.float32) / np.sqrt(DIM)) == 63  # reuse in chunk 1
    assert calls == [("advise", base + 4096, 4096, 3, 0)]
    calls.clear()
    pool.matrix  # noqa: B018
    assert calls == [("prefetch", base, 96 * 128, 0)]


def test_pool_hints_off_where_the_device_refuses_them(
    emulated: Any, caplog: pytest.LogCaptureFixture
) -> None:
    emulated.cuda.runtime.fail_hints = True
    pool = CupyEmbeddingPool(DIM)
    rows = unit(np.random.default_rng(6), 5)
    with caplog.at_level(logging.WARNING, logger="semcache"):
        pool.add_many(rows)
        pool.matrix  # noqa: B018
        pool.matrix  # noqa: B018
    assert caplog.text.count("managed-memory hints are off") == 1
    np.testing.assert_array_equal(pool.get(4), rows[4])


# ---- GPU search against FlatIndex ------------------------------------------------
def same_topk(
    got: list[tuple[str, float]], want: list[tuple[str, float]], k: int, tol: float
) -> None:
    """``got`` is ``want[:k]``: scores within ``tol``, keys equal except among near-ties."""
    assert len(got) == min(k, len(want))
    for (gk, gs), (wk, ws) in zip(got, want, strict=False):
        assert abs(gs - ws) <= tol, (gk, gs, wk, ws)
        if gk != wk:
            assert any(key == gk and abs(s - ws) <= 2 * tol for key, s in want), (gk, wk)


def build(
    dtype: str, n: int, rng: np.random.Generator, other: int = 0, **kwargs: Any
) -> tuple[GpuFlatIndex, FlatIndex, CupyEmbeddingPool, EmbeddingPool, np.ndarray]:
    """The same entries in a GPU pool + GpuFlatIndex and a CPU pool + FlatIndex.

    ``other`` rows of another namespace sit in the pools too (not indexed).
    """
    gpool, cpool = CupyEmbeddingPool(DIM, capacity=8, dtype=dtype), EmbeddingPool(DIM, capacity=8)
    gidx, cidx = GpuFlatIndex(**kwargs), FlatIndex()
    vecs = unit(rng, n + other)
    order = rng.permutation(n + other)
    for i in order:
        slot = gpool.add(vecs[i])
        assert cpool.add(vecs[i]) == slot
        if i < n:
            gidx.add(f"k{i}", slot, NO_FP)
            cidx.add(f"k{i}", slot, NO_FP)
    return gidx, cidx, gpool, cpool, vecs[:n]


def check_same(built: tuple[Any, ...], queries: np.ndarray, *, k: int, tol: float) -> None:
    """GpuFlatIndex answers as FlatIndex does, one query at a time and in a batch."""
    gidx, cidx, gpool, cpool = built[:4]
    batch = gidx.search_many(queries, gpool.matrix, k)
    for q, got_many in zip(queries, batch, strict=True):
        want = cidx.search(q, NO_FP, cpool.matrix, k + 3)
        got = gidx.search(q, NO_FP, gpool.matrix, k)
        same_topk(got, want, k, tol)  # one query alone
        same_topk(got_many, want, k, tol)  # or in a batch


@pytest.mark.parametrize(("dtype", "tol"), [("float32", 1e-4), ("float16", 1e-2)])
@pytest.mark.parametrize("other", [0, 600])  # the index is all of the pool / a small part
def test_cupy_search_matches_flat_index(cp: Any, dtype: str, tol: float, other: int) -> None:
    rng = np.random.default_rng(7)
    built = build(dtype, 300, rng, other=other, use_faiss=False)
    gidx, cidx, gpool, cpool, vecs = built
    queries = np.concatenate([near(rng, vecs[:20], 0.95), unit(rng, 10)])
    for k in (1, 4, 50):
        check_same(built, queries, k=k, tol=tol)
    assert gidx.kind == "gpu-flat"
    if dtype == "float32":  # the exact keys, in order
        for q in queries:
            got = [key for key, _ in gidx.search(q, NO_FP, gpool.matrix, 4)]
            assert got == [key for key, _ in cidx.search(q, NO_FP, cpool.matrix, 4)]


def test_gpu_index_removal_readd_and_compaction(cp: Any) -> None:
    rng = np.random.default_rng(8)
    built = build("float32", 200, rng, use_faiss=False)
    gidx, cidx, gpool, cpool, vecs = built
    queries = near(rng, vecs[:30], 0.97)
    check_same(built, queries, k=4, tol=1e-4)  # rows now on the device
    for i in range(0, 200, 3):  # tombstones, some re-added at a new slot
        slot = gidx.remove(f"k{i}")
        assert slot is not None and cidx.remove(f"k{i}") == slot
        gpool.free(slot)
        cpool.free(slot)
        if i % 2 == 0:
            new = gpool.add(vecs[i])
            assert cpool.add(vecs[i]) == new
            gidx.add(f"k{i}", new, NO_FP)
            cidx.add(f"k{i}", new, NO_FP)
    assert len(gidx) == len(cidx) and ("k3" in gidx) is ("k3" in cidx)
    check_same(built, queries, k=4, tol=1e-4)
    assert gidx.remove("absent") is None
    for i in range(200):  # more than half the rows become tombstones -> compaction
        if f"k{i}" in cidx and i % 5:
            gpool.free(gidx.remove(f"k{i}"))  # type: ignore[arg-type]
            cpool.free(cidx.remove(f"k{i}"))  # type: ignore[arg-type]
    check_same(built, queries, k=4, tol=1e-4)
    assert gidx._dead == 0
    assert sorted((k, s) for k, s, _ in gidx.items()) == sorted((k, s) for k, s, _ in cidx.items())
    for key, _s, _fp in list(cidx.items()):
        gidx.remove(key)
    assert gidx.search(queries[0], NO_FP, gpool.matrix, 4) == []


@pytest.mark.parametrize(("dtype", "tol"), [("float32", 1e-4), ("float16", 1e-2)])
def test_faiss_path_matches_flat_index(
    cp: Any, dtype: str, tol: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    if isinstance(sys.modules.get("cupy"), types.ModuleType) and hasattr(
        sys.modules["cupy"].cuda.runtime, "calls"
    ):  # emulated CuPy: faiss-gpu's names over faiss-cpu
        monkeypatch.setitem(sys.modules, "faiss", faiss_shim())
    elif gpu_index.faiss_gpu() is None:
        pytest.skip("faiss has no GPU support here")
    monkeypatch.setattr(gpu_index, "_FAISS_MAX_K", 16)  # reach the over-fetch limit cheaply
    rng = np.random.default_rng(9)
    built = build(dtype, 300, rng, other=50, faiss_min=100)
    gidx, cidx, gpool, cpool, vecs = built
    queries = np.concatenate([near(rng, vecs[:20], 0.95), unit(rng, 5)])
    check_same(built, queries, k=4, tol=tol)
    assert gidx.kind == "gpu-faiss"
    for i in range(0, 24, 2):  # 12 tombstones: k + 12 <= 16, faiss over-fetches
        gpool.free(gidx.remove(f"k{i}"))  # type: ignore[arg-type]
        cpool.free(cidx.remove(f"k{i}"))  # type: ignore[arg-type]
    check_same(built, queries, k=4, tol=tol)
    for i in range(1, 11, 2):  # 17 tombstones: past faiss's k, the CuPy path answers
        gpool.free(gidx.remove(f"k{i}"))  # type: ignore[arg-type]
        cpool.free(cidx.remove(f"k{i}"))  # type: ignore[arg-type]
    new = unit(rng, 5)  # added after faiss was built: flushed on the next search
    for j, v in enumerate(new):
        slot = gpool.add(v)
        assert cpool.add(v) == slot
        gidx.add(f"new{j}", slot, NO_FP)
        cidx.add(f"new{j}", slot, NO_FP)
    check_same(built, np.concatenate([queries, new]), k=4, tol=tol)


# ---- the cache on the GPU ----------------------------------------------------------
def test_cache_on_gpu_gives_the_cpu_answers(cp: Any) -> None:
    prompts = [f"how do I {verb} a {thing}" for verb in ("sort", "copy", "merge", "reverse")
               for thing in ("list", "dict", "file", "string", "tuple")]  # fmt: skip
    caches = {
        dev: SemanticCache(HashingEmbedder(dim=64), threshold=0.6, max_entries=15, device=dev)
        for dev in ("cpu", "gpu")
    }
    assert isinstance(caches["gpu"]._pool, CupyEmbeddingPool)
    for cache in caches.values():
        cache.put_many(prompts, [p.upper() for p in prompts])  # 20 puts, 15 kept: evictions
    assert len(caches["gpu"]._pool) == 15
    for p in prompts + [p + " please" for p in prompts] + ["something else entirely"]:
        got, want = caches["gpu"].get(p), caches["cpu"].get(p)
        assert (got is None) == (want is None), p
        if got is not None and want is not None:
            assert got.response == want.response and abs(got.score - want.score) < 1e-4
    caches["gpu"].clear()
    assert len(caches["gpu"]._pool) == 0 and caches["gpu"].get(prompts[-1]) is None


def test_cache_refuses_max_entries_past_the_gpu_cap(emulated: Any) -> None:
    emulated.cuda.runtime.free = 1 << 20  # 1 MiB free: 0.5 MiB cap = 2048 rows of 64 floats
    with pytest.raises(PoolFullError, match="must hold 100001 rows"):
        SemanticCache(HashingEmbedder(dim=64), threshold=0.6, device="gpu")
    fits = SemanticCache(HashingEmbedder(dim=64), threshold=0.6, max_entries=2000, device="gpu")
    assert fits._device == "gpu"
