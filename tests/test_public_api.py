"""The package namespace is the API: exported names, cheap import, packaging files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import semcache

EXPECTED = [
    "ArgumentTypeError",
    "BackendError",
    "CacheConfig",
    "CacheStats",
    "CalibratedVerifier",
    "Candidate",
    "CorruptEntryError",
    "CosineVerifier",
    "DeviceUnavailableError",
    "Embedder",
    "HashingEmbedder",
    "Hit",
    "InvalidArgumentError",
    "InvalidConfigError",
    "InvalidEmbeddingError",
    "InvalidPromptError",
    "InvalidResponseError",
    "MissingDependencyError",
    "SemanticCache",
    "SemcacheError",
    "SentenceTransformerEmbedder",
    "Verifier",
    "__version__",
    "calibrate",
    "exact_key",
    "normalize",
]


def test_exported_names_are_sorted_and_expected() -> None:
    assert semcache.__all__ == sorted(semcache.__all__)
    assert set(semcache.__all__) >= set(EXPECTED)
    for name in semcache.__all__:
        assert getattr(semcache, name) is not None, name


def test_exported_objects_live_in_private_or_named_modules() -> None:
    for name in semcache.__all__:
        obj = getattr(semcache, name)
        module = getattr(obj, "__module__", "semcache")
        assert module.startswith("semcache"), (name, module)


def test_unknown_attribute_raises() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        semcache.nope  # noqa: B018


def test_import_loads_no_heavy_module() -> None:
    code = (
        "import sys, json, semcache; "
        "print(json.dumps([m for m in ('numba', 'numpy', 'torch', 'sentence_transformers', 'redis', "
        "'cupy', 'faiss', 'langchain_core') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_building_a_hashing_cache_compiles_nothing() -> None:
    code = "import sys, semcache; semcache.SemanticCache('hashing'); print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_error_tree_subclasses_builtins() -> None:
    assert issubclass(semcache.InvalidPromptError, ValueError)
    assert issubclass(semcache.ArgumentTypeError, TypeError)
    assert issubclass(semcache.MissingDependencyError, ImportError)
    assert issubclass(semcache.BackendError, RuntimeError)
    assert all(issubclass(getattr(semcache, n), semcache.SemcacheError) for n in EXPECTED if n.endswith("Error"))


def test_ships_py_typed_and_demo_data() -> None:
    root = Path(semcache.__file__).parent
    assert (root / "py.typed").exists()
    lines = (root / "data" / "demo_faq.tsv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "question1\tquestion2\tis_duplicate" and len(lines) > 200
