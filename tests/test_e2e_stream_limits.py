"""Streamed restore at the proxy's limits: large replies, the size cap, compression, other types.

Real mitmdump with the addon, a loopback upstream that generates replies on the fly
(testsupport/stream_upstream.py), real Redis for events. No wall-clock assertions.
"""

from __future__ import annotations

import json
import random
import re
import time

import anthropic
import httpx
import pytest
import redis
from awsmasker.tokens import MAX_TOKEN_LEN, TOKEN_RE, TOKEN_RE_BYTES

from testsupport.samples import ORIGINALS, PROMPT, assert_restored_message
from testsupport.standin import StandinConfig, anthropic_stream
from testsupport.stream_upstream import (
    SSE_HEADERS,
    BigSSE,
    UpstreamServer,
    big_sse_reply,
    fixed_reply,
    gzip_reply,
)

pytestmark = pytest.mark.e2e

MB = 1024 * 1024
# Each of these is masked as exactly one token, so the request's tokens come in this order.
PLAIN_ORIGINALS = ["i-0a1b2c3d4e5f67890", "vpc-0123abcd", "subnet-0fedcba9876543210", "10.20.30.40"]


def request_json() -> dict:
    return {
        "model": "m",
        "max_tokens": 10,
        "stream": True,
        "messages": [{"role": "user", "content": "Look at " + ", ".join(PLAIN_ORIGINALS)}],
    }


def token_to_original(upstream: UpstreamServer) -> dict[str, str]:
    tokens = upstream.seen[-1].tokens
    assert len(tokens) == len(PLAIN_ORIGINALS), tokens
    return dict(zip(tokens, PLAIN_ORIGINALS, strict=True))


def peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        m = re.search(r"^VmHWM:\s+(\d+) kB", f.read(), re.M)
    assert m is not None
    return int(m.group(1))


class StreamCheck:
    """Reads a reply incrementally: counts originals and leftover tokens across chunk edges."""

    def __init__(self, originals: list[str]) -> None:
        self.needles = [o.encode() for o in originals]
        self.counts = dict.fromkeys(originals, 0)
        self.leftover_tokens = 0
        self.size = 0
        self._tail = b""
        self._keep = max(MAX_TOKEN_LEN, *map(len, self.needles))

    def feed(self, chunk: bytes) -> None:
        self.size += len(chunk)
        buf = self._tail + chunk
        for needle, name in zip(self.needles, self.counts, strict=True):
            self.counts[name] += buf.count(needle) - self._tail.count(needle)
        # A match that ends inside the tail was counted with the previous chunk.
        self.leftover_tokens += sum(
            1 for m in TOKEN_RE_BYTES.finditer(buf) if m.end() > len(self._tail)
        )
        self._tail = buf[-self._keep :]


def test_200mb_reply_is_restored_with_bounded_proxy_memory(proxy_factory):
    total = 200 * MB
    with UpstreamServer(big_sse_reply(total)) as upstream:
        proxy = proxy_factory("targets=127.0.0.1", f"max_response_size={256 * MB}")
        url = f"http://127.0.0.1:{upstream.port}/v1/messages"
        pid = proxy.proc.pid
        at_start = peak_rss_kb(pid)
        with httpx.Client(proxy=proxy.url, timeout=60) as client:
            # Warm-up: the same kind of reply, 2 MB, so lazy imports and buffers are in place.
            upstream.reply = big_sse_reply(2 * MB)
            client.post(url, json=request_json()).raise_for_status()
            before = peak_rss_kb(pid)
            upstream.reply = big_sse_reply(total)
            check = StreamCheck(PLAIN_ORIGINALS)
            with client.stream("POST", url, json=request_json()) as resp:
                assert resp.status_code == 200
                for chunk in resp.iter_raw(64 * 1024):
                    check.feed(chunk)
        after = peak_rss_kb(pid)
    growth_mb = (after - before) / 1024
    print(
        f"mitmdump peak RSS: start {at_start / 1024:.1f} MB, after warm-up {before / 1024:.1f} "
        f"MB, after 200 MB reply {after / 1024:.1f} MB (growth {growth_mb:.1f} MB)"
    )
    sent = BigSSE(upstream.seen[-1].tokens, total)
    assert sent.size >= 200 * MB
    assert check.size >= 195 * MB  # originals here are not much shorter than their tokens
    expected = {token_to_original(upstream)[t]: n for t, n in sent.expected_counts().items()}
    assert all(n > 1000 for n in expected.values())
    assert check.counts == expected, "every token up to the end was restored"
    assert check.leftover_tokens == 0
    assert growth_mb < 32
    assert (after - at_start) / 1024 < 32, "growth from start-up, warm-up included"


@pytest.fixture
def redis_url(redis_proc, redisdb) -> str:
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


def collect_events(pubsub, want, timeout: float = 10) -> list[dict]:
    events: list[dict] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not want(events):
        m = pubsub.get_message(timeout=0.1)
        if m and m["type"] == "message":
            obj = json.loads(m["data"])
            events.extend(obj["events"] if obj.get("type") == "batch" else [obj])
    return events


def sse_texts(data: bytes) -> str:
    """The text of every complete text_delta event in ``data``."""
    out = []
    for ev in data.split(b"\n\n")[:-1]:
        for line in ev.split(b"\n"):
            if line.startswith(b"data: "):
                obj = json.loads(line[6:])
                if obj.get("delta", {}).get("type") == "text_delta":
                    out.append(obj["delta"]["text"])
    return "".join(out)


def test_reply_past_the_cap_passes_byte_exact_and_is_flagged(proxy_factory, redis_url):
    cap = 1 * MB
    total = 3 * MB
    r = redis.Redis.from_url(redis_url)
    pubsub = r.pubsub()
    pubsub.subscribe("masker:events")
    pubsub.get_message(timeout=2)
    try:
        with UpstreamServer(big_sse_reply(total)) as upstream:
            proxy = proxy_factory(
                "targets=127.0.0.1",
                f"max_response_size={cap}",
                "enable_event_monitoring=true",
                f"redis_url={redis_url}",
                "event_flush_interval_ms=100",
            )
            with httpx.Client(proxy=proxy.url, timeout=30) as client:
                got = client.post(
                    f"http://127.0.0.1:{upstream.port}/v1/messages", json=request_json()
                ).content
        sent = b"".join(BigSSE(upstream.seen[-1].tokens, total))
        tmap = token_to_original(upstream)

        # Past the cap: exactly what upstream sent, tokens and all.
        past = sent[cap:]
        assert TOKEN_RE_BYTES.search(past)
        assert got.endswith(past)
        head = got[: len(got) - len(past)]
        # Before the cap: every complete event restored; the event cut by the cap passes as is.
        cut_event = sent[sent.rfind(b"\n\n", 0, cap) + 2 : cap]
        assert head.endswith(cut_event)
        want = TOKEN_RE.sub(lambda m: tmap[m.group(0)], sse_texts(sent[:cap]))
        assert sse_texts(head) == want
        assert not TOKEN_RE.search(want)
        assert all(o in want for o in PLAIN_ORIGINALS)

        assert proxy.wait_for("aws-masker: size_cap")
        events = collect_events(pubsub, lambda evs: any(e["event_type"] == "restored" for e in evs))
        skipped = [e for e in events if e["event_type"] == "restore_skipped"]
        restored = [e for e in events if e["event_type"] == "restored"]
        masked = [e for e in events if e["event_type"] == "masked"]
        assert len(skipped) == 1 and skipped[0]["reason"] == "size_cap"
        assert skipped[0]["flow_id"] == masked[0]["flow_id"] == restored[0]["flow_id"]
        assert "size_cap" in restored[0]["flags"]
    finally:
        pubsub.close()
        r.close()


def test_gzip_sse_reply_is_decoded_and_restored(proxy_factory):
    def stream(tokens: list[str]):
        return SSE_HEADERS, anthropic_stream(tokens, random.Random(5), StandinConfig())

    with UpstreamServer(gzip_reply(stream)) as upstream:
        proxy = proxy_factory("targets=127.0.0.1")
        client = anthropic.Anthropic(
            api_key="sk-test",
            base_url=f"http://127.0.0.1:{upstream.port}",
            max_retries=0,
            http_client=anthropic.DefaultHttpxClient(proxy=proxy.url, timeout=30),
        )
        with client.messages.stream(
            model="m", max_tokens=10, messages=[{"role": "user", "content": PROMPT}]
        ) as s:
            deltas = "".join(s.text_stream)
            final = s.get_final_message()
            headers = s.response.headers
    seen = upstream.seen[-1]
    assert seen.headers.get("Accept-Encoding") == "identity"
    assert len(seen.tokens) >= len(ORIGINALS)
    assert "content-encoding" not in headers
    assert_restored_message(final, deltas)


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png"])
def test_reply_of_another_type_passes_byte_identical(proxy_factory, content_type):
    def body(tokens: list[str]) -> bytes:
        rng = random.Random(3)
        parts = [rng.randbytes(200)]
        for t in tokens:
            parts += [t.encode(), b'"', json.dumps({"id": t}).encode(), rng.randbytes(50)]
        return b"".join(parts)

    with UpstreamServer(fixed_reply(content_type, body)) as upstream:
        proxy = proxy_factory("targets=127.0.0.1")
        with httpx.Client(proxy=proxy.url, timeout=30) as client:
            resp = client.post(f"http://127.0.0.1:{upstream.port}/v1/messages", json=request_json())
    tokens = upstream.seen[-1].tokens
    assert len(tokens) == len(PLAIN_ORIGINALS)  # the flow has a token map
    assert resp.content == body(tokens)
    assert TOKEN_RE_BYTES.search(resp.content)
