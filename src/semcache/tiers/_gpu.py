"""Probe for a usable NVIDIA GPU through CuPy, once per process."""

from __future__ import annotations

import functools
import logging
from typing import Literal

from .._errors import DeviceUnavailableError
from .._optional import import_problem

__all__ = ["probe", "resolve"]

log = logging.getLogger("semcache")


@functools.cache
def probe() -> str | None:
    """None when a GPU answers through CuPy, else the reason it does not."""
    try:
        import cupy
    except ImportError as exc:
        return f"CuPy is {import_problem('cupy', exc)} (pip install 'semcache[gpu]')"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA raises its own error types; any of them means no GPU
        return f"CUDA did not answer: {exc}"
    if count < 1:
        return "CUDA reports no device"
    return None


@functools.cache
def _warn_fallback(reason: str) -> None:
    log.warning("semcache: device='auto' falls back to the CPU: %s", reason)


def resolve(device: str) -> Literal["cpu", "gpu"]:
    """``"gpu"`` when a GPU answers; ``"auto"`` falls back to the CPU (logged once)."""
    reason = probe()
    if reason is None:
        return "gpu"
    if device == "gpu":
        raise DeviceUnavailableError(f"device='gpu' was asked for but no GPU is usable: {reason}")
    _warn_fallback(reason)
    return "cpu"
