#!/usr/bin/env python
"""How long a replica takes to catch up on 10 000 changes made while it was away.

Two private ``redis-server`` processes (no persistence) hold replicas
``eu-1`` and ``us-1``, peers of each other. ``us-1`` syncs once (empty), then
``eu-1`` makes ``--changes`` writes (new entries: a 200-byte answer, a 384-d
embedding from the hashing embedder); then one ``us-1.sync()`` is timed, in
two parts:

* *pull*: read eu-1's change log in batches of 500 (one READ round trip each,
  returning the current states), merge them into us-1's Redis (one read and
  one compare-and-set pipeline per batch), save the cursor;
* *local*: us-1's process reads its own change log and loads the 10 000
  entries into its in-process tiers (LRU, embedding pool, index).

The *anti-entropy* run is the same, except that eu-1's log is trimmed to
nothing first, so us-1 finds a gap and repairs by scanning eu-1's entries.

Round trips are counted by counting redis-py ``send_packed_command`` calls
during the sync (one per pipeline or script call). Every variant is repeated
``--repeats`` times on fresh servers; the report gives the median and the
slowest run.

    python benchmarks/replication_catchup.py            # 10 000 changes, 7 repeats
    python benchmarks/replication_catchup.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from redis_latency import DIM, count_round_trips, machine, start_redis  # noqa: E402


def one_run(changes: int, trimmed: bool) -> dict[str, Any]:
    import redis

    from semcache import HashingEmbedder, SemanticCache

    (pa, url_a), (pb, url_b) = start_redis(), start_redis()
    try:
        emb = HashingEmbedder(dim=DIM)
        kw: dict[str, Any] = {"threshold": 0.9, "max_entries": 4 * changes, "redis_timeout": 5.0}
        a = SemanticCache(emb, redis=url_a, replica_id="eu-1", peers=[url_b], **kw)
        b = SemanticCache(emb, redis=url_b, replica_id="us-1", peers=[url_a], **kw)
        b.sync()
        prompts = [f"change number {i} of the benchmark" for i in range(changes)]
        answer = "x" * 200
        for i in range(0, changes, 500):
            a.put_many(prompts[i : i + 500], [answer] * len(prompts[i : i + 500]))
        if trimmed:
            redis.Redis.from_url(url_a).xtrim("semcache:log", maxlen=0, approximate=False)

        assert b._replicator is not None and b._redis is not None
        with count_round_trips(redis) as sent:
            t0 = time.perf_counter()
            report = b._replicator.sync()
            t1 = time.perf_counter()
            pull_rts = sent[0]
            b._redis.refresh()
            t2 = time.perf_counter()
        assert a.stats().errors == 0 and b.stats().errors == 0
        assert report.failed == 0 and report.applied == changes, report
        assert report.repaired == int(trimmed), report
        assert len(b) == changes, len(b)
        hit = b.get(prompts[changes // 2])
        assert hit is not None and hit.response == answer
        a.close()
        b.close()
        return {
            "pull_s": t1 - t0,
            "local_s": t2 - t1,
            "total_s": t2 - t0,
            "pull_round_trips": pull_rts,
            "total_round_trips": sent[0],
        }
    finally:
        for p in (pa, pb):
            p.kill()
            p.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--changes", type=int, default=10_000)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results" / "replication_catchup.json")
    args = ap.parse_args()
    if args.quick:
        args.changes, args.repeats = 2_000, 2
        args.out = args.out.with_name("replication_catchup-quick.json")
    out: dict[str, Any] = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    for name, trimmed in (("change log", False), ("anti-entropy (log trimmed)", True)):
        runs = [one_run(args.changes, trimmed) for _ in range(args.repeats)]
        summary = {
            key: {"median": statistics.median(r[key] for r in runs), "max": max(r[key] for r in runs)}
            for key in runs[0]
        }
        out[name] = {"runs": runs, "summary": summary}
        s = summary
        print(
            f"{name}: {args.changes} changes, total {s['total_s']['median']:.2f} s median "
            f"({s['total_s']['max']:.2f} s slowest of {args.repeats}); pull {s['pull_s']['median']:.2f} s, "
            f"local load {s['local_s']['median']:.2f} s; round trips {s['total_round_trips']['median']:.0f}"
        )
    out["loadavg_after"] = Path("/proc/loadavg").read_text().split()[:3]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
