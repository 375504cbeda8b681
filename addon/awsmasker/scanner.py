"""Find AWS identifiers in text.

The rules are a table (:mod:`awsmasker.rules`): triggers say where an identifier may start, a
verification anchored at a trigger decides whether one is there and where its value lies. A
trigger engine finds the triggers of every rule: hyperscan (one pass for all of them) when it is
installed, else Python ``re``, chosen once (:func:`get_engine`). An engine only says *where to
look*; every match comes from the same verification code, so both give the same matches (tests
check this on random text and on the real-text corpus).

Guarantees:

* **Linear time.** The engines take linear time; each verification reads a bounded window around
  its trigger, and a trigger inside the previous find of its rule is not verified again. Values
  found in context are looked for again at most :data:`REPEAT_MAX` times (a search each); the
  candidates are sorted once.
* **Never matched.** A match never starts right after ``[A-Za-z0-9_]`` nor ends right before an
  ASCII digit, so the token that replaces it is found again exactly (see
  :data:`awsmasker.tokens.TOKEN_RE`); it never overlaps a token already in the text; a 12-digit
  number alone is an account only when the same number was found as one in context.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from typing import NamedTuple

from awsmasker.catalogue import BY_NAME, TYPE_NAMES
from awsmasker.ipv4 import public_ips
from awsmasker.rules import (
    BARE,
    DIGITS,
    RULES,
    THINKING,
    TOKEN,
    WORDCH,
    Cand,
    Rule,
    Verify,
    known_accounts,
    verify_bare12,
    verify_token,
)


class Match(NamedTuple):
    start: int
    end: int
    type_name: str
    value: str
    reversible: bool


_REVERSIBLE = {name: t.reversible for name, t in BY_NAME.items()}


# ---------------------------------------------------------------------------------------------
# trigger engines: text → {rule index: trigger starts (any order, maybe repeated)}

Hits = dict[int, list[int]]


def _encode(view: str) -> bytes:
    """One byte per character: the positions stay the same (non-Latin-1 characters become ``?``,
    which no trigger holds)."""
    return view.encode("latin-1", "replace")


class ReEngine:
    """Python ``re``: one search per trigger, caseless ones in an ASCII-lowercased copy; runs of
    digits by :func:`digit_runs` (``re`` has no fast search for them)."""

    name = "re"

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        #: (rule index, compiled trigger, search the lowercased copy)
        self._triggers: list[tuple[int, re.Pattern[bytes], bool]] = []
        #: (rule index, digit count) of the ``[0-9]{n}`` triggers
        self._digit_runs: list[tuple[int, int]] = []
        for i, r in enumerate(rules):
            for low, ts in ((False, r.triggers), (True, r.caseless)):
                for t in ts:
                    run = _DIGIT_RUN.fullmatch(t)
                    if run and not low:
                        self._digit_runs.append((i, int(run.group(1))))
                    else:
                        self._triggers.append((i, re.compile(t.encode()), low))

    def find(self, view: str) -> Hits:
        b = _encode(view)
        lb = b.lower()  # ASCII only: lengths and positions stay the same
        out: Hits = {}
        for i, rx, low in self._triggers:
            data = lb if low else b
            search = rx.search
            m = search(data)
            while m is not None:  # every start, also one inside the previous match
                h = m.start()
                out.setdefault(i, []).append(h)
                m = search(data, h + 1)
        for i, n in self._digit_runs:
            starts = digit_runs(view, n)
            if starts:
                out.setdefault(i, []).extend(starts)
        return out


_DIGIT_RUN = re.compile(r"\[0-9\]\{([0-9]+)\}")


class HyperscanEngine:
    """hyperscan: every trigger of every rule in one pass."""

    name = "hyperscan"

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        import hyperscan

        exprs: list[bytes] = []
        flags: list[int] = []
        self._rule: list[int] = []  # pattern id → rule index
        for i, r in enumerate(rules):
            for low, ts in ((False, r.triggers), (True, r.caseless)):
                for t in ts:
                    exprs.append(t.encode())
                    flags.append(
                        hyperscan.HS_FLAG_SOM_LEFTMOST | (hyperscan.HS_FLAG_CASELESS if low else 0)
                    )
                    self._rule.append(i)
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(
            expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags
        )

    def find(self, view: str) -> Hits:
        out: Hits = {}
        rule = self._rule

        def on_match(pid: int, frm: int, _to: int, _flags: int, _ctx: object) -> None:
            out.setdefault(rule[pid], []).append(frm)

        self._db.scan(_encode(view), match_event_handler=on_match)
        return out


ENGINES: dict[str, type[ReEngine] | type[HyperscanEngine]] = {
    "re": ReEngine,
    "hyperscan": HyperscanEngine,
}
_engine_cache: dict[str, ReEngine | HyperscanEngine] = {}


def available_engines() -> list[str]:
    out = ["re"]
    try:
        get_engine("hyperscan")
        out.append("hyperscan")
    except ImportError:
        pass
    return out


def get_engine(name: str | None = None) -> ReEngine | HyperscanEngine:
    """The named engine, or the best one installed (hyperscan, else ``re``)."""
    if name is None:
        try:
            return get_engine("hyperscan")
        except ImportError:
            return get_engine("re")
    eng = _engine_cache.get(name)
    if eng is None:
        eng = _engine_cache[name] = ENGINES[name](RULES)
    return eng


# ---------------------------------------------------------------------------------------------


class ScanResult(NamedTuple):
    matches: list[Match]
    #: spans of the tokens already in the view, as ``TOKEN_RE.finditer`` finds them
    tokens: list[tuple[int, int]]
    #: the accounts the view names itself (in context or inside an ARN; empty when accounts are
    #: not masked): a bare 12-digit number equal to one is an account anywhere in the body
    accounts: frozenset[str]
    #: the names the view finds in context (:func:`repeat_names`): the body's first ones are
    #: masked anywhere in it
    names: dict[str, str]
    #: where the view holds ``"thinking"`` (the key of a thinking block's text, maybe), sorted
    thinking: list[int]


class Scanner:
    """Finds identifiers; configuration fixed at construction."""

    def __init__(
        self,
        *,
        disabled_types: Iterable[str] = (),
        allow_values: Iterable[str] = (),
        mask_public_ips: bool = False,
        engine: str | None = None,
    ) -> None:
        disabled = set(disabled_types)
        unknown = disabled - TYPE_NAMES
        if unknown:
            raise ValueError(f"unknown identifier types: {sorted(unknown)}")
        self.disabled = frozenset(disabled)
        self.allow = frozenset(allow_values)
        self.mask_public_ips = mask_public_ips and "PUBLIC_IP" not in self.disabled
        self.engine = get_engine(engine)
        #: rule index → verification, for the rules that can give an enabled type
        self._verify = {
            i: r.verify for i, r in enumerate(RULES) if any(t not in self.disabled for t in r.types)
        }

    @property
    def bare_accounts(self) -> bool:
        """Whether a bare 12-digit number can be an account (one named elsewhere in the body)."""
        return BARE in self._verify

    def scan_full(
        self,
        view: str,
        accounts: frozenset[str] = frozenset(),
        names: dict[str, str] | None = None,
    ) -> ScanResult:
        """The sorted, non-overlapping matches in ``view``, the spans of the tokens already in
        it, the accounts and the names it finds. Two rules read across a whole body, and a
        view that is a piece of one is given what they read elsewhere: ``accounts`` named
        elsewhere in the body (a bare 12-digit number equal to one is an account too), and
        ``names``: the body's names masked wherever they occur (its :func:`first_names`;
        ``None``: the view's own, as when it is the whole body). The scans of a body's pieces
        with these make the body's scan."""
        if not view:
            return ScanResult([], [], frozenset(), {}, [])
        hits = self.engine.find(view)
        bare = hits.pop(BARE, None)
        thinking = sorted(set(hits.pop(THINKING, ())))
        tokens = [(s, e) for s, e, _ in _verify_at(verify_token, view, hits.pop(TOKEN, []))]
        cands: list[Cand] = []
        for i, starts in hits.items():
            verify = self._verify.get(i)
            if verify is not None:
                cands += _verify_at(verify, view, starts)
        if self.mask_public_ips:
            cands += public_ips(view)
        own: frozenset[str] = frozenset()
        if self.bare_accounts:
            own = frozenset(known_accounts(view, cands))
            known = own | accounts
            if bare and known:
                bare = [h for h in bare if view[h : h + 12] in known]
                cands += _verify_at(verify_bare12, view, bare)
        own_names = repeat_names(view, cands)
        cands += _repeats(view, own_names if names is None else names)
        return ScanResult(self._resolve(view, cands, tokens), tokens, own, own_names, thinking)

    def _resolve(self, view: str, cands: list[Cand], tokens: list[tuple[int, int]]) -> list[Match]:
        """Sorted, non-overlapping matches from the candidates: at each start the longest; a
        candidate is dropped if glued to a word character before or a digit after, overlapping
        a token already in ``view``, disabled or allowed."""
        n = len(view)
        out: list[Match] = []
        disabled, allow, make = self.disabled, self.allow, Match._make
        last = 0
        k = 0  # tokens[:k] end at or before the current candidate's start
        # At a start the longest first. A repeated candidate needs no removing: after the first
        # one is taken it starts before ``last`` (no candidate is empty).
        for s, neg_e, t in sorted([(s, -e, t) for s, e, t in cands]):
            e = -neg_e
            if s < last or t in disabled:
                continue
            if (s > 0 and view[s - 1] in WORDCH) or (e < n and view[e] in DIGITS):
                continue
            while k < len(tokens) and tokens[k][1] <= s:
                k += 1
            if k < len(tokens) and tokens[k][0] < e:
                continue  # overlaps a token already in the text
            value = view[s:e]
            if value not in allow:
                out.append(make((s, e, t, value, _REVERSIBLE[t])))
                last = e
        return out


#: Types found by their context whose value, once found, is masked wherever else it occurs in the
#: same body (``"Bucket": "my-logs-01"`` and later ``"Location": "/my-logs-01"``)
REPEAT_TYPES = frozenset({"S3_BUCKET", "CF_DISTRIBUTION", "HOSTED_ZONE", "KMS_KEY", "EKS_OIDC"})
#: at most this many distinct values are looked for again (the first in sorted order): a search
#: each, so the scan stays linear
REPEAT_MAX = 16
_REPEAT_GLUE = frozenset(string.ascii_letters + string.digits + "_-")  # a longer name's


def _whole(view: str, i: int, j: int) -> bool:
    """Is ``view[i:j]`` a whole name: not glued to name characters, nor part of a dotted name
    (``x.name``, ``name.s3``)? A ``.`` that ends a sentence is fine."""
    if i > 0 and (view[i - 1] in _REPEAT_GLUE or view[i - 1] == "."):
        return False
    if j == len(view):
        return True
    c = view[j]
    return c not in _REPEAT_GLUE and (c != "." or j + 1 == len(view) or not view[j + 1].isalnum())


def repeat_names(view: str, cands: list[Cand]) -> dict[str, str]:
    """The values of :data:`REPEAT_TYPES` among the candidates (value → type; the least type
    name if one has two, as a UUID after ``bucket:`` and after ``key/``, so that the type does
    not depend on the order of the finds). A value shorter than 8 (``backup``, ``logs``) is as
    often a word as a name and is not looked for again; a longer one is, letters only too
    (``examplebucket``): a bucket's name is unique across AWS, seldom a plain word."""
    found: dict[str, str] = {}
    for s, e, t in cands:
        if t in REPEAT_TYPES and e - s >= 8:
            v = view[s:e]
            if t < found.get(v, "~"):
                found[v] = t
    return found


def first_names(names: dict[str, str]) -> dict[str, str]:
    """The names of ``names`` that are looked for again: the first :data:`REPEAT_MAX`, sorted."""
    return {v: names[v] for v in sorted(names)[:REPEAT_MAX]}


def _repeats(view: str, names: dict[str, str]) -> list[Cand]:
    """The occurrences in ``view``, as whole words, of the :func:`first_names` of ``names``
    (found in context by :func:`repeat_names`, in ``view`` or in the text it is part of)."""
    out: list[Cand] = []
    for v, t in first_names(names).items():
        i = view.find(v)
        while i >= 0:
            j = i + len(v)
            if _whole(view, i, j):
                out.append((i, j, t))
            i = view.find(v, j)
    return out


def _verify_at(verify: Verify, view: str, starts: list[int]) -> list[Cand]:
    """``verify`` at each trigger position, left to right; a position inside the previous find
    is skipped (it would find a part of it)."""
    out: list[Cand] = []
    done = -1
    for h in sorted(set(starts)):
        if h >= done:
            found = verify(view, h)
            if found:
                out += found
                done = found[-1][1]
    return out


#: bytes → ``0`` for an ASCII digit, a space for anything else
_DIGIT_CLASS = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))


def digit_runs(text: str, n: int) -> list[int]:
    """Starts of the runs of exactly ``n`` ASCII digits in ``text``.

    ``re`` has no fast search for ``[0-9]{12}`` (it tries every position), so the characters are
    mapped to ``0`` (digit) and space first; a run of ``n`` zeros is then a plain substring
    search.
    """
    t = _encode(text).translate(_DIGIT_CLASS)
    needle = b"0" * n
    out: list[int] = []
    i = t.find(needle)
    while i >= 0:
        j = i + n
        if (j == len(t) or t[j] != 0x30) and (i == 0 or t[i - 1] != 0x30):
            out.append(i)
        j = t.find(b" ", j)  # the end of this run
        if j < 0:
            break
        i = t.find(needle, j)
    return out
