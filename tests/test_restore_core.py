"""The channel carry: split-proof, exact, scoped (awsmasker.restore.core)."""

from __future__ import annotations

from collections import Counter

import pytest
from awsmasker.restore.core import Table, make_table, restore
from awsmasker.tokens import MAX_TOKEN_LEN
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.restore_helpers import TOKEN_MAP, mask

RAW = make_table(TOKEN_MAP, escape_json=False, binary=False)
RAW_B = make_table(TOKEN_MAP, escape_json=False, binary=True)


def run(pieces, table=RAW):
    counts: Counter[str] = Counter()
    held = table.empty
    out = []
    for p in pieces:
        o, held = restore(held + p, table, counts, False)
        assert len(held) <= MAX_TOKEN_LEN
        out.append(o)
    o, held = restore(held, table, counts, True)
    assert not held
    out.append(o)
    return table.empty.join(out), counts


def whole(text, table=RAW):
    return run([text], table)[0]


ORIGINAL = (
    "Instance i-0123456789abcdef0 in vpc-0a1b2c3d,\nrole arn:aws:iam::123456789012:role/\"quoted\""
    "\\back at 10.0.1.2 — bucket données-bucket-é.i-0123456789abcdef0"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AWS_EC2_001", "i-0123456789abcdef0"),
        ("AWS_EC2_0011", "AWS_EC2_0011"),  # a different (unknown) token
        ("AWS_AWS_EC2_001", "AWS_i-0123456789abcdef0"),  # known token inside an unknown one
        ("AWS_EC2_001x", "i-0123456789abcdef0x"),
        ("AWS_EC2_001_VPC", "i-0123456789abcdef0_VPC"),
        ("AWS_EC2_999 AWS_FOO_001 AWS_ AWS AW A", "AWS_EC2_999 AWS_FOO_001 AWS_ AWS AW A"),
        ("xAWS_VPC_002AWS_EC2_001", "xvpc-0a1b2c3di-0123456789abcdef0"),
        ("AWS_PRIVATE_IP_1234.", "10.0.1.2."),
        ("AWS_PRIVATE_IP_123", "AWS_PRIVATE_IP_123"),
    ],
)
def test_known_tokens_only(text: str, expected: str) -> None:
    for pieces in [[text], *([text[:k], text[k:]] for k in range(len(text))), list(text)]:
        assert run(pieces)[0] == expected


def test_every_split_of_a_mixed_text_gives_the_original() -> None:
    masked = mask(ORIGINAL)
    assert masked != ORIGINAL and "AWS_ARN_010" in masked
    for k in range(len(masked) + 1):
        for j in range(k, len(masked) + 1, 7):
            assert run([masked[:k], masked[k:j], masked[j:]])[0] == ORIGINAL
    out, counts = run(list(masked))
    assert out == ORIGINAL
    assert counts == Counter({"EC2": 2, "VPC": 1, "ARN": 1, "PRIVATE_IP": 1, "S3_BUCKET": 1})


def test_bytes_table_splits_multibyte_characters() -> None:
    masked = mask(ORIGINAL).encode()
    for k in range(len(masked) + 1):
        assert run([masked[:k], masked[k:]], RAW_B)[0] == ORIGINAL.encode()
    assert run([masked[i : i + 1] for i in range(len(masked))], RAW_B)[0] == ORIGINAL.encode()


def test_held_back_only_what_could_grow() -> None:
    counts: Counter[str] = Counter()
    assert restore("done. AWS_EC2_00", RAW, counts, False) == ("done. ", "AWS_EC2_00")
    assert restore("done. AWS_EC2_001", RAW, counts, False) == ("done. ", "AWS_EC2_001")
    assert restore("done. AW", RAW, counts, False) == ("done. ", "AW")
    assert restore("AWS_EC2_001 ok", RAW, counts, False) == ("i-0123456789abcdef0 ok", "")
    assert restore("plain text", RAW, counts, False) == ("plain text", "")
    # A long run of token characters is decided once it is longer than any token.
    out, held = restore("AWS_" + "B" * 100, RAW, counts, False)
    assert held == "" and out == "AWS_" + "B" * 100


def test_long_run_of_prefixes_is_linear() -> None:
    text = "AWS_" * 50_000 + "EC2_001"
    out, _ = run([text[i : i + 4096] for i in range(0, len(text), 4096)])
    assert out == "AWS_" * 49_999 + "i-0123456789abcdef0"


tokens = st.sampled_from([*TOKEN_MAP, "AWS_EC2_0011", "AWS_EC2_002", "AWS_", "AWS", "A", "_001"])
fillers = st.text(alphabet=st.sampled_from(list("AWS_EC2019 x\n\"\\é€")), max_size=6)
texts = st.lists(st.one_of(tokens, fillers), max_size=12).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=texts, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=5))
def test_any_cutting_equals_whole(text: str, cuts: list[int]) -> None:
    points = sorted({min(c, len(text)) for c in cuts})
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]
    assert run(pieces)[0] == whole(text)
    encoded = text.encode()
    bpoints = sorted({min(c, len(encoded)) for c in cuts})
    bpieces = [encoded[a:b] for a, b in zip([0, *bpoints], [*bpoints, len(encoded)], strict=True)]
    assert run(bpieces, RAW_B)[0] == whole(text).encode()


@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet=st.sampled_from(list("abc ,.\n-:é/\"\\")), max_size=40))
def test_restore_of_mask_is_identity(text: str) -> None:
    original = text
    for orig in TOKEN_MAP.values():
        original = original.replace("b", orig, 1)
    assert whole(mask(original)) == original


@settings(max_examples=400, deadline=None)
@given(text=texts)
def test_the_one_scan_final_path_equals_the_token_by_token_scan(text: str) -> None:
    """``restore(..., final=True)`` first tries one scan over whole ``AWS_`` runs; whether it
    takes that path or falls back, the output and the counts are the scan's."""
    from awsmasker.restore.core import _restore_known_runs, _restore_scan

    for table, s in ((RAW, text), (RAW_B, text.encode())):
        fast_counts: Counter[str] = Counter()
        scan_counts: Counter[str] = Counter()
        first = s.find(table.prefix)
        fast = _restore_known_runs(s, first, table, fast_counts) if first >= 0 else s
        expected = _restore_scan(s, table, scan_counts, True)[0]
        if fast is not None:
            assert (fast, fast_counts) == (expected, scan_counts)
        else:
            assert not fast_counts  # nothing counted on the way to a fallback
        assert restore(s, table, Counter(), True)[0] == expected


def test_the_one_scan_path_falls_back_only_for_runs_it_cannot_judge() -> None:
    from awsmasker.restore.core import _restore_known_runs as known_runs

    def _restore_known_runs(s: str, table: Table, counts: Counter[str]) -> str | None:
        return known_runs(s, s.find("AWS_"), table, counts)

    counts: Counter[str] = Counter()
    assert _restore_known_runs("a AWS_EC2_001, AWS_VPC_002.", RAW, counts) == (
        "a i-0123456789abcdef0, vpc-0a1b2c3d.")
    assert counts == {"EC2": 1, "VPC": 1}
    assert _restore_known_runs("AWS_EC2_999 AWS_ AWS_FOO_001", RAW, counts) == (
        "AWS_EC2_999 AWS_ AWS_FOO_001")  # unknown runs stay
    for fallback in ("AWS_AWS_EC2_001", "AWS_" + "A" * 80, "AWS_EC2_001X", "AWS_EC2_001_VPC"):
        assert _restore_known_runs(fallback, RAW, Counter()) is None, fallback
