"""Two processes share hits through one Redis."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from semcache import SemanticCache

pytest.importorskip("redis")

pytestmark = pytest.mark.redis

CHILD = textwrap.dedent(
    """
    import json, sys
    import semcache
    url, prefix, mode = sys.argv[1:4]
    cache = semcache.SemanticCache("hashing", threshold=0.7, redis=url, redis_prefix=prefix)
    if mode == "put":
        cache.put("How tall is Mount Everest?", {"metres": 8849})
        cache.put("Who painted the Mona Lisa?", "Leonardo da Vinci")
        print(json.dumps(cache.stats().errors))
    else:
        out = []
        for q in ("What is the capital of France", "What is the capital city of France"):
            hit = cache.get(q)
            out.append(None if hit is None else [hit.response, hit.exact])
        print(json.dumps(out))
    """
)


def run_child(url: str, prefix: str, mode: str) -> object:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, url, prefix, mode],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_processes_share_hits(redis_url: str, redis_prefix: str) -> None:
    here = SemanticCache("hashing", threshold=0.7, redis=redis_url, redis_prefix=redis_prefix)
    assert run_child(redis_url, redis_prefix, "put") == 0  # another process writes ...
    hit = here.get("How tall is Mount Everest")  # ... this one, already running, serves it
    assert hit is not None and hit.exact and hit.response == {"metres": 8849}
    hit = here.get("Who painted the Mona Lisa painting")
    assert hit is not None and not hit.exact and hit.response == "Leonardo da Vinci"

    here.put("What is the capital of France?", "Paris")  # and the other way round
    assert run_child(redis_url, redis_prefix, "get") == [["Paris", True], ["Paris", False]]
