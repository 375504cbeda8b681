"""Mask whole request bodies (decoded text): plan the replacements, then apply the tokens.

A JSON body is scanned once, in a *view* of the raw text that has the same length: every JSON
escape is replaced by characters of the same width that act like what it decodes to (``\\n`` →
two newlines, ``\\"`` and ``\\\\`` → two apostrophes, ``\\uXXXX`` → six ``\\x01``), so an ID
right after an escape is found, and a match never contains an escape, so its raw slice is its
value. Escapes that hide identifier characters (``\\/``, ``\\u00XX`` for ASCII) are rare: only the
strings that hold them are decoded and scanned exactly. So are strings whose text is JSON itself
(an OpenAI tool call's ``arguments``, a JSON file an agent writes), whose escapes are escaped
again (``\\\\n``, ``\\\\\\"``): decoded, their text is scanned as JSON in turn, so an ID at the
start of a line is not glued to the ``n`` of ``\\\\n`` and a quoted name reads as quoted. In the
view every remaining ``"`` is a string delimiter, which is how signed thinking text is located
(left byte-identical) and how an account ID written as a bare JSON number is spotted (its token
is written as a string). Base64 payloads never match a rule, so they pass unchanged.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence

from awsmasker.catalogue import Finding
from awsmasker.jsonview import (
    decode_string,
    raw_offsets,
    scan_view,
    text_view,
)
from awsmasker.scan_cache import Piece, ScanCache, closed, numbers, pieces
from awsmasker.scanner import Match, Scanner, ScanResult, first_names
from awsmasker.tokens import TOKEN_RE


class MaskingError(Exception):
    """The body could not be masked (it must not be forwarded)."""


_JSON_START = re.compile(r"[ \t\r\n]*[\[{]")
#: an escape of text that is JSON inside a JSON string (``\\\\n``, ``\\\\\\"``: an escaped
#: backslash, then the escape's letter); also a backslash before an ``n`` (a Windows path)
_NESTED = re.compile(r'\\\\[nrt"]')
#: the end of a key in JSON text inside a JSON string (its quote escaped once or more, a colon):
#: an account that is a bare number after it gets that quote around its token
_KEY_END = re.compile(r'(\\+")[ \t]*:[ \t]*\Z')
_THINK_KEY = re.compile(r'"thinking"[ \t\r\n]*:[ \t\r\n]*"')
_THINK_BEFORE = re.compile(
    r'"type"[ \t\r\n]*:[ \t\r\n]*"thinking"[ \t\r\n]*,[ \t\r\n]*'
    r'(?:"signature"[ \t\r\n]*:[ \t\r\n]*"[^"]*"[ \t\r\n]*,[ \t\r\n]*)?\Z'
)
_THINK_AFTER = re.compile(
    r'[ \t\r\n]*,[ \t\r\n]*(?:"signature"[ \t\r\n]*:[ \t\r\n]*"[^"]*"[ \t\r\n]*,[ \t\r\n]*)?'
    r'"type"[ \t\r\n]*:[ \t\r\n]*"thinking"'
)

class _Parity:
    """Is a position inside a JSON string? Each answer counts the quotes from the last position
    asked, or from the nearest one before it asked earlier: positions asked in increasing order
    take one pass over the view, and each further such run (thinking keys, strings to decode,
    accounts) at most one more."""

    def __init__(self, view: str) -> None:
        self.view = view
        self.marks = [0]  # positions asked, ascending (each beyond all before it)
        self.counts = [0]  # the quotes before each
        self.pos = self.count = 0  # the last position asked, and the quotes before it

    def inside(self, p: int) -> bool:
        i = bisect_right(self.marks, p) - 1
        pos, n = self.marks[i], self.counts[i]
        if pos < self.pos <= p:
            pos, n = self.pos, self.count
        n += self.view.count('"', pos, p)
        self.pos, self.count = p, n
        if p > self.marks[-1]:
            self.marks.append(p)
            self.counts.append(n)
        return n % 2 == 1


def _thinking_spans(view: str, keys: list[int], par: _Parity) -> list[tuple[int, int]]:
    """Raw spans of the ``thinking`` strings of thinking blocks (quotes included); ``keys``: where
    ``view`` holds ``"thinking"``, sorted (the scan finds them)."""
    spans: list[tuple[int, int]] = []
    end = 0  # a key inside the previous one's match is none (as ``finditer`` reads them)
    for k in keys:
        m = _THINK_KEY.match(view, k) if k >= end else None
        if m is None:
            continue
        end = m.end()
        if par.inside(k):
            continue
        vend = view.find('"', m.end())
        if vend < 0:
            break
        before = _THINK_BEFORE.search(view, max(0, k - 4096), k)
        if before or _THINK_AFTER.match(view, vend + 1):
            spans.append((m.end() - 1, vend + 1))
    return spans


def _outside(matches: list[Match], spans: list[tuple[int, int]]) -> list[Match]:
    """The matches (sorted, disjoint) that overlap none of the spans (sorted, disjoint): one walk
    over both, so many thinking blocks and many matches take linear time."""
    out: list[Match] = []
    k = 0
    for m in matches:
        while k < len(spans) and spans[k][1] <= m.start:
            k += 1
        if k == len(spans) or m.end <= spans[k][0]:
            out.append(m)
    return out


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
        #: (start, end, finding index, quote): the token is written between two ``quote``s (a
        #: JSON string's quotes, escaped as deep as the number it replaces was nested; "": bare)
        self.edits: list[tuple[int, int, int, str]] = []

    def __repr__(self) -> str:
        return (
            f"MaskPlan(findings={self.findings!r}, present_tokens={self.present_tokens!r}, "
            f"counts={self.counts!r})"
        )

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
            out.append(f"{quote}{tok}{quote}" if quote and json_quotes else tok)
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
                parts = [(0, _piece(text, self.scanner.scan_full(text_view(text)), {}))]
            elif self.cache is None:
                parts = [(0, self._piece_json(text))]
            else:
                parts = self._cached_parts(text, self.cache)
            return _build_plan(text, parts, self._findings)
        except Exception as e:
            raise MaskingError(f"masking failed: {type(e).__name__}: {e}") from e

    def _piece_json(
        self,
        raw: str,
        accounts: frozenset[str] = frozenset(),
        names: dict[str, str] | None = None,
        *,
        keep: bool = False,
    ) -> Piece:
        """The plan of the JSON text ``raw`` as a piece; ``accounts``, ``names``: what the rest
        of the body names (:meth:`Scanner.scan_full`). ``keep``: it goes into the cache (its
        12-digit numbers are noted)."""
        found, quoted = self._plan_json(raw, accounts, names)
        nums = numbers(raw) if keep and self.scanner.bare_accounts else frozenset()
        return _piece(raw, found, quoted, nums)

    def _cached_parts(self, text: str, cache: ScanCache) -> list[tuple[int, Piece]]:
        """(offset, piece) covering ``text``: the pieces seen before from the cache, the others
        scanned (and kept); the whole text scanned at once if it cannot be cut safely."""
        spans = pieces(text)
        if len(spans) < 2:
            return [(0, self._piece_json(text))]
        keys = cache.keys(text, spans)
        found, warm = cache.lookup(keys, [b - a for a, b in spans])
        if found is None:  # mostly not kept: one scan costs less than the pieces' scans
            for i in warm:  # pieces seen before: kept for the next sighting
                seg = text[spans[i][0] : spans[i][1]]
                if closed(seg):
                    cache.put(keys[i], self._piece_json(seg, keep=True))
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
        # Two rules read across the body (see Scanner.scan_full): accounts named in one piece
        # are accounts wherever the body holds them as 12 digits, and the body's first names
        # are masked wherever it holds them. A piece is scanned again with what the others name
        # when that can change its plan (and the result kept with it).
        named = frozenset().union(*(p.accounts for _, p in parts))
        body_names: dict[str, str] = {}
        for _, p in parts:
            for v, t in p.names.items():
                if t < body_names.get(v, "~"):  # the least type, as Scanner.scan_full takes it
                    body_names[v] = t
        used = first_names(body_names)
        for i, (a, p) in enumerate(parts):
            extra = p.needs(named)
            names = None if p.names_match(used, text, a, spans[i][1]) else used
            if not extra and names is None:
                continue
            context = (extra, None if names is None else tuple(names.items()))
            v = p.variants.get(context)
            if v is None:
                v = self._piece_json(text[a : spans[i][1]], extra, names)
                cache.add_variant(keys[i], context, v)
            parts[i] = (a, v)
        return parts

    def _plan_json(
        self,
        raw: str,
        accounts: frozenset[str] = frozenset(),
        names: dict[str, str] | None = None,
        *,
        nested: bool = False,
    ) -> tuple[ScanResult, dict[int, str]]:
        """The scan of ``raw`` (its matches, the spans of its tokens, what it names), and the
        starts of the matches whose token is written as a JSON string (accounts outside
        strings), with the quote to write around it. ``accounts``, ``names``: what the rest of
        the body names (:meth:`Scanner.scan_full`). ``nested``: ``raw`` is the text of a JSON
        string (thinking blocks in it are quoted text, not the API's signed ones)."""
        view, exact, same_tokens = scan_view(raw)
        found = self.scanner.scan_full(view, accounts, names)
        nested_at = [m.start() for m in _NESTED.finditer(raw)]
        if nested_at:
            exact = sorted(exact + nested_at)
        matches, tokens = found.matches, found.tokens
        if not same_tokens:
            tokens = [m.span() for m in TOKEN_RE.finditer(raw)]
        par = _Parity(view)
        protected = (_thinking_spans(view, found.thinking, par)
                     if self.keep_thinking and not nested else [])
        extra: list[Match] = []
        if exact:
            seen_end = -1
            k = 0  # protected[:k] end before the string at hand (strings come in order)
            for q in exact:
                if q < seen_end:
                    continue
                a = view.rfind('"', 0, q)
                b = view.find('"', q)
                if a < 0 or b < 0 or par.inside(a):
                    continue
                seen_end = b
                while k < len(protected) and protected[k][1] <= a:
                    k += 1
                if k < len(protected) and protected[k][0] <= b:
                    continue  # inside a thinking block
                extra.extend(self._scan_string(raw, a + 1, b, found.accounts | accounts))
        # In a string scanned again the view's matches stay where the exact scan found nothing
        # over them: a ``\\\\n`` may be a backslash and an "n" (a Windows path) as well as an
        # escaped line break, and the text is masked as either reading finds it.
        if protected or extra:
            matches = _outside(matches, sorted(protected + [(m.start, m.end) for m in extra]))
        if extra:
            matches = sorted(matches + extra)
        quoted: dict[int, str] = {}
        for m in matches:
            if m.type_name != "ACCOUNT":
                continue
            if not par.inside(m.start):
                quoted[m.start] = '"'
            elif key := _KEY_END.search(raw, max(0, m.start - 64), m.start):
                quoted[m.start] = key.group(1)  # a number in JSON text inside a string
        return found._replace(matches=matches, tokens=tokens), quoted

    def _scan_string(self, raw: str, a: int, b: int, accounts: frozenset[str]) -> list[Match]:
        """The scan of the JSON string raw[a:b], decoded, as JSON text of its own (its escapes,
        if it is JSON, read as the body's do, and its own strings with escapes are decoded in
        turn), with the accounts the body names (a bare 12-digit number equal to one is one
        here too); spans mapped back to raw offsets. A value is its text in the decoded string
        (one that crosses an escape of a string nested deeper keeps that escape). Each level of
        nesting doubles the backslashes, so text ``n`` long is decoded at most log2(n) times."""
        inside = raw[a:b]
        decoded = decode_string(inside)
        matches = self._plan_json(decoded, accounts, nested=True)[0].matches
        if not matches:
            return []
        offs = raw_offsets(inside, [p for m in matches for p in (m.start, m.end)])
        return [m._replace(start=a + offs[m.start], end=a + offs[m.end],
                           value=decoded[m.start : m.end]) for m in matches]


#: at most this many findings are remembered between plans (then they are all forgotten)
FINDINGS_KEPT = 4096


def _piece(
    text: str, found: ScanResult, quoted: dict[int, str], nums: frozenset[str] = frozenset()
) -> Piece:
    """The plan of ``text`` as a :class:`Piece`, from its scan ``found``: ``quoted`` maps the
    starts of the matches whose token is written as a JSON string to the quote; ``nums``: its
    12-digit numbers, if it is kept (see :class:`Piece`). A finding is kept as its first span:
    its value is that text, or for a match in a JSON string with escapes the decoded text
    (anything else would be a scanner bug: the body is refused)."""
    index: dict[tuple[str, str], int] = {}
    index_get = index.get
    finds: list[tuple[str, bool, int, int, bool]] = []
    edits: list[tuple[int, int, int, str]] = []
    append = edits.append
    counts: dict[str, int] = {}
    counts_get = counts.get
    for start, end, type_name, value, reversible in found.matches:
        key = (type_name, value)
        i = index_get(key)
        if i is None:
            i = index[key] = len(finds)
            decode = text[start:end] != value
            if decode and decode_string(text[start:end]) != value:
                raise MaskingError(f"a {type_name} finding is not the text at its span")
            finds.append((type_name, reversible, start, end, decode))
        counts[type_name] = counts_get(type_name, 0) + 1
        append((start, end, i, quoted.get(start, "")))
    return Piece(tuple(finds), tuple(edits), tuple(counts.items()), tuple(found.tokens),
                 found.accounts, nums, found.names)


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
                    value = decode_string(value)
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
