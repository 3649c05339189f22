"""The real-data workloads' plumbing (`semcache bench --data`, benchmarks/hit_rate.py).

Accuracy itself is measured on the real data with MiniLM (benchmarks/RESULTS.md); these
tests check the splitting, the scoring and the command on a tiny hand-written folder
with the hashing embedder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from semcache import HashingEmbedder
from semcache._bench import ExactMatchCache, markdown_table
from semcache._workloads import (
    Groups,
    LabelledPair,
    System,
    VectorStore,
    check_data_dir,
    choose_thresholds,
    load,
    qqp_groups,
    run_stream,
    run_workloads,
    split_dev,
    summarize,
    sweep_curves,
)
from semcache.cli import main

TOPICS = ["password", "invoice", "printer", "refund", "holiday", "laptop", "router", "budget", "garden", "visa"]


def write_data(root: Path) -> Path:
    (root / "qqp").mkdir(parents=True)
    (root / "paraphrase").mkdir()
    (root / "chat_prompts").mkdir()
    rows = ["question1\tquestion2\tis_duplicate"]
    for i, t in enumerate(TOPICS * 3):
        rows.append(f"How do I fix my {t} {i}?\thow can I fix my {t} {i}\t1")
        rows.append(f"How do I fix my {t} {i}?\tHow do I buy a {t} {i}?\t0")
    (root / "qqp" / "train.tsv").write_text("\n".join(rows[:21]) + "\n", encoding="utf-8")
    (root / "qqp" / "dev.tsv").write_text("\n".join(rows[:1] + rows[21:]) + "\n", encoding="utf-8")
    para = [{"origin": f"What is a {t}?", "similar": f"what's a {t}"} for t in TOPICS]
    (root / "paraphrase" / "gptcache_mock_data.json").write_text(json.dumps(para), encoding="utf-8")
    arena = [{"cluster": t, "prompt": f"Write a poem about a {t} in {k} lines."} for t in TOPICS[:4] for k in (4, 8)]
    (root / "chat_prompts" / "arena_hard_v0.1.jsonl").write_text(
        "\n".join(json.dumps(r) for r in arena) + "\n", encoding="utf-8"
    )
    return root


def test_check_data_dir_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing qqp/train\.tsv, qqp/dev\.tsv"):
        check_data_dir(tmp_path)
    assert check_data_dir(write_data(tmp_path / "d")) == tmp_path / "d"


pair_lists = st.lists(
    st.builds(LabelledPair, st.sampled_from("abcdefghij"), st.sampled_from("abcdefghij"), st.integers(0, 1)),
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(pair_lists)
def test_split_dev_deals_whole_components_into_two_halves(pairs: list[LabelledPair]) -> None:
    choose, report = split_dev(pairs)
    assert sorted(map(repr, choose + report)) == sorted(map(repr, pairs))
    assert not {t for p in choose for t in (p.q1, p.q2)} & {t for p in report for t in (p.q1, p.q2)}
    components = Groups()
    for p in pairs:
        components.union(p.q1, p.q2)
    if len({components.find(p.q1) for p in pairs}) >= 2:
        assert choose and report


@settings(max_examples=100, deadline=None)
@given(pair_lists)
def test_groups_join_exactly_the_duplicate_labels(pairs: list[LabelledPair]) -> None:
    g = qqp_groups(pairs)
    edges: dict[str, set[str]] = {}
    for p in pairs:
        if p.label:
            edges.setdefault(p.q1, set()).add(p.q2)
            edges.setdefault(p.q2, set()).add(p.q1)

    def reachable(a: str) -> set[str]:  # the reference: a breadth-first search over the labels
        seen, todo = {a}, [a]
        while todo:
            for b in edges.get(todo.pop(), ()):
                if b not in seen:
                    seen.add(b)
                    todo.append(b)
        return seen

    for a in "abcdefghij":
        near = reachable(a)
        for b in "abcdefghij":
            assert g.same(a, b) == (b in near)


def test_split_dev_is_pinned() -> None:
    # the published figures depend on which pairs land in 'report': this split must not move
    pairs = [LabelledPair(f"q{i}", f"q{i + 1}" if i % 3 else f"r{i}", i % 2) for i in range(12)]
    choose, report = split_dev(pairs)
    assert [p.q1 for p in choose] == ["q10", "q11", "q4", "q5", "q6"]
    assert [p.q1 for p in report] == ["q1", "q2", "q3", "q0", "q7", "q8", "q9"]


def test_run_stream_scores_hits_misses_and_the_ceiling() -> None:
    store = VectorStore(HashingEmbedder(dim=32))
    groups = Groups()
    groups.union("How do I fix my printer?", "printer broken, what now")
    groups.union("How do I fix my printer?", "how do I fix my printer")  # as a duplicate label would
    cached = ["How do I fix my printer?", "What is a visa?"]
    queries = ["how do I fix my printer", "printer broken, what now", "What is a holiday?"]
    rows = run_stream(ExactMatchCache(), cached, queries, store, groups)
    # exact-match floor: the reworded query is a right hit, the paraphrase a missed chance, the last a right miss
    assert [(r[0], r[2], r[3]) for r in rows] == [(True, True, True), (False, False, True), (False, False, False)]
    s = summarize("exact", rows)
    assert s["hit rate"] == pytest.approx(1 / 3) and s["precision"] == 1.0 and s["ceiling"] == pytest.approx(2 / 3)
    cold = run_stream(ExactMatchCache(), [], ["What is a visa?", "what is a visa"], store, groups, mode="cold")
    assert [r[0] for r in cold] == [False, True]  # stored on the miss, then hit
    assert math.isnan(summarize("none", [(False, None, False, False, 1.0)])["precision"])


class _ByTable:
    """A verifier stand-in whose probability is looked up by (query, cached) text."""

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self.table = table

    def probability(self, q, c, cosine, qv, cv) -> float:  # type: ignore[no-untyped-def]
        return self.table.get((q.text, c.text), 0.0)


def _table_store(vecs: dict[str, list[float]]) -> VectorStore:
    """A store whose vectors are ``vecs`` (normalised), so that each nearest entry is known."""

    class Table:
        dim = 3

        def embed(self, texts: list[str]) -> np.ndarray:
            rows = np.array([vecs[t] for t in texts], np.float32)
            return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    return VectorStore(Table())


@pytest.mark.parametrize(
    ("third", "vector", "cosine_precision"),
    [
        # qd -> c at cosine 0.995 is wrong and ranks above qa -> a (0.994, right) by cosine
        ("qd", [0.0, 0.1, 0.995], [0.0, 0.5, 1 / 3]),
        # qc -> c at 0.71 is wrong and ranks last
        ("qc", [0.7, 0.0, 0.71414], [1.0, 0.5, 1 / 3]),
    ],
)
def test_sweep_curves_and_their_perfect_ranking_bounds(
    third: str, vector: list[float], cosine_precision: list[float]
) -> None:
    # unit vectors chosen so that each query's nearest entry is known; groups say what is right
    store = _table_store({
        "a": [1.0, 0.0, 0.0], "b": [0.0, 1.0, 0.0], "c": [0.0, 0.0, 1.0],
        "qa": [0.9, 0.1, 0.0], "qb": [0.8, 0.6, 0.0], third: vector,
    })
    groups = Groups()
    groups.union("qa", "a")
    groups.union("qb", "b")  # qb's nearest is a: wrong for cosine, right among the 4 nearest
    pairs = [LabelledPair("a", "qa", 1), LabelledPair("b", "qb", 1), LabelledPair("c", third, 0)]
    # the verifier ranks qb's right entry first, then qa's, and gives the third query nothing
    v = _ByTable({("qb", "b"): 0.9, ("qa", "a"): 0.8})
    sem, cos, best1, best4 = sweep_curves(pairs, store, groups, v)
    assert list(cos[1]) == pytest.approx(cosine_precision)
    assert list(sem[1]) == pytest.approx([1.0, 1.0, 2 / 3])
    assert list(best1[1]) == pytest.approx([1.0, 0.5, 1 / 3])  # only qa's nearest entry is right
    assert list(best4[1]) == pytest.approx([1.0, 1.0, 2 / 3])  # qb's right entry is its second nearest
    assert best4[2] >= sem[2] and best1[2] >= cos[2] and sem[2] > cos[2]
    if third == "qd":  # a perfect ranking puts the right answers before the higher wrong cosine
        assert best4[2] > best1[2] > cos[2]


def test_markdown_table_formats() -> None:
    rows = [{"system": "x", "hit rate": 0.25, "precision": float("nan"), "p50 us": 12.345}]
    assert markdown_table(rows).splitlines()[2] == "| x | 0.250 | \u2013 | 12.3 |"
    assert markdown_table(rows, percent=True).splitlines()[2] == "| x | 25.0 % | \u2013 | 12 |"
    # a column whose name merely ends in "us" is a share, not microseconds
    assert markdown_table([{"bonus": 0.5}], percent=True).splitlines()[2] == "| 50.0 % |"


def test_bench_data_command_runs_every_workload(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_data(tmp_path)
    assert main(["bench", "--data", str(d), "--embedder", "hashing", "--quick"]) == 0
    out = capsys.readouterr().out
    sections = ("1. QQP warm stream", "2. QQP cold stream", "3. paraphrase stream", "4. arena-hard", "Summary against")
    assert all(part in out for part in sections)
    assert "| semcache, target 0.95 |" in out and "| exact match |" in out and "oracle" in out
    assert main(["bench", "--data", str(tmp_path / "nothing"), "--embedder", "hashing"]) == 2
    assert "missing qqp/train.tsv" in capsys.readouterr().err


def test_run_workloads_runs_each_system_where_it_belongs(tmp_path: Path) -> None:
    prep = choose_thresholds(load(write_data(tmp_path)), store := VectorStore(HashingEmbedder(dim=32)))
    made: list[str] = []

    def system(name: str, main: bool) -> System:
        def make() -> ExactMatchCache:
            made.append(name)
            return ExactMatchCache()

        return System(name, make, main=main)

    systems = [system("a", True), system("b", False), system("c", True)]
    extra = [{**summarize("peer", [(False, None, False, False, 1.0)])}]
    out = run_workloads(prep, store, systems, extra_warm=lambda cached, queries: extra)
    assert [r["system"] for r in out.warm] == ["a", "b", "c", "peer", "ceiling: nearest entry, served only when right"]
    assert [r["system"] for r in out.cold] == ["a", "c"]  # the main systems only
    assert [r["system"] for r in out.paraphrase] == ["a", "b", "c"]
    assert [(r["prompts"], r["system"]) for r in out.arena] == [
        ("plain", "a"), ("plain", "c"), ("behind one long shared template", "a"),
        ("behind one long shared template", "c"),
    ]
    assert made == ["a", "b", "c", "a", "c", "a", "b", "c", "a", "c", "a", "c"]  # a fresh cache each time
    cached = list(dict.fromkeys(p.q1 for p in prep.report))
    queries = [p.q2 for p in prep.report]
    sims = store(queries) @ store(cached).T
    nearest = np.mean([prep.groups.same(q, cached[j]) for q, j in zip(queries, sims.argmax(axis=1), strict=True)])
    assert out.warm[-1]["hit rate"] == pytest.approx(nearest)


def test_bench_data_refuses_malformed_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write_data(tmp_path)
    (d / "qqp" / "dev.tsv").write_text("question1\tquestion2\tis_duplicate\na\tb\n", encoding="utf-8")
    assert main(["bench", "--data", str(d), "--embedder", "hashing"]) == 2
    assert "dev.tsv:2: expected 3 tab-separated fields" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["bench", "--data", str(d), "--pairs", "x.tsv"])
