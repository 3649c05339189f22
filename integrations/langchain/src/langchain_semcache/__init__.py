"""langchain-semcache: a LangChain LLM cache backed by semcache.

Usage::

    from langchain_core.globals import set_llm_cache
    from langchain_semcache import SemcacheCache

    set_llm_cache(SemcacheCache())
"""

from __future__ import annotations

from ._cache import SemcacheCache

__version__ = "0.1.0"

__all__ = ["SemcacheCache", "__version__"]
