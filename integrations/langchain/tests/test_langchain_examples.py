"""The examples in the README and in docs/langchain.md run as written and print what they say."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

HERE = Path(__file__).resolve()
README = HERE.parents[1] / "README.md"
DOCS = HERE.parents[3] / "docs" / "langchain.md"  # present in a repository checkout

pytestmark = pytest.mark.model


def run_example(path: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    if not path.exists():
        pytest.skip(f"{path} is not part of this checkout")
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, f"{path} should hold one python example, found {len(blocks)}"
    exec(compile(blocks[0], str(path), "exec"), {})
    return capsys.readouterr().out.splitlines()


def test_readme_example(capsys: pytest.CaptureFixture[str]) -> None:
    lines = run_example(README, capsys)
    assert lines == ["int, float, str, ...", "int, float, str, ...", "vipers, boas, ..."]


def test_docs_example(capsys: pytest.CaptureFixture[str]) -> None:
    lines = run_example(DOCS, capsys)
    assert lines == ["Vipers and grass snakes.", "Vipers and grass snakes.", "Mostly mice."]
