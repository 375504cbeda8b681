"""A proxy that never sees a SigV4 request never imports botocore (checked in a fresh
interpreter, as tests/test_lazy_imports.py does for redis)."""

from __future__ import annotations

import subprocess
import sys

from tests.test_lazy_imports import PROGRAM, ROOT

MARK = 'print("before-client", "redis" in sys.modules)'


def test_a_proxy_without_bedrock_never_imports_botocore():
    assert MARK in PROGRAM
    program = PROGRAM.replace(MARK, MARK + '; print("botocore", "botocore" in sys.modules)')
    p = subprocess.run([sys.executable, "-c", program], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, env={"AWS_MASKER_CONFIG": "", "PATH": ""})
    assert p.returncode == 0, p.stderr
    assert "botocore False" in p.stdout
