"""The house rules issue 16 set for the package: a newcomer reads it module by module."""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "addon" / "awsmasker"


def test_no_module_over_500_lines() -> None:
    lines = {p.relative_to(PACKAGE).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert len(lines) > 20  # the package is there
    assert {name: n for name, n in lines.items() if n > 500} == {}
