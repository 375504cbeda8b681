#!/usr/bin/env python3
"""Proxy overhead of aws-masker, side by side on loopback: direct, plain mitmdump, the addon.

One command starts a stand-in LLM server (its own process), a private redis-server (a free port,
never 6379) and one mitmdump per mode, then drives Anthropic-shaped Messages requests (a long
conversation: prose, tool_use/tool_result JSON with escapes, AWS CLI output, ~1% AWS identifiers)
of 1 KB, 64 KB and 1 MB at concurrency 1 and 16 from this process (threads, httpx). Every body is
distinct (a fresh turn with fresh identifiers and a counter, at a random offset into a shared
conversation pool). The modes run interleaved, in a rotated order, for every repeat; each cell
reports req/s, p50/p99 latency and mitmdump's CPU time per request (nanoseconds from
/proc/<pid>/task/*/schedstat, before/after the cell), then min and median over the repeats and
ratios to plain mitmdump (and, for the events modes, to the addon without events: issue 5's < 10%).

``--llm-latency``: the stand-in answers like an LLM (``--first-byte-ms``, default 300 ms, then
an SSE stream of fixed length on a fixed schedule); reports p50 time to first byte and to the
end of the stream for 1 MB bodies direct, through plain mitmdump (which buffers the reply), plain
mitmdump streaming (``stream_large_bodies``) and the addon (target: the addon adds < 1% to p50).

Results are printed and written as Markdown (default ``test-report/bench-overhead.md``, or
``bench-overhead-llm.md`` with ``--llm-latency``). ``--quick`` is a < 60 s smoke version.
Single req/s ratios are only good to about ±5% on a shared machine; CPU/request is steadier.

    .venv/bin/python scripts/bench_overhead.py [--quick] [--llm-latency] [--out FILE]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import itertools
import json
import os
import platform
import random
import re
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.standin_llm import (  # noqa: E402
    Handler,
    StandinConfig,
    StandinServer,
    anthropic_message,
    sse,
)
from tests.procs import stop_process  # noqa: E402
from tests.redis_helpers import RedisServer  # noqa: E402

SIZES = {"1KB": 1024, "64KB": 64 * 1024, "1MB": 1024 * 1024}
TOKEN_RE_B = re.compile(rb"AWS_[A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*_[0-9]{3,9}(?![0-9])")
REPLY_TOKENS = 20  # tokens the stand-in repeats back (a realistic answer, not the whole body)
CHANNEL = "bench:events"


# --------------------------------------------------------------------------------------------
# Stand-in server (run in its own process with --serve-standin)
# --------------------------------------------------------------------------------------------


class BenchHandler(Handler):
    """Answers every POST with one fixed-size Anthropic reply naming up to 20 tokens it saw.

    The reply does not grow with the request (a real model's answer does not either), so every
    mode gets the same reply apart from the tokens (absent without masking). Nagle is off, as
    in mitmproxy: http.server writes headers and body separately, so with Nagle on every reply
    on a kept-alive connection would wait ~40 ms for the client's delayed ACK.
    """

    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length) if length else b""
        srv: BenchServer = self.server  # type: ignore[assignment]
        cfg = srv.cfg
        if cfg.first_byte_ms:
            time.sleep(cfg.first_byte_ms / 1000)
        found = dict.fromkeys(m.decode() for m in TOKEN_RE_B.findall(body))
        tokens = list(found)[:REPLY_TOKENS]
        if not srv.sse:
            data = json.dumps(anthropic_message(tokens, cfg)).encode()
            self._send(200, "application/json", data)
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        # Event k goes out at start + k * gap whatever this machine's load: a remote model's pace
        # does not depend on the proxy's CPU, and a sleep after each write would let every
        # scheduling delay add up over the stream (more so in modes with more processes awake).
        start = time.perf_counter()
        for k, ev in enumerate(fixed_stream(tokens, cfg)):
            if k and srv.gap_s:
                wait = start + k * srv.gap_s - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
            self._chunk(ev)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


def even_cut(text: str, n: int) -> list[str]:
    """``text`` in exactly ``n`` pieces of (nearly) equal length (empty ones if it is shorter).

    Exactly ``n`` whatever the length: the reply without tokens (direct, plain) is shorter than
    with them, and a ceiling-sized step gave it fewer pieces, so fewer events and gaps.
    """
    cuts = [len(text) * i // n for i in range(n + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def fixed_stream(tokens: list[str], cfg: StandinConfig) -> list[bytes]:
    """An Anthropic SSE reply of exactly 107 events, 100 of them deltas (60 text, 40 tool input),
    whatever the tokens.

    The event count (and so the stream's duration with gaps) is the same in every mode; only
    the pieces' lengths change. Pieces may cut a token in two, as a real stream does.
    """
    msg = anthropic_message(tokens, cfg)
    text, tool = msg["content"][0]["text"], json.dumps(msg["content"][1]["input"])
    start = {**msg, "content": [], "stop_reason": None}
    out = [sse("message_start", {"type": "message_start", "message": start}),
           sse("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}})]
    out += [sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": piece}})
            for piece in even_cut(text, 60)]
    out += [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("content_block_start", {"type": "content_block_start", "index": 1,
                                        "content_block": {**msg["content"][1], "input": {}}})]
    out += [sse("content_block_delta", {"type": "content_block_delta", "index": 1,
                                        "delta": {"type": "input_json_delta",
                                                  "partial_json": piece}})
            for piece in even_cut(tool, 40)]
    out += [sse("content_block_stop", {"type": "content_block_stop", "index": 1}),
            sse("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                  "usage": {"output_tokens": 20}}),
            sse("message_stop", {"type": "message_stop"})]
    return out


class BenchServer(StandinServer):
    """The bench stand-in on 127.0.0.1; HTTPS instead of HTTP when given a server ``tls``
    context (the handshake runs in ``accept``, once per connection)."""

    def __init__(self, cfg: StandinConfig, *, sse: bool, gap_ms: float,
                 tls: ssl.SSLContext | None = None) -> None:
        self.cfg = cfg
        self.sse = sse
        self.gap_s = gap_ms / 1000
        super(StandinServer, self).__init__(("127.0.0.1", 0), BenchHandler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)


def serve_standin(first_byte_ms: int, sse: bool, gap_ms: float,
                  tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
    # ~900-byte answer text; deltas of up to 12 characters (~100 SSE events in a stream)
    cfg = StandinConfig(first_byte_ms=first_byte_ms, record_bodies=False, filler_repeat=20,
                        max_piece=12)
    tls = None
    if tls_cert is not None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(tls_cert, tls_key)
    srv = BenchServer(cfg, sse=sse, gap_ms=gap_ms, tls=tls)
    print(f"PORT {srv.port}", flush=True)
    srv.serve_forever()


class Standin:
    """The stand-in server as a child process (keeps its CPU off the load generator's GIL).

    With ``tls_cert``/``tls_key`` (PEM files of a certificate for ``localhost``) it serves HTTPS
    and its URL names ``localhost`` (``host``), so the certificate's name matches.
    """

    def __init__(self, *, first_byte_ms: int = 0, sse: bool = False, gap_ms: float = 0,
                 tls_cert: Path | None = None, tls_key: Path | None = None) -> None:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--serve-standin",
               "--first-byte-ms", str(first_byte_ms), "--sse-gap-ms", str(gap_ms)]
        if sse:
            cmd.append("--sse")
        if tls_cert is not None:
            if tls_key is None:
                raise ValueError("tls_cert needs tls_key")
            cmd += ["--tls-cert", str(tls_cert), "--tls-key", str(tls_key)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"stand-in server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.host = "localhost" if tls_cert is not None else "127.0.0.1"
        scheme = "https" if tls_cert is not None else "http"
        self.url = f"{scheme}://{self.host}:{self.port}/v1/messages"

    def stop(self) -> None:
        stop_process(self.proc)


# --------------------------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------------------------


class Bodies:
    """Distinct Anthropic Messages bodies of a given size.

    A conversation pool (serialised messages: user text, assistant tool_use, user tool_result
    with CLI output, JSON and logs) is built once; a body takes consecutive pool messages from a
    random offset and ends with a fresh user turn (a counter, a tool_result with fresh
    identifiers, prose filler that brings the body to its exact size).
    """

    HEAD = ('{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":%s,'
            '"system":"You are a helpful AWS assistant. Answer briefly.","messages":[')

    def __init__(self, seed: int = 7, pool_bytes: int = 2_500_000) -> None:
        from tests.corpus_gen import Gen

        self._gen_cls = Gen
        g = Gen(seed)
        pieces: list[str] = []
        total = 0
        while total < pool_bytes:
            doc = (g.document() if g.r.random() < 0.06
                   else g.prose(60) + ". " + g.negative() + ".\n")
            pieces.append(doc)
            total += len(doc)
        self.pool: list[str] = []
        for k, i in enumerate(range(0, len(pieces) - 6, 6)):
            chunk = "\n".join(pieces[i:i + 6])
            if k % 3 == 0:
                msg = {"role": "user", "content": [{"type": "text", "text": chunk}]}
            elif k % 3 == 1:
                msg = {"role": "assistant", "content": [
                    {"type": "text", "text": "Running the command."},
                    {"type": "tool_use", "id": f"toolu_{seed}_{k}", "name": "bash",
                     "input": {"command": "aws ec2 describe-instances", "note": chunk}}]}
            else:
                msg = {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{seed}_{k - 1}",
                     "content": [{"type": "text", "text": chunk}]}]}
            self.pool.append(json.dumps(msg))
        self.pool = self.pool[: len(self.pool) // 3 * 3]

    def _fresh(self, n: int, target: int) -> str:
        """The last user turn, serialised to about ``target`` characters."""
        g = self._gen_cls(1_000_003 + n)
        inst = g.ec2("i")
        cli = json.dumps({"Reservations": [{"Instances": [
            {"InstanceId": inst, "InstanceType": "t3.large", "State": {"Name": "running"},
             "Tags": [{"Key": "Name", "Value": f"web \"{n}\""}]}]}]}, indent=2)
        text = f"Turn {n}: why is it not reachable? "
        filler = g.prose(max(20, target // 5))
        while len(filler) < target:
            filler += " " + g.prose(200)

        def render(fill: str) -> str:
            return json.dumps({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_fresh_{n}",
                 "content": f"$ aws ec2 describe-instances\n{cli}"},
                {"type": "text", "text": text + fill}]})

        out = render(filler)
        excess = len(out) - target
        if excess > 0:
            out = render(filler[: max(0, len(filler) - excess)])
        return out

    def body(self, size: int, n: int, *, stream: bool = False) -> bytes:
        head = self.HEAD % ("true" if stream else "false")
        msgs: list[str] = []
        used = len(head) + 2
        fresh_share = min(size, 2048)
        if size > 4096:
            r = random.Random(n)
            i = r.randrange(len(self.pool) // 3) * 3  # start on a user turn
            while used + len(self.pool[i]) + 1 < size - fresh_share:
                msgs.append(self.pool[i])
                used += len(self.pool[i]) + 1
                i = (i + 1) % len(self.pool)
        msgs.append(self._fresh(n, size - used))
        return (head + ",".join(msgs) + "]}").encode()


# --------------------------------------------------------------------------------------------
# Processes: redis-server, mitmdump
# --------------------------------------------------------------------------------------------


def publish_count(redis: RedisServer) -> int:
    """PUBLISH commands the server has run so far."""
    stats = redis.client().info("commandstats")
    return int(stats.get("cmdstat_publish", {}).get("calls", 0))


def cpu_ns(pid: int) -> int:
    """CPU time a process has used so far, all its threads, in nanoseconds: from
    ``/proc/<pid>/task/*/schedstat``, or utime+stime (clock ticks, 10 ms here) without it."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        tasks = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return _ticks_ns(pid)  # no schedstat here (or a thread just ended): whole process
    return total or _ticks_ns(pid)


def _ticks_ns(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


@dataclass
class Mode:
    name: str
    proxied: bool = True
    addon: bool = True
    options: Callable[[RedisServer | None], list[str]] = lambda _r: []
    redis: bool = False
    events: bool = False
    proxy: object = None  # tests.proxy_harness.Mitmdump once started
    seen_lines: int = 0
    connects: int = 0


def _redis_store(r: RedisServer | None) -> list[str]:
    assert r is not None
    key = base64.b64encode(os.urandom(32)).decode()
    return ["store=redis", f"redis_url={r.url}", f"redis_namespace=bench{os.getpid()}",
            f"encryption_key={key}"]


def _events(rate: float, batch: int) -> Callable[[RedisServer | None], list[str]]:
    def opts(r: RedisServer | None) -> list[str]:
        assert r is not None
        return ["enable_event_monitoring=true", f"redis_url={r.url}",
                f"event_sampling_rate={rate}", f"event_batch_size={batch}",
                f"redis_event_channel={CHANNEL}"]
    return opts


def all_modes() -> list[Mode]:
    return [
        Mode("direct", proxied=False, addon=False),
        Mode("plain", addon=False),
        Mode("addon"),
        Mode("addon-redis", options=_redis_store, redis=True),
        Mode("events-10%", options=_events(0.1, 1), redis=True, events=True),
        Mode("events-100%-b10", options=_events(1.0, 10), redis=True, events=True),
    ]


def start_proxies(modes: Sequence[Mode], workdir: Path, redis: RedisServer | None) -> None:
    """Start every mode's mitmdump at once (they start in parallel)."""
    from tests.proxy_harness import Mitmdump

    errors: list[BaseException] = []

    def start(m: Mode) -> None:
        opts = [*(["targets=127.0.0.1"] if m.addon else []), *m.options(redis)]
        d = workdir / m.name.replace("%", "pct")
        d.mkdir()
        try:
            m.proxy = Mitmdump(d, options=opts, with_addon=m.addon,
                               env={"AWS_MASKER_CONFIG": ""})
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=start, args=(m,)) for m in modes if m.proxied]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --------------------------------------------------------------------------------------------
# Load generation and statistics
# --------------------------------------------------------------------------------------------


@dataclass
class Cell:
    rps: float
    p50: float  # ms
    p99: float  # ms
    cpu_ms: float | None  # mitmdump CPU per request
    conns: float | None = None  # client connections the proxy accepted per request
    ttfb50: float | None = None  # ms, --llm-latency only
    publishes: float | None = None  # Redis PUBLISH calls per request (events modes)


def pct(values: Sequence[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * len(s) + 0.5) - 1))]


def check_reply(mode: Mode, status: int, content: bytes) -> str | None:
    """None if the reply is right for the mode, else what is wrong."""
    if status != 200:
        return f"HTTP {status}: {content[:200]!r}"
    if not mode.addon:
        return None
    if content.startswith(b"event:"):
        pieces = []
        for line in content.split(b"\n"):
            if line.startswith(b"data: "):
                delta = json.loads(line[6:]).get("delta", {})
                pieces.append(delta.get("partial_json", ""))
        ids = json.loads("".join(pieces))["ids"]
    else:
        ids = json.loads(content)["content"][1]["input"]["ids"]
    if not ids:
        return "nothing was masked (the stand-in saw no token)"
    from awsmasker.catalogue import ONE_WAY_TYPES  # secrets stay masked by design

    left = [i for i in ids if (m := TOKEN_RE_B.fullmatch(i.encode()))
            and m.group(0)[4:].rsplit(b"_", 1)[0].decode() not in ONE_WAY_TYPES]
    if left:
        return f"reply not restored: {len(left)} of {len(ids)} ids are still tokens: {left[:5]}"
    return None


def connects(mode: Mode) -> int:
    """Client connections the mode's mitmdump has logged so far."""
    if not mode.proxied:
        return 0
    proxy = mode.proxy
    with proxy._lock:  # type: ignore[attr-defined]
        lines = proxy.lines[mode.seen_lines:]  # type: ignore[attr-defined]
    mode.seen_lines += len(lines)
    mode.connects += sum(1 for ln in lines if ln.endswith("client connect"))
    return mode.connects


def run_cell(mode: Mode, url: str, bodies: list[bytes], conc: int, *, stream: bool = False,
             redis: RedisServer | None = None) -> Cell:
    """Send ``bodies`` with ``conc`` threads (one keep-alive client each) and time them.

    The first ``conc`` bodies are sent untimed (one per client: connections, reply check).
    """
    import httpx

    proxy = mode.proxy.url if mode.proxied else None  # type: ignore[attr-defined]
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]  # see BenchHandler
    clients = [httpx.Client(transport=httpx.HTTPTransport(proxy=proxy, socket_options=nodelay),
                            trust_env=False, timeout=120) for _ in range(conc)]
    headers = {"content-type": "application/json", "x-api-key": "bench",
               "anthropic-version": "2023-06-01"}
    try:
        # One untimed request per client opens its connections and checks the reply.
        warm = [clients[i].post(url, content=bodies[i], headers=headers) for i in range(conc)]
        bodies = bodies[conc:]
        for r in warm:
            problem = check_reply(mode, r.status_code, r.content)
            if problem:
                raise RuntimeError(f"{mode.name}: {problem}")
        lat: list[float] = []
        ttfb: list[float] = []
        failures: list[str] = []
        lock = threading.Lock()
        it = iter(range(len(bodies)))

        def worker(client: httpx.Client) -> None:
            while True:
                with lock:
                    i = next(it, None)
                if i is None:
                    return
                t0 = time.perf_counter()
                with client.stream("POST", url, content=bodies[i], headers=headers) as r:
                    first = None
                    for _ in r.iter_raw():
                        if first is None:
                            first = time.perf_counter()
                    t1 = time.perf_counter()
                    status = r.status_code
                with lock:
                    lat.append((t1 - t0) * 1000)
                    ttfb.append(((first or t1) - t0) * 1000)
                    if status != 200:
                        failures.append(f"HTTP {status}")

        pid = mode.proxy.proc.pid if mode.proxied else None  # type: ignore[attr-defined]
        conn0 = connects(mode)
        pub0 = publish_count(redis) if (redis and mode.events) else None
        cpu0 = cpu_ns(pid) if pid else 0
        t0 = time.perf_counter()
        with ThreadPoolExecutor(conc) as ex:
            for f in [ex.submit(worker, c) for c in clients]:
                f.result()
        wall = time.perf_counter() - t0
        cpu1 = cpu_ns(pid) if pid else 0
        if failures:
            raise RuntimeError(f"{mode.name}: {len(failures)} failed requests: {failures[:3]}")
        publishes = None
        if pub0 is not None and redis is not None:
            time.sleep(0.05)
            publishes = (publish_count(redis) - pub0) / len(bodies)
        conn1 = connects(mode)
        return Cell(rps=len(bodies) / wall, p50=pct(lat, 0.5), p99=pct(lat, 0.99),
                    cpu_ms=(cpu1 - cpu0) / 1e6 / len(bodies) if pid else None,
                    conns=(conn1 - conn0) / len(bodies) if pid else None,
                    ttfb50=pct(ttfb, 0.5) if stream else None, publishes=publishes)
    finally:
        for c in clients:
            c.close()


@dataclass
class Series:
    cells: list[Cell] = field(default_factory=list)

    def values(self, attr: str) -> list[float]:
        return [v for c in self.cells if (v := getattr(c, attr)) is not None]

    def med(self, attr: str) -> float | None:
        v = self.values(attr)
        return statistics.median(v) if v else None

    def min(self, attr: str) -> float | None:
        v = self.values(attr)
        return min(v) if v else None


def ratio(a: float | None, b: float | None) -> str:
    return f"x{a / b:.2f}" if a is not None and b else "-"


def fmt(v: float | None, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


def machine() -> list[str]:
    import mitmproxy.version

    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                       "")
    except OSError:
        pass
    return [
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}",
        f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}) {cpu}; "
        f"{platform.system()} {platform.release()}",
        f"- Python {platform.python_version()}, mitmproxy {mitmproxy.version.VERSION}",
        f"- load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


def body_stats(bodies: Bodies, sizes: dict[str, int]) -> list[str]:
    """What one body of each size holds, as the addon's masker sees it."""
    from awsmasker.body import Masker

    masker = Masker()
    out = []
    for label, size in sizes.items():
        text = bodies.body(size, 1).decode()
        plan = masker.plan(text, is_json=True)
        share = sum(e[1] - e[0] for e in plan.edits) / len(text)
        out.append(f"- {label}: {len(text)} bytes, {len(plan.findings)} identifiers "
                   f"({share:.1%} of the bytes), {text.count(chr(92))} backslashes")
    return out


def run_overhead(args: argparse.Namespace) -> list[str]:
    sizes = {k: v for k, v in SIZES.items() if not args.quick or k != "1MB"}
    if args.sizes:
        sizes = {k: SIZES[k] for k in args.sizes.split(",")}
    concs = [int(c) for c in args.concurrency.split(",")]
    counts = ({"1KB": 40, "64KB": 16, "1MB": 4} if args.quick
              else {"1KB": 300, "64KB": 160, "1MB": 40})
    counts = {k: max(1, round(v * args.scale)) for k, v in counts.items()}
    repeats = args.repeats or (2 if args.quick else 5)
    modes = all_modes()
    plain = next(m for m in modes if m.name == "plain")
    addon = next(m for m in modes if m.name == "addon")
    t_start = time.monotonic()
    print("building request bodies ...", flush=True)
    bodies = Bodies()
    md = ["# aws-masker proxy overhead", "", *machine(),
          f"- {repeats} repeats, modes interleaved (rotated order); requests per cell: "
          + ", ".join(f"{k} {counts[k]}" for k in sizes)
          + f"; concurrency {', '.join(map(str, concs))}; loopback, plain HTTP",
          "- request bodies (one sample each):", *("  " + s for s in body_stats(bodies, sizes))]
    print("\n".join(md), flush=True)
    results: dict[tuple[str, int, str], Series] = {}
    with tempfile.TemporaryDirectory(prefix="bench-overhead-") as tmp:
        redis = RedisServer(Path(tmp), durable=False)
        redis.start()
        standin = Standin()
        try:
            print("starting mitmdump x5 ...", flush=True)
            start_proxies(modes, Path(tmp), redis)
            print(f"ready in {time.monotonic() - t_start:.0f} s", flush=True)
            n = 0
            for m in modes:  # warm-up: imports, engine compilation, connections
                for size in sizes.values():
                    warm = [bodies.body(size, n := n + 1) for _ in range(4)]
                    run_cell(m, standin.url, warm, 2, redis=redis)
            for rep in range(repeats):
                for label, size in sizes.items():
                    for conc in concs:
                        k = (rep + conc + len(label)) % len(modes)
                        order = modes[k:] + modes[:k]
                        line = [f"repeat {rep + 1}/{repeats} {label:>4} c{conc:<2}"]
                        for m in order:
                            batch = []
                            for _ in range(counts[label] + conc):
                                n += 1
                                batch.append(bodies.body(size, n))
                            cell = run_cell(m, standin.url, batch, conc, redis=redis)
                            results.setdefault((label, conc, m.name), Series()).cells.append(cell)
                            line.append(f"{m.name} {cell.rps:.0f}/s")
                        print("  ".join(line), flush=True)
                if args.max_seconds and time.monotonic() - t_start > args.max_seconds:
                    print(f"stopping after {rep + 1} repeats (--max-seconds)", flush=True)
                    md.append(f"- stopped after {rep + 1} repeats (--max-seconds)")
                    break
        finally:
            for m in modes:
                if m.proxy is not None:
                    m.proxy.stop()  # type: ignore[attr-defined]
            standin.stop()
            redis.stop()
    md.append(f"- load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; "
              f"run took {time.monotonic() - t_start:.0f} s")
    md += report_overhead(results, sizes, concs, modes, plain, addon)
    return md


def report_overhead(results: dict[tuple[str, int, str], Series], sizes: dict[str, int],
                    concs: list[int], modes: list[Mode], plain: Mode, addon: Mode) -> list[str]:
    md = ["", "Medians over the repeats (min in brackets). CPU = mitmdump CPU time per "
          "request. Ratios are of medians: req/s and CPU/request to plain mitmdump; events "
          "modes also to the addon without events. PUBLISH/req: Redis PUBLISH calls per "
          "request; conns/req: client connections mitmdump accepted per request (1.00 = no "
          "keep-alive).", ""]
    for label in sizes:
        for conc in concs:
            base = results[(label, conc, plain.name)]
            noev = results[(label, conc, addon.name)]
            md += [f"## {label} bodies, concurrency {conc}", "",
                   "| mode | req/s | p50 ms | p99 ms | CPU ms/req | req/s vs plain | "
                   "CPU vs plain | req/s vs addon | p50 vs addon | p99 vs addon | "
                   "CPU vs addon | PUBLISH/req | conns/req |",
                   "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
            for m in modes:
                s = results[(label, conc, m.name)]
                ev = m.events
                md.append(
                    f"| {m.name} | {fmt(s.med('rps'), 0)} ({fmt(s.min('rps'), 0)}) | "
                    f"{fmt(s.med('p50'), 2)} ({fmt(s.min('p50'), 2)}) | "
                    f"{fmt(s.med('p99'), 2)} ({fmt(s.min('p99'), 2)}) | "
                    f"{fmt(s.med('cpu_ms'), 2)} ({fmt(s.min('cpu_ms'), 2)}) | "
                    f"{ratio(s.med('rps'), base.med('rps'))} | "
                    f"{ratio(s.med('cpu_ms'), base.med('cpu_ms'))} | "
                    + (f"{ratio(s.med('rps'), noev.med('rps'))} | "
                       f"{ratio(s.med('p50'), noev.med('p50'))} | "
                       f"{ratio(s.med('p99'), noev.med('p99'))} | "
                       f"{ratio(s.med('cpu_ms'), noev.med('cpu_ms'))} | "
                       if ev else "| | | | ")
                    + f"{fmt(s.med('publishes'), 2)} | {fmt(s.med('conns'), 2)} |")
            md.append("")
    md += ["## Ratios (medians)", "", "```"]
    for label in sizes:
        for conc in concs:
            base = results[(label, conc, plain.name)]
            noev = results[(label, conc, addon.name)]
            for m in modes:
                s = results[(label, conc, m.name)]
                line = (f"{label:>4} c{conc:<2} {m.name:<16} vs plain: "
                        f"req/s {ratio(s.med('rps'), base.med('rps'))}  "
                        f"p50 {ratio(s.med('p50'), base.med('p50'))}  "
                        f"cpu/req {ratio(s.med('cpu_ms'), base.med('cpu_ms'))}")
                if m.events:
                    line += (f"  | vs addon: req/s {ratio(s.med('rps'), noev.med('rps'))}  "
                             f"p50 {ratio(s.med('p50'), noev.med('p50'))}  "
                             f"p99 {ratio(s.med('p99'), noev.med('p99'))}  "
                             f"cpu/req {ratio(s.med('cpu_ms'), noev.med('cpu_ms'))}")
                md.append(line)
    md += ["```"]
    return md


def llm_modes() -> list[Mode]:
    """--llm-latency's modes: plain-stream is plain mitmdump streaming replies (and requests)
    as they come, like the addon does with SSE, to tell mitmproxy's streaming cost from the
    addon's own."""
    plain_stream = Mode("plain-stream", addon=False,
                        options=lambda _r: ["stream_large_bodies=1"])
    by_name = {m.name: m for m in all_modes()}
    return [by_name["direct"], by_name["plain"], plain_stream, by_name["addon"]]


def delta(a: float | None, b: float | None) -> str:
    return "-" if a is None or b is None else f"{a - b:+.1f} ms"


def run_llm(args: argparse.Namespace) -> list[str]:
    size = SIZES["1MB"]
    count = 4 if args.quick else max(1, round(12 * args.scale))
    repeats = args.repeats or (2 if args.quick else 5)
    modes = llm_modes()
    t_start = time.monotonic()
    bodies = Bodies()
    cfg = StandinConfig(record_bodies=False, filler_repeat=20, max_piece=12)
    events = len(fixed_stream([], cfg))
    md = ["# aws-masker latency against an LLM-like server", "", *machine(),
          f"- stand-in: {args.first_byte_ms} ms to first byte, then an SSE stream of {events} "
          f"events (100 deltas), one every {args.sse_gap_ms} ms on a fixed schedule, the same "
          f"count in every mode; 1 MB streaming Messages bodies; concurrency 1; {count} requests "
          f"per cell, {repeats} repeats, modes interleaved",
          "- plain mitmdump buffers the whole SSE reply (no stream_large_bodies), so its first "
          "byte comes at the end; plain-stream (stream_large_bodies=1) and the addon stream it. "
          "First byte is compared with direct and plain-stream, total time with plain and "
          "plain-stream (plain-stream minus plain: mitmproxy's streaming; addon minus "
          "plain-stream: the addon itself)."]
    print("\n".join(md), flush=True)
    results: dict[str, Series] = {}
    with tempfile.TemporaryDirectory(prefix="bench-llm-") as tmp:
        standin = Standin(first_byte_ms=args.first_byte_ms, sse=True, gap_ms=args.sse_gap_ms)
        try:
            start_proxies(modes, Path(tmp), None)
            n = 0
            for m in modes:
                warm = [bodies.body(size, n := n + 1, stream=True) for _ in range(2)]
                run_cell(m, standin.url, warm, 1, stream=True)
            for rep in range(repeats):
                k = rep % len(modes)
                line = [f"repeat {rep + 1}/{repeats}"]
                for m in modes[k:] + modes[:k]:
                    batch = []
                    for _ in range(count + 1):
                        n += 1
                        batch.append(bodies.body(size, n, stream=True))
                    cell = run_cell(m, standin.url, batch, 1, stream=True)
                    results.setdefault(m.name, Series()).cells.append(cell)
                    line.append(f"{m.name} p50 {cell.p50:.1f} ms")
                print("  ".join(line), flush=True)
        finally:
            for m in modes:
                if m.proxy is not None:
                    m.proxy.stop()  # type: ignore[attr-defined]
            standin.stop()
    base, direct, pstream = results["plain"], results["direct"], results["plain-stream"]
    md += [f"- run took {time.monotonic() - t_start:.0f} s", "",
           "| mode | p50 first byte ms | p50 total ms | p99 total ms | CPU ms/req | "
           "p50 first byte vs direct | p50 total vs plain | p50 first byte vs plain-stream | "
           "p50 total vs plain-stream |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in modes:
        s = results[m.name]
        md.append(f"| {m.name} | {fmt(s.med('ttfb50'))} ({fmt(s.min('ttfb50'))}) | "
                  f"{fmt(s.med('p50'))} ({fmt(s.min('p50'))}) | {fmt(s.med('p99'))} | "
                  f"{fmt(s.med('cpu_ms'), 2)} | "
                  f"{ratio(s.med('ttfb50'), direct.med('ttfb50'))} | "
                  f"{ratio(s.med('p50'), base.med('p50'))} | "
                  f"{ratio(s.med('ttfb50'), pstream.med('ttfb50'))} "
                  f"({delta(s.med('ttfb50'), pstream.med('ttfb50'))}) | "
                  f"{ratio(s.med('p50'), pstream.med('p50'))} "
                  f"({delta(s.med('p50'), pstream.med('p50'))}) |")
    md += ["", "## Ratios (medians)", "", "```"]
    for m in modes:
        s = results[m.name]
        md.append(f"1MB llm {m.name:<8} vs plain: p50 {ratio(s.med('p50'), base.med('p50'))} "
                  f"({delta(s.med('p50'), base.med('p50'))})  first byte vs "
                  f"direct {ratio(s.med('ttfb50'), direct.med('ttfb50'))} "
                  f"({delta(s.med('ttfb50'), direct.med('ttfb50'))})  | vs plain-stream: "
                  f"p50 {ratio(s.med('p50'), pstream.med('p50'))} "
                  f"({delta(s.med('p50'), pstream.med('p50'))})  first byte "
                  f"{ratio(s.med('ttfb50'), pstream.med('ttfb50'))} "
                  f"({delta(s.med('ttfb50'), pstream.med('ttfb50'))})")
    md.append("```")
    return md


def write_report(md: list[str], out: Path) -> None:
    """Print the Markdown lines and write them to ``out``."""
    text = "\n".join(md) + "\n"
    print(text)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"written to {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="short smoke run (< 60 s)")
    ap.add_argument("--llm-latency", action="store_true",
                    help="p50 latency against an LLM-like stand-in, 1 MB bodies")
    ap.add_argument("--out", type=Path, help="Markdown file for the results")
    ap.add_argument("--repeats", type=int, help="repeats (default 5; --quick 2)")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply request counts")
    ap.add_argument("--sizes", help="comma-separated subset of 1KB,64KB,1MB")
    ap.add_argument("--concurrency", default="1,16")
    ap.add_argument("--first-byte-ms", type=int, default=300)
    ap.add_argument("--sse-gap-ms", type=float, default=2.0)
    ap.add_argument("--max-seconds", type=float, default=840,
                    help="stop repeating once the run has taken this long")
    ap.add_argument("--serve-standin", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--sse", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--tls-cert", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--tls-key", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_standin:
        serve_standin(args.first_byte_ms, args.sse, args.sse_gap_ms, args.tls_cert, args.tls_key)
        return 0
    md = run_llm(args) if args.llm_latency else run_overhead(args)
    write_report(md, args.out or ROOT / "test-report" / (
        "bench-overhead-llm.md" if args.llm_latency else "bench-overhead.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
