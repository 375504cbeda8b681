"""The scanner's per-hit fast paths give what the plain ways give: each rule's batch verification
against :func:`awsmasker.scanner._each` of its single-position verification, the version-word
test against its regex, and the candidate resolution's token walk against the former bisect."""

from __future__ import annotations

import bisect
import random

from awsmasker import scanner as sc
from awsmasker.catalogue import EC2_PREFIXES
from awsmasker.scanner import (
    _BATCH,
    _DIGITS,
    _REVERSIBLE,
    _VERSION_CTX,
    _WORDCH,
    RULES,
    Match,
    Scanner,
    _each,
    _version_context,
    batch_verify,
)
from awsmasker.tokens import TOKEN_RE
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.engine_cases import IDS
from testsupport.corpus import Gen

# --- batch verifications ------------------------------------------------------------------------


def test_the_hot_rules_have_batch_verifications() -> None:
    names = {r.name for r in RULES if r.verify in _BATCH}
    assert {"ec2", "private_ip", "arn", "secret", "session", "kms"} <= names
    assert all(batch_verify(r.verify) is _BATCH[r.verify] for r in RULES if r.verify in _BATCH)


def _corpus_views() -> list[str]:
    g = Gen(11)
    docs = [g.document() for _ in range(60)]
    docs += [g.prose(80) + ". " + g.negative() for _ in range(60)]
    return ["\n".join(docs[i : i + 10]) for i in range(0, len(docs), 10)]


def _assert_batch_equals_each(view: str, starts: list[int]) -> None:
    for r in RULES:
        fast = _BATCH.get(r.verify)
        if fast is not None:
            assert fast(view, starts) == _each(r.verify)(view, starts), (r.name, view[:200])


def test_batch_verifications_equal_each_on_the_corpus() -> None:
    for view in _corpus_views():
        # every position: each rule's verification rejects the others' (and most of these)
        _assert_batch_equals_each(view, list(range(len(view))))


PIECES = [
    *IDS, "i-", "-0a1b2c3d", "-0123456789abcdef0", "eni-attach", "_", "-", ".", " ", "\n",
    "10.", "172.16.", "192.168.", "1.2", "0", "/24", "version ", "ver ", "firmware=", "Build:",
    "whatever ", "'", '"', "x", "é", "arn:aws:s3:::", "secret_key=", "key/", "kms ", "Z123",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=14))
def test_batch_verifications_equal_each(pieces: list[str]) -> None:
    view = "".join(pieces)
    starts = list(range(len(view)))
    _assert_batch_equals_each(view, starts)
    # a subset too: which positions come before one decides what is skipped
    r = random.Random(len(view))
    _assert_batch_equals_each(view, sorted(r.sample(starts, len(starts) // 2)))


def test_batch_verifications_equal_each_at_prefix_edges() -> None:
    """Every EC2 prefix glued or not to a longer run, at the start of the view or not."""
    for p in EC2_PREFIXES:
        for before in ("", " ", "x", "_", "-", "é", "x" * 12, "a-b_"):
            for hexpart in ("-0a1b2c3d", "-0123456789abcdef0", "-0a1b2c3dx"):
                view = before + p + hexpart + " "
                _assert_batch_equals_each(view, list(range(len(view))))


# --- version words --------------------------------------------------------------------------------

VERSION_PIECES = [
    "version", "Version", "VER", "ver", "tag", "build", "firmware", "chrome", "firefox", "safari",
    "release", "whatever", "xver", "_", "-", "1", "a", " ", "\t", ":", "=", '"', "'", "\x01", "/",
    "é", "\u212a", ".", "\n",
]  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(st.lists(st.sampled_from(VERSION_PIECES), max_size=12), st.integers(0, 40))
def test_version_context_equals_regex(pieces: list[str], cut: int) -> None:
    view = "".join(pieces) + "10.1.2.3"
    s = len(view) - 8
    for p in {s, max(0, s - cut)}:
        lo = max(0, p - 24)
        assert _version_context(view, p) == bool(_VERSION_CTX.search(view, lo, p)), (view, p)


# --- candidate resolution -------------------------------------------------------------------------


def _resolve_bisect(scanner: Scanner, view: str, cands: list, tokens: list) -> list[Match]:
    """The former resolution: a token overlap found by bisecting the token starts."""
    n = len(view)
    tok_starts = [s for s, _ in tokens]
    out: list[Match] = []
    last = 0
    for s, neg_e, t in sorted([(s, -e, t) for s, e, t in cands]):
        if s < last or t in scanner.disabled:
            continue
        e = -neg_e
        if s > 0 and view[s - 1] in _WORDCH:
            continue
        if e < n and view[e] in _DIGITS:
            continue
        if tokens:
            k = bisect.bisect_left(tok_starts, e)
            if k > 0 and tokens[k - 1][1] > s:
                continue
        value = view[s:e]
        if value in scanner.allow:
            continue
        out.append(Match(s, e, t, value, _REVERSIBLE[t]))
        last = e
    return out


TOKEN_PIECES = ["AWS_EC2_001", "AWS_ACCOUNT_012", "AWS_X", " ", "x", "1", "sg-", "10.0.0.1", "_"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(TOKEN_PIECES), min_size=1, max_size=12),
    st.lists(st.tuples(st.integers(0, 80), st.integers(1, 20), st.sampled_from(["SG", "EC2"]))),
)
def test_resolve_token_walk_equals_bisect(pieces: list[str], raw_cands: list) -> None:
    view = "".join(pieces)
    n = len(view)
    cands = [(s, min(n, s + d), t) for s, d, t in raw_cands if s < n]
    tokens = [m.span() for m in TOKEN_RE.finditer(view)]
    for scanner in (Scanner(), Scanner(disabled_types=["SG"], allow_values=["10.0.0.1"])):
        assert scanner._resolve(view, cands, tokens) == _resolve_bisect(
            scanner, view, cands, tokens
        ), (view, cands)


def test_resolve_sees_every_token() -> None:
    view = "x AWS_EC2_001 y AWS_EC2_002 sg-0123abcd AWS_EC2_003"
    tokens = [m.span() for m in TOKEN_RE.finditer(view)]
    s = view.index("sg-")
    cands = [(2, 6, "SG"), (16, 30, "SG"), (s, s + 11, "SG"), (view.rindex("AWS"), len(view), "SG")]
    assert [m.start for m in sc.Scanner()._resolve(view, cands, tokens)] == [s]
