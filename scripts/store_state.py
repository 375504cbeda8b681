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

BATCH = 1000  # keys per SCAN step, per pipeline and per UNLINK


def store_keys(r: redis.Redis, ns: str) -> dict[str, list[tuple[str, str]]]:
    """The store's keys in ``ns`` by kind (kcv, counter, lookup, mapping), each with its type
    (counters and mappings). Other keys under the prefix are left out."""
    shape = re.compile(rf"{re.escape(ns)}:(?:(?P<kcv>kcv)|n:(?P<counter>[A-Z][A-Z0-9_]*)|"
                       r"(?P<lookup>v):[0-9a-f]{64}|t:(?P<mapping>[A-Z][A-Z0-9_]*):[0-9]+)\Z")
    found: dict[str, list[tuple[str, str]]] = {kind: [] for kind in shape.groupindex}
    glob = re.sub(r"([*?\[\]\\])", r"\\\1", ns) + ":*"
    for raw in r.scan_iter(match=glob, count=BATCH):
        key = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        if m := shape.match(key):
            found[str(m.lastgroup)].append((key, m[m.lastgroup]))
    return found


def collect_state(r: redis.Redis, ns: str) -> dict[str, Any]:
    found = store_keys(r, ns)
    live = Counter(t for _, t in found["mapping"])
    counters = found["counter"]
    minted = {t: int(v) for (_, t), v in zip(counters, r.mget([k for k, _ in counters])
                                             if counters else [], strict=True) if v is not None}
    ttls: list[float] = []
    for i in range(0, len(found["mapping"]), BATCH):
        pipe = r.pipeline(transaction=False)
        for k, _ in found["mapping"][i : i + BATCH]:
            pipe.pttl(k)
        ttls += [ms / 1000 for ms in pipe.execute() if ms >= 0]  # -2: expired meanwhile
    return {
        "namespace": ns,
        "types": {t: {"live_mappings": live.get(t, 0), "minted": minted.get(t, 0)}
                  for t in sorted(set(live) | set(minted))},
        "live_mappings": sum(live.values()),
        "ttl_seconds": ({"min": min(ttls), "median": statistics.median(ttls), "max": max(ttls)}
                        if ttls else None),
        "keys": {kind: len(v) for kind, v in found.items()},
        "total_keys": sum(len(v) for v in found.values()),
        "key_check_present": bool(found["kcv"]),
    }


def format_state(state: dict[str, Any]) -> str:
    lines = [f"namespace {state['namespace']!r}: {state['live_mappings']} live mappings, "
             f"{state['total_keys']} keys"]
    if state["types"]:
        lines.append(f"  {'type':<24} {'live':>10} {'minted':>10}")
        lines += [f"  {t:<24} {c['live_mappings']:>10} {c['minted']:>10}"
                  for t, c in state["types"].items()]
    if ttl := state["ttl_seconds"]:
        lines.append(f"  ttl (s): min {ttl['min']:.0f}  median {ttl['median']:.0f}  "
                     f"max {ttl['max']:.0f}")
    k = state["keys"]
    lines.append(f"  keys: {k['mapping']} mapping, {k['lookup']} lookup, {k['counter']} counter, "
                 f"{k['kcv']} key check")
    return "\n".join(lines)


def purge(r: redis.Redis, ns: str) -> int:
    keys = [k for kind in store_keys(r, ns).values() for k, _ in kind]
    for i in range(0, len(keys), BATCH):
        r.unlink(*keys[i : i + BATCH])
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
            print(f"purged namespace {args.namespace!r} at {url}: {purge(r, args.namespace)} "
                  "keys deleted")
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
