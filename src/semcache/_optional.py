"""Lazy imports of optional dependencies, with an error that names the extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from ._errors import MissingDependencyError

__all__ = ["import_problem", "require"]

NOT_INSTALLED = "not installed"  # what ``import_problem`` says of a module that is not there


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise an ImportError that says which extra installs it.

    A module that is installed but fails to import (a broken or shadowed
    dependency of it) is not called missing: the error says what failed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        problem = import_problem(module, exc)
        if problem == NOT_INSTALLED:
            raise MissingDependencyError(
                f"{module!r} is needed for this feature but is not installed; "
                f"install it with: pip install 'semcache[{extra}]'"
            ) from exc
        raise MissingDependencyError(
            f"{module!r} is {problem}; reinstall it with: pip install 'semcache[{extra}]', or fix what the error names"
        ) from exc


def import_problem(module: str, exc: ImportError) -> str:
    """Why importing ``module`` raised ``exc``: "not installed" when ``module`` (or a
    package above it) is not there, else "installed but failed to import (...)",
    naming the error (a broken or shadowed dependency of it)."""
    name = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if name is not None and (module == name or module.startswith(f"{name}.")):
        return NOT_INSTALLED
    return f"installed but failed to import ({type(exc).__name__}: {exc})"
