"""Fuzzing with adversarial input: the masker and every stream restorer.

Inputs: long runs of near-identifiers (``i-`` + 7 or 18 hex, ``arn:aws`` fragments, dotted quads,
near-tokens), pathological whitespace, invalid UTF-8 (bodies decoded as latin-1, as the addon does),
deeply nested JSON and huge runs of backslashes.

Properties: no exception escapes; ``restore(mask(x)) == x`` for reversible findings (and masked
JSON stays JSON); a restorer fed arbitrary bytes split arbitrarily gives the same output as fed
whole, and loses no byte (input without known tokens comes out unchanged; with them, putting the
tokens back gives the input). Speed on such input is measured by scripts/bench_engine.py linearity.
"""

from __future__ import annotations

import json
import re

import pytest
from awsmasker.body import Masker
from awsmasker.restore import restore_body, select_restorer
from awsmasker.restore.stream import StreamRestore
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from testsupport.samples import ORIGINALS

MASKER = Masker()
FUZZ = settings(max_examples=400, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

HEX = "0123456789abcdef"
hexes = st.text(alphabet=HEX, min_size=1, max_size=20)
near_ids = st.one_of(
    st.builds(lambda h: "i-" + h, st.text(alphabet=HEX, min_size=7, max_size=7)),
    st.builds(lambda h: "i-" + h, st.text(alphabet=HEX, min_size=18, max_size=18)),
    st.builds(lambda h: "i-" + h, st.text(alphabet=HEX, min_size=17, max_size=17)),
    st.builds(lambda p, h: p + h, st.sampled_from(["vpc-", "subnet-", "sg-", "ami-", "vol-"]),
              hexes),
    st.sampled_from(["arn:aws", "arn:aws:", "arn:aws:iam::", "arn:aws:s3:::", "arn:aws:iam::1234",
                     "arn:aws:iam::123456789012:role/", ":role/x", "arn:aws-cn:ec2:", "arn:",
                     "AKIA", "AKIAIOSFODNN7EXAMPL", "ASIA", "AWS_", "AWS_EC2_", "AWS_EC2_00",
                     "AWS_EC2_0011", "AWS_EC2_001", "AWS_VPC_001", "123456789012",
                     "1234567890123", ".ec2.internal", "ip-10-0-1-2", ".rds.amazonaws.com"]),
    st.builds(lambda a, b, c, d: f"{a}.{b}.{c}.{d}", *[st.integers(0, 300)] * 4),
    st.builds(lambda a, b: f"10.{a}.{b}", st.integers(0, 255), st.integers(0, 255)),
)
real_ids = st.one_of(
    st.sampled_from(ORIGINALS),
    st.builds(lambda p, h: p + h, st.sampled_from(["i-", "vpc-", "subnet-", "sg-", "vol-"]),
              st.sampled_from([8, 17]).flatmap(
                  lambda n: st.text(alphabet=HEX, min_size=n, max_size=n))),
    st.builds(lambda a, r: f"arn:aws:iam::{a}:role/{r}", st.integers(10**11, 10**12 - 1),
              st.text(alphabet="abcXYZ/-_.+=@", min_size=1, max_size=12)),
    st.builds(lambda b, c: f"10.0.{b}.{c}", st.integers(0, 255), st.integers(0, 255)),
)
whitespace = st.text(alphabet=" \t\r\n\x0b\x0c\u00a0\u2028\u3000\u200b", min_size=1,
                     max_size=40)
backslashes = st.integers(1, 300).map(lambda n: "\\" * n)
latin1 = st.binary(max_size=40).map(lambda b: b.decode("latin-1"))
punct = st.text(alphabet='"\\/{}[],:-_.=@#\x00\x01', max_size=6)
fragment = st.one_of(near_ids, real_ids, whitespace, backslashes, latin1, punct,
                     st.text(max_size=10))
texts = st.lists(fragment, max_size=40).map("".join)


def deep_json(depth: int, leaf: str, kind: str) -> str:
    if kind == "list":
        return "[" * depth + json.dumps(leaf) + "]" * depth
    return '{"a":' * depth + json.dumps(leaf) + "}" * depth


# -- the masker ------------------------------------------------------------------------------

def mask(text: str, is_json: bool | None):
    plan = MASKER.plan(text, is_json=is_json)
    # counters far above any token written in the fuzz input, so minted tokens are unambiguous
    tokens = [f"AWS_{f.type_name}_{900_001 + i}" for i, f in enumerate(plan.findings)]
    return plan, tokens, plan.apply(tokens)


def check_roundtrip(text: str, is_json: bool | None) -> str:
    plan, tokens, masked = mask(text, is_json)
    token_map = {t: f.value for t, f in zip(tokens, plan.findings, strict=True) if f.reversible}
    # What exact restoration gives back: each span's own value, reversible findings only
    # (an account written as a bare JSON number comes back as a JSON string, by design).
    values = [f.value if f.reversible else t for t, f in zip(tokens, plan.findings, strict=True)]
    expected = plan.apply(values)
    if all(f.reversible for f in plan.findings) and not any(q for *_, q in plan.edits):
        assert expected == text
    restorer = select_restorer("text/plain; charset=utf-8", "/", token_map)
    raw = masked.encode("utf-8", "surrogatepass")
    got = raw if restorer is None else restorer.feed(raw) + restorer.finish()
    assert got == expected.encode("utf-8", "surrogatepass")
    return masked


@FUZZ
@given(texts)
@example("i-" + "0" * 18 * 2000)
@example("\\" * 100_001)
@example("1.2.3." * 5000)
@example("arn:aws:" * 3000)
def test_masker_text_roundtrip(text: str) -> None:
    check_roundtrip(text, False)


@FUZZ
@given(texts, st.booleans())
def test_masker_json_roundtrip_stays_json(text: str, ascii_only: bool) -> None:
    body = json.dumps({"messages": [{"role": "user", "content": text}], "system": text},
                      ensure_ascii=ascii_only)
    masked = check_roundtrip(body, True)
    json.loads(masked)


@FUZZ
@given(texts, st.integers(1, 600), st.sampled_from(["list", "dict"]))
@example("i-0a1b2c3d4e5f67890", 500, "list")
@example("vpc-0123abcd \\ 10.0.0.1", 500, "dict")
def test_masker_deeply_nested_json(text: str, depth: int, kind: str) -> None:
    masked = check_roundtrip(deep_json(depth, text, kind), None)
    assert masked.count("[") + masked.count("{") >= depth


@FUZZ
@given(st.binary(max_size=400), st.booleans())
def test_masker_invalid_utf8_bodies(raw: bytes, is_json: bool) -> None:
    """Bodies that are not UTF-8 are decoded as latin-1 by the addon."""
    text = raw.decode("latin-1")
    check_roundtrip(text, is_json)


@FUZZ
@given(texts)
@example('{"a": "\\i-00000000000000000\\/"')  # a backslash that escapes nothing, then an ID
def test_masker_malformed_json(text: str) -> None:
    """Text that looks like JSON but is not (unbalanced, raw backslashes in strings)."""
    check_roundtrip('{"a": "' + text, None)
    check_roundtrip('[' + text + '"', None)


# -- the restorers -----------------------------------------------------------------------------

TOKEN_MAP = {
    "AWS_EC2_001": "i-0123456789abcdef0",
    "AWS_VPC_001": "vpc-0badf00d",
    "AWS_PRIVATE_IP_001": "10.1.2.3",
    "AWS_ARN_001": "arn:aws:iam::123456789012:role/Deploy",
}
KINDS = {"sse": "text/event-stream", "json": "application/json", "text": "text/plain"}
token = st.sampled_from([*TOKEN_MAP, "AWS_EC2_002", "AWS_EC2_0011", "AWS_", "AWS_EC2_00"])
sse_line = st.one_of(
    st.builds(lambda t: 'data: {"type":"content_block_delta","index":0,"delta":'
              '{"type":"text_delta","text":"x ' + t + ' y"}}', token),
    st.builds(lambda t: 'data: {"type":"content_block_delta","index":1,"delta":'
              '{"type":"input_json_delta","partial_json":"{\\"id\\": \\"' + t + '"}}', token),
    st.builds(lambda t: 'data: {"choices":[{"index":0,"delta":{"content":"' + t + '"}}]}',
              token),
    st.builds(lambda t: 'data: {"type":"response.output_text.delta","delta":"' + t + '"}',
              token),
    st.builds(lambda t: "data: not json " + t, token),
    st.just("event: content_block_delta"), st.just(": comment"), st.just("data: [DONE]"),
    st.just('data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"\\'),
    st.just("data:"), st.just(""),
)
eol = st.sampled_from(["\n", "\r\n", "\r"])
sse_bodies = st.builds(lambda lines, e: e.join(lines).encode(), st.lists(sse_line, max_size=30),
                       eol)
raw_bodies = st.one_of(
    st.binary(max_size=600),
    st.lists(st.one_of(token, fragment, st.sampled_from(['"', "\\", "\\\\", "\n\n", "\r"])),
             max_size=60).map(lambda xs: "".join(xs).encode("utf-8", "surrogatepass")),
    sse_bodies,
)


def cuts_of(data: bytes, points: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in points})
    out, prev = [], 0
    for p in [*points, len(data)]:
        out.append(data[prev:p])
        prev = p
    return [c for c in out if c]


def run_whole(kind: str, data: bytes) -> bytes:
    r = select_restorer(KINDS[kind], "/v1/messages", TOKEN_MAP)
    assert r is not None
    return r.feed(data) + r.finish()


def run_stream(kind: str, pieces: list[bytes]) -> bytes:
    """Through the StreamRestore callable, exactly as mitmproxy drives it."""
    r = select_restorer(KINDS[kind], "/v1/messages", TOKEN_MAP)
    s = StreamRestore(r, max_bytes=1 << 30)
    out = []
    for p in pieces:
        got = s(p)
        assert got != b"", "b'' mid-stream would end the chunked reply"
        out.append(b"".join(got) if isinstance(got, list) else got)
    last = s(b"")
    out.append(last)
    assert "error" not in s.flags
    return b"".join(out)


_DATA_JSON = re.compile(rb"(data: ?)(\{[^\r\n]*\})")


def _canonical(m: re.Match[bytes]) -> bytes:
    try:
        return m.group(1) + json.dumps(json.loads(m.group(2)), sort_keys=True).encode()
    except ValueError:
        return m.group(0)


def unrestore(data: bytes, kind: str) -> bytes:
    for tok, orig in TOKEN_MAP.items():
        data = data.replace(orig.encode(), tok.encode())
    return _DATA_JSON.sub(_canonical, data) if kind == "sse" else data


_EOL = rb"(?:\r\n|\r(?!\n)|\n)"
_EVENT_END = re.compile(_EOL + _EOL)


def _delta_channel(obj: object) -> tuple[tuple, str] | None:
    """(channel, text) of a text-carrying delta event, else None."""
    if not isinstance(obj, dict):
        return None
    d = obj.get("delta")
    if isinstance(d, dict):
        for f in ("text", "partial_json", "thinking"):
            if isinstance(d.get(f), str):
                return ("anthropic", obj.get("index"), f), d[f]
    if isinstance(d, str):
        return ("responses", obj.get("type"), obj.get("item_id")), d
    ch = obj.get("choices")
    if isinstance(ch, list) and ch and isinstance(ch[0], dict):
        cd = ch[0].get("delta")
        if isinstance(cd, dict) and isinstance(cd.get("content"), str):
            return ("chat", ch[0].get("index")), cd["content"]
    return None


def sse_digest(data: bytes) -> tuple[list[bytes], dict[tuple, str]]:
    """What an SSE reply says: the text of every delta channel joined, and every other event.

    A restorer may hold a possible token prefix at the end of one delta and send it with the next
    delta of the same channel (or in a delta of its own at the end), so events are not compared
    one by one: the concatenated text per channel must survive exactly."""
    other: list[bytes] = []
    channels: dict[tuple, str] = {}
    for ev in _EVENT_END.split(unrestore(data, "sse")):
        lines = re.split(_EOL, ev)
        payload = b"\n".join(ln[5:].removeprefix(b" ") for ln in lines if ln.startswith(b"data:"))
        try:
            found = _delta_channel(json.loads(payload))
        except ValueError:
            found = None
        if found is None:
            other.append(b"\n".join(ln for ln in lines if ln))
        else:
            channels[found[0]] = channels.get(found[0], "") + found[1]
    return [o for o in other if o], channels


@pytest.mark.parametrize("kind", list(KINDS))
@FUZZ
@given(data=raw_bodies, points=st.lists(st.integers(0, 10_000), max_size=40),
       one_byte=st.booleans())
def test_restorer_split_invariance_and_no_loss(kind: str, data: bytes, points: list[int],
                                               one_byte: bool) -> None:
    if any(orig.encode() in data for orig in TOKEN_MAP.values()):
        return  # originals in the input would make "put the tokens back" ambiguous
    whole = run_whole(kind, data)
    pieces = [data[i : i + 1] for i in range(len(data))] if one_byte else cuts_of(data, points)
    assert run_stream(kind, pieces) == whole
    # the buffered-reply path (JSON without thinking: JsonRestorer.whole's one restore call)
    assert restore_body(KINDS[kind], "/v1/messages", TOKEN_MAP, data).body == whole
    if kind == "sse":
        assert sse_digest(whole) == sse_digest(data)
    elif not any(t.encode() in data for t in TOKEN_MAP):
        assert whole == data  # nothing to restore: every byte unchanged
    else:
        assert unrestore(whole, kind) == unrestore(data, kind)


def test_sse_unterminated_last_event_unchanged() -> None:
    data = (b'data: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"AWS_EC2_001"}}')
    assert not run_whole("sse", data).endswith(b"\n")


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("shape", ["backslashes", "deep", "near_ids", "one_event", "whitespace"])
def test_restorer_large_adversarial_shapes(kind: str, shape: str) -> None:
    """Big single inputs of each adversarial shape, whole and in 1-byte / odd chunks."""
    body = {
        "backslashes": b'data: {"text":"' + b"\\" * 50_001 + b'AWS_EC2_001"}\n\n',
        "deep": b"data: " + b'{"a":' * 500 + b'"AWS_VPC_001"' + b"}" * 500 + b"\n\n",
        "near_ids": b"data: " + b"AWS_EC2_00 AWS_ i-0123456 AWS_EC2_001x " * 1500 + b"\n\n",
        "one_event": b'data: {"type":"content_block_delta","delta":{"type":"text_delta","text":"'
        + b"AWS_EC2_001 filler " * 5000 + b'"}}\n\n',
        "whitespace": b" \t\r\n" * 20_000 + b"AWS_PRIVATE_IP_001\n\n",
    }[shape]
    whole = run_whole(kind, body)
    assert run_stream(kind, [body[i : i + 997] for i in range(0, len(body), 997)]) == whole
    head = body[:3000]
    assert run_stream(kind, [head[i : i + 1] for i in range(len(head))]) == run_whole(kind, head)
    if kind == "sse":
        assert sse_digest(whole) == sse_digest(body)
    else:
        assert unrestore(whole, kind) == unrestore(body, kind)


# What the splice patterns (awsmasker.restore.events) take as a JSON string's body
STRING_BODY = re.compile(rb'[^"\\\x00-\x1f]*(?:\\.[^"\\\x00-\x1f]*)*')


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"a", b"\\", b'"', b"u", b"0", b"d8", b"00e9", b"n", b"/",
                                 b"\xc3\xa9", b"\xff", b"AWS_"]), max_size=12)
       .map(b"".join).filter(lambda raw: STRING_BODY.fullmatch(raw) is not None))
def test_event_string_decoding_agrees_with_json_loads(raw: bytes) -> None:
    """A delta spelled as its API writes it is spliced: its raw JSON string is decoded without
    parsing the event. For every string body the splice patterns can match, the restored event
    says what ``json.loads`` reads in it, and one ``json.loads`` rejects passes unchanged."""
    try:
        expected = json.loads(b'"' + raw + b'"')
    except ValueError:
        expected = None
    for name in ("anthropic", "chat", "responses"):
        ev = _DELTA_PREFIXES[name] + raw + _DELTA_SUFFIXES[name]
        r = select_restorer("text/event-stream", "/", {"AWS_EC2_001": "i-0123456789abcdef0"})
        assert r is not None
        out = r.whole(ev)
        if expected is None:
            assert out == ev and r.flags <= {"invalid_event"}, name
            continue
        if r.flags:  # a lone surrogate cannot be written back as UTF-8: the event stays
            assert out == ev and r.flags == {"error"}, name
            continue
        (data,) = [line[5:] for line in out.split(b"\n") if line.startswith(b"data:")]
        obj = json.loads(data)
        text = {"anthropic": lambda o: o["delta"]["text"],
                "chat": lambda o: o["choices"][0]["delta"]["content"],
                "responses": lambda o: o["delta"]}[name](obj)
        assert text == expected and not r.flags, name


def _backtracking_twin(pattern: re.Pattern[bytes]) -> re.Pattern[bytes]:
    """``pattern`` with its possessive quantifiers (``*+``) made greedy (``*``)."""
    assert b"*+" in pattern.pattern
    return re.compile(pattern.pattern.replace(b"*+", b"*"), pattern.flags)


def _possessive_patterns() -> dict[str, re.Pattern[bytes]]:
    from awsmasker.restore import apis, body

    return {"anthropic": apis.ANTHROPIC_DELTA, "chat": apis.CHAT_DELTA,
            "responses": apis.RESPONSES_DELTA, "string_body": body.STRING_BODY}


_DELTA_PREFIXES = {
    "anthropic": b'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",'
                 b'"text":"',
    "chat": b'data: {"id":"c","choices":[{"index":0,"delta":{"content":"',
    "responses": b'data: {"type":"response.output_text.delta","item_id":"m","output_index":0,'
                 b'"content_index":0,"delta":"',
    "string_body": b"",
}
_DELTA_SUFFIXES = {
    "anthropic": b'"}}\n\n', "chat": b'"},"finish_reason":null}]}\n\n',
    "responses": b'"}\n\n', "string_body": b'"',
}


@pytest.mark.parametrize("name", list(_possessive_patterns()))
@settings(max_examples=300, deadline=None)
@given(inside=st.lists(st.sampled_from([b"a", b"\\", b'"', b"\\\\", b'\\"', b"\x01", b"\n", b"u",
                                        b"\xc3\xa9", b"AWS_EC2_001", b"}"]), max_size=14)
       .map(b"".join),
       cut=st.integers(0, 8))
def test_possessive_string_patterns_match_as_their_backtracking_twins(
        name: str, inside: bytes, cut: int) -> None:
    """The delta and thinking-string patterns read a JSON string's inside with possessive
    quantifiers (no backtracking state per escape: linear memory on a string of a million
    escapes). An inside can be matched one way only, so they must match exactly where, and
    exactly what, the same patterns with greedy quantifiers match: whole events, events cut
    short, strings with stray quotes, backslashes and control characters."""
    pattern = _possessive_patterns()[name]
    twin = _backtracking_twin(pattern)
    data = _DELTA_PREFIXES[name] + inside + _DELTA_SUFFIXES[name]
    data = data[: len(data) - cut] if cut else data
    for op in ("fullmatch", "match"):
        got, want = getattr(pattern, op)(data), getattr(twin, op)(data)
        assert (got and (got.span(), got.groups())) == (want and (want.span(), want.groups()))
