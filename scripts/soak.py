"""Soak: steady concurrent load through one mitmdump with the addon (Redis store, events on).

Starts a private redis-server (never port 6379), the stand-in LLM server and one mitmdump with
``store=redis`` and event monitoring on, then runs ``--workers`` threads sending distinct
Anthropic Messages requests (half streamed) full of AWS identifiers for ``--duration`` seconds.
Every few seconds it samples mitmdump's RSS (/proc), the Redis connections the proxy holds
(CLIENT LIST), requests done, errors and events received.

It fails (exit 1) when, after the warm-up (the first 20% of the run), RSS grows by more than 10%,
when any request fails, when a reply is not fully restored, when the upstream ever sees an
original, or when the proxy holds more Redis connections than its pool allows.

    .venv/bin/python scripts/soak.py --duration 60 [--workers 8] [--report soak.md]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import redis  # noqa: E402
from awsmasker.redis_client import MAX_CONNECTIONS  # noqa: E402
from awsmasker.tokens import TOKEN_RE  # noqa: E402

from testsupport.mitmdump import Mitmdump  # noqa: E402
from testsupport.redis_server import RedisServer  # noqa: E402
from testsupport.samples import ORIGINALS, PROMPT  # noqa: E402
from testsupport.standin import StandinConfig, StandinServer  # noqa: E402

RSS_LIMIT = 0.10  # growth allowed after warm-up
WARMUP_SHARE = 0.20
OWN_CLIENT = "soak-monitor"
EVENT_CHANNEL = "masker:soak-events"
FILLER = [
    "The deployment pipeline rolled out version 42 to the fleet.",
    'Log line: {\\"level\\": \\"info\\", \\"msg\\": \\"healthy\\"}\\n',
    "    \tindented\twith\ttabs and  double  spaces   ",
    "Ünïcödé prose — with dashes, “quotes” and emoji 🚀.",
]


@dataclass
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0
    streamed: int = 0
    errors: int = 0
    unrestored: int = 0
    leaks: int = 0
    upstream_seen: int = 0
    events: int = 0
    first_problems: list[str] = field(default_factory=list)

    def problem(self, kind: str, text: str) -> None:
        with self.lock:
            setattr(self, kind, getattr(self, kind) + 1)
            if len(self.first_problems) < 10:
                self.first_problems.append(f"{kind}: {text[:300]}")


@dataclass
class Sample:
    t: float
    rss_kb: int
    redis_clients: int
    done: int
    errors: int
    events: int


def pool_ids(k: int) -> list[str]:
    """The k-th identifiers of the pool: the store keeps minting until the pool is used up,
    and Redis holds at most 4 x pool mappings however long the run."""
    h = random.Random(k)
    return [
        f"i-{h.getrandbits(68):017x}",
        f"vpc-{h.getrandbits(32):08x}",
        f"arn:aws:iam::{h.randrange(10**11, 10**12)}:role/Soak{k}",
        f"10.{k >> 14 & 255}.{k >> 6 & 255}.{(k & 63) + 1}",
    ]


def make_body(n: int, rng: random.Random, stream: bool, pool: int
              ) -> tuple[bytes, str, list[str]]:
    """A distinct request body, its nonce and the originals it carries."""
    nonce = f"soak request number {n} nonce {rng.getrandbits(48)}"
    ids = pool_ids(rng.randrange(pool))
    pad = " ".join(rng.choice(FILLER) for _ in range(rng.randrange(2, 60)))
    text = f"{nonce}. {PROMPT}\nNew ones: {', '.join(ids)}.\n{pad}"
    body = {
        "model": "standin", "max_tokens": 64, "stream": stream,
        "system": "You are a cloud operator. Account 123456789012 owns vpc-0123abcd.",
        "messages": [{"role": "user", "content": text}],
    }
    return json.dumps(body).encode(), nonce, [*ORIGINALS, *ids]


def reply_text(body: bytes, stream: bool) -> str:
    """Text and tool input of an Anthropic reply (SSE deltas joined), for the restore check."""
    if not stream:
        msg = json.loads(body)
        return "\n".join(
            b["text"] if b["type"] == "text" else json.dumps(b["input"]) for b in msg["content"]
        )
    text, tool = [], []
    for block in body.decode().replace("\r\n", "\n").split("\n\n"):
        for line in block.split("\n"):
            if not line.startswith("data:"):
                continue
            ev = json.loads(line[5:])
            delta = ev.get("delta", {})
            if delta.get("type") == "text_delta":
                text.append(delta["text"])
            elif delta.get("type") == "input_json_delta":
                tool.append(delta["partial_json"])
    return "".join(text) + "\n" + json.dumps(json.loads("".join(tool)))


class Soak:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.counters = Counters()
        self.sent: dict[str, list[str]] = {}  # nonce -> originals, until upstream was checked
        self.sent_lock = threading.Lock()
        self.samples: list[Sample] = []
        self.stop = threading.Event()

    # -- load -------------------------------------------------------------------------------
    def worker(self, wid: int, url: str, proxy_url: str, deadline: float) -> None:
        rng = random.Random(f"{self.args.seed}:{wid}")
        c = self.counters
        with httpx.Client(proxy=proxy_url, timeout=30) as client:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                stream = (n + wid) % 2 == 0
                body, nonce, originals = make_body(wid * 10_000_000 + n, rng, stream,
                                                 self.args.id_pool)
                with self.sent_lock:
                    self.sent[nonce] = originals
                try:
                    r = client.post(url, content=body, headers={
                        "content-type": "application/json", "x-api-key": "sk-soak",
                        "anthropic-version": "2023-06-01"})
                except httpx.HTTPError as e:
                    c.problem("errors", f"{type(e).__name__}: {e}")
                    continue
                if r.status_code != 200:
                    c.problem("errors", f"HTTP {r.status_code}: {r.text}")
                    continue
                try:
                    got = reply_text(r.content, stream)
                except (ValueError, KeyError) as e:
                    c.problem("unrestored", f"unparsable reply ({e}): {r.text}")
                    continue
                missing = [o for o in originals if o not in got]
                left = TOKEN_RE.findall(got)
                if missing or TOKEN_RE.search(got):
                    c.problem("unrestored", f"missing {missing[:3]}, tokens left {left[:3]}")
                with c.lock:
                    c.done += 1
                    c.streamed += stream

    # -- upstream check ---------------------------------------------------------------------
    def check_upstream(self, standin: StandinServer) -> None:
        reqs = standin.cfg.requests
        while reqs:
            rec = reqs.pop(0)
            text = rec.body.decode("utf-8", "replace")
            nonce_at = text.find("soak request number ")
            nonce = text[nonce_at:].split(".", 1)[0] if nonce_at >= 0 else ""
            with self.sent_lock:
                originals = self.sent.pop(nonce, ORIGINALS)
            self.counters.upstream_seen += 1
            leaked = [o for o in originals if o in text]
            if leaked:
                self.counters.problem("leaks", f"upstream saw {leaked[:3]}")

    # -- events -----------------------------------------------------------------------------
    def listen_events(self, r: redis.Redis) -> None:
        ps = r.pubsub(ignore_subscribe_messages=True)
        ps.subscribe(EVENT_CHANNEL)
        while not self.stop.is_set():
            try:
                msg = ps.get_message(timeout=0.5)
            except redis.RedisError:
                time.sleep(0.2)
                continue
            if msg and msg["type"] == "message":
                ev = json.loads(msg["data"])
                n = len(ev["events"]) if ev.get("type") == "batch" else 1
                with self.counters.lock:
                    self.counters.events += n
        ps.close()

    # -- sampling ---------------------------------------------------------------------------
    @staticmethod
    def rss_kb(pid: int) -> int:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    @staticmethod
    def proxy_clients(r: redis.Redis) -> int:
        return sum(1 for c in r.client_list() if c.get("name") != OWN_CLIENT)

    def sample(self, t0: float, pid: int, r: redis.Redis, standin: StandinServer) -> Sample:
        self.check_upstream(standin)
        c = self.counters
        s = Sample(time.monotonic() - t0, self.rss_kb(pid), self.proxy_clients(r), c.done,
                   c.errors + c.unrestored + c.leaks, c.events)
        self.samples.append(s)
        print(f"{s.t:8.1f} {s.rss_kb / 1024:9.1f} {s.redis_clients:8d} {s.done:9d} "
              f"{s.errors:7d} {s.events:9d}", flush=True)
        return s

    def run(self) -> tuple[bool, list[str], dict[str, float]]:
        a = self.args
        (self.workdir / "redis").mkdir()
        rs = RedisServer(self.workdir / "redis")
        rs.start()
        standin = StandinServer(StandinConfig(seed=a.seed)).start()
        key = base64.b64encode(os.urandom(32)).decode()
        proxy = None
        try:
            proxy = Mitmdump(self.workdir / "proxy", options=[
                "targets=127.0.0.1", "store=redis", f"redis_url={rs.url}",
                f"encryption_key={key}", "enable_event_monitoring=true",
                f"redis_event_channel={EVENT_CHANNEL}", "event_batch_size=10",
                "event_flush_interval_ms=200"])
            r = redis.Redis(port=rs.port, socket_timeout=5, client_name=OWN_CLIENT)
            listener = threading.Thread(target=self.listen_events, args=(
                redis.Redis(port=rs.port, client_name=OWN_CLIENT),), daemon=True)
            listener.start()
            url = f"http://127.0.0.1:{standin.port}/v1/messages"
            t0 = time.monotonic()
            deadline = t0 + a.duration
            workers = [threading.Thread(target=self.worker, args=(i, url, proxy.url, deadline),
                                        daemon=True) for i in range(a.workers)]
            print(f"soak: {a.workers} workers for {a.duration:.0f} s, sample every "
                  f"{a.interval:.1f} s; mitmdump pid {proxy.proc.pid}, redis port {rs.port}")
            print(f"{'t (s)':>8} {'RSS (MB)':>9} {'redis cl':>8} {'requests':>9} "
                  f"{'errors':>7} {'events':>9}")
            self.sample(t0, proxy.proc.pid, r, standin)
            for w in workers:
                w.start()
            next_at = t0 + a.interval
            while any(w.is_alive() for w in workers):
                time.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
                if time.monotonic() >= next_at:
                    self.sample(t0, proxy.proc.pid, r, standin)
                    next_at += a.interval
                if time.monotonic() >= deadline:
                    for w in workers:
                        w.join(60)
                    break
            time.sleep(0.5)  # let the last event batch flush
            self.sample(t0, proxy.proc.pid, r, standin)
            alive = proxy.proc.poll() is None
        finally:
            self.stop.set()
            if proxy is not None:
                proxy.stop()
            standin.shutdown()
            standin.server_close()
            rs.kill()
        return self.verdict(alive)

    def verdict(self, alive: bool) -> tuple[bool, list[str], dict[str, float]]:
        c = self.counters
        t_warm = self.args.warmup
        warm = [s for s in self.samples if s.t <= t_warm]
        after = [s for s in self.samples if s.t > t_warm]
        base = warm[-1].rss_kb if warm else self.samples[0].rss_kb
        end = statistics.median(s.rss_kb for s in after[-3:]) if after else base
        peak = max((s.rss_kb for s in after), default=base)
        growth = end / base - 1
        max_clients = max(s.redis_clients for s in self.samples)
        figures = {"rss_base_mb": base / 1024, "rss_end_mb": end / 1024,
                   "rss_peak_mb": peak / 1024, "rss_growth": growth,
                   "max_redis_clients": max_clients, "requests": c.done,
                   "streamed": c.streamed, "events": c.events,
                   "upstream_checked": c.upstream_seen,
                   "req_per_s": c.done / max(self.args.duration, 1e-9)}
        reasons = []
        if not alive:
            reasons.append("mitmdump exited")
        if growth > RSS_LIMIT:
            reasons.append(f"RSS grew {growth:.1%} after warm-up (limit {RSS_LIMIT:.0%})")
        if c.errors:
            reasons.append(f"{c.errors} requests failed")
        if c.unrestored:
            reasons.append(f"{c.unrestored} replies not restored")
        if c.leaks:
            reasons.append(f"{c.leaks} upstream requests held an original")
        if max_clients > MAX_CONNECTIONS:
            reasons.append(f"proxy held {max_clients} Redis connections (pool {MAX_CONNECTIONS})")
        if c.done == 0:
            reasons.append("no request completed")
        if c.events == 0:
            reasons.append("no event received")
        return not reasons, reasons, figures


def markdown(soak: Soak, ok: bool, reasons: list[str], fig: dict[str, float]) -> str:
    a = soak.args
    lines = [
        "# aws-masker soak report", "",
        f"{a.workers} workers, {a.duration:.0f} s, Redis store, events on (batches of 10). "
        f"Warm-up: first {a.warmup:.0f} s.", "",
        "| t (s) | RSS (MB) | proxy Redis connections | requests | errors | events |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for s in soak.samples:
        lines.append(f"| {s.t:.1f} | {s.rss_kb / 1024:.1f} | {s.redis_clients} | {s.done} | "
                     f"{s.errors} | {s.events} |")
    lines += ["", f"- requests: {fig['requests']} ({fig['streamed']} streamed, "
              f"{fig['req_per_s']:.1f}/s); upstream bodies checked: {fig['upstream_checked']}",
              f"- RSS after warm-up {fig['rss_base_mb']:.1f} MB → end {fig['rss_end_mb']:.1f} MB "
              f"(growth {fig['rss_growth']:+.1%}, peak {fig['rss_peak_mb']:.1f} MB)",
              f"- max proxy Redis connections: {fig['max_redis_clients']}",
              f"- events received: {fig['events']}", "",
              f"**Verdict: {'PASS' if ok else 'FAIL: ' + '; '.join(reasons)}**"]
    if soak.counters.first_problems:
        lines += ["", "First problems:", ""]
        lines += [f"- `{p}`" for p in soak.counters.first_problems]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--interval", type=float, default=None,
                    help="seconds between samples (default: duration/12, 1 to 60)")
    ap.add_argument("--warmup", type=float, default=None,
                    help=f"seconds of warm-up (default: the first {WARMUP_SHARE * 100:.0f}%% of "
                    "the run)")
    ap.add_argument("--id-pool", type=int, default=200_000,
                    help="distinct identifier sets drawn from (bounds Redis memory)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--report", type=Path, help="also write a Markdown report here")
    args = ap.parse_args(argv)
    if args.warmup is None:
        args.warmup = args.duration * WARMUP_SHARE
    if args.interval is None:
        args.interval = min(60.0, max(1.0, args.duration / 12))
    with tempfile.TemporaryDirectory(prefix="aws-masker-soak-") as tmp:
        soak = Soak(args, Path(tmp))
        ok, reasons, fig = soak.run()
    print(f"RSS after warm-up {fig['rss_base_mb']:.1f} MB, end {fig['rss_end_mb']:.1f} MB "
          f"({fig['rss_growth']:+.1%}); {fig['requests']} requests ({fig['req_per_s']:.1f}/s), "
          f"{fig['events']} events, max {fig['max_redis_clients']} proxy Redis connections")
    for p in soak.counters.first_problems:
        print(f"  {p}")
    print("VERDICT: PASS" if ok else "VERDICT: FAIL: " + "; ".join(reasons), flush=True)
    if args.report:
        args.report.write_text(markdown(soak, ok, reasons, fig))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
