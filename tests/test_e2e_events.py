"""Events through a real mitmdump: delivery, no originals, Redis down, invariant 7."""

from __future__ import annotations

import json
import threading
import time

import anthropic
import pytest
import redis

from tests.clients import anthropic_client
from testsupport.samples import ORIGINALS, PROMPT, SECRET, SECRET_LINE

pytestmark = pytest.mark.e2e


@pytest.fixture
def redis_url(redis_proc, redisdb) -> str:
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


class Subscriber:
    """Collects every message published on a channel, in a thread."""

    def __init__(self, url: str, channel: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.pubsub = self.client.pubsub()
        self.pubsub.subscribe(channel)
        self.pubsub.get_message(timeout=2)  # the subscribe confirmation
        self.raw: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            m = self.pubsub.get_message(timeout=0.1)
            if m and m["type"] == "message":
                self.raw.append(m["data"])

    def events(self) -> list[dict]:
        out = []
        for payload in list(self.raw):
            obj = json.loads(payload)
            out.extend(obj["events"] if obj.get("type") == "batch" else [obj])
        return out

    def wait_for(self, predicate, timeout: float = 10) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.events()):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.pubsub.close()
        self.client.close()


def converse(client: anthropic.Anthropic, n: int) -> list[str]:
    replies = []
    for i in range(n):
        content = f"turn {i}: {PROMPT}\n{SECRET_LINE}"
        if i % 2:
            with client.messages.stream(model="m", max_tokens=5,
                                        messages=[{"role": "user", "content": content}]) as s:
                replies.append(s.get_final_message().model_dump_json())
        else:
            replies.append(client.messages.create(
                model="m", max_tokens=5,
                messages=[{"role": "user", "content": content}]).model_dump_json())
    return replies


def test_masked_and_restored_events_arrive_without_originals(proxy_factory, standin, redis_url):
    sub = Subscriber(redis_url, "masker:events")
    try:
        proxy = proxy_factory("targets=127.0.0.1", "enable_event_monitoring=true",
                              f"redis_url={redis_url}", "event_batch_size=10",
                              "event_flush_interval_ms=100")
        converse(anthropic_client(proxy, standin), 4)
        assert sub.wait_for(lambda evs: sum(e["event_type"] == "restored" for e in evs) >= 4)
        evs = sub.events()
        masked = [e for e in evs if e["event_type"] == "masked"]
        restored = [e for e in evs if e["event_type"] == "restored"]
        assert len(masked) == 4 and len(restored) == 4
        assert {e["flow_id"] for e in masked} == {e["flow_id"] for e in restored}
        assert all(e["counts"].get("EC2", 0) >= 1 for e in masked)
        # every token a masked event counts is listed, the secret's too (its token, no value)
        for e in masked:
            assert len(e["tokens"]) == sum(e["counts"].values()), e
            assert any(t.startswith("AWS_SECRET_KEY_") for t in e["tokens"])
        # a restored event lists the tokens it put back: the flow's own, never a secret's
        sent = {e["flow_id"]: set(e["tokens"]) for e in masked}
        for e in restored:
            assert e["tokens"] and set(e["tokens"]) <= sent[e["flow_id"]], e
            assert not any(t.startswith("AWS_SECRET_KEY_") for t in e["tokens"])
            assert {t[4:].rsplit("_", 1)[0] for t in e["tokens"]} == set(e["counts"]), e
        assert all(e["schema"] == 1 and e["sampling_rate"] == 1.0 for e in evs)
        blob = b"\n".join(sub.raw).decode()
        for value in (*ORIGINALS, SECRET, "123456789012"):
            assert value not in blob
    finally:
        sub.close()


def test_flows_succeed_when_event_redis_is_down(proxy_factory, standin):
    from testsupport.mitmdump import free_port

    dead = f"redis://127.0.0.1:{free_port()}/0"
    proxy = proxy_factory("targets=127.0.0.1", "enable_event_monitoring=true",
                          f"redis_url={dead}", "event_flush_interval_ms=50")
    replies = converse(anthropic_client(proxy, standin), 6)
    assert len(replies) == 6
    assert all("vpc-0123abcd" in r for r in replies)
    assert proxy.wait_for("event publishing to Redis failed")


def test_monitoring_never_changes_traffic(proxy_factory, standin, redis_url):
    """DESIGN invariant 7: bytes forwarded and returned are identical with events off and on."""
    quiet = proxy_factory("targets=127.0.0.1", name="off")
    replies_off = converse(anthropic_client(quiet, standin), 4)
    sent_off = [r.body for r in standin.cfg.requests]
    standin.cfg.requests.clear()
    loud = proxy_factory("targets=127.0.0.1", "enable_event_monitoring=true",
                         f"redis_url={redis_url}", "event_batch_size=1", name="on")
    replies_on = converse(anthropic_client(loud, standin), 4)
    sent_on = [r.body for r in standin.cfg.requests]
    assert sent_off == sent_on
    assert replies_off == replies_on
