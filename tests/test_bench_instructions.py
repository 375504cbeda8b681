"""Smoke checks of the instructions meter: plain mitmdump and the addon under callgrind.

Apart from the other benchmarks' smoke checks (tests/test_bench_smoke.py): under valgrind it is the
longest test of the suite, and a file of its own lets the test workers share the rest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent


def test_instructions_meter_prints_a_ratio_to_plain_over_http_and_https(tmp_path):
    """Plain mitmdump and the addon under callgrind, a few requests each, over HTTP (profiled:
    the addon's hooks named, with their cost per request) and over HTTPS with SSE replies, the
    two runs side by side."""
    if shutil.which("callgrind_control") is None:
        pytest.skip("valgrind is not installed (apt-get install valgrind)")
    profile = tmp_path / "profile"
    runs = {}
    for name, extra in (("HTTP", ("--profile", str(profile))), ("HTTPS, SSE", ("--tls", "--sse"))):
        out = tmp_path / f"{len(runs)}.md"
        cmd = [sys.executable, "scripts/bench_proxy.py", "--meter", "instructions", "--quick",
               *extra, "--out", str(out)]
        runs[name] = (subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True), out)
    for name, (proc, out) in runs.items():
        try:
            stdout, stderr = proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            for other, _ in runs.values():
                other.kill()
            raise
        assert proc.returncode == 0, f"{name}: {stdout[-3000:]}{stderr[-3000:]}"
        m = re.search(r"^\s*1KB addon\s+(\d+\.\d{3}) M instructions/request\s+x(\d+\.\d{3}) "
                      r"of plain", stdout, re.M)
        # the addon does some work, and not a runaway amount
        assert m and float(m.group(1)) > 1 and 1.0 < float(m.group(2)) < 10, name
        report = out.read_text()
        assert report.startswith(f"# aws-masker proxy benchmark: instructions, {name}")
        assert "| 1KB | addon |" in report
    rows = {}
    for line in (profile / "1KB-addon.txt").read_text().splitlines():
        cost, _, fn = line.split(None, 2)
        rows[fn.split(":", 1)[0]] = float(cost)
    assert 0 < rows["Masker.plan"] < rows["RequestMasking.request"], rows
    assert "RequestMasking.request" not in (profile / "1KB-plain.txt").read_text()


def test_instructions_meter_says_what_it_needs_without_valgrind(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    p = subprocess.run([sys.executable, "scripts/bench_proxy.py", "--meter", "instructions"],
                       cwd=ROOT, env={**os.environ, "PATH": str(bindir)}, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2 and "valgrind" in p.stderr
