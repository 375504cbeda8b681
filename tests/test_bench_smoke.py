"""Smoke check of the overhead benchmark: ``scripts/bench_overhead.py --quick`` runs end to end.

No timing assertions (speed is the benchmark's business); this only proves the one command starts
the stand-in, Redis and every mitmdump, masks and restores in every addon mode, and prints a ratio
for every mode.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.bench_overhead import all_modes

pytestmark = [pytest.mark.e2e, pytest.mark.slow]  # about 40 s

ROOT = Path(__file__).resolve().parent.parent
RATIO = r"x\d+\.\d\d"


def test_quick_benchmark_prints_a_ratio_for_every_mode(tmp_path):
    out = tmp_path / "bench.md"
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_overhead.py"), "--quick", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    lines = p.stdout.splitlines()
    for mode in all_modes():
        for cell in ("1KB c1 ", "1KB c16", "64KB c1 ", "64KB c16"):
            pattern = rf"^\s*{re.escape(cell)}\s+{re.escape(mode.name)}\s+vs plain: req/s {RATIO}"
            if mode.proxied:
                pattern += rf"\s+p50 {RATIO}\s+cpu/req {RATIO}"
            if mode.events:
                pattern += rf".*\| vs addon: req/s {RATIO}\s+p50 {RATIO}\s+p99 {RATIO}"
            assert any(re.match(pattern, ln) for ln in lines), f"no ratios for {mode.name} {cell}"
    report = out.read_text()
    assert "mitmproxy 12" in report and "## 64KB bodies, concurrency 16" in report
