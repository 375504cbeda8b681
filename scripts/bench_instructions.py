#!/usr/bin/env python3
"""CPU cost per request as counted instructions: plain mitmdump vs mitmdump with aws-masker.

``bench_overhead.py`` reads mitmdump's CPU time from /proc; on a shared 2-core machine a single
ratio there moves by ±5-10% from run to run, which is more than the 5% the small-body target
allows. This script runs each mitmdump under ``valgrind --tool=callgrind`` instead and counts the
instructions it executes for the same requests: the count does not depend on what else the
machine is doing, so a ratio of 1.04 means 4%.

For every mode (plain mitmdump, mitmdump with an empty script as the floor any ``-s`` script
pays, the addon, the addon with the Redis store, the addon with events at 100%) and every body
size, one mitmdump starts under callgrind, gets warm-up requests, has its counters zeroed, serves
``--requests`` distinct Anthropic-shaped bodies (the ones ``bench_overhead.py`` sends) from one
keep-alive client, and has its counters dumped. Instructions per request and the ratio to plain
mitmdump are printed and written to ``test-report/bench-instructions.md``.

By default both legs are plain HTTP on loopback, where plain mitmdump does least per request, so
the ratio is the worst case. ``--tls`` measures the deployed path instead: the client sends
CONNECT and trusts mitmproxy's CA, mitmproxy intercepts TLS and talks TLS to a stand-in serving
HTTPS for ``localhost`` (``ssl_insecure`` in every mode, plain included). The handshakes happen
in the warm-up, so the counted requests are the steady state of one kept-alive HTTPS connection;
the report then goes to ``test-report/bench-instructions-tls.md``.

Under callgrind mitmdump runs about 50 times slower, so counts are kept small (the defaults take
about 8 minutes, most of it start-up). Instructions are not time: a cache miss costs more than an
add. Use this for small differences and ``bench_overhead.py`` for throughput and latency.

``--sse`` measures the path Claude Code takes: streamed requests answered with an Anthropic SSE
reply of 107 events (chunked). Plain mitmdump buffers such a reply whole, so a ``plain-stream``
mode (``stream_large_bodies=1``: streamed chunk by chunk, as the addon does) is added as the
baseline of what streaming itself costs; ratios stay to plain.

With ``--profile DIR`` each mitmdump also runs with CPython's perf trampolines
(``PYTHONPERFSUPPORT=1``), and DIR gets, per cell, the instructions per request of every Python
function (inclusive), named from CPython's perf map: where the work of a hook goes, inside
mitmdump, without a profiler's own cost in the figures.

    .venv/bin/python scripts/bench_instructions.py [--tls] [--sizes 1KB,4KB,64KB] [--requests 60]
        [--modes plain,empty-script,addon,addon-redis,events-100%] [--out FILE] [--profile DIR]
        [--sse]
"""

from __future__ import annotations

import argparse
import bisect
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.bench_overhead import SIZES, Bodies, Standin, machine, write_report  # noqa: E402
from scripts.standin_llm import self_signed_localhost  # noqa: E402
from tests.redis_helpers import RedisServer  # noqa: E402

#: bench_overhead's sizes and 4 KB, the top of the small-body target's range (≤ 4 KB)
BODY_SIZES = {"1KB": SIZES["1KB"], "4KB": 4 * 1024, "64KB": SIZES["64KB"], "1MB": SIZES["1MB"]}

# One module-level handler, as the addon's entry script has its handlers: the cheapest form of
# script for mitmproxy to walk (an ``addons`` list below the module is one level more).
EMPTY_SCRIPT = '''\
import logging


def running():
    logging.getLogger("bench").warning("aws-masker ready (an empty script)")
'''


@dataclass(frozen=True)
class Mode:
    name: str
    script: str | None  # "addon", "empty" or None
    options: tuple[str, ...] = ()
    redis: bool = False


def modes(redis_url: str, *, sse: bool = False) -> list[Mode]:
    key = "YmVuY2gtaW5zdHJ1Y3Rpb25zLWtleS0zMi1ieXRlcyE="  # 32 bytes, base64; bench only
    # Plain mitmdump buffers a streamed reply whole; with stream_large_bodies it streams it as
    # the addon does, chunk by chunk: the baseline for what streaming itself costs.
    streaming = [Mode("plain-stream", None, ("stream_large_bodies=1",))] if sse else []
    return [
        Mode("plain", None),
        *streaming,
        Mode("empty-script", "empty"),
        Mode("addon", "addon"),
        Mode("addon-redis", "addon", ("store=redis", f"redis_url={redis_url}",
                                      "redis_namespace=benchinstr", f"encryption_key={key}"),
             redis=True),
        Mode("events-100%", "addon", ("enable_event_monitoring=true", f"redis_url={redis_url}",
                                      "event_sampling_rate=1.0", "event_batch_size=10"),
             redis=True),
    ]


def callgrind_total(path: Path) -> int:
    """The instruction total of a callgrind output file (its ``totals:`` or ``summary:`` line)."""
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            total = max(total, int(line.split()[1]))
    return total


def control(*args: str) -> None:
    subprocess.run(["callgrind_control", *args], check=True, capture_output=True, timeout=120)


#: a line of ``callgrind_annotate`` for code without a symbol: ``1,234 (0.5%)  ???:0x… [???]``
_UNNAMED_COST = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+\?\?\?:0x([0-9a-f]+) \[\?\?\?\]", re.M)


def python_functions(dump: Path, perf_map: Path, requests: int) -> list[tuple[float, str]]:
    """(instructions per request, name) of each Python function in a callgrind dump of a
    CPython run with perf trampolines on (``PYTHONPERFSUPPORT=1``), most costly first.

    Every Python function then runs through a small trampoline of its own, which callgrind sees
    as a function without a symbol; CPython's perf map (``/tmp/perf-PID.map``: start, size and
    name of each trampoline) names it. The cost is inclusive (callees counted in)."""
    entries = []
    for line in perf_map.read_text(errors="replace").splitlines():
        start, size, name = line.split(" ", 2)
        entries.append((int(start, 16), int(size, 16), name.removeprefix("py::")))
    entries.sort()
    starts = [e[0] for e in entries]
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                                str(dump)], capture_output=True, text=True, check=True).stdout
    costs: dict[str, float] = {}
    for m in _UNNAMED_COST.finditer(annotated):
        address = int(m.group(2), 16)
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and address < starts[i] + entries[i][1]:
            name = entries[i][2]
            cost = int(m.group(1).replace(",", "")) / requests
            costs[name] = max(costs.get(name, 0.0), cost)  # a recursive one: its outer calls
    return sorted(((c, n) for n, c in costs.items()), reverse=True)


def count_mode(mode: Mode, size: int, bodies: Bodies, first: int, n: int, warm: int,
               standin: Standin, workdir: Path, *, tls: bool = False, sse: bool = False,
               profile: Path | None = None) -> float:
    """Instructions per request that ``mode``'s mitmdump spends on ``n`` requests (over HTTPS,
    through mitmproxy's TLS interception, with ``tls``). With ``profile`` (a file), the cost of
    each Python function per request is written there too (see :func:`python_functions`)."""
    import httpx

    from tests.proxy_harness import ENTRY, Mitmdump

    out = workdir / "callgrind.out"
    launcher = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
    options = list(mode.options)
    script = ENTRY
    if mode.script == "empty":
        script = workdir / "empty_script.py"
        script.write_text(EMPTY_SCRIPT)
    elif mode.script == "addon":
        options.insert(0, f"targets={standin.host}")
    if tls:
        options.insert(0, "ssl_insecure=true")  # the stand-in's certificate is self-signed
    # A fixed hash seed: str hashes (so dict and set probing) are the same in every run, which
    # takes most of the run-to-run spread out of the counts.
    env = {"AWS_MASKER_CONFIG": "", "PYTHONHASHSEED": "0"}
    if profile is not None:
        env["PYTHONPERFSUPPORT"] = "1"  # a trampoline per Python function, named in a perf map
    proxy = Mitmdump(workdir, options=options, with_addon=mode.script is not None,
                     env=env, launcher=launcher,
                     ready_timeout=900,
                     script=script)
    try:
        headers = {"content-type": "application/json", "x-api-key": "bench",
                   "anthropic-version": "2023-06-01"}
        verify: ssl.SSLContext | bool = True
        if tls:
            verify = ssl.create_default_context(cafile=str(proxy.ca_cert))
        with httpx.Client(proxy=proxy.url, verify=verify, trust_env=False,
                          timeout=600) as client:
            def send(i: int) -> None:
                r = client.post(standin.url, content=bodies.body(size, i, stream=sse),
                                headers=headers)
                if r.status_code != 200:
                    raise RuntimeError(f"{mode.name}: HTTP {r.status_code}: {r.text[:300]}")
            for i in range(warm):
                send(first + i)
            control("-z", str(proxy.proc.pid))
            for i in range(n):
                send(first + warm + i)
            control("-d", str(proxy.proc.pid))
    finally:
        proxy.stop()
    dumps = sorted(workdir.glob("callgrind.out.*"))
    if not dumps:
        raise RuntimeError(f"{mode.name}: callgrind wrote no dump")
    if profile is not None:
        perf_map = Path(f"/tmp/perf-{proxy.proc.pid}.map")  # valgrind runs it in this process
        try:
            rows = python_functions(dumps[-1], perf_map, n)
        finally:
            perf_map.unlink(missing_ok=True)
        profile.write_text("".join(f"{cost / 1000:10.1f} k  {name}\n" for cost, name in rows))
    return callgrind_total(dumps[-1]) / n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1KB,4KB,64KB",
                    help="comma-separated subset of " + ",".join(BODY_SIZES))
    ap.add_argument("--requests", type=int, default=60, help="counted requests per cell")
    ap.add_argument("--warmup", type=int, default=15, help="requests before counting starts")
    ap.add_argument("--modes", help="comma-separated subset of the modes (default: all)")
    ap.add_argument("--out", type=Path, help="Markdown file for the results")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="also write, per cell, the instructions per request of each Python "
                    "function (inclusive) to DIR; CPython's perf trampolines add ~20%% to every "
                    "count in this mode, so compare such runs only with each other")
    ap.add_argument("--tls", action="store_true",
                    help="HTTPS on both legs (CONNECT + mitmproxy's TLS interception), as deployed")
    ap.add_argument("--sse", action="store_true",
                    help="streamed requests answered with an Anthropic SSE reply of 107 events, "
                    "as Claude Code gets them; adds the plain-stream mode")
    args = ap.parse_args()
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        print("valgrind (with callgrind_control) is needed: apt-get install valgrind",
              file=sys.stderr)
        return 2
    sizes = {k: BODY_SIZES[k] for k in args.sizes.split(",")}
    started = time.monotonic()
    bodies = Bodies()
    results: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-instr-") as tmp:
        redis = RedisServer(Path(tmp), durable=False)
        redis.start()
        tls_files = self_signed_localhost(Path(tmp)) if args.tls else (None, None)
        standin = Standin(tls_cert=tls_files[0], tls_key=tls_files[1], sse=args.sse)
        try:
            chosen = modes(redis.url, sse=args.sse)
            if args.modes:
                wanted = args.modes.split(",")
                chosen = [m for m in chosen if m.name in wanted or m.name == "plain"]
            first = 0
            for label, size in sizes.items():
                for mode in chosen:
                    wd = Path(tmp) / f"{label}-{mode.name.replace('%', 'pct')}"
                    wd.mkdir()
                    profile = None
                    if args.profile is not None:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        profile = args.profile / f"{label}-{mode.name.replace('%', 'pct')}.txt"
                    per = count_mode(mode, size, bodies, first, args.requests, args.warmup,
                                     standin, wd, tls=args.tls, sse=args.sse,
                                     profile=profile)
                    first += args.requests + args.warmup
                    results[(label, mode.name)] = per
                    base = results[(label, "plain")]
                    print(f"{label:>5} {mode.name:<13} {per / 1e6:8.3f} M instructions/request"
                          f"  x{per / base:.3f} of plain", flush=True)
        finally:
            standin.stop()
            redis.stop()
    transport = (
        "- transport: HTTPS on both legs, as deployed: the client sends CONNECT and trusts "
        "mitmproxy's CA, mitmproxy intercepts TLS and talks TLS to the stand-in "
        "(`ssl_insecure=true` in every mode, plain included); the TLS handshakes happen in the "
        "warm-up, so the counted requests are the steady state of one kept-alive HTTPS "
        "connection" if args.tls else
        "- transport: plain HTTP on both legs (no TLS), where plain mitmdump does least per "
        "request: the worst case for the ratio (`--tls` measures HTTPS)")
    reply = (
        "- replies: streamed requests answered with an Anthropic SSE stream of 107 events "
        "(chunked); plain mitmdump buffers it whole, plain-stream (`stream_large_bodies=1`) and "
        "the addon stream it" if args.sse else
        "- replies: one Anthropic JSON message each (content-length)")
    title = ("HTTPS" if args.tls else "HTTP") + (", SSE replies" if args.sse else "")
    md = [f"# aws-masker: instructions per request (callgrind), {title}",
          "", *machine(), transport, reply,
          f"- {args.requests} counted requests per cell after {args.warmup} warm-up requests, "
          "one keep-alive client, distinct Anthropic-shaped bodies (bench_overhead.py's)",
          f"- run took {time.monotonic() - started:.0f} s",
          *([f"- profiled (`--profile {args.profile}`): CPython's perf trampolines were on, which "
             "adds ~20% to every count; compare with profiled runs only"] if args.profile else []),
          "",
          "| body | mode | M instructions / request | vs plain | extra vs plain |",
          "|---|---|---:|---:|---:|"]
    for (label, name), per in results.items():
        base = results[(label, "plain")]
        md.append(f"| {label} | {name} | {per / 1e6:.3f} | x{per / base:.3f} | "
                  f"{(per / base - 1) * 100:+.1f}% |")
    default_out = ("bench-instructions" + ("-tls" if args.tls else "")
                   + ("-sse" if args.sse else "") + ".md")
    write_report(md, args.out or ROOT / "test-report" / default_out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
