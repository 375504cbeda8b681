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

from scripts.bench_overhead import all_modes, llm_modes

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


def test_llm_latency_benchmark_prints_every_mode(tmp_path):
    out = tmp_path / "llm.md"
    p = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_overhead.py"), "--llm-latency", "--quick",
         "--first-byte-ms", "20", "--sse-gap-ms", "0.2", "--out", str(out)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    ms = r"\([+-]\d+\.\d ms\)"
    for mode in llm_modes():
        pattern = (rf"^1MB llm {re.escape(mode.name)}\s+vs plain: p50 {RATIO} {ms}\s+first byte "
                   rf"vs direct {RATIO} {ms}\s+\| vs plain-stream: p50 {RATIO} {ms}\s+"
                   rf"first byte {RATIO} {ms}$")
        assert any(re.match(pattern, ln) for ln in p.stdout.splitlines()), mode.name
        assert f"| {mode.name} |" in out.read_text()
    assert {m.name for m in llm_modes()} >= {"direct", "plain", "plain-stream", "addon"}


def run_script(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_scan_benchmark_prints_every_engine():
    p = run_script("scripts/bench_scan.py", "--size", "100000", "--repeats", "2")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"^re\s+\d+ /\s+\d+", p.stdout, re.M)
    assert re.search(r"^hyperscan\s+\d+ /\s+\d+", p.stdout, re.M)


def test_restore_benchmark_covers_every_format_and_chunk_size():
    p = run_script("scripts/bench_restore.py", "--quick")
    assert p.returncode == 0, p.stdout + p.stderr
    for fmt in ("anthropic-sse", "openai-chat-sse", "openai-responses", "json", "text"):
        for chunk in ("65536", "7", "1"):
            assert re.search(rf"^{fmt}\s+{chunk}\s", p.stdout, re.M), (fmt, chunk)


def test_linearity_benchmark_reports_a_ratio_per_case():
    p = run_script("scripts/bench_linearity.py", "--quick")
    # Exit 1 means a ratio crossed the flag on this noisy machine: a figure, not a failure here.
    assert p.returncode in (0, 1), p.stdout + p.stderr
    ratios = re.findall(r"\s(\d+\.\d)(?:  <-- SUPER-LINEAR)?$", p.stdout, re.M)
    assert len(ratios) == 41
    assert p.returncode == 0 or "SUPER-LINEAR" in p.stdout


def test_proxy_stream_benchmark_prints_the_ratio():
    p = run_script("scripts/bench_proxy_stream.py", "--mb", "4", "--repeats", "1", timeout=180)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"throughput ratio addon/plain: \d+\.\d\d", p.stdout)
    assert "'AWS_' seen 0" in p.stdout  # no token reached the client through the addon


def test_redis_store_benchmark_runs():
    p = run_script("scripts/bench_redis_store.py", "--rounds", "10")
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"redis\s+resolve 50 new \(minting\)\s+\d+\.\d+ ms", p.stdout)


def test_instruction_count_benchmark_prints_a_ratio_to_plain_over_http_and_https(tmp_path):
    """Plain mitmdump and the addon under callgrind, a few requests each, over HTTP and (``--tls``)
    HTTPS on both legs, the latter with streamed SSE replies (``--sse``). The two runs go side by
    side (about 110 s instead of 210). The HTTP run is profiled too (``--profile``): the addon's
    hooks are named, with their cost per request."""
    runs = {}
    profile = tmp_path / "profile"
    # HTTPS with SSE replies: the path Claude Code takes
    for transport, extra in (("HTTP", ("--profile", str(profile))), ("HTTPS", ("--tls", "--sse"))):
        out = tmp_path / f"instr-{transport}.md"
        cmd = [sys.executable, "scripts/bench_instructions.py", *extra, "--sizes", "1KB",
               "--requests", "3", "--warmup", "2", "--modes", "plain,addon", "--out", str(out)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        runs[transport] = (proc, out)
    for transport, (proc, out) in runs.items():
        try:
            stdout, stderr = proc.communicate(timeout=900)
        except subprocess.TimeoutExpired:
            for other, _ in runs.values():
                other.kill()
            raise
        assert proc.returncode == 0, f"{transport}: {stdout[-3000:]}{stderr[-3000:]}"
        assert re.search(r"^\s*1KB plain\s+\d+\.\d{3} M instructions/request\s+x1\.000 of plain",
                         stdout, re.M), transport
        m = re.search(r"^\s*1KB addon\s+(\d+\.\d{3}) M instructions/request\s+x(\d+\.\d{3})",
                      stdout, re.M)
        # the addon does some work, and not a runaway amount
        assert m and float(m.group(1)) > 1 and 1.0 < float(m.group(2)) < 10, transport
        report = out.read_text()
        assert f"), {transport}" in report.splitlines()[0] and "| 1KB | addon |" in report
    rows = {}
    for line in (profile / "1KB-addon.txt").read_text().splitlines():
        cost, _, name = line.split(None, 2)
        rows[name.split(":", 1)[0]] = float(cost)
    assert 0 < rows["RequestMasking._mask"] <= rows["RequestMasking.request"], rows
    assert 0 < rows["Masker.plan"] < rows["RequestMasking._mask"]
    assert "RequestMasking.request" not in (profile / "1KB-plain.txt").read_text()


def test_instruction_count_benchmark_says_what_it_needs_without_valgrind(tmp_path):
    import os

    bindir = tmp_path / "bin"
    bindir.mkdir()
    env = {**os.environ, "PATH": str(bindir)}
    p = subprocess.run([sys.executable, "scripts/bench_instructions.py"], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "valgrind" in p.stderr


@pytest.mark.parametrize("sse", [False, True], ids=["json", "sse"])
def test_cpu_benchmark_prints_a_ratio_to_plain_for_every_mode(tmp_path, sse):
    """``bench_cpu.py --quick``: plain, an empty script, the addon with empty plans and the addon
    alternate; each gets its CPU time per request read from /proc and a ratio to plain.
    ``run_cell`` checks the addon's first reply of every cell: masked on the way up, restored on
    the way back (with ``--sse``, through the streamed reply)."""
    from scripts.bench_cpu import MODES

    out = tmp_path / "cpu.md"
    p = run_script("scripts/bench_cpu.py", "--quick", *(["--sse"] if sse else []),
                   "--out", str(out))
    assert p.returncode == 0, p.stdout + p.stderr
    for mode in MODES:
        pattern = rf"^1KB {re.escape(mode)}\s+cpu/req\s+\d+ us\s+vs plain x\d\.\d{{3}} "
        assert re.search(pattern, p.stdout, re.M), mode
        assert re.search(rf"^\| 1KB \| {re.escape(mode)} \| \d+ \(\d+\) \| x\d\.\d{{3}} \|",
                         out.read_text(), re.M), mode
    assert "vs plain x1.000" in p.stdout  # plain against itself
    assert ("stream_large_bodies=1" in out.read_text()) == sse
