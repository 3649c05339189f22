"""semcache-openai: a semantic cache in front of the OpenAI client.

Usage::

    from openai import OpenAI
    from semcache_openai import cached

    client = cached(OpenAI())
    client.chat.completions.create(model="gpt-4o-mini", messages=[...])
"""

from __future__ import annotations

from ._client import cached
from ._replay import ID_PREFIX, CacheInfo, cache_info
from ._request import DEFAULT_IGNORED_PARAMS

__version__ = "0.1.0"

__all__ = [
    "CacheInfo",
    "DEFAULT_IGNORED_PARAMS",
    "ID_PREFIX",
    "__version__",
    "cache_info",
    "cached",
]
