"""Smoke checks of the benchmarks: each runs end to end in its quick form and prints its figures.

No timing assertions (speed is the benchmarks' business); these prove that one command starts the
stand-in, Redis and every mitmdump, masks and restores in every addon mode (bench_proxy.py checks
the first reply of every cell and fails otherwise), and prints a ratio for every mode.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
#: a ratio to another mode: the median of the per-round ratios and their quartiles
RATIO = r"x\d+\.\d{3} \(\d+\.\d{3}–\d+\.\d{3}\)"
MS = r" [+-]\d+\.\d ms"


def bench(*args: str, timeout: float = 400) -> tuple[subprocess.CompletedProcess, str]:
    """``bench_proxy.py ARGS --quick``: the completed process and its Markdown report."""
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-smoke-{os.getpid()}-{len(args)}.md"
    p = subprocess.run([sys.executable, "scripts/bench_proxy.py", *args, "--quick",
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    report = out.read_text()
    out.unlink()
    return p, report


def has_line(stdout: str, cell: str, mode: str, metric: str, *refs: str, ms: bool = False) -> bool:
    pattern = rf"^{re.escape(cell)} {re.escape(mode)}\s+{metric}\s+\d+\.\d\d"
    for ref in refs:
        pattern += rf".*  vs {re.escape(ref)} {RATIO}" + (MS if ms else "")
    return re.search(pattern, stdout, re.M) is not None


@pytest.mark.parametrize("extra", [(), ("--sse", "--tls")], ids=["http-json", "https-sse"])
def test_cpu_meter_prints_a_ratio_to_the_base_for_every_mode(extra):
    """Plain (with ``--sse``: plain streaming), an empty script, the addon with nothing to mask
    and the addon alternate; each gets its CPU time per request and ratios, in the report too."""
    p, report = bench("--meter", "cpu", *extra)
    base = "plain-stream" if extra else "plain"
    for mode in (base, "empty-script", "addon-no-masking", "addon"):
        refs = ("addon",) if mode == base else (base,)
        assert has_line(p.stdout, "1KB c1", mode, "cpu_us", *refs), mode
        assert re.search(rf"^\| {re.escape(mode)} \| \d+\.\d\d \(", report, re.M), mode
    assert report.startswith("# aws-masker proxy benchmark: cpu, "
                             + ("HTTPS, SSE" if extra else "HTTP"))


def test_throughput_meter_prints_every_mode_at_both_concurrencies():
    p, report = bench("--meter", "throughput")
    for cell in ("1KB c1", "1KB c16", "64KB c1", "64KB c16"):
        for mode in ("direct", "addon", "addon-redis", "events-10%", "events-100%"):
            assert has_line(p.stdout, cell, mode, "rps", "plain"), (cell, mode)
            assert has_line(p.stdout, cell, mode, "p50", "plain", ms=True), (cell, mode)
        for mode in ("addon-redis", "events-10%", "events-100%"):
            assert has_line(p.stdout, cell, mode, "cpu_us", "plain", "addon"), (cell, mode)
        assert has_line(p.stdout, cell, "events-100%", "publishes"), cell
    assert "## 64KB bodies, concurrency 16: req/s" in report and "mitmproxy 12" in report


def test_throughput_meter_with_sse_times_a_long_streamed_reply():
    p, report = bench("--meter", "throughput", "--sse")
    assert has_line(p.stdout, "1KB c1", "addon", "mib_s", "plain-stream")
    assert has_line(p.stdout, "1KB c1", "addon", "cpu_us", "plain-stream")
    assert "one 4 MiB Anthropic text stream" in report


def test_latency_meter_compares_first_byte_and_total_time():
    p, report = bench("--meter", "latency", "--first-byte-ms", "20", "--sse-gap-ms", "0.2")
    for mode in ("direct", "plain-stream", "addon"):
        for metric in ("ttfb", "p50"):
            assert has_line(p.stdout, "1MB c1", mode, metric, "plain", ms=True), (mode, metric)
    assert "20 ms to the first byte, then 107 SSE events" in report


def run_script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_scan_benchmark_prints_every_engine():
    p = run_script("scripts/bench_engine.py", "scan", "--size", "100000", "--repeats", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"^re\s+\d+ /\s+\d+", p.stdout, re.M)
    assert re.search(r"^hyperscan\s+\d+ /\s+\d+", p.stdout, re.M)


#: a row of the N vs 10N table: 10N, t(N), t(10N), ratio, MB/s, µs per event (or -)
ROW = (r"\s+\d+\s+\d+\.\d\d\s+\d+\.\d\d\s+(\d+\.\d)\s+\d+\.\d\s+(?:\d+\.\d\d|-)"
       r"(  <-- SUPER-LINEAR)?$")


def test_restore_benchmark_covers_every_format_and_chunk_size():
    p = run_script("scripts/bench_engine.py", "restore", "--quick")
    assert p.returncode in (0, 1), p.stdout + p.stderr  # 1: a ratio flagged on a busy host
    for fmt in ("anthropic-sse", "openai-chat-sse", "openai-responses", "json", "text",
                "bedrock-invoke", "bedrock-invoke-sparse", "bedrock-converse"):
        for chunk in ("65536", "7", "1"):
            assert re.search(rf"^{fmt}\s+{chunk} B chunks{ROW}", p.stdout, re.M), (fmt, chunk)


def test_linearity_benchmark_reports_a_ratio_per_case():
    p = run_script("scripts/bench_engine.py", "linearity", "--quick")
    # Exit 1 means a ratio crossed the flag on this noisy machine: a figure, not a failure here.
    assert p.returncode in (0, 1), p.stdout + p.stderr
    rows = re.findall(rf"^(?:masker|sse|json|text)\s.*?{ROW}", p.stdout, re.M)
    assert len(rows) == 45  # 10 masker shapes, 15 SSE, 10 JSON and 10 text restorer shapes
    assert p.returncode == 0 or "SUPER-LINEAR" in p.stdout


def test_redis_store_benchmark_runs():
    p = run_script("scripts/bench_engine.py", "store", "--rounds", "10")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"redis\s+resolve 50 new \(minting\)\s+\d+\.\d+ ms", p.stdout)
