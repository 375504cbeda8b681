"""Smoke check of ``scripts/bench_eventstream.py --quick``: it runs, restores every case (the
script asserts that) and prints a line per case and feed. No timing assertions."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_eventstream_benchmark_prints_every_case():
    p = subprocess.run([sys.executable, "scripts/bench_eventstream.py", "--quick"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode in (0, 1), p.stderr[-3000:]  # 1: a ratio flagged super-linear
    for case in ("invoke chunk frames", "converse frames", "anthropic SSE (ref)"):
        for feed in ("16KiB", "1 byte"):
            numbers = r"\s+\d+\s+\d+\s+[\d.]+\s+[\d.]+\s+[\d.]+"
            pattern = rf"^{re.escape(case)}\s+{re.escape(feed)}{numbers}"
            assert any(re.match(pattern, ln) for ln in p.stdout.splitlines()), (case, feed)
