"""The trigger engines: both find every trigger, both give the same matches (on random text and
on the real-text corpus), and the JSON view agrees with its plain definition."""

from __future__ import annotations

import json
import re

import pytest
from awsmasker.body import Masker
from awsmasker.jsonview import json_view
from awsmasker.rules import RULES
from awsmasker.scanner import Scanner, available_engines, digit_runs, get_engine
from awsmasker.tokens import TOKEN_RE
from hypothesis import given, settings
from hypothesis import strategies as st

from testsupport import realcorpus
from testsupport.realcorpus import load

ENGINES = available_engines()
INST = "i-0123456789abcdef0"
needs_hyperscan = pytest.mark.skipif("hyperscan" not in ENGINES, reason="hyperscan not installed")


RULE = {r.name: i for i, r in enumerate(RULES)}
#: text that each rule's triggers must report wherever it occurs (caseless ones in any case)
TRIGGERED = [
    ("arn", "arn:"), ("arn", "ARN%3a"), ("arn", "{arn-aws}"), ("ec2", "-0a1b2c3d "),
    ("ec2", "-0123456789abcdef0."),
    *[("akid", p) for p in ("AKIA", "ASIA", "ABIA", "ACCA", "AIDA", "AROA", "AIPA", "ANPA")],
    *[("akid", p) for p in ("ANVA", "AGPA", "APKA", "ASCA")],
    ("private_ip", "10.0.0.1"), ("private_ip", "172.31.0.1"), ("private_ip", "192.168.0.1"),
    ("account", "Account"), ("account", "ACCT"), ("account", "owner"), ("account", "AWSLogs/"),
    ("secret", "SECRET"), ("session", "Session_Token"), ("session", "securitytoken"),
    ("s3url", "s3a://"), ("s3url", "s3://"), ("bucket_key", "Bucket"), ("kms", "key/"),
    ("kms", "KEY_ID"), ("kms", "Kms"), ("zone", "Hosted Zone"), ("zone", "hostedzone"),
    ("distribution", "Distribution"), ("distribution", "--id"), ("distribution", "ID E"),
    ("distribution", "ORIGIN-ACCESS-IDENTITY/"), ("host", "amazonaws.com"),
    ("host", ".ec2.internal"), ("host", ".compute.internal"), ("host", ".cloudfront.net"),
    ("host", ".on.aws"), ("bare_account", "123456789012 "), ("token", "AWS_"),
]  # fmt: skip


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("rule", "lit"), TRIGGERED, ids=str)
def test_every_trigger_reported(engine: str, rule: str, lit: str) -> None:
    # at the very start, glued to words, twice in a row, and at the end
    text = f"{lit}x {lit} zz{lit}{lit}"
    want = {m.start() for m in re.finditer(re.escape(lit), text)}
    assert want <= set(get_engine(engine).find(text).get(RULE[rule], []))


def test_every_trigger_starts_with_a_literal_or_is_a_digit_run() -> None:
    """``re`` finds a pattern fast only from a literal first character (see ``Rule``)."""
    for r in RULES:
        for t in (*r.triggers, *r.caseless):
            literal = re.match(r"[A-Za-z0-9/{}.:\"-]|\\[.{]", t)
            assert literal or re.fullmatch(r"\[0-9\]\{[0-9]+\}", t), (r.name, t)


SHAPES = [
    "i-0a1b2c3d",
    "tgw-rtb-0123456789abcdef0",
    "eni-attach-0a1b2c3d",
    "10.0.0.1",
    "172.16.0.9/12",
    "192.168.1.1",
    "123456789012",
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("value", SHAPES)
@pytest.mark.parametrize(("before", "after"), [("", ""), (" ", " "), ("\n", "."), ("(", ")")])
def test_shaped_triggers_at_edges(engine: str, value: str, before: str, after: str) -> None:
    body = f"{before}{value}{after}"
    assert (
        Masker(engine=engine).plan(body, is_json=False).findings
        == Masker(engine="re").plan(body, is_json=False).findings
    )
    if value != "123456789012":  # a bare number needs an account elsewhere
        assert [f.value for f in Masker(engine=engine).plan(body, is_json=False).findings] == [
            value
        ]


CLOUDFRONT_IDS = [
    ('"Id": "E2QWRUHAPOMQZL"', "E2QWRUHAPOMQZL"),
    ('{"Id":"EDFDVBD6EXAMPLE"}', "EDFDVBD6EXAMPLE"),
    ("with the ID ``EMLARXS9EXAMPLE``.", "EMLARXS9EXAMPLE"),
    ("with the\nID E74FTE3AEXAMPLE", "E74FTE3AEXAMPLE"),
    ("aws cloudfront get-distribution --id E1XNX8R2GOAABC", "E1XNX8R2GOAABC"),
    ("ORIGIN-ACCESS-IDENTITY/cloudfront/E74FTE3AEXAMPLE", "E74FTE3AEXAMPLE"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("text", "value"), CLOUDFRONT_IDS)
@pytest.mark.parametrize("as_json", [False, True])
def test_cloudfront_id_shapes(engine: str, text: str, value: str, as_json: bool) -> None:
    # the engines look for the "Id"/"ID" shape, not the two letters: as text and in a JSON
    # string (escaped quotes and newlines)
    body = json.dumps({"t": text}) if as_json else text
    found = Masker(engine=engine).plan(body, is_json=as_json).findings
    assert [(f.type_name, f.value) for f in found] == [("CF_DISTRIBUTION", value)]


@pytest.mark.parametrize("engine", ENGINES)
def test_prefix_glued_to_word_not_found(engine: str) -> None:
    m = Masker(engine=engine)
    assert m.plan("multi-0a1b2c3d x_i-0a1b2c3d v10.0.0.1 1.10.0.0.1", is_json=False).findings == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "123456789012",
        "x123456789012",
        "123456789012x",
        "1234567890123",
        "12345678901",
        "123456789012 123456789012",
        "a123456789012b1234567890123c123456789012",
        "0" * 40 + " 999999999999",
        "é123456789012😀",
        "٣123456789012",
    ],
)
def test_digit_runs_exact(text: str) -> None:
    want = [m.start() for m in re.finditer(r"(?<![0-9])[0-9]{12}(?![0-9])", text, re.A)]
    assert digit_runs(text, 12) == want


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 a.-é")), max_size=80))
def test_digit_runs_property(text: str) -> None:
    want = [m.start() for m in re.finditer(r"(?<![0-9])[0-9]{12}(?![0-9])", text, re.A)]
    assert digit_runs(text, 12) == want


_VIEW_OF = {"\\": "''", '"': "''", "n": "\n\n", "t": "\t\t", "r": "\r\r"}
_VIEW_OF.update(dict.fromkeys("/bf", "\x01\x01"))


def _reference_view(raw: str) -> tuple[str, list[int]]:
    """The JSON view by its definition, read left to right: each escape becomes characters of
    its width (an invalid one stays as it is); ``\\/`` and ``\\u0000``-``\\u007f`` need decoding."""
    out: list[str] = []
    exact: list[int] = []
    i = 0
    while i < len(raw):
        esc = raw[i + 1 : i + 2] if raw[i] == "\\" else ""
        if esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[i + 2 : i + 6]):
            if re.match(r"00[0-7]", raw[i + 2 : i + 5]):
                exact.append(i)
            out.append("\x01" * 6)
            i += 6
        elif esc in _VIEW_OF:
            if esc == "/":
                exact.append(i)
            out.append(_VIEW_OF[esc])
            i += 2
        else:
            out.append(raw[i])
            i += 1
    return "".join(out), exact


EDGE_RAWS = [
    "\\",
    "x\\",
    "\\\\",
    "\\\\n",
    "\\\\\\n",
    '\\\\\\"',
    '\\"\\\\',
    "\\n\\t\\r\\/\\b\\f\\u0041\\u00e9\\\\",
    "\\q" * 100 + "\\t",  # many invalid escapes, then a valid one
    "\\x\\n" * 70 + "\\r",
    "\\u12\\uZZZZ\\u002d",
    '"' + INST + '\\"' + INST + "\\n" + INST + "\\\\" + INST + '"',
]


@pytest.mark.parametrize("raw", EDGE_RAWS)
def test_json_view_edges(raw: str) -> None:
    assert json_view(raw) == _reference_view(raw)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(["\\", "n", '"', "t", "r", "b", "f", "u", "0", "0041", "/", "x", INST]),
        max_size=20,
    )
)
def test_json_view_property(parts: list[str]) -> None:
    raw = "".join(parts)
    assert json_view(raw) == _reference_view(raw)


ESCAPE_BODIES = [
    # identifiers right next to backslashes, at the start and end of strings
    {"a": f"{INST}\\", "b": f"\\{INST}", "c": f"\n{INST}\n", "d": f'"{INST}"'},
    {"a": f"\t{INST}\t10.0.0.1\r\n172.16.1.1\\n", "b": "x" * 50 + f"\\\n{INST}\\"},
    {"a": "account\n123456789012\tand\n123456789012", "b": "arn:aws:iam::123456789012:root"},
    {"a": f"{INST}/x", "b": f"s3://my-bucket/\\/{INST}", "c": f"é{INST}😀"},
    {"a": "\u00aaWS_EC2_001 AWS_EC2_002", "b": INST},  # ª + "WS_": no token in the text
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("obj", ESCAPE_BODIES)
@pytest.mark.parametrize("ascii_only", [True, False])
def test_escaped_bodies(engine: str, obj: dict, ascii_only: bool) -> None:
    body = json.dumps(obj, ensure_ascii=ascii_only)
    plan = Masker(engine=engine).plan(body, is_json=True)
    ref = Masker(engine="re").plan(body, is_json=True)
    assert (plan.edits, plan.findings, plan.present_tokens) == (
        ref.edits,
        ref.findings,
        ref.present_tokens,
    )
    # every identifier of the decoded values is found, and the tokens present are the raw ones
    values = {f.value for f in plan.findings}
    for v in obj.values():
        if re.search(f"(?<![A-Za-z0-9_-]){INST}", v):
            assert INST in values, v
    assert plan.present_tokens == list(dict.fromkeys(m.group(0) for m in TOKEN_RE.finditer(body)))
    masked = plan.apply([f"AWS_{f.type_name}_{i + 1:03d}" for i, f in enumerate(plan.findings)])
    if INST in values:
        assert all(INST not in v for v in json.loads(masked).values())


@pytest.mark.parametrize("engine", ENGINES)
def test_tokens_next_to_unicode_escapes(engine: str) -> None:
    """An uppercase-hex ``\\uXXXX`` can end in the ``A`` of a token in the raw body: the tokens
    present are those of the raw text, whatever the scan view holds."""
    body = '{"a": "\\u00AAWS_EC2_001 \\u0041WS_EC2_002 AWS_EC2_003\\u0030", "b": "' + INST + '"}'
    plan = Masker(engine=engine).plan(body, is_json=True)
    assert plan.present_tokens == ["AWS_EC2_001", "AWS_EC2_003"]
    assert [f.value for f in plan.findings] == [INST]


@pytest.mark.parametrize("engine", ENGINES)
def test_present_tokens_in_text(engine: str) -> None:
    text = "AWS_AWS_EC2_001 AWS_EC2_002 AWS_ x AWS_EC2_01 AWS_EC2_0011 " + INST
    plan = Masker(engine=engine).plan(text, is_json=False)
    assert plan.present_tokens == list(dict.fromkeys(m.group(0) for m in TOKEN_RE.finditer(text)))
    assert [f.value for f in plan.findings] == [INST]


def test_few_and_many_known_accounts_agree() -> None:
    """The pure-``re`` engine searches a few known accounts directly, many by digit runs."""
    for n in (1, 8, 9, 30):
        accts = [f"{100000000000 + 7919 * k}" for k in range(n)]
        text = (
            " ".join(f"account {a}." for a in accts)
            + "\nx "
            + " x ".join(accts)
            + " x 999999999999"
        )
        for eng in ENGINES:
            got = Masker(engine=eng).plan(text, is_json=False)
            assert sum(f.type_name == "ACCOUNT" for f in got.findings) == n
            assert got.counts["ACCOUNT"] == 2 * n


# --- both engines give the same matches -----------------------------------------------------------

PIECES = [
    INST, "nat-0123456789abcdef0", "sg-0123abcd", "eni-attach-0a1b2c3d", "i-", "-0a1b2c3d", "vpc",
    "10.1.2.3", "172.16.0.1/24", "192.168.1.1", "10.", "172.", "192.168.", "1.2", "version ",
    "123456789012", "account ", "Owner", "AWSLogs/", "AKIAABCDEFGHIJKLMNOP", "AROA", "AKIA",
    "arn:aws:iam::123456789012:role/x", "arn:", "ARN%3A", "{arn-aws}", "aws:", "secret_key=",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "SessionToken", "s3://", "my-bucket-01",
    "Bucket", "--bucket", "key/", "KeyId", "kms ", "1234abcd-12ab-34cd-56ef-1234567890ab",
    "hostedzone/", "Z1D633PJN98FT9", "--id ", "Id", '"Id": "', "ID ", "E2QWRUHAPOMQZL",
    "distribution/", ".rds.amazonaws.com", "amazonaws.com", ".ec2.internal", "ip-10-0-1-2",
    "d111111abcdef8.cloudfront.net", "AWS_EC2_001", " ", "\n", "\t", '"', "'", ":", "=", "/",
    ".", "-", "_", "x", "0", "é", "😀", "`", "(", ",",
]  # fmt: skip


def _spans(engine: str, text: str, **kw: object) -> list:
    return Scanner(engine=engine, **kw).scan_full(text).matches


@needs_hyperscan
@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=24), st.booleans())
def test_engines_agree_on_random_text(pieces: list[str], public: bool) -> None:
    text = "".join(pieces)
    assert _spans("hyperscan", text, mask_public_ips=public) == _spans(
        "re", text, mask_public_ips=public
    )


@needs_hyperscan
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_engines_agree_on_any_text(text: str) -> None:
    assert _spans("hyperscan", text) == _spans("re", text)


@needs_hyperscan
def test_engines_agree_on_the_corpus() -> None:
    """Every document of the real-text corpus sample, as text and as a JSON request body."""
    path = realcorpus.CACHE / "sample15.jsonl"
    realcorpus.build(path, 15)
    docs = load(path)
    assert len(docs) > 400
    hs, re_ = Masker(engine="hyperscan"), Masker(engine="re")
    for doc in docs:
        text = doc["text"]
        assert _spans("hyperscan", text) == _spans("re", text), doc.get("id")
        body = json.dumps({"messages": [{"role": "user", "content": text}]})
        a, b = hs.plan(body, is_json=True), re_.plan(body, is_json=True)
        assert (a.findings, a.edits) == (b.findings, b.edits), doc.get("id")


@pytest.mark.parametrize("engine", ENGINES)
def test_accounts_named_elsewhere_in_the_body(engine: str) -> None:
    """A piece of a body scanned alone: the accounts it names, and bare numbers equal to an
    account another piece names."""
    sc = Scanner(engine=engine)
    own = sc.scan_full("account 111122223333 and arn:aws:iam::444455556666:root")
    assert own.accounts == {"111122223333", "444455556666"}
    bare = "id 111122223333, AWS_EC2_001 and 777788889999"
    assert sc.scan_full(bare).matches == []
    got = sc.scan_full(bare, frozenset({"111122223333"}))
    assert [(m.type_name, m.value) for m in got.matches] == [("ACCOUNT", "111122223333")]
    assert got.tokens == [(bare.index("AWS_"), bare.index("AWS_") + len("AWS_EC2_001"))]
    assert got.accounts == frozenset()
    off = Scanner(engine=engine, disabled_types=["ACCOUNT"])
    assert not off.bare_accounts and off.scan_full(bare, frozenset({"111122223333"})).matches == []
