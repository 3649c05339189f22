"""semcache: a semantic response cache for LLM applications.

Everything public is importable from here; names resolve lazily, so
``import semcache`` loads no NumPy, Numba, torch, Redis or CuPy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "ArgumentTypeError": "._errors",
    "BackendError": "._errors",
    "CacheConfig": "._config",
    "CacheStats": "._cache",
    "CalibratedVerifier": ".verify",
    "Candidate": ".verify",
    "CorruptEntryError": "._errors",
    "CosineVerifier": ".verify",
    "DeviceUnavailableError": "._errors",
    "Embedder": ".embedders",
    "HashingEmbedder": ".embedders",
    "Hit": "._cache",
    "InvalidArgumentError": "._errors",
    "InvalidConfigError": "._errors",
    "InvalidEmbeddingError": "._errors",
    "InvalidPromptError": "._errors",
    "InvalidResponseError": "._errors",
    "MissingDependencyError": "._errors",
    "SemanticCache": "._cache",
    "SemcacheError": "._errors",
    "SentenceTransformerEmbedder": ".embedders.sentence_transformers",
    "Verifier": ".verify",
    "calibrate": ".verify",
    "exact_key": ".normalize",
    "normalize": ".normalize",
}

__all__ = [
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

if TYPE_CHECKING:
    from ._cache import CacheStats, Hit, SemanticCache
    from ._config import CacheConfig
    from ._errors import (
        ArgumentTypeError,
        BackendError,
        CorruptEntryError,
        DeviceUnavailableError,
        InvalidArgumentError,
        InvalidConfigError,
        InvalidEmbeddingError,
        InvalidPromptError,
        InvalidResponseError,
        MissingDependencyError,
        SemcacheError,
    )
    from .embedders import Embedder, HashingEmbedder
    from .embedders.sentence_transformers import SentenceTransformerEmbedder
    from .normalize import exact_key, normalize
    from .verify import CalibratedVerifier, Candidate, CosineVerifier, Verifier, calibrate


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'semcache' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
