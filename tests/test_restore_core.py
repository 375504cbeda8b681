"""The channel carry: split-proof, exact, scoped (awsmasker.restore.core)."""

from __future__ import annotations

from collections import Counter

import pytest
from awsmasker.restore import TextRestorer
from awsmasker.restore.core import make_table, restore
from awsmasker.tokens import MAX_TOKEN_LEN, TOKEN_RE
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.restore_helpers import TOKEN_MAP, mask

RAW = make_table(TOKEN_MAP, escape_json=False, binary=False)
RAW_B = make_table(TOKEN_MAP, escape_json=False, binary=True)


def run(pieces, table=RAW):
    counts: dict[str, int] = {}
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
    assert counts == {"AWS_EC2_001": 2, "AWS_VPC_002": 1, "AWS_ARN_010": 1,
                      "AWS_PRIVATE_IP_1234": 1, "AWS_S3_BUCKET_003": 1}


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


def reference_restore(text: str) -> tuple[str, dict[str, int]]:
    """What restoring means, written the slow way: at every position, a token the pattern
    matches there that is in the map is replaced (and counted); any other character is kept."""
    out, counts, i = [], {}, 0
    while i < len(text):
        m = TOKEN_RE.match(text, i)
        if m is not None and m.group() in TOKEN_MAP:
            out.append(TOKEN_MAP[m.group()])
            counts[m.group()] = counts.get(m.group(), 0) + 1
            i = m.end()
        else:
            out.append(text[i])
            i += 1
    return "".join(out), counts


@settings(max_examples=400, deadline=None)
@given(text=texts)
def test_restorers_agree_with_the_reference_at_every_split_point(text: str) -> None:
    """A text restorer gives the reference's output and records exactly the tokens it
    restored, whether the text comes whole or in two pieces cut at any byte."""
    expected, counts = reference_restore(text)
    body = text.encode()
    r = TextRestorer(TOKEN_MAP)
    assert (r.whole(body), r.restored) == (expected.encode(), counts)
    for k in range(len(body) + 1):
        r = TextRestorer(TOKEN_MAP)
        assert (r.feed(body[:k]) + r.feed(body[k:]) + r.finish(), r.restored) == (
            expected.encode(), counts), k
    assert run([text])[1] == counts and run(list(text)) == (expected, counts)


def test_runs_of_token_characters_are_judged_at_every_aws() -> None:
    r = TextRestorer(TOKEN_MAP)
    assert r.whole(b"a AWS_EC2_001, AWS_VPC_002.") == b"a i-0123456789abcdef0, vpc-0a1b2c3d."
    assert r.restored == {"AWS_EC2_001": 1, "AWS_VPC_002": 1}
    for text, expected in [
        ("AWS_EC2_999 AWS_ AWS_FOO_001", "AWS_EC2_999 AWS_ AWS_FOO_001"),  # unknown runs stay
        ("AWS_AWS_EC2_001", "AWS_i-0123456789abcdef0"),
        ("AWS_" + "A" * 80 + "AWS_EC2_001", "AWS_" + "A" * 80 + "i-0123456789abcdef0"),
        ("AWS_EC2_001X", "i-0123456789abcdef0X"),
        ("AWS_EC2_001_VPC", "i-0123456789abcdef0_VPC"),
    ]:
        assert TextRestorer(TOKEN_MAP).whole(text.encode()) == expected.encode(), text
        assert reference_restore(text)[0] == expected
