"""Realistic AWS identifiers used by end-to-end tests (one or more per catalogue family)."""

from __future__ import annotations

ORIGINALS = [
    "i-0a1b2c3d4e5f67890",
    "vpc-0123abcd",
    "subnet-0fedcba9876543210",
    "sg-0badc0ffee1234567",
    "ami-0abcdef1234567890",
    "vol-049df61146f12f973",
    "arn:aws:iam::123456789012:role/DeployRole",
    "arn:aws:s3:::prod-customer-exports/2024/01/data.csv",
    "AKIAIOSFODNN7EXAMPLE",
    "10.20.30.40",
    "172.31.5.17",
    "192.168.10.0/24",
    "mydb.c9akciq32.us-east-1.rds.amazonaws.com",
    "ip-10-0-1-2.ec2.internal",
]

PROMPT = (
    "Instance i-0a1b2c3d4e5f67890 in vpc-0123abcd (subnet subnet-0fedcba9876543210, security group "
    "sg-0badc0ffee1234567) was launched from ami-0abcdef1234567890 with volume "
    "vol-049df61146f12f973.\n\tIt assumes arn:aws:iam::123456789012:role/DeployRole and writes to "
    "arn:aws:s3:::prod-customer-exports/2024/01/data.csv using key AKIAIOSFODNN7EXAMPLE.\n"
    "Private address 10.20.30.40, peer 172.31.5.17, office range 192.168.10.0/24, database "
    "mydb.c9akciq32.us-east-1.rds.amazonaws.com, host ip-10-0-1-2.ec2.internal."
)

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRET_LINE = f"aws_secret_access_key = {SECRET}"


def assert_restored_message(final, deltas: str | None = None) -> None:
    """A stand-in reply as the anthropic SDK parsed it: every original is back, in the text
    (equal to the streamed deltas, when given) and in the tool call's input; no token is left."""
    from awsmasker.tokens import TOKEN_RE

    text = final.content[0].text
    if deltas is not None:
        assert deltas == text
    assert not TOKEN_RE.search(text), "a token came back unrestored"
    for value in ORIGINALS:
        assert value in text
    tool = final.content[1]
    assert tool.type == "tool_use"
    assert set(ORIGINALS) <= set(tool.input["ids"])
