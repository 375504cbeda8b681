"""The JSON body's scan paths with hyperscan: triggers found in the body with only ``\\n``
replaced (``Scanner.json_triggers``), then verified in the view that reads ``\\"`` as ``""``
(only ``\\n``/``\\"`` escapes), in the JSON view (other escapes), or the whole JSON view scanned
again (an escaped backslash). Each must give what the ``re`` engine gives: it always takes the
JSON view."""

from __future__ import annotations

import json

import pytest
from awsmasker.body import Masker, json_view
from awsmasker.scanner import (
    BAD_ESCAPE_KEY,
    ESCAPE_KEY,
    MARKERS,
    RULES,
    Scanner,
    available_engines,
)
from hypothesis import given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.skipif(
    "hyperscan" not in available_engines(), reason="hyperscan not installed"
)

HS = Masker(engine="hyperscan")
RE = Masker(engine="re")
IDS = [
    "i-0123456789abcdef0",
    "sg-0123abcd",
    "10.1.2.3",
    "172.16.0.1/24",
    "192.168.1.1",
    "123456789012",
    "AKIAABCDEFGHIJKLMNOP",
    "arn:aws:iam::123456789012:role/x",
    "account 111122223333",
    "AWS_ACCOUNT_001",
    "db.abc.us-east-1.rds.amazonaws.com",
]
ESCAPES = ["\\n", '\\"', "\\t", "\\r", "\\b", "\\f", "\\/", "\\u00e9", "\\u1234", "\\u12a4", "\\x"]


def masked(m: Masker, body: str) -> tuple[str, list, list[str]]:
    plan = m.plan(body, is_json=True)
    tokens = [f"AWS_{f.type_name}_{i + 1:03d}" for i, f in enumerate(plan.findings)]
    return plan.apply(tokens), plan.findings, plan.present_tokens


def path(body: str) -> str:
    """Which path the hyperscan masker takes for ``body``."""
    v = body.replace("\\n", "\n\n")
    if "\\" not in v:
        return "view"
    hits = HS.scanner.json_triggers(v)
    if hits is None:
        return "rescan"
    return "escapes" if ESCAPE_KEY in hits else "quoted"


def body_of(*strings: str, account: bool = True) -> str:
    """A JSON body whose strings hold ``strings`` as raw JSON text (escapes as given)."""
    parts = ", ".join(f'"s{i}": "{s}"' for i, s in enumerate(strings))
    tail = ', "n": 123456789012, "m": [111122223333]' if account else ""
    return "{" + parts + tail + "}"


@pytest.mark.parametrize("ident", IDS)
@pytest.mark.parametrize("esc", ["\\n", '\\"'])
def test_quoted_path_same_as_re(esc: str, ident: str) -> None:
    body = body_of(f"x{esc}{ident}{esc}y", f'say \\"{ident}\\" account 123456789012')
    assert path(body) == "quoted"
    out = masked(HS, body)
    assert out == masked(RE, body)
    assert ident.split()[-1] not in out[0] or ident.startswith("AWS_")
    json.loads(out[0])
    # the bare numbers, outside strings, become string tokens: the quote parity held
    assert '"n": "AWS_ACCOUNT_' in out[0]


@pytest.mark.parametrize("ident", IDS)
@pytest.mark.parametrize("esc", ESCAPES[2:])
def test_escapes_path_same_as_re(esc: str, ident: str) -> None:
    body = body_of(f'x{esc}{ident}{esc}y\\n\\"', f"{esc}{esc}{ident}", "account 123456789012")
    assert path(body) == "escapes"
    out = masked(HS, body)
    assert out == masked(RE, body)


@pytest.mark.parametrize("ident", IDS)
@pytest.mark.parametrize("esc", ["\\\\", "\\\\n", '\\\\\\"', "\\\\\\n"])
def test_escaped_backslash_rescans(esc: str, ident: str) -> None:
    body = body_of(f'x{esc}{ident}\\n\\"', "account 123456789012")
    assert path(body) == "rescan"
    assert masked(HS, body) == masked(RE, body)


def test_id_after_escape_found_on_each_path() -> None:
    for esc, want in (("\\n", "quoted"), ("\\t", "escapes"), ("\\u00e9", "escapes")):
        body = body_of(f'a\\"b{esc}i-0123456789abcdef0 {esc}10.1.2.3', account=False)
        assert path(body) == want
        out, findings, _ = masked(HS, body)
        assert {f.value for f in findings} == {"i-0123456789abcdef0", "10.1.2.3"}, esc
        assert "i-0123456789abcdef0" not in out and "10.1.2.3" not in out


def test_bare_account_after_unicode_escape() -> None:
    # \u1234 ends in a digit: the 12 digits after it are a run of their own in the JSON view
    body = body_of("account 123456789012", "\\u1234123456789012 x")
    assert path(body) == "escapes"
    out, _findings, _ = masked(HS, body)
    assert out == masked(RE, body)[0] and "123456789012" not in out


def test_thinking_false_alarm_and_real_block() -> None:
    # '"thinking' JSON-encoded: an escaped quote opens what looks like the key "thinking"
    fake = '{"a": "\\"thinking", "b": ": \\"x i-0123456789abcdef0\\""}'
    assert path(fake) == "quoted"
    assert masked(HS, fake) == masked(RE, fake)
    assert "i-0123456789abcdef0" not in masked(HS, fake)[0]
    block = {"type": "thinking", "thinking": 'see "i-0123456789abcdef0"\n', "signature": "s"}
    real = json.dumps({"messages": [{"role": "assistant", "content": [block]}], "x": 'a"b'})
    assert path(real) == "quoted"
    out = masked(HS, real)
    assert out == masked(RE, real)
    assert json.loads(out[0])["messages"][0]["content"][0] == block  # left byte-identical


def test_tokens_already_present_on_each_path() -> None:
    for esc in ("\\n", "\\t", "\\u00e9"):
        body = body_of(f'{esc}AWS_EC2_001{esc}\\"AWS_VPC_0002', "i-0123456789abcdef0")
        out = masked(HS, body)
        assert out == masked(RE, body)
        assert out[2] == ["AWS_EC2_001", "AWS_VPC_0002"]


def test_bad_escape_stops_scan_and_stray_backslash() -> None:
    sc = HS.scanner
    assert sc.json_triggers('{"a": "\\\\ i-0123456789abcdef0"}') is None
    assert sc.json_triggers('{"a": "x\\') is None  # backslash at the end
    hits = sc.json_triggers('{"a": "x\\ty\\"z"}')
    assert hits is not None and ESCAPE_KEY in hits and BAD_ESCAPE_KEY not in hits
    assert Scanner(engine="re").json_triggers('{"a": "x\\"y"}') is None  # only hyperscan


def _rule_hits(hits: dict[int, list[int]]) -> dict[int, set[int]]:
    return {k: set(v) for k, v in hits.items() if k >= 0 or k in MARKERS}


FRAGMENTS = [*IDS, *ESCAPES, "\\\\", '"', ":", ",", " ", "x", "-", "0", "\\u0031"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=25))
def test_json_triggers_cover_the_json_view(pieces: list[str]) -> None:
    """Every trigger position in the JSON view is among json_triggers' (what makes the
    verification results equal), and the masking equals the ``re`` engine's."""
    body = '{"a": "' + "".join(pieces) + '", "n": 123456789012}'
    v = body.replace("\\n", "\n\n")
    hits = HS.scanner.json_triggers(v)
    if hits is not None:
        b = json_view(body)[0].encode("latin-1", "replace")
        want = _rule_hits(HS.scanner.engine.find(b, b))
        got = _rule_hits(hits)
        for k, positions in want.items():
            assert positions <= got.get(k, set()), (k, RULES[k].name if k >= 0 else k)
    assert masked(HS, body) == masked(RE, body)
