"""The quick-start scripts refuse an old Python with a clear message."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(not Path("/usr/bin/python3.11").exists(), reason="needs a Python 3.11 to hide")
@pytest.mark.parametrize("script", ["run", "test"])
def test_scripts_fail_clearly_without_python_312(tmp_path, script):
    # A copy of the project without .venv, on a PATH whose only Python is 3.11.
    for name in ("pyproject.toml", ".python-version"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts",
                    ignore=shutil.ignore_patterns("__pycache__"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "python3").symlink_to("/usr/bin/python3.11")
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    p = subprocess.run(["bash", f"scripts/{script}"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2
    assert "needs Python >= 3.12" in p.stderr
    assert not (tmp_path / ".venv").exists()


@pytest.mark.skipif(not Path("/usr/bin/python3.11").exists(), reason="needs a Python 3.11")
def test_entry_script_refuses_an_old_python():
    p = subprocess.run(["/usr/bin/python3.11", str(ROOT / "addon" / "aws_masker.py")],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode != 0
    assert "aws-masker needs Python >= 3.12" in p.stderr
