"""End to end: every way text travels in a target request, through a real mitmdump, asserting
the exact bytes the upstream received (HTTP/1.1, and HTTP/2 between client and proxy).

Each proxy is fresh with the in-memory store, so tokens are minted in order of first sight:
``ORIG`` always masks to ``MASKED``.
"""

from __future__ import annotations

import base64
import codecs
import json
import quopri
import ssl
import threading
from dataclasses import dataclass

import httpx
import openai
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.server import serve

from testsupport.procs import wait_until
from testsupport.raw_upstream import chunk
from testsupport.standin import StandinConfig, StandinServer, self_signed_localhost

pytestmark = pytest.mark.e2e

ORIG = "arn:aws:iam::123456789012:role/Admin runs i-0abcdef1234567890"
MASKED = "AWS_ARN_001 runs AWS_EC2_001"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))


@dataclass
class Route:
    """A client, the proxy and the stand-in upstream it reaches."""

    name: str
    client: httpx.Client
    proxy: object
    standin: StandinServer
    base: str

    def post(self, path: str, content: bytes, headers: dict[str, str]) -> httpx.Response:
        r = self.client.post(self.base + path, content=content, headers=headers)
        assert r.http_version == ("HTTP/2" if self.name == "http2" else "HTTP/1.1")
        return r

    @property
    def seen(self):
        return self.standin.cfg.requests


class H2First(ssl.SSLContext):
    """Offers HTTP/2 first, as browsers and curl do (httpx offers HTTP/1.1 first, and
    mitmproxy takes the client's first choice)."""

    def set_alpn_protocols(self, protocols):
        super().set_alpn_protocols(sorted(protocols, key=lambda p: p != "h2"))


def _tls_standin(tmp_path) -> StandinServer:
    cert, key = self_signed_localhost(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = StandinServer(StandinConfig())
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    return srv.start()


def _route(kind: str, proxy_factory, tmp_path, *options: str) -> Route:
    if kind == "http1":
        standin = StandinServer(StandinConfig()).start()
        proxy = proxy_factory("targets=127.0.0.1", *options)
        client = httpx.Client(proxy=proxy.url, timeout=30)
        return Route(kind, client, proxy, standin, f"http://127.0.0.1:{standin.port}")
    standin = _tls_standin(tmp_path)
    # lazy: mitmproxy offers the client HTTP/2 without asking the (HTTP/1.1) upstream first
    proxy = proxy_factory("targets=localhost", "ssl_insecure=true", "connection_strategy=lazy",
                          *options)
    verify = H2First(ssl.PROTOCOL_TLS_CLIENT)
    verify.load_verify_locations(cafile=str(proxy.ca_cert))
    client = httpx.Client(proxy=proxy.url, timeout=30, http2=True, verify=verify)
    return Route(kind, client, proxy, standin, f"https://localhost:{standin.port}")


@pytest.fixture(params=["http1", "http2"])
def route(request, proxy_factory, tmp_path):
    r = _route(request.param, proxy_factory, tmp_path)
    yield r
    r.client.close()
    r.standin.shutdown()
    r.standin.server_close()


@pytest.fixture
def route1(proxy_factory, tmp_path):
    r = _route("http1", proxy_factory, tmp_path)
    yield r
    r.client.close()
    r.standin.shutdown()
    r.standin.server_close()


def assert_refused(r: httpx.Response, route: Route, status: int, words: str) -> None:
    assert r.status_code == status
    body = r.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert words in body["error"]["message"]
    assert r.headers["x-aws-masker"].startswith("blocked")
    assert route.seen == []


# -- charsets ------------------------------------------------------------------------------

def _json(text: str) -> str:
    return json.dumps({"model": "m", "messages": [{"role": "user", "content": text}]})


CHARSET_CASES = [
    # (content-type, how the text is written)
    ("application/json", lambda t: _json(t).encode("utf-16")),  # BOM only (native order)
    ("application/json", lambda t: codecs.BOM_UTF16_BE + _json(t).encode("utf-16-be")),
    ("application/json; charset=utf-32", lambda t: _json(t).encode("utf-32-be")),  # no BOM
    ("application/json; charset=UTF-16LE", lambda t: _json(t).encode("utf-16-le")),
    ("text/plain; charset=iso-8859-1", lambda t: f"café: {t}".encode("latin-1")),
    ("text/plain; charset=cp500", lambda t: f"EBCDIC: {t}".encode("cp500")),
    ("text/plain; charset=utf-8", lambda t: codecs.BOM_UTF8 + f"ünï {t}".encode()),
    ("text/plain", lambda t: f"no charset, not UTF-8: \xff {t}".encode("latin-1")),
]


def test_bodies_masked_and_written_in_their_own_charset(route):
    for content_type, write in CHARSET_CASES:
        r = route.post("/v1/messages", write(ORIG), {"content-type": content_type})
        assert r.status_code == 200, content_type
        assert route.seen[-1].body == write(MASKED), content_type


def test_unknown_or_undecodable_charset_is_refused(route):
    r = route.post("/v1/messages", _json(ORIG).encode(),
                   {"content-type": "application/json; charset=x-no-such-charset"})
    assert_refused(r, route, 415, "charset 'x-no-such-charset', which is unknown")
    r = route.post("/v1/messages", _json(ORIG).encode() + b"\xff\xfe\xfd",
                   {"content-type": "application/json; charset=utf-8"})
    assert_refused(r, route, 415, "does not decode as utf-8")
    # a UTF-16 BOM on a body that is not UTF-16
    r = route.post("/v1/messages", codecs.BOM_UTF16_LE + b"\x00\xd8",
                   {"content-type": "text/plain"})
    assert_refused(r, route, 415, "does not decode as utf-16-le")


def test_replies_in_another_charset_are_restored_in_it(route):
    cases = [
        ("application/json; charset=utf-16", lambda t: _json(t).encode("utf-16")),
        ("application/json", lambda t: codecs.BOM_UTF32_BE + _json(t).encode("utf-32-be")),
        ("text/plain; charset=utf-32-le", lambda t: f"said: {t}".encode("utf-32-le")),
        ("text/plain; charset=cp500", lambda t: f"said: {t}".encode("cp500")),
    ]
    for content_type, write in cases:
        route.standin.cfg.canned = (content_type, write(MASKED))
        r = route.post("/v1/messages", _json(ORIG).encode(), {"content-type": "application/json"})
        assert r.status_code == 200
        assert route.seen[-1].body == _json(MASKED).encode()
        assert r.content == write(ORIG), content_type


def test_streamed_utf16_reply_is_restored(proxy_factory, upstreams):
    reply = f"the answer: {MASKED}, again {MASKED}".encode("utf-16")

    def behaviour(conn, body):
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain; charset=utf-16\r\n"
                     b"transfer-encoding: chunked\r\n\r\n")
        for i in range(0, len(reply), 3):  # odd pieces: characters split across chunks
            conn.sendall(chunk(reply[i:i + 3]))
        conn.sendall(b"0\r\n\r\n")

    up = upstreams(behaviour)
    proxy = proxy_factory("targets=127.0.0.1")
    with httpx.Client(proxy=proxy.url, timeout=30) as client:
        r = client.post(up.url, content=_json(ORIG).encode(),
                        headers={"content-type": "application/json"})
    assert up.bodies == [_json(MASKED).encode()]
    assert r.content == f"the answer: {ORIG}, again {ORIG}".encode("utf-16")


# -- forms and multipart -------------------------------------------------------------------

def test_form_fields_are_decoded_masked_and_encoded(route):
    body = (b"acct=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FAdmin&note=runs+i-0abcdef1234567890"
            b"&keep=hello+world%21&flag")
    r = route.post("/v1/messages", body, {"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    assert route.seen[-1].body == b"acct=AWS_ARN_001&note=runs+AWS_EC2_001&keep=hello+world%21&flag"


def _part(headers: str, content: bytes) -> bytes:
    return b"--BOUNDARY\r\n" + headers.encode() + b"\r\n\r\n" + content + b"\r\n"


def _multipart(text: str, image: bytes = PNG) -> bytes:
    return b"".join([
        b"preamble\r\n",
        _part('Content-Disposition: form-data; name="plain"', text.encode()),
        _part('Content-Disposition: form-data; name="u16"\r\n'
              "Content-Type: text/plain; charset=utf-16", text.encode("utf-16")),
        _part('Content-Disposition: form-data; name="b64"\r\nContent-Type: text/markdown\r\n'
              "Content-Transfer-Encoding: base64", base64.b64encode(text.encode())),
        _part('Content-Disposition: form-data; name="qp"\r\n'
              "Content-Type: text/plain; charset=utf-8\r\n"
              "Content-Transfer-Encoding: quoted-printable",
              quopri.encodestring(f"naïve = {text}".encode()).replace(b"\n", b"\r\n")),
        _part('Content-Disposition: form-data; name="json"\r\nContent-Type: application/json',
              _json(text).encode()),
        _part('Content-Disposition: form-data; name="img"; filename="a.png"\r\n'
              "Content-Type: image/png", image),
        b"--BOUNDARY--\r\nepilogue",
    ])


MULTIPART = "multipart/form-data; boundary=BOUNDARY"


def test_multipart_text_parts_masked_binary_parts_flagged(route):
    r = route.post("/v1/files", _multipart(ORIG), {"content-type": MULTIPART})
    assert r.status_code == 200
    assert route.seen[-1].body == _multipart(MASKED)
    assert route.proxy.wait_for("binary passed unscanned (image/png)")


def test_multipart_refusals(route1, proxy_factory, tmp_path):
    bad = _part('Content-Disposition: form-data; name="t"\r\n'
                "Content-Type: text/plain; charset=utf-8", b"\xc3\x28" + ORIG.encode())
    r = route1.post("/v1/files", bad + b"--BOUNDARY--\r\n", {"content-type": MULTIPART})
    assert_refused(r, route1, 415, "multipart text part does not decode as utf-8")
    bad64 = _part('Content-Disposition: form-data; name="t"\r\n'
                  "Content-Transfer-Encoding: base64", b"not*base64")
    r = route1.post("/v1/files", bad64 + b"--BOUNDARY--\r\n", {"content-type": MULTIPART})
    assert_refused(r, route1, 400, "base64 content does not decode")
    r = route1.post("/v1/files", _part("X: y", ORIG.encode()), {"content-type": MULTIPART})
    assert_refused(r, route1, 400, "no closing boundary")
    uuencoded = _part('Content-Disposition: form-data; name="t"\r\n'
                      "Content-Transfer-Encoding: x-uuencode", ORIG.encode())
    r = route1.post("/v1/files", uuencoded + b"--BOUNDARY--\r\n", {"content-type": MULTIPART})
    assert_refused(r, route1, 415, "content-transfer-encoding 'x-uuencode'")
    r = route1.post("/v1/messages", b"a=\xff" + ORIG.encode(),
                    {"content-type": "application/x-www-form-urlencoded"})
    assert_refused(r, route1, 415, "not URL-encoded")
    doc = {"source": {"type": "base64", "media_type": "text/plain", "data": "not base64!"}}
    r = route1.post("/v1/messages", json.dumps(doc).encode(), {"content-type": "application/json"})
    assert_refused(r, route1, 400, "base64 text/plain payload inside the JSON body does not decode")
    strict = _route("http1", proxy_factory, tmp_path, "block_unscanned_binary=true")
    try:
        r = strict.post("/v1/files", _multipart(ORIG), {"content-type": MULTIPART})
        assert r.status_code == 415
        assert "binary content the proxy cannot scan (image/png)" in r.json()["error"]["message"]
        assert strict.seen == []
    finally:
        strict.standin.shutdown()
        strict.standin.server_close()


# -- base64 text inside JSON ---------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _with_documents(text: str) -> bytes:
    content = [
        {"type": "document", "source": {"type": "base64", "media_type": "text/plain",
                                        "data": _b64(text.encode())}},
        {"type": "document", "source": {"type": "base64", "media_type": "text/csv; charset=utf-16",
                                        "data": _b64(f"id,arn\n1,{text}".encode("utf-16"))}},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                     "data": _b64(PNG)}},
        {"type": "text", "text": f"Summarise. {text}"},
    ]
    return json.dumps({"model": "m", "max_tokens": 10,
                       "messages": [{"role": "user", "content": content}]}).encode()


def test_anthropic_base64_documents_masked_images_flagged(route):
    r = route.post("/v1/messages", _with_documents(ORIG), {"content-type": "application/json"})
    assert r.status_code == 200
    assert route.seen[-1].body == _with_documents(MASKED)
    assert route.proxy.wait_for("binary passed unscanned (image/png)")


def test_openai_file_inputs_masked(route):
    client = openai.OpenAI(api_key="sk-test", base_url=route.base + "/v1", max_retries=0,
                           http_client=route.client)
    data_url = "data:text/plain;base64," + _b64(ORIG.encode())
    pdf_url = "data:application/pdf;base64," + _b64(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": [
        {"type": "text", "text": "Read these."},
        {"type": "file", "file": {"filename": "notes.txt", "file_data": data_url}},
        {"type": "file", "file": {"filename": "doc.pdf", "file_data": pdf_url}},
    ]}])
    sent = json.loads(route.seen[-1].body)
    files = [p["file"]["file_data"] for p in sent["messages"][0]["content"][1:]]
    assert files == ["data:text/plain;base64," + _b64(MASKED.encode()), pdf_url]
    assert route.proxy.wait_for("binary passed unscanned (application/pdf)")


# -- URL and headers -----------------------------------------------------------------------

def test_query_path_and_headers_masked_api_headers_kept(route):
    path = ("/v1/projects/i-0abcdef1234567890/messages"
            "?acct=123456789012&q=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2FAdmin&plain=yes")
    headers = {
        "content-type": "application/json",
        "x-instance": "web i-0abcdef1234567890",
        "x-api-key": "key-123456789012",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "beta-i-0abcdef1234567890",
    }
    r = route.post(path, b"{}", headers)
    assert r.status_code == 200
    seen = route.seen[-1]
    assert seen.path == ("/v1/projects/AWS_EC2_001/messages"
                         "?acct=AWS_ACCOUNT_001&q=AWS_ARN_001&plain=yes")
    got = {k.lower(): v for k, v in seen.headers.items()}
    assert got["x-instance"] == "web AWS_EC2_001"
    assert got["x-api-key"] == "key-123456789012"
    assert got["anthropic-version"] == "2023-06-01"
    assert got["anthropic-beta"] == "beta-i-0abcdef1234567890"


# -- WebSocket -----------------------------------------------------------------------------

BINARY_REFUSED = "aws-masker: binary message refused: the proxy masks text only"


@dataclass
class WsUpstream:
    got: list
    port: int
    server: object


def echo_server(ssl_context: ssl.SSLContext | None = None) -> WsUpstream:
    """A WebSocket server that records what it gets (and how it was closed) and echoes each
    message back; ``server.shutdown()`` stops it."""
    got: list = []

    def handler(ws):
        try:
            for m in ws:
                got.append(m)
                ws.send(m)
        except ConnectionClosed as e:
            got.append(("closed", e.rcvd.code if e.rcvd else None,
                        e.rcvd.reason if e.rcvd else None))

    server = serve(handler, "127.0.0.1", 0, ssl=ssl_context)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return WsUpstream(got, server.socket.getsockname()[1], server)


@pytest.fixture
def ws_upstream():
    upstream = echo_server()
    yield upstream
    upstream.server.shutdown()


def test_websocket_text_masked_restored_binary_closes(proxy_factory, ws_upstream):
    proxy = proxy_factory("targets=127.0.0.1")
    uri = f"ws://127.0.0.1:{ws_upstream.port}/v1/realtime"
    message = json.dumps({"type": "input", "text": f'say "{ORIG}"'})
    with connect(uri, proxy=proxy.url, open_timeout=10, close_timeout=10) as ws:
        # fragmented: the identifiers are split across frames
        ws.send([ORIG[:20], ORIG[20:45], ORIG[45:]])
        assert ws.recv(timeout=10) == ORIG
        ws.send(message)
        assert ws.recv(timeout=10) == message
        ws.send(b"\x00\x01binary")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    reason = BINARY_REFUSED
    wait_until(lambda: len(ws_upstream.got) >= 3)  # the server records a close after the client
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1008, reason)
    assert ws_upstream.got[:2] == [MASKED, json.dumps({"type": "input", "text": f'say "{MASKED}"'})]
    assert ws_upstream.got[2:] == [("closed", 1008, reason)]


def test_wss_binary_message_closes_over_tls(proxy_factory, tmp_path):
    cert, key = self_signed_localhost(tmp_path)
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(cert, key)
    upstream = echo_server(sctx)
    got = upstream.got
    try:
        proxy = proxy_factory("targets=localhost", "ssl_insecure=true")
        cctx = ssl.create_default_context(cafile=str(proxy.ca_cert))
        uri = f"wss://localhost:{upstream.port}/ws"
        with connect(uri, proxy=proxy.url, ssl=cctx, open_timeout=10, close_timeout=10) as ws:
            ws.send(ORIG)
            assert ws.recv(timeout=10) == ORIG
            ws.send(b"\x89PNG")
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        wait_until(lambda: len(got) >= 2)
        assert got == [MASKED, ("closed", 1008, BINARY_REFUSED)]
    finally:
        upstream.server.shutdown()
