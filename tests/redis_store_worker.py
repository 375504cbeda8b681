"""A second "proxy process" for the Redis store tests.

    python redis_store_worker.py URL NAMESPACE KEY_B64 SEED TASKS PER_TASK < values.json

Reads ``[[type, value], ...]`` on stdin, runs TASKS concurrent resolves of PER_TASK random
values each (seeded) through its own SharedRedis + RedisStore, and prints
``[[[type, value], token], ...]`` for every value it was given a token for.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sys

from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import Finding
from awsmasker.store.keys import derive_keys
from awsmasker.store.redis_store import RedisStore


async def main(url: str, ns: str, key_b64: str, seed: int, tasks: int, per_task: int) -> None:
    values = [tuple(v) for v in json.load(sys.stdin)]
    rng = random.Random(seed)
    shared = SharedRedis(url)
    store = RedisStore(shared, derive_keys(base64.b64decode(key_b64)), namespace=ns, ttl=600)
    picks = [rng.sample(values, min(per_task, len(values))) for _ in range(tasks)]
    results = await asyncio.gather(
        *(store.resolve([Finding(t, v) for t, v in pick]) for pick in picks)
    )
    out = [
        [list(key), token]
        for pick, res in zip(picks, results, strict=True)
        for key, token in zip(pick, res.tokens, strict=True)
    ]
    await shared.close()
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    u, n, k, s, t, p = sys.argv[1:7]
    asyncio.run(main(u, n, k, int(s), int(t), int(p)))
