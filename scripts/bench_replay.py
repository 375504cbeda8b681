#!/usr/bin/env python3
"""What the addon costs on an agent session: mitmdump's CPU time per turn, plain vs the addon.

A coding agent resends its whole conversation every turn. This replays sessions built from real
text (``scripts/replay_sessions.py``: a 24 KB system prompt, then per turn a signed thinking
block, a ``Bash`` ``tool_use`` and its ``tool_result`` of AWS CLI output, the cache breakpoint
on the newest message; bodies from ~30 KB to ~450 KB over 60 turns) as Claude Code sends them,
streamed requests answered with an Anthropic SSE reply that names tokens. Every turn of every
session goes through each mode, the order rotated per turn, and each mitmdump's CPU time is read
from ``/proc/<pid>/task/*/schedstat`` around its request:

- ``plain``: mitmdump without a script;
- ``addon``: the addon, memory store, scan cache on (the default ``scan_cache_bytes``);
- ``addon-nocache``: the same with ``scan_cache_bytes=0`` (every body scanned whole: before);
- ``addon-redis``: the addon with the Redis store (its own redis-server), scan cache on.

With ``--baseline REV`` the addon as it was at git revision REV runs beside them as
``addon@REV`` (and ``addon-redis@REV`` when ``addon-redis`` runs): a before/after in one run,
which the machine's load cannot skew.

Printed: per mode, the median over turns ≥ 10 of the per-turn CPU ratio to plain (with
quartiles), the CPU it adds per turn at the start (turns 2–11) and at the end (the last 10),
and the masker's own speed in this process (the same bodies, one ``Masker`` per setting): MB/s
on what is new in each turn with the cache, on whole bodies without it.

    .venv/bin/python scripts/bench_replay.py [--turns 60] [--sessions 3] [--quick]
        [--baseline REV]
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "addon"))

from scripts.bench_proxy import machine  # noqa: E402
from scripts.replay_sessions import Session  # noqa: E402
from testsupport.procs import cpu_ns  # noqa: E402
from testsupport.standin import StandinConfig, StandinServer, anthropic_stream  # noqa: E402

MODES = ("plain", "addon", "addon-nocache", "addon-redis")
#: turns from which the ratio is taken (the first ones are small bodies)
FROM_TURN = 10
HEADERS = {"content-type": "application/json", "x-api-key": "bench",
           "anthropic-version": "2023-06-01", "accept": "text/event-stream"}


def sse_reply() -> tuple[str, bytes]:
    """An Anthropic SSE reply (text, then a tool call) naming a few tokens, as a model answers
    a turn: the same for every turn, so the reply costs every turn alike."""
    cfg = StandinConfig()
    rng = random.Random(1)
    tokens = ["AWS_EC2_001", "AWS_VPC_001", "AWS_ACCOUNT_001", "AWS_ARN_002"]
    return "text/event-stream; charset=utf-8", b"".join(anthropic_stream(tokens, rng, cfg))


def start_modes(names: list[str], workdir: Path, redis_url: str | None,
                baseline: Path | None = None) -> dict[str, object]:
    """A mitmdump per mode; ``baseline``: the entry script of the addon at ``--baseline``, for
    the modes named ``...@REV``."""
    from testsupport.mitmdump import ENTRY, Mitmdump

    out: dict[str, object] = {}
    base = ["targets=127.0.0.1"]
    for i, name in enumerate(names):
        d = workdir / f"mode{i}"
        d.mkdir()
        if name == "plain":
            out[name] = Mitmdump(d, with_addon=False)
            continue
        kind, at, _ = name.partition("@")
        opts = list(base)
        if kind == "addon-nocache":
            opts.append("scan_cache_bytes=0")
        if kind == "addon-redis":
            key = base64.b64encode(os.urandom(32)).decode()
            opts += ["store=redis", f"redis_url={redis_url}",
                     f"redis_namespace=replay{os.getpid()}x{i}", f"encryption_key={key}"]
        script = baseline if at and baseline is not None else ENTRY
        out[name] = Mitmdump(d, options=opts, env={"AWS_MASKER_CONFIG": ""}, script=script)
    return out


def send(client, url: str, body: bytes) -> None:
    with client.stream("POST", url, content=body, headers=HEADERS) as r:
        data = r.read()
        if r.status_code != 200 or b"message_stop" not in data:
            raise RuntimeError(f"bad reply {r.status_code}: {data[:300]!r}")


def masker_speed(sessions: list[Session], turns: int) -> list[str]:
    """The masker alone, in this process (CPU time of this thread), turns >= FROM_TURN: the
    plan of each turn with the cache, split into the scan of what is new (the plan less the
    plan of the same body again, every piece then known) and the rest; and without it."""
    from awsmasker.body import Masker
    from awsmasker.config import Settings

    cached = Masker(scan_cache_bytes=Settings().scan_cache_bytes)
    whole = Masker(scan_cache_bytes=0)
    new_rates, whole_rates, known_ms, cached_ms, whole_ms = [], [], [], [], []
    for s in sessions:
        prev = 0
        for k in range(1, turns + 1):
            text = s.body(k).decode()
            t0 = time.thread_time()
            cached.plan(text, is_json=True)
            t1 = time.thread_time()
            cached.plan(text, is_json=True)
            t2 = time.thread_time()
            whole.plan(text, is_json=True)
            t3 = time.thread_time()
            if k >= FROM_TURN:
                new_rates.append((len(text) - prev) / max(t1 - t0 - (t2 - t1), 1e-6) / 1e6)
                whole_rates.append(len(text) / (t3 - t2) / 1e6)
                cached_ms.append((t1 - t0) * 1e3)
                known_ms.append((t2 - t1) * 1e3)
                whole_ms.append((t3 - t2) * 1e3)
            prev = len(text)
    med = statistics.median
    line = (f"masker alone, turns >= {FROM_TURN}: with the cache {med(cached_ms):.2f} ms per turn "
            f"({med(known_ms):.2f} ms of it for the pieces already seen), "
            f"{med(new_rates):.0f} MB/s of new content; whole scans {med(whole_ms):.2f} ms per "
            f"turn, {med(whole_rates):.0f} MB/s")
    print(line, flush=True)
    return [line]


def measure(args: argparse.Namespace) -> list[str]:
    import httpx

    names = [n for n in MODES if n in args.modes.split(",")]
    if "plain" not in names:
        raise SystemExit("--modes must include plain (the ratios are to it)")
    if args.baseline:
        names += [f"{n}@{args.baseline}" for n in ("addon", "addon-redis") if n in names]
    sessions = [Session(turns=args.turns, seed=i, result_bytes=args.result_bytes,
                        source=args.wheel) for i in range(args.sessions)]
    sizes = [len(sessions[0].body(1)), len(sessions[0].body(args.turns))]
    md = ["# aws-masker: CPU per turn of an agent session", "", *machine(),
          f"- {args.sessions} sessions of {args.turns} turns, bodies {sizes[0] / 1024:.0f} KB "
          f"to {sizes[1] / 1024:.0f} KB (AWS CLI examples as tool results, Claude Code's "
          "shape); every turn of every session through each mode, order rotated per turn; "
          "streamed requests, Anthropic SSE replies; loopback, plain HTTP",
          "- CPU: /proc/<pid>/task/*/schedstat (ns, every thread of the mitmdump process)"]
    if args.baseline:
        md.append(f"- baseline: the modes ...@{args.baseline} run the addon as it was at git "
                  f"revision {args.baseline}, side by side with this checkout's")
    print("\n".join(md), flush=True)
    t_start = time.monotonic()
    #: mode → turn → CPU ms of each session's request
    cpu: dict[str, dict[int, list[float]]] = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix="bench-replay-") as tmp:
        redis = None
        baseline = None
        if args.baseline:
            from scripts.bench_proxy import baseline_mode

            baseline = baseline_mode(args.baseline, Path(tmp)).entry
        if "addon-redis" in names:
            from testsupport.redis_server import RedisServer

            (Path(tmp) / "redis").mkdir()
            redis = RedisServer(Path(tmp) / "redis", durable=False)
            redis.start()
        standin = StandinServer(StandinConfig(canned=sse_reply(), record_bodies=False)).start()
        url = f"http://127.0.0.1:{standin.server_address[1]}/v1/messages"
        procs: dict[str, object] = {}
        clients = {}
        try:
            procs = start_modes(names, Path(tmp), redis.url if redis else None, baseline)
            for n in names:
                clients[n] = httpx.Client(proxy=procs[n].url, trust_env=False, timeout=120)
                send(clients[n], url, b'{"warm": "up", "stream": true}')
            for k in range(1, args.turns + 1):
                order = names[k % len(names):] + names[:k % len(names)]
                for s in sessions:
                    body = s.body(k)
                    for n in order:
                        pid = procs[n].proc.pid
                        c0 = cpu_ns(pid)
                        send(clients[n], url, body)
                        cpu[n].setdefault(k, []).append((cpu_ns(pid) - c0) / 1e6)
                line = [f"turn {k:>2} {len(body) / 1024:>4.0f} KB"]
                line += [f"{n} {statistics.median(cpu[n][k]):6.2f} ms" for n in names]
                print("  ".join(line), flush=True)
        finally:
            for c in clients.values():
                c.close()
            for p in procs.values():
                p.stop()
            standin.shutdown()
            standin.server_close()
            if redis is not None:
                redis.kill()
    md.append(f"- run took {time.monotonic() - t_start:.0f} s")
    md += report(cpu, names, [len(sessions[0].body(k)) for k in range(args.turns + 1)])
    md += ["", *masker_speed(sessions, args.turns)]
    return md


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def report(cpu: dict[str, dict[int, list[float]]], names: list[str],
           sizes: list[int]) -> list[str]:
    """``sizes[k]``: the first session's body at turn ``k``."""
    plain = {k: statistics.median(v) for k, v in cpu["plain"].items()}
    late = [k for k in plain if k >= FROM_TURN]
    start = [k for k in plain if 2 <= k <= 11]
    end = sorted(plain)[-10:]
    md = ["", f"CPU per turn. Ratio: median over turns >= {FROM_TURN} of the per-turn ratio of "
          "medians (across sessions) to plain, with quartiles. Added: median CPU ms over plain "
          f"per turn, turns 2-11 and turns {end[0]}-{end[-1]}.", "",
          "| mode | ms/turn (last 10) | ratio to plain | quartiles | added, start | added, end |",
          "|---|---:|---:|---:|---:|---:|"]
    for n in names:
        med = {k: statistics.median(v) for k, v in cpu[n].items()}
        ratios = [med[k] / plain[k] for k in late]
        r = statistics.median(ratios)
        lo, hi = quartiles(ratios)
        add_start = statistics.median(med[k] - plain[k] for k in start)
        add_end = statistics.median(med[k] - plain[k] for k in end)
        last = statistics.median(med[k] for k in end)
        md.append(f"| {n} | {last:.2f} | x{r:.2f} | {lo:.2f}-{hi:.2f} | {add_start:+.2f} ms | "
                  f"{add_end:+.2f} ms |")
        print(f"{n:<13} turns>={FROM_TURN} cpu vs plain x{r:.2f} (quartiles {lo:.2f}-{hi:.2f})  "
              f"added per turn: start {add_start:+.2f} ms, end {add_end:+.2f} ms", flush=True)
    md += ["", "| turn | body KB | " + " | ".join(f"{n} ms" for n in names) + " |",
           "|---:|---:|" + "---:|" * len(names)]
    for k in sorted(plain):
        if k in (1, 2, 5) or k % 10 == 0 or k == len(sizes) - 1:
            cells = " | ".join(f"{statistics.median(cpu[n][k]):.2f}" for n in names)
            md.append(f"| {k} | {sizes[k] / 1024:.0f} | {cells} |")
    return md


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--turns", type=int, default=60)
    ap.add_argument("--sessions", type=int, default=3, help="sessions replayed side by side")
    ap.add_argument("--result-bytes", type=int, default=4000,
                    help="about how much output each tool call returns")
    ap.add_argument("--modes", default=",".join(MODES),
                    help="comma-separated subset of " + ",".join(MODES) + " (plain is needed)")
    ap.add_argument("--wheel", type=Path, help="the awscli wheel to read text from (default: "
                    "downloaded once into .cache/wheels)")
    ap.add_argument("--baseline", metavar="REV",
                    help="also run the addon as it was at git revision REV (modes addon@REV, "
                    "addon-redis@REV), alternated with this checkout's")
    ap.add_argument("--quick", action="store_true", help="smoke run: 1 session of 12 turns")
    ap.add_argument("--out", type=Path, help="Markdown file for the results (default "
                    "test-report/bench-replay.md)")
    args = ap.parse_args()
    args.out = args.out or ROOT / "test-report" / "bench-replay.md"
    if args.quick:
        args.turns, args.sessions = 12, 1
    text = "\n".join(measure(args)) + "\n"
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
