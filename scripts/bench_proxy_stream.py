"""Throughput of a large streamed SSE reply through plain mitmdump vs mitmdump with aws-masker.

One run on loopback: a generating upstream (tests/stream_upstream.py) sends the same Anthropic
text_delta stream (tokens spread through it) through both proxies, interleaved over several
repeats; prints MB/s for each, the throughput ratio (addon / plain) and each mitmdump's CPU
seconds (from /proc). Both proxies stream the body (plain one via ``stream_large_bodies``).

Run: ``.venv/bin/python scripts/bench_proxy_stream.py [--mb 64] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "addon")]

import httpx  # noqa: E402

from scripts.bench_overhead import cpu_ns  # noqa: E402
from tests.proxy_harness import Mitmdump  # noqa: E402
from tests.stream_upstream import SSE_HEADERS, BigSSE, UpstreamServer  # noqa: E402

ORIGINALS = ["i-0a1b2c3d4e5f67890", "vpc-0123abcd", "subnet-0fedcba9876543210", "10.20.30.40"]
MB = 1024 * 1024
BUDGET_S = 100  # stop adding repeats past this, to stay under two minutes


def cpu_seconds(pid: int) -> float:
    return cpu_ns(pid) / 1e9


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def request_json() -> dict:
    return {
        "model": "m",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "Look at " + ", ".join(ORIGINALS)}],
    }


def fetch(proxy: Mitmdump, url: str) -> tuple[int, int, float, float]:
    """(bytes received, b"AWS_" occurrences, seconds, mitmdump CPU seconds) of one reply."""
    cpu0 = cpu_seconds(proxy.proc.pid)
    n = marks = 0
    tail = b""
    t0 = time.perf_counter()
    with (
        httpx.Client(proxy=proxy.url, timeout=120) as client,
        client.stream("POST", url, json=request_json()) as resp,
    ):
        resp.raise_for_status()
        for chunk in resp.iter_raw(256 * 1024):
            n += len(chunk)
            marks += (tail + chunk[:3]).count(b"AWS_") + chunk.count(b"AWS_")
            tail = chunk[-3:]
    dt = time.perf_counter() - t0
    return n, marks, dt, cpu_seconds(proxy.proc.pid) - cpu0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=64, help="reply size in MiB")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    size = args.mb * MB
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, UpstreamServer(lambda t: ([], [])) as upstream:
        url = f"http://127.0.0.1:{upstream.port}/v1/messages"
        common = ["stream_large_bodies=1m"]
        plain = Mitmdump(Path(tmp) / "plain", options=common, with_addon=False)
        addon = Mitmdump(
            Path(tmp) / "addon",
            options=[*common, "targets=127.0.0.1", f"max_response_size={2 * size}"],
        )
        try:
            # Learn the addon's tokens for these originals, then send the same reply to both.
            upstream.reply = lambda t: (SSE_HEADERS, BigSSE(t, MB))
            fetch(addon, url)
            tokens = upstream.seen[-1].tokens
            reply = BigSSE(tokens, size)
            upstream.reply = lambda _t: (SSE_HEADERS, reply)
            print(
                f"reply: {reply.size / MB:.1f} MiB of SSE, "
                f"{sum(reply.expected_counts().values())} tokens ({len(tokens)} distinct)"
            )
            fetch(plain, url)  # warm-up
            results: dict[str, list[tuple[int, int, float, float]]] = {"plain": [], "addon": []}
            for i in range(args.repeats):
                if i and time.monotonic() - started > BUDGET_S:
                    print(f"time budget reached after {i} repeats")
                    break
                for name, proxy in (("plain", plain), ("addon", addon)):
                    r = fetch(proxy, url)
                    results[name].append(r)
                    n, marks, dt, cpu = r
                    print(
                        f"  {i + 1} {name:5}: {n / MB:7.1f} MiB in {dt:5.2f} s = "
                        f"{n / MB / dt:6.1f} MiB/s, mitmdump CPU {cpu:5.2f} s, "
                        f"'AWS_' seen {marks}"
                    )
            rates = {
                k: statistics.median(n / MB / dt for n, _, dt, _ in v) for k, v in results.items()
            }
            cpus = {k: statistics.median(c for *_, c in v) for k, v in results.items()}
            pids = {"plain": plain.proc.pid, "addon": addon.proc.pid}
            print()
            for k in ("plain", "addon"):
                print(
                    f"{k:5}: median {rates[k]:6.1f} MiB/s, mitmdump CPU {cpus[k]:5.2f} s per "
                    f"reply ({cpus[k] / (size / MB) * 100:.2f} s per 100 MiB), "
                    f"peak RSS {peak_rss_mb(pids[k]):.1f} MB"
                )
            assert all(m == 0 for _, m, _, _ in results["addon"]), "a token was not restored"
            print(
                f"throughput ratio addon/plain: {rates['addon'] / rates['plain']:.2f}  "
                f"(CPU ratio {cpus['addon'] / cpus['plain']:.2f})"
            )
        finally:
            plain.stop()
            addon.stop()
    print(f"total {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
