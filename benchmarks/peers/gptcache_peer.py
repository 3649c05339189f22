#!/usr/bin/env python
"""GPTCache 0.1.44 peer for the hit-rate benchmark (standalone runner).

GPTCache runs in its own virtual environment (``benchmarks/.venv-gptcache``,
created on first use; override with ``$SEMCACHE_GPTCACHE_VENV``) so that our
main environment never gets gptcache or its dependencies.  This file is both
the driver (run from the main env) and the worker (run with the venv's python);
at module level it imports only the standard library.

Command line::

    python benchmarks/peers/gptcache_peer.py setup
    python benchmarks/peers/gptcache_peer.py run --input IN.npz --output OUT.json [--mode warm|cold]

IN.npz: ``query_texts`` (str[m]), ``query_vecs`` (float32[m, d], unit rows) and,
for ``--mode warm`` (the default), ``cached_texts`` (str[n]), ``cached_vecs``.

* warm: ``put(text, text)`` for every cached text (answer = the text itself),
  then ``get`` for every query text.
* cold: for every query text ``get``; on a miss ``put(text, text)``.

From Python::

    from gptcache_peer import run_gptcache, run_gptcache_report
    rows = run_gptcache(cached_texts, cached_vecs, query_texts, query_vecs)   # warm
    rows = run_gptcache(None, None, query_texts, query_vecs)                  # cold
    # rows[i] == {"hit": bool, "cached": str | None, "latency_us": float}

Both raise ``RuntimeError("GPTCache could not be installed: ...")`` when the
venv cannot be created or populated (e.g. no network), and
``RuntimeError("GPTCache run failed: ...")`` when the worker fails.

GPTCache set-up (the worker, see ``_worker``): a private ``gptcache.Cache`` with
``Cache.init(pre_embedding_func=gptcache.processor.pre.get_prompt,
embedding_func=<dict lookup text -> precomputed vector>,
data_manager=get_data_manager(CacheBase("sqlite"), VectorBase("faiss",
dimension=d), max_size=...), similarity_evaluation=SearchDistanceEvaluation(),
config=Config())``, and ``gptcache.adapter.api.put`` / ``get`` with
``cache_obj=`` that cache.  Everything else is GPTCache's default.  The one
deliberate deviation: ``get_data_manager``'s default ``max_size=1000`` (an LRU
that evicts beyond 1000 entries) is raised to the number of entries the run
can store, so the benchmark measures matching, not capacity.  Pass
``--max-size 1000`` (``max_size=1000``) for the literal default.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GPTCACHE_VERSION = "0.1.44"
# gptcache==0.1.44 itself only pulls numpy/requests/cachetools.  Its default
# data manager additionally imports `faiss` (VectorBase("faiss")) and
# `sqlalchemy` (CacheBase("sqlite")); without them GPTCache tries to
# `pip install` them itself at run time, which we forbid (see _forbid_auto_install).
REQUIREMENTS = [f"gptcache=={GPTCACHE_VERSION}", "numpy", "faiss-cpu", "sqlalchemy"]
_MODULES_TO_CHECK = ["gptcache", "numpy", "faiss", "sqlalchemy"]
_DISTS_TO_RECORD = ["gptcache", "numpy", "faiss-cpu", "sqlalchemy", "cachetools", "requests"]

_HERE = Path(__file__).resolve()
DEFAULT_VENV = _HERE.parents[1] / ".venv-gptcache"  # benchmarks/.venv-gptcache
_MARKER = ".semcache-peer-ok.json"
_INSTALL_TIMEOUT_S = 1200


def venv_dir() -> Path:
    return Path(os.environ.get("SEMCACHE_GPTCACHE_VENV") or DEFAULT_VENV).resolve()


def _venv_python(venv: Path) -> Path:
    if os.name == "nt":  # pragma: no cover
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def _clean_env(venv: Path) -> dict:
    """Environment for processes run with the venv's python: nothing from the main env leaks in."""
    env = dict(os.environ)
    for key in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "__PYVENV_LAUNCHER__"):
        env.pop(key, None)
    env["PYTHONNOUSERSITE"] = "1"
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = str(_venv_python(venv).parent) + os.pathsep + env.get("PATH", "")
    env.setdefault("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return env


def _tail(text: str, n: int = 1500) -> str:
    text = (text or "").strip()
    return text if len(text) <= n else "..." + text[-n:]


@contextlib.contextmanager
def _install_lock(venv: Path):
    """Serialise venv creation between concurrent processes (lock file outside the repo)."""
    tag = hashlib.sha1(str(venv).encode()).hexdigest()[:12]
    path = Path(tempfile.gettempdir()) / f"semcache-gptcache-venv-{tag}.lock"
    try:
        import fcntl
    except ImportError:  # pragma: no cover - non-POSIX
        yield
        return
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_marker(venv: Path) -> dict | None:
    try:
        info = json.loads((venv / _MARKER).read_text())
    except (OSError, ValueError):
        return None
    if info.get("requirements") != REQUIREMENTS or not _venv_python(venv).exists():
        return None
    return info


_PROBE = r"""
import importlib, importlib.metadata as md, importlib.util, json, sys
mods = json.loads(sys.argv[1]); dists = json.loads(sys.argv[2])
for m in mods:
    importlib.import_module(m)
import gptcache
versions = {}
for d in dists:
    try:
        versions[d] = md.version(d)
    except md.PackageNotFoundError:
        versions[d] = None
print(json.dumps({"gptcache": gptcache.__version__, "packages": versions,
                  "torch_present": importlib.util.find_spec("torch") is not None,
                  "python": sys.version.split()[0]}))
"""


def ensure_venv(verbose: bool = False) -> dict:
    """Create/populate the GPTCache venv if needed; return its info (python, versions, timing).

    Raises RuntimeError("GPTCache could not be installed: ...") on any failure.
    """
    venv = venv_dir()
    with _install_lock(venv):
        info = _read_marker(venv)
        if info is not None:
            info["python_path"] = str(_venv_python(venv))
            info["freshly_installed"] = False
            return info

        def fail(why: str) -> RuntimeError:
            shutil.rmtree(venv, ignore_errors=True)  # never leave a half-built venv behind
            return RuntimeError(f"GPTCache could not be installed into {venv}: {why}")

        log = (
            (lambda msg: print(f"[gptcache_peer] {msg}", file=sys.stderr, flush=True))
            if verbose
            else (lambda msg: None)
        )
        t0 = time.perf_counter()
        if venv.exists():
            log(f"removing incomplete venv {venv}")
            shutil.rmtree(venv, ignore_errors=True)
        log(f"creating venv {venv}")
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "venv", str(venv)],
                check=False,
                capture_output=True,
                text=True,
                timeout=300,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise fail(f"`python -m venv` failed: {exc!r}") from exc
        if proc.returncode != 0:
            raise fail(
                f"`python -m venv` exited {proc.returncode}: {_tail(proc.stderr or proc.stdout)}"
            )
        py = _venv_python(venv)
        env = _clean_env(venv)
        cmd = [str(py), "-m", "pip", "install", "--no-input", "--retries", "2", *REQUIREMENTS]
        log("running: " + " ".join(cmd[1:]))
        try:
            proc = subprocess.run(
                cmd,
                check=False,
                capture_output=True,
                text=True,
                env=env,
                timeout=_INSTALL_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise fail(f"pip install timed out after {_INSTALL_TIMEOUT_S}s (no network?)") from exc
        except (OSError, subprocess.SubprocessError) as exc:
            raise fail(f"pip install could not run: {exc!r}") from exc
        if proc.returncode != 0:
            raise fail(
                f"`pip install {' '.join(REQUIREMENTS)}` exited {proc.returncode} "
                f"(no network / package index unreachable?): {_tail(proc.stderr or proc.stdout)}"
            )
        try:
            probe = subprocess.run(
                [
                    str(py),
                    "-c",
                    _PROBE,
                    json.dumps(_MODULES_TO_CHECK),
                    json.dumps(_DISTS_TO_RECORD),
                ],
                check=False,
                capture_output=True,
                text=True,
                env=env,
                timeout=300,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise fail(f"import check could not run: {exc!r}") from exc
        if probe.returncode != 0:
            raise fail(
                f"installed, but importing {_MODULES_TO_CHECK} failed: {_tail(probe.stderr)}"
            )
        info = json.loads(probe.stdout.strip().splitlines()[-1])
        if info["gptcache"] != GPTCACHE_VERSION:
            raise fail(f"expected gptcache {GPTCACHE_VERSION}, got {info['gptcache']}")
        if info["torch_present"]:
            raise fail("torch ended up in the GPTCache venv; refusing to use it")
        info["requirements"] = REQUIREMENTS
        info["install_seconds"] = round(time.perf_counter() - t0, 1)
        (venv / _MARKER).write_text(json.dumps(info, indent=1))
        log(f"installed in {info['install_seconds']} s: {info['packages']}")
        info["python_path"] = str(py)
        info["freshly_installed"] = True
        return info


# --------------------------------------------------------------------------- driver (main env)


def run_gptcache_report(
    cached_texts,
    cached_vecs,
    query_texts,
    query_vecs,
    *,
    mode: str | None = None,
    max_size: int | str = "auto",
    tmp_dir: str | None = None,
    timeout: float | None = None,
    verbose: bool = False,
) -> dict:
    """Run GPTCache in its venv and return the full report (results + version + config + timings).

    mode defaults to "warm" when cached_texts is given, else "cold".  tmp_dir: parent of the per-run
    sqlite/faiss directory (default: the system temp dir).  GPTCache commits to sqlite on every get,
    so latencies depend on that filesystem (disk vs tmpfs).
    """
    import numpy as np  # main env has numpy; imported lazily so the worker's imports stay minimal

    if mode is None:
        mode = "cold" if cached_texts is None else "warm"
    if mode not in ("warm", "cold"):
        raise ValueError(f"mode must be 'warm' or 'cold', not {mode!r}")
    arrays = {
        "query_texts": np.asarray([str(t) for t in query_texts], dtype=np.str_),
        "query_vecs": np.ascontiguousarray(query_vecs, dtype=np.float32),
    }
    if mode == "warm":
        if cached_texts is None or cached_vecs is None:
            raise ValueError("warm mode needs cached_texts and cached_vecs")
        arrays["cached_texts"] = np.asarray([str(t) for t in cached_texts], dtype=np.str_)
        arrays["cached_vecs"] = np.ascontiguousarray(cached_vecs, dtype=np.float32)

    info = ensure_venv(verbose=verbose)
    with tempfile.TemporaryDirectory(prefix="gptcache-peer-io-") as tmp:
        inp, out = Path(tmp) / "in.npz", Path(tmp) / "out.json"
        np.savez(inp, **arrays)
        _run_worker(info, inp, out, mode, max_size=max_size, timeout=timeout, tmp_dir=tmp_dir)
        report = json.loads(out.read_text())
    report["install_seconds"] = info.get("install_seconds")
    return report


def run_gptcache(cached_texts, cached_vecs, query_texts, query_vecs, **kwargs) -> list[dict]:
    """Per-query rows ``{"hit", "cached", "latency_us"}``; see run_gptcache_report for kwargs."""
    return run_gptcache_report(cached_texts, cached_vecs, query_texts, query_vecs, **kwargs)[
        "results"
    ]


def _run_worker(
    info: dict,
    inp: Path,
    out: Path,
    mode: str,
    *,
    max_size,
    timeout,
    tmp_dir=None,
) -> None:
    venv = venv_dir()
    cmd = [
        info["python_path"],
        str(_HERE),
        "run",
        "--in-venv",
        "--input",
        str(Path(inp).resolve()),
        "--output",
        str(Path(out).resolve()),
        "--mode",
        mode,
        "--max-size",
        str(max_size),
    ]
    if tmp_dir:
        cmd += ["--tmp-dir", str(Path(tmp_dir).resolve())]
    try:
        proc = subprocess.run(
            cmd, check=False, capture_output=True, text=True, env=_clean_env(venv), timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"GPTCache run failed: timed out after {timeout}s") from exc
    if proc.returncode != 0:
        raise RuntimeError(
            f"GPTCache run failed (exit {proc.returncode}): {_tail(proc.stderr or proc.stdout)}"
        )


# --------------------------------------------------------------------------- worker (GPTCache venv)


def _forbid_auto_install() -> None:
    """GPTCache `pip install`s missing optional deps on import (shell `pip`: whatever is on PATH).
    Make that an error instead, so nothing is ever installed behind our back."""
    import gptcache.utils as gu
    import gptcache.utils.dependency_control as dc

    def _refuse(package, warn=False):
        raise RuntimeError(
            f"GPTCache wanted to pip-install {package!r} at run time; "
            f"add it to REQUIREMENTS in {_HERE.name} instead"
        )

    dc.prompt_install = _refuse
    gu.prompt_install = _refuse


def _load_npz(path: Path, mode: str):
    import numpy as np

    try:
        data = np.load(path, allow_pickle=False)
        arrays = {k: data[k] for k in data.files}
    except ValueError:  # object-dtype string arrays; our own input file, so pickle is acceptable
        data = np.load(path, allow_pickle=True)
        arrays = {k: data[k] for k in data.files}
    keys = ["query_texts", "query_vecs"] + (
        ["cached_texts", "cached_vecs"] if mode == "warm" else []
    )
    missing = [k for k in keys if k not in arrays]
    if missing:
        raise SystemExit(f"{path}: missing arrays {missing} for mode {mode}")
    out = {}
    for prefix in ("query", "cached") if mode == "warm" else ("query",):
        texts = [str(t) for t in arrays[f"{prefix}_texts"].tolist()]
        vecs = np.ascontiguousarray(arrays[f"{prefix}_vecs"], dtype=np.float32)
        if vecs.ndim != 2 or vecs.shape[0] != len(texts):
            raise SystemExit(f"{prefix}_vecs has shape {vecs.shape}, expected ({len(texts)}, d)")
        if not np.isfinite(vecs).all():
            raise SystemExit(f"{prefix}_vecs has non-finite values")
        out[prefix] = (texts, vecs)
    dims = {v.shape[1] for _, v in out.values()}
    if len(dims) != 1:
        raise SystemExit(f"vector dimensions differ: {dims}")
    return out, dims.pop()


def _lookup_table(texts, vecs):
    """text -> vector; counts texts that repeat with a different vector (first one wins)."""
    import numpy as np

    table, conflicts = {}, 0
    for t, v in zip(texts, vecs, strict=True):
        if t in table:
            conflicts += int(not np.allclose(table[t], v, atol=1e-5))
            continue
        table[t] = v
    return table, conflicts


def _worker(inp: Path, out: Path, mode: str, max_size_arg: str, tmp_dir: str | None = None) -> None:
    _forbid_auto_install()
    import importlib.metadata as md

    import gptcache
    from gptcache import Cache, Config
    from gptcache.adapter.api import get, put
    from gptcache.manager import CacheBase, VectorBase, get_data_manager
    from gptcache.processor.pre import get_prompt
    from gptcache.similarity_evaluation import SearchDistanceEvaluation

    if gptcache.__version__ != GPTCACHE_VERSION:
        raise SystemExit(f"gptcache {gptcache.__version__} found, expected {GPTCACHE_VERSION}")
    data, dim = _load_npz(inp, mode)
    q_texts, q_vecs = data["query"]
    c_texts, c_vecs = data.get("cached", ([], None))
    n_storable = len(c_texts) + (len(q_texts) if mode == "cold" else 0)
    max_size = max(1000, n_storable) if max_size_arg == "auto" else int(max_size_arg)

    # Fresh directory per run.  The data manager is built exactly as in GPTCache's README
    # (CacheBase("sqlite") -> sqlite:///./sqlite.db, VectorBase("faiss") -> ./faiss.index), so we
    # chdir into the temp dir; this also catches any other file GPTCache writes to the cwd.
    workdir = tempfile.mkdtemp(prefix="gptcache-peer-run-", dir=tmp_dir)
    atexit.register(
        shutil.rmtree, workdir, True
    )  # registered before Cache.init's atexit -> runs after it
    os.chdir(workdir)

    tables = {"query": _lookup_table(q_texts, q_vecs)}
    if mode == "warm":
        tables["cached"] = _lookup_table(c_texts, c_vecs)
    current = {"table": None}

    def embedding_func(
        text, **_
    ):  # GPTCache embeds nothing itself: precomputed all-MiniLM-L6-v2 vectors
        return current["table"][text]

    data_manager = get_data_manager(
        CacheBase("sqlite"), VectorBase("faiss", dimension=dim), max_size=max_size
    )
    evaluation = SearchDistanceEvaluation()
    config = Config()
    cache = Cache()
    cache.init(
        pre_embedding_func=get_prompt,
        embedding_func=embedding_func,
        data_manager=data_manager,
        similarity_evaluation=evaluation,
        config=config,
    )

    put_ns = 0
    if mode == "warm":
        current["table"] = tables["cached"][0]
        t0 = time.perf_counter_ns()
        for text in c_texts:
            put(text, text, cache_obj=cache)
        put_ns += time.perf_counter_ns() - t0
        stored = data_manager.v.count()
        if max_size >= len(c_texts) and stored != len(c_texts):
            # adapt() swallows save errors (logs a warning), so check the store explicitly
            raise SystemExit(f"only {stored} of {len(c_texts)} cached texts made it into GPTCache")

    current["table"] = tables["query"][0]
    results, get_ns = [], 0
    for text in q_texts:
        t0 = time.perf_counter_ns()
        answer = get(text, cache_obj=cache)
        dt = time.perf_counter_ns() - t0
        get_ns += dt
        hit = answer is not None
        results.append({"hit": hit, "cached": answer if hit else None, "latency_us": dt / 1e3})
        if mode == "cold" and not hit:
            t1 = time.perf_counter_ns()
            put(text, text, cache_obj=cache)
            put_ns += time.perf_counter_ns() - t1

    thr, max_d = config.similarity_threshold, evaluation.max_distance
    lo, hi = evaluation.range()
    rank_thr = min(max(hi - lo, 0) * thr, hi)
    packages = {}
    for dist in _DISTS_TO_RECORD:
        try:
            packages[dist] = md.version(dist)
        except md.PackageNotFoundError:
            packages[dist] = None
    hits = sum(r["hit"] for r in results)
    report = {
        "peer": "gptcache",
        "gptcache_version": gptcache.__version__,
        "mode": mode,
        "n_cached": len(c_texts),
        "n_queries": len(q_texts),
        "hits": hits,
        "hit_rate": hits / len(results) if results else 0.0,
        "stored_entries": data_manager.v.count(),
        "timing": {
            "put_total_s": put_ns / 1e9,
            "get_total_s": get_ns / 1e9,
            "latency": (
                "time.perf_counter_ns() around gptcache.adapter.api.get (embedding = dict lookup)"
            ),
        },
        "config": {
            "api": (
                "gptcache.adapter.api.put(text, text, cache_obj=cache) / "
                "gptcache.adapter.api.get(text, cache_obj=cache)"
            ),
            "cache": (
                "gptcache.Cache() (private instance), Cache.init(...) below; "
                "other init args GPTCache defaults"
            ),
            "pre_embedding_func": "gptcache.processor.pre.get_prompt",
            "embedding_func": "dict lookup text -> precomputed vector (no GPTCache model)",
            "embedding_dim": dim,
            "data_manager": (
                f"get_data_manager(CacheBase('sqlite'), VectorBase('faiss', dimension={dim}), "
                f"max_size={max_size})"
            ),
            "max_size": max_size,
            "max_size_note": (
                "auto: GPTCache default 1000 raised to the number of storable entries (no eviction)"
                if max_size_arg == "auto"
                else "set explicitly"
            ),
            "eviction": "GPTCache default: memory LRU, clean_size=20% of max_size",
            "vector_store": "faiss IDMap,Flat, METRIC_L2 (squared L2), GPTCache-normalised vectors",
            "vector_top_k": getattr(data_manager.v, "_top_k", None),
            "similarity_evaluation": (
                f"SearchDistanceEvaluation(max_distance={max_d}, positive={evaluation.positive})"
            ),
            "similarity_threshold": thr,
            "rank_threshold": rank_thr,
            "effective_cosine_threshold": (1.0 - (max_d - rank_thr) / 2.0)
            if not evaluation.positive
            else None,
            "effective_rule": (
                "hit iff max_distance - min(||q-c||^2, max_distance) "
                ">= threshold*max_distance (top-1 neighbour)"
            ),
            "post_process_messages_func": (
                "gptcache.processor.post.temperature_softmax (temperature 0 -> best score)"
            ),
            "cache_enable_func": "gptcache.utils.cache_func.cache_all",
            "storage_dir_parent": str(Path(workdir).parent),
            "auto_flush": config.auto_flush,
            "disable_report": config.disable_report,
            "duplicate_text_vector_conflicts": {k: v[1] for k, v in tables.items()},
        },
        "packages": packages,
        "python": sys.version.split()[0],
        "results": results,
    }
    Path(out).write_text(json.dumps(report))


# --------------------------------------------------------------------------- CLI


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("setup", help="create/populate the GPTCache venv and print its info")
    sp.add_argument("-q", "--quiet", action="store_true")
    rp = sub.add_parser("run", help="run GPTCache on an .npz input")
    rp.add_argument("--input", required=True, type=Path)
    rp.add_argument("--output", required=True, type=Path)
    rp.add_argument("--mode", choices=["warm", "cold"], default="warm")
    rp.add_argument(
        "--max-size", default="auto", help="data manager max_size: 'auto' (no eviction) or an int"
    )
    rp.add_argument(
        "--tmp-dir",
        default=None,
        help="parent dir for the per-run sqlite/faiss files (default: system temp)",
    )
    rp.add_argument("--timeout", type=float, default=None)
    rp.add_argument("--in-venv", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.cmd == "run" and args.max_size != "auto":
        int(args.max_size)  # validate early
    try:
        if args.cmd == "setup":
            info = ensure_venv(verbose=not args.quiet)
            print(
                json.dumps(
                    {
                        k: info.get(k)
                        for k in (
                            "python_path",
                            "gptcache",
                            "packages",
                            "install_seconds",
                            "freshly_installed",
                        )
                    },
                    indent=1,
                )
            )
            return 0
        if args.in_venv:
            _worker(args.input, args.output, args.mode, args.max_size, args.tmp_dir)
            return 0
        info = ensure_venv(verbose=True)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        _run_worker(
            info,
            args.input,
            args.output,
            args.mode,
            max_size=args.max_size,
            timeout=args.timeout,
            tmp_dir=args.tmp_dir,
        )
        rep = json.loads(args.output.read_text())
        print(
            f"GPTCache {rep['gptcache_version']} {rep['mode']}: "
            f"{rep['hits']}/{rep['n_queries']} hits "
            f"({rep['hit_rate']:.3f}) -> {args.output}"
        )
        return 0
    except RuntimeError as exc:
        print(f"GPTCache: not run ({exc})", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
