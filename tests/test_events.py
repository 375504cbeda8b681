"""Event schema and publisher, against a real redis-server (pytest-redis, private port)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import re
import socket
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

import pytest
import redis.asyncio as aioredis
from awsmasker.config import Settings
from awsmasker.events import ALLOWED_EXTRA, SCHEMA_VERSION, EventPublisher, make_event
from awsmasker.redis_client import SharedRedis

from testsupport.redis_server import RedisServer as OwnRedis

HOST = "api.anthropic.com"
PATH = "/v1/messages"


@pytest.fixture
def redis_url(redis_proc, redisdb) -> str:  # redisdb: flushed after each test
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


def settings(**kw: Any) -> Settings:
    base = {"enable_event_monitoring": True, "event_flush_interval_ms": 50}
    base.update(kw)
    return dataclasses.replace(Settings(), **base)


def ev(kind: str, flow_id: str, **kw: Any) -> dict[str, Any]:
    return make_event(kind, flow_id=flow_id, host=HOST, path=PATH, **kw)


async def until(predicate, what: str, timeout: float = 20.0) -> None:
    """Poll ``predicate`` (bounded); fail with ``what`` if it never holds."""
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


class Subscriber:
    """Collects every message published on a channel (test-side client)."""

    def __init__(self, url: str, channel: str = "masker:events") -> None:
        self.url, self.channel = url, channel
        self.messages: list[bytes] = []

    async def __aenter__(self) -> Subscriber:
        self.client = aioredis.Redis.from_url(self.url)
        self.pubsub = self.client.pubsub()
        await self.pubsub.subscribe(self.channel)
        await self.pubsub.get_message(timeout=5)  # the subscribe confirmation
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            msg = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
            if msg is not None:
                self.messages.append(msg["data"])

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await self.task
        await self.pubsub.aclose()
        await self.client.aclose()

    def decoded(self) -> list[dict[str, Any]]:
        return [json.loads(m) for m in self.messages]

    def events(self) -> list[dict[str, Any]]:
        out = []
        for msg in self.decoded():
            out.extend(msg["events"] if msg.get("type") == "batch" else [msg])
        return out


@pytest.fixture
async def shared(redis_url):
    r = SharedRedis(redis_url)
    yield r
    await r.close()


@pytest.fixture
async def publisher(shared):
    pub = EventPublisher(shared)
    yield pub
    await pub.stop()


# ---------------------------------------------------------------------------------------------
# make_event


def test_make_event_schema():
    e = make_event("masked", flow_id="f-1", host="API.Anthropic.com", path="/v1/messages?beta=true",
                   counts={"EC2": 2, "VPC": 1}, bytes=1234, duration_ms=1.23456,
                   tokens=["AWS_EC2_001", "AWS_VPC_001"], store="redis", status=200)
    assert e["schema"] == SCHEMA_VERSION
    assert uuid.UUID(hex=e["event_id"]).version == 4
    assert e["event_type"] == "masked"
    assert e["timestamp"].endswith("Z")
    assert datetime.fromisoformat(e["timestamp"]).utcoffset().total_seconds() == 0
    assert (e["flow_id"], e["host"], e["path"]) == ("f-1", "api.anthropic.com", "/v1/messages")
    assert e["counts"] == {"EC2": 2, "VPC": 1}
    assert (e["bytes"], e["duration_ms"]) == (1234, 1.235)
    assert e["tokens"] == ["AWS_EC2_001", "AWS_VPC_001"]
    assert (e["store"], e["status"]) == ("redis", 200)
    assert "sampling_rate" in e
    json.dumps(e)  # serialisable as is


def test_make_event_omits_what_is_not_allow_listed():
    e = make_event(
        "blocked", flow_id="f", host=HOST, path=PATH,
        counts={"EC2": 1, "not a type": 5, "VPC": -1},
        tokens=["AWS_EC2_001", "i-0123456789abcdef0", "AWS_lower_001"],
        body="raw body", value="i-0123456789abcdef0", original="x",  # not allow-listed
        reason="store_down", fallback=True, flags=["truncated_response"],
        stage={"nested": "dict"},  # allow-listed key, unsafe shape
    )
    for key in ("body", "value", "original", "stage"):
        assert key not in e
    assert e["counts"] == {"EC2": 1}
    assert e["tokens"] == ["AWS_EC2_001"]
    assert (e["reason"], e["fallback"], e["flags"]) == ("store_down", True, ["truncated_response"])
    assert {"reason", "fallback", "flags"} <= ALLOWED_EXTRA
    with pytest.raises(ValueError):
        make_event("Masked; DROP", flow_id="f", host=HOST, path=PATH)


@pytest.mark.parametrize(("path", "expected"), [
    ("/v1/messages?key=i-0123456789abcdef0", "/v1/messages"),
    ("/v1/messages/count_tokens#frag", "/v1/messages/count_tokens"),
    ("/model/arn:aws:bedrock:us-east-1:123456789012:inference-profile/Prof1/invoke",
     "/model/*/*/invoke"),
    ("/v1/files/i-0123456789abcdef0", "/v1/files/*"),
    ("/v1/files/prod-customer-bucket/10.0.1.23", "/v1/files/*/*"),
    ("/v1/files/AWS_EC2_001", "/v1/files/AWS_EC2_001"),
])
def test_path_is_scrubbed(path, expected):
    assert make_event("masked", flow_id="f", host=HOST, path=path)["path"] == expected


# ---------------------------------------------------------------------------------------------
# Publisher


async def test_batches_of_ten_deliver_every_event_exactly_once(redis_url, publisher):
    # A long flush interval: only full batches may be sent.
    publisher.configure(settings(event_batch_size=10, event_flush_interval_ms=60000))
    await publisher.start()
    async with Subscriber(redis_url) as sub:
        sent = []
        for i in range(100):
            for kind in ("masked", "restored"):
                e = ev(kind, f"flow-{i}", counts={"EC2": 1})
                sent.append(e["event_id"])
                publisher.publish(e)
        await until(lambda: len(sub.messages) >= 20, "20 batches")
        await asyncio.sleep(0.2)  # nothing more may come
        msgs = sub.decoded()
    assert len(msgs) == 20
    assert all(m["type"] == "batch" and m["flush"] == "full" and len(m["events"]) == 10
               for m in msgs)
    got = [e["event_id"] for m in msgs for e in m["events"]]
    assert sorted(got) == sorted(sent) and len(set(got)) == 200
    assert publisher.stats["published"] == 200 and publisher.stats["batches"] == 20
    assert all(e["sampling_rate"] == 1.0 for m in msgs for e in m["events"])


async def test_sampling_rate_is_binomial_and_per_flow(redis_url, publisher):
    rate, flows = 0.1, 2000
    publisher.configure(settings(event_sampling_rate=rate, event_batch_size=100,
                                 event_flush_interval_ms=20))
    await publisher.start()
    async with Subscriber(redis_url) as sub:
        for _ in range(flows):
            fid = uuid.uuid4().hex
            publisher.publish(ev("masked", fid, counts={"EC2": 1}))
            publisher.publish(ev("restored", fid, counts={"EC2": 1}))
        expected = publisher.stats["enqueued"]
        await until(lambda: len(sub.events()) >= expected, "all sampled events")
        events = sub.events()
    per_flow = Counter(e["flow_id"] for e in events)
    kinds = {f: {e["event_type"] for e in events if e["flow_id"] == f} for f in per_flow}
    # masked and restored of one flow are kept or dropped together
    assert all(n == 2 for n in per_flow.values())
    assert all(k == {"masked", "restored"} for k in kinds.values())
    sigma = math.sqrt(flows * rate * (1 - rate))
    assert abs(len(per_flow) - flows * rate) <= 5 * sigma, len(per_flow)
    assert publisher.stats["skipped_unsampled"] == 2 * flows - len(events)
    assert all(e["sampling_rate"] == rate for e in events)


async def test_partial_batch_is_sent_after_the_flush_interval(redis_url, publisher):
    publisher.configure(settings(event_batch_size=10, event_flush_interval_ms=200))
    await publisher.start()
    async with Subscriber(redis_url) as sub:
        for i in range(3):
            publisher.publish(ev("masked", f"f{i}"))
        await until(lambda: sub.messages, "the partial batch")
        (msg,) = sub.decoded()
    assert msg["type"] == "batch" and msg["flush"] == "interval"
    assert len(msg["events"]) == 3
    # the publisher's own measure: the oldest event waited the interval, not a full batch
    assert msg["waited_ms"] >= 200


async def test_batch_size_one_sends_plain_events(redis_url, publisher):
    publisher.configure(settings(event_batch_size=1))
    await publisher.start()
    async with Subscriber(redis_url) as sub:
        publisher.publish(ev("masked", "f1"))
        await until(lambda: sub.messages, "the event")
        (msg,) = sub.decoded()
    assert msg["event_type"] == "masked" and "type" not in msg


async def test_stop_flushes_what_is_queued(redis_url, publisher):
    publisher.configure(settings(event_batch_size=50, event_flush_interval_ms=60000))
    await publisher.start()
    async with Subscriber(redis_url) as sub:
        for i in range(7):
            publisher.publish(ev("masked", f"f{i}"))
        await publisher.stop()
        await until(lambda: sub.messages, "the flushed batch")
        (msg,) = sub.decoded()
    assert msg["flush"] == "stop" and len(msg["events"]) == 7


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_redis_down_drops_and_counts_never_raises(caplog):
    shared = SharedRedis(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    pub = EventPublisher(shared, stop_timeout=1.0)
    pub.configure(settings(event_batch_size=10, event_flush_interval_ms=10))
    await pub.start()
    try:
        for i in range(500):
            assert pub.publish(ev("masked", f"f{i}")) is None
            if i % 50 == 0:
                await asyncio.sleep(0.01)  # let the task try (and fail) meanwhile
        await until(lambda: pub.stats["dropped_redis_error"] > 0, "a counted drop")
    finally:
        await pub.stop()
        await shared.close()
    assert pub.stats["published"] == 0
    assert pub.stats["outages"] == 1
    warnings = [r for r in caplog.records if r.name == "awsmasker.events"
                and r.levelname == "WARNING"]
    assert len(warnings) == 1  # one log line per outage, not per batch
    # every accepted event is accounted for as dropped
    assert pub.stats["dropped_redis_error"] == pub.stats["enqueued"] == 500


async def test_slow_redis_fills_the_bounded_queue_not_the_caller():
    # A server that accepts and never answers: sends hang until their timeout.
    async def blackhole(reader, writer):
        with contextlib.suppress(Exception):  # ended by the test's close
            while await reader.read(65536):
                pass

    server = await asyncio.start_server(blackhole, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    shared = SharedRedis(f"redis://127.0.0.1:{port}/0")
    pub = EventPublisher(shared, queue_max=100, stop_timeout=0.5)
    pub.configure(settings(event_batch_size=10, event_flush_interval_ms=10))
    await pub.start()
    try:
        for i in range(1000):
            pub.publish(ev("masked", f"f{i}"))
            if i == 20:
                await asyncio.sleep(0.05)  # the task takes a batch and hangs on Redis
        assert pub.stats["dropped_queue_full"] > 0
    finally:
        await pub.stop()
        server.close()
        await shared.close()
    s = pub.stats
    assert s["enqueued"] + s["dropped_queue_full"] == 1000
    assert s["published"] + s["dropped_redis_error"] == s["enqueued"]


async def test_publisher_recovers_after_a_redis_restart(tmp_path):
    own = OwnRedis(tmp_path)
    own.start()
    shared = SharedRedis(own.url)
    pub = EventPublisher(shared, stop_timeout=1.0)
    pub.configure(settings(event_batch_size=1))
    await pub.start()
    try:
        pub.publish(ev("masked", "before"))
        await until(lambda: pub.stats["published"] == 1, "first publish")
        own.stop()
        for i in range(200):  # bounded: until a drop is counted
            pub.publish(ev("masked", f"down-{i}"))
            await asyncio.sleep(0.02)
            if pub.stats["dropped_redis_error"]:
                break
        assert pub.stats["dropped_redis_error"] > 0
        own.start()
        published_before = pub.stats["published"]
        for i in range(500):  # bounded: the backoff ends and the shared client reconnects
            pub.publish(ev("masked", f"after-{i}"))
            await asyncio.sleep(0.02)
            if pub.stats["published"] > published_before:
                break
        assert pub.stats["published"] > published_before
    finally:
        await pub.stop()
        await shared.close()
        own.stop()


async def test_live_reconfiguration(redis_url, publisher):
    await publisher.start()
    async with Subscriber(redis_url) as sub:
        publisher.configure(settings(enable_event_monitoring=False))
        for i in range(5):
            publisher.publish(ev("masked", f"off-{i}"))
        assert publisher.stats["skipped_disabled"] == 5

        publisher.configure(settings(event_sampling_rate=0.0))
        for i in range(5):
            publisher.publish(ev("masked", f"zero-{i}"))
        assert publisher.stats["skipped_unsampled"] == 5

        publisher.configure(settings(event_sampling_rate=1.0, event_batch_size=1))
        publisher.publish(ev("masked", "on-1"))
        await until(lambda: len(sub.messages) == 1, "the first event after enabling")

        publisher.configure(settings(event_sampling_rate=1.0, event_batch_size=5,
                                     event_flush_interval_ms=60000))
        for i in range(5):
            publisher.publish(ev("masked", f"batched-{i}"))
        await until(lambda: len(sub.messages) == 2, "a batch after the batch size change")

        # A rate change mid-flow keeps the flow's decision: its restored event still goes out.
        publisher.configure(settings(event_sampling_rate=0.0, event_batch_size=1))
        publisher.publish(ev("restored", "on-1"))
        publisher.publish(ev("masked", "new-flow"))
        await until(lambda: len(sub.messages) == 3, "the restored event of a kept flow")
        await asyncio.sleep(0.2)
        msgs = sub.decoded()
    assert msgs[0]["flow_id"] == "on-1"
    assert msgs[1]["type"] == "batch" and len(msgs[1]["events"]) == 5
    assert (msgs[2]["flow_id"], msgs[2]["event_type"]) == ("on-1", "restored")
    assert len(msgs) == 3


def test_sampling_is_deterministic_and_monotonic_in_the_rate():
    flows = [uuid.uuid4().hex for _ in range(3000)]
    picks = {}
    for rate in (0.01, 0.1, 1.0):
        pub = EventPublisher(SharedRedis(), rng=lambda: 0.5)
        pub.configure(settings(event_sampling_rate=rate))
        picks[rate] = {f for f in flows if pub.sampled(f)}
        assert picks[rate] == {f for f in flows if pub.sampled(f)}  # same answer again
    assert picks[0.01] <= picks[0.1] <= picks[1.0] == set(flows)
    assert 0 < len(picks[0.01]) < len(picks[0.1]) < len(flows)


async def test_stream_sink_replays_and_is_capped(redis_url, redisdb, publisher):
    publisher.configure(settings(event_sink="stream", event_batch_size=1,
                                 event_stream_maxlen=100))
    await publisher.start()
    ids = []
    for i in range(1000):
        e = ev("masked", f"f{i}")
        ids.append(e["event_id"])
        publisher.publish(e)
    await until(lambda: publisher.stats["published"] == 1000, "all events written")
    length = redisdb.xlen("masker:events")
    assert 100 <= length < 1000  # approximate MAXLEN trims
    # a late reader replays what is still there, newest last, in order
    entries = redisdb.xrange("masker:events")
    replayed = [json.loads(fields[b"data"])["event_id"] for _id, fields in entries]
    assert replayed == ids[-len(replayed):]


async def test_both_sinks(redis_url, redisdb, publisher):
    publisher.configure(settings(event_sink="both", event_batch_size=2))
    await publisher.start()
    async with Subscriber(redis_url) as sub:
        publisher.publish(ev("masked", "a"))
        publisher.publish(ev("restored", "a"))
        await until(lambda: sub.messages, "the pub/sub message")
    (entry,) = redisdb.xrange("masker:events")
    assert json.loads(entry[1][b"data"]) == json.loads(sub.messages[0])


async def test_stats_event_reports_drops(redis_url, shared):
    pub = EventPublisher(shared, queue_max=5, stats_interval=0.05)
    pub.configure(settings(event_batch_size=1))
    for i in range(8):  # before start: the queue fills, 3 dropped
        pub.publish(ev("masked", f"f{i}"))
    async with Subscriber(redis_url) as sub:
        await pub.start()
        await until(lambda: any(e["event_type"] == "stats" for e in sub.events()),
                    "a stats event")
        await pub.stop()
    stats = next(e for e in sub.events() if e["event_type"] == "stats")
    assert stats["dropped"]["dropped_queue_full"] == 3
    assert stats["publisher"] == pub.publisher_id


ORIGINALS = [
    "i-0123456789abcdef0", "vpc-0a1b2c3d4e5f60718", "123456789012", "10.0.1.23",
    "arn:aws:iam::123456789012:role/Admin", "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "prod-customer-bucket", "sg-0a1b2c3d",
]


async def test_no_event_contains_an_original_value(redis_url, redisdb, publisher):
    publisher.configure(settings(event_sink="both", event_batch_size=3))
    await publisher.start()
    async with Subscriber(redis_url) as sub:
        for n, original in enumerate(ORIGINALS):
            fid = f"flow-{n}"
            # everything a careless caller might pass an original through
            publisher.publish(make_event(
                "masked", flow_id=fid, host=HOST,
                path=f"/v1/messages/{original}?q={original}",
                counts={"EC2": 1, original: 1}, bytes=100, duration_ms=1.0,
                tokens=["AWS_EC2_001", original],
                reason=original, store=original, flags=[original, "ok"], status=original,
                error_type=original, value=original, body=f"text with {original}",
            ))
            publisher.publish(make_event("restored", flow_id=fid, host=HOST, path=PATH,
                                         counts={"EC2": 1}, tokens=["AWS_EC2_001"]))
        await until(lambda: len(sub.events()) == 2 * len(ORIGINALS), "all events")
        await publisher.stop()
    payloads = list(sub.messages)
    payloads += [fields[b"data"] for _id, fields in redisdb.xrange("masker:events")]
    assert payloads
    for payload in payloads:
        text = payload.decode()
        for original in ORIGINALS:
            assert original not in text, (original, text)
            # nor a JSON-escaped form of it
            assert json.dumps(original)[1:-1] not in text
        assert re.search(r"AWS_EC2_001", text)  # the events did carry their tokens
