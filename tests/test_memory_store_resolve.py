"""The memory store's resolve (a known reversible finding looked up inline) gives what
``token_for`` gives for each finding, mints in finding order and keeps secrets out of its maps."""

from __future__ import annotations

import asyncio

from awsmasker.store.base import Finding
from awsmasker.store.memory import MemoryStore


def test_resolve_equals_token_for_each_finding() -> None:
    a, b = MemoryStore(), MemoryStore()
    findings = [
        Finding("EC2", "i-0123456789abcdef0"),
        Finding("ACCOUNT", "123456789012"),
        Finding("SECRET_KEY", "s" * 40, reversible=False),
        Finding("EC2", "i-0123456789abcdef1"),
    ]
    first = asyncio.run(a.resolve(findings))
    assert first.tokens == [b.token_for(f) for f in findings]
    assert first.tokens == ["AWS_EC2_001", "AWS_ACCOUNT_001", "AWS_SECRET_KEY_001", "AWS_EC2_002"]
    # known ones again, a new one between them, and a token already in the body
    again = [findings[1], Finding("ACCOUNT", "210987654321"), findings[2], findings[0]]
    res = asyncio.run(a.resolve(again, ["AWS_EC2_002", "AWS_SECRET_KEY_001", "AWS_X_009"]))
    assert res.tokens == [b.token_for(f) for f in again]
    assert res.tokens == ["AWS_ACCOUNT_001", "AWS_ACCOUNT_002", "AWS_SECRET_KEY_001", "AWS_EC2_001"]
    assert res.originals == {"AWS_EC2_002": "i-0123456789abcdef1"}
    assert "s" * 40 not in a._value_by_token.values()
    assert all(k[1] != "s" * 40 for k in a._token_by_value)
