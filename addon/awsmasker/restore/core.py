"""Token restoration on one channel of text, fed in pieces.

``restore(text, table, counts, final)`` restores every known token in ``text`` and returns
``(output, held)``: ``held`` is the suffix that could still grow into a known token (a prefix
of one, at most ``MAX_TOKEN_LEN`` characters); the caller prepends it to the channel's next piece.
Feeding a text in any number of pieces gives the same output as feeding it whole.

A known token is looked for at every ``AWS_`` occurrence (``AWS_AWS_EC2_001`` is one unknown
token for ``TOKEN_RE`` but contains the known ``AWS_EC2_001``). Works on ``str`` (decoded JSON
strings) and on ``bytes`` (raw UTF-8 / JSON bodies: tokens are ASCII and multi-byte UTF-8
sequences never contain ASCII bytes, so no decoding is needed).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from awsmasker.tokens import MAX_TOKEN_LEN, TOKEN_RE, TOKEN_RE_BYTES


@dataclass(frozen=True, slots=True)
class Table:
    """Replacements for one representation: ``str`` or ``bytes``, raw or JSON-string-escaped."""

    prefix: Any  # "AWS_" or b"AWS_"
    empty: Any
    token_re: re.Pattern
    map: Mapping[Any, Any]  # token -> replacement
    types: Mapping[Any, str]  # token -> token TYPE (for counts)
    keys: tuple  # the known tokens, sorted (for ``could_grow``)

    def could_grow(self, s: Any) -> bool:
        """Whether ``s`` (non-empty) is a prefix of a known token."""
        keys = self.keys
        i = bisect_left(keys, s)
        return i < len(keys) and keys[i].startswith(s)


def json_escape(value: str) -> str:
    """``value`` escaped for the inside of a JSON string (no surrounding quotes)."""
    return encode_basestring(value)[1:-1]


@lru_cache(maxsize=4096)
def _token_type(token: str) -> str | None:
    """The TYPE of a token that can be matched, or None (tokens repeat across flows: cached)."""
    m = TOKEN_RE.fullmatch(token)
    if m is None or len(token) > MAX_TOKEN_LEN:
        return None
    return m.group("type")


def make_table(
    token_map: Mapping[str, str], *, escape_json: bool, binary: bool, encoding: str = "utf-8"
) -> Table:
    mapping: dict[Any, Any] = {}
    types: dict[Any, str] = {}
    for token, original in token_map.items():
        type_name = _token_type(token)
        if type_name is None:
            continue  # can never be matched: not token-shaped
        rep = json_escape(original) if escape_json else original
        if binary:
            key: Any = token.encode("ascii")
            try:
                value: Any = rep.encode(encoding)
            except UnicodeEncodeError:
                value = rep.encode("utf-8", "surrogatepass")
        else:
            key, value = token, rep
        mapping[key] = value
        types[key] = type_name
    keys = tuple(sorted(mapping))
    if binary:
        return Table(b"AWS_", b"", TOKEN_RE_BYTES, mapping, types, keys)
    return Table("AWS_", "", TOKEN_RE, mapping, types, keys)


_PARTIALS = ("A", "AW", "AWS")
_PARTIALS_B = (b"A", b"AW", b"AWS")


def _partial_len(s: Any, binary: bool) -> int:
    """Length of a suffix of ``s`` that is a proper prefix of ``AWS_``."""
    partials = _PARTIALS_B if binary else _PARTIALS
    if not s.endswith(partials):  # the common case, in one call
        return 0
    if s.endswith(partials[2]):
        return 3
    return 2 if s.endswith(partials[1]) else 1


def restore(s: Any, table: Table, counts: Counter[str], final: bool) -> tuple[Any, Any]:
    """Restore known tokens in ``s``; return ``(output, held_back_suffix)``.

    With ``final`` the channel ends after ``s``: nothing is held back.
    """
    prefix = table.prefix
    rep_map = table.map
    binary = table.empty == b""
    i = s.find(prefix)
    if i < 0:
        if final or not s or not rep_map:
            return s, table.empty
        k = _partial_len(s, binary)
        return (s[:-k], s[-k:]) if k else (s, table.empty)
    n = len(s)
    pos = 0
    parts = []
    match = table.token_re.match
    while i >= 0:
        # A known token is at most MAX_TOKEN_LEN long; bounding the match keeps a long run of
        # token characters linear, and the (?![0-9]) look-ahead still sees the next character.
        m = match(s, i, i + MAX_TOKEN_LEN + 1)
        # A token followed by a non-digit is complete: no known token starts with it plus that
        # character, so only a failed match or one reaching the end needs the prefix check.
        if (
            not final
            and n - i <= MAX_TOKEN_LEN
            and (m is None or m.end() == n)
            and table.could_grow(s[i:])
        ):
            # The text from i to the end may still become a known token: hold it.
            parts.append(s[pos:i])
            return table.empty.join(parts), s[i:]
        if m is not None:
            tok = m.group()
            rep = rep_map.get(tok)
            if rep is not None:
                parts.append(s[pos:i])
                parts.append(rep)
                pos = m.end()
                counts[table.types[tok]] += 1
                i = s.find(prefix, pos)
                continue
        i = s.find(prefix, i + 4)
    k = 0 if final else _partial_len(s, binary)
    if pos == 0 and k == 0:
        return s, table.empty
    parts.append(s[pos : n - k])
    return table.empty.join(parts), s[n - k :]
