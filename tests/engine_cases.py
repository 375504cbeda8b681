"""Shared by the engine path tests: the two maskers to compare and identifiers of every shape."""

from __future__ import annotations

import pytest
from awsmasker.body import Masker
from awsmasker.scanner import available_engines

needs_hyperscan = pytest.mark.skipif(
    "hyperscan" not in available_engines(), reason="hyperscan not installed"
)

HS = Masker(engine="hyperscan") if "hyperscan" in available_engines() else None
RE = Masker(engine="re")
IDS = [
    "i-0123456789abcdef0",
    "nat-0123456789abcdef0",
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


def masked(m: Masker, body: str) -> tuple[str, list, list[str]]:
    """``body`` masked as JSON with tokens numbered in finding order, its findings and the
    tokens it already held."""
    plan = m.plan(body, is_json=True)
    tokens = [f"AWS_{f.type_name}_{i + 1:03d}" for i, f in enumerate(plan.findings)]
    return plan.apply(tokens), plan.findings, plan.present_tokens
