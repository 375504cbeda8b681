"""End to end: real mitmdump + the addon + a stand-in LLM server + the official SDKs."""

from __future__ import annotations

import json
import ssl
import threading

import httpx
import pytest

from tests.clients import anthropic_client, chat_stream_text_and_arguments, openai_client
from testsupport.mitmdump import run_mitmdump_expecting_exit
from testsupport.raw_upstream import chunk, sse_event, sse_head
from testsupport.samples import ORIGINALS, PROMPT, SECRET, SECRET_LINE, assert_restored_message
from testsupport.standin import TOKEN_RE

pytestmark = pytest.mark.e2e


def upstream_saw(standin) -> str:
    return "\n".join(r.body.decode("utf-8", "replace") for r in standin.cfg.requests)


def assert_nothing_leaked(standin, extra: tuple[str, ...] = ()) -> None:
    seen = upstream_saw(standin)
    assert seen, "the stand-in server received nothing"
    for value in (*ORIGINALS, *extra):
        assert value not in seen, f"{value} reached the upstream server"
        assert value.replace("/", "\\/") not in seen


def messages_request() -> dict:
    return dict(
        model="claude-test",
        max_tokens=100,
        system=f"You manage account 123456789012. Context: {PROMPT}",
        messages=[
            {"role": "user", "content": PROMPT},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "bash",
                 "input": {"command": "aws ec2 describe-instances --instance-ids "
                                      "i-0a1b2c3d4e5f67890"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1",
                 "content": json.dumps({"Reservations": [{"Instances": [
                     {"InstanceId": "i-0a1b2c3d4e5f67890", "PrivateIpAddress": "10.20.30.40",
                      "VpcId": "vpc-0123abcd"}]}]}, indent=2)},
                {"type": "text", "text": "What is wrong?"}]},
        ],
    )


def test_anthropic_create_masks_request_and_restores_reply(proxy, standin):
    client = anthropic_client(proxy, standin)
    msg = client.messages.create(**messages_request())
    assert_nothing_leaked(standin)
    sent_tokens = set(TOKEN_RE.findall(upstream_saw(standin)))
    assert len(sent_tokens) >= len(ORIGINALS)
    text = msg.content[0].text
    tool = msg.content[1]
    for value in ORIGINALS:
        assert value in text
        assert value in tool.input["ids"]
    assert not TOKEN_RE.search(text), "a token came back unrestored"


def test_anthropic_stream_text_and_tool_use_restored(proxy, standin):
    client = anthropic_client(proxy, standin)
    with client.messages.stream(**messages_request()) as stream:
        deltas = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert_nothing_leaked(standin)
    assert_restored_message(final, deltas)
    assert "i-0a1b2c3d4e5f67890" in final.content[1].input["command"]


def test_resent_conversation_masks_byte_identically(proxy, standin):
    client = anthropic_client(proxy, standin)
    client.messages.create(**messages_request())
    client.messages.create(**messages_request())
    first, second = standin.cfg.requests
    assert first.body == second.body


def test_count_tokens_is_masked(proxy, standin):
    client = anthropic_client(proxy, standin)
    client.messages.count_tokens(model="claude-test", messages=[{"role": "user",
                                                                 "content": PROMPT}])
    assert standin.cfg.requests[-1].path.endswith("/v1/messages/count_tokens")
    assert_nothing_leaked(standin)


def test_secret_is_replaced_and_never_restored(proxy, standin):
    client = anthropic_client(proxy, standin)
    msg = client.messages.create(model="claude-test", max_tokens=10, messages=[
        {"role": "user", "content": f"my config:\n{SECRET_LINE}\nvpc vpc-0123abcd"}])
    assert SECRET not in upstream_saw(standin)
    text = msg.content[0].text
    assert SECRET not in text
    assert "vpc-0123abcd" in text


def test_openai_chat_stream_with_tool_calls(proxy, standin):
    client = openai_client(proxy, standin)
    stream = client.chat.completions.create(
        model="gpt-test", stream=True,
        messages=[{"role": "system", "content": "You are an AWS assistant."},
                  {"role": "user", "content": PROMPT}],
    )
    text, args = chat_stream_text_and_arguments(stream)
    assert_nothing_leaked(standin)
    for value in ORIGINALS:
        assert value in text
    assert set(ORIGINALS) <= set(json.loads(args)["ids"])


def test_openai_responses_stream(proxy, standin):
    client = openai_client(proxy, standin)
    with client.responses.stream(model="gpt-test", input=PROMPT) as stream:
        deltas = "".join(e.delta for e in stream if e.type == "response.output_text.delta")
        final = stream.get_final_response()
    assert_nothing_leaked(standin)
    assert deltas == final.output_text
    for value in ORIGINALS:
        assert value in final.output_text
    call = next(o for o in final.output if o.type == "function_call")
    assert set(ORIGINALS) <= set(json.loads(call.arguments)["ids"])


def test_non_target_hosts_are_untouched(proxy_factory, standin):
    proxy = proxy_factory()  # default targets: api.anthropic.com only
    client = anthropic_client(proxy, standin)
    msg = client.messages.create(model="claude-test", max_tokens=10,
                                 messages=[{"role": "user", "content": PROMPT}])
    assert PROMPT in upstream_saw(standin).replace("\\n", "\n").replace("\\t", "\t")
    assert msg.content[0].text.startswith("Found: .")  # no tokens were sent, none came back


def test_gzip_request_body_is_masked(proxy, standin):
    import gzip

    body = json.dumps({"model": "m", "max_tokens": 5,
                       "messages": [{"role": "user", "content": PROMPT}]}).encode()
    with httpx.Client(proxy=proxy.url, timeout=30) as c:
        r = c.post(f"http://127.0.0.1:{standin.port}/v1/messages", content=gzip.compress(body),
                   headers={"content-type": "application/json", "content-encoding": "gzip"})
    assert r.status_code == 200
    seen = gzip.decompress(standin.cfg.requests[-1].body).decode()
    for value in ORIGINALS:
        assert value not in seen
    assert "i-0a1b2c3d4e5f67890" in r.json()["content"][0]["text"]


def test_stream_large_bodies_cannot_send_a_target_body_unmasked(proxy_factory, standin):
    proxy = proxy_factory("targets=127.0.0.1", "stream_large_bodies=1k")
    body = json.dumps({"messages": [{"role": "user", "content": PROMPT * 20}]}).encode()
    with httpx.Client(proxy=proxy.url, timeout=10) as c:
        with pytest.raises(httpx.HTTPError):
            c.post(f"http://127.0.0.1:{standin.port}/v1/messages", content=body,
                   headers={"content-type": "application/json"})

        def chunks():
            for i in range(0, len(body), 500):
                yield body[i:i + 500]

        try:
            r = c.post(f"http://127.0.0.1:{standin.port}/v1/messages", content=chunks(),
                       headers={"content-type": "application/json"})
            assert r.status_code >= 400
        except httpx.HTTPError:
            pass
    assert standin.cfg.requests == [], "a streamed target body reached the server"
    assert proxy.wait_for("stream_large_bodies")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST"])
def test_stream_large_bodies_refuses_a_chunked_body_whatever_the_method(
        proxy_factory, standin, method):
    """A chunked body may cross the limit, and mitmproxy would then stream it raw."""
    proxy = proxy_factory("targets=127.0.0.1", "stream_large_bodies=1k")
    body = json.dumps({"messages": [{"role": "user", "content": PROMPT * 20}]}).encode()

    def chunks():
        for i in range(0, len(body), 500):
            yield body[i:i + 500]

    with httpx.Client(proxy=proxy.url, timeout=10) as c:
        try:
            r = c.request(method, f"http://127.0.0.1:{standin.port}/v1/messages",
                          content=chunks(), headers={"content-type": "application/json"})
            assert r.status_code >= 400
        except httpx.HTTPError:
            pass
    assert standin.cfg.requests == [], "a streamed target body reached the server"
    assert proxy.wait_for("stream_large_bodies")


def test_stream_large_bodies_refuses_http2_bodies_without_a_length(proxy_factory, tls_standin):
    """HTTP/2 frames its own body: without content-length the headers do not say whether a
    body follows or how long it is, so a target request may be streamed and is refused."""
    proxy = proxy_factory("targets=localhost", "ssl_insecure=true", "stream_large_bodies=1k")
    body = json.dumps({"messages": [{"role": "user", "content": PROMPT * 20}]}).encode()

    def chunks():
        for i in range(0, len(body), 500):
            yield body[i:i + 500]

    ctx = ssl.create_default_context(cafile=str(proxy.ca_cert))
    with (httpx.Client(proxy=proxy.url, timeout=10, verify=ctx, http2=True) as c,
          pytest.raises(httpx.HTTPError)):
        c.request("OPTIONS", f"https://localhost:{tls_standin.port}/v1/messages",
                  content=chunks())
    assert tls_standin.cfg.requests == [], "a streamed target body reached the server"


def test_small_bodies_still_pass_with_stream_large_bodies(proxy_factory, standin):
    proxy = proxy_factory("targets=127.0.0.1", "stream_large_bodies=1m")
    client = anthropic_client(proxy, standin)
    msg = client.messages.create(model="m", max_tokens=5,
                                 messages=[{"role": "user", "content": PROMPT}])
    assert_nothing_leaked(standin)
    assert "vpc-0123abcd" in msg.content[0].text


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (["store=mongo"], "store"),
        (["event_sampling_rate=3"], "event_sampling_rate: expected a number from 0 to 1"),
        (["disabled_types=NOPE"], "disabled_types: unknown type 'NOPE'"),
    ],
)
def test_bad_option_stops_the_proxy_at_start(tmp_path, options, fragment):
    code, output = run_mitmdump_expecting_exit(tmp_path, options)
    assert code != 0
    assert fragment in output


def test_bad_masker_yaml_stops_the_proxy_at_start(tmp_path):
    (tmp_path / "masker.yaml").write_text("targets: [api.anthropic.com]\nmapping_ttl: -1\n")
    code, output = run_mitmdump_expecting_exit(tmp_path, [])
    assert code != 0
    assert "mapping_ttl: expected an integer from 60" in output


def test_logs_carry_no_original_values(proxy_factory, standin):
    """DESIGN invariants 3 and 4: nothing the proxy logs contains an original or a secret."""
    proxy = proxy_factory("targets=127.0.0.1", "termlog_verbosity=debug", "flow_detail=3")
    client = anthropic_client(proxy, standin)
    content = f"{PROMPT}\n{SECRET_LINE}"
    with client.messages.stream(model="m", max_tokens=5,
                                messages=[{"role": "user", "content": content}]) as s:
        s.get_final_message()
    client.messages.create(model="m", max_tokens=5,
                           messages=[{"role": "user", "content": content}])
    proxy.stop()
    log = proxy.output()
    assert "aws-masker ready" in log
    for value in (*ORIGINALS, SECRET):
        # flow_detail=3 makes mitmdump itself print bodies: requests are printed masked; the
        # restored replies are streamed and not stored, so no original can appear.
        assert value not in log, f"{value} appeared in the proxy's output"


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_restored_replies_keep_the_client_connection_alive(proxy, standin, stream):
    """A restored reply changes length; on HTTP/1.1 it must be sent chunked (streamed) or with
    its new content-length (small replies restored whole), not ended by closing the connection
    (which would cost every request a new connection)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
    body = json.dumps({"model": "m", "max_tokens": 5, "stream": stream,
                       "messages": [{"role": "user", "content": PROMPT}]})
    url = f"http://127.0.0.1:{standin.port}/v1/messages"
    try:
        for _ in range(3):  # the same socket every time
            conn.request("POST", url, body=body, headers={"content-type": "application/json"})
            resp = conn.getresponse()
            raw = resp.read()
            data = raw.decode()
            assert resp.status == 200
            if resp.getheader("transfer-encoding") != "chunked":
                assert resp.getheader("content-length") == str(len(raw))
            assert "vpc-0123abcd" in data and "AWS_VPC_" not in data
            assert not resp.will_close
    finally:
        conn.close()


def test_chunked_request_body_is_masked(proxy, standin):
    body = json.dumps({"model": "m", "max_tokens": 5,
                       "messages": [{"role": "user", "content": PROMPT}]}).encode()

    def chunks():
        for i in range(0, len(body), 100):
            yield body[i:i + 100]

    with httpx.Client(proxy=proxy.url, timeout=30) as c:
        r = c.post(f"http://127.0.0.1:{standin.port}/v1/messages", content=chunks(),
                   headers={"content-type": "application/json"})
    assert r.status_code == 200
    assert_nothing_leaked(standin)
    assert "vpc-0123abcd" in r.json()["content"][0]["text"]


@pytest.mark.parametrize("with_identifier", [True, False], ids=["identifier", "none"])
def test_streamed_answer_reaches_the_client_as_it_is_written(proxy, upstreams, with_identifier):
    """An SSE answer goes to the client event by event whether or not the request held an
    identifier. With none there is nothing to restore, but mitmproxy must still not hold the
    reply whole (by default it buffers every body): the upstream sends its first event and waits
    until the client has read it before it sends the rest."""
    first_read = threading.Event()
    waited: list[bool] = []

    def behaviour(conn, body: bytes) -> None:
        conn.sendall(sse_head() + chunk(sse_event("first part")))
        waited.append(first_read.wait(10))
        conn.sendall(chunk(sse_event("second part")) + b"0\r\n\r\n")

    up = upstreams(behaviour)
    content = "Is i-0a1b2c3d4e5f67890 up?" if with_identifier else "Nothing to mask here."
    body = json.dumps({"model": "m", "max_tokens": 10, "stream": True,
                       "messages": [{"role": "user", "content": content}]})
    received = b""
    with (httpx.Client(proxy=proxy.url, timeout=30) as c,
          c.stream("POST", up.url, content=body,
                   headers={"content-type": "application/json"}) as r):
        assert r.status_code == 200
        for data in r.iter_raw():
            received += data
            if b"first part" in received:
                first_read.set()
    assert waited == [True], "the proxy held the first event until the reply ended"
    assert b"second part" in received
    assert b"i-0a1b2c3d4e5f67890" not in up.bodies[0]
