"""Faults through real mitmdump processes: upstream cut mid-stream, client gone mid-stream,
malformed upstream SSE, Redis stopped and restarted under concurrent load.

The proxy must stay up, leak nothing upstream, and give the client either the bytes (restored or
unchanged) or a clear error, never silently dropped data. A small raw-socket upstream
(:class:`testsupport.raw_upstream.RawUpstream`, the ``upstreams`` fixture) misbehaves on demand
where the shared stand-in server cannot.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from testsupport.raw_upstream import chunk, sse_event, sse_head
from testsupport.redis_server import RedisServer
from testsupport.samples import ORIGINALS

pytestmark = pytest.mark.e2e

# Originals whose restored form needs no JSON escaping (so bytes compare simply).
IDS = ["i-0a1b2c3d4e5f67890", "vpc-0123abcd", "10.20.30.40",
       "arn:aws:iam::123456789012:role/DeployRole", "AKIAIOSFODNN7EXAMPLE"]
SEP = " | "
ANTHROPIC_HEADERS = {"content-type": "application/json", "x-api-key": "sk-test",
                     "anthropic-version": "2023-06-01"}


def request_body(stream: bool = True, ids: list[str] = IDS) -> bytes:
    return json.dumps({"model": "m", "max_tokens": 10, "stream": stream,
                       "messages": [{"role": "user", "content": SEP.join(ids)}]}).encode()


def token_map_of(masked_body: bytes, ids: list[str] = IDS) -> dict[str, str]:
    """token → original, read off the masked request the upstream received."""
    content = json.loads(masked_body)["messages"][0]["content"]
    tokens = content.split(SEP)
    assert len(tokens) == len(ids) and all(t.startswith("AWS_") for t in tokens), content
    return dict(zip(tokens, ids, strict=True))


def tokens_in(body: bytes, ids: list[str] = IDS) -> list[str]:
    return list(token_map_of(body, ids))


def unrestore(data: bytes, token_map: dict[str, str]) -> bytes:
    """Put the tokens back where the proxy restored originals (the originals need no escaping)."""
    for token, original in sorted(token_map.items(), key=lambda kv: -len(kv[1])):
        data = data.replace(original.encode(), token.encode())
    return data


_DATA_JSON = re.compile(rb"(data: ?)(\{[^\r\n]*\})")


def _canonical(m: re.Match[bytes]) -> bytes:
    try:
        obj = json.loads(m.group(2))
    except ValueError:
        return m.group(0)
    return m.group(1) + json.dumps(obj, sort_keys=True).encode()


def same_sse(received: bytes, sent: bytes, token_map: dict[str, str]) -> bool:
    """``received`` is ``sent`` with tokens restored; an event the proxy restored may have its
    JSON re-serialised, so JSON data lines are compared by value."""
    got = _DATA_JSON.sub(_canonical, unrestore(received, token_map))
    return got == _DATA_JSON.sub(_canonical, sent)


def standin_reply(conn: socket.socket, body: bytes) -> None:
    """A well-behaved non-streamed Anthropic reply that echoes the request's tokens."""
    text = " ".join(json.loads(body)["messages"][0]["content"].split(SEP))
    payload = json.dumps({"id": "msg_1", "type": "message", "role": "assistant", "model": "m",
                          "content": [{"type": "text", "text": text}],
                          "stop_reason": "end_turn", "stop_sequence": None,
                          "usage": {"input_tokens": 1, "output_tokens": 1}}).encode()
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                 + str(len(payload)).encode() + b"\r\n\r\n" + payload)


def assert_next_request_works(proxy, upstreams) -> None:
    """The proxy is still up and masks/restores a fresh request end to end."""
    assert proxy.proc.poll() is None, proxy.output()
    up = upstreams(standin_reply)
    with httpx.Client(proxy=proxy.url, timeout=20) as c:
        r = c.post(up.url, content=request_body(stream=False), headers=ANTHROPIC_HEADERS)
    assert r.status_code == 200, r.text
    text = r.json()["content"][0]["text"]
    assert text == " ".join(IDS)
    for value in IDS:
        assert value.encode() not in up.bodies[0]


def assert_no_addon_traceback(proxy) -> None:
    out = proxy.output()
    assert "Traceback" not in out, out
    assert "addon error" not in out.lower(), out


# --------------------------------------------------------------------------------------------
# Upstream closing the connection mid-stream
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "close-delimited"])
def test_upstream_cut_mid_stream(proxy_factory, upstreams, chunked):
    """Events sent before the cut reach the client restored while upstream is still open (no
    token held back); then the chunked reply ends in a protocol error, the close-delimited one
    in EOF with the partial event passed on; the proxy then serves the next request."""
    proxy = proxy_factory("targets=127.0.0.1")
    client_saw_all = threading.Event()
    partial = b'event: content_block_delta\ndata: {"type": "content_block_delta", "ind'

    def behaviour(conn: socket.socket, body: bytes) -> None:
        toks = tokens_in(body)
        conn.sendall(sse_head(chunked))
        for i, tok in enumerate(toks):
            ev = sse_event(f"part {i}: {tok} ")
            # split each event (and the token in it) across two writes
            for piece in (ev[: len(ev) // 2], ev[len(ev) // 2 :]):
                conn.sendall(chunk(piece) if chunked else piece)
        conn.sendall(chunk(partial) if chunked else partial)
        client_saw_all.wait(20)
        # Abrupt close: no terminating chunk
        conn.shutdown(socket.SHUT_RDWR)

    up = upstreams(behaviour)
    received = b""
    error: Exception | None = None
    with httpx.Client(proxy=proxy.url, timeout=httpx.Timeout(20)) as c:
        try:
            with c.stream("POST", up.url, content=request_body(), headers=ANTHROPIC_HEADERS) as r:
                assert r.status_code == 200
                for data in r.iter_raw():
                    received += data
                    if f"part {len(IDS) - 1}: {IDS[-1]} ".encode() in received:
                        client_saw_all.set()
        except httpx.HTTPError as e:
            error = e
    client_saw_all.set()
    assert client_saw_all.is_set()
    token_map = token_map_of(up.bodies[0])
    text = received.decode()
    for i, value in enumerate(IDS):
        assert f"part {i}: {value} " in text, text  # every complete event restored
    assert "AWS_" not in text
    complete = b"".join(sse_event(f"part {i}: {t} ") for i, t in enumerate(token_map))
    restored = unrestore(received, token_map)
    if chunked:
        assert isinstance(error, httpx.RemoteProtocolError), (error, received)
        # the partial event held back at the cut may be lost, never the complete ones
        assert received.endswith(b"\n\n") or partial.startswith(restored.rpartition(b"\n\n")[2])
        assert same_sse(received.rpartition(b"\n\n")[0] + b"\n\n", complete, token_map)
    else:
        assert error is None, error
        assert same_sse(received, complete + partial, token_map)  # partial event flushed at EOF
    assert_next_request_works(proxy, upstreams)
    assert_no_addon_traceback(proxy)


def test_upstream_resets_before_any_body(proxy_factory, upstreams):
    """Headers then RST: the client gets a clear error, the proxy stays up."""
    proxy = proxy_factory("targets=127.0.0.1")

    def behaviour(conn: socket.socket, body: bytes) -> None:
        conn.sendall(sse_head(True))
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    up = upstreams(behaviour)
    with (httpx.Client(proxy=proxy.url, timeout=20) as c,
          pytest.raises(httpx.HTTPError),
          c.stream("POST", up.url, content=request_body(), headers=ANTHROPIC_HEADERS) as r):
        r.read()
    assert_next_request_works(proxy, upstreams)
    assert_no_addon_traceback(proxy)


# --------------------------------------------------------------------------------------------
# Client disconnecting mid-stream
# --------------------------------------------------------------------------------------------

def test_client_disconnects_mid_stream(proxy_factory, upstreams):
    """The client reads one restored event and hangs up: the proxy closes the upstream
    connection (the upstream's writes start failing) and serves the next request."""
    proxy = proxy_factory("targets=127.0.0.1")
    upstream_broken = threading.Event()

    def behaviour(conn: socket.socket, body: bytes) -> None:
        tok = tokens_in(body)[0]
        conn.sendall(sse_head(True))
        try:
            for i in range(400):  # at most ~20 s
                conn.sendall(chunk(sse_event(f"tick {i} {tok} ")))
                if upstream_broken.wait(0.05):
                    return
        except OSError:
            upstream_broken.set()

    up = upstreams(behaviour)
    with httpx.Client(proxy=proxy.url, timeout=20) as c, c.stream(
            "POST", up.url, content=request_body(), headers=ANTHROPIC_HEADERS) as r:
        got = b""
        for data in r.iter_raw():
            got += data
            if b"tick 1 " in got:
                break
    assert f"tick 0 {IDS[0]} ".encode() in got
    assert upstream_broken.wait(20), "the proxy kept the upstream connection open"
    assert_next_request_works(proxy, upstreams)
    assert_no_addon_traceback(proxy)


# --------------------------------------------------------------------------------------------
# Malformed upstream SSE
# --------------------------------------------------------------------------------------------

def malformed_streams(toks: list[str]) -> dict[str, bytes]:
    a, b = toks[0], toks[1]
    good = sse_event(f"ok {a} ")
    return {
        "garbage lines": good + b"\x00\xff garbage " + a.encode() + b"\nno colon here\n\n"
        + b": comment " + b.encode() + b"\n\n" + good,
        "invalid json": good + b'event: content_block_delta\ndata: {"type": "content_bl'
        + a.encode() + b' ,,, }\n\n' + b"data: not json " + b.encode() + b"\n\n" + good,
        "no final blank line": good + sse_event(f"last {b}")[:-1],
        "no final newline": good + sse_event(f"last {b}")[:-2],
        "cr only": good.replace(b"\n", b"\r") + sse_event(f"cr {b} ").replace(b"\n", b"\r"),
        "crlf": sse_event(f"crlf {a} ").replace(b"\n", b"\r\n") + good.replace(b"\n", b"\r\n"),
        "binary": bytes(range(256)) + b"\n\n" + good,
        "empty data": b"data:\n\ndata\n\n\n\n\n" + good,
        "huge line": b"data: " + b"x" * 300_000 + a.encode() + b"\n\n" + good,
    }


MALFORMED = list(malformed_streams(["AWS_EC2_001", "AWS_VPC_001"]))


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_upstream_sse(proxy_factory, upstreams, name):
    """Every byte reaches the client, unchanged or with known tokens restored; the valid
    events around the damage are restored; the proxy stays up."""
    proxy = proxy_factory("targets=127.0.0.1")
    sent: list[bytes] = []

    def behaviour(conn: socket.socket, body: bytes) -> None:
        stream = malformed_streams(tokens_in(body))[name]
        sent.append(stream)
        conn.sendall(sse_head(True))
        for i in range(0, len(stream), 7001):  # odd chunk size: cuts land mid-line
            conn.sendall(chunk(stream[i : i + 7001]))
        conn.sendall(b"0\r\n\r\n")

    up = upstreams(behaviour)
    with httpx.Client(proxy=proxy.url, timeout=20) as c:
        r = c.post(up.url, content=request_body(), headers=ANTHROPIC_HEADERS)
    assert r.status_code == 200
    token_map = token_map_of(up.bodies[0])
    assert same_sse(r.content, sent[0], token_map), "bytes were lost or altered"
    assert f"ok {IDS[0]} ".encode() in r.content or name in ("crlf", "cr only",
                                                             "no final blank line",
                                                             "no final newline")
    assert_next_request_works(proxy, upstreams)
    assert_no_addon_traceback(proxy)


# --------------------------------------------------------------------------------------------
# Redis stopped and restarted under concurrent load
# --------------------------------------------------------------------------------------------

def unique_ids(n: int) -> list[str]:
    return [f"i-{n:017x}", f"vpc-{n:08x}", f"10.99.{n // 250}.{n % 250 + 1}"]


@pytest.mark.parametrize("first_wave_clean", [False, True], ids=["eventually", "first-wave"])
def test_redis_stopped_and_restarted_under_concurrent_load(proxy_factory, upstreams, tmp_path,
                                                           first_wave_clean):
    """Concurrent clients during a Redis outage get 503s and nothing reaches upstream; after
    Redis restarts the same proxy serves requests again (``first-wave``: the first concurrent
    wave after the first success is all successes)."""
    (tmp_path / "redis").mkdir()
    rs = RedisServer(tmp_path / "redis")
    rs.start()
    try:
        _redis_outage(proxy_factory, upstreams, rs, first_wave_clean)
    finally:
        rs.kill()


def _redis_outage(proxy_factory, upstreams, rs: RedisServer, first_wave_clean: bool) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    proxy = proxy_factory("targets=127.0.0.1", "store=redis", f"redis_url={rs.url}",
                          f"encryption_key={key}", "enable_event_monitoring=true")
    up = upstreams(standin_reply)
    counter = iter(range(1, 100_000))
    lock = threading.Lock()

    def one(_: int) -> tuple[int, str, list[str]]:
        with lock:
            ids = unique_ids(next(counter))
        with httpx.Client(proxy=proxy.url, timeout=30) as c:
            r = c.post(up.url, content=request_body(stream=False, ids=ids),
                       headers=ANTHROPIC_HEADERS)
        return r.status_code, r.text, ids

    def wave(n: int = 16) -> list[tuple[int, str, list[str]]]:
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(one, range(n)))

    def check_ok(results: list[tuple[int, str, list[str]]]) -> None:
        for status, text, ids in results:
            assert status == 200, text
            assert json.loads(text)["content"][0]["text"] == " ".join(ids)

    check_ok(wave())  # fills the proxy's Redis connection pool
    before = len(up.bodies)

    rs.stop()
    outage = wave() + wave()
    for status, text, _ in outage:
        assert status == 503, text
        assert "mapping store unavailable" in text
        assert json.loads(text)["type"] == "error"
    assert len(up.bodies) == before, "a request reached upstream during the outage"
    assert proxy.proc.poll() is None

    rs.start()
    for _ in range(100):  # the store probes Redis again at most about once a second
        status, text, _ = one(0)
        if status == 200:
            break
        assert status == 503, text
        threading.Event().wait(0.2)
    assert status == 200, "no recovery after Redis came back"
    if first_wave_clean:
        check_ok(wave())
    else:
        for _ in range(60):  # bounded: each wave takes at least one store round trip
            results = wave()
            if all(status == 200 for status, _, _ in results):
                break
            assert all(status in (200, 503) for status, _, _ in results)
            threading.Event().wait(0.2)
        check_ok(results)
    seen = b"\n".join(up.bodies).decode()
    for _, _, ids in outage:
        for value in ids:
            assert value not in seen
    for value in ORIGINALS:
        assert value not in seen
    assert proxy.proc.poll() is None
    assert "Traceback" not in proxy.output()
