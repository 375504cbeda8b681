#!/usr/bin/env python3
"""What the addon costs a proxy: mitmdump with aws-masker vs plain mitmdump, side by side.

One command starts a stand-in LLM server (a process of its own), a private redis-server when a
mode needs one (a free port, never 6379) and one mitmdump per mode, then sends distinct
Anthropic-shaped requests from one keep-alive client per connection. The first reply of every
cell is checked: masked on the way up, restored on the way back. The modes are alternated, their
order rotated each round, so that a phase of the machine hits every mode of a round alike: each
mode's figure is the median of its per-round ratios to plain, plain-stream and addon (those that
ran), with their quartiles. README.md ("Benchmarks") says what each meter and mode measures.
Results are printed and written as Markdown to ``test-report/``.

    .venv/bin/python scripts/bench_proxy.py --meter cpu [--sse] [--tls] [--sizes 1KB,64KB]
        [--modes plain,addon] [--rounds 20] [--requests 300] [--quick] [--out FILE]
    .venv/bin/python scripts/bench_proxy.py --meter instructions [--profile DIR] [--baseline REV]
    .venv/bin/python scripts/bench_proxy.py --meter replay [--turns 60] [--sessions 3]
"""

from __future__ import annotations

import argparse
import atexit
import base64
import datetime as dt
import itertools
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "addon")]

from awsmasker.catalogue import ONE_WAY_TYPES, TYPE_NAMES  # noqa: E402

from testsupport.corpus import Bodies  # noqa: E402
from testsupport.mitmdump import ENTRY, Mitmdump  # noqa: E402
from testsupport.procs import cpu_ns  # noqa: E402
from testsupport.redis_server import RedisServer  # noqa: E402
from testsupport.sessions import Session  # noqa: E402
from testsupport.standin import (  # noqa: E402
    TOKEN_RE_B,
    BenchStandin,
    reply_parts,
    self_signed_localhost,
)

SIZES = {"1KB": 1024, "4KB": 4 * 1024, "64KB": 64 * 1024, "1MB": 1024 * 1024}
MIB = 1024 * 1024
REFS = ("plain", "plain-stream", "addon")  # every mode gets a ratio to each of these that ran
NO_MASKING = "disabled_types=" + ",".join(sorted(TYPE_NAMES))
# One module-level handler, as the addon's entry script has: the cheapest script for mitmproxy.
EMPTY_SCRIPT = ('import logging\n\n\ndef running():\n'
                '    logging.getLogger("bench").warning("aws-masker ready (an empty script)")\n')
#: meter → (modes, modes with --sse, sizes, rounds, requests per cell, warm-up requests)
DEFAULTS = {
    "cpu": ("plain,empty-script,addon-no-masking,addon",
            "plain-stream,empty-script,addon-no-masking,addon", "1KB,4KB,64KB", 20, 300, 60),
    "throughput": ("direct,plain,addon,addon-redis,events-10%,events-100%", "plain-stream,addon",
                   "1KB,64KB,1MB", 5, 0, 4),
    "latency": ("direct,plain,plain-stream,addon", "direct,plain,plain-stream,addon", "1MB", 5,
                12, 2),
    "instructions": ("plain,empty-script,addon,addon-redis,events-100%",
                     "plain,plain-stream,empty-script,addon,addon-redis,events-100%",
                     "1KB,4KB,64KB", 1, 60, 15),
    "replay": ("plain,addon,addon-no-cache,addon-redis", "plain,addon,addon-no-cache,addon-redis",
               "1KB", 1, 0, 1),
}
FROM_TURN = 10  # the replay's ratios are taken from this turn on (the first bodies are small)
THROUGHPUT_REQUESTS = {"1KB": 300, "4KB": 300, "64KB": 160, "1MB": 40}  # per cell
HEADERS = {"content-type": "application/json", "x-api-key": "bench",
           "anthropic-version": "2023-06-01"}


@dataclass
class Mode:
    name: str
    script: str | None = "addon"  # "addon", "empty" or None (plain mitmdump)
    options: tuple[str, ...] = ()
    proxied: bool = True
    redis: bool = False
    events: bool = False
    proxy: Mitmdump | None = None
    entry: Path = ENTRY  # the addon's entry script (another checkout's with --baseline)

    @property
    def restores(self) -> bool:
        return self.script == "addon" and NO_MASKING not in self.options


def all_modes(redis_url: str, sse: bool) -> dict[str, Mode]:
    stream = ("stream_large_bodies=1",)
    key = base64.b64encode(os.urandom(32)).decode()
    store = ("store=redis", f"redis_url={redis_url}", f"redis_namespace=bench{os.getpid()}",
             f"encryption_key={key}")

    def events(rate: float, batch: int) -> tuple[str, ...]:
        return ("enable_event_monitoring=true", f"redis_url={redis_url}",
                f"event_sampling_rate={rate}", f"event_batch_size={batch}",
                "redis_event_channel=bench:events")

    modes = [Mode("direct", None, proxied=False), Mode("plain", None),
             Mode("plain-stream", None, stream),
             Mode("empty-script", "empty", stream if sse else ()),
             Mode("addon-no-masking", options=(NO_MASKING,)), Mode("addon"),
             Mode("addon-no-cache", options=("scan_cache_bytes=0",)),
             Mode("addon-redis", options=store, redis=True),
             Mode("events-10%", options=events(0.1, 1), redis=True, events=True),
             Mode("events-100%", options=events(1.0, 10), redis=True, events=True)]
    return {m.name: m for m in modes}


def start_proxy(m: Mode, workdir: Path, host: str, args: argparse.Namespace,
                **kw: object) -> Mitmdump:
    """``m``'s mitmdump (``kw``: more for :class:`Mitmdump`, e.g. a launcher)."""
    d = workdir / m.name.replace("%", "pct")
    d.mkdir(parents=True, exist_ok=True)
    opts = [*(["ssl_insecure=true"] if args.tls else []), *m.options]  # a self-signed stand-in
    script = m.entry
    if m.script == "empty":
        script = d / "empty_script.py"
        script.write_text(EMPTY_SCRIPT)
    elif m.script == "addon":
        opts.insert(0, f"targets={host}")
        if args.meter == "throughput" and args.sse:
            opts.append(f"max_response_size={2 * args.reply_mb * MIB}")
    env = {"AWS_MASKER_CONFIG": "", **kw.pop("env", {})}  # type: ignore[dict-item]
    return Mitmdump(d, options=opts, with_addon=m.script is not None, script=script, env=env,
                    **kw)  # type: ignore[arg-type]


@dataclass
class Cell:
    rps: float
    p50: float  # ms
    p99: float  # ms
    ttfb: float  # ms, median time to the first byte of the reply
    mib_s: float  # reply bytes per second
    cpu_us: float | None  # mitmdump CPU time per request
    conns: float | None  # client connections mitmdump accepted per request (1.00: none kept)
    publishes: float | None  # Redis PUBLISH calls per request (events modes)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s) + 0.5) - 1))]


def check_reply(mode: Mode, status: int, content: bytes, big: bool) -> str | None:
    """None if the reply is right for the mode, else what is wrong."""
    if status != 200:
        return f"HTTP {status}: {content[:200]!r}"
    if not mode.restores:
        return None
    left = [t for t in TOKEN_RE_B.findall(content)
            if t[4:].rsplit(b"_", 1)[0].decode() not in ONE_WAY_TYPES]  # secrets stay masked
    if left:
        return f"reply not restored: {len(left)} tokens left, e.g. {left[:3]}"
    if big:
        return None
    ids = reply_parts(content)[1]["ids"]
    return None if ids else "nothing was masked (the stand-in saw no token)"


def run_cell(mode: Mode, standin: BenchStandin, bodies: list[bytes], conc: int,
             redis: RedisServer | None, big: bool) -> Cell:
    """Send ``bodies`` with ``conc`` threads, one keep-alive client each; the first ``conc``
    (one per client: its connection, the reply check) are not timed. mitmdump's CPU time is
    read from before the clients connect until they have closed, and divided over every body
    sent: each cell's connections count."""
    import httpx

    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]  # as mitmproxy and the stand-in
    url, proxy = standin.url, mode.proxy.url if mode.proxy else None
    clients = [httpx.Client(transport=httpx.HTTPTransport(
        proxy=proxy, socket_options=nodelay, verify=verify_for(mode, standin)),
        trust_env=False, timeout=600) for _ in range(conc)]
    pid = mode.proxy.proc.pid if mode.proxy else None
    cpu0 = cpu_ns(pid) if pid else 0
    todo, lock = iter(bodies[conc:]), threading.Lock()

    def worker(client: httpx.Client) -> list[tuple[float, float, int, int]]:
        """(ms to the end, ms to the first byte, bytes, status) of each request it sent."""
        done = []
        while True:
            with lock:
                body = next(todo, None)
            if body is None:
                return done
            t0 = time.perf_counter()
            first, n = None, 0
            with client.stream("POST", url, content=body, headers=HEADERS) as r:
                for chunk in r.iter_raw():
                    first = first or time.perf_counter()
                    n += len(chunk)
            t1 = time.perf_counter()
            done.append(((t1 - t0) * 1000, ((first or t1) - t0) * 1000, n, r.status_code))

    try:
        for client, body in zip(clients, bodies, strict=False):
            r = client.post(url, content=body, headers=HEADERS)
            if problem := check_reply(mode, r.status_code, r.content, big):
                raise RuntimeError(f"{mode.name}: {problem}")
        conn0 = mode.proxy.output().count("client connect") if mode.proxy else 0
        pub0 = publishes(redis) if redis and mode.events else 0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(conc) as ex:
            done = [d for f in [ex.submit(worker, c) for c in clients] for d in f.result()]
        wall = time.perf_counter() - t0
        if failures := [status for *_, status in done if status != 200]:
            raise RuntimeError(f"{mode.name}: {len(failures)} failed requests: {failures[:3]}")
        conns = None
        if mode.proxy:
            time.sleep(0.02)  # the log line of a connection comes a moment after it
            conns = (mode.proxy.output().count("client connect") - conn0) / len(done)
        pubs = (publishes(redis) - pub0) / len(done) if redis and mode.events else None
    finally:
        for c in clients:
            c.close()
    cpu_us = (cpu_ns(pid) - cpu0) / 1000 / len(bodies) if pid else None
    lat, ttfb, received, _ = zip(*done, strict=True)
    return Cell(len(done) / wall, pct(lat, 0.5), pct(lat, 0.99), pct(ttfb, 0.5),
                sum(received) / MIB / wall, cpu_us, conns, pubs)


def publishes(redis: RedisServer) -> int:
    stats = redis.client().info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


def verify_for(m: Mode, standin: BenchStandin) -> ssl.SSLContext | bool:
    """What the client trusts over HTTPS: the mode's mitmproxy CA (each has its own), or the
    stand-in's certificate when it goes direct."""
    if standin.cert is None:
        return True
    return ssl.create_default_context(cafile=str(m.proxy.ca_cert if m.proxy else standin.cert))


def alternate(args: argparse.Namespace, modes: list[Mode], standin: BenchStandin,
              redis: RedisServer | None, bodies: Bodies,
              md: list[str]) -> dict[tuple[str, int, str], list[Cell]]:
    """Every mode's cells, per (size, concurrency): rounds of one cell per mode, in an order
    rotated every round."""
    stream = args.sse or args.meter == "latency"
    big = args.meter == "throughput" and args.sse
    numbers = itertools.count()  # every body of the run is a distinct one

    def cell(m: Mode, size: int, count: int, conc: int) -> Cell:
        batch = [bodies.body(size, next(numbers), stream=stream) for _ in range(count + conc)]
        return run_cell(m, standin, batch, conc, redis, big)

    results: dict[tuple[str, int, str], list[Cell]] = {}
    t_start = time.monotonic()
    for label in args.sizes.split(","):
        size = SIZES[label]
        count = args.requests or THROUGHPUT_REQUESTS[label]
        for conc in args.concurrency:
            for m in modes:  # warm-up: imports, engine compilation, the connections
                cell(m, size, args.warmup, conc)
            for r in range(args.rounds):
                line = [f"{label:>4} c{conc:<2} round {r + 1:>2}/{args.rounds}"]
                for m in modes[r % len(modes):] + modes[:r % len(modes)]:
                    c = cell(m, size, count, conc)
                    results.setdefault((label, conc, m.name), []).append(c)
                    line.append(f"{m.name} {c.cpu_us or 0:.0f} us {c.p50:.1f} ms")
                print("  ".join(line), flush=True)
                if args.max_seconds and time.monotonic() - t_start > args.max_seconds:
                    md.append(f"- {label} c{conc}: stopped after {r + 1} rounds (--max-seconds)")
                    break
    return results


def quartiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return values[0], values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], statistics.median(values), q[2]


def ratio(values: list[float], base: list[float], ms: bool) -> str:
    lo, med, hi = quartiles([a / b for a, b in zip(values, base, strict=False)])
    diff = statistics.median(a - b for a, b in zip(values, base, strict=False))
    return f"x{med:.3f} ({lo:.3f}–{hi:.3f})" + (f" {diff:+.1f} ms" if ms else "")


def report(args: argparse.Namespace, results: dict[tuple[str, int, str], list[Cell]],
           names: list[str]) -> list[str]:
    metrics = {"cpu": [("cpu_us", "CPU µs/request")],
               "throughput": [("rps", "req/s"), ("p50", "p50 ms"), ("p99", "p99 ms"),
                              ("cpu_us", "CPU µs/request"), ("conns", "conns/request"),
                              ("publishes", "PUBLISH/request")],
               "latency": [("ttfb", "p50 first byte ms"), ("p50", "p50 total ms"),
                           ("p99", "p99 total ms"), ("cpu_us", "CPU µs/request")]}[args.meter]
    if args.meter == "throughput" and args.sse:
        metrics = [("mib_s", "MiB/s"), ("cpu_us", "CPU µs/reply")]
    refs = [r for r in REFS if r in names]
    md = ["", "Median over the rounds (quartiles). Ratio to a mode: the median of the per-round "
          "ratios (quartiles); for times in ms also the median per-round difference.", ""]
    for label in args.sizes.split(","):
        for conc in args.concurrency:
            for attr, title in metrics:
                md += [f"## {label} bodies, concurrency {conc}: {title}", "",
                       f"| mode | {title} | " + " | ".join(f"vs {r}" for r in refs) + " |",
                       "|---|---:|" + "---:|" * len(refs)]
                for name in names:
                    values = [getattr(c, attr) for c in results[(label, conc, name)]]
                    if None in values:
                        continue
                    lo, med, hi = quartiles(values)
                    cols = []
                    for ref in refs:
                        base = [getattr(c, attr) for c in results[(label, conc, ref)]]
                        usable = ref != name and None not in base and 0 not in base
                        cols.append(ratio(values, base, attr in ("p50", "p99", "ttfb"))
                                    if usable else "")
                    md.append(f"| {name} | {med:.2f} ({lo:.2f}–{hi:.2f}) | "
                              + " | ".join(cols) + " |")
                    print(f"{label} c{conc} {name:<16} {attr:<9} {med:10.2f}  "
                          + "  ".join(f"vs {r} {c}" for r, c in zip(refs, cols, strict=True)
                                      if c), flush=True)
                md.append("")
    return md


def count_instructions(args: argparse.Namespace, m: Mode, label: str, first: int,
                       bodies: Bodies, standin: BenchStandin, workdir: Path) -> float:
    """Instructions per request of ``m``'s mitmdump under callgrind: warm-up requests, counters
    zeroed, ``args.requests`` counted requests from one keep-alive client, counters dumped."""
    import httpx

    out = workdir / "callgrind.out"
    # A fixed hash seed: str hashes (so dict and set probing) are the same in every run.
    env = {"PYTHONHASHSEED": "0", **({"PYTHONPERFSUPPORT": "1"} if args.profile else {})}
    proxy = start_proxy(m, workdir, standin.host, args, env=env, ready_timeout=900,
                        launcher=["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
    control = ["callgrind_control", "-z", str(proxy.proc.pid)]
    try:
        m.proxy = proxy
        with httpx.Client(proxy=proxy.url, verify=verify_for(m, standin), trust_env=False,
                          timeout=600) as c:
            for i in range(first, first + args.warmup + args.requests):
                if i == first + args.warmup:
                    subprocess.run(control, check=True, capture_output=True, timeout=120)
                r = c.post(standin.url, content=bodies.body(SIZES[label], i, stream=args.sse),
                           headers=HEADERS)
                if problem := check_reply(m, r.status_code, r.content, False):
                    raise RuntimeError(f"{m.name}: {problem}")
            control[1] = "-d"
            subprocess.run(control, check=True, capture_output=True, timeout=120)
    finally:
        proxy.stop()
        m.proxy = None
    dump = sorted(workdir.glob("callgrind.out.*"))[-1]
    if args.profile:
        perf_map = Path(f"/tmp/perf-{proxy.proc.pid}.map")  # valgrind runs it in this process
        rows = python_functions(dump, perf_map, args.requests)
        perf_map.unlink(missing_ok=True)
        args.profile.mkdir(parents=True, exist_ok=True)
        (args.profile / f"{label}-{m.name.replace('%', 'pct')}.txt").write_text(
            "".join(f"{cost / 1000:10.1f} k  {name}\n" for cost, name in rows))
    totals = [int(ln.split()[1]) for ln in dump.read_text(errors="replace").splitlines()
              if ln.startswith(("totals:", "summary:"))]
    return max(totals) / args.requests


def python_functions(dump: Path, perf_map: Path, requests: int) -> list[tuple[float, str]]:
    """(instructions per request, name) of each Python function, most costly first, inclusive.

    With ``PYTHONPERFSUPPORT=1`` every Python function runs through a trampoline of its own,
    which callgrind sees as code without a symbol; CPython's perf map (``/tmp/perf-PID.map``:
    start, size, name) names it."""
    import bisect
    import re

    entries = sorted((int(a, 16), int(b, 16), name.removeprefix("py::")) for a, b, name in
                     (ln.split(" ", 2) for ln in perf_map.read_text(errors="replace").splitlines()))
    starts = [e[0] for e in entries]
    annotated = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                                str(dump)], capture_output=True, text=True, check=True).stdout
    costs: dict[str, float] = {}
    unnamed = re.compile(r"^\s*([\d,]+) \(\s*[\d.]+%\)\s+\?\?\?:0x([0-9a-f]+) \[\?\?\?\]", re.M)
    for hit in unnamed.finditer(annotated):
        address = int(hit.group(2), 16)
        i = bisect.bisect_right(starts, address) - 1
        if i >= 0 and address < starts[i] + entries[i][1]:
            cost = int(hit.group(1).replace(",", "")) / requests
            costs[entries[i][2]] = max(costs.get(entries[i][2], 0.0), cost)  # outer calls
    return sorted(((c, n) for n, c in costs.items()), reverse=True)


def instructions(args: argparse.Namespace, modes: list[Mode], standin: BenchStandin,
                 bodies: Bodies, workdir: Path) -> list[str]:
    names = [m.name for m in modes]
    refs = [r for r in REFS if r in names]
    md = ["", "| body | mode | M instructions / request | "
          + " | ".join(f"vs {r}" for r in refs) + " |", "|---|---|---:|" + "---:|" * len(refs)]
    first = 0
    for label in args.sizes.split(","):
        per: dict[str, float] = {}
        for m in modes:
            per[m.name] = count_instructions(args, m, label, first, bodies, standin,
                                             workdir / f"{label}-{m.name.replace('%', 'pct')}")
            first += args.warmup + args.requests
            ratios = [f"x{per[m.name] / per[r]:.3f} of {r}" for r in refs if r in per]
            print(f"{label:>5} {m.name:<16} {per[m.name] / 1e6:8.3f} M instructions/request  "
                  + "  ".join(ratios), flush=True)
        for name, v in per.items():
            md.append(f"| {label} | {name} | {v / 1e6:.3f} | "
                      + " | ".join(f"x{v / per[r]:.3f}" for r in refs) + " |")
    return md


def replay(args: argparse.Namespace, modes: list[Mode], standin: BenchStandin) -> list[str]:
    """Every turn of every session through each mode, the order rotated per turn, from one
    keep-alive client per mode; mitmdump's CPU time read around each request."""
    import httpx

    sessions = [Session(turns=args.turns, seed=i, source=args.wheel) for i in range(args.sessions)]
    headers = {**HEADERS, "accept": "text/event-stream"}

    def turn(m: Mode, client: httpx.Client, body: bytes, k: int) -> float:
        pid = m.proxy.proc.pid
        c0 = cpu_ns(pid)
        with client.stream("POST", standin.url, content=body, headers=headers) as r:
            data = r.read()
        ms = (cpu_ns(pid) - c0) / 1e6
        # from turn 2 on a tool result names identifiers (the warm-up, turn 0, names none)
        if problem := check_reply(m, r.status_code, data, big=k < 2):
            raise RuntimeError(f"{m.name}: {problem}")
        return ms

    #: mode → turn → CPU ms of each session's request
    cpu: dict[str, dict[int, list[float]]] = {m.name: {} for m in modes}
    sizes: dict[int, int] = {}  # the first session's body per turn
    clients = {m.name: httpx.Client(proxy=m.proxy.url, verify=verify_for(m, standin),
                                    trust_env=False, timeout=120) for m in modes}
    try:
        for m in modes:
            turn(m, clients[m.name], b'{"warm": "up", "stream": true}', 0)
        for k in range(1, args.turns + 1):
            order = modes[k % len(modes):] + modes[:k % len(modes)]
            for s in sessions:
                body = s.body(k)
                sizes.setdefault(k, len(body))
                for m in order:
                    cpu[m.name].setdefault(k, []).append(turn(m, clients[m.name], body, k))
            print(f"turn {k:>2} {sizes[k] / 1024:>4.0f} KB  " + "  ".join(
                f"{m.name} {statistics.median(cpu[m.name][k]):6.2f} ms" for m in modes),
                flush=True)
    finally:
        for c in clients.values():
            c.close()
    md = [f"- {args.sessions} sessions of {args.turns} turns, bodies {sizes[1] / 1024:.0f} KB to "
          f"{sizes[args.turns] / 1024:.0f} KB (AWS CLI examples as tool results, Claude Code's "
          "shape); every turn of every session through each mode, order rotated per turn; "
          "streamed requests, Anthropic SSE replies",
          "- CPU: /proc/<pid>/task/*/schedstat (ns, every thread of the mitmdump process)"]
    return md + replay_report(cpu, [m.name for m in modes], sizes) + [
        "", *masker_speed(sessions, args.turns)]


def replay_report(cpu: dict[str, dict[int, list[float]]], names: list[str],
                  sizes: dict[int, int]) -> list[str]:
    med = {n: {k: statistics.median(v) for k, v in cpu[n].items()} for n in names}
    plain = med["plain"]
    late = [k for k in plain if k >= FROM_TURN]
    start = [k for k in plain if 2 <= k <= 11]
    end = sorted(plain)[-10:]
    md = ["", f"CPU per turn. Ratio: median over turns >= {FROM_TURN} of the per-turn ratio of "
          "medians (across sessions) to plain, with quartiles. Added: median CPU ms over plain "
          f"per turn, turns 2-11 and turns {end[0]}-{end[-1]}.", "",
          "| mode | ms/turn (last 10) | ratio to plain | quartiles | added, start | added, end |",
          "|---|---:|---:|---:|---:|---:|"]
    for n in names:
        lo, r, hi = quartiles([med[n][k] / plain[k] for k in late])
        add_start = statistics.median(med[n][k] - plain[k] for k in start)
        add_end = statistics.median(med[n][k] - plain[k] for k in end)
        last = statistics.median(med[n][k] for k in end)
        md.append(f"| {n} | {last:.2f} | x{r:.2f} | {lo:.2f}-{hi:.2f} | {add_start:+.2f} ms | "
                  f"{add_end:+.2f} ms |")
        print(f"{n:<13} turns>={FROM_TURN} cpu vs plain x{r:.2f} (quartiles {lo:.2f}-{hi:.2f})  "
              f"added per turn: start {add_start:+.2f} ms, end {add_end:+.2f} ms", flush=True)
    md += ["", "| turn | body KB | " + " | ".join(f"{n} ms" for n in names) + " |",
           "|---:|---:|" + "---:|" * len(names)]
    md += [f"| {k} | {sizes[k] / 1024:.0f} | " + " | ".join(f"{med[n][k]:.2f}" for n in names)
           + " |" for k in sorted(plain) if k in (1, 2, 5) or k % 10 == 0 or k == max(plain)]
    return md


def masker_speed(sessions: list[Session], turns: int) -> list[str]:
    """The masker alone, in this process (CPU time of this thread), turns >= FROM_TURN: the
    plan of each turn with the cache, split into the scan of what is new (the plan less the
    plan of the same body again, every piece then known) and the rest; and without it."""
    from awsmasker.body import Masker
    from awsmasker.config import Settings

    with_cache = Masker(scan_cache_bytes=Settings().scan_cache_bytes)
    without = Masker(scan_cache_bytes=0)
    rows = []  # per turn: ms with the cache, of it for known pieces, whole; MB/s new, whole
    for s in sessions:
        prev = 0
        for k in range(1, turns + 1):
            text = s.body(k).decode()
            t0 = time.thread_time()
            with_cache.plan(text, is_json=True)
            t1 = time.thread_time()
            with_cache.plan(text, is_json=True)
            t2 = time.thread_time()
            without.plan(text, is_json=True)
            t3 = time.thread_time()
            if k >= FROM_TURN:
                rows.append(((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3,
                             (len(text) - prev) / max(t1 - t0 - (t2 - t1), 1e-6) / 1e6,
                             len(text) / (t3 - t2) / 1e6))
            prev = len(text)
    cached, known, whole, new_rate, whole_rate = map(statistics.median, zip(*rows, strict=True))
    line = (f"masker alone, turns >= {FROM_TURN}: with the cache {cached:.2f} ms per turn "
            f"({known:.2f} ms of it for the pieces already seen), {new_rate:.0f} MB/s of new "
            f"content; whole scans {whole:.2f} ms per turn, {whole_rate:.0f} MB/s")
    print(line, flush=True)
    return [line]


def machine() -> list[str]:
    import mitmproxy.version

    with open("/proc/cpuinfo") as f:
        cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), "")
    return [f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; {os.cpu_count()} CPUs {cpu}; "
            f"{platform.system()} {platform.release()}; Python {platform.python_version()}, "
            f"mitmproxy {mitmproxy.version.VERSION}",
            f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}"]


def body_stats(bodies: Bodies, sizes: list[str]) -> list[str]:
    """What one body of each size holds, as the addon's masker sees it."""
    from awsmasker.body import Masker

    masker, out = Masker(), []
    for label in sizes:
        text = bodies.body(SIZES[label], 1).decode()
        plan = masker.plan(text, is_json=True)
        share = sum(e[1] - e[0] for e in plan.edits) / len(text)
        out.append(f"- {label} body: {len(text)} bytes, {len(plan.findings)} identifiers "
                   f"({share:.1%} of the bytes), {text.count(chr(92))} backslashes")
    return out


def baseline_modes(rev: str, tmp: Path, modes: list[Mode], meter: str) -> list[Mode]:
    """The addon as it was at git revision ``rev``, checked out (detached) under ``tmp``:
    ``addon@REV``, and for the replay ``addon-redis@REV`` beside ``addon-redis`` (a namespace of
    its own: the two must not find each other's tokens)."""
    tree = tmp / "baseline"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree),
                    rev], check=True)
    # the folder goes with ``tmp``; then git forgets the worktree
    atexit.register(subprocess.run, ["git", "-C", str(ROOT), "worktree", "prune"], check=False)
    entry = tree / "addon" / "aws_masker.py"
    redis = [m for m in modes if m.name == "addon-redis" and meter == "replay"]
    return [Mode(f"addon@{rev}", entry=entry)] + [replace(
        m, name=f"{m.name}@{rev}", entry=entry, options=tuple(
            o + "base" if o.startswith("redis_namespace=") else o for o in m.options))
        for m in redis]


def start_all(modes: list[Mode], workdir: Path, standin: BenchStandin,
              args: argparse.Namespace) -> None:
    """Every proxied mode's mitmdump, started side by side."""
    threads = [threading.Thread(target=lambda m=m: setattr(
        m, "proxy", start_proxy(m, workdir, standin.host, args))) for m in modes if m.proxied]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if missing := [m.name for m in modes if m.proxied and m.proxy is None]:
        raise RuntimeError(f"mitmdump did not start for {missing}")


def run(args: argparse.Namespace) -> list[str]:
    names = args.modes.split(",")
    t_start = time.monotonic()
    title = f"{args.meter}, {'HTTPS' if args.tls else 'HTTP'}" + (", SSE" if args.sse else "")
    bodies = Bodies()
    md = [f"# aws-masker proxy benchmark: {title}", "", *machine()]
    if args.meter != "replay":
        md += [*body_stats(bodies, args.sizes.split(",")),
               f"- modes: {', '.join(names)}; sizes {args.sizes}; concurrency "
               f"{', '.join(map(str, args.concurrency))}; {args.rounds} rounds of "
               f"{args.requests or 'per-size'} requests per cell after {args.warmup} warm-up "
               "requests"]
    if args.meter == "latency":
        md.append(f"- stand-in: {args.first_byte_ms} ms to the first byte, then 107 SSE events "
                  f"{args.sse_gap_ms} ms apart (a fixed schedule)")
    if args.meter == "throughput" and args.sse:
        md.append(f"- replies: one {args.reply_mb} MiB Anthropic text stream (a token every "
                  "~400 characters) per request")
    print("\n".join(md), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        redis = RedisServer(Path(tmp), durable=False)
        modes = [all_modes(redis.url, args.sse)[n] for n in names]
        if args.baseline:
            modes += baseline_modes(args.baseline, Path(tmp), modes, args.meter)
            names = [m.name for m in modes]
            md.append(f"- baseline: the modes ...@{args.baseline} run the addon at git revision "
                      f"{args.baseline}, side by side with this checkout's")
        tls_files = self_signed_localhost(Path(tmp)) if args.tls else None
        sse = args.sse or args.meter in ("latency", "replay")
        standin = BenchStandin(
            tls_files, sse=sse, big_sse=args.reply_mb * MIB if args.sse and args.meter ==
            "throughput" else 0, gap_ms=args.sse_gap_ms if args.meter == "latency" else 0,
            first_byte_ms=args.first_byte_ms if args.meter == "latency" else 0)
        try:
            if any(m.redis for m in modes):
                redis.start()
            if args.meter == "instructions":
                md += instructions(args, modes, standin, bodies, Path(tmp))
            elif args.meter == "replay":
                start_all(modes, Path(tmp), standin, args)
                md += replay(args, modes, standin)
            else:
                start_all(modes, Path(tmp), standin, args)
                results = alternate(args, modes, standin,
                                    redis if args.meter == "throughput" else None, bodies, md)
                md += report(args, results, names)
        finally:
            for m in modes:
                if m.proxy is not None:
                    m.proxy.stop()
            standin.stop()
            redis.stop()
    md.append(f"- run took {time.monotonic() - t_start:.0f} s")
    return md


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--meter", choices=sorted(DEFAULTS), default="cpu")
    ap.add_argument("--sse", action="store_true", help="streamed requests, SSE replies")
    ap.add_argument("--tls", action="store_true", help="HTTPS on both legs, as deployed")
    ap.add_argument("--quick", action="store_true", help="a smoke run of the meter (< 2 min)")
    ap.add_argument("--modes", help="comma-separated, from: "
                    + ",".join(all_modes("", False)).replace("%", "%%"))
    ap.add_argument("--sizes", help="comma-separated request body sizes, from: " + ",".join(SIZES))
    ap.add_argument("--concurrency", help="comma-separated (throughput: 1,16; otherwise 1)")
    ap.add_argument("--rounds", type=int, help="cells per mode (cpu 20, throughput/latency 5)")
    ap.add_argument("--requests", type=int, help="counted requests per cell")
    ap.add_argument("--warmup", type=int, help="requests per mode before counting")
    ap.add_argument("--max-seconds", type=float, default=1800,
                    help="stop adding rounds once the run has taken this long")
    ap.add_argument("--reply-mb", type=int, default=64, help="throughput --sse: reply MiB")
    ap.add_argument("--first-byte-ms", type=int, default=300, help="latency: stand-in delay")
    ap.add_argument("--sse-gap-ms", type=float, default=2.0, help="latency: between events")
    ap.add_argument("--profile", type=Path, metavar="DIR",
                    help="instructions: also write each Python function's instructions per "
                    "request to DIR (CPython's perf trampolines add ~20%% to every count)")
    ap.add_argument("--baseline", metavar="REV",
                    help="also run the addon as it was at git revision REV (mode addon@REV; "
                    "replay: also addon-redis@REV), alternated with this checkout's: a "
                    "before/after in one run")
    ap.add_argument("--turns", type=int, default=60, help="replay: turns per session")
    ap.add_argument("--sessions", type=int, default=3, help="replay: sessions side by side")
    ap.add_argument("--wheel", type=Path, help="replay: the awscli wheel to read text from "
                    "(default: the real-text corpus's, downloaded once into .corpus/wheels)")
    ap.add_argument("--out", type=Path, help="Markdown file (default: test-report/bench-proxy-"
                    "METER[-sse][-tls].md)")
    args = ap.parse_args()
    modes, sse_modes, sizes, rounds, requests, warmup = DEFAULTS[args.meter]
    if args.quick:
        sizes, rounds, requests, warmup = "1KB", 3, 20, 5
        if args.meter == "throughput":
            sizes, rounds, args.reply_mb = "1KB,64KB", 2, min(args.reply_mb, 4)
        elif args.meter == "latency":
            sizes, requests = "1MB", 4
        elif args.meter == "instructions":
            modes = sse_modes = "plain,addon"
            rounds, requests, warmup = 1, 3, 2
        elif args.meter == "replay":
            args.turns, args.sessions = 12, 1
    if args.meter == "throughput" and args.sse:  # one long reply per request: its size counts
        sizes, rounds, requests, warmup = "1KB", min(rounds, 3), 1, 1
    args.modes = args.modes or (sse_modes if args.sse else modes)
    args.sizes = args.sizes or sizes
    args.rounds = args.rounds or rounds
    args.requests = args.requests or requests
    args.warmup = warmup if args.warmup is None else args.warmup
    default_conc = "1,16" if args.meter == "throughput" and not args.sse else "1"
    args.concurrency = [int(c) for c in (args.concurrency or default_conc).split(",")]
    unknown = set(args.modes.split(",")) - set(all_modes("", False))
    if unknown or not set(args.sizes.split(",")) <= set(SIZES):
        ap.error(f"unknown modes or sizes: {sorted(unknown) or args.sizes}")
    if args.meter == "instructions" and not shutil.which("callgrind_control"):
        print("valgrind (with callgrind_control) is needed: apt-get install valgrind",
              file=sys.stderr)
        return 2
    md = run(args)
    text = "\n".join(md) + "\n"
    print(text)
    out = args.out or ROOT / "test-report" / (
        f"bench-proxy-{args.meter}{'-sse' if args.sse else ''}{'-tls' if args.tls else ''}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
