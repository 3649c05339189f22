"""Storage tiers: the CPU LRU hot tier and the embedding pool (and, later, Redis)."""

from .lru import LRUTier
from .pool import EmbeddingPool, resolve_device

__all__ = ["EmbeddingPool", "LRUTier", "resolve_device"]
