"""Every script answers ``--help`` with its usage and runs nothing: a mistyped help text (argparse
formats it with ``%``) or a script that ignores its arguments shows up here, not in front of a
user. And every script uses the public names of the package and of ``testsupport/`` only, and the
tests' modules not at all (what scripts and tests share is in ``testsupport/``)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p for p in (ROOT / "scripts").glob("*.py") if p.name != "__init__.py")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_help_prints_usage_and_exits(script: Path) -> None:
    p = subprocess.run([sys.executable, str(script), "--help"], cwd=ROOT, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr[-2000:]
    assert p.stdout.startswith("usage: "), p.stdout[:500]
    assert "Traceback" not in p.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_imports_public_names_only(script: Path) -> None:
    tree = ast.parse(script.read_text(), str(script))
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            for alias in node.names:
                full = f"{module}.{alias.name}" if module else alias.name
                if full.split(".")[0] == "tests":
                    problems.append(f"imports {full}")
                if full.startswith(("awsmasker", "testsupport")) and any(
                        part.startswith("_") for part in full.split(".")):
                    problems.append(f"imports {full}")
    for node in ast.walk(tree):
        # an underscore attribute of anything but the script's own objects
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_")
                and not node.attr.startswith("__")
                and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
            problems.append(f"uses {ast.unparse(node)}")
    assert not problems, problems
