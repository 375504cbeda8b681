"""Masking events: their schema (:func:`make_event`) and the fire-and-forget publisher.

Hooks and stream callables call :meth:`EventPublisher.publish`, which only samples and appends to a
bounded queue. One background task batches the queue (a full batch or the flush interval, whichever
comes first) and sends it through the shared Redis client with ``PUBLISH`` and/or ``XADD``. A slow
or dead Redis costs events (dropped and counted), never a flow's time (DESIGN invariant 7).

Events carry types, counts, sizes, timings, tokens and ids only (DESIGN invariant 4): every field is
checked against a shape that cannot hold an original value, and anything else is left out.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import json
import logging
import random
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from awsmasker.redis_client import SharedRedis
from awsmasker.tokens import is_token, is_valid_type_name

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1

#: Extra keys an event may carry. Their values must be numbers, booleans, short identifier-like
#: strings, or lists of those (``flags``); anything else is omitted.
ALLOWED_EXTRA = frozenset({
    "reason", "status", "flags", "store", "fallback", "wire_format", "stage", "stream",
    "truncated", "direction", "error_type", "new_tokens",
})
#: Longest list of tokens an event carries; the rest is counted in ``tokens_omitted``.
MAX_TOKENS_PER_EVENT = 200
MAX_PATH_LEN = 200

_EVENT_TYPE_RE = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
# Extra string values are code-chosen labels ("store_down", "ConnectionError", "anthropic_sse").
_SAFE_STR_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,47}\Z")
# Path segments kept as they are: API route words ("v1", "messages", "count_tokens") and tokens.
_SAFE_SEGMENT_RE = re.compile(r"[a-z][a-z0-9_]{0,40}\Z")
_FLOW_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}\Z")
_HOST_RE = re.compile(r"[a-z0-9.\-]{1,253}(?::[0-9]{1,5})?\Z")
# Identifier-looking text that is never passed into an event even where the shape fits: runs of
# 8+ hex characters with a digit (resource ids, account numbers) and long upper-case
# alphanumerics (access key ids, key material).
_ID_LIKE_RE = re.compile(r"(?=[0-9a-fA-F]*[0-9])[0-9a-fA-F]{8,}|[A-Z0-9]{16,}")
#: Largest integer an extra may carry (larger ones could be account numbers).
MAX_EXTRA_INT = 10**9


def _safe_str(value: str) -> bool:
    return _SAFE_STR_RE.match(value) is not None and _ID_LIKE_RE.search(value) is None


def _safe_value(value: Any) -> Any:
    """``value`` if its shape cannot carry an original value, else ``None``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) <= MAX_EXTRA_INT else None
    if isinstance(value, float):
        return value if abs(value) <= MAX_EXTRA_INT else None
    if isinstance(value, str):
        return value if _safe_str(value) else None
    if isinstance(value, list | tuple):
        items = [v for v in value if isinstance(v, str) and _safe_str(v)]
        return items[:32] if len(items) == len(value) else None
    return None


def _is_count_key(key: object) -> bool:
    from awsmasker.catalogue import TYPE_NAMES  # late: only events import it here

    return (isinstance(key, str) and is_valid_type_name(key)
            and _ID_LIKE_RE.search(key) is None and key in TYPE_NAMES)


def scrub_path(path: str) -> str:
    """The request path without query string or fragment. Segments other than lower-case route
    words and tokens (ids, ARNs, model names, percent-encoded text) become ``*``."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    out = []
    for seg in path.split("/"):
        if seg == "" or is_token(seg) or (
            _SAFE_SEGMENT_RE.match(seg) and _ID_LIKE_RE.search(seg) is None
        ):
            out.append(seg)
        else:
            out.append("*")
    return "/".join(out)[:MAX_PATH_LEN]


def _scrub_flow_id(flow_id: str) -> str:
    if _FLOW_ID_RE.match(flow_id):
        return flow_id
    return "h-" + hashlib.blake2b(flow_id.encode("utf-8", "replace"), digest_size=8).hexdigest()


def _scrub_host(host: str) -> str:
    host = host.lower().rstrip(".")
    return host if _HOST_RE.match(host) else "*"


#: Strings already checked to be tokens (a flow's tokens recur in every turn of a conversation).
_TOKENS_SEEN: set[str] = set()
_TOKENS_SEEN_MAX = 65536


def _checked_token(t: str) -> bool:
    if t in _TOKENS_SEEN:
        return True
    if not is_token(t):
        return False
    if len(_TOKENS_SEEN) >= _TOKENS_SEEN_MAX:
        _TOKENS_SEEN.clear()
    _TOKENS_SEEN.add(t)
    return True


def make_event(
    event_type: str,
    *,
    flow_id: str,
    host: str,
    path: str,
    counts: Mapping[str, int] | None = None,
    bytes: int = 0,
    duration_ms: float = 0.0,
    tokens: Sequence[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    """Build one event in the DESIGN schema. Never raises for bad input: fields that do not have a
    safe shape are left out (extra keys not in :data:`ALLOWED_EXTRA`, count keys that are not type
    names, token strings that are not tokens), so no original value can reach an event.
    Raises ``ValueError`` only for an ``event_type`` that is not a short lower-case identifier.
    """
    if not _EVENT_TYPE_RE.match(event_type):
        raise ValueError(f"invalid event_type: {event_type!r}")
    safe_counts: dict[str, int] = {}
    for k, v in (counts or {}).items():
        if _is_count_key(k) and isinstance(v, int) and not isinstance(v, bool) and v >= 0:
            safe_counts[k] = int(v)
    safe_tokens = [t for t in tokens if isinstance(t, str) and _checked_token(t)]
    event: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "event_id": uuid.uuid4().hex,
        "event_type": event_type,
        "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "flow_id": _scrub_flow_id(str(flow_id)),
        "host": _scrub_host(str(host)),
        "path": scrub_path(str(path)),
        "counts": safe_counts,
        "bytes": max(0, int(bytes)),
        "duration_ms": round(float(duration_ms), 3),
        "sampling_rate": None,  # set by the publisher
        "tokens": safe_tokens[:MAX_TOKENS_PER_EVENT],
    }
    if len(safe_tokens) > MAX_TOKENS_PER_EVENT:
        event["tokens_omitted"] = len(safe_tokens) - MAX_TOKENS_PER_EVENT
    for key, value in extra.items():
        if key in ALLOWED_EXTRA and key not in event:
            safe = _safe_value(value)
            if safe is not None:
                event[key] = safe
    return event


# --------------------------------------------------------------------------------------------
# Publisher


#: Events waiting for the background task; past this, new events are dropped (counted).
DEFAULT_QUEUE_MAX = 10_000
#: Seconds between ``stats`` events (sent only when a counter moved).
DEFAULT_STATS_INTERVAL = 10.0
#: Seconds ``stop`` waits for the final flush before giving up on it.
DEFAULT_STOP_TIMEOUT = 3.0
#: Redis commands of one send must finish within this many seconds, or the batch is dropped.
SEND_TIMEOUT = 3.0
#: After a failed send, batches are dropped without trying Redis for this long (doubling).
BACKOFF_MIN = 0.25
BACKOFF_MAX = 5.0
#: With batches of one, up to this many queued events go to Redis in one pipelined round trip
#: (still one message per event).
MAX_PIPELINE = 100
#: Flows whose sampling decision is remembered (so a rate change mid-flow cannot split a flow).
SAMPLE_MEMORY = 8192

_DROP_KEYS = ("dropped_queue_full", "dropped_redis_error")


class EventPublisher:
    """Samples, queues, batches and publishes events; see the module docstring."""

    def __init__(
        self,
        redis: SharedRedis,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        queue_max: int = DEFAULT_QUEUE_MAX,
        stats_interval: float = DEFAULT_STATS_INTERVAL,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        self._redis = redis
        self._clock = clock
        # Per-process salt: which flows are sampled differs between processes, but within one
        # process a flow id always gets the same answer for the same rate.
        self._salt = int(rng() * 2**32).to_bytes(4, "big")
        self._queue_max = queue_max
        self._stats_interval = stats_interval
        self._stop_timeout = stop_timeout
        self.publisher_id = uuid.uuid4().hex[:12]

        self.enabled = False
        self.sampling_rate = 1.0
        self.channel = "masker:events"
        self.batch_size = 1
        self.flush_interval = 1.0
        self.sink = "pubsub"
        self.stream_maxlen = 100_000

        self._queue: collections.deque[tuple[float, dict[str, Any]]] = collections.deque()
        self._decisions: collections.OrderedDict[str, bool] = collections.OrderedDict()
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._down_until: float | None = None  # set while Redis is considered down
        self._backoff = BACKOFF_MIN
        self._outage_drops = 0
        self._last_stats_at = clock()
        self._last_stats_snapshot: tuple[int, ...] = ()
        self._own_events = 0  # stats events queued by the publisher itself
        self.stats: dict[str, int] = {
            "enqueued": 0,
            "published": 0,  # events sent to Redis
            "messages": 0,  # Redis messages (one per event or per batch)
            "batches": 0,
            "skipped_disabled": 0,
            "skipped_unsampled": 0,
            "dropped_queue_full": 0,
            "dropped_redis_error": 0,
            "outages": 0,
        }

    # -- configuration ------------------------------------------------------------------------

    def configure(self, settings: Any) -> None:
        """Apply event settings (an :class:`awsmasker.config.Settings`); takes effect at once."""
        rate = float(settings.event_sampling_rate)
        self.enabled = bool(settings.enable_event_monitoring)
        self.sampling_rate = rate
        self.channel = str(settings.redis_event_channel)
        self.batch_size = max(1, int(settings.event_batch_size))
        self.flush_interval = max(0.001, int(settings.event_flush_interval_ms) / 1000.0)
        self.sink = str(settings.event_sink)
        self.stream_maxlen = int(settings.event_stream_maxlen)
        self._wake_task()

    # -- hot path -------------------------------------------------------------------------------

    def sampled(self, flow_id: str) -> bool:
        """Whether this flow's events are published. Decided on the flow's first event from a
        hash of its id against the current rate, and remembered (for the last
        :data:`SAMPLE_MEMORY` flows), so a rate change mid-flow cannot split a flow's events.
        A flow sampled at a lower rate is also sampled at any higher one."""
        decision = self._decisions.get(flow_id)
        if decision is None:
            rate = self.sampling_rate
            if rate >= 1.0:
                decision = True
            elif rate <= 0.0:
                decision = False
            else:
                h = hashlib.blake2b(flow_id.encode("utf-8", "replace"), digest_size=8,
                                    key=self._salt).digest()
                decision = int.from_bytes(h, "big") < rate * 2**64
            self._decisions[flow_id] = decision
            if len(self._decisions) > SAMPLE_MEMORY:
                self._decisions.popitem(last=False)
        return decision

    def publish(self, event: dict[str, Any]) -> None:
        """Queue ``event`` (from :func:`make_event`) if monitoring is on and its flow is sampled.
        Never blocks, never raises. The dict belongs to the publisher afterwards."""
        try:
            if not self.enabled:
                self.stats["skipped_disabled"] += 1
                return
            if not self.sampled(str(event.get("flow_id", ""))):
                self.stats["skipped_unsampled"] += 1
                return
            self._enqueue(event)
        except Exception as e:  # telemetry must never break a flow
            log.debug("event publish failed: %r", e)

    def _enqueue(self, event: dict[str, Any]) -> None:
        if len(self._queue) >= self._queue_max:
            self.stats["dropped_queue_full"] += 1
            return
        event["sampling_rate"] = self.sampling_rate
        self._queue.append((self._clock(), event))
        self.stats["enqueued"] += 1
        if len(self._queue) >= self.batch_size or len(self._queue) == 1:
            self._wake_task()

    def _wake_task(self) -> None:
        if self._wake is None or self._loop is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # loop closed
                self._loop.call_soon_threadsafe(self._wake.set)

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background task (idempotent). Call from the proxy's running loop."""
        if self._task is not None and not self._task.done():
            return
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task = self._loop.create_task(self._run(), name="awsmasker-events")
        if self._queue:
            self._wake.set()

    async def stop(self) -> None:
        """Flush what is queued (bounded by ``stop_timeout``) and end the background task."""
        task = self._task
        if task is None:
            return
        self._stopping = True
        self._wake_task()
        try:
            await asyncio.wait_for(asyncio.shield(task), self._stop_timeout)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        except Exception as e:
            log.debug("event task ended with %r", e)
        finally:
            self._task = None
            lost = len(self._queue)
            if lost:
                self._queue.clear()
                self.stats["dropped_redis_error"] += lost

    # -- background task ------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            try:
                if not self._queue:
                    if self._stopping:
                        return
                    await self._wait(self._stats_interval)
                    self._maybe_stats_event()
                    continue
                # Wait for a full batch or until the oldest event has waited flush_interval.
                while not self._stopping and len(self._queue) < self.batch_size:
                    left = self._queue[0][0] + self.flush_interval - self._clock()
                    if left <= 0:
                        break
                    await self._wait(left)
                    if not self._queue:
                        break
                if not self._queue:
                    continue
                size = self.batch_size
                if len(self._queue) >= size:
                    flush = "full"
                else:
                    flush = "stop" if self._stopping else "interval"
                n = min(size if size > 1 else MAX_PIPELINE, len(self._queue))
                items = [self._queue.popleft() for _ in range(n)]
                await self._send(items, flush)
                self._maybe_stats_event()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # keep the task alive whatever happens
                log.debug("event task error: %r", e)
                await asyncio.sleep(0.05)

    async def _wait(self, timeout: float) -> None:
        assert self._wake is not None
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), max(0.0, timeout))

    def _drops(self) -> dict[str, int]:
        return {k: self.stats[k] for k in _DROP_KEYS}

    def _messages(self, items: list[tuple[float, dict[str, Any]]], flush: str) -> list[str]:
        if self.batch_size == 1:
            return [json.dumps(ev, separators=(",", ":")) for _, ev in items]
        now = self._clock()
        batch = {
            "type": "batch",
            "schema": SCHEMA_VERSION,
            "publisher": self.publisher_id,
            "flush": flush,  # "full", "interval" (partial batch, oldest waited) or "stop"
            "waited_ms": round((now - items[0][0]) * 1000.0, 3),
            "dropped": self._drops(),
            "events": [ev for _, ev in items],
        }
        return [json.dumps(batch, separators=(",", ":"))]

    async def _send(self, items: list[tuple[float, dict[str, Any]]], flush: str) -> None:
        n = len(items)
        now = self._clock()
        if self._down_until is not None and now < self._down_until:
            self.stats["dropped_redis_error"] += n
            self._outage_drops += n
            return
        messages = self._messages(items, flush)
        sink, channel = self.sink, self.channel
        try:
            client = self._redis.client()
            pipe = client.pipeline(transaction=False)
            for msg in messages:
                if sink in ("pubsub", "both"):
                    pipe.publish(channel, msg)
                if sink in ("stream", "both"):
                    pipe.xadd(channel, {"data": msg}, maxlen=self.stream_maxlen, approximate=True)
            await asyncio.wait_for(pipe.execute(), SEND_TIMEOUT)
        except asyncio.CancelledError:
            self.stats["dropped_redis_error"] += n
            raise
        except Exception as e:
            self.stats["dropped_redis_error"] += n
            self._outage_drops += n
            if self._down_until is None:
                self.stats["outages"] += 1
                log.warning("event publishing to Redis failed (%s); dropping events until it "
                            "recovers", type(e).__name__)
            else:
                self._backoff = min(BACKOFF_MAX, self._backoff * 2)
            self._down_until = self._clock() + self._backoff
            return
        if self._down_until is not None:
            log.warning("event publishing to Redis recovered; %d events dropped during the outage",
                        self._outage_drops)
            self._down_until = None
            self._backoff = BACKOFF_MIN
            self._outage_drops = 0
        self.stats["published"] += n
        self.stats["messages"] += len(messages)
        if self.batch_size > 1:
            self.stats["batches"] += 1

    def _maybe_stats_event(self) -> None:
        """Queue a ``stats`` event every ``stats_interval`` while counters move and monitoring is
        on, so a watcher sees drops even with batches of one."""
        if not self.enabled:
            return
        now = self._clock()
        if now - self._last_stats_at < self._stats_interval:
            return
        snapshot = (self.stats["enqueued"] - self._own_events, *self._drops().values())
        self._last_stats_at = now
        if snapshot == self._last_stats_snapshot:
            return
        self._last_stats_snapshot = snapshot
        ev = make_event("stats", flow_id="-", host="-", path="")
        ev["publisher"] = self.publisher_id
        ev["dropped"] = self._drops()
        ev["stats"] = dict(self.stats)
        self._own_events += 1
        self._enqueue(ev)
