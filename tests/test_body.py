"""Whole-body masking: JSON edge cases, thinking blocks, base64, invalid JSON, determinism."""

from __future__ import annotations

import base64
import json
import os

import pytest
from awsmasker.body import Masker, MaskingError
from awsmasker.jsonview import decode_string, decode_with_offsets, json_view, raw_offsets
from awsmasker.scanner import available_engines
from awsmasker.tokens import TOKEN_RE
from hypothesis import given, settings
from hypothesis import strategies as st

ENGINES = available_engines()
INST = "i-0123456789abcdef0"
ARN = "arn:aws:s3:::my-bucket/key"


def mask(text: str, engine: str = "re", **kw) -> tuple[str, list]:
    m = Masker(engine=engine)
    plan = m.plan(text, **kw)
    tokens = [f"AWS_{f.type_name}_{i + 1:03d}" for i, f in enumerate(plan.findings)]
    return plan.apply(tokens), plan.findings


def restore(masked: str, findings: list) -> str:
    mapping = {f"AWS_{f.type_name}_{i + 1:03d}": f.value for i, f in enumerate(findings)}
    return TOKEN_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), masked)


def anthropic(content) -> str:
    return json.dumps(
        {"model": "claude", "max_tokens": 10, "messages": [{"role": "user", "content": content}]}
    )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("sep", ["\n", "\t", "\r\n", '"', "\\", "\u00e9", "\u2028", "😀"])
def test_id_after_escape(sep: str, engine: str) -> None:
    body = anthropic(f"x{sep}{INST}{sep}y")
    out, findings = mask(body, engine)
    assert INST not in out and json.loads(out)
    assert [f.value for f in findings] == [INST]
    assert restore(out, findings) == body


def test_escaped_slash_and_unicode_escapes() -> None:
    body = (
        '{"a": "see arn:aws:s3:::my-bucket\\/key and vpc\\u002d0a1b2c3d",'
        ' "b": "s3:\\/\\/buck-et1\\/x"}'
    )
    out, findings = mask(body)
    vals = {(f.type_name, f.value) for f in findings}
    assert (
        ("ARN", ARN) in vals
        and ("VPC", "vpc-0a1b2c3d") in vals
        and ("S3_BUCKET", "buck-et1") in vals
    )
    decoded = json.loads(out)
    assert "my-bucket" not in decoded["a"] and "0a1b2c3d" not in decoded["a"]
    assert decoded["b"] == "s3://AWS_S3_BUCKET_003/x"


def test_keys_masked_and_nested_tool_blocks() -> None:
    body = anthropic(
        [
            {
                "type": "tool_use",
                "id": "toolu_1",
                "name": "x",
                "input": {INST: {"deep": [{"OwnerId": "123456789012"}]}},
            },
            {
                "type": "tool_result",
                "tool_use_id": "toolu_1",
                "content": [
                    {"type": "text", "text": json.dumps({"VpcId": "vpc-0a1b2c3d"}, indent=2)}
                ],
            },
        ]
    )
    out, findings = mask(body)
    data = json.loads(out)
    assert INST not in out and "123456789012" not in out and "vpc-0a1b2c3d" not in out
    assert "AWS_EC2_001" in data["messages"][0]["content"][0]["input"]
    assert restore(out, findings) == body


def test_account_as_json_number_becomes_string_token() -> None:
    body = '{"AccountId": 123456789012, "x": [1, 2]}'
    out, _ = mask(body)
    assert json.loads(out) == {"AccountId": "AWS_ACCOUNT_001", "x": [1, 2]}


def test_base64_image_untouched() -> None:
    data = base64.b64encode(os.urandom(30000) + b"AKIAIOSFODNN7EXAMPLE 10.0.0.1").decode()
    body = anthropic(
        [
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": data},
            },
            {"type": "text", "text": f"ip 10.0.0.1 {INST}"},
        ]
    )
    out, findings = mask(body)
    assert data in out
    assert {f.value for f in findings} == {"10.0.0.1", INST}


@pytest.mark.parametrize("order", ["type-first", "sdk"])
def test_thinking_blocks_byte_identical(order: str) -> None:
    thinking = f"I should look at {INST} and 10.0.0.5\nthen arn:aws:iam::123456789012:root"
    sig = base64.b64encode(os.urandom(200)).decode()
    block = (
        {"type": "thinking", "thinking": thinking, "signature": sig}
        if order == "type-first"
        else {"signature": sig, "thinking": thinking, "type": "thinking"}
    )
    red = {"type": "redacted_thinking", "data": base64.b64encode(os.urandom(300)).decode()}
    body = json.dumps(
        {
            "messages": [
                {
                    "role": "assistant",
                    "content": [block, red, {"type": "text", "text": f"done with {INST}"}],
                }
            ]
        }
    )
    out, findings = mask(body)
    raw_think = json.dumps(thinking)
    assert raw_think in out and json.dumps(sig) in out and json.dumps(red["data"]) in out
    assert "done with AWS_EC2_001" in out
    assert [f.value for f in findings] == [INST]


def test_thinking_key_elsewhere_is_masked() -> None:
    body = json.dumps({"tool": {"thinking": f"x {INST}"}})
    out, _ = mask(body)
    assert INST not in out


def test_invalid_json_masked_as_text() -> None:
    body = '{"messages": [{"content": "host 10.1.2.3\\nvpc-0a1b2c3d", '
    out, _ = mask(body)
    assert "10.1.2.3" not in out and "vpc-0a1b2c3d" not in out
    out2, _ = mask("not json at all 10.1.2.3", is_json=True)
    assert "10.1.2.3" not in out2


def test_empty_and_whitespace() -> None:
    for body in ("", "   ", "{}", "[]"):
        out, findings = mask(body)
        assert out == body and findings == []


def test_count_tokens_and_openai_shapes() -> None:
    ct = json.dumps(
        {
            "model": "m",
            "system": f"account 123456789012 uses {INST}",
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    oa = json.dumps(
        {
            "model": "gpt",
            "messages": [
                {"role": "system", "content": "x"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {
                                "name": "f",
                                "arguments": json.dumps({"instance": INST, "ip": "172.16.0.4"}),
                            },
                        }
                    ],
                },
            ],
        }
    )
    for body in (ct, oa):
        out, findings = mask(body)
        json.loads(out)
        assert INST not in out and findings
        assert restore(out, findings) == body
    resp = json.dumps(
        {
            "model": "gpt",
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": f"check {ARN}"}]}
            ],
        }
    )
    out, _ = mask(resp)
    assert ARN not in out and "my-bucket" not in out


def test_latin1_text_body() -> None:
    text = "caf\xe9 i-0123456789abcdef0 \xff 10.0.0.1".encode("latin-1").decode("latin-1")
    out, findings = mask(text, is_json=False)
    assert out == "caf\xe9 AWS_EC2_001 \xff AWS_PRIVATE_IP_002"
    assert restore(out, findings) == text


def test_determinism_and_present_tokens() -> None:
    body = anthropic(f"{INST} AWS_EC2_007 {INST} AWS_EC2_007 10.0.0.1")
    m = Masker()
    p1, p2 = m.plan(body), m.plan(body)
    assert p1.findings == p2.findings and p1.edits == p2.edits
    assert p1.present_tokens == ["AWS_EC2_007"]
    assert p1.counts == {"EC2": 2, "PRIVATE_IP": 1}
    assert p1.apply(["AWS_EC2_001", "AWS_PRIVATE_IP_001"]) == p2.apply(
        ["AWS_EC2_001", "AWS_PRIVATE_IP_001"]
    )


def test_secrets_marked_one_way() -> None:
    body = anthropic("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    _, findings = mask(body)
    assert [(f.type_name, f.reversible) for f in findings] == [("SECRET_KEY", False)]


def test_apply_wrong_token_count() -> None:
    plan = Masker().plan(INST)
    with pytest.raises(MaskingError):
        plan.apply([])


@pytest.mark.parametrize("engine", ENGINES)
def test_engines_identical_on_escaped_json(engine: str) -> None:
    from testsupport.corpus import generate

    text, _ = generate(3, 40000)
    body = anthropic(text)
    assert mask(body, engine) == mask(body, "re")
    assert mask(text, engine, is_json=False) == mask(text, "re", is_json=False)


def test_json_view_same_length_and_decoder() -> None:
    raw = '"a\\\\n\\n\\"\\u00e9\\/b"'
    view, exact = json_view(raw)
    assert len(view) == len(raw) and exact == [15]
    dec, offs = decode_with_offsets(raw[1:-1])
    assert dec == json.loads(raw) and len(offs) == len(dec) + 1


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["\\n", '\\"', "\\\\", "\\u00e9", "\\ud83d\\ude00", "\\ud800",
                                 "\\q", "a", "bc", "\\/", "\\u12", "\u00e9", "\x01", "\\t"]),
                max_size=12))
def test_decode_string_and_raw_offsets_agree_with_decode_with_offsets(parts: list[str]) -> None:
    raw = "".join(parts)
    decoded, offs = decode_with_offsets(raw)
    assert decode_string(raw) == decoded
    assert raw_offsets(raw, range(len(decoded) + 1)) == dict(enumerate(offs))


def test_plain_text_reads_backslash_quotes_as_quotes() -> None:
    """A shell command quoting JSON (``--event "{\\"account\\":\\"1234…\\"}"``) in a text body:
    the account in its key's context is masked, and the rest of the command stays as written."""
    text = 'aws events test-event-pattern --event "{\\"account\\":\\"123456789012\\",\\"id\\":1}"'
    plan = Masker().plan(text, is_json=False)
    assert [(f.type_name, f.value) for f in plan.findings] == [("ACCOUNT", "123456789012")]
    assert plan.apply(["AWS_ACCOUNT_001"]) == text.replace("123456789012", "AWS_ACCOUNT_001")
