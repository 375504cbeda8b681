"""Request carriers and charset restore, through the addon's public surface (taddons/tflow)
and the sans-IO transcoding restorer at every split point."""

from __future__ import annotations

import base64
import codecs
import json

import pytest
from awsmasker.carriers import Refused, kept_path_segments
from awsmasker.config import Settings
from awsmasker.request_masking import RequestMasking
from awsmasker.restore import JsonRestorer, TextRestorer, restore_body, select_restorer
from awsmasker.restore.charset import Transcoded
from awsmasker.state import MaskerState
from awsmasker.store.base import StoreError
from awsmasker.store.memory import MemoryStore
from awsmasker.textcodecs import decode_charset
from mitmproxy.test import taddons, tflow

ORIG = "arn:aws:iam::123456789012:role/Admin runs i-0abcdef1234567890"
MASKED = "AWS_ARN_001 runs AWS_EC2_001"
TOKEN_MAP = {"AWS_ARN_001": "arn:aws:iam::123456789012:role/\"Admin\"",
             "AWS_EC2_001": "i-0abcdef1234567890"}


class CountingStore(MemoryStore):
    """The in-process store, counting its round trips."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    async def resolve(self, findings, present_tokens=()):
        self.calls += 1
        return await super().resolve(findings, present_tokens)


def masking(**settings) -> tuple[RequestMasking, MaskerState]:
    state = MaskerState()
    state.apply_settings(Settings(targets=("example.com",), **settings))
    state.store = CountingStore()
    return RequestMasking(state), state


def target_flow(body: bytes, content_type: str, path: str = "/v1/messages",
                headers: dict[str, str] | None = None):
    f = tflow.tflow()
    f.request.host = "example.com"
    f.request.method = "POST"
    f.request.path = path
    f.request.headers["content-type"] = content_type
    for k, v in (headers or {}).items():
        f.request.headers[k] = v
    f.request.content = body
    return f


async def test_every_piece_of_a_request_in_one_store_round_trip():
    rm, state = masking()
    body = json.dumps({"content": ORIG, "doc": {"type": "base64", "media_type": "text/plain",
                                                "data": base64.b64encode(ORIG.encode()).decode()}})
    f = target_flow(body.encode(), "application/json", "/v1/messages?acct=123456789012",
                    {"x-trace": "i-0abcdef1234567890", "anthropic-beta": "i-0abcdef1234567890"})
    with taddons.context():
        await rm.request(f)
    assert f.response is None
    assert state.store.calls == 1
    sent = json.loads(f.request.content)
    assert sent["content"] == MASKED
    assert base64.b64decode(sent["doc"]["data"]).decode() == MASKED
    assert f.request.path == "/v1/messages?acct=AWS_ACCOUNT_001"
    assert f.request.headers["x-trace"] == "AWS_EC2_001"
    assert f.request.headers["anthropic-beta"] == "i-0abcdef1234567890"


async def test_percent_encoded_data_urls_are_masked():
    """A data: URL without ;base64 holds percent-encoded text (RFC 2397)."""
    import urllib.parse

    rm, _ = masking()
    url = "data:text/plain;charset=utf-8," + urllib.parse.quote(ORIG, safe="")
    plain = "data:," + urllib.parse.quote(ORIG)
    body = json.dumps({"files": [url, plain, "data:,hello%20world"]})
    f = target_flow(body.encode(), "application/json")
    with taddons.context():
        await rm.request(f)
    sent = json.loads(f.request.content)
    assert f.response is None and "123456789012" not in f.request.text
    head, _, data = sent["files"][0].partition(",")
    assert head == "data:text/plain;charset=utf-8"
    assert urllib.parse.unquote(data) == MASKED
    assert urllib.parse.unquote(sent["files"][1].partition(",")[2]) == MASKED
    assert sent["files"][2] == "data:,hello%20world"  # nothing to mask: as written


async def test_request_without_identifiers_is_left_byte_for_byte():
    rm, state = masking()
    body = "naïve café".encode("utf-16")
    f = target_flow(body, "text/plain", "/v1/messages?q=a+b%20c", {"x-note": "hello"})
    with taddons.context():
        await rm.request(f)
    assert f.request.content == body
    assert f.request.path == "/v1/messages?q=a+b%20c"
    assert state.store.calls == 0


async def test_binary_parts_flagged_and_counted_or_refused():
    png = base64.b64encode(b"\x89PNG\r\n").decode()
    body = json.dumps({"source": {"type": "base64", "media_type": "image/png", "data": png},
                       "text": ORIG}).encode()
    rm, state = masking()
    f = target_flow(body, "application/json")
    with taddons.context():
        await rm.request(f)
    assert f.response is None
    assert state.totals.flagged_by_reason["binary_unscanned"] == 1
    assert "binary passed unscanned (image/png)" in f.comment
    assert json.loads(f.request.content)["source"]["data"] == png
    rm, state = masking(block_unscanned_binary=True)
    f = target_flow(body, "application/json")
    with taddons.context():
        await rm.request(f)
    assert f.response is not None and f.response.status_code == 415
    assert state.totals.blocked_by_reason["unscanned_binary"] == 1


@pytest.mark.parametrize(("raw", "charset", "codec"), [
    (codecs.BOM_UTF16_BE + "{}".encode("utf-16-be"), None, "utf-16-be"),
    (codecs.BOM_UTF32_LE + "{}".encode("utf-32-le"), "utf-8", "utf-32-le"),  # the BOM wins
    ("{}".encode("utf-16-le"), None, "utf-16-le"),  # NUL pattern
    ("{}".encode("utf-32-be"), "utf-32", "utf-32-be"),
    ("é".encode("latin-1"), None, "latin-1"),  # undeclared, not UTF-8: exact bytes
    ("é".encode("cp1252"), "windows-1252", "cp1252"),
])
def test_decode_charset(raw, charset, codec):
    d = decode_charset(raw, charset)
    assert d.codec == codec
    assert d.encode(d.text) == raw


@pytest.mark.parametrize(("raw", "charset", "reason"), [
    (b"{}", "no-such-charset", "unknown_charset"),
    (b"\xc3\x28", "utf-8", "undecodable_charset"),
    (codecs.BOM_UTF16_LE + b"\x00\xd8", None, "undecodable_charset"),
])
def test_decode_charset_refuses(raw, charset, reason):
    with pytest.raises(Refused) as e:
        decode_charset(raw, charset)
    assert (e.value.status, e.value.reason) == (415, reason)


def test_bedrock_model_segment_is_kept():
    host = "bedrock-runtime.us-east-1.amazonaws.com"
    model = "arn:aws:bedrock:us-east-1:123456789012:inference-profile%2Fus.anthropic.claude"
    assert kept_path_segments(host, f"/model/{model}/invoke") == {2}
    assert kept_path_segments(host, f"/model/{model}/converse-stream") == {2}
    assert kept_path_segments(host, f"/model/{model}/other") == frozenset()
    assert kept_path_segments("api.anthropic.com", f"/model/{model}/invoke") == frozenset()


REPLIES = [
    ("text/plain; charset=utf-16", lambda t: f"said {t}".encode("utf-16")),
    ("text/plain; charset=utf-16", lambda t: codecs.BOM_UTF16_BE + f"{t}".encode("utf-16-be")),
    ("text/plain; charset=utf-16", lambda t: f"{t}!".encode("utf-16-be")),  # no BOM
    ("application/json; charset=utf-32", lambda t: json.dumps({"t": t}).encode("utf-32")),
    ("application/json; charset=utf-16le", lambda t: json.dumps([t]).encode("utf-16-le")),
    ("text/plain; charset=cp500", lambda t: f"ebcdic {t}".encode("cp500")),
]


@pytest.mark.parametrize(("content_type", "write"), REPLIES)
def test_transcoded_restore_at_every_split_point(content_type, write):
    masked = "AWS_ARN_001 and AWS_EC2_001, AWS_EC2_0011 AWS_EC2_001"
    original = ('arn:aws:iam::123456789012:role/"Admin" and i-0abcdef1234567890, AWS_EC2_0011 '
                "i-0abcdef1234567890")
    data = write(masked)
    expected = write(original)  # in JSON, json.dumps escapes the quotes as the restorer does
    for cut in range(len(data) + 1):
        r = select_restorer(content_type, "/", TOKEN_MAP)
        assert isinstance(r, Transcoded)
        assert r.feed(data[:cut]) + r.feed(data[cut:]) + r.finish() == expected, cut
    r = select_restorer(content_type, "/", TOKEN_MAP)
    assert b"".join(r.feed(data[i:i + 1]) for i in range(len(data))) + r.finish() == expected
    assert r.restored == {"AWS_ARN_001": 1, "AWS_EC2_001": 2}


def test_buffered_reply_with_only_a_bom_is_restored():
    body = json.dumps({"t": "AWS_EC2_001"}).encode("utf-16")
    out = restore_body("application/json", "/", TOKEN_MAP, body)
    assert out.body == json.dumps({"t": "i-0abcdef1234567890"}).encode("utf-16")
    assert out.restored == {"AWS_EC2_001": 1}


@pytest.mark.parametrize(("content_type", "write"), [
    ("application/json", lambda t: json.dumps({"t": t}).encode("utf-16")),
    ("text/plain", lambda t: f"said {t}".encode("utf-32")),
    ("text/plain", lambda t: codecs.BOM_UTF16_BE + t.encode("utf-16-be")),
    ("application/json", lambda t: json.dumps([t]).encode()),  # no BOM: UTF-8 as it is
    ("text/plain", lambda t: t.encode()[:2]),  # shorter than a BOM
])
def test_a_streamed_reply_with_only_a_bom_is_restored_at_every_split_point(content_type, write):
    """No charset declared: the first bytes' byte-order mark decides."""
    masked, original = "AWS_ARN_001 and AWS_EC2_001", (
        'arn:aws:iam::123456789012:role/"Admin" and i-0abcdef1234567890')
    data, expected = write(masked), write(original)
    if len(data) < 4:
        expected = data  # too short to hold a token
    for cut in range(len(data) + 1):
        r = select_restorer(content_type, "/", TOKEN_MAP)
        assert r.feed(data[:cut]) + r.feed(data[cut:]) + r.finish() == expected, cut
    r = select_restorer(content_type, "/", TOKEN_MAP)
    assert b"".join(r.feed(data[i:i + 1]) for i in range(len(data))) + r.finish() == expected


def test_transcoded_abort_returns_what_it_held():
    r = Transcoded(TextRestorer(TOKEN_MAP), "utf-16-le")
    data = "x AWS_EC".encode("utf-16-le")
    out = r.feed(data + b"\x41")  # half a character too
    assert out + r.abort() == data + b"\x41"


def test_plain_charsets_keep_their_restorer():
    assert isinstance(select_restorer("application/json", "/", TOKEN_MAP).inner, JsonRestorer)
    assert isinstance(select_restorer("text/plain; charset=latin-1", "/", TOKEN_MAP),
                      TextRestorer)


def test_a_binary_body_is_never_read_as_utf16():
    raw = b"\x01\x00\x02\x00 i-0abcdef1234567890 \xff"
    d = decode_charset(raw, None, text_type=False)
    assert "i-0abcdef1234567890" in d.text
    assert d.encode(d.text) == raw


class DownStore(MemoryStore):
    async def resolve(self, findings, present_tokens=()):
        raise StoreError("down")


async def test_websocket_message_that_cannot_be_masked_is_dropped_with_the_rest():
    from mitmproxy.websocket import WebSocketMessage
    from wsproto.frame_protocol import Opcode

    rm, state = masking()
    state.store = DownStore()
    f = tflow.twebsocketflow(messages=False)
    f.request.host = "example.com"
    with taddons.context():
        for text in (ORIG, "hello"):
            f.websocket.messages.append(WebSocketMessage(Opcode.TEXT, True, text.encode()))
            await rm.websocket_message(f)
            assert f.websocket.messages[-1].dropped
    assert state.totals.blocked_by_reason["store_error"] == 1
    assert "websocket closed (store_error)" in f.comment


async def test_websocket_masks_client_text_and_restores_server_text():
    from mitmproxy.websocket import WebSocketMessage
    from wsproto.frame_protocol import Opcode

    rm, state = masking()
    f = tflow.twebsocketflow(messages=False)
    f.request.host = "example.com"
    with taddons.context():
        f.websocket.messages.append(WebSocketMessage(Opcode.TEXT, True, ORIG.encode()))
        await rm.websocket_message(f)
        assert f.websocket.messages[-1].content == MASKED.encode()
        reply = json.dumps({"echo": MASKED}).encode()
        f.websocket.messages.append(WebSocketMessage(Opcode.TEXT, False, reply))
        await rm.websocket_message(f)
        assert json.loads(f.websocket.messages[-1].content) == {"echo": ORIG}
        other = tflow.twebsocketflow(messages=False)
        other.request.host = "elsewhere.example.org"  # not a target: untouched
        other.websocket.messages.append(WebSocketMessage(Opcode.TEXT, True, ORIG.encode()))
        await rm.websocket_message(other)
        assert other.websocket.messages[-1].content == ORIG.encode()
    assert state.totals.masked_by_type == {"ARN": 1, "EC2": 1}
    assert state.totals.restored_by_type == {"ARN": 1, "EC2": 1}
