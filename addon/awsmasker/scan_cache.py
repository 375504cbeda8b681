"""What the masker remembers of request bodies it has scanned: the findings of each piece of
JSON, by a digest of its exact text, so that a conversation re-sent every turn is scanned only
where it is new (the ``scan_cache_bytes`` setting).

**Pieces.** A JSON body is cut before objects whose first key is ``"type"`` or ``"role"``
(messages, content blocks), at least :data:`MIN_PIECE` characters apart. In valid JSON such a
cut is never inside a string: the ``"`` after ``{`` there is unescaped, and had it closed a
string, a letter could not follow it. A piece's scan then sees what the whole body's scan sees
there: a scan starts outside a string at a piece's start as at the cut, no rule reads across a
``{"`` (none matches, or looks back or ahead over, both characters), and a piece of invalid
JSON is caught by its quotes (an odd count of unescaped ``"``: the body is scanned whole). A
piece that ends in the key ``"cache_control":`` (its value is the object at the next cut) ends
before it, and then at its last ``"`` when only brackets, commas, colons and white space follow
(they can take part in no match), so a content block is the same piece whether or not the
cache breakpoint is on it, as when the breakpoint moves to the newest message.

**Across pieces.** Two rules read the whole body (:meth:`awsmasker.scanner.Scanner.scan_full`):
a bare 12-digit number is an account when the body names that account elsewhere (in context or
in an ARN), and a name found in context (a bucket, a KMS key…) is masked wherever else the body
holds it, for the body's first :data:`~awsmasker.scanner.REPEAT_MAX` names in sorted order.
Each piece keeps the accounts and names it finds and its runs of 12 digits; a piece that holds
an account named only elsewhere, or whose names are not the body's first ones where it holds
them, is scanned again with what the body names (and that result is kept with it). The output
is the whole body's plan, byte for byte (``tests/test_scan_cache.py`` checks this on edited,
compacted, reordered conversations).

**What is kept.** Per piece: the spans and types of its findings (a value is read from the
request that carries it, so no secret is kept, not even a hash), the spans of tokens already in
it, the accounts and names it finds and its 12-digit numbers (for the rules above), and the
body's first names it was last checked against (names, like its own), under a salted SHA-256
digest of its text. Least recently used pieces are dropped past ``max_bytes`` (their estimated
size); a restart costs a conversation two whole scans and its pieces' scans once (see
:class:`ScanCache`).
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections import OrderedDict

from awsmasker.scanner import first_names

#: where a piece starts: an object whose first key is "type" or "role"
_OBJECT = re.compile(r'\{"(?:type|role)"[ \t\r\n]*:')
#: the key of a cache breakpoint, as compact JSON and Python's ``json.dumps`` write it: when a
#: piece ends in it (its value is an object led by "type"), it is left out of the piece
_CACHE_CONTROL = (',"cache_control":', ', "cache_control": ')
#: what may follow a piece's last ``"`` and be left out of it
_STRUCTURE = " \t\r\n[]{},:"
_PAIRS = re.compile(r"\\\\")
_DIGIT_CLASS = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_TWELVE = b"0" * 12
#: a body scanned whole scans at most this share of its text more (and one piece) on its own,
#: to keep the pieces it holds that were seen before
WARM_SHARE = 16
#: a cut closer than this to the piece's start is skipped (each piece costs a lookup, and a
#: turn of an agent, its call and the result, is then one piece)
MIN_PIECE = 1024


def pieces(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each piece of ``text``. They cover it but for what is left out at a
    piece's end: a ``"cache_control"`` key, and after its last ``"`` brackets, commas, colons
    and white space (none of which can take part in a match). A text shorter than two pieces is
    one, as it is."""
    n = len(text)
    if n < 2 * MIN_PIECE:
        return [(0, n)]
    out: list[tuple[int, int]] = []
    a = 0
    pos = MIN_PIECE
    # No match of _OBJECT starts inside another (only its first character is a "{"): the next
    # cut is the first match at or after both the piece's minimum end and the last match.
    while (m := _OBJECT.search(text, pos)) is not None:
        c = m.start()
        out.append((a, _end(text, a, c)))
        a = c
        pos = max(m.end(), c + MIN_PIECE)
    out.append((a, _end(text, a, n)))
    return out


def _end(text: str, a: int, c: int) -> int:
    """Where the piece ``text[a:c]`` ends once the end above is left out."""
    for key in _CACHE_CONTROL:
        if text.endswith(key, a, c):
            c -= len(key)
            break
    end = text.rfind('"', a, c) + 1
    if end <= a or text[end:c].strip(_STRUCTURE):
        return c
    return end


def closed(piece: str) -> bool:
    """Whether ``piece`` ends outside a JSON string when read from its start: an even count of
    unescaped ``"`` (a backslash escapes what follows it; runs of them pair up from the start)."""
    if piece.endswith("\\"):
        return False
    n = piece.count('"')
    if "\\" in piece:
        n -= _PAIRS.sub("", piece).count('\\"')
    return n % 2 == 0


class Piece:
    """The masking plan of one piece, in its own coordinates, without values.

    ``finds``: (type, reversible, start, end, decode) per distinct finding in order of first
    occurrence, ``start:end`` its first occurrence (``decode``: a JSON string's escaped text,
    to decode). ``edits``: (start, end, index in ``finds``, the quote written around its
    token, "" for none). ``counts``: (type, n) in order of first occurrence. ``tokens``: spans of
    tokens already there. ``accounts``: the accounts it names; ``numbers``: every 12 digits in a
    row in it; ``names``: the names it finds in context (value → type,
    :func:`awsmasker.scanner.repeat_names`).
    """

    __slots__ = ("accounts", "counts", "edits", "finds", "matched", "names", "nbytes", "numbers",
                 "tokens", "variants")

    def __init__(self, finds: tuple, edits: tuple, counts: tuple, tokens: tuple,
                 accounts: frozenset[str], numbers: frozenset[str],
                 names: dict[str, str]) -> None:
        self.finds = finds
        self.edits = edits
        self.counts = counts
        self.tokens = tokens
        self.accounts = accounts
        self.numbers = numbers
        self.names = names
        #: the last answer of :meth:`names_match`: (its ``used``, the answer); a session's
        #: bodies usually have the same first names, and its text is not read again
        self.matched: tuple[dict[str, str], bool] | None = None
        #: this piece scanned with what other pieces name, (accounts of ``numbers``, the
        #: body's first names or None: its own) → its plan
        self.variants: dict[tuple, Piece] = {}
        #: its size, once kept (see :meth:`ScanCache.put`)
        self.nbytes = 0

    def needs(self, accounts: frozenset[str]) -> frozenset[str]:
        """The accounts of ``accounts`` (named in the body) that this piece holds as 12 digits
        but does not name itself: with them its scan may find more."""
        if not self.numbers:
            return frozenset()
        return (accounts & self.numbers) - self.accounts

    def names_match(self, used: dict[str, str], text: str, a: int, b: int) -> bool:
        """Whether the piece, ``text[a:b]``, has the plan it would have with ``used`` (the
        body's first names, :func:`awsmasker.scanner.first_names`) in place of its own first
        names: they are all in ``used``, with their type, and no other name of ``used`` is in
        its text (a name in the JSON view is the same text in the raw piece: no escape turns
        into a name's characters). When the last answer, for other names, was yes, the names it
        looked for are not in the text: only the names new to ``used`` are looked for."""
        last = self.matched
        if last is not None and last[0] == used:
            return last[1]
        own = first_names(self.names)
        ok = own.items() <= used.items()
        if ok:
            absent = used.keys() - own.keys()
            if last is not None and last[1]:
                absent -= last[0].keys()
            ok = not any(text.find(v, a, b) >= 0 for v in absent)
        self.matched = (used, ok)
        return ok


def numbers(text: str) -> frozenset[str]:
    """Every 12 digits in a row in ``text`` (also inside longer runs: a JSON escape before
    digits, ``\\u0041``, ends in hex digits)."""
    # digits → "0", the rest → " ": a run of 12 digits is then a plain substring search
    classes = text.encode("latin-1", "replace").translate(_DIGIT_CLASS)
    out: set[str] = set()
    i = classes.find(_TWELVE)
    while i >= 0:
        j = classes.find(b" ", i)
        j = len(classes) if j < 0 else j
        out.update(text[k : k + 12] for k in range(i, j - 11))
        i = classes.find(_TWELVE, j)
    return frozenset(out)


def _size(p: Piece) -> int:
    """About how many bytes ``p`` holds (its containers and their tuples; type names are
    shared)."""
    n = sys.getsizeof(p) + 4 * sys.getsizeof(())
    for group in (p.finds, p.edits, p.counts, p.tokens):
        n += sys.getsizeof(group) + sum(sys.getsizeof(t) + 3 * 32 for t in group)
    for group in (p.accounts, p.numbers):
        n += sys.getsizeof(group) + 61 * len(group)
    n += sys.getsizeof(p.names) + sum(sys.getsizeof(v) for v in p.names)  # types are shared
    return n + _MATCHED_BYTES + sys.getsizeof(p.variants)


#: what :attr:`Piece.matched` holds (its names are the body's, shared by its pieces)
_MATCHED_BYTES = sys.getsizeof(({}, True))


#: what a piece seen once costs (its key, in the table)
SEEN_BYTES = sys.getsizeof(b"x" * 32) + 64


class ScanCache:
    """Pieces by a salted digest of their text, least recently used dropped past ``max_bytes``.
    The salt is per process: the keys say nothing outside it.

    A body is planned piece by piece when at least half of its text is in pieces kept (a
    conversation re-sent with a new turn): the others are scanned on their own, and kept.
    Otherwise it is scanned whole, which costs less than its pieces one by one: its pieces not
    seen before are noted as seen, and those seen before (a second sighting), up to
    1/:data:`WARM_SHARE` of its text and one piece more, are scanned on their own and kept. So a
    conversation's pieces are kept within a few turns (its first piece, often a long system
    prompt, on its second request), while a body never costs much more than one whole scan, as
    when known messages come in new mixes (pieces that recur, but rarely with the same
    neighbours, and whose scans and rescans one by one cost more than the body's one scan).
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        #: key → its piece, or None: seen once
        self._entries: OrderedDict[bytes, Piece | None] = OrderedDict()
        self._salted = hashlib.sha256(os.urandom(32))

    def __len__(self) -> int:
        return len(self._entries)

    def keys(self, text: str, spans: list[tuple[int, int]]) -> list[bytes]:
        """The key of each piece ``text[a:b]``: the digest of its UTF-8 bytes."""
        data = text.encode("utf-8", "surrogatepass")
        if len(data) == len(text):  # ASCII: a piece's bytes are a slice, no copy
            view = memoryview(data)
            return [self._digest(view[a:b]) for a, b in spans]
        return [self._digest(text[a:b].encode("utf-8", "surrogatepass")) for a, b in spans]

    def _digest(self, data: bytes | memoryview) -> bytes:
        h = self._salted.copy()
        h.update(data)
        return h.digest()

    def lookup(
        self, keys: list[bytes], sizes: list[int]
    ) -> tuple[list[Piece | None] | None, list[int]]:
        """``(pieces, [])``: the piece of each key (None: to scan), when at least half of the
        body's text (``sizes``: each piece's length) is in pieces kept; else ``(None, warm)``:
        the body is to be scanned whole, the keys not seen are noted as seen, and ``warm`` lists
        the pieces seen before to scan on their own and keep, first ones first, while less than
        1/:data:`WARM_SHARE` of the text is."""
        entries = self._entries
        found = [entries.get(k) for k in keys]
        total = sum(sizes)
        kept = sum(n for p, n in zip(found, sizes, strict=True) if p is not None)
        if 2 * kept >= total:
            for k, p in zip(keys, found, strict=True):
                if p is not None:
                    entries.move_to_end(k)
            self.hits += len(keys) - found.count(None)
            self.misses += found.count(None)
            return found, []
        warm: list[int] = []
        budget = total // WARM_SHARE
        for i, (k, p) in enumerate(zip(keys, found, strict=True)):
            if p is not None:
                self.hits += 1
                entries.move_to_end(k)
                continue
            self.misses += 1
            if k not in entries:  # (a body may hold a piece twice)
                entries[k] = None
                self.nbytes += SEEN_BYTES
            elif budget > 0:
                budget -= sizes[i]
                warm.append(i)
        self._trim()
        return None, warm

    def put(self, key: bytes, piece: Piece) -> None:
        self._drop(key)
        self._entries[key] = piece
        piece.nbytes = _size(piece)
        self.nbytes += piece.nbytes
        self._trim()

    def _drop(self, key: bytes) -> None:
        if key in self._entries:
            old = self._entries.pop(key)
            self.nbytes -= SEEN_BYTES if old is None else old.nbytes

    def add_variant(self, key: bytes, context: tuple, variant: Piece) -> None:
        """Keep ``variant`` (the piece of ``key`` scanned with ``context``) with that piece."""
        piece = self._entries.get(key)
        if piece is None:  # dropped meanwhile
            return
        piece.variants[context] = variant
        size = _size(variant)
        piece.nbytes += size
        self.nbytes += size
        self._trim()

    def _trim(self) -> None:
        entries = self._entries
        while self.nbytes > self.max_bytes and entries:
            _, p = entries.popitem(last=False)
            self.nbytes -= SEEN_BYTES if p is None else p.nbytes
