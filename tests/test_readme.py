"""The README's Python examples run as written (docs that run)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_python_examples() -> None:
    assert len(_python_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(_python_blocks())))
def test_readme_python_example_runs(
    index: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = _python_blocks()[index]
    exec(compile(code, f"README.md python block {index}", "exec"), {"__name__": "__readme__"})


def test_readme_claims_table_is_the_laptop_reproduce_output() -> None:
    """The README's claims table is the one ``driftlab reproduce`` wrote at the laptop
    scale (its claims.json is kept in docs/), copied by driftlab.reproduce.readme."""
    from driftlab.reproduce.readme import END, START, block, read_claims

    text = README.read_text(encoding="utf-8")
    scale, job, claims = read_claims(README.parent / "docs" / "reproduce-laptop" / "claims.json")
    assert scale == "laptop"
    generated = text[text.index(START) : text.index(END) + len(END)]
    assert generated == block(scale, job, claims)
    assert claims and "| Figure | Claim |" in generated
