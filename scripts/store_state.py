#!/usr/bin/env python3
"""Show the Redis mapping store's state, or purge its namespace.

    scripts/store_state.py [--redis-url URL] [--namespace NS] [--json]
    scripts/store_state.py --purge --yes [--redis-url URL] [--namespace NS]

Prints live mappings and minted tokens per type, TTL statistics and key counts. It reads key
names, counters and TTLs only: mapping values are never fetched, so no original is ever shown and
no key is needed. ``--purge`` deletes the store's keys in the namespace (only the store's key
shapes, so an event stream sharing the prefix survives). Exit status: 0 ok, 1 usage/refused,
2 Redis unreachable or failing.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
from collections import Counter
from typing import Any

import redis
from awsmasker.config import Settings
from awsmasker.store.redis_store import redact_url

SCAN_COUNT = 1000
_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")


def _glob_escape(text: str) -> str:
    return _GLOB_SPECIAL.sub(r"\\\1", text)


def _shapes(ns: str) -> dict[str, re.Pattern[str]]:
    p = re.escape(ns)
    return {
        "kcv": re.compile(rf"{p}:kcv\Z"),
        "counter": re.compile(rf"{p}:n:(?P<type>[A-Z][A-Z0-9_]*)\Z"),
        "lookup": re.compile(rf"{p}:v:[0-9a-f]{{64}}\Z"),
        "mapping": re.compile(rf"{p}:t:(?P<type>[A-Z][A-Z0-9_]*):[0-9]+\Z"),
    }


def store_keys(r: redis.Redis, ns: str) -> dict[str, list[str]]:
    """The store's keys in ``ns`` by kind (kcv, counter, lookup, mapping)."""
    shapes = _shapes(ns)
    found: dict[str, list[str]] = {kind: [] for kind in shapes}
    esc = _glob_escape(ns)
    for pattern in (f"{esc}:kcv", f"{esc}:n:*", f"{esc}:v:*", f"{esc}:t:*"):
        for raw in r.scan_iter(match=pattern, count=SCAN_COUNT):
            key = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
            for kind, rx in shapes.items():
                if rx.match(key):
                    found[kind].append(key)
                    break
    return found


def _ttls(r: redis.Redis, keys: list[str]) -> list[float]:
    out: list[float] = []
    for i in range(0, len(keys), SCAN_COUNT):
        pipe = r.pipeline(transaction=False)
        for k in keys[i : i + SCAN_COUNT]:
            pipe.pttl(k)
        out += [ms / 1000 for ms in pipe.execute() if ms >= 0]  # -2: expired meanwhile
    return out


def collect_state(r: redis.Redis, ns: str) -> dict[str, Any]:
    found = store_keys(r, ns)
    shapes = _shapes(ns)
    live = Counter(shapes["mapping"].match(k)["type"] for k in found["mapping"])  # type: ignore[index]
    minted: dict[str, int] = {}
    if found["counter"]:
        values = r.mget(found["counter"])
        for k, v in zip(found["counter"], values, strict=True):
            if v is not None:
                minted[shapes["counter"].match(k)["type"]] = int(v)  # type: ignore[index]
    ttls = _ttls(r, found["mapping"])
    types = sorted(set(live) | set(minted))
    return {
        "namespace": ns,
        "types": {t: {"live_mappings": live.get(t, 0), "minted": minted.get(t, 0)} for t in types},
        "live_mappings": sum(live.values()),
        "ttl_seconds": (
            {"min": min(ttls), "median": statistics.median(ttls), "max": max(ttls)}
            if ttls else None
        ),
        "keys": {kind: len(v) for kind, v in found.items()},
        "total_keys": sum(len(v) for v in found.values()),
        "key_check_present": bool(found["kcv"]),
    }


def format_state(state: dict[str, Any]) -> str:
    lines = [f"namespace {state['namespace']!r}: {state['live_mappings']} live mappings, "
             f"{state['total_keys']} keys"]
    if state["types"]:
        lines.append(f"  {'type':<24} {'live':>10} {'minted':>10}")
        for t, c in state["types"].items():
            lines.append(f"  {t:<24} {c['live_mappings']:>10} {c['minted']:>10}")
    ttl = state["ttl_seconds"]
    if ttl:
        lines.append(f"  ttl (s): min {ttl['min']:.0f}  median {ttl['median']:.0f}  "
                     f"max {ttl['max']:.0f}")
    k = state["keys"]
    lines.append(f"  keys: {k['mapping']} mapping, {k['lookup']} lookup, {k['counter']} counter, "
                 f"{k['kcv']} key check")
    return "\n".join(lines)


def purge(r: redis.Redis, ns: str) -> int:
    found = store_keys(r, ns)
    keys = [k for kind in found.values() for k in kind]
    for i in range(0, len(keys), SCAN_COUNT):
        r.unlink(*keys[i : i + SCAN_COUNT])
    return len(keys)


def main(argv: list[str] | None = None) -> int:
    defaults = Settings()
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis-url", default=defaults.redis_url)
    ap.add_argument("--namespace", default=defaults.redis_namespace)
    ap.add_argument("--json", action="store_true", help="print the state as JSON")
    ap.add_argument("--purge", action="store_true", help="delete the store's keys in the namespace")
    ap.add_argument("--yes", action="store_true", help="confirm --purge")
    args = ap.parse_args(argv)
    url = redact_url(args.redis_url)
    if args.purge and not args.yes:
        print(f"--purge deletes every mapping in namespace {args.namespace!r} at {url}; "
              "proxies using it mint new tokens afterwards. Add --yes to confirm.",
              file=sys.stderr)
        return 1
    try:
        r = redis.Redis.from_url(args.redis_url, socket_timeout=5, socket_connect_timeout=5)
    except ValueError as e:
        print(f"invalid --redis-url {url}: {e}", file=sys.stderr)
        return 1
    try:
        if args.purge:
            n = purge(r, args.namespace)
            print(f"purged namespace {args.namespace!r} at {url}: {n} keys deleted")
            return 0
        state = collect_state(r, args.namespace)
    except redis.RedisError as e:
        print(f"cannot read the store at {url}: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    finally:
        r.close()
    print(json.dumps(state, indent=2) if args.json else format_state(state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
