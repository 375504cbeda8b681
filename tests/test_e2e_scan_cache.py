"""The scan cache through real mitmdump processes: a conversation replayed turn by turn reaches
the server as the same bytes from a proxy with the cache as from one that scans every body whole,
with the memory store and with a shared Redis store."""

from __future__ import annotations

import base64
import json
import os
import random

import httpx
import pytest

from tests.test_scan_cache import SECRET, SNIPPETS

pytestmark = pytest.mark.e2e

HEADERS = {"content-type": "application/json", "x-api-key": "k",
           "anthropic-version": "2023-06-01"}


def conversation(turns: int) -> list[bytes]:
    """Request bodies of an agent session: each turn adds a tool call and its result, the
    cache breakpoint moves to the newest message, turn 5 rewrites the first result."""
    rng = random.Random(3)
    msgs: list[dict] = [{"role": "user", "content": [{"type": "text", "text": "look around"}]}]
    bodies = []
    for turn in range(turns):
        msgs.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": rng.choice(SNIPPETS), "signature": "c2ln" * 20},
            {"type": "tool_use", "id": f"t{turn}", "name": "Bash",
             "input": {"command": rng.choice(SNIPPETS), "account": 123456789012}}]})
        msgs.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"t{turn}",
             "content": " ".join(rng.choices(SNIPPETS, k=30))}]})
        if turn == 5:
            msgs[2]["content"][0]["content"] = "compacted: " + SNIPPETS[1]
        sent = json.loads(json.dumps(msgs))
        sent[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
        bodies.append(json.dumps({"model": "m", "max_tokens": 5, "system": "be brief " * 200,
                                  "messages": sent}, separators=(",", ":")).encode())
    return bodies


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_cached_proxy_forwards_the_bytes_of_whole_scans(proxy_factory, standin, store, request):
    opts = ["targets=127.0.0.1"]
    if store == "redis":
        key = base64.b64encode(os.urandom(32)).decode()
        opts += ["store=redis", f"redis_url={request.getfixturevalue('own_redis').url}",
                 f"encryption_key={key}"]
    cached = proxy_factory(*opts, name="cached")
    whole = proxy_factory(*opts, "scan_cache_bytes=0", name="whole")
    url = f"http://127.0.0.1:{standin.server_address[1]}/v1/messages"
    bodies = conversation(8)
    clients = [httpx.Client(proxy=p.url, trust_env=False, timeout=60) for p in (cached, whole)]
    try:
        for body in bodies:
            for c in clients:
                r = c.post(url, content=body, headers=HEADERS)
                assert r.status_code == 200, r.text
    finally:
        for c in clients:
            c.close()
    sent = [r.body for r in standin.cfg.requests]
    assert len(sent) == 2 * len(bodies)
    for turn, (via_cache, via_whole) in enumerate(zip(sent[::2], sent[1::2], strict=True)):
        assert via_cache == via_whole, f"turn {turn + 1} differs"
        assert b"AWS_ACCOUNT_" in via_cache and SECRET.encode() not in via_cache
        assert b'"account":123456789012' not in via_cache  # a bare number, now a string
        assert b'"account":"AWS_ACCOUNT_' in via_cache
