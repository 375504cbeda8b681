"""The fast paths of the scan: engine-specific triggers, digit runs, the version-context test,
the JSON view's fast path, and token spans shared with the plan."""

from __future__ import annotations

import json
import re

import pytest
from awsmasker.body import Masker, json_view
from awsmasker.scanner import (
    _VERSION_CTX,
    RULES,
    _encode,
    _version_context,
    available_engines,
    digit_runs,
    get_engine,
)
from awsmasker.tokens import TOKEN_RE
from hypothesis import given, settings
from hypothesis import strategies as st

ENGINES = available_engines()
INST = "i-0123456789abcdef0"


def _hits(engine: str, text: str) -> dict[int, set[int]]:
    eng = get_engine(engine)
    b = _encode(text)
    return {i: set(v) for i, v in eng.find(b, b.lower()).items()}


def _literal_cases() -> list[tuple[int, str]]:
    """(rule index, trigger as written) for every literal trigger, caseless ones in 3 cases."""
    out = []
    for i, r in enumerate(RULES):
        out += [(i, lit) for lit in r.literals]
        out += [(i, v) for lit in r.caseless for v in (lit, lit.upper(), lit.title())]
    return out


def _shape_matched(engine: str, rule: int) -> bool:
    """Engines that look for a rule's whole shape, not its literal trigger (tested below)."""
    r = RULES[rule]
    return (engine == "hyperscan" and bool(r.hs)) or (
        engine == "re" and r.name in ("private_ip", "distribution")
    )


@pytest.mark.parametrize(
    ("engine", "rule", "lit"),
    [(e, i, lit) for e in ENGINES for i, lit in _literal_cases() if not _shape_matched(e, i)],
    ids=str,
)
def test_every_literal_trigger_reported(engine: str, rule: int, lit: str) -> None:
    # at the very start (offset passes must not go negative), glued to words, and at the end
    text = f"{lit}x {lit} zz{lit}{lit}"
    want = {m.start() for m in re.finditer(re.escape(lit), text)}
    assert want <= _hits(engine, text).get(rule, set())


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
    assert digit_runs(_encode(text), 12) == want


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 a.-")), max_size=80))
def test_digit_runs_property(text: str) -> None:
    want = [m.start() for m in re.finditer(r"(?<![0-9])[0-9]{12}(?![0-9])", text)]
    assert digit_runs(_encode(text), 12) == want


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "version",
                "VER",
                "Tag",
                "build",
                "safari",
                " ",
                ":",
                "=",
                '"',
                "'",
                "/",
                "\x01",
                "x",
                "10.1.2.3",
                "\u0130",
                "é",
                "release",
                "\n",
                "\t",
                "firefox",
                "K",
            ]
        ),
        max_size=10,
    )
)
def test_version_context_matches_regex(parts: list[str]) -> None:
    view = "".join(parts) + "10.0.0.1"
    s = len(view) - len("10.0.0.1")
    assert _version_context(view, s) == bool(_VERSION_CTX.search(view, max(0, s - 24), s))


def _reference_view(raw: str) -> tuple[str, list[int]]:
    """The JSON view by the plain definition: one replace per escape kind, in order."""
    if "\\" not in raw:
        return raw, []
    v = raw.replace("\\\\", "\x01\x01").replace("\\n", "\n\n").replace('\\"', "''")
    exact = [m.start() for m in re.finditer(r"\\(?:/|u00[0-7][0-9a-fA-F])", v)]
    v = re.sub(r"\\u[0-9a-fA-F]{4}", "\x01" * 6, v)
    for esc, rep in (("\\t", "\t\t"), ("\\r", "\r\r"), ("\\/", "\x01\x01"), ("\\b", "\x01\x01")):
        v = v.replace(esc, rep)
    return v.replace("\\f", "\x01\x01"), exact


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
    st.lists(st.sampled_from(["\\", "n", '"', "t", "u", "0", "0041", "/", "x", INST]), max_size=20)
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
