"""Watch aws-masker events live: the backend side of ``enable_event_monitoring``.

Subscribes to the event channel (or, with ``--stream``, reads the Redis Stream and can replay it),
prints one compact line per event (at most ``--max-lines-per-sec``, then a "k suppressed" line), a
periodic summary (events/s, masks per type, p50/p99 duration, drops reported by the proxy), and
keeps going across Redis restarts. SIGINT/SIGTERM print a final summary and exit 0.

    python -m awsmasker watch                        # pub/sub, human-readable
    python -m awsmasker watch --stream --from-start  # replay the stream, then follow it
    python -m awsmasker watch --json | jq .          # one JSON event per line on stdout
    python -m awsmasker watch --quiet                # flow id, type, duration

Status lines (connected, lost, reconnected) go to stderr; in ``--json`` mode so do the summaries and
"suppressed" notices, so stdout stays pure JSON lines.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import math
import os
import random
import signal
import sys
import time
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from awsmasker.config import ConfigError, Settings, load_file
from awsmasker.store.redis_store import redact_url

#: Durations kept for percentiles (per window and overall); older ones are forgotten.
MAX_SAMPLES = 100_000
#: Extra event fields shown in the compact line, in this order.
SHOWN_EXTRA = ("status", "reason", "store", "fallback", "stage", "wire_format", "flags",
               "truncated", "error_type")
POLL = 0.2  # seconds a read may block: how soon a signal, a tick or a retry is seen
MIN_BACKOFF = 0.5  # seconds before the first reconnection attempt, doubled up to --max-backoff


def events_of(data: bytes | str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The events in one message and, for a batch, its envelope (without the events).
    Raises ValueError for a message that is not an event or a batch."""
    msg = json.loads(data)
    if not isinstance(msg, dict):
        raise ValueError("message is not a JSON object")
    if msg.get("type") == "batch":
        if not isinstance(msg.get("events"), list):
            raise ValueError("batch without an events list")
        envelope = {k: v for k, v in msg.items() if k != "events"}
        return [e for e in msg["events"] if isinstance(e, dict)], envelope
    if "event_type" not in msg:
        raise ValueError("message has no event_type")
    return [msg], None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


class Window:
    """Counts over one period (a summary interval, or the whole run)."""

    def __init__(self, now: float, dropped_base: dict[str, int]) -> None:
        self.started = now
        self.dropped_base = dropped_base  # the proxies' cumulative drops when it began
        self.by_type: collections.Counter[str] = collections.Counter()
        self.masks: collections.Counter[str] = collections.Counter()
        self.durations: collections.deque[float] = collections.deque(maxlen=MAX_SAMPLES)

    def add(self, ev: dict[str, Any]) -> None:
        etype = str(ev.get("event_type", "?"))
        self.by_type[etype] += 1
        if etype == "masked" and isinstance(counts := ev.get("counts"), dict):
            self.masks.update({str(t): n for t, n in counts.items() if isinstance(n, int)})
        d = ev.get("duration_ms")
        if isinstance(d, int | float) and not isinstance(d, bool):
            self.durations.append(float(d))


class Tracker:
    """Window and total statistics plus the latest drop counters each proxy reported."""

    def __init__(self) -> None:
        self.total = Window(time.monotonic(), {})
        self.window = Window(time.monotonic(), {})
        self.dropped: dict[str, dict[str, int]] = {}  # publisher id -> latest cumulative counts
        self.malformed = 0

    def add(self, ev: dict[str, Any]) -> None:
        if ev.get("event_type") == "stats":
            self.report_drops(ev.get("publisher"), ev.get("dropped"))
            return
        self.total.add(ev)
        self.window.add(ev)

    def report_drops(self, publisher: Any, dropped: Any) -> None:
        if isinstance(dropped, dict):
            self.dropped[str(publisher or "?")] = {
                str(k): v for k, v in dropped.items() if isinstance(v, int)}

    def dropped_total(self) -> collections.Counter[str]:
        return sum(map(collections.Counter, self.dropped.values()), collections.Counter())

    def new_window(self) -> None:
        """Start the next summary window: its counts, and its drops, begin at zero."""
        self.window = Window(time.monotonic(), dict(self.dropped_total()))

    def summary(self, w: Window, label: str, suppressed: int) -> str:
        """One line of counts for window ``w``; drops are those reported during it (the proxies
        report cumulative counts: the window shows how much they grew)."""
        elapsed = max(1e-9, time.monotonic() - w.started)
        durs = sorted(w.durations)
        events = sum(w.by_type.values())
        grown = {k: v - w.dropped_base.get(k, 0) for k, v in self.dropped_total().items()}
        dropped = " ".join(f"{k.removeprefix('dropped_')}={v}"
                           for k, v in sorted(grown.items()) if v)
        parts = [f"[summary {label} {elapsed:.1f}s] {events} events ({events / elapsed:.1f}/s) "
                 + (" ".join(f"{t}={n}" for t, n in sorted(w.by_type.items())) or "-"),
                 "masks " + (" ".join(f"{t}={n}" for t, n in w.masks.most_common()) or "-"),
                 f"duration_ms p50={percentile(durs, 50):.2f} p99={percentile(durs, 99):.2f}",
                 "proxy dropped " + (dropped or ("none" if self.dropped else "none reported"))]
        if suppressed:
            parts.append(f"lines suppressed {suppressed}")
        if self.malformed:
            parts.append(f"malformed {self.malformed}")
        return " | ".join(parts)


def short(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def format_event(ev: dict[str, Any], mode: str) -> str | None:
    """One line for an event in ``mode`` ("line", "json" or "quiet"); None: not shown."""
    if mode == "json":
        return json.dumps(ev, separators=(",", ":"), sort_keys=True)
    etype = str(ev.get("event_type", "?"))
    duration = ev.get("duration_ms", 0)
    if mode == "quiet":
        return None if etype == "stats" else f"{ev.get('flow_id', '-')} {etype} {duration}ms"
    ts = str(ev.get("timestamp", ""))
    clock = ts[11:23] if len(ts) >= 23 else ts
    if etype == "stats":
        dropped = " ".join(f"{k}={v}" for k, v in sorted((ev.get("dropped") or {}).items()))
        return f"{clock} {'stats':<15} publisher={ev.get('publisher', '?')} {dropped}"
    tokens = [str(t) for t in ev.get("tokens") or ()]
    fields = [clock, f"{etype:<15}", f"flow={ev.get('flow_id', '-')}",
              f"{ev.get('host', '')}{ev.get('path', '')}",
              ",".join(f"{t}={n}" for t, n in (ev.get("counts") or {}).items()) or "-",
              f"{ev.get('bytes', 0)}B", f"{duration}ms",
              ",".join(tokens[:5]) + (f",+{len(tokens) - 5}" if len(tokens) > 5 else ""),
              " ".join(f"{k}={short(ev[k])}" for k in SHOWN_EXTRA if k in ev)]
    return " ".join(f for f in fields if f)


class Output:
    """Writes event lines at most ``max_per_sec`` a second (0: unlimited), then counts the rest
    and says how many at the end of the second; notices and summaries never go into a JSON
    stream."""

    def __init__(self, mode: str, max_per_sec: int) -> None:
        self.mode, self.max_per_sec = mode, max_per_sec
        self.notices = sys.stderr if mode == "json" else sys.stdout
        self.second, self.shown, self.suppressed, self.suppressed_total = time.monotonic(), 0, 0, 0

    def status(self, text: str) -> None:
        print(f"[watch] {text}", file=sys.stderr, flush=True)

    def tick(self) -> None:
        """Close the current one-second window when it is over."""
        if time.monotonic() - self.second >= 1.0:
            self.flush_suppressed()
            self.second, self.shown = time.monotonic(), 0

    def flush_suppressed(self) -> None:
        if self.suppressed:
            print(f"... {self.suppressed} suppressed (limit {self.max_per_sec} lines/s)",
                  file=self.notices, flush=True)
            self.suppressed_total += self.suppressed
            self.suppressed = 0

    def event(self, ev: dict[str, Any]) -> None:
        if (line := format_event(ev, self.mode)) is None:
            return
        self.tick()
        if self.max_per_sec and self.shown >= self.max_per_sec:
            self.suppressed += 1
        else:
            self.shown += 1
            print(line, flush=True)


class Source:
    """The channel (pub/sub) or the stream, read ``POLL`` seconds at a time; a lost connection
    is retried with capped, jittered exponential backoff (one status line per outage), then
    pub/sub subscribes again and the stream resumes after the last id read."""

    def __init__(self, args: argparse.Namespace, output: Output) -> None:
        self.args, self.output = args, output
        self.client: redis.Redis | None = None
        self.pubsub: Any = None
        self.last_id: str | None = None  # stream: the id of the last entry read
        self.backoff, self.retry_at = MIN_BACKOFF, 0.0
        self.down_since: float | None = None  # when the current outage began
        self.connected_once = self.warned_no_stream = False

    def connect(self) -> None:
        a = self.args
        # no silent retries inside redis-py: a lost connection surfaces in ``read``
        self.client = redis.Redis.from_url(a.redis_url, retry=Retry(NoBackoff(), 0),
                                           socket_connect_timeout=3.0, socket_timeout=5.0,
                                           health_check_interval=15)
        if a.stream:
            if self.last_id is None:  # "$" once, as a concrete id: nothing is missed later
                last = [] if a.from_start else self.client.xrevrange(a.channel, count=1)
                self.last_id = last[0][0].decode() if last else "0-0"
            self.client.ping()
            what = f"reading stream {a.channel} after id {self.last_id}"
        else:
            self.pubsub = self.client.pubsub(ignore_subscribe_messages=True)
            self.pubsub.subscribe(a.channel)
            what = f"subscribed to channel {a.channel}"
        verb = "reconnected" if self.connected_once else "connected"
        if self.down_since is not None:
            verb += f" after {time.monotonic() - self.down_since:.1f}s"
        self.down_since, self.connected_once, self.backoff = None, True, MIN_BACKOFF
        self.output.status(f"{verb}: {what} at {redact_url(a.redis_url)}")
        if a.stream and not self.client.exists(a.channel) and not self.warned_no_stream:
            self.warned_no_stream = True
            self.output.status(
                f"the stream {a.channel} does not exist yet: the proxy writes it only with "
                "event_sink: stream or both (the default, pubsub, does not); waiting for it")

    def read(self) -> list[bytes]:
        """The messages that arrive within ``POLL`` seconds."""
        try:
            if self.client is None:
                if time.monotonic() < self.retry_at:
                    time.sleep(POLL)
                    return []
                self.connect()
            assert self.client is not None
            if not self.args.stream:
                msg = self.pubsub.get_message(timeout=POLL)
                return [msg["data"]] if msg and msg["type"] == "message" else []
            out = []
            for _key, entries in self.client.xread({self.args.channel: self.last_id},
                                                   count=500, block=int(POLL * 1000)) or ():
                for entry_id, fields in entries:
                    out += [fields[b"data"]] if b"data" in fields else []
                    self.last_id = entry_id.decode()
            return out
        except (redis.RedisError, OSError) as e:
            if self.down_since is None:
                self.down_since = time.monotonic()
                what = "connection lost" if self.connected_once else "cannot connect"
                self.output.status(f"redis {what} ({type(e).__name__}: {e}); retrying every "
                                   f"{self.args.max_backoff:g}s at most")
            self.close()
            self.retry_at = time.monotonic() + self.backoff * random.uniform(0.8, 1.2)
            self.backoff = min(self.args.max_backoff, self.backoff * 2)
            return []

    def close(self) -> None:
        for conn in (self.pubsub, self.client):
            with contextlib.suppress(Exception):
                conn and conn.close()
        self.client = self.pubsub = None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = Settings()
    p = argparse.ArgumentParser(prog="python -m awsmasker watch",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--config", help="masker.yaml to read redis_url and redis_event_channel from")
    p.add_argument("--redis-url", help=f"default: $AWS_MASKER_REDIS_URL or {defaults.redis_url}")
    p.add_argument("--channel",
                   help=f"channel / stream key (default {defaults.redis_event_channel})")
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
    p.add_argument("--max-backoff", type=float, default=10.0,
                   help="longest wait between reconnection attempts (seconds)")
    args = p.parse_args(argv)
    file_values: dict[str, Any] = {}
    if args.config:
        try:
            file_values = load_file(args.config)
        except ConfigError as e:
            p.error(str(e))
    args.redis_url = (args.redis_url or file_values.get("redis_url")
                      or os.environ.get("AWS_MASKER_REDIS_URL") or defaults.redis_url)
    args.channel = (args.channel or file_values.get("redis_event_channel")
                    or defaults.redis_event_channel)
    if args.from_start and not args.stream:
        p.error("--from-start needs --stream (pub/sub cannot replay)")
    if args.max_lines_per_sec is None:
        args.max_lines_per_sec = 0 if args.json else 50
    if args.max_lines_per_sec < 0 or args.summary_every < 0:
        p.error("--max-lines-per-sec and --summary-every must not be negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    output = Output("json" if args.json else "quiet" if args.quiet else "line",
                    args.max_lines_per_sec)
    tracker = Tracker()
    source = Source(args, output)
    stop: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: stop.append(signum))
    next_summary = time.monotonic() + args.summary_every if args.summary_every else math.inf
    try:
        while not stop:
            for data in source.read():
                try:
                    events, envelope = events_of(data)
                except (ValueError, TypeError):
                    tracker.malformed += 1
                    continue
                if envelope is not None:
                    tracker.report_drops(envelope.get("publisher"), envelope.get("dropped"))
                for ev in events:
                    tracker.add(ev)
                    output.event(ev)
            output.tick()
            if time.monotonic() >= next_summary:
                output.flush_suppressed()
                print(tracker.summary(tracker.window, "last", output.suppressed_total),
                      file=output.notices, flush=True)
                tracker.new_window()
                next_summary = time.monotonic() + args.summary_every
        source.close()
        output.flush_suppressed()
        print(tracker.summary(tracker.total, "total", output.suppressed_total),
              file=output.notices, flush=True)
    except BrokenPipeError:  # piped into `head` and friends
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the exit flush
    return 0

