"""Property tests: restore(mask(x)) == x (secrets aside), nothing survives, JSON stays valid,
every engine gives identical output."""

from __future__ import annotations

import json

from awsmasker.body import Masker
from awsmasker.catalogue import CATALOGUE
from awsmasker.scanner import available_engines
from awsmasker.tokens import TOKEN_RE
from hypothesis import given, settings
from hypothesis import strategies as st

REVERSIBLE = [e for e in CATALOGUE if e.reversible and e.default_enabled]
SNIPPETS = [e.example_text for e in REVERSIBLE] + [
    "ip-10-0-1-2.ec2.internal",
    "s3://my-bucket-01/x",
    "account 123456789012",
    "10.0.0.0/16",
]
FILLER = st.text(alphabet=st.sampled_from(list('abc XYZ019_-.:/"\\\n\t{}[],é😀')), max_size=12)
PIECES = st.lists(st.one_of(st.sampled_from(SNIPPETS), FILLER), min_size=1, max_size=12)
MASKERS = {e: Masker(engine=e) for e in available_engines()}


def _mask(text: str, is_json: bool, engine: str = "re"):
    plan = MASKERS[engine].plan(text, is_json=is_json)
    tokens = [f"AWS_{f.type_name}_{i + 1:03d}" for i, f in enumerate(plan.findings)]
    return plan.apply(tokens), plan


def _restore(masked: str, plan) -> str:
    mapping = {f"AWS_{f.type_name}_{i + 1:03d}": f.value for i, f in enumerate(plan.findings)}
    return TOKEN_RE.sub(lambda m: mapping.get(m.group(0), m.group(0)), masked)


@settings(max_examples=300, deadline=None)
@given(PIECES)
def test_text_roundtrip_and_nothing_survives(pieces: list[str]) -> None:
    text = "".join(pieces)
    if TOKEN_RE.search(text):
        return
    masked, plan = _mask(text, False)
    assert _restore(masked, plan) == text
    assert MASKERS["re"].plan(masked, is_json=False).findings == []
    for eng in MASKERS:
        assert _mask(text, False, eng)[0] == masked


@settings(max_examples=300, deadline=None)
@given(PIECES, st.booleans())
def test_json_roundtrip_valid_and_nothing_survives(pieces: list[str], ascii_only: bool) -> None:
    obj = {
        "messages": [{"role": "user", "content": [{"type": "text", "text": p} for p in pieces]}],
        "system": "".join(pieces),
    }
    body = json.dumps(obj, ensure_ascii=ascii_only)
    if TOKEN_RE.search(body):
        return
    masked, plan = _mask(body, True)
    json.loads(masked)  # still valid JSON
    assert _restore(masked, plan) == body  # byte-exact
    assert MASKERS["re"].plan(masked, is_json=True).findings == []
    for eng in MASKERS:
        assert _mask(body, True, eng)[0] == masked
