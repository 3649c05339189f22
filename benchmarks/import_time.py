#!/usr/bin/env python
"""``import semcache`` time, and which heavy modules it loads (issue 2).

Each sample is a fresh interpreter that times its own ``import semcache``
with ``time.perf_counter_ns`` (interpreter start-up, ~50-100 ms here, is
excluded), cross-checked with ``python -X importtime`` (the cumulative
microseconds of the ``semcache`` line). ``import numpy`` and ``import numba``
are timed the same way in the same run, for scale. A check then asserts that none of
numba, torch, sentence_transformers, redis, cupy, faiss or langchain_core is in
``sys.modules`` after ``import semcache``, and records what touching
``semcache.SemanticCache`` loads.

    python benchmarks/import_time.py           # 30 runs, writes benchmarks/results/import_time.json
    python benchmarks/import_time.py --quick   # 5 runs, writes benchmarks/results/import_time-quick.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HEAVY = ("numba", "torch", "sentence_transformers", "redis", "cupy", "faiss", "langchain_core")
ALSO = ("numpy",)
PROBE = """
import sys, json
import semcache
after_import = sorted(m for m in {mods!r} if m in sys.modules)
semcache.SemanticCache
after_class = sorted(m for m in {mods!r} if m in sys.modules)
print(json.dumps({{"after_import": after_import, "after_SemanticCache": after_class}}))
"""


def in_process_ms(module: str) -> float:
    code = f"import time; t = time.perf_counter_ns(); import {module}; print(time.perf_counter_ns() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return int(out) / 1e6


def importtime_us() -> int:
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import semcache"], capture_output=True, text=True, check=True
    ).stderr
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+\s+\|\s+(\d+)\s+\|\s?(\S.*)$", line)
        if m and m.group(2).strip() == "semcache":
            return int(m.group(1))
    raise RuntimeError("no semcache line in -X importtime output")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    runs = args.runs or (5 if args.quick else 30)
    mods = ("semcache", "numpy", "numba")
    for m in mods:  # warm the file cache and the .pyc files
        in_process_ms(m)
    samples: dict[str, list[float]] = {m: [] for m in mods}
    xi = []
    for _ in range(runs):  # interleaved, so drifting load hits all alike
        for m in mods:
            samples[m].append(in_process_ms(m))
        xi.append(importtime_us() / 1e3)
    probe = json.loads(
        subprocess.run(
            [sys.executable, "-c", PROBE.format(mods=HEAVY + ALSO)], capture_output=True, text=True, check=True
        ).stdout
    )
    heavy_loaded = [m for m in probe["after_import"] if m in HEAVY]
    res = {
        "runs": runs,
        "load_1min": round(os.getloadavg()[0], 2),
        "python": sys.version.split()[0],
        "semcache_commit": os.environ.get("SEMCACHE_BENCH_COMMIT", ""),
        "import_ms": {
            m: {"median": float(np.median(v)), "p99": float(np.percentile(v, 99))} for m, v in samples.items()
        },
        "importtime_cumulative_ms": {"median": float(np.median(xi)), "p99": float(np.percentile(xi, 99))},
        "modules": probe,
        "heavy_loaded_by_import": heavy_loaded,
    }
    out = args.out or HERE / "results" / ("import_time-quick.json" if args.quick else "import_time.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"{runs} fresh interpreters, Python {res['python']}, load {res['load_1min']}\n")
    print("| measure | median ms | p99 ms |\n|---|---|---|")
    for m, v in res["import_ms"].items():
        print(f"| `import {m}` in a fresh interpreter | {v['median']:.2f} | {v['p99']:.2f} |")
    print(
        f"| `-X importtime`, cumulative for semcache | {res['importtime_cumulative_ms']['median']:.2f} | "
        f"{res['importtime_cumulative_ms']['p99']:.2f} |"
    )
    print(f"\nafter `import semcache`: {probe['after_import'] or 'none'} of {', '.join(HEAVY + ALSO)}")
    print(f"after touching `semcache.SemanticCache`: {probe['after_SemanticCache'] or 'none'}")
    print(f"raw numbers: {out}")
    if heavy_loaded:
        raise SystemExit(f"FAIL: import semcache loaded {heavy_loaded}")
    print("OK: none of " + ", ".join(HEAVY) + " after import semcache")


if __name__ == "__main__":
    main()
