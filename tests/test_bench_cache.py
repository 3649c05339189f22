"""benchmarks/_data.py's on-disk embedding cache gives every text back at its own row."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from semcache import HashingEmbedder

TEXTS = ["a\x00b", "plain", "\ud800 lone surrogate", "", "caf\u00e9 \U0001f600"]


@pytest.fixture
def data_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "_data.py"
    spec = importlib.util.spec_from_file_location("_bench_data_under_test", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, mod)
    # the module sets TOKENIZERS_PARALLELISM for the benchmarks; set here, it is undone after the test
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", os.environ.get("TOKENIZERS_PARALLELISM", "false"))
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod, "CACHE_DIR", tmp_path)
    return mod


def test_texts_with_nul_and_surrogates_come_back_at_their_rows(data_module: ModuleType) -> None:
    emb = HashingEmbedder()
    first = data_module.EmbeddingStore(emb, "t")
    want = first(TEXTS)
    again = data_module.EmbeddingStore(emb, "t")
    assert list(again.index) == list(first.index)
    np.testing.assert_array_equal(again(TEXTS), want)
    np.testing.assert_array_equal(want, np.asarray(emb.embed(TEXTS), np.float32))


def test_a_misaligned_earlier_format_is_re_embedded(data_module: ModuleType, tmp_path: Path) -> None:
    # the NUL-joined format split "a\x00b" in two: one text too many for the vectors
    texts = ["a\x00b", "plain"]
    vectors = np.ones((2, HashingEmbedder().dim), np.float32)
    joined = np.frombuffer("\x00".join(texts).encode("utf-8"), np.uint8)
    np.savez(tmp_path / "emb-old.npz", texts_utf8=joined, vectors=vectors)
    store = data_module.EmbeddingStore(HashingEmbedder(), "old")
    assert store.index == {}
    np.testing.assert_array_equal(store(texts), np.asarray(HashingEmbedder().embed(texts), np.float32))


def test_no_benchmark_script_shadows_an_installed_module() -> None:
    """A script's folder comes first on ``sys.path`` when it runs, so a script named like
    an installed module replaces it for every library that imports it (``kernels.py``
    broke transformers, and with it every benchmark that loads MiniLM)."""
    bench = Path(__file__).resolve().parents[1] / "benchmarks"
    names = sorted(p.stem for p in bench.iterdir() if (p.suffix == ".py" or p.is_dir()) and p.stem.isidentifier())
    assert "hit_rate" in names
    assert [n for n in names if importlib.util.find_spec(n) is not None] == []
    # and none named like what the benchmarks' dependencies import, installed here or not
    # (transformers imports Hugging Face's kernels only where it is installed)
    taken = {"accelerate", "datasets", "faiss", "gptcache", "huggingface_hub", "kernels", "matplotlib",
             "numba", "numpy", "redis", "safetensors", "scipy", "semcache", "sentence_transformers",
             "simhash", "sklearn", "tokenizers", "torch", "transformers", "triton", "cupy", "peft"}
    assert sorted(taken.intersection(names)) == []
