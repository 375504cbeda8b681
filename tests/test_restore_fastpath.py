"""Fast paths of the SSE restorer: splicing Anthropic deltas, skipping events, cheap tables.

An Anthropic ``text_delta`` / ``input_json_delta`` event spelled as the API writes it is restored by
splicing the new string into its raw bytes; any other spelling goes through the general path that
parses and re-serialises the event. Both must say the same thing: the tests feed the same stream in
both spellings and compare what the events say, split at every point.
"""

from __future__ import annotations

import gzip
import json
import random
import zlib
from collections import Counter

import pytest
from awsmasker.restore import select_restorer
from awsmasker.restore.core import make_table
from awsmasker.restore.decoding import stream_decoder
from awsmasker.restore.sse import SSERestorer
from awsmasker.restore.stream import StreamRestore
from awsmasker.tokens import MAX_TOKEN_LEN

from tests.restore_helpers import (
    TOKEN_MAP,
    anthropic_channels,
    anthropic_stream,
    byte_cuts,
    feed_all,
    mask,
    parse_sse,
)

EC2 = TOKEN_MAP["AWS_EC2_001"]


def restorer() -> SSERestorer:
    r = select_restorer("text/event-stream", "/v1/messages", TOKEN_MAP)
    assert isinstance(r, SSERestorer)
    return r


def delta(text: str, *, index: int = 0, kind: str = "text", spelling: str = "compact") -> bytes:
    """One Anthropic delta event. ``spelling``: compact (the API), spaced (json.dumps defaults,
    ASCII escapes), general (a spelling the fast path does not take)."""
    field, dt = ("text", "text_delta") if kind == "text" else ("partial_json", "input_json_delta")
    obj = {"type": "content_block_delta", "index": index, "delta": {"type": dt, field: text}}
    if spelling == "compact":
        data = "data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    elif spelling == "spaced":
        data = "data: " + json.dumps(obj)
    else:
        data = "data:  " + json.dumps(obj, ensure_ascii=False, indent=None)
    return f"event: content_block_delta\n{data}\n\n".encode()


def stop(index: int = 0) -> bytes:
    return b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n' % index


def channels(out: bytes) -> dict:
    return anthropic_channels(out)


def run_both(pieces: list[tuple[str, int, str]]) -> tuple[bytes, Counter, bytes, Counter]:
    """The same deltas (text, index, kind) in the fast and the general spelling, restored."""
    out = {}
    for spelling in ("compact", "general"):
        stream = b"".join(delta(t, index=i, kind=k, spelling=spelling) for t, i, k in pieces)
        stream += b"".join(stop(i) for i in sorted({i for _, i, _ in pieces}))
        r = restorer()
        out[spelling] = (feed_all(r, [stream]), r.restored, r.flags)
        assert r.flags == set()
    (fast, fc, _), (gen, gc, _) = out["compact"], out["general"]
    return fast, fc, gen, gc


EDGE_TEXTS = [
    # (pieces of one text channel, expected restored text)
    (["AWS_EC2_001"], EC2),
    (["x A", "WS_EC2_001 y"], f"x {EC2} y"),
    (["x AW", "S_EC2_001"], f"x {EC2}"),
    (["x AWS", "_EC2_001"], f"x {EC2}"),
    (["x AWS_", "EC2_001"], f"x {EC2}"),
    (["x AWS_EC2_00", "1"], f"x {EC2}"),
    (["x AWS_EC2_001", "1 y"], "x AWS_EC2_0011 y"),  # grew into an unknown token
    (["x AWS_EC2_001", " y"], f"x {EC2} y"),  # held at the edge, then released
    (["A", "W", "S", "_", "E", "C", "2", "_", "0", "0", "1"], EC2),
    (["x AW", "ful day"], "x AWful day"),  # held carry, no token: released unchanged
    (["x A", "", "nd more"], "x And more"),  # held carry across an empty delta
    (["AWS_", "AWS_EC2_001"], f"AWS_{EC2}"),
    (["ends with A"], "ends with A"),  # held to the end, flushed at content_block_stop
    (['"AWS_EC2_001"\n\\', "é AWS_VPC_002\t"], f'"{EC2}"\n\\é vpc-0a1b2c3d\t'),
    (["AWS_ARN_010"], TOKEN_MAP["AWS_ARN_010"]),  # replacement needs JSON escapes
    (["AWS_S3_BUCKET_003 ok"], TOKEN_MAP["AWS_S3_BUCKET_003"] + " ok"),  # non-ASCII original
]


@pytest.mark.parametrize(("pieces", "expected"), EDGE_TEXTS)
def test_tokens_at_the_edges_of_the_fast_checks(pieces: list[str], expected: str) -> None:
    fast, fc, gen, gc = run_both([(p, 0, "text") for p in pieces])
    assert channels(fast)[(0, "text")] == expected == channels(gen)[(0, "text")]
    assert fc == gc
    expected_stream = fast
    compact = b"".join(delta(p) for p in pieces) + stop()
    for cut in byte_cuts(compact):
        assert feed_all(restorer(), cut) == expected_stream


def test_tool_input_fast_path_escapes_replacements() -> None:
    args = json.dumps({"role": "AWS_ARN_010", "id": "AWS_EC2_001"})
    pieces = [(args[i : i + 4], 1, "tool") for i in range(0, len(args), 4)]
    fast, fc, gen, gc = run_both(pieces)
    want = {"role": TOKEN_MAP["AWS_ARN_010"], "id": EC2}
    assert json.loads(channels(fast)[(1, "partial_json")]) == want
    assert channels(gen)[(1, "partial_json")] == channels(fast)[(1, "partial_json")]
    assert fc == gc == {"AWS_ARN_010": 1, "AWS_EC2_001": 1}


def test_interleaved_channels_with_a_held_carry() -> None:
    """A carry held on one channel sends every event through the slow checks; events of other
    channels without tokens still come out byte-identical."""
    plain = [delta(f"word {n} ", index=1) for n in range(5)]
    stream = delta("see AWS_EC") + b"".join(plain) + delta("2_001 ok") + stop(0) + stop(1)
    r = restorer()
    out = feed_all(r, [stream])
    for ev in plain:
        assert ev in out
    assert channels(out)[(0, "text")] == f"see {EC2} ok"
    assert r.restored == {"AWS_EC2_001": 1}


def test_spliced_events_keep_their_spelling() -> None:
    """The splice changes only the string: the API's spacing and ASCII escapes elsewhere stay."""
    text = 'é AWS_EC2_001 "q"\n'
    ev = delta(text, spelling="spaced")
    out = feed_all(restorer(), [ev])
    head, tail = ev.split(b'"text": "')[0] + b'"text": "', b'"}}\n\n'
    assert out.startswith(head) and out.endswith(tail)  # only the string was rewritten
    events = parse_sse(out)
    assert events[0][1]["delta"]["text"] == text.replace("AWS_EC2_001", EC2)  # type: ignore[index]


def test_escaped_token_is_restored_like_the_general_path() -> None:
    """Once an event is looked at, its strings are decoded: a token written with a JSON escape is
    the token (both paths agree)."""
    outs = []
    for head in (
        b'data: {"type":"content_block_delta","index":0,"delta":',
        b'data:  { "type":"content_block_delta","index":0,"delta":',
    ):
        raw = (
            b"event: content_block_delta\n"
            + head
            + b'{"type":"text_delta","text":"AWS_VPC_002 \\u0041WS_EC2_001 y"}}\n\n'
        )
        r = restorer()
        out = feed_all(r, [raw + stop()])
        assert channels(out)[(0, "text")] == f"vpc-0a1b2c3d {EC2} y"
        assert r.restored == {"AWS_EC2_001": 1, "AWS_VPC_002": 1}
        outs.append(channels(out))
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    "bad",
    [
        b"x \\q AWS_EC2_001",  # invalid escape
        b"x \\u00zz AWS_EC2_001",  # invalid unicode escape
        b"x \x01 AWS_EC2_001",  # raw control character
        b"x \xff AWS_EC2_001",  # invalid UTF-8
    ],
)
def test_invalid_strings_pass_unchanged_and_flagged(bad: bytes) -> None:
    ev = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"text_delta","text":"' + bad + b'"}}\n\n'
    )
    r = restorer()
    assert feed_all(r, [ev]) == ev
    assert "invalid_event" in r.flags and "error" not in r.flags


def test_events_without_tokens_byte_identical_in_every_spelling() -> None:
    rng = random.Random(3)
    words = ["Alpha", "AWSome", "A", "AW", "AWS", "AWS_", "AWS_EC2_0011", '"A"', "é", "\n", "x"]
    plain = ["some", "plain", "words", "é", "\n", '"q"']
    text = " ".join(rng.choice(words if rng.random() < 0.1 else plain) for _ in range(300))
    pieces = [text[i : i + 5] for i in range(0, len(text), 5)]
    for spelling in ("compact", "spaced"):
        stream = b"".join(delta(p, spelling=spelling) for p in pieces) + stop()
        r = restorer()
        out = feed_all(r, [stream])
        assert channels(out)[(0, "text")] == text
        assert r.restored == {}
        # Carries move text between deltas; a delta with no "A" in it or in the text before it
        # that a carry could hold (MAX_TOKEN_LEN) comes out byte-identical.
        checked = 0
        for n, p in enumerate(pieces):
            if "A" not in text[max(0, 5 * n - MAX_TOKEN_LEN) : 5 * n + len(p)]:
                assert delta(p, spelling=spelling) in out
                checked += 1
        assert checked > 5
    stream = anthropic_stream([("text", ["Hello ", "world ", "AWSome"])])
    assert feed_all(restorer(), [stream]) == stream


def test_dense_spaced_stream_every_byte_offset() -> None:
    text = mask("a i-0123456789abcdef0 b vpc-0a1b2c3d é 10.0.1.2 c ") * 3
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    stream = b"".join(delta(p, spelling="spaced") for p in pieces) + stop()
    expected = feed_all(restorer(), [stream])
    assert channels(expected)[(0, "text")] == (
        "a i-0123456789abcdef0 b vpc-0a1b2c3d é 10.0.1.2 c " * 3
    )
    for cut in list(byte_cuts(stream))[::7]:
        assert feed_all(restorer(), cut) == expected


# -- a stream that ends without the blank line -----------------------------------------------


@pytest.mark.parametrize(
    "last",
    [
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
        b'"text":"AWS_EC2_001"}}',
        b'event: content_block_delta\r\ndata: {"type":"content_block_delta","index":0,\r\n'
        b'data: "delta":{"type":"text_delta","text":"AWS_EC2_001"}}',
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
        b'"text":"AWS_EC2_001"}}\nid: 7',
        b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
        b'"text":"AWS_EC2_001"}}\n',
    ],
)
def test_unterminated_last_event_gains_no_line_end(last: bytes) -> None:
    head = delta("first ")
    for cut in byte_cuts(head + last):
        out = feed_all(restorer(), cut)
        assert out == head + last.replace(b"AWS_EC2_001", EC2.encode()).replace(
            b',\r\ndata: "delta"', b',"delta"'
        )


def test_unterminated_last_event_without_tokens_is_unchanged() -> None:
    stream = (
        delta("hello ") + b'data: {"type":"content_block_delta","index":0,"delta":'
        b'{"type":"text_delta","text":"no ids"}}'
    )
    for cut in byte_cuts(stream):
        assert feed_all(restorer(), cut) == stream


# -- sizes: raw input vs decoded bytes -------------------------------------------------------


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_bytes_in_is_raw_and_bytes_decoded_is_what_the_cap_counts(encoding: str) -> None:
    body = anthropic_stream([("text", ["see AWS_EC", "2_001 and more text " * 20])])
    packed = gzip.compress(body) if encoding == "gzip" else zlib.compress(body)
    for cap, capped in ((len(body), False), (len(body) - 1, True)):
        r = select_restorer("text/event-stream", "/", TOKEN_MAP)
        assert r is not None
        s = StreamRestore(r, max_bytes=cap, decoder=stream_decoder(encoding))
        out = []
        for i in range(0, len(packed), 50):
            got = s(packed[i : i + 50])
            out.append(got if isinstance(got, bytes) else b"".join(got))
        out.append(s(b""))  # type: ignore[arg-type]
        assert s.bytes_in == len(packed) != len(body)
        assert s.bytes_decoded == len(body)
        assert s.bytes_out == len(b"".join(out))
        assert ("size_cap" in s.flags) == capped


def test_bytes_decoded_equals_bytes_in_without_decoder() -> None:
    body = anthropic_stream([("text", ["AWS_EC2_001"])])
    s = StreamRestore(restorer(), max_bytes=10)
    s(body)
    s(b"")
    assert s.bytes_in == s.bytes_decoded == len(body) and "size_cap" in s.flags


# -- tables ----------------------------------------------------------------------------------


def test_could_grow_is_exactly_a_known_token_prefix() -> None:
    table = make_table(TOKEN_MAP, escape_json=False, binary=False)
    prefixes = {t[:k] for t in TOKEN_MAP for k in range(1, len(t) + 1)}
    candidates = set(prefixes) | {p + c for p in prefixes for c in "0129_AEZ"} | {"AWS_EC2_0011"}
    for s in candidates:
        assert table.could_grow(s) == (s in prefixes), s
    btable = make_table(TOKEN_MAP, escape_json=True, binary=True)
    assert btable.could_grow(b"AWS_PRIV") and not btable.could_grow(b"AWS_PRIVX")
