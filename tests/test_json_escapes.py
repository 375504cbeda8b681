"""JSON request bodies whose strings hold escapes: identifiers next to every kind of escape are
found, escaped backslashes pair as JSON says, accounts that are bare JSON numbers become string
tokens, thinking blocks stay byte-identical, and both engines mask alike. (The cases of the former
fast-path tests, kept as behaviour on inputs.)"""

from __future__ import annotations

import json
import re

import pytest
from awsmasker import body as body_mod
from awsmasker.body import Masker
from awsmasker.catalogue import EC2_PREFIXES
from awsmasker.scanner import available_engines
from hypothesis import given, settings
from hypothesis import strategies as st

ENGINES = available_engines()
MASKERS = {e: Masker(engine=e) for e in ENGINES}
INST = "i-0123456789abcdef0"
IDS = [
    INST,
    "nat-0123456789abcdef0",
    "sg-0123abcd",
    "10.1.2.3",
    "172.16.0.1/24",
    "192.168.1.1",
    "AKIAABCDEFGHIJKLMNOP",
    "arn:aws:iam::123456789012:role/x",
    "db.abc.us-east-1.rds.amazonaws.com",
]
ESCAPES = ["\\n", '\\"', "\\t", "\\r", "\\b", "\\f", "\\/", "\\u00e9", "\\u1234", "\\u12a4"]
BACKSLASHES = ["\\\\", "\\\\n", '\\\\\\"', "\\\\\\n", "\\\\\\\\"]


def masked(engine: str, body: str) -> tuple[str, list, list[str]]:
    """``body`` masked as JSON with tokens numbered in finding order, its findings and the
    tokens it already held."""
    plan = MASKERS[engine].plan(body, is_json=True)
    tokens = [f"AWS_{f.type_name}_{i + 1:03d}" for i, f in enumerate(plan.findings)]
    return plan.apply(tokens), plan.findings, plan.present_tokens


def same_on_every_engine(body: str) -> tuple[str, list, list[str]]:
    outs = [masked(e, body) for e in ENGINES]
    assert all(o == outs[0] for o in outs), body
    return outs[0]


def body_of(*strings: str, account: bool = True) -> str:
    """A JSON body whose strings hold ``strings`` as raw JSON text (escapes as given)."""
    parts = ", ".join(f'"s{i}": "{s}"' for i, s in enumerate(strings))
    tail = ', "n": 123456789012, "m": [111122223333]' if account else ""
    return "{" + parts + tail + "}"


@pytest.mark.parametrize("ident", IDS)
@pytest.mark.parametrize("esc", [*ESCAPES, *BACKSLASHES])
def test_identifier_between_escapes(esc: str, ident: str) -> None:
    body = body_of(f'x{esc}{ident}{esc}y\\n\\"', f'say \\"{ident}\\" account 123456789012')
    out, findings, _ = same_on_every_engine(body)
    doc = json.loads(out)
    assert ident not in doc["s0"] and ident not in doc["s1"]
    assert ident in {f.value for f in findings}
    # the known account, a bare number outside strings, becomes a string token; another stays
    assert doc["n"].startswith("AWS_ACCOUNT_") and doc["m"] == [111122223333]


def test_escaped_backslash_pairs_as_json_says() -> None:
    # ``\\\n`` is a backslash and a newline. ``\\n`` is a backslash and an "n", or, in text that
    # is JSON itself one level down, a line break: the ID after it is masked (either reading),
    # and the escaped backslash stays whole
    body = body_of(f"a\\\\n{INST}", "b\\\\\\nsg-0123abcd", account=False)
    out, findings, _ = same_on_every_engine(body)
    assert [f.value for f in findings] == [INST, "sg-0123abcd"]
    assert json.loads(out)["s0"] == "a\\nAWS_EC2_001"


def test_cli_output_serialised_twice() -> None:
    """A tool_result holding CLI JSON with quoted strings: ``\\\\\\"`` around the values."""
    cli = json.dumps(
        {
            "Instances": [{"InstanceId": INST, "PrivateIpAddress": "10.0.1.5"}],
            "Tags": [{"Key": "Name", "Value": 'web "1"'}],
            "Owner": "123456789012",
        },
        indent=2,
    )
    policy = json.dumps({"Resource": "arn:aws:s3:::my-bucket/*", "Path": "C:\\new\\tmp"})
    body = json.dumps(
        {"messages": [{"role": "user", "content": [{"type": "tool_result", "content": cli}]}],
         "policy": json.dumps(policy), "n": 123456789012}
    )  # fmt: skip
    assert '\\\\\\"' in body
    out, findings, _ = same_on_every_engine(body)
    values = {f.value for f in findings}
    assert {INST, "10.0.1.5", "123456789012", "arn:aws:s3:::my-bucket/*"} <= values
    assert json.loads(out)["n"].startswith("AWS_ACCOUNT_")


def test_escaped_backslashes_far_apart_in_a_long_body() -> None:
    filler = "lorem ipsum " * 500
    for gap in (0, 1, 5, 64, 200):
        pad = " " * gap
        s = f"{filler}{INST} 10.1.2.3{pad}\\\\nat-0123456789abcdef0{pad}\\\\10.2.3.4"
        body = body_of(s, f"{filler}\\\\\\nsg-0123abcd account 123456789012")
        _, findings, _ = same_on_every_engine(body)
        values = {f.value for f in findings}
        # after an escaped backslash: ``nat-…`` (a backslash, then the ID), ``sg-…`` (a newline)
        assert {INST, "10.1.2.3", "nat-0123456789abcdef0", "10.2.3.4", "sg-0123abcd"} <= values


def test_bare_account_after_unicode_escape() -> None:
    # \u1234 ends in a digit: the 12 digits after it are a run of their own in the JSON view
    body = body_of("account 123456789012", "\\u1234123456789012 x")
    out, _, _ = same_on_every_engine(body)
    assert "123456789012" not in out


def test_bare_numbers_outside_strings_become_strings() -> None:
    body = (
        '{"OwnerId": 123456789012, "x": "account 123456789012, \\"q\\" 123456789012", '
        '"l": [123456789012, "\\\\", 123456789012], "s": "\\\\\\"" , "t": 123456789012}'
    )
    out, _, _ = same_on_every_engine(body)
    doc = json.loads(out)
    assert doc["OwnerId"] == doc["t"] == doc["l"][0] == doc["l"][2] == "AWS_ACCOUNT_001"
    assert doc["x"] == 'account AWS_ACCOUNT_001, "q" AWS_ACCOUNT_001'


PARITY_FRAGMENTS = [
    "123456789012", "1234567890123", '\\"', "\\\\", "\\n", "\\t", "\\u0031", "\\u00e9", "\\/",
    ":", ",", " ", "x", "account ", "é",
]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PARITY_FRAGMENTS), min_size=1, max_size=25))
def test_accounts_as_numbers_and_in_strings(pieces: list[str]) -> None:
    inner = "".join(pieces)
    body = '{"k": "account 111122223333", "a": "' + inner + '", "n": 111122223333}'
    out, findings, _ = same_on_every_engine(body)
    doc = json.loads(out)  # still valid JSON: the bare number became a string token
    assert doc["n"] == "AWS_ACCOUNT_001" and findings[0].value == "111122223333"


def test_thinking_false_alarm_and_real_block() -> None:
    # '"thinking' JSON-encoded: an escaped quote opens what looks like the key "thinking"
    fake = '{"a": "\\"thinking", "b": ": \\"x i-0123456789abcdef0\\""}'
    assert INST not in same_on_every_engine(fake)[0]
    block = {"type": "thinking", "thinking": f'see "{INST}"\n', "signature": "s"}
    real = json.dumps({"messages": [{"role": "assistant", "content": [block]}], "x": 'a"b'})
    out = same_on_every_engine(real)[0]
    assert json.loads(out)["messages"][0]["content"][0] == block  # left byte-identical


def test_thinking_block_after_escaped_backslash() -> None:
    block = {"type": "thinking", "thinking": f'path C:\\new "{INST}"\n', "signature": "s"}
    body = json.dumps(
        {"messages": [{"role": "assistant", "content": [block]}], "x": 'a\\"b i-0123456789abcdef1'}
    )
    out = same_on_every_engine(body)[0]
    assert json.loads(out)["messages"][0]["content"][0] == block
    assert "i-0123456789abcdef1" not in out


def test_tokens_already_present_next_to_escapes() -> None:
    for esc in ("\\n", "\\t", "\\u00e9", "\\\\"):
        body = body_of(f'{esc}AWS_EC2_001{esc}\\"AWS_VPC_0002', INST)
        assert same_on_every_engine(body)[2] == ["AWS_EC2_001", "AWS_VPC_0002"]


CONTEXTS = ["", " ", "x", "-", "_", ".", "\\n", "\\t", "\\u00e9", '\\"', "\\\\", "\\/"]


@pytest.mark.parametrize("prefix", list(EC2_PREFIXES))
def test_every_ec2_prefix_in_every_context(prefix: str) -> None:
    for ctx in CONTEXTS:
        for hexpart in ("0a1b2c3d", "0123456789abcdef0"):
            ident = f"{prefix}-{hexpart}"
            body = '{"a": "' + ctx + ident + ' z", "b": "' + ident + '"}'
            _, findings, _ = same_on_every_engine(body)
            assert [f.value for f in findings] == [ident], (ctx, ident)


# --- the EC2 prefix rule, against its definition ------------------------------------------------


def ec2_by_definition(text: str, h: int) -> str | None:
    """The EC2 ID whose ``-`` is at ``h``: 17 or else 8 lowercase hex digits not followed by a
    letter or digit, after a run of ``[A-Za-z0-9_-]`` that is a catalogue prefix as a whole."""
    m = re.compile(r"-(?:[0-9a-f]{17}|[0-9a-f]{8})(?![A-Za-z0-9])", re.A).match(text, h)
    run = re.compile(r"[A-Za-z0-9_-]*\Z", re.A).search(text[:h])
    if m is None or run is None or run.group() not in EC2_PREFIXES:
        return None
    return run.group() + m.group()


EC2_PIECES = [*EC2_PREFIXES, "-", "_", "x", "X", "0", " ", "é", "attach", "i-", "eni-attach-"]


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.sampled_from(EC2_PIECES), max_size=6),
    st.sampled_from(["-0a1b2c3d", "-0123456789abcdef0", "-0a1b2c3", "-0a1b2c3dx", "-0A1B2C3D"]),
    st.sampled_from(["", " ", "x", "-", "0"]),
)
def test_ec2_ids_as_defined(left: list[str], hexpart: str, right: str) -> None:
    head = "".join(left)
    text = head + hexpart + right
    want = ec2_by_definition(text, len(head))
    for e in ENGINES:
        found = [f.value for f in MASKERS[e].plan(text, is_json=False).findings]
        assert found == ([want] if want else []), (e, text)


# --- findings kept between plans ----------------------------------------------------------------

KEPT_BODY = json.dumps(
    {
        "a": f"arn:aws:iam::123456789012:role/deploy {INST} 10.0.1.2",
        "b": "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "c": f"account 210987654321 and {INST}",
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
    assert "SECRET_KEY" in {f.type_name for f in first.findings}
    # a full store of kept findings is emptied, and plans stay the same
    monkeypatch.setattr(body_mod, "FINDINGS_KEPT", 2)
    small = Masker()
    for _ in range(3):
        assert _plan_tuple(small.plan(KEPT_BODY, is_json=True)) == _plan_tuple(first)


def test_longest_match_at_a_start_and_match_fields() -> None:
    plan = Masker().plan("x 10.1.2.3/24 AKIAABCDEFGHIJKLMNOP:" + "a" * 40, is_json=False)
    assert [(f.type_name, f.value, f.reversible) for f in plan.findings] == [
        ("PRIVATE_IP", "10.1.2.3/24", True),
        ("ACCESS_KEY", "AKIAABCDEFGHIJKLMNOP", True),
        ("SECRET_KEY", "a" * 40, False),
    ]


def test_many_thinking_blocks_between_escaped_strings() -> None:
    """Thinking blocks stay byte-identical, and strings that need exact decoding (``\\/``) are
    scanned, inside or between them, block after block."""
    content = []
    for i in range(40):
        content.append({"type": "thinking", "thinking": f"i-{i:08x} s3/x", "signature": "s"})
        content.append({"type": "text", "text": f"vpc-{i:08x} path a/b 10.0.0.{i}"})
    body = json.dumps({"messages": [{"role": "assistant", "content": content}]})
    body = body.replace("/", "\\/")  # every slash escaped, as some encoders write them
    out, findings, _ = same_on_every_engine(body)
    doc = json.loads(out)["messages"][0]["content"]
    assert [b for b in doc if b["type"] == "thinking"] == content[::2]
    assert {f.value for f in findings} == {f"vpc-{i:08x}" for i in range(40)} | {
        f"10.0.0.{i}" for i in range(40)
    }


def test_json_text_inside_a_json_string() -> None:
    """An OpenAI tool call's ``arguments`` (JSON text in a JSON string) that writes a file: IDs
    at the start of its lines and after a tab, a bucket quoted as JSON; all masked, and the
    masked body still decodes at both levels (no escape broken by a token)."""
    host = "db.abc.us-east-1.rds.amazonaws.com"
    content = f"{INST}\nsg-0123abcd\n{json.dumps({'Bucket': 'my-data-bucket-01'})}\t{host}"
    args = json.dumps({"path": "ids.txt", "content": content})
    call = {"id": "c1", "type": "function", "function": {"name": "write", "arguments": args}}
    body = json.dumps({"messages": [{"role": "assistant", "tool_calls": [call]}]})
    assert "\\\\n" in body and '\\\\\\"' in body
    out, findings, _ = same_on_every_engine(body)
    args_out = json.loads(out)["messages"][0]["tool_calls"][0]["function"]["arguments"]
    masked = json.loads(args_out)["content"]
    for value in (INST, "sg-0123abcd", "my-data-bucket-01", host):
        assert value not in masked and value in {f.value for f in findings}
    assert masked.startswith("AWS_EC2_") and "\n" in masked and "\t" in masked


def test_bare_account_numbers_in_json_text_inside_strings_become_string_tokens() -> None:
    """An account that is a bare JSON number inside tool-call arguments, one and two levels
    down: its token is written as a string of that level, so the text stays valid JSON there."""
    deeper = json.dumps({"OwnerId": 123456789012, "x": "a\nb"})
    args = json.dumps({"account_id": 123456789012, "deeper": deeper})
    call = {"function": {"name": "x", "arguments": args}}
    body = json.dumps({"messages": [{"role": "assistant", "tool_calls": [call]}],
                       "n": {"account": 123456789012}})
    out, _, _ = same_on_every_engine(body)
    top = json.loads(out)
    inner = json.loads(top["messages"][0]["tool_calls"][0]["function"]["arguments"])
    assert top["n"]["account"] == inner["account_id"]
    assert inner["account_id"].startswith("AWS_ACCOUNT_")
    assert json.loads(inner["deeper"]) == {"OwnerId": inner["account_id"], "x": "a\nb"}
