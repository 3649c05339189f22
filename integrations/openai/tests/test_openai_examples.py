"""The examples in the README and in docs/openai.md run as written against the local server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openai_fake_server import FakeOpenAI

HERE = Path(__file__).resolve()
README = HERE.parents[1] / "README.md"
DOCS = HERE.parents[3] / "docs" / "openai.md"  # present in a repository checkout

pytestmark = pytest.mark.model


@pytest.fixture
def run_example(
    server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("OPENAI_API_KEY", "test-key")
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)

    def run(path: Path) -> list[str]:
        if not path.exists():
            pytest.skip(f"{path} is not part of this checkout")
        blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)
        assert len(blocks) == 1, f"{path} should hold one python example, found {len(blocks)}"
        exec(compile(blocks[0], str(path), "exec"), {})
        return capsys.readouterr().out.splitlines()

    return run


def test_readme_example(run_example, server: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    assert run_example(README) == ["None", "True True", "True", "True"]
    assert server.calls == 1


def test_docs_example(run_example, server: FakeOpenAI) -> None:  # type: ignore[no-untyped-def]
    assert run_example(DOCS) == [
        "None True",
        "Answer #1.0 to: What is the capital of France?",
        "True",
    ]
    assert server.calls == 1
