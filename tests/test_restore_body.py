"""JSON and text body restorers, selection and restore_body (no proxy)."""

from __future__ import annotations

import json

import pytest
from awsmasker.restore import JsonRestorer, TextRestorer, restore_body, select_restorer
from awsmasker.restore.sse import SSERestorer
from awsmasker.tokens import MAX_TOKEN_LEN

from tests.restore_helpers import TOKEN_MAP, byte_cuts, feed_all, mask

ORIGINAL = {
    "id": "msg_1",
    "content": [
        {"type": "thinking", "thinking": "about AWS_EC2_001", "signature": "c2ln"},
        {"type": "text", "text": "Instance i-0123456789abcdef0\n\"in\" vpc-0a1b2c3d — é"},
        {"type": "tool_use", "id": "t", "name": "run",
         "input": {"role": 'arn:aws:iam::123456789012:role/"quoted"\\back', "ip": "10.0.1.2"}},
    ],
}


def masked_body(obj: dict) -> bytes:
    def walk(v: object) -> object:
        if isinstance(v, str):
            return mask(v)
        if isinstance(v, list):
            return [walk(x) for x in v]
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return v

    return json.dumps(walk(obj), ensure_ascii=False).encode()


def test_select_restorer() -> None:
    assert isinstance(select_restorer("text/event-stream", "/v1/messages", TOKEN_MAP), SSERestorer)
    assert isinstance(select_restorer("application/json; charset=utf-8", "/", TOKEN_MAP),
                      JsonRestorer)
    assert isinstance(select_restorer("application/problem+json", "/", TOKEN_MAP).inner,
                      JsonRestorer)
    # no charset declared: a byte-order mark in the first bytes may still say UTF-16/32
    assert isinstance(select_restorer("text/plain", "/", TOKEN_MAP).inner, TextRestorer)
    assert select_restorer("image/png", "/", TOKEN_MAP) is None
    assert select_restorer(None, "/", TOKEN_MAP) is None
    assert select_restorer("application/json", "/", {}) is None


def test_json_body_every_byte_offset() -> None:
    body = masked_body(ORIGINAL)
    expected = json.loads(json.dumps(ORIGINAL))
    expected["content"][0]["thinking"] = "about AWS_EC2_001"  # thinking is never restored
    for cut in byte_cuts(body):
        r = JsonRestorer(TOKEN_MAP)
        out = feed_all(r, cut)
        assert json.loads(out) == expected
    assert dict(r.restored) == {"AWS_EC2_001": 1, "AWS_VPC_002": 1, "AWS_ARN_010": 1,
                                "AWS_PRIVATE_IP_1234": 1}


def test_json_thinking_skip_survives_escapes_and_splits() -> None:
    body = (b'{"type":"thinking","thinking":"a \\" AWS_EC2_001 \\\\","signature":"s"}\n'
            b'{"type": "thinking", "thinking": "AWS_VPC_002"}{"text":"AWS_VPC_002"}')
    for cut in byte_cuts(body):
        out = feed_all(JsonRestorer(TOKEN_MAP), cut)
        assert out == body.replace(b'"text":"AWS_VPC_002"', b'"text":"vpc-0a1b2c3d"')


def test_json_unknown_tokens_and_no_token_body_identical() -> None:
    body = b'{"a":"AWS_EC2_0011 AWS_EC2_002 AWS_","b":[1,2,null],"c":"AWS"}'
    assert restore_body("application/json", "/", TOKEN_MAP, body) == (body, {}, frozenset())
    body = b'{"a":"AWS_AWS_EC2_001"}'
    assert restore_body("application/json", "/", TOKEN_MAP, body)[0] == (
        b'{"a":"AWS_i-0123456789abcdef0"}')


def test_text_body_every_byte_offset() -> None:
    original = "ssh ec2-user@10.0.1.2 # i-0123456789abcdef0, données-bucket-é\n"
    body = mask(original).encode()
    for cut in byte_cuts(body):
        assert feed_all(TextRestorer(TOKEN_MAP), cut) == original.encode()
    out, counts, _ = restore_body("text/plain; charset=utf-8", "/", TOKEN_MAP, body)
    assert out == original.encode() and counts == {
        "AWS_PRIVATE_IP_1234": 1, "AWS_EC2_001": 1, "AWS_S3_BUCKET_003": 1}


def test_text_body_in_another_charset() -> None:
    out, _, _ = restore_body("text/plain; charset=iso-8859-1", "/", TOKEN_MAP,
                          b"b=AWS_S3_BUCKET_003 \xe9")
    assert out == "b=données-bucket-é é".encode("iso-8859-1")


def test_restore_body_sse_and_unknown_type() -> None:
    body = (b'data: {"choices":[{"index":0,"delta":{"content":"AWS_EC2_001"},'
            b'"finish_reason":null}]}\n\ndata: [DONE]\n\n')
    out, counts, _ = restore_body("text/event-stream", "/v1/chat/completions", TOKEN_MAP, body)
    assert b"i-0123456789abcdef0" in out and counts == {"AWS_EC2_001": 1}
    assert restore_body("application/octet-stream", "/", TOKEN_MAP, b"AWS_EC2_001") == (
        b"AWS_EC2_001", {}, frozenset())


def test_restore_body_honours_the_cap_and_flags_it() -> None:
    body = b"AWS_EC2_001 " * 10
    out, counts, flags = restore_body("text/plain", "/", TOKEN_MAP, body, max_bytes=24)
    assert out == b"i-0123456789abcdef0 " * 2 + body[24:]
    assert counts == {"AWS_EC2_001": 2} and flags == {"size_cap"}


def test_json_held_back_is_bounded() -> None:
    """Each chunk ends in what may still become a token (held back until the next shows it
    does not): no more than the longest token is ever held, and nothing is lost."""
    r = JsonRestorer(TOKEN_MAP)
    chunk = b'"x ' + b"9 " * 1000 + b"AWS_EC2_00"
    sent = got = b""
    for _ in range(100):
        sent += chunk
        got += r.feed(chunk)
        assert got == sent[: len(got)] and len(sent) - len(got) <= MAX_TOKEN_LEN
    assert got + r.finish() == sent


def test_restore_body_whole_matches_the_streamed_path() -> None:
    """restore_body feeds a body that fits the cap in one call; StreamRestore (the streaming
    path) must give the same bytes, counts and flags for every content type."""
    from awsmasker.restore.stream import StreamRestore

    cases = [
        ("application/json", b'{"a":"AWS_EC2_001 and AWS_VPC_002","t":"AWS_"}'),
        ("text/plain", b"AWS_EC2_001\nAWS_S3_BUCKET_003 AW"),
        ("text/event-stream", b'data: {"choices":[{"index":0,"delta":{"content":"AWS_EC2_001"}'
                              b',"finish_reason":null}]}\n\ndata: [DONE]'),
        ("application/json", b'{"no":"tokens at all"}'),
    ]
    for ctype, body in cases:
        restorer = select_restorer(ctype, "/v1/chat/completions", TOKEN_MAP)
        s = StreamRestore(restorer, max_bytes=len(body))
        head = s(body)
        streamed = (head if isinstance(head, bytes) else b"") + s(b"")
        out, counts, flags = restore_body(ctype, "/v1/chat/completions", TOKEN_MAP, body)
        if b"AWS_" in body:
            assert (out, counts, flags) == (streamed, s.restored, frozenset(s.flags)), ctype
        else:  # no token: the body comes back as it is, without a restorer run
            assert out is body and not counts and not flags


@pytest.mark.parametrize("body", [
    b'{"a":"AWS_EC2_001"}',  # no thinking value: JsonRestorer.whole's one restore call
    b'{"type":"thinking","thinking":"x","signature":"s"},{"a":"AWS_EC2_001"}',  # its _run
])
def test_restore_body_failure_passes_the_body_unchanged(monkeypatch, body: bytes) -> None:
    import awsmasker.restore.body as restore_body_module

    def broken(*args) -> bytes:
        raise RuntimeError("bug")

    monkeypatch.setattr(restore_body_module, "restore", broken)
    out, counts, flags = restore_body("application/json", "/", TOKEN_MAP, body)
    assert out == body and not counts and "error" in flags
