"""Lazy imports of optional dependencies, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import MissingDependencyError

__all__ = ["require"]


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra installs it.

    A module that is installed but fails to import (a broken or shadowed
    dependency of it) is not called missing: the error says what failed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) and exc.name is not None
        if missing and (module == exc.name or module.startswith(f"{exc.name}.")):
            raise MissingDependencyError(
                f"{module!r} is needed for this feature but is not installed; "
                f"install it with: pip install 'semcache[{extra}]'"
            ) from exc
        raise MissingDependencyError(
            f"{module!r} is installed but failed to import ({type(exc).__name__}: {exc}); "
            f"reinstall it with: pip install 'semcache[{extra}]', or fix what the error names"
        ) from exc
