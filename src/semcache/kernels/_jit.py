"""Numba set-up shared by the kernels: the ``jit`` decorator and a popcount.

Kernels compile lazily, on first call. Compiled code is cached on disk when a
cache location is writable (``NUMBA_CACHE_DIR``, the package folder, or
Numba's user-wide cache); otherwise caching is off and each process compiles
once. ``SEMCACHE_NUMBA_CACHE=0`` turns caching off. No global Numba state
(threading layer, thread count) is changed here.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any, cast

import numba
from numba import types
from numba.extending import intrinsic

__all__ = ["CACHE", "FASTMATH", "jit", "popcount"]


def _writable(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError:
        return False
    return True


def _cache_enabled() -> bool:
    if os.environ.get("SEMCACHE_NUMBA_CACHE", "1").lower() in {"0", "false", "no", "off"}:
        return False
    explicit = os.environ.get("NUMBA_CACHE_DIR")
    if explicit:
        return _writable(explicit)
    here = os.path.dirname(os.path.abspath(__file__))
    if _writable(os.path.join(here, "__pycache__")):
        return True
    # Numba falls back to a user-wide directory when the package is read-only.
    home_cache = os.path.join(os.path.expanduser("~"), ".cache", "numba")
    return _writable(home_cache)


CACHE: bool = _cache_enabled()

# Reassociation lets LLVM vectorise float reductions (dot products); inputs
# are validated finite at the boundary, so no NaN/inf flags are relaxed.
FASTMATH = frozenset({"reassoc", "contract", "nsz", "arcp"})


def jit(*, fastmath: bool = False, parallel: bool = False) -> Callable[[Any], Any]:
    """``numba.njit`` with the package's caching choice and the GIL released."""
    return numba.njit(  # type: ignore[no-any-return]
        cache=CACHE,
        nogil=True,
        fastmath=set(FASTMATH) if fastmath else False,
        parallel=parallel,
        error_model="numpy",
    )


@intrinsic
def _popcount(typingctx: Any, x: Any) -> Any:
    """Population count of a uint64 through LLVM's ``ctpop`` (one POPCNT)."""
    if x != types.uint64:
        return None
    sig = types.uint64(types.uint64)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        return builder.ctpop(args[0])

    return sig, codegen


# Seen from Python (and by type checkers) the intrinsic is a one-argument function.
popcount: Callable[[Any], Any] = cast(Callable[[Any], Any], _popcount)
