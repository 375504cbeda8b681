#!/usr/bin/env python3
"""Watch aws-masker events live: the backend side of ``enable_event_monitoring``.

Subscribes to the event channel (or, with ``--stream``, reads the Redis Stream and can replay it),
prints one compact line per event (at most ``--max-lines-per-sec``, then a "k suppressed" line), a
periodic summary (events/s, masks per type, p50/p99 duration, drops reported by the proxy), and
keeps going across Redis restarts. SIGINT/SIGTERM print a final summary and exit 0.

    python scripts/watch_events.py                       # pub/sub, human-readable
    python scripts/watch_events.py --stream --from-start # replay the stream, then follow it
    python scripts/watch_events.py --json | jq .         # one JSON event per line on stdout
    python scripts/watch_events.py --quiet               # flow id, type, duration

Status lines (connected, lost, reconnected) go to stderr; in ``--json`` mode so do the summaries and
"suppressed" notices, so stdout stays pure JSON lines.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import math
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any, TextIO

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_CHANNEL = "masker:events"
#: Durations kept for percentiles (per window and overall); older ones are forgotten.
MAX_SAMPLES = 100_000
#: Extra event fields shown in the compact line, in this order.
SHOWN_EXTRA = ("status", "reason", "store", "fallback", "stage", "wire_format", "flags",
               "truncated", "error_type")


# --------------------------------------------------------------------------------------------
# Parsing


def events_of(data: bytes | str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The events in one message and, for a batch, its envelope (without the events).
    Raises ValueError for a message that is not an event or a batch."""
    msg = json.loads(data)
    if not isinstance(msg, dict):
        raise ValueError("message is not a JSON object")
    if msg.get("type") == "batch":
        events = msg.get("events")
        if not isinstance(events, list):
            raise ValueError("batch without an events list")
        envelope = {k: v for k, v in msg.items() if k != "events"}
        return [e for e in events if isinstance(e, dict)], envelope
    if "event_type" not in msg:
        raise ValueError("message has no event_type")
    return [msg], None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


# --------------------------------------------------------------------------------------------
# Statistics


class Window:
    """Counts over one period (a summary interval, or the whole run)."""

    def __init__(self, now: float) -> None:
        self.started = now
        self.events = 0
        self.by_type: collections.Counter[str] = collections.Counter()
        self.masks: collections.Counter[str] = collections.Counter()
        self.durations: collections.deque[float] = collections.deque(maxlen=MAX_SAMPLES)

    def add(self, ev: dict[str, Any]) -> None:
        etype = str(ev.get("event_type", "?"))
        if etype == "stats":
            return
        self.events += 1
        self.by_type[etype] += 1
        counts = ev.get("counts")
        if etype == "masked" and isinstance(counts, dict):
            for t, n in counts.items():
                if isinstance(n, int):
                    self.masks[str(t)] += n
        d = ev.get("duration_ms")
        if isinstance(d, int | float) and not isinstance(d, bool):
            self.durations.append(float(d))


class Tracker:
    """Window and total statistics plus the latest drop counters each proxy reported."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.total = Window(clock())
        self.window = Window(clock())
        self.dropped: dict[str, dict[str, int]] = {}  # publisher id -> latest cumulative counts
        #: the cumulative drop counts when the current window began (a window shows the change)
        self.window_dropped_base: dict[str, int] = {}
        self.malformed = 0

    def add(self, ev: dict[str, Any]) -> None:
        self.total.add(ev)
        self.window.add(ev)
        if ev.get("event_type") == "stats":
            self.report_drops(ev.get("publisher"), ev.get("dropped"))

    def report_drops(self, publisher: Any, dropped: Any) -> None:
        if isinstance(dropped, dict):
            self.dropped[str(publisher or "?")] = {
                str(k): int(v) for k, v in dropped.items() if isinstance(v, int)
            }

    def dropped_total(self) -> dict[str, int]:
        out: collections.Counter[str] = collections.Counter()
        for counts in self.dropped.values():
            out.update(counts)
        return dict(out)

    def new_window(self) -> None:
        """Start the next summary window: its counts, and its drops, begin at zero."""
        self.window = Window(self._clock())
        self.window_dropped_base = self.dropped_total()

    def summary(self, w: Window, label: str, suppressed: int) -> str:
        """One line of counts for window ``w``; drops are those reported during it (the proxies
        report cumulative counts: the window shows how much they grew)."""
        elapsed = max(1e-9, self._clock() - w.started)
        durs = sorted(w.durations)
        types = " ".join(f"{t}={n}" for t, n in sorted(w.by_type.items())) or "-"
        masks = " ".join(f"{t}={n}" for t, n in w.masks.most_common()) or "-"
        base = self.window_dropped_base if w is self.window else {}
        grown = {k: v - base.get(k, 0) for k, v in self.dropped_total().items()}
        dropped = " ".join(
            f"{k.removeprefix('dropped_')}={v}" for k, v in sorted(grown.items()) if v
        ) or ("none" if self.dropped else "none reported")
        parts = [
            f"[summary {label} {elapsed:.1f}s] {w.events} events ({w.events / elapsed:.1f}/s) "
            f"{types}",
            f"masks {masks}",
            f"duration_ms p50={percentile(durs, 50):.2f} p99={percentile(durs, 99):.2f}",
            f"proxy dropped {dropped}",
        ]
        if suppressed:
            parts.append(f"lines suppressed {suppressed}")
        if self.malformed:
            parts.append(f"malformed {self.malformed}")
        return " | ".join(parts)


# --------------------------------------------------------------------------------------------
# Output


class Output:
    """Formats events and enforces the line rate limit (``max_per_sec`` 0: unlimited)."""

    def __init__(self, mode: str, max_per_sec: int, clock: Callable[[], float],
                 out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> None:
        self.mode = mode  # "line", "json" or "quiet"
        self.max_per_sec = max_per_sec
        self._clock = clock
        self.out = out
        # Notices and summaries must not corrupt a JSON stream.
        self.notice_out = err if mode == "json" else out
        self.err = err
        self._window_start = clock()
        self._in_window = 0
        self._suppressed = 0
        self.suppressed_total = 0

    def write(self, stream: TextIO, line: str) -> None:
        stream.write(line + "\n")
        stream.flush()

    def status(self, text: str) -> None:
        self.write(self.err, f"[watch] {text}")

    def notice(self, text: str) -> None:
        self.write(self.notice_out, text)

    def tick(self) -> None:
        """Close the current one-second window when it is over."""
        if self._clock() - self._window_start >= 1.0:
            self.flush_suppressed()
            self._window_start = self._clock()
            self._in_window = 0

    def flush_suppressed(self) -> None:
        if self._suppressed:
            self.notice(f"... {self._suppressed} suppressed (limit {self.max_per_sec} lines/s)")
            self.suppressed_total += self._suppressed
            self._suppressed = 0

    def event(self, ev: dict[str, Any]) -> None:
        line = self.format(ev)
        if line is None:
            return
        self.tick()
        if self.max_per_sec and self._in_window >= self.max_per_sec:
            self._suppressed += 1
            return
        self._in_window += 1
        self.write(self.out, line)

    def format(self, ev: dict[str, Any]) -> str | None:
        if self.mode == "json":
            return json.dumps(ev, separators=(",", ":"), sort_keys=True)
        etype = str(ev.get("event_type", "?"))
        duration = ev.get("duration_ms", 0)
        if self.mode == "quiet":
            if etype == "stats":
                return None
            return f"{ev.get('flow_id', '-')} {etype} {duration}ms"
        ts = str(ev.get("timestamp", ""))
        clock = ts[11:23] if len(ts) >= 23 else ts
        if etype == "stats":
            dropped = ev.get("dropped") or {}
            text = " ".join(f"{k}={v}" for k, v in sorted(dropped.items()))
            return f"{clock} {'stats':<15} publisher={ev.get('publisher', '?')} {text}"
        counts = ev.get("counts") or {}
        count_text = ",".join(f"{t}={n}" for t, n in counts.items()) or "-"
        tokens = [str(t) for t in ev.get("tokens") or ()]
        token_text = ",".join(tokens[:5]) + (f",+{len(tokens) - 5}" if len(tokens) > 5 else "")
        extras = " ".join(f"{k}={_short(ev[k])}" for k in SHOWN_EXTRA if k in ev)
        fields = [
            clock, f"{etype:<15}", f"flow={ev.get('flow_id', '-')}",
            f"{ev.get('host', '')}{ev.get('path', '')}", count_text,
            f"{ev.get('bytes', 0)}B", f"{duration}ms",
        ]
        if token_text:
            fields.append(token_text)
        if extras:
            fields.append(extras)
        return " ".join(fields)


def display_url(url: str) -> str:
    """``url`` without its password."""
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        rest = "***@" + rest.split("@", 1)[1]
    return scheme + sep + rest


def _short(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


# --------------------------------------------------------------------------------------------
# Redis sources


class Watcher:
    def __init__(self, args: argparse.Namespace, output: Output, tracker: Tracker) -> None:
        self.args = args
        self.output = output
        self.tracker = tracker
        self.connected_once = False
        self.last_id: str | None = None  # stream: id of the last entry read (resume point)
        self.backoff = args.min_backoff
        #: when the current outage began (monotonic), None while connected
        self.down_since: float | None = None
        self.warned_no_stream = False

    def handle(self, data: bytes | str) -> None:
        try:
            events, envelope = events_of(data)
        except (ValueError, TypeError):
            self.tracker.malformed += 1
            return
        if envelope is not None:
            self.tracker.report_drops(envelope.get("publisher"), envelope.get("dropped"))
        for ev in events:
            self.tracker.add(ev)
            self.output.event(ev)

    def client(self) -> aioredis.Redis:
        # No silent retries inside redis-py: a lost connection surfaces here and is handled by
        # ``run`` (status line, backoff, resubscribe / resume from the last stream id).
        return aioredis.Redis.from_url(
            self.args.redis_url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=3.0,
            socket_timeout=None if not self.args.stream else 5.0,
            health_check_interval=15,
        )

    async def run(self) -> None:
        """Read forever, reconnecting with capped, jittered exponential backoff."""
        self.backoff = self.args.min_backoff
        while True:
            client = self.client()
            try:
                if self.args.stream:
                    if self.last_id is None:
                        self.last_id = await self._resolve_start(client)
                    await self._read_stream(client)
                else:
                    await self._read_pubsub(client)
            except (RedisError, OSError) as e:
                delay = self.backoff * random.uniform(0.8, 1.2)
                if self.down_since is None:  # one line per outage, not one per retry
                    self.down_since = time.monotonic()
                    what = "connection lost" if self.connected_once else "cannot connect"
                    self.output.status(f"redis {what} ({type(e).__name__}: {e}); retrying "
                                       f"every {self.args.max_backoff:g}s at most")
                await asyncio.sleep(delay)
                self.backoff = min(self.args.max_backoff, self.backoff * 2)
            finally:
                with contextlib.suppress(Exception):
                    await client.aclose()

    def _connected(self, what: str) -> None:
        verb = "reconnected" if self.connected_once else "connected"
        if self.down_since is not None:
            verb += f" after {time.monotonic() - self.down_since:.1f}s"
            self.down_since = None
        self.connected_once = True
        self.backoff = self.args.min_backoff
        self.output.status(f"{verb}: {what} at {display_url(self.args.redis_url)}")

    async def _read_pubsub(self, client: aioredis.Redis) -> None:
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(self.args.channel)
            self._connected(f"subscribed to channel {self.args.channel}")
            while True:
                msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if msg is not None and msg.get("type") == "message":
                    self.handle(msg["data"])
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()

    async def _resolve_start(self, client: aioredis.Redis) -> str:
        if self.args.from_start:
            return "0-0"
        # "$" once, turned into a concrete id so nothing between two XREADs is missed.
        last = await client.xrevrange(self.args.channel, count=1)
        return last[0][0].decode() if last else "0-0"

    async def _read_stream(self, client: aioredis.Redis) -> None:
        await client.ping()
        self._connected(f"reading stream {self.args.channel} after id {self.last_id}")
        if not await client.exists(self.args.channel) and not self.warned_no_stream:
            self.warned_no_stream = True
            self.output.status(
                f"the stream {self.args.channel} does not exist yet: the proxy writes it only "
                "with event_sink: stream or both (the default, pubsub, does not); waiting for it")
        while True:
            resp = await client.xread({self.args.channel: self.last_id}, count=500, block=1000)
            for _key, entries in resp or ():
                for entry_id, fields in entries:
                    data = fields.get(b"data") or fields.get("data")
                    if data is not None:
                        self.handle(data)
                    self.last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="masker.yaml to read redis_url and redis_event_channel from")
    p.add_argument("--redis-url", help=f"default: $AWS_MASKER_REDIS_URL or {DEFAULT_URL}")
    p.add_argument("--channel", help=f"channel / stream key (default {DEFAULT_CHANNEL})")
    p.add_argument("--stream", action="store_true", help="read the Redis Stream, not pub/sub")
    p.add_argument("--from-start", action="store_true",
                   help="with --stream: replay the whole stream first (default: only new events)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="one JSON event per line on stdout")
    mode.add_argument("--quiet", action="store_true", help="only flow id, type and duration")
    p.add_argument("--max-lines-per-sec", type=int, default=None,
                   help="event lines per second before suppressing (0: unlimited; "
                        "default 50, unlimited with --json)")
    p.add_argument("--summary-every", type=float, default=10.0,
                   help="seconds between summaries (0: only the final one)")
    p.add_argument("--min-backoff", type=float, default=0.5, help=argparse.SUPPRESS)
    p.add_argument("--max-backoff", type=float, default=10.0,
                   help="longest wait between reconnection attempts (seconds)")
    args = p.parse_args(list(argv) if argv is not None else None)
    file_values: dict[str, Any] = {}
    if args.config:
        from awsmasker.config import ConfigError, load_file

        try:
            file_values = load_file(args.config)
        except ConfigError as e:
            p.error(str(e))
    args.redis_url = (args.redis_url or file_values.get("redis_url")
                      or os.environ.get("AWS_MASKER_REDIS_URL") or DEFAULT_URL)
    args.channel = args.channel or file_values.get("redis_event_channel") or DEFAULT_CHANNEL
    if args.from_start and not args.stream:
        p.error("--from-start needs --stream (pub/sub cannot replay)")
    if args.max_lines_per_sec is None:
        args.max_lines_per_sec = 0 if args.json else 50
    if args.max_lines_per_sec < 0 or args.summary_every < 0:
        p.error("--max-lines-per-sec and --summary-every must not be negative")
    return args


async def amain(args: argparse.Namespace) -> int:
    clock = time.monotonic
    mode = "json" if args.json else "quiet" if args.quiet else "line"
    output = Output(mode, args.max_lines_per_sec, clock)
    tracker = Tracker(clock)
    watcher = Watcher(args, output, tracker)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def ticker() -> None:
        next_summary = clock() + args.summary_every if args.summary_every else None
        while True:
            await asyncio.sleep(0.2)
            output.tick()
            if next_summary is not None and clock() >= next_summary:
                output.flush_suppressed()
                output.notice(tracker.summary(tracker.window, "last", output.suppressed_total))
                tracker.new_window()
                next_summary = clock() + args.summary_every

    reader = asyncio.create_task(watcher.run())
    tick = asyncio.create_task(ticker())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({reader, tick, stopper}, return_when=asyncio.FIRST_COMPLETED)
    for task in (reader, tick, stopper):
        task.cancel()
    for task in (reader, tick, stopper):
        with contextlib.suppress(asyncio.CancelledError):
            await task
    output.flush_suppressed()
    output.notice(tracker.summary(tracker.total, "total", output.suppressed_total))
    failed = next((t for t in (reader, tick) if t.done() and not t.cancelled()
                   and t.exception() is not None), None)
    if failed is not None:
        output.status(f"internal error: {failed.exception()!r}")
        return 1
    return 0


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return asyncio.run(amain(args))
    except BrokenPipeError:  # piped into `head` and friends
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit flush
        return 0


if __name__ == "__main__":
    sys.exit(main())
