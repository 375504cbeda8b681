"""Every catalogue type: a positive example in context, and look-alikes that must not match."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from awsmasker.body import Masker
from awsmasker.catalogue import CATALOGUE, EC2_PREFIXES, TYPE_NAMES
from awsmasker.scanner import available_engines
from awsmasker.tokens import MAX_TYPE_LEN, is_valid_type_name
from hypothesis import given, settings
from hypothesis import strategies as st

ENGINES = available_engines()


def found(text: str, engine: str = "re", **kw) -> list[tuple[str, str]]:
    plan = Masker(engine=engine, **kw).plan(text, is_json=False)
    return [(f.type_name, f.value) for f in plan.findings]


def test_type_names_valid() -> None:
    assert len(TYPE_NAMES) == len(CATALOGUE)
    for e in CATALOGUE:
        assert is_valid_type_name(e.type_name) and len(e.type_name) <= MAX_TYPE_LEN
    assert {"SECRET_KEY", "SESSION_TOKEN"} == {e.type_name for e in CATALOGUE if not e.reversible}
    assert [e.type_name for e in CATALOGUE if not e.default_enabled] == ["PUBLIC_IP"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.type_name)
def test_positive_example(entry, engine: str) -> None:
    text = f"Here: {entry.example_text}\n"
    assert (entry.type_name, entry.example) in found(text, engine, mask_public_ips=True)


@pytest.mark.parametrize("entry", CATALOGUE, ids=lambda e: e.type_name)
def test_disabled_type_not_masked(entry) -> None:
    text = f"Here: {entry.example_text}\n"
    got = found(text, disabled_types=[entry.type_name], mask_public_ips=True)
    assert entry.type_name not in {t for t, _ in got}


POSITIVES = [
    ("ip-10-0-1-2.us-west-2.compute.internal", "EC2_HOST"),
    ("ec2-54-12-3-4.compute-1.amazonaws.com", "EC2_HOST"),
    ("ec2-54-12-3-4.us-west-2.compute.amazonaws.com", "EC2_HOST"),
    ("arn:aws-cn:s3:::my-bucket/key.txt", "ARN"),
    ("arn:aws-us-gov:iam::123456789012:user/bob", "ARN"),
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest", "ACCOUNT"),
    ("https://sqs.eu-west-1.amazonaws.com/123456789012/jobs", "ACCOUNT"),
    ("--account-id 123456789012", "ACCOUNT"),
    ('"AccountId": "123456789012"', "ACCOUNT"),
    ("AWS account ID: 123456789012", "ACCOUNT"),
    ("https://my-bucket.s3.us-east-1.amazonaws.com/x", "S3_BUCKET"),
    ("https://s3.us-west-2.amazonaws.com/my-bucket/x", "S3_BUCKET"),
    ('"Bucket": "my-bucket"', "S3_BUCKET"),
    ("aws s3api get-object --bucket my-bucket --key x", "S3_BUCKET"),
    ("172.31.5.9", "PRIVATE_IP"),
    ("192.168.1.0/24", "PRIVATE_IP"),
    ("--key-id mrk-1234abcd12ab34cd56ef1234567890ab", "KMS_KEY"),
    ("key/1234abcd-12ab-34cd-56ef-1234567890ab", "KMS_KEY"),
    ('"HostedZoneId": "Z0123456789ABCDEFGHIJ"', "HOSTED_ZONE"),
    ('"DistributionId": "EDFDVBD6EXAMPLE"', "CF_DISTRIBUTION"),
    (
        "X-Amz-Security-Token=IQoJb3JpZ2luX2VjEJr%2F%2F%2F%2F%2F%2F%2F%2F%2F%2FwEaCXVzLWVhc3QtMQ",
        "SESSION_TOKEN",
    ),
    ("tgw-attach-0123456789abcdef0", "TGW_ATTACH"),
    ("vpce-svc-0123456789abcdef0", "VPCE_SERVICE"),
    ("tgw-rtb-0123456789abcdef0", "TGW_RTB"),
    ("my-nlb-0123456789abcdef.elb.us-east-1.amazonaws.com", "ELB"),
]


@pytest.mark.parametrize(("text", "type_name"), POSITIVES)
def test_more_positives(text: str, type_name: str) -> None:
    assert type_name in {t for t, _ in found(f"> {text} <")}


NEGATIVES = [
    "commit 3f786850e387550fdab836ed7e6dc881de23001b",
    "request 123e4567-e89b-12d3-a456-426614174000 ok",
    "version 10.1.1.0",
    "v10.1.1.0",
    "release: 10.2.0.1",
    "2024-05-01T12:00:00.123Z",
    "call +1 (555) 123-4567 or 555.123.4567",
    "order number 123456789012 shipped",
    "semver 1.2.3-beta.4+build.5",
    "the multi-deadbeef flag and anti-0123abcd",
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "public 8.8.8.8 stays unless enabled",
    "sts.us-east-1.amazonaws.com and s3.amazonaws.com are public endpoints",
    "AKIASHORT and AKIA1234",
    "bucket policy is strict; the secret sauce",
    "distribution ENVIRONMENTAL hosted zone ZONEFILEZZZ",
    "AWS_EC2_001 and AWS_ACCOUNT_002 are tokens already",
    "Wi-Fi 10.5 percent; 1.10.0.0.1; 110.0.0.1",
    "KeyId: not-a-uuid",
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("text", NEGATIVES)
def test_negatives(text: str, engine: str) -> None:
    assert found(text, engine) == []


def test_public_ip_switch() -> None:
    assert found("peer 54.239.28.85") == []
    assert found("peer 54.239.28.85", mask_public_ips=True) == [("PUBLIC_IP", "54.239.28.85")]
    assert found("loopback 127.0.0.1", mask_public_ips=True) == []


def test_allow_values() -> None:
    assert found("i-0123456789abcdef0", allow_values=["i-0123456789abcdef0"]) == []


def test_boundary_rule() -> None:
    # never right after [A-Za-z0-9_], never right before a digit
    assert found("xi-0123456789abcdef0") == []
    assert found("_vpc-0a1b2c3d") == []
    assert found("10.0.0.1") == [("PRIVATE_IP", "10.0.0.1")]


def test_account_from_arn_elsewhere() -> None:
    text = "arn:aws:iam::123456789012:root\n123456789012   AIDAEXAMPLE0123456789"
    got = found(text)
    assert ("ACCOUNT", "123456789012") in got


@pytest.mark.parametrize("text", [
    "server 10.0.1.5", "driver: 10.0.1.5", "stag 10.0.1.5", "rebuild 10.0.0.1",
    "fastag=192.168.1.20", "Observer/172.16.4.9",
])
@pytest.mark.parametrize("engine", ENGINES)
def test_private_ip_after_a_word_ending_like_a_version_word(text: str, engine: str) -> None:
    """Version wording must be a whole word: ``server`` ends in ``ver`` but is no version."""
    assert "PRIVATE_IP" in {t for t, _ in found(f"> {text} <", engine=engine)}


@pytest.mark.parametrize("text", [
    "version 10.1.1.0", "Ver: 10.0.1.5", "app_version=10.1.2.3", "Chrome/10.0.1.5",
    "(build 10.0.19041.1)",
])
@pytest.mark.parametrize("engine", ENGINES)
def test_private_ip_shaped_versions_are_not_masked(text: str, engine: str) -> None:
    assert "PRIVATE_IP" not in {t for t, _ in found(f"> {text} <", engine=engine)}


# --- the README's "What is masked" section describes this code --------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def _section() -> str:
    text = README.read_text(encoding="utf-8")
    return text[text.index("## What is masked") : text.index("### Detection on real text")]


def _cells(line: str) -> list[str]:
    """The cells of a Markdown table row (a ``|`` inside a code span is no separator)."""
    out, cur, code = [], "", False
    for ch in line.strip()[1:-1]:
        if ch == "`":
            code = not code
        if ch == "|" and not code:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [*out, cur.strip()]


def test_readme_table_is_the_catalogue() -> None:
    rows = [_cells(line) for line in _section().splitlines() if line.startswith("| ")][1:]
    ec2 = [r for r in rows if r[0].startswith("EC2,")]
    assert len(ec2) == 1
    listed = ec2[0][2].split(" + 8 or 17 ")[0]  # the list, before the examples of types
    prefixes = re.findall(r"`([a-z0-9-]+)-`", listed)
    assert prefixes == list(EC2_PREFIXES)
    assert f"({len(EC2_PREFIXES)} types)" in ec2[0][0]
    by_row = {r[0]: r for r in rows if r is not ec2[0]}
    others = [e for e in CATALOGUE if e.type_name not in EC2_PREFIXES.values()]
    assert sorted(by_row) == sorted(e.type_name for e in others)
    for e in others:
        assert by_row[e.type_name][1:] == [
            f"`AWS_{e.type_name}_001`",
            e.description,
            e.context,
            f"`{e.example_text}`",
            "yes" if e.reversible else "no (one-way)",
        ], e.type_name


def test_readme_never_masked_examples() -> None:
    section = _section()
    never = section[section.index("Never masked:") : section.index("JSON bodies are masked")]
    examples = re.findall(r"`([^`]+)`", never)
    assert len(examples) >= 4
    for text in examples:
        for engine in ENGINES:
            assert found(f"> {text} <", engine) == [], text


def test_readme_json_escape_examples() -> None:
    """"IDs next to ``\\n``, ``\\/``, ``\\u002d`` escapes" are found in a JSON body."""
    body = (
        '{"a": "x\\ni-0123456789abcdef0", "b": "arn:aws:s3:::logs\\/2024", '
        '"c": "vpc\\u002d0a1b2c3d"}'
    )
    for engine in ENGINES:
        plan = Masker(engine=engine).plan(body, is_json=True)
        assert [f.value for f in plan.findings] == [
            "i-0123456789abcdef0",
            "arn:aws:s3:::logs/2024",  # the value decoded
            "vpc-0a1b2c3d",
        ]


#: the definition of version wording before an address (see the PRIVATE_IP row)
VERSION_CONTEXT = re.compile(
    r"(?<![A-Za-z0-9])(?:version|release|tags|tag|ver|build|firmware|chrome|firefox|safari)"
    r"[ \t:=\"'/]*\Z",
    re.A | re.I,
)
VERSION_PIECES = [
    "version", "Version", "VER", "ver", "tag", "Tags", "build", "firmware", "chrome", "firefox",
    "safari", "release", "whatever", "xver", "server", "_", "-", "1", "a", " ", "\t", ":", "=",
    '"', "'", "/", "é", "\u212a", "\u0130", ".", "\n", ",",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(VERSION_PIECES), max_size=12))
def test_private_ip_after_version_wording_as_defined(pieces: list[str]) -> None:
    head = "".join(pieces)
    text = head + "10.0.0.1 x"
    glued = head[-1:] in set("_.") or (head[-1:].isascii() and head[-1:].isalnum())
    version = VERSION_CONTEXT.search(head, max(0, len(head) - 24)) is not None
    for engine in ENGINES:
        values = [v for t, v in found(text, engine) if t == "PRIVATE_IP"]
        assert values == ([] if glued or version else ["10.0.0.1"]), (engine, text)
