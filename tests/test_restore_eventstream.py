"""Bedrock event-stream restore (no proxy): frames decoded, events restored, frames re-encoded;
checked with botocore's own event-stream parser."""

from __future__ import annotations

import json
import random

import pytest
from awsmasker.restore import restore_body, select_restorer
from awsmasker.restore.eventstream import (
    EventStreamRestorer,
    FrameDecoder,
    FrameError,
    decode_frame,
    parse_headers,
)
from awsmasker.restore.eventstream import encode_frame as addon_encode_frame
from awsmasker.restore.eventstream import encode_headers as addon_encode_headers
from awsmasker.restore.stream import StreamRestore
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.eventstream_helpers import (
    anthropic_events,
    chunk_frame,
    chunk_sse,
    chunks_from_sse,
    converse_channels,
    converse_stream,
    encode_frame,
    encode_headers,
    event_frame,
    frames,
)
from tests.restore_helpers import (
    TOKEN_MAP,
    anthropic_channels,
    anthropic_stream,
    byte_cuts,
    feed_all,
    mask,
    tokens_in,
)

CT = "application/vnd.amazon.eventstream"
TEXT = "i-0123456789abcdef0 in données-bucket-é."
ARGS = json.dumps({"id": "i-0123456789abcdef0",
                   "r": 'arn:aws:iam::123456789012:role/"quoted"\\back'})
MASKED_TEXT = mask(TEXT)
MASKED_ARGS = json.dumps({"id": "AWS_EC2_001", "r": "AWS_ARN_010"})


def pieces(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def restorer() -> EventStreamRestorer:
    r = select_restorer(CT, "/model/m/invoke-with-response-stream", TOKEN_MAP)
    assert isinstance(r, EventStreamRestorer)
    return r


def invoke_reply(size: int = 9) -> bytes:
    return chunks_from_sse(anthropic_stream(
        [("text", pieces(MASKED_TEXT, size)), ("tool", pieces(MASKED_ARGS, size))]))


def assert_invoke(out: bytes) -> None:
    ch = anthropic_channels(chunk_sse(out))
    assert ch[(0, "text")] == TEXT
    assert json.loads(ch[(1, "partial_json")]) == json.loads(ARGS)


def test_frame_codec_matches_botocore():
    headers = {":event-type": "chunk", ":content-type": "application/json",
               ":message-type": "event"}
    raw = addon_encode_frame(addon_encode_headers(headers), b'{"bytes":"e30="}')
    assert raw == encode_frame(encode_headers(headers), b'{"bytes":"e30="}')
    (m,) = frames(raw)
    assert m.headers == headers and m.payload == b'{"bytes":"e30="}'
    f = decode_frame(raw)
    assert parse_headers(f.headers) == headers and f.encode() == raw


def test_invoke_stream_restored_at_every_split():
    reply = invoke_reply()
    whole = restorer().whole(reply)
    assert_invoke(whole)
    for cut in byte_cuts(reply):  # the same bytes out whatever the split
        r = restorer()
        assert feed_all(r, cut) == whole
        assert r.flags == set()
        assert r.restored == tokens_in(MASKED_TEXT, MASKED_ARGS)


def test_invoke_keeps_other_payload_fields_and_unchanged_frames():
    plain = chunk_frame({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "text_delta", "text": "no id here "}})
    masked = chunk_frame({"type": "content_block_delta", "index": 0,
                          "delta": {"type": "text_delta", "text": "see AWS_EC2_001 now"}})
    stop = chunk_frame({"type": "content_block_stop", "index": 0})
    out = restorer().whole(plain + masked + stop)
    assert out.startswith(plain) and out.endswith(stop)  # the very same bytes
    (m,) = frames(out[len(plain) : -len(stop)])
    payload = json.loads(m.payload)
    assert payload["p"] == "abcdefghijklmnopqrstuvwxyzABCDEFGH"  # Bedrock's padding field kept
    assert anthropic_events(out)[1]["delta"]["text"] == "see i-0123456789abcdef0 now"


def test_nothing_to_restore_is_byte_identical():
    reply = chunks_from_sse(anthropic_stream([("text", pieces("plain text, no ids", 3))]))
    assert restorer().whole(reply) == reply
    conv = converse_stream([("text", ["plain ", "text"])])
    assert restorer().whole(conv) == conv


def test_converse_stream_restored_at_every_split():
    reply = converse_stream([("text", pieces(MASKED_TEXT, 9)), ("tool", pieces(MASKED_ARGS, 9))])
    whole = restorer().whole(reply)
    ch = converse_channels(whole)
    assert ch[(0, "text")] == TEXT
    assert json.loads(ch[(1, "input")]) == json.loads(ARGS)
    for cut in byte_cuts(reply):
        r = restorer()
        assert feed_all(r, cut) == whole
        assert r.flags == set()


def test_converse_held_text_comes_before_block_stop():
    # the token is cut by the block's end: no delta of block 0 follows its stop
    reply = converse_stream([("text", ["see AWS_EC", "2_001"])])
    out = restorer().whole(reply)
    assert converse_channels(out)[(0, "text")] == "see i-0123456789abcdef0"


def test_exception_and_unknown_frames_pass_unchanged():
    exc = event_frame("throttlingException", {"message": "AWS_EC2_001 slow down"}, "exception")
    unknown = event_frame("somethingNew", {"text": "AWS_EC2_001"})
    head = chunks_from_sse(anthropic_stream([("text", ["id AWS_E"])], stop=False))
    out = restorer().whole(head + unknown + exc)
    assert out.endswith(unknown + exc) or out.endswith(exc)
    assert unknown in out
    # the held "AWS_E" went out as a chunk before the exception
    assert anthropic_channels(chunk_sse(out))[(0, "text")] == "id AWS_E"
    assert frames(out)[-1].headers[":message-type"] == "exception"


@pytest.mark.parametrize("where", ["prelude", "message"])
def test_corrupt_frame_ends_restore(where):
    good = chunk_frame({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "a AWS_EC2_001 b"}})
    bad = bytearray(good)
    bad[8 if where == "prelude" else -1] ^= 0xFF
    after = good
    r = restorer()
    out = feed_all(r, [good, bytes(bad), after])
    assert out.endswith(bytes(bad) + after)  # everything from the corrupt frame on unchanged
    assert b"i-0123456789abcdef0" in frames(out[: len(out) - len(bad) - len(after)])[0].payload \
        or "i-0123456789abcdef0" in json.dumps(anthropic_events(out[: -len(bad) - len(after)]))
    assert "corrupt_frame" in r.flags


def test_oversized_frame_passes_unchanged_then_restore_goes_on():
    big = chunk_frame({"type": "content_block_delta", "index": 0,
                       "delta": {"type": "text_delta", "text": "AWS_EC2_001 " + "x" * 400}})
    small = chunk_frame({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "text_delta", "text": " AWS_VPC_002"}})
    for cut in ([big + small], [big[:5], big[5:200], big[200:] + small[:3], small[3:]]):
        r = EventStreamRestorer(TOKEN_MAP, max_frame=300)
        out = feed_all(r, cut)
        assert out.startswith(big)
        rest = "".join(e["delta"]["text"] for e in anthropic_events(out[len(big):]))
        assert rest == " vpc-0a1b2c3d"
        assert "event_too_large" in r.flags


def test_size_cap_mid_frame_leaves_a_parseable_stream():
    reply = invoke_reply()
    s = StreamRestore(restorer(), max_bytes=len(reply) // 2)
    out = b"".join(x if isinstance(x, bytes) else b"".join(x)
                   for x in [s(reply[i : i + 13]) for i in range(0, len(reply), 13)] + [s(b"")])
    assert "size_cap" in s.flags
    frames(out)  # every frame whole and valid


def test_whole_body_with_tokens_only_in_base64():
    reply = invoke_reply()
    assert b"AWS_" not in reply
    result = restore_body(CT, "/model/m/invoke-with-response-stream", TOKEN_MAP, reply)
    assert_invoke(result.body)


def frame_list(seed: int, n: int) -> list[bytes]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        headers = encode_headers({":event-type": rnd.choice(["chunk", "x"]), "n": str(i)})
        out.append(encode_frame(headers, rnd.randbytes(rnd.randrange(0, 40))))
    return out


def test_decoder_every_split_point():
    fl = frame_list(1, 4)
    stream = b"".join(fl)
    for cut in byte_cuts(stream):
        dec = FrameDecoder()
        got = [raw for piece in cut for is_frame, raw in dec.feed(piece) if is_frame]
        assert got == fl and dec.held() == b""


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.lists(st.integers(0, 400), max_size=8))
def test_decoder_any_split(seed, n, cuts):
    fl = frame_list(seed, n)
    stream = b"".join(fl)
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces_ = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    dec = FrameDecoder()
    got = [raw for p in pieces_ for is_frame, raw in dec.feed(p) if is_frame]
    assert got == fl


def test_decoder_rejects_corruption():
    (f,) = frame_list(2, 1)
    for i in range(len(f)):
        bad = bytearray(f)
        bad[i] ^= 0x01
        with pytest.raises(FrameError):
            decode_frame(bytes(bad))


def test_frames_between_the_halves_of_a_token_keep_their_place():
    unknown = event_frame("somethingNew", {"x": 1})
    reply = converse_stream([("text", ["see AWS_EC", "2_001 ok"])])
    ms = frames(reply)
    raw = [encode_frame(encode_headers(m.headers), m.payload) for m in ms]
    stream = b"".join([*raw[:2], unknown, *raw[2:]])  # start, delta 1, unknown, delta 2, ...
    assert b"".join(raw) == reply
    for cut in ([stream], [stream[i : i + 7] for i in range(0, len(stream), 7)]):
        out = feed_all(restorer(), cut)
        kinds = [m.headers[":event-type"] for m in frames(out)]
        assert kinds.count("somethingNew") == 1 and unknown in out
        assert kinds.index("somethingNew") < kinds.index("contentBlockStop")
        assert converse_channels(out)[(0, "text")] == "see i-0123456789abcdef0 ok"


def test_unreadable_headers_pass_unchanged_flagged():
    bad = encode_frame(b"\x05:even\x0b", b"{}")  # a header value type that does not exist
    good = chunk_frame({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "x AWS_EC2_001 y"}})
    r = restorer()
    out = r.whole(bad + good)
    assert out.startswith(bad)
    assert anthropic_events(out[len(bad):])[0]["delta"]["text"] == "x i-0123456789abcdef0 y"
    assert "error" in r.flags


@pytest.mark.parametrize("block", [
    b"\x05:type\x0e\x00\x01x",  # no such value type
    b"\x05:type\x07\x00\x02\xff\xfe",  # not UTF-8
    b"\x01a\x07\x00\x01x\x01a\x07\x00\x01y",  # a name twice
])
def test_unreadable_header_blocks_are_frame_errors(block: bytes) -> None:
    """Header blocks botocore (which reads them for the client too) cannot read."""
    with pytest.raises(FrameError):
        parse_headers(block)
