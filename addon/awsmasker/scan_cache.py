"""What the masker remembers of request bodies it has scanned: the findings of each piece of
JSON, by a digest of its exact text, so that a conversation re-sent every turn is scanned only
where it is new (the ``scan_cache_bytes`` setting).

**Pieces.** A JSON body is cut before each object whose first key is ``"type"`` or ``"role"``
(messages, content blocks) and before each ``"cache_control"`` key. In valid JSON such a cut
is never inside a string: the ``"`` after ``{`` or ``,`` there is unescaped, and had it closed a
string, a letter could not follow it. A piece's scan then sees what the whole body's scan sees
there: a scan starts outside a string at a piece's start as at the cut, no rule reads across a
``{"`` or ``,"`` (none matches, or looks back or ahead over, both characters), and a piece of
invalid JSON is caught by its quotes (an odd count of unescaped ``"``: the body is scanned
whole). A piece ends at its last ``"`` when only brackets, commas, colons and white space
follow (they can take no part in a match), so a content block is the same piece whether or not
``"cache_control"`` follows it, as when the cache breakpoint moves to a newer message.

**Across pieces.** One rule reads the whole body: a bare 12-digit number is an account when the
body names that account elsewhere (in context or in an ARN). Each piece keeps the accounts it
names and its runs of 12 digits; a piece that holds an account named only elsewhere is scanned
again with it (and that result is kept too). The output is the whole body's plan, byte for byte
(``tests/test_scan_cache.py`` checks this on edited, compacted, reordered conversations).

**What is kept.** Per piece: the spans and types of its findings (a value is read from the
request that carries it, so no secret is kept, not even a hash), the spans of tokens already in
it, the accounts it names and its 12-digit numbers (to find the accounts above), under a salted
SHA-256 digest of its text. Least recently used pieces are dropped past ``max_bytes`` (their
estimated size); a restart costs one full scan.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections import OrderedDict

#: where a piece starts: an object whose first key is "type" or "role" …
_OBJECT = re.compile(r'\{"(?:type|role)"[ \t\r\n]*:')
#: … or a "cache_control" key (the piece starts at the comma before it)
_CACHE_CONTROL = '"cache_control"'
_AFTER_KEY = re.compile(r"[ \t\r\n]*:")
#: what may follow a piece's last ``"`` and be left out of it
_STRUCTURE = " \t\r\n[]{},:"
_PAIRS = re.compile(r"\\\\")
_DIGIT_CLASS = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_TWELVE = b"0" * 12
#: a cut closer than this to the piece's start is skipped (each piece costs a lookup, and a
#: turn of an agent, its call and the result, is then one piece)
MIN_PIECE = 1024


def cuts(text: str) -> list[int]:
    """Sorted positions where pieces start (besides 0)."""
    out = [m.start() for m in _OBJECT.finditer(text)]
    i = text.find(_CACHE_CONTROL)
    while i >= 0:
        j = i + len(_CACHE_CONTROL)
        if _AFTER_KEY.match(text, j):
            k = i - 1
            while k >= 0 and text[k] in " \t\r\n":
                k -= 1
            if k >= 0 and text[k] == ",":
                out.append(k)
        i = text.find(_CACHE_CONTROL, j)
    out.sort()
    return out


def pieces(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each piece of ``text``: they cover it but for what is left out
    after a piece's last ``"`` (brackets, commas, colons, white space)."""
    out: list[tuple[int, int]] = []
    a = 0
    for c in [*cuts(text), len(text)]:
        if c - a < MIN_PIECE and c < len(text):
            continue
        end = text.rfind('"', a, c) + 1
        if end == 0 or text[end:c].strip(_STRUCTURE):
            end = c
        if end > a:
            out.append((a, end))
        a = c
    return out


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
    to decode). ``edits``: (start, end, index in ``finds``, quote). ``counts``: (type, n) in
    order of first occurrence. ``tokens``: spans of tokens already there. ``accounts``: the
    accounts it names; ``numbers``: every 12 digits in a row in it.
    """

    __slots__ = ("accounts", "counts", "edits", "finds", "nbytes", "numbers", "tokens", "variants")

    def __init__(self, finds: tuple, edits: tuple, counts: tuple, tokens: tuple,
                 accounts: frozenset[str], numbers: frozenset[str]) -> None:
        self.finds = finds
        self.edits = edits
        self.counts = counts
        self.tokens = tokens
        self.accounts = accounts
        self.numbers = numbers
        #: this piece scanned with accounts named elsewhere: those of ``numbers`` → its plan
        self.variants: dict[frozenset[str], Piece] = {}
        self.nbytes = _size(self)

    def needs(self, accounts: frozenset[str]) -> frozenset[str]:
        """The accounts of ``accounts`` (named in the body) that this piece holds as 12 digits
        but does not name itself: with them its scan may find more."""
        if not self.numbers:
            return frozenset()
        return (accounts & self.numbers) - self.accounts


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
    return n + sys.getsizeof(p.variants)


class ScanCache:
    """Pieces by a salted digest of their text, least recently used dropped past ``max_bytes``.
    The salt is per process: the keys say nothing outside it."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[bytes, Piece] = OrderedDict()
        self._salted = hashlib.sha256(os.urandom(32))

    def __len__(self) -> int:
        return len(self._entries)

    def key(self, text: str) -> bytes:
        h = self._salted.copy()
        h.update(text.encode("utf-8", "surrogatepass"))
        return h.digest()

    def get(self, key: bytes) -> Piece | None:
        p = self._entries.get(key)
        if p is None:
            self.misses += 1
        else:
            self.hits += 1
            self._entries.move_to_end(key)
        return p

    def put(self, key: bytes, piece: Piece) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.nbytes -= old.nbytes
        self._entries[key] = piece
        self.nbytes += piece.nbytes
        self._trim()

    def add_variant(self, key: bytes, accounts: frozenset[str], variant: Piece) -> None:
        """Keep ``variant`` (the piece of ``key`` scanned with ``accounts``) with that piece."""
        piece = self._entries.get(key)
        if piece is None:  # dropped meanwhile
            return
        piece.variants[accounts] = variant
        piece.nbytes += variant.nbytes
        self.nbytes += variant.nbytes
        self._trim()

    def _trim(self) -> None:
        entries = self._entries
        while self.nbytes > self.max_bytes and entries:
            _, p = entries.popitem(last=False)
            self.nbytes -= p.nbytes
