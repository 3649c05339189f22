"""CacheConfig: every SemanticCache setting, validated, with its default in one place."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ._errors import ArgumentTypeError, InvalidConfigError, describe

__all__ = ["DEFAULT_TARGET_PRECISION", "CacheConfig", "check_ttl"]

DEFAULT_TARGET_PRECISION = 0.95
_INDEXES = ("auto", "flat", "lsh")
_DEVICES = ("cpu", "auto", "gpu")


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_ttl(ttl: object, name: str = "ttl") -> float | None:
    """None, or a finite number of seconds > 0."""
    if ttl is None:
        return None
    if not _is_number(ttl):
        raise ArgumentTypeError(f"{name} must be None or a number of seconds, got {describe(ttl)}")
    value = float(ttl)  # type: ignore[arg-type]
    if not math.isfinite(value) or value <= 0:
        raise InvalidConfigError(f"{name} must be a finite number of seconds > 0, got {ttl!r}")
    return value


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """Validated settings of a SemanticCache (see ``SemanticCache`` for their meaning)."""

    threshold: float | None = None
    target_precision: float | None = None
    max_entries: int = 100_000
    max_bytes: int | None = None
    ttl: float | None = None
    index: str = "auto"
    device: str = "cpu"
    redis_prefix: str = "semcache:"
    candidates: int = 4
    strict: bool = False

    def __post_init__(self) -> None:
        if self.threshold is not None:
            if not _is_number(self.threshold):
                raise ArgumentTypeError(f"threshold must be a number, got {describe(self.threshold)}")
            if not 0.0 <= self.threshold <= 1.0:
                raise InvalidConfigError(f"threshold must be in [0, 1], got {self.threshold!r}")
        if self.target_precision is not None:
            if not _is_number(self.target_precision):
                raise ArgumentTypeError(
                    f"target_precision must be a number, got {describe(self.target_precision)}"
                )
            if not 0.0 < self.target_precision < 1.0:
                raise InvalidConfigError(
                    f"target_precision must be in (0, 1), got {self.target_precision!r}"
                )
        if self.threshold is not None and self.target_precision is not None:
            raise InvalidConfigError(
                "give threshold (a plain cosine gate) or target_precision (the verifier), not both"
            )
        if isinstance(self.max_entries, bool) or not isinstance(self.max_entries, int):
            raise ArgumentTypeError(f"max_entries must be an int, got {describe(self.max_entries)}")
        if self.max_entries < 1:
            raise InvalidConfigError(f"max_entries must be >= 1, got {self.max_entries!r}")
        if self.max_bytes is not None:
            if isinstance(self.max_bytes, bool) or not isinstance(self.max_bytes, int):
                raise ArgumentTypeError(f"max_bytes must be None or an int, got {describe(self.max_bytes)}")
            if self.max_bytes < 1:
                raise InvalidConfigError(f"max_bytes must be >= 1, got {self.max_bytes!r}")
        check_ttl(self.ttl)
        if self.index not in _INDEXES:
            raise InvalidConfigError(f"index must be one of {_INDEXES}, got {self.index!r}")
        if self.device not in _DEVICES:
            raise InvalidConfigError(f"device must be one of {_DEVICES}, got {self.device!r}")
        if not isinstance(self.redis_prefix, str) or not self.redis_prefix:
            raise InvalidConfigError(f"redis_prefix must be a non-empty str, got {self.redis_prefix!r}")
        if isinstance(self.candidates, bool) or not isinstance(self.candidates, int) or not 1 <= self.candidates <= 64:
            raise InvalidConfigError(f"candidates must be an int in [1, 64], got {self.candidates!r}")
