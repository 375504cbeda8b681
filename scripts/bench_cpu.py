#!/usr/bin/env python3
"""mitmdump's CPU time per request, plain vs the addon, precise enough to tell 5% from 10%.

``bench_overhead.py`` reads CPU time beside req/s in a few long cells; on these 2-core VMs one
cell's CPU per request moves ±10–20% with the machine's phase, so its ratios cannot settle a 5%
target. This script does one thing: it alternates short cells (``--requests`` distinct
Anthropic-shaped bodies at concurrency 1, one keep-alive client) between plain mitmdump, an
empty ``-s`` script and the addon (memory store) for ``--rounds`` rounds, the order rotated
every round (``addon-no-masking``: the addon with every plan empty, what it costs besides
masking and restoring), and reads each mitmdump's CPU time from ``/proc/<pid>/task/*/schedstat``
(nanoseconds, every thread; utime+stime in clock ticks where schedstat is missing). A machine
phase then hits all modes of a round alike, and the median of the per-round ratios to plain
cancels it; the quartiles of those ratios show how far to trust it.

Instruction counts (``bench_instructions.py``) are steadier still but are not CPU time: the
addon's code runs once per request, cold in the caches that mitmproxy's own work has just
filled, and its instructions take about twice the time per instruction of mitmproxy's.

``--sse``: streamed requests answered with the stand-in's Anthropic SSE reply (107 events), as
Claude Code gets them; plain mitmdump then streams the reply too (``stream_large_bodies``).

    .venv/bin/python scripts/bench_cpu.py [--sizes 1KB,4KB] [--rounds 20] [--requests 300] [--sse]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_instructions import EMPTY_SCRIPT  # noqa: E402
from scripts.bench_overhead import (  # noqa: E402
    Bodies,
    Mode,
    Standin,
    cpu_ns,
    machine,
    run_cell,
    write_report,
)
from tests.proxy_harness import ENTRY  # noqa: E402

SIZES = {"1KB": 1024, "4KB": 4 * 1024, "64KB": 64 * 1024}
MODES = ("plain", "empty-script", "addon-no-masking", "addon")
#: ``--sse``: plain mitmdump (and the empty script) would buffer the streamed reply;
#: ``stream_large_bodies`` makes it stream chunk by chunk as the addon does, so that is the base
PLAIN_STREAM = "stream_large_bodies=1"

#: The addon with every plan empty: its handlers, flow state, header rewrite and reply handling
#: run, but nothing is masked (so there is nothing to restore either). What the addon costs
#: besides the masking and restoring work.
NO_MASKING_SCRIPT = """\
import sys

sys.path.insert(0, {addon_dir!r})
from awsmasker import body
from awsmasker.addon import EntryScript

body.Masker.plan = lambda self, text, *, is_json=None: body.MaskPlan(text)
addons = [EntryScript()]
"""


def start_modes(names: list[str], workdir: Path, *, sse: bool) -> list[Mode]:
    from tests.proxy_harness import Mitmdump

    empty = workdir / "empty_script.py"
    empty.write_text(EMPTY_SCRIPT)
    no_masking = workdir / "no_masking.py"
    no_masking.write_text(NO_MASKING_SCRIPT.format(addon_dir=str(ROOT / "addon")))
    out = []
    for name in names:
        d = workdir / name
        d.mkdir()
        m = Mode(name, addon=name == "addon")  # the reply check: masked and restored
        if name == "plain":
            m.proxy = Mitmdump(d, with_addon=False, options=[PLAIN_STREAM] if sse else [])
        elif name == "empty-script":
            m.proxy = Mitmdump(d, script=empty, options=[PLAIN_STREAM] if sse else [])
        else:
            m.proxy = Mitmdump(d, options=["targets=127.0.0.1"], env={"AWS_MASKER_CONFIG": ""},
                               script=no_masking if name == "addon-no-masking" else ENTRY)
        out.append(m)
    return out


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def measure(args: argparse.Namespace) -> list[str]:
    sizes = {k: SIZES[k] for k in args.sizes.split(",")}
    names = [n for n in MODES if n in args.modes.split(",")]
    if "plain" not in names:
        raise SystemExit("--modes must include plain (the ratios are to it)")
    t_start = time.monotonic()
    bodies = Bodies()
    md = ["# aws-masker: mitmdump CPU time per request", "", *machine(),
          f"- {args.rounds} rounds per size, modes alternated (order rotated each round), "
          f"{args.requests} distinct bodies per cell, concurrency 1, one keep-alive client; "
          "loopback, plain HTTP, memory store",
          *(["- replies: streamed Anthropic SSE (107 events); plain = plain mitmdump with "
             f"`{PLAIN_STREAM}` (it streams the reply as the addon does)"] if args.sse else []),
          "- CPU: /proc/<pid>/task/*/schedstat (ns, every thread of the mitmdump process)"]
    print("\n".join(md), flush=True)
    #: (size, mode) → CPU µs per request, one value per round
    results: dict[tuple[str, str], list[float]] = {}
    n = 0
    with tempfile.TemporaryDirectory(prefix="bench-cpu-") as tmp:
        standin = Standin(sse=args.sse)
        modes: list[Mode] = []
        try:
            modes = start_modes(names, Path(tmp), sse=args.sse)
            for label, size in sizes.items():
                for m in modes:  # warm-up: imports, engine compilation, the connection
                    run_cell(m, standin.url, [bodies.body(size, n := n + 1, stream=args.sse)
                                              for _ in range(args.warmup + 1)], 1, stream=args.sse)
                for r in range(args.rounds):
                    order = modes[r % len(modes):] + modes[:r % len(modes)]
                    line = [f"{label:>4} round {r + 1:>2}/{args.rounds}"]
                    for m in order:
                        batch = [bodies.body(size, n := n + 1, stream=args.sse)
                                 for _ in range(args.requests + 1)]
                        pid = m.proxy.proc.pid  # type: ignore[attr-defined]
                        c0 = cpu_ns(pid)
                        # the first body: the reply check
                        run_cell(m, standin.url, batch, 1, stream=args.sse)
                        us = (cpu_ns(pid) - c0) / 1000 / len(batch)
                        results.setdefault((label, m.name), []).append(us)
                        line.append(f"{m.name} {us:.0f} us")
                    print("  ".join(line), flush=True)
                    if args.max_seconds and time.monotonic() - t_start > args.max_seconds:
                        md.append(f"- {label}: stopped after {r + 1} rounds (--max-seconds)")
                        break
        finally:
            for m in modes:
                m.proxy.stop()  # type: ignore[attr-defined]
            standin.stop()
    md.append(f"- run took {time.monotonic() - t_start:.0f} s")
    md += report(results, sizes, names)
    return md


def report(results: dict[tuple[str, str], list[float]], sizes: dict[str, int],
           names: list[str]) -> list[str]:
    md = ["", "CPU µs per request: median (min) over the rounds. Ratio to plain: the median of "
          "the per-round ratios, with their quartiles.", "",
          "| body | mode | CPU µs / request | ratio to plain | quartiles | extra vs plain |",
          "|---|---|---:|---:|---:|---:|"]
    for label in sizes:
        plain = results[(label, "plain")]
        for name in names:
            us = results[(label, name)]
            ratios = [a / b for a, b in zip(us, plain, strict=False)]
            med = statistics.median(ratios)
            lo, hi = quartiles(ratios)
            md.append(f"| {label} | {name} | {statistics.median(us):.0f} ({min(us):.0f}) | "
                      f"x{med:.3f} | {lo:.3f}–{hi:.3f} | {(med - 1) * 100:+.1f}% |")
            print(f"{label} {name:<13} cpu/req {statistics.median(us):7.0f} us  "
                  f"vs plain x{med:.3f} (quartiles {lo:.3f}-{hi:.3f})", flush=True)
    return md


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1KB,4KB", help="comma-separated subset of "
                    + ",".join(SIZES))
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated subset of " + ",".join(MODES) + " (plain is needed)")
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--requests", type=int, default=300, help="requests per cell")
    ap.add_argument("--warmup", type=int, default=60, help="requests per mode before counting")
    ap.add_argument("--sse", action="store_true",
                    help="streamed requests answered with an Anthropic SSE reply (Claude Code's "
                    "path); plain streams it too")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1KB, 3 rounds of 20")
    ap.add_argument("--max-seconds", type=float, default=1200,
                    help="stop a size's rounds once the run has taken this long")
    ap.add_argument("--out", type=Path, help="Markdown file for the results (default "
                    "test-report/bench-cpu.md, bench-cpu-sse.md with --sse)")
    args = ap.parse_args()
    args.out = args.out or ROOT / "test-report" / f"bench-cpu{'-sse' if args.sse else ''}.md"
    if args.quick:
        args.sizes, args.rounds, args.requests, args.warmup = "1KB", 3, 20, 10
    write_report(measure(args), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
