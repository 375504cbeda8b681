#!/usr/bin/env python3
"""Resolve latency of the Redis store vs the memory store, side by side, on loopback.

Starts a private redis-server on a free port (needs ``redis-server`` on PATH), then times
``resolve()`` of one body with N findings (all known, i.e. the steady state of a conversation),
N new findings (minting), and the client-side lookup hashes of N findings. Prints medians and
ratios; absolute numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import Finding
from awsmasker.store.keys import derive_keys
from awsmasker.store.memory import MemoryStore
from awsmasker.store.redis_store import RedisStore

from testsupport.redis_server import RedisServer


async def _time(fn, rounds: int) -> float:
    samples = []
    for i in range(rounds):
        t = time.perf_counter()
        await fn(i)
        samples.append(time.perf_counter() - t)
    return statistics.median(samples) * 1000


async def bench(url: str, n: int, rounds: int) -> None:
    shared = SharedRedis(url)
    store = RedisStore(shared, derive_keys(os.urandom(32)), namespace="bench", ttl=600)
    memory = MemoryStore()
    known = [Finding("EC2", f"i-{i:017x}") for i in range(n)]
    await store.resolve(known)
    await memory.resolve(known)
    present = (await store.resolve(known)).tokens

    def fresh(i: int) -> list[Finding]:
        return [Finding("VPC", f"vpc-{i:06d}{j:04d}") for j in range(n)]

    async def hashes(_: int) -> None:  # client-side work of every resolve, no I/O
        for f in known:
            store.lookup_hash(f)

    rows = {
        f"memory  resolve {n} known": await _time(lambda i: memory.resolve(known), rounds),
        f"redis   resolve {n} known": await _time(lambda i: store.resolve(known), rounds),
        f"redis   resolve {n} known + {n} present tokens":
            await _time(lambda i: store.resolve(known, present), rounds),
        f"redis   resolve {n} new (minting)":
            await _time(lambda i: store.resolve(fresh(i)), rounds),
        f"redis   client-side lookup hashes of {n}": await _time(hashes, rounds),
    }
    await shared.close()
    base = next(iter(rows.values()))
    for name, ms in rows.items():
        print(f"{name:<48} {ms:8.3f} ms  ({ms / base:7.1f}x memory)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--findings", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=200)
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        print("redis-server not found on PATH", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as d:
        server = RedisServer(Path(d), durable=False)
        server.start()
        try:
            asyncio.run(bench(server.url, args.findings, args.rounds))
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
