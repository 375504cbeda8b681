#!/usr/bin/env python3
"""Soak: steady concurrent load through one mitmdump with the addon (Redis store, events on).

Starts a private redis-server (never port 6379), the stand-in LLM server and mitmdump, then
``--workers`` threads send distinct Anthropic Messages requests (half streamed) full of AWS
identifiers for ``--duration`` seconds, while it samples mitmdump's RSS, the Redis connections
the proxy holds, requests done, errors and events received. It fails (exit 1) when RSS grows by
more than 10% after the warm-up, a request fails, a reply is not fully restored, the upstream
sees an original, or the proxy holds more Redis connections than its pool allows.

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
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "addon")]

import httpx  # noqa: E402
import redis  # noqa: E402
from awsmasker.redis_client import MAX_CONNECTIONS  # noqa: E402
from awsmasker.tokens import TOKEN_RE  # noqa: E402

from testsupport.mitmdump import Mitmdump  # noqa: E402
from testsupport.redis_server import RedisServer  # noqa: E402
from testsupport.samples import ORIGINALS, PROMPT  # noqa: E402
from testsupport.standin import StandinConfig, StandinServer, reply_parts  # noqa: E402

RSS_LIMIT = 0.10  # growth allowed after warm-up
OWN_CLIENT = "soak-monitor"
EVENT_CHANNEL = "masker:soak-events"
FILLER = [
    "The deployment pipeline rolled out version 42 to the fleet.",
    'Log line: {\\"level\\": \\"info\\", \\"msg\\": \\"healthy\\"}\\n',
    "    \tindented\twith\ttabs and  double  spaces   ",
    "Ünïcödé prose — with dashes, “quotes” and emoji 🚀.",
]
#: a sample's columns: (key, header, format)
COLUMNS = (("t", "t (s)", "{:.1f}"), ("rss_mb", "RSS (MB)", "{:.1f}"),
           ("clients", "proxy Redis connections", "{}"), ("done", "requests", "{}"),
           ("errors", "errors", "{}"), ("events", "events", "{}"))


def pool_ids(k: int) -> list[str]:
    """The k-th identifiers of the pool: the store keeps minting until the pool is used up,
    and Redis holds at most 4 x pool mappings however long the run."""
    h = random.Random(k)
    return [f"i-{h.getrandbits(68):017x}", f"vpc-{h.getrandbits(32):08x}",
            f"arn:aws:iam::{h.randrange(10**11, 10**12)}:role/Soak{k}",
            f"10.{k >> 14 & 255}.{k >> 6 & 255}.{(k & 63) + 1}"]


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # done, streamed, errors, unrestored, leaks, …
        self.problems: list[str] = []  # the first ten
        self.sent: dict[str, list[str]] = {}  # nonce -> originals, until upstream was checked
        self.samples: list[dict[str, float]] = []
        self.rss: dict[str, float] = {}  # MB after warm-up (base), at the end, at the peak
        self.max_clients = 0
        self.stop = threading.Event()

    def problem(self, kind: str, text: str) -> None:
        with self.lock:
            self.counts[kind] += 1
            if len(self.problems) < 10:
                self.problems.append(f"{kind}: {text[:300]}")

    def worker(self, wid: int, url: str, proxy_url: str, deadline: float) -> None:
        """Distinct requests until ``deadline``, every other one streamed; each reply must
        hold every original it was sent, and no token."""
        rng = random.Random(f"{self.args.seed}:{wid}")
        with httpx.Client(proxy=proxy_url, timeout=30) as client:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                stream = (n + wid) % 2 == 0
                nonce = f"soak request number {wid * 10_000_000 + n} nonce {rng.getrandbits(48)}"
                originals = [*ORIGINALS, *pool_ids(rng.randrange(self.args.id_pool))]
                pad = " ".join(rng.choice(FILLER) for _ in range(rng.randrange(2, 60)))
                body = {"model": "standin", "max_tokens": 64, "stream": stream,
                        "system": "You are a cloud operator. Account 123456789012 owns "
                                  "vpc-0123abcd.",
                        "messages": [{"role": "user", "content": f"{nonce}. {PROMPT}\nNew "
                                      f"ones: {', '.join(originals[-4:])}.\n{pad}"}]}
                with self.lock:
                    self.sent[nonce] = originals
                try:
                    r = client.post(url, content=json.dumps(body).encode(), headers={
                        "content-type": "application/json", "x-api-key": "sk-soak",
                        "anthropic-version": "2023-06-01"})
                except httpx.HTTPError as e:
                    self.problem("errors", f"{type(e).__name__}: {e}")
                    continue
                if r.status_code != 200:
                    self.problem("errors", f"HTTP {r.status_code}: {r.text}")
                    continue
                try:
                    text, tool = reply_parts(r.content)
                    got = f"{text}\n{json.dumps(tool)}"
                except (ValueError, KeyError) as e:
                    self.problem("unrestored", f"unparsable reply ({e}): {r.text}")
                    continue
                missing = [o for o in originals if o not in got]
                if missing or TOKEN_RE.search(got):
                    self.problem("unrestored", f"missing {missing[:3]}, tokens left "
                                 f"{TOKEN_RE.findall(got)[:3]}")
                with self.lock:
                    self.counts["done"] += 1
                    self.counts["streamed"] += stream

    def check_upstream(self, standin: StandinServer) -> None:
        """No original of a request reached the stand-in."""
        while standin.cfg.requests:
            text = standin.cfg.requests.pop(0).body.decode("utf-8", "replace")
            at = text.find("soak request number ")
            with self.lock:
                originals = self.sent.pop(text[at:].split(".", 1)[0] if at >= 0 else "",
                                          ORIGINALS)
            self.counts["upstream_checked"] += 1
            if leaked := [o for o in originals if o in text]:
                self.problem("leaks", f"upstream saw {leaked[:3]}")

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
                with self.lock:
                    self.counts["events"] += len(ev["events"]) if ev.get("type") == "batch" else 1
        ps.close()

    def sample(self, t0: float, pid: int, r: redis.Redis, standin: StandinServer) -> None:
        self.check_upstream(standin)
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        c = self.counts
        s = {"t": time.monotonic() - t0,
             "rss_mb": next(int(ln.split()[1]) for ln in status if ln.startswith("VmRSS:")) / 1024,
             "clients": sum(1 for cl in r.client_list() if cl.get("name") != OWN_CLIENT),
             "done": c["done"], "errors": c["errors"] + c["unrestored"] + c["leaks"],
             "events": c["events"]}
        self.samples.append(s)
        print("".join(f"{fmt.format(s[k]):>10}" for k, _, fmt in COLUMNS), flush=True)

    def run(self, workdir: Path) -> list[str]:
        """The load and the samples; returns the reasons it failed (none: passed)."""
        a = self.args
        (workdir / "redis").mkdir()
        rs = RedisServer(workdir / "redis")
        rs.start()
        standin = StandinServer(StandinConfig(seed=a.seed)).start()
        key = base64.b64encode(os.urandom(32)).decode()
        proxy = None
        try:
            proxy = Mitmdump(workdir / "proxy", options=[
                "targets=127.0.0.1", "store=redis", f"redis_url={rs.url}",
                f"encryption_key={key}", "enable_event_monitoring=true",
                f"redis_event_channel={EVENT_CHANNEL}", "event_batch_size=10",
                "event_flush_interval_ms=200"])
            r = redis.Redis(port=rs.port, socket_timeout=5, client_name=OWN_CLIENT)
            threading.Thread(target=self.listen_events, daemon=True, args=(
                redis.Redis(port=rs.port, client_name=OWN_CLIENT),)).start()
            url = f"http://127.0.0.1:{standin.port}/v1/messages"
            t0 = time.monotonic()
            deadline = t0 + a.duration
            workers = [threading.Thread(target=self.worker, args=(i, url, proxy.url, deadline),
                                        daemon=True) for i in range(a.workers)]
            print(f"soak: {a.workers} workers for {a.duration:.0f} s, sample every "
                  f"{a.interval:.1f} s; mitmdump pid {proxy.proc.pid}, redis port {rs.port}")
            print("".join(f"{k:>10}" for k, _, _ in COLUMNS))
            self.sample(t0, proxy.proc.pid, r, standin)
            for w in workers:
                w.start()
            next_at = t0 + a.interval
            while time.monotonic() < deadline:
                time.sleep(max(0.0, min(next_at, deadline) - time.monotonic()))
                if time.monotonic() >= next_at:
                    self.sample(t0, proxy.proc.pid, r, standin)
                    next_at += a.interval
            for w in workers:
                w.join(60)
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

    def verdict(self, alive: bool) -> list[str]:
        c = self.counts
        after = [s["rss_mb"] for s in self.samples if s["t"] > self.args.warmup]
        base = [s["rss_mb"] for s in self.samples if s["t"] <= self.args.warmup][-1]
        self.rss = {"base": base, "end": statistics.median(after[-3:]) if after else base,
                    "peak": max(after, default=base)}
        self.max_clients = max(s["clients"] for s in self.samples)
        growth = self.rss["end"] / base - 1
        checks = [
            (not alive, "mitmdump exited"),
            (growth > RSS_LIMIT, f"RSS grew {growth:.1%} after warm-up (limit {RSS_LIMIT:.0%})"),
            (c["errors"], f"{c['errors']} requests failed"),
            (c["unrestored"], f"{c['unrestored']} replies not restored"),
            (c["leaks"], f"{c['leaks']} upstream requests held an original"),
            (self.max_clients > MAX_CONNECTIONS,
             f"proxy held {self.max_clients} Redis connections (pool {MAX_CONNECTIONS})"),
            (not c["done"], "no request completed"),
            (not c["events"], "no event received")]
        return [reason for failed, reason in checks if failed]

    def figures(self) -> list[str]:
        c = self.counts
        return [f"requests: {c['done']} ({c['streamed']} streamed, "
                f"{c['done'] / max(self.args.duration, 1e-9):.1f}/s); upstream bodies checked: "
                f"{c['upstream_checked']}",
                f"RSS after warm-up {self.rss['base']:.1f} MB → end {self.rss['end']:.1f} MB "
                f"(growth {self.rss['end'] / self.rss['base'] - 1:+.1%}, peak "
                f"{self.rss['peak']:.1f} MB)",
                f"max proxy Redis connections: {self.max_clients}",
                f"events received: {c['events']}"]


def markdown(soak: Soak, reasons: list[str]) -> str:
    a = soak.args
    lines = ["# aws-masker soak report", "",
             f"{a.workers} workers, {a.duration:.0f} s, Redis store, events on (batches of 10). "
             f"Warm-up: first {a.warmup:.0f} s.", "",
             "| " + " | ".join(h for _, h, _ in COLUMNS) + " |", "|---:" * len(COLUMNS) + "|"]
    lines += ["| " + " | ".join(fmt.format(s[k]) for k, _, fmt in COLUMNS) + " |"
              for s in soak.samples]
    lines += ["", *(f"- {f}" for f in soak.figures()), "",
              f"**Verdict: {'FAIL: ' + '; '.join(reasons) if reasons else 'PASS'}**"]
    if soak.problems:
        lines += ["", "First problems:", "", *(f"- `{p}`" for p in soak.problems)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60, help="seconds of load (default 60)")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--interval", type=float, default=None,
                    help="seconds between samples (default: duration/12, 1 to 60)")
    ap.add_argument("--warmup", type=float, default=None,
                    help="seconds of warm-up (default: the first 20%% of the run)")
    ap.add_argument("--id-pool", type=int, default=200_000,
                    help="distinct identifier sets drawn from (bounds Redis memory)")
    ap.add_argument("--seed", type=int, default=20240601)
    ap.add_argument("--report", type=Path, help="also write a Markdown report here")
    args = ap.parse_args(argv)
    args.warmup = args.duration * 0.2 if args.warmup is None else args.warmup
    args.interval = args.interval or min(60.0, max(1.0, args.duration / 12))
    soak = Soak(args)
    with tempfile.TemporaryDirectory(prefix="aws-masker-soak-") as tmp:
        reasons = soak.run(Path(tmp))
    print("; ".join(soak.figures()))
    for p in soak.problems:
        print(f"  {p}")
    print("VERDICT: " + ("FAIL: " + "; ".join(reasons) if reasons else "PASS"), flush=True)
    if args.report:
        args.report.write_text(markdown(soak, reasons))
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
