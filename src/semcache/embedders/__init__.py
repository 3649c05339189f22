"""Embedders: the protocol, a sentence-transformers model, and a model-free hasher."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._errors import ArgumentTypeError, describe
from ._base import Embedder, check_embeddings
from .hashing import HashingEmbedder

if TYPE_CHECKING:
    from .sentence_transformers import SentenceTransformerEmbedder

__all__ = [
    "Embedder",
    "HashingEmbedder",
    "SentenceTransformerEmbedder",
    "check_embeddings",
    "resolve_embedder",
]


def __getattr__(name: str) -> Any:
    if name == "SentenceTransformerEmbedder":
        from .sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def resolve_embedder(embedder: object) -> Embedder:
    """``"auto"``: all-MiniLM-L6-v2; ``"hashing"``: HashingEmbedder; else an Embedder."""
    if embedder == "auto":
        from .sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder()
    if embedder == "hashing":
        return HashingEmbedder()
    if isinstance(embedder, str):
        from .sentence_transformers import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(embedder)
    if isinstance(embedder, Embedder):
        return embedder
    raise ArgumentTypeError(
        "embedder must be 'auto', 'hashing', a model folder, or an object with "
        f"'dim' and 'embed(texts)', got {describe(embedder)}"
    )
