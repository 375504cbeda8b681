"""The realistic path: HTTPS through mitmdump (TLS interception) to a TLS upstream.

The stand-in LLM server serves TLS on 127.0.0.1 with a self-signed certificate for ``localhost``;
mitmdump accepts it (``ssl_insecure``) and targets ``localhost``; the SDK clients trust
mitmproxy's CA from the proxy's confdir.
"""

from __future__ import annotations

import json
import ssl

import anthropic
import openai
import pytest
from awsmasker.tokens import TOKEN_RE

from tests.clients import chat_stream_text_and_arguments
from testsupport.samples import ORIGINALS, PROMPT, assert_restored_message

pytestmark = pytest.mark.e2e


@pytest.fixture
def tls_proxy(proxy_factory):
    proxy = proxy_factory("targets=localhost", "ssl_insecure=true")
    assert proxy.ca_cert.exists()
    return proxy


def client_ssl(proxy) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(proxy.ca_cert))


def upstream_saw(standin) -> str:
    return "\n".join(r.body.decode("utf-8", "replace") for r in standin.cfg.requests)


def assert_masked(standin) -> None:
    seen = upstream_saw(standin)
    assert seen
    assert all(r.headers.get("Host") == f"localhost:{standin.port}" for r in standin.cfg.requests)
    for value in ORIGINALS:
        assert value not in seen, f"{value} reached the upstream server"
    assert len(set(TOKEN_RE.findall(seen))) >= len(ORIGINALS)


def test_https_anthropic_stream_masked_and_restored(tls_proxy, tls_standin):
    client = anthropic.Anthropic(
        api_key="sk-test",
        base_url=f"https://localhost:{tls_standin.port}",
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(
            proxy=tls_proxy.url, verify=client_ssl(tls_proxy), timeout=30
        ),
    )
    with client.messages.stream(
        model="claude-test",
        max_tokens=100,
        system="You manage account 123456789012.",
        messages=[{"role": "user", "content": PROMPT}],
    ) as stream:
        deltas = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert_masked(tls_standin)
    assert_restored_message(final, deltas)
    assert "i-0a1b2c3d4e5f67890" in final.content[1].input["command"]


def test_https_openai_chat_stream_with_tool_calls(tls_proxy, tls_standin):
    client = openai.OpenAI(
        api_key="sk-test",
        base_url=f"https://localhost:{tls_standin.port}/v1",
        max_retries=0,
        http_client=openai.DefaultHttpxClient(
            proxy=tls_proxy.url, verify=client_ssl(tls_proxy), timeout=30
        ),
    )
    stream = client.chat.completions.create(
        model="gpt-test", stream=True, messages=[{"role": "user", "content": PROMPT}]
    )
    text, args = chat_stream_text_and_arguments(stream)
    assert_masked(tls_standin)
    assert not TOKEN_RE.search(text)
    for value in ORIGINALS:
        assert value in text
    assert set(ORIGINALS) <= set(json.loads(args)["ids"])


def test_https_client_rejects_a_proxy_it_does_not_trust(tls_proxy, tls_standin):
    """Guards the setup: the client really verifies, so the CA file is what makes it work."""
    client = anthropic.Anthropic(
        api_key="sk-test",
        base_url=f"https://localhost:{tls_standin.port}",
        max_retries=0,
        http_client=anthropic.DefaultHttpxClient(proxy=tls_proxy.url, timeout=30),
    )
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(
            model="m", max_tokens=5, messages=[{"role": "user", "content": PROMPT}]
        )
    assert tls_standin.cfg.requests == []
