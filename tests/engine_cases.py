"""Shared by the engine path tests: the two maskers to compare and identifiers of every shape."""

from __future__ import annotations

import pytest
from awsmasker.body import Masker, json_view
from awsmasker.scanner import MARKERS, RULES, available_engines

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


def assert_raw_triggers_cover_view(body: str) -> tuple[dict[int, list[int]], int] | None:
    """``json_triggers_raw(body)``, after checking that every trigger position the engine finds
    in the JSON view of ``body`` is among them (what makes verification give equal results)."""
    assert HS is not None
    found = HS.scanner.json_triggers_raw(body)
    if found is not None:
        b = json_view(body)[0].encode("latin-1", "replace")
        want = rule_hits(HS.scanner.engine.find(b, b))
        got = rule_hits(found[0])
        for k, positions in want.items():
            assert positions <= got.get(k, set()), (k, RULES[k].name if k >= 0 else k)
    return found


def rule_hits(hits: dict[int, list[int]]) -> dict[int, set[int]]:
    return {k: set(v) for k, v in hits.items() if k >= 0 or k in MARKERS}
