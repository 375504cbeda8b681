"""Mask whole request bodies (decoded text): plan the replacements, then apply the tokens.

JSON bodies are scanned in one pass over a *view* of the raw text that has the same length:
every JSON escape is replaced by characters of the same width that act like what it decodes to
(``\\n`` → two newlines, ``\\"`` → two apostrophes, ``\\uXXXX`` → six ``\\x01``), so an ID right
after an escape is found, and a match never contains an escape, so its raw slice is its value.
Escapes that hide identifier characters (``\\/``, ``\\u00XX`` for ASCII) are rare: only the
strings that hold them are decoded and scanned exactly. In the view every remaining ``"`` is a
string delimiter, which is how signed thinking text is located (left byte-identical) and how an
account ID written as a bare JSON number is spotted (its token is written as a string).
Base64 payloads never match a rule, so they pass unchanged.

With hyperscan the view is cheaper: the triggers are found in the raw text itself
(:meth:`Scanner.json_triggers_raw`, which also says whether it holds escaped backslashes); when
``\\"``, ``\\n`` and ``\\\\`` are the only escapes, as in most bodies, the escaped backslashes (if
any) and ``\\n`` are replaced and the view verified reads ``\\"`` as ``""`` (one one-character
replacement instead of another pass; same matches and same quote parity), else the JSON view is
made (from that text) and verified. That scan also finds the runs of 12 digits outside strings,
so no quotes are counted to tell a bare-number account, and whether escapes to decode may occur.

Two-character needles are replaced and searched with sre (:func:`_replacer`), not with
``str.replace``/``in``: those take about 1 ns a character for such a needle, sre half that.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from functools import partial

from awsmasker.scan_cache import Piece, ScanCache, closed, numbers, pieces
from awsmasker.scanner import (
    BARE_RULE,
    DECODE_KEY,
    ESCAPE_KEY,
    OUTSIDE12_KEY,
    SHORT_REACH,
    TOKEN_KEY,
    Hits,
    Match,
    Scanner,
)
from awsmasker.store.base import Finding
from awsmasker.tokens import TOKEN_RE


class MaskingError(Exception):
    """The body could not be masked (it must not be forwarded)."""


_JSON_START = re.compile(r"[ \t\r\n]*[\[{]")
_DIGITS12 = re.compile(r"[0-9]{12}")
_ESC_U = re.compile(r"\\u[0-9a-fA-F]{4}")
_NEEDS_DECODE = re.compile(r"\\(?:/|u00[0-7][0-9a-fA-F])")
_ESC_ANY = re.compile(r"\\(u[0-9a-fA-F]{4}|.)", re.S)
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}
_THINK_KEY = re.compile(r'"thinking"[ \t\r\n]*:[ \t\r\n]*"')
_THINK_BEFORE = re.compile(
    r'"type"[ \t\r\n]*:[ \t\r\n]*"thinking"[ \t\r\n]*,[ \t\r\n]*'
    r'(?:"signature"[ \t\r\n]*:[ \t\r\n]*"[^"]*"[ \t\r\n]*,[ \t\r\n]*)?\Z'
)
_THINK_AFTER = re.compile(
    r'[ \t\r\n]*,[ \t\r\n]*(?:"signature"[ \t\r\n]*:[ \t\r\n]*"[^"]*"[ \t\r\n]*,[ \t\r\n]*)?'
    r'"type"[ \t\r\n]*:[ \t\r\n]*"thinking"'
)


def _replacer(old: str, new: str) -> Callable[[str], str]:
    """``lambda text: text.replace(old, new)`` (``new`` holds no backslash), faster on long text
    for a two-character ``old``: CPython's search for such a needle skips at most three
    characters at a time, sre's scans for the first one (a backslash) in a tight loop."""
    return partial(re.compile(re.escape(old)).sub, new)


_SUB_NL = _replacer("\\n", "\n\n")
_SUB_QUOTE = _replacer('\\"', "''")
_SUB_PAIR = _replacer("\\\\", "\x01\x01")
# whether a two-character needle occurs, for the same reason (``in`` costs a slow pass when it
# does not)
_HAS_PAIR = re.compile(r"\\\\").search
_HAS_U = re.compile(r"\\u").search

_VIEW_REPLACE = (
    ("\\n", "\n\n"),
    ('\\"', "''"),
    ("\\t", "\t\t"),
    ("\\r", "\r\r"),
    ("\\/", "\x01\x01"),
    ("\\b", "\x01\x01"),
    ("\\f", "\x01\x01"),
)
#: escape letter → the replacement of that escape, for the rarer escapes
_RARE_VIEW = {esc[1]: _replacer(esc, rep) for esc, rep in _VIEW_REPLACE[2:]}


def json_view(raw: str) -> tuple[str, list[int]]:
    """Same-length scan view of raw JSON, and positions of escapes that need exact decoding."""
    view, exact, _ = _json_view(raw)
    return view, exact


def _json_view(
    raw: str,
    given: list[str] | None = None,
    *,
    pairs_done: bool = False,
    no_pairs: bool = False,
    decode: bool = True,
) -> tuple[str, list[int], bool]:
    """:func:`json_view`, and whether the view holds the raw text's tokens at the same spans
    (false when a ``\\uXXXX`` escape was blanked: its hex digits could start or end one).

    ``given``: a list holding ``raw`` with ``\\n`` replaced, if already made. It is taken out of
    the list so that the only reference is here: each replacement below then frees the text
    before it, whose memory the next one reuses (a megabyte more held costs its page faults).
    ``pairs_done``: ``given`` had its escaped backslashes replaced (by two ``\\x01``) first.
    ``no_pairs``: ``raw`` is known to hold no escaped backslash. ``decode``: False if ``raw`` is
    known to hold no escape that needs exact decoding.
    """
    v = given.pop() if given else None
    if "\\" not in raw:
        return raw, [], True
    # Fast path: most bodies hold only ``\n`` and ``\"``. Searching for a one-character needle is
    # memchr-fast while every two-character search costs a full pass, so replace those two first
    # and check for a leftover backslash; an escaped backslash always leaves one (its first half
    # is never followed by ``n`` or ``"``), so no leftover means the view is complete and exact.
    if v is None:
        v = _SUB_NL(raw)
    if "\\" in v:
        v = _SUB_QUOTE(v)
    if "\\" not in v:
        return v, [], True
    if not (pairs_done or no_pairs) and _HAS_PAIR(raw):  # escaped backslashes go first: redo
        v = _SUB_QUOTE(_SUB_NL(_SUB_PAIR(raw)))
    # only backslashes that each start an escape are left (escaped backslashes went first)
    exact = [m.start() for m in _NEEDS_DECODE.finditer(v)] if decode else []
    has_u = _HAS_U(v) is not None
    if has_u:
        v = _ESC_U.sub("\x01" * 6, v)
    # the rare escapes, kind by kind as found: each kind costs one replace pass
    i = v.find("\\")
    skipped = 0
    while i >= 0 and skipped < 64:
        sub = _RARE_VIEW.get(v[i + 1 : i + 2])
        if sub is None:  # not a valid escape (invalid JSON): leave it
            skipped += 1
            i = v.find("\\", i + 1)
        else:
            v = sub(v)
            i = v.find("\\", i)
    if i >= 0:  # many invalid escapes: finish with one pass per kind
        for sub in _RARE_VIEW.values():
            v = sub(v)
    return v, exact, not has_u


#: Trigger keys that need no window in a sparse view: token starts (a token holds no escape and
#: ends at one alike in the raw text and the view) and what is read only where an account was
#: found (bare 12-digit runs, those outside strings) or not at all on the escape-free path.
_NO_WINDOW = frozenset({TOKEN_KEY, BARE_RULE, OUTSIDE12_KEY, DECODE_KEY})
#: More triggers than this: the whole view costs about as much as the windows.
_SPARSE_MAX_WINDOWS = 16


def _sparse_view(raw: str, hits: Hits) -> str | None:
    """The escape-free JSON view (only ``\\"``, ``\\n`` and ``\\\\`` escapes) of ``raw``, made
    only where the verifications will read it, or None if the whole view is needed.

    That is when only rules with a short reach (``SHORT_REACH``) fired, few times, and no
    ``"thinking"`` key is there: each window ``[h - back, h + after]`` around a trigger is
    converted as the whole view would be, everything else stays raw. A window's ends are moved
    off any escape they would split, so its conversion equals that slice of the whole view. A
    body with an identifier or two then skips two replacement passes over all of it.
    """
    spans: list[tuple[int, int]] = []
    for key, starts in hits.items():
        reach = SHORT_REACH.get(key)
        if reach is None:
            if key in _NO_WINDOW:
                continue
            return None
        if len(spans) + len(starts) > _SPARSE_MAX_WINDOWS:
            return None
        back, after = reach
        for h in starts:
            spans.append((h - back, h + after))
    if not spans:
        return raw  # nothing to verify; tokens are found alike in the raw text
    spans.sort()
    n = len(raw)
    parts: list[str] = []
    pos = 0  # raw[:pos] is done
    for a, b in spans:
        a = _escape_boundary(raw, max(a, pos), before=True)
        b = _escape_boundary(raw, min(b, n), before=False)
        if a < pos:  # overlaps the window before: convert from where it ended
            a = pos
        if b <= a:
            continue
        window = raw[a:b]
        if "\\" in window:  # as the whole view: pairs first, then \n, then \" reads ""
            window = window.replace("\\\\", "\x01\x01").replace("\\n", "\n\n").replace("\\", '"')
        parts.append(raw[pos:a])
        parts.append(window)
        pos = b
    parts.append(raw[pos:])
    return "".join(parts)


def _escape_boundary(raw: str, i: int, *, before: bool) -> int:
    """``i``, or the nearest position off the two-character escape it would split: the start of
    that escape (``before``) or its end. A run of backslashes pairs from its start."""
    if i == 0 or raw[i - 1] != "\\":  # the usual case
        return i
    j = i - 1
    while j > 0 and raw[j - 1] == "\\":
        j -= 1
    if (i - j) % 2 == 0:  # the backslashes before i pair up: i starts an escape or none
        return i
    return i - 1 if before else min(i + 1, len(raw))


def decode_with_offsets(raw: str) -> tuple[str, list[int]]:
    """Decode the inside of a JSON string; ``offs[i]`` is the raw offset of decoded char ``i``."""
    parts: list[str] = []
    offs: list[int] = []
    pos = 0
    for m in _ESC_ANY.finditer(raw):
        parts.append(raw[pos : m.start()])
        offs.extend(range(pos, m.start()))
        g = m.group(1)
        parts.append(chr(int(g[1:], 16)) if len(g) == 5 else _SIMPLE.get(g, g))
        offs.append(m.start())
        pos = m.end()
    parts.append(raw[pos:])
    offs.extend(range(pos, len(raw) + 1))
    return "".join(parts), offs


class _Parity:
    """Is a position inside a JSON string? Positions must be asked in increasing order."""

    def __init__(self, view: str) -> None:
        self.view = view
        self.pos = 0
        self.count = 0

    def inside(self, p: int) -> bool:
        if p < self.pos:
            self.pos, self.count = 0, 0
        self.count += self.view.count('"', self.pos, p)
        self.pos = p
        return self.count % 2 == 1


def _thinking_spans(view: str) -> list[tuple[int, int]]:
    """Raw spans of the ``thinking`` strings of thinking blocks (quotes included)."""
    spans: list[tuple[int, int]] = []
    par = _Parity(view)
    for m in _THINK_KEY.finditer(view):
        k = m.start()
        if par.inside(k):
            continue
        vend = view.find('"', m.end())
        if vend < 0:
            break
        before = _THINK_BEFORE.search(view, max(0, k - 4096), k)
        if before or _THINK_AFTER.match(view, vend + 1):
            spans.append((m.end() - 1, vend + 1))
    return spans


def _overlaps(spans: list[tuple[int, int]], s: int, e: int) -> bool:
    return any(a < e and s < b for a, b in spans)


class MaskPlan:
    """What to replace in ``text``; :meth:`apply` writes the tokens in.

    A plain class with slots: one is made per request body.
    """

    __slots__ = ("counts", "edits", "findings", "present_tokens", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        #: distinct identifiers, in order of first occurrence
        self.findings: list[Finding] = []
        #: tokens already in the text, each once
        self.present_tokens: list[str] = []
        #: occurrences by type
        self.counts: dict[str, int] = {}
        #: (start, end, finding index, quote): quote writes the token as a JSON string
        self.edits: list[tuple[int, int, int, bool]] = []

    def __repr__(self) -> str:
        return (f"MaskPlan(findings={self.findings!r}, present_tokens={self.present_tokens!r}, "
                f"counts={self.counts!r})")

    def apply(self, tokens: Sequence[str], *, json_quotes: bool = True) -> str:
        """The masked text; ``tokens[i]`` replaces ``findings[i]``.

        ``json_quotes=False`` writes every token bare, also where an account ID was a bare JSON
        number: the text is then not valid JSON there, but putting the originals back in place
        of the tokens gives the input again byte for byte (the command line's promise).
        """
        if len(tokens) != len(self.findings):
            raise MaskingError(f"expected {len(self.findings)} tokens, got {len(tokens)}")
        if not self.edits:
            return self.text
        out: list[str] = []
        pos = 0
        text = self.text
        for start, end, index, quote in self.edits:
            out.append(text[pos:start])
            tok = tokens[index]
            out.append(f'"{tok}"' if quote and json_quotes else tok)
            pos = end
        out.append(text[pos:])
        return "".join(out)


class Masker:
    def __init__(
        self,
        *,
        disabled_types: Iterable[str] = (),
        allow_values: Iterable[str] = (),
        mask_public_ips: bool = False,
        engine: str | None = None,
        keep_thinking: bool = True,
        scan_cache_bytes: int = 0,
    ) -> None:
        """``keep_thinking``: leave the text of thinking blocks unmasked. The proxy must (the API
        checks each block against its signature); text pasted elsewhere has no such reason.
        ``scan_cache_bytes``: remember the findings of the pieces of JSON bodies, up to about
        this many bytes, and scan only the pieces not seen before (0: scan every body whole;
        see :mod:`awsmasker.scan_cache`)."""
        self.keep_thinking = keep_thinking
        self.cache = ScanCache(scan_cache_bytes) if scan_cache_bytes > 0 else None
        self.scanner = Scanner(
            disabled_types=disabled_types,
            allow_values=allow_values,
            mask_public_ips=mask_public_ips,
            engine=engine,
        )
        #: findings of earlier plans by (type, value): a conversation resends its identifiers
        #: with every request, and a finding costs more to make than to look up
        self._findings: dict[tuple[str, str], Finding] = {}

    def plan(self, text: str, *, is_json: bool | None = None) -> MaskPlan:
        """Find what to replace in ``text`` (``is_json=None``: sniff)."""
        try:
            if is_json is None:
                is_json = _JSON_START.match(text) is not None
            if not is_json:
                matches, tokens, _, accounts = self.scanner.scan_full(text)
                parts = [(0, _piece(text, matches, set(), tokens, accounts))]
            elif self.cache is None:
                parts = [(0, self._piece_json(text))]
            else:
                parts = self._cached_parts(text, self.cache)
            return _build_plan(text, parts, self._findings)
        except Exception as e:
            raise MaskingError(f"masking failed: {type(e).__name__}: {e}") from e

    def _piece_json(self, raw: str, accounts: frozenset[str] = frozenset(), *,
                    keep: bool = False) -> Piece:
        """The plan of the JSON text ``raw`` as a piece; ``accounts``: named elsewhere in the
        body. ``keep``: it goes into the cache (its 12-digit numbers are noted)."""
        matches, quoted, tokens, own = self._plan_json(raw, accounts)
        nums = numbers(raw) if keep and self.scanner.bare_accounts else frozenset()
        return _piece(raw, matches, quoted, tokens, own, nums)

    def _cached_parts(self, text: str, cache: ScanCache) -> list[tuple[int, Piece]]:
        """(offset, piece) covering ``text``: the pieces seen before from the cache, the others
        scanned (and kept); the whole text scanned at once if it cannot be cut safely."""
        spans = pieces(text)
        if len(spans) < 2:
            return [(0, self._piece_json(text))]
        keys = cache.keys(text, spans)
        found = cache.lookup(keys)
        if found is None:  # nothing seen before: one scan costs less than the pieces' scans
            return [(0, self._piece_json(text))]
        parts: list[tuple[int, Piece]] = []
        for (a, b), key, p in zip(spans, keys, found, strict=True):
            if p is None:
                seg = text[a:b]
                if not closed(seg):  # not valid JSON there: scan the body as one
                    return [(0, self._piece_json(text))]
                p = self._piece_json(seg, keep=True)
                cache.put(key, p)
            parts.append((a, p))
        named = frozenset().union(*(p.accounts for _, p in parts))
        if named:  # accounts named in one piece are accounts wherever the body holds them
            for i, (a, p) in enumerate(parts):
                extra = p.needs(named)
                if extra:
                    v = p.variants.get(extra)
                    if v is None:
                        v = self._piece_json(text[a:spans[i][1]], extra)
                        cache.add_variant(keys[i], extra, v)
                    parts[i] = (a, v)
        return parts

    def _plan_json(
        self, raw: str, accounts: frozenset[str] = frozenset()
    ) -> tuple[list[Match], set[int], list[tuple[int, int]] | None, frozenset[str]]:
        """Matches, the starts of those whose token is written as a JSON string (accounts
        outside strings), the spans of the tokens in ``raw`` if the scan of the view gave
        them, and the accounts ``raw`` names (:attr:`ScanResult.accounts`). ``accounts``: those
        named elsewhere in the body."""
        # The scanner can find the triggers in the raw body (no pass over it first); the usual
        # body holds only ``\\n``, ``\\"`` and maybe ``\\\\`` escapes, and then, once the escaped
        # backslashes and ``\\n`` are replaced, a one-character replacement makes a view that
        # reads ``\\"`` as ``""``: the same matches as the JSON view (no pattern tells ``"``
        # from ``'`` and no match holds either) and the same quote parity outside the pair.
        found = self.scanner.json_triggers_raw(raw) if "\\" in raw else None
        hits = None
        pairs_done = no_pairs = False
        if found is None:
            v = _SUB_NL(raw) if "\\" in raw else raw
        else:
            hits, pair = found
            del found
            if ESCAPE_KEY not in hits and not self.scanner.mask_public_ips and not accounts:
                sparse = _sparse_view(raw, hits)
                if sparse is not None:
                    matches, tokens, _, own = self.scanner.scan_hits(sparse, hits)
                    return matches, set(), tokens, own  # no account: none to quote
            pairs_done = pair >= 0
            no_pairs = not pairs_done
            if no_pairs:
                v = _SUB_NL(raw)
            elif pair > len(raw) // 2:  # none before ``pair``: only the rest needs two passes
                v = _SUB_NL(raw[:pair])
                v += _SUB_NL(_SUB_PAIR(raw[pair:]))
            else:
                v = _SUB_NL(_SUB_PAIR(raw))
        if hits is not None and ESCAPE_KEY not in hits:
            view, exact, same_tokens = v.replace("\\", '"'), [], True
            matches, tokens, thinking, own = self.scanner.scan_hits(view, hits, accounts)
            if thinking:  # maybe only here (an escaped quote before it): look in the JSON view
                del view  # first, so that the JSON view can reuse its memory
                view = _SUB_QUOTE(v)
                thinking = '"thinking"' in view
            del v
        else:
            given = [v]
            del v
            view, exact, same_tokens = _json_view(
                raw,
                given,
                pairs_done=pairs_done,
                no_pairs=no_pairs,
                decode=hits is None or DECODE_KEY in hits,
            )
            if hits is not None:
                matches, tokens, thinking, own = self.scanner.scan_hits(view, hits, accounts)
            else:
                matches, tokens, thinking, own = self.scanner.scan_full(view, accounts)
            if thinking is not False:
                thinking = '"thinking"' in view
        protected = _thinking_spans(view) if thinking and self.keep_thinking else []
        decoded_strings: list[tuple[int, int]] = []
        extra: list[Match] = []
        if exact:
            par = _Parity(view)
            seen_end = -1
            for q in exact:
                if q < seen_end:
                    continue
                a = view.rfind('"', 0, q)
                b = view.find('"', q)
                if a < 0 or b < 0 or par.inside(a):
                    continue
                seen_end = b
                if _overlaps(protected, a, b + 1):
                    continue
                decoded_strings.append((a, b + 1))
                extra.extend(self._scan_string(raw, a + 1, b))
        if protected or decoded_strings:
            skip = protected + decoded_strings
            matches = [m for m in matches if not _overlaps(skip, m.start, m.end)]
        if extra:
            matches = sorted(matches + extra)
        accounts = [m.start for m in matches if m.type_name == "ACCOUNT"]
        if hits is not None and all(_DIGITS12.match(view, a) for a in accounts):
            # the scan of the raw body found the runs of 12 digits outside strings (the same
            # quote parity as the view's; no count of the quotes before each account)
            outside = set(hits.get(OUTSIDE12_KEY, ()))
            quoted = {a for a in accounts if a in outside}
        else:
            par = _Parity(view)
            quoted = {a for a in accounts if not par.inside(a)}
        return matches, quoted, tokens if same_tokens else None, own

    def _scan_string(self, raw: str, a: int, b: int) -> list[Match]:
        """Exact scan of the decoded JSON string raw[a:b]; spans mapped back to raw offsets."""
        decoded, offs = decode_with_offsets(raw[a:b])
        out = []
        for m in self.scanner.scan(decoded):
            out.append(m._replace(start=a + offs[m.start], end=a + offs[m.end]))
        return out


#: at most this many findings are remembered between plans (then they are all forgotten)
FINDINGS_KEPT = 4096


def _piece(
    text: str,
    matches: list[Match],
    quoted: set[int],
    tokens: list[tuple[int, int]] | None,
    accounts: frozenset[str],
    nums: frozenset[str] = frozenset(),
) -> Piece:
    """The plan of ``text`` as a :class:`Piece`: ``quoted`` holds the starts of the matches
    whose token is written as a JSON string; ``tokens`` are the spans of the tokens in
    ``text`` (``None``: find them). A finding is kept as its first span: its value is that
    text, or for a match in a JSON string with escapes the decoded text (anything else would
    be a scanner bug: the body is refused)."""
    index: dict[tuple[str, str], int] = {}
    index_get = index.get
    finds: list[tuple[str, bool, int, int, bool]] = []
    edits: list[tuple[int, int, int, bool]] = []
    append = edits.append
    counts: dict[str, int] = {}
    counts_get = counts.get
    for start, end, type_name, value, reversible in matches:
        key = (type_name, value)
        i = index_get(key)
        if i is None:
            i = index[key] = len(finds)
            decode = text[start:end] != value
            if decode and decode_with_offsets(text[start:end])[0] != value:
                raise MaskingError(f"a {type_name} finding is not the text at its span")
            finds.append((type_name, reversible, start, end, decode))
        counts[type_name] = counts_get(type_name, 0) + 1
        append((start, end, i, start in quoted))
    if tokens is None:
        tokens = [m.span() for m in TOKEN_RE.finditer(text)]
    return Piece(tuple(finds), tuple(edits), tuple(counts.items()), tuple(tokens), accounts,
                 nums)


def _build_plan(
    text: str, parts: list[tuple[int, Piece]], kept: dict[tuple[str, str], Finding]
) -> MaskPlan:
    """The plan of ``text`` from its pieces, each at its offset (in order, not overlapping);
    ``kept`` holds findings of earlier plans (reversible ones only: no secret outlives its
    request)."""
    plan = MaskPlan(text=text)
    index: dict[tuple[str, str], int] = {}
    index_get = index.get
    kept_get = kept.get
    counts = plan.counts
    counts_get = counts.get
    findings = plan.findings
    edits = plan.edits
    present: dict[str, None] = {}
    for off, p in parts:
        if p.finds:
            glob: list[int] = []
            for type_name, reversible, start, end, decode in p.finds:
                value = text[off + start : off + end]
                if decode:
                    value = decode_with_offsets(value)[0]
                key = (type_name, value)
                i = index_get(key)
                if i is None:
                    i = index[key] = len(findings)
                    f = kept_get(key)
                    if f is None:
                        f = Finding(type_name, value, reversible)
                        if reversible:
                            if len(kept) >= FINDINGS_KEPT:
                                kept.clear()
                            kept[key] = f
                    findings.append(f)
                glob.append(i)
            if off:
                edits += [(s + off, e + off, glob[i], q) for s, e, i, q in p.edits]
            else:
                edits += [(s, e, glob[i], q) for s, e, i, q in p.edits]
            for type_name, n in p.counts:
                counts[type_name] = counts_get(type_name, 0) + n
        for s, e in p.tokens:
            present[text[off + s : off + e]] = None
    plan.present_tokens = list(present)
    return plan
