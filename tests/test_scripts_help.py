"""Every script answers ``--help`` with its usage and runs nothing: a mistyped help text (argparse
formats it with ``%``) or a script that ignores its arguments shows up here, not in front of a
user."""

from __future__ import annotations

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
