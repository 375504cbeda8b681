"""Recall per type and false positives per MB on generated realistic text (plain and as JSON).

Run with ``-s`` to see the per-type table.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from awsmasker.body import Masker
from awsmasker.catalogue import BY_NAME

from testsupport.corpus import generate, negatives

SIZE = 400_000


def _measure(as_json: bool):
    text, planted = generate(11, SIZE)
    body = json.dumps({"messages": [{"role": "user", "content": text}]}) if as_json else text
    plan = Masker().plan(body, is_json=as_json)
    found = {(f.type_name, f.value) for f in plan.findings}
    # values masked under a containing identifier count as covered (e.g. an account inside an ARN)
    values = [f.value for f in plan.findings]
    planted_set = set(planted)
    hit: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for t, v in planted_set:
        total[t] += 1
        if (t, v) in found or any(v in fv for fv in values if fv != v and len(fv) > len(v)):
            hit[t] += 1
    planted_values = {v for _, v in planted_set}
    false_pos = [
        (t, v)
        for t, v in found
        if v not in planted_values and not any(v in pv for pv in planted_values)
    ]
    return total, hit, false_pos, len(body)


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_recall_and_precision(as_json: bool) -> None:
    total, hit, false_pos, size = _measure(as_json)
    print(
        f"\n{'type':<18}{'planted':>8}{'found':>7}{'recall':>8}   ({'json' if as_json else 'text'})"
    )
    for t in sorted(total):
        print(f"{t:<18}{total[t]:>8}{hit[t]:>7}{hit[t] / total[t]:>8.3f}")
    fp_per_mb = len(false_pos) / (size / 1e6)
    print(
        f"false positives: {len(false_pos)} in {size / 1e6:.2f} MB = {fp_per_mb:.1f}/MB"
        f" {false_pos[:5]}"
    )
    for t in total:
        if BY_NAME[t].reversible:
            assert hit[t] / total[t] >= 0.99, (t, hit[t], total[t])
    assert fp_per_mb < 1.0


def test_negatives_never_masked() -> None:
    text = "\n".join(negatives(5, 3000))
    plan = Masker().plan(text, is_json=False)
    assert plan.findings == []
