"""The engine's faster ways of doing a thing give what the plain ways give: sre replacements for
``str.replace``, the EC2 prefix and host name verifications against their former loops, the
raw-body scan's quote parity (accounts outside strings) and decode flag against the JSON view,
the single EC2 trigger pattern, and the findings a masker keeps between plans."""

from __future__ import annotations

import json
import re

import pytest
from awsmasker import body as body_mod
from awsmasker.body import Masker, _Parity, json_view
from awsmasker.catalogue import CATALOGUE, EC2_PREFIXES
from awsmasker.scanner import (
    _EC2_HEX,
    _ECR_RX,
    _HOST_KINDS,
    _HOST_TAIL,
    _OIDC_PATH,
    _S3_PATH,
    _S3_PATHHOST,
    _S3_VHOST,
    _SQS_PATH,
    _SQS_RX,
    _WORDCH,
    DECODE_KEY,
    OUTSIDE12_KEY,
    _bucket_ok,
    _verify_ec2,
    _verify_host,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine_cases import HS, RE, masked, needs_hyperscan

# --- sre replacements ------------------------------------------------------------------------

REPLACERS = [
    (body_mod._SUB_NL, "\\n", "\n\n"),
    (body_mod._SUB_QUOTE, '\\"', "''"),
    (body_mod._SUB_PAIR, "\\\\", "\x01\x01"),
    *[(sub, "\\" + k, rep) for (esc, rep), (k, sub) in
      zip(body_mod._VIEW_REPLACE[2:], body_mod._RARE_VIEW.items(), strict=True)],
]  # fmt: skip


def test_rare_view_table_in_order() -> None:
    assert [f"\\{k}" for k in body_mod._RARE_VIEW] == [e for e, _ in body_mod._VIEW_REPLACE[2:]]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["\\", "n", '"', "t", "u", "/", "x", "é", "\n", "\\\\"]), max_size=30)
)
def test_replacers_equal_str_replace(parts: list[str]) -> None:
    text = "".join(parts)
    for sub, old, new in REPLACERS:
        assert sub(text) == text.replace(old, new), (old, text)
    assert (body_mod._HAS_PAIR(text) is not None) == ("\\\\" in text)
    assert (body_mod._HAS_U(text) is not None) == ("\\u" in text)


# --- EC2 prefix: the run of prefix characters before the hex, against the former loop ---------

_LENS = sorted({len(p) for p in EC2_PREFIXES}, reverse=True)
_BEFORE = _WORDCH | {"-"}


def _verify_ec2_loop(view: str, h: int) -> list:
    m = _EC2_HEX.match(view, h)
    if not m:
        return []
    for n in _LENS:
        s = h - n
        if s < 0:
            continue
        t = EC2_PREFIXES.get(view[s:h])
        if t is not None and (s == 0 or view[s - 1] not in _BEFORE):
            return [(s, m.end(), t)]
    return []


EC2_PIECES = [*EC2_PREFIXES, "-", "_", "x", "X", "0", " ", "é", "attach", "i-", "eni-attach-"]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(EC2_PIECES), max_size=6),
    st.sampled_from(["-0a1b2c3d", "-0123456789abcdef0", "-0a1b2c3", "-0a1b2c3dx", "-0A1B2C3D"]),
    st.sampled_from(["", " ", "x", "-", "0"]),
)
def test_verify_ec2_equals_loop(left: list[str], hexpart: str, right: str) -> None:
    head = "".join(left)
    text = head + hexpart + right
    assert _verify_ec2(text, len(head)) == _verify_ec2_loop(text, len(head)), text


# --- host names: one alternation and word tests, against the former pattern-by-pattern loop ----

_HOST_BACK = re.compile(r"[A-Za-z0-9.-]*", re.A)


def _verify_host_loop(view: str, h: int) -> list:
    t = _HOST_TAIL.match(view, h)
    if not t:
        return []
    e = t.end()
    lo = max(0, h - 253)
    s = h - _HOST_BACK.match(view[lo:h][::-1]).end()
    while s < h and view[s] in ".-":
        s += 1
    if s >= h:
        return []
    low = view[s:e].lower()
    m = _ECR_RX.match(low)
    if m:
        return [(s, s + 12, "ACCOUNT")]
    if _SQS_RX.match(low):
        m = _SQS_PATH.match(view, e)
        return [(m.start(1), m.end(1), "ACCOUNT")] if m else []
    m = _S3_VHOST.match(low)
    if m:
        return [(s, s + m.end(1), "S3_BUCKET")] if _bucket_ok(m.group(1)) else []
    if _S3_PATHHOST.match(low):
        m = _S3_PATH.match(view, e)
        return [(m.start(1), m.end(1), "S3_BUCKET")] if m and _bucket_ok(m.group(1)) else []
    if low.startswith("oidc.eks."):
        m = _OIDC_PATH.match(view, e)
        return [(m.start(1), m.end(1), "EKS_OIDC")] if m else []
    for rx, type_name in _HOST_KINDS:
        if rx.match(low):
            return [(s, e, type_name)]
    return []


LABELS = [
    "ec2-54-1-2-3", "ip-10-0-1-2", "compute", "compute-1", "us-east-1", "rds", "cache", "elb",
    "eks", "execute-api", "lambda-url", "s3", "s3-website", "dkr", "ecr", "ecr-fips", "sqs",
    "queue", "123456789012", "0123456789abcdef0123456789abcdef", "my-bucket", "search-x",
    "vpc-x", "es", "iot", "abcdefghij-ats", "a1b2c3d4e5", "d111111abcdef8", "MyDB", "x--y", "",
    "abcdefghijklmnopqrstuvwxyz012345", "ng", "0001", "use1", "c9akciq32", "null", "oidc",
]  # fmt: skip
TAILS = ["amazonaws.com", "amazonaws.com.cn", "ec2.internal", "compute.internal",
         "cloudfront.net", "on.aws", "amazonaws.community"]  # fmt: skip
HOST_EXAMPLES = [e.example_text for e in CATALOGUE if "." in e.example_text]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(LABELS), max_size=6),
    st.sampled_from(TAILS),
    st.sampled_from(["", "/123456789012", "/my-bucket/key", "/null", ".x", "-x", " ", "/"]),
    st.sampled_from(["", " ", "https://", "-", ".", "x_"]),
)
def test_verify_host_equals_loop(labels: list[str], tail: str, after: str, before: str) -> None:
    text = before + ".".join([*labels, tail]) + after
    for h in range(len(text)):
        assert _verify_host(text, h) == _verify_host_loop(text, h), (text, h)


@pytest.mark.parametrize("text", HOST_EXAMPLES)
def test_verify_host_examples_equal_loop(text: str) -> None:
    found = [_verify_host(text, h) for h in range(len(text))]
    assert found == [_verify_host_loop(text, h) for h in range(len(text))]


# --- the raw-body scan: accounts outside strings, escapes to decode ----------------------------

PARITY_FRAGMENTS = [
    "123456789012", "1234567890123", '"', '\\"', "\\\\", "\\n", "\\t", "\\5", "\\u0031",
    "\\u00e9", "\\/", ":", ",", " ", "x", "[", "]", "account ", "é",
]  # fmt: skip


@needs_hyperscan
@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PARITY_FRAGMENTS), min_size=1, max_size=25))
def test_outside12_is_the_json_views_quote_parity(pieces: list[str]) -> None:
    raw = "[" + "".join(pieces) + " 111122223333]"
    found = HS.scanner.json_triggers_raw(raw)
    assert found is not None
    hits = found[0]
    view, exact = json_view(raw)
    outside = set(hits.get(OUTSIDE12_KEY, ()))
    par = _Parity(view)
    for s in range(len(view) - 11):
        if re.match(r"[0-9]{12}", view[s : s + 12]):
            assert (s in outside) == (not par.inside(s)), (raw, s)
    # escapes to decode are flagged (the flag may be set without them)
    if exact:
        assert DECODE_KEY in hits
    # and the masking (accounts written as strings where they are bare numbers) is the re one's
    body = '{"k": "account 111122223333", "a": ' + json.dumps("".join(pieces)) + ", "
    body += '"raw": ["' + "".join(pieces).replace('"', "'") + '"], "n": 111122223333}'
    assert masked(HS, body) == masked(RE, body)


@needs_hyperscan
def test_outside12_bare_numbers_become_strings() -> None:
    body = (
        '{"OwnerId": 123456789012, "x": "account 123456789012, \\"q\\" 123456789012", '
        '"l": [123456789012, "\\\\", 123456789012], "s": "\\\\\\"" , "t": 123456789012}'
    )
    out = masked(HS, body)
    assert out == masked(RE, body)
    doc = json.loads(out[0])
    assert doc["OwnerId"] == doc["t"] == doc["l"][0] == doc["l"][2] == "AWS_ACCOUNT_001"


# --- EC2 prefixes in one trigger pattern: each prefix, each context ---------------------------

CONTEXTS = ["", " ", "x", "-", "_", ".", "\\n", "\\t", "\\u00e9", '\\"', "\\\\", "\\/"]


@needs_hyperscan
@pytest.mark.parametrize("prefix", list(EC2_PREFIXES))
def test_every_ec2_prefix_in_every_context(prefix: str) -> None:
    for ctx in CONTEXTS:
        for hexpart in ("0a1b2c3d", "0123456789abcdef0"):
            ident = f"{prefix}-{hexpart}"
            body = '{"a": "' + ctx + ident + ' z", "b": "' + ident + '"}'
            assert masked(HS, body) == masked(RE, body), (ctx, ident)
            found = [f.value for f in masked(HS, body)[1]]
            assert found == [ident], (ctx, ident, found)
            text = f"{ctx}{ident} {ident}"
            assert HS.plan(text, is_json=False).findings == RE.plan(text, is_json=False).findings


# --- findings kept between plans ----------------------------------------------------------------

KEPT_BODY = json.dumps(
    {
        "a": "arn:aws:iam::123456789012:role/deploy i-0123456789abcdef0 10.0.1.2",
        "b": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "c": "account 210987654321 and i-0123456789abcdef0",
    }
)


def _plan_tuple(p: body_mod.MaskPlan) -> tuple:
    return (p.findings, p.edits, p.counts, p.present_tokens)


def test_findings_kept_give_the_same_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Masker()
    first = m.plan(KEPT_BODY, is_json=True)
    again = m.plan(KEPT_BODY, is_json=True)
    assert _plan_tuple(again) == _plan_tuple(first) == _plan_tuple(Masker().plan(KEPT_BODY))
    # reversible findings are the same objects the second time; secrets are never kept
    for f1, f2 in zip(first.findings, again.findings, strict=True):
        assert (f1 is f2) == f1.reversible
    assert all(f.reversible for f in m._findings.values())
    assert "SECRET_KEY" in {f.type_name for f in first.findings}
    # a full store of kept findings is emptied, and plans stay the same
    monkeypatch.setattr(body_mod, "FINDINGS_KEPT", 2)
    small = Masker()
    for _ in range(3):
        assert _plan_tuple(small.plan(KEPT_BODY, is_json=True)) == _plan_tuple(first)
        assert len(small._findings) <= 2
