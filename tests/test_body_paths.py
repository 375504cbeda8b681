"""The JSON body's scan paths with hyperscan (``Masker._plan_json``): triggers found in the raw
body (``Scanner.json_triggers_raw``), then verified in the view that reads ``\\"`` as ``""``
(only ``\\n``/``\\"``/``\\\\`` escapes) or in the JSON view (other escapes), escaped
backslashes (if any) replaced first; a body without a backslash is scanned as it is, one ending in
a backslash has its JSON view scanned. Each must give what the ``re`` engine gives: it always
takes the JSON view."""

from __future__ import annotations

import json

import pytest
from awsmasker.body import json_view
from awsmasker.scanner import (
    ESCAPE_KEY,
    Scanner,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine_cases import (
    HS,
    IDS,
    RE,
    assert_raw_triggers_cover_view,
    masked,
    needs_hyperscan,
    rule_hits,
)

pytestmark = needs_hyperscan

ESCAPES = ["\\n", '\\"', "\\t", "\\r", "\\b", "\\f", "\\/", "\\u00e9", "\\u1234", "\\u12a4", "\\x"]


def path(body: str) -> str:
    """Which path the hyperscan masker (``Masker._plan_json``) takes for ``body``: ``"plain"``
    (no backslash: the body, its own view, scanned), ``"scan"`` (no triggers from the raw body,
    which ends in a backslash: the JSON view scanned), ``"quoted"`` (only ``\\"``/``\\n``
    escapes: the triggers verified in the view that reads ``\\"`` as ``""``), ``"escapes"``
    (other escapes: the triggers verified in the JSON view); ``+pairs`` when an escaped
    backslash is present (those are replaced first, then ``\\n``)."""
    if "\\" not in body:
        return "plain"
    found = HS.scanner.json_triggers_raw(body)
    if found is None:
        return "scan"
    hits, pair = found
    name = "escapes" if ESCAPE_KEY in hits else "quoted"
    return name + "+pairs" if pair >= 0 else name


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
@pytest.mark.parametrize(("other", "want"), [("", "quoted+pairs"), ("\\t", "escapes+pairs")])
def test_escaped_backslash_paths(esc: str, ident: str, other: str, want: str) -> None:
    body = body_of(f'x{esc}{ident}\\n\\"{other}', "account 123456789012")
    assert path(body) == want
    assert masked(HS, body) == masked(RE, body)


def test_id_after_escape_found_on_each_path() -> None:
    cases = [("\\n", "quoted"), ("\\t", "escapes"), ("\\u00e9", "escapes")]
    cases += [("\\\\", "quoted+pairs"), ("\\\\\\t", "escapes+pairs")]
    for esc, want in cases:
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


def test_escaped_backslash_flagged_and_stray_backslash() -> None:
    sc = HS.scanner
    body = '{"a": "\\\\ i-0123456789abcdef0"}'
    found = sc.json_triggers_raw(body)  # the scan goes on after an escaped backslash
    assert found is not None and found[1] == body.index("\\")
    b = json_view(body)[0].encode()
    want, got = rule_hits(HS.scanner.engine.find(b, b)), rule_hits(found[0])
    assert want and all(positions <= got.get(k, set()) for k, positions in want.items())
    assert [f.value for f in masked(HS, body)[1]] == ["i-0123456789abcdef0"]
    assert sc.json_triggers_raw('{"a": "x\\') is None  # backslash at the end
    assert path('{"a": "x\\') == "scan"
    found = sc.json_triggers_raw('{"a": "x\\ty\\"z"}')
    assert found is not None and ESCAPE_KEY in found[0] and found[1] == -1
    assert Scanner(engine="re").json_triggers_raw('{"a": "x\\"y"}') is None  # only hyperscan


FRAGMENTS = [*IDS, *ESCAPES, "\\\\", '"', ":", ",", " ", "x", "-", "0", "\\u0031"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=25))
def test_json_triggers_raw_cover_the_json_view(pieces: list[str]) -> None:
    """Every trigger position in the JSON view is among json_triggers_raw's (what makes the
    verification results equal), and the masking equals the ``re`` engine's."""
    body = '{"a": "' + "".join(pieces) + '", "n": 123456789012}'
    assert_raw_triggers_cover_view(body)
    assert masked(HS, body) == masked(RE, body)


def takes_sparse_view(body: str) -> bool:
    """Whether the hyperscan masker makes the view only around the triggers (few triggers, all
    of rules with a short reach: ``body._sparse_view``)."""
    from awsmasker.body import _sparse_view

    found = HS.scanner.json_triggers_raw(body)
    return (found is not None and ESCAPE_KEY not in found[0]
            and _sparse_view(body, found[0]) is not None)


#: one identifier of each rule the sparse view serves, with what its verification reads around
#: it: the longest EC2 prefix, a version word before an address, an address with a CIDR suffix
SHORT_REACH_CASES = [
    "eni-attach-0123456789abcdef0",
    "i-0123456789abcdef0",
    "sg-0123abcd",
    "version 10.1.2.3",
    "192.168.100.200/32",
    "AKIAABCDEFGHIJKLMNOP",
]


@pytest.mark.parametrize("ident", SHORT_REACH_CASES)
@pytest.mark.parametrize("esc", ["\\n", '\\"', "\\\\", "\\\\\\n"])
def test_sparse_view_matches_the_whole_view_at_every_escape_offset(ident: str, esc: str) -> None:
    """An escape at each offset from an identifier, before it, inside or after it: the windows
    (``SHORT_REACH``) hold everything the verification reads, and their ends never split an
    escape, so the masking is the ``re`` engine's (which scans the whole JSON view)."""
    filler = "ab-cd_ef.gh " * 6
    for offset in range(-40, len(ident) + 30):
        text = filler + ident + filler
        at = len(filler) + offset
        body = body_of(text[:at] + esc + text[at:], account=False)
        assert takes_sparse_view(body), (offset, body)
        assert masked(HS, body) == masked(RE, body), (offset, body)


def test_sparse_view_gives_way_to_the_whole_view() -> None:
    one = "i-0123456789abcdef0"
    assert takes_sparse_view(body_of(f"x\\n{one}", account=False))
    assert takes_sparse_view(body_of("no identifier\\n here", account=False))
    many = " ".join(f"i-0123456789abcd{k:03x}" for k in range(17))
    for body in (
        body_of(f"x\\n{one}", "account 123456789012", account=False),  # an account rule fires
        body_of(f"x\\n{one}", "arn:aws:s3:::bucket-name", account=False),  # reads far ahead
        body_of(f"x\\n{many}", account=False),  # more triggers than windows are worth
        '{"type": "thinking", "thinking": "x\\n' + one + '", "signature": "s"}',
    ):
        assert not takes_sparse_view(body), body
        assert masked(HS, body) == masked(RE, body)


SPARSE_FRAGMENTS = [*SHORT_REACH_CASES, "\\n", '\\"', "\\\\", "AWS_EC2_001", "version", " ",
                    "x", "-", ".", "0", "7", "/", "_", "123456789012"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(SPARSE_FRAGMENTS), min_size=1, max_size=30))
def test_sparse_view_masks_as_the_whole_view(pieces: list[str]) -> None:
    body = '{"a": "' + "".join(pieces) + '", "n": 123456789012}'
    assert masked(HS, body) == masked(RE, body)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(SPARSE_FRAGMENTS), min_size=1, max_size=30))
def test_sparse_view_is_the_whole_view_within_reach_of_every_trigger(pieces: list[str]) -> None:
    """Within ``SHORT_REACH`` of each trigger the sparse view is the whole view, character for
    character (a window that split an escape would differ at its end); elsewhere it is raw."""
    from awsmasker.body import _SUB_NL, _SUB_PAIR, _sparse_view
    from awsmasker.scanner import SHORT_REACH

    body = '{"a": "' + "".join(pieces) + '"}'
    found = HS.scanner.json_triggers_raw(body)
    if found is None or ESCAPE_KEY in found[0]:
        return
    sparse = _sparse_view(body, found[0])
    if sparse is None:
        return
    whole = _SUB_NL(_SUB_PAIR(body)).replace("\\", '"')
    assert len(sparse) == len(body)
    for key, starts in found[0].items():
        back, after = SHORT_REACH.get(key, (0, 0))
        for h in starts:
            lo, hi = max(h - back, 0), min(h + after, len(body))
            assert sparse[lo:hi] == whole[lo:hi], (key, h)
    assert all(c in (r, w) for c, r, w in zip(sparse, body, whole, strict=True))


def test_public_ips_take_the_whole_view() -> None:
    """With ``mask_public_ips`` every address in the whole view is a candidate, so a body whose
    triggers would otherwise get a sparse view is scanned whole (the ``re`` engine agrees)."""
    from awsmasker.body import Masker

    body = body_of("x\\n8.8.8.8 and\\ni-0123456789abcdef0", account=False)
    assert takes_sparse_view(body)  # without public IPs
    hs, re_ = Masker(engine="hyperscan", mask_public_ips=True), Masker(engine="re",
                                                                         mask_public_ips=True)
    out = masked(hs, body)
    assert out == masked(re_, body)
    assert "8.8.8.8" not in out[0] and "i-0123456789abcdef0" not in out[0]
