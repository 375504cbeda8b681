"""The Redis store through real mitmdump processes: shared determinism, outages, recovery."""

from __future__ import annotations

import base64
import os

import anthropic
import pytest

from tests.clients import anthropic_client
from testsupport.samples import ORIGINALS, PROMPT

pytestmark = pytest.mark.e2e

KEY = base64.b64encode(os.urandom(32)).decode()


def ask(client: anthropic.Anthropic, text: str = PROMPT) -> str:
    msg = client.messages.create(model="m", max_tokens=5,
                                 messages=[{"role": "user", "content": text}])
    return msg.content[0].text


def redis_proxy(proxy_factory, url: str, *extra: str, name: str = "proxy"):
    return proxy_factory("targets=127.0.0.1", "store=redis", f"redis_url={url}",
                         f"encryption_key={KEY}", *extra, name=name)


def assert_clean(standin) -> None:
    seen = "\n".join(r.body.decode() for r in standin.cfg.requests)
    for value in ORIGINALS:
        assert value not in seen


def test_two_proxies_sharing_redis_mask_identically(proxy_factory, standin, own_redis):
    a = redis_proxy(proxy_factory, own_redis.url, name="a")
    b = redis_proxy(proxy_factory, own_redis.url, name="b")
    text_a = ask(anthropic_client(a, standin))
    text_b = ask(anthropic_client(b, standin))
    first, second = standin.cfg.requests
    assert first.body == second.body
    assert text_a == text_b
    for value in ORIGINALS:
        assert value in text_a
    # a value first seen by b restores through a
    ask(anthropic_client(b, standin), "new instance i-0ffffffffffffffff please")
    again = ask(anthropic_client(a, standin), "and i-0ffffffffffffffff again")
    assert "i-0ffffffffffffffff" in again
    assert_clean(standin)


def test_redis_killed_blocks_then_recovers_without_restart(proxy_factory, standin, own_redis):
    proxy = redis_proxy(proxy_factory, own_redis.url)
    client = anthropic_client(proxy, standin)
    assert "vpc-0123abcd" in ask(client)
    sent_before = len(standin.cfg.requests)
    own_redis.kill()
    for _ in range(3):
        with pytest.raises(anthropic.APIStatusError) as e:
            ask(client)
        assert e.value.status_code == 503
        assert "mapping store unavailable" in str(e.value)
    assert len(standin.cfg.requests) == sent_before, "a request went upstream during the outage"
    own_redis.start()
    for _ in range(50):  # the store probes again at most once a second
        try:
            text = ask(client)
            break
        except anthropic.APIStatusError:
            import time

            time.sleep(0.2)
    else:
        pytest.fail("the proxy did not recover after Redis came back")
    assert "vpc-0123abcd" in text
    assert standin.cfg.requests[-1].body == standin.cfg.requests[0].body  # same tokens as before
    assert proxy.proc.poll() is None
    assert_clean(standin)


def test_memory_fallback_keeps_masking_during_outage(proxy_factory, standin, own_redis):
    proxy = redis_proxy(proxy_factory, own_redis.url, "on_store_error=memory")
    client = anthropic_client(proxy, standin)
    ask(client)
    own_redis.kill()
    text = ask(client)
    assert "vpc-0123abcd" in text and "10.20.30.40" in text
    assert "AWS_VPC_100000001" in standin.cfg.requests[-1].body.decode()
    assert proxy.wait_for("masking continues with an in-process store")
    assert_clean(standin)
