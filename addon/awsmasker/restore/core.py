"""Token restoration on one channel of text, fed in pieces.

``restore(text, table, restored, final)`` restores every known token in ``text``, counts each
in ``restored`` (occurrences per token, e.g. ``{"AWS_EC2_001": 2}``: the token, never its
original; :func:`counts_by_type` sums them by type), and returns
``(output, held)``: ``held`` is the suffix that could still grow into a known token (a prefix
of one, at most ``MAX_TOKEN_LEN`` characters); the caller prepends it to the channel's next piece.
Feeding a text in any number of pieces gives the same output as feeding it whole.

A known token is looked for at every ``AWS_`` occurrence (``AWS_AWS_EC2_001`` is one unknown
token for ``TOKEN_RE`` but contains the known ``AWS_EC2_001``). Works on ``str`` (decoded JSON
strings) and on ``bytes`` (raw UTF-8 / JSON bodies: tokens are ASCII and multi-byte UTF-8
sequences never contain ASCII bytes, so no decoding is needed).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from functools import lru_cache
from json.encoder import encode_basestring
from typing import Any

from awsmasker.tokens import MAX_TOKEN_LEN, TOKEN_RE, TOKEN_RE_BYTES


class TokenIndex:
    """The flow's token map, with the sorted known tokens built only if a table needs them.

    Shared by the tables made from one map (an SSE reply has a raw and a JSON-escaped one). The
    map must not change while tables use it (it is the flow's own map, complete once the request
    is masked).
    """

    __slots__ = ("_any", "_keys", "source")

    def __init__(self, token_map: Mapping[str, str]) -> None:
        self.source = token_map
        self._keys: dict[bool, tuple] = {}
        self._any: bool | None = None

    def any_known(self) -> bool:
        """Whether the map has a token that can be matched (stops at the first one)."""
        if self._any is None:
            self._any = any(_token_type(t) is not None for t in self.source)
        return self._any

    def keys(self, binary: bool) -> tuple:
        """The tokens that can be matched, sorted (``bytes`` when ``binary``)."""
        keys = self._keys.get(binary)
        if keys is None:
            valid = [t for t in self.source if _token_type(t) is not None]
            keys = tuple(sorted(t.encode("ascii") for t in valid) if binary else sorted(valid))
            self._keys[binary] = keys
        return keys


class Table:
    """Replacements for one representation: ``str`` or ``bytes``, raw or JSON-string-escaped.

    Built lazily: a reply's replacements are made as its tokens are met and the sorted keys
    (for ``could_grow``) when a piece first ends in a token prefix, so a reply that names few
    tokens does not pay for the flow's whole map before its first byte.
    """

    __slots__ = ("_hits", "binary", "empty", "encoding", "escape_json", "index", "prefix",
                 "token_re")

    def __init__(self, index: TokenIndex, *, escape_json: bool, binary: bool,
                 encoding: str = "utf-8") -> None:
        self.index = index
        self.escape_json = escape_json
        self.binary = binary
        self.encoding = encoding
        if binary:
            self.prefix, self.empty, self.token_re = b"AWS_", b"", TOKEN_RE_BYTES
        else:
            self.prefix, self.empty, self.token_re = "AWS_", "", TOKEN_RE
        self._hits: dict[Any, tuple[Any, str]] = {}

    def lookup(self, token: Any) -> tuple[Any, str] | None:
        """``(replacement, token as str)`` for a known token, else None."""
        hit = self._hits.get(token)
        if hit is not None:
            return hit
        key = token.decode("ascii") if self.binary else token
        original = self.index.source.get(key)
        if original is None:
            return None
        if _token_type(key) is None:
            return None  # can never be matched: not token-shaped
        rep = json_escape(original) if self.escape_json else original
        if self.binary:
            try:
                value: Any = rep.encode(self.encoding)
            except UnicodeEncodeError:
                value = rep.encode("utf-8", "surrogatepass")
        else:
            value = rep
        hit = (value, key)
        self._hits[token] = hit  # bounded by the map
        return hit

    def any_known(self) -> bool:
        return self.index.any_known()

    @property
    def keys(self) -> tuple:
        """The known tokens, sorted."""
        return self.index.keys(self.binary)

    def could_grow(self, s: Any) -> bool:
        """Whether ``s`` (non-empty) is a prefix of a known token."""
        keys = self.index.keys(self.binary)
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
    token_map: Mapping[str, str] | TokenIndex,
    *,
    escape_json: bool,
    binary: bool,
    encoding: str = "utf-8",
) -> Table:
    """A table over ``token_map`` (pass one :class:`TokenIndex` to share it between tables)."""
    index = token_map if isinstance(token_map, TokenIndex) else TokenIndex(token_map)
    return Table(index, escape_json=escape_json, binary=binary, encoding=encoding)


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


def restore(s: Any, table: Table, restored: dict[str, int], final: bool) -> tuple[Any, Any]:
    """Restore known tokens in ``s``; return ``(output, held_back_suffix)``.

    With ``final`` the channel ends after ``s``: nothing is held back. Linear in ``len(s)``:
    ``find`` moves from one ``AWS_`` to the next and each token match is bounded by
    ``MAX_TOKEN_LEN``, so a long run of token characters is read a bounded number of times.
    """
    prefix = table.prefix
    i = s.find(prefix)  # find, not ``in``: see events.INTEREST
    if i < 0:
        if final or not s:
            return s, table.empty
        k = _partial_len(s, table.binary)
        return (s[:-k], s[-k:]) if k and table.any_known() else (s, table.empty)
    n = len(s)
    pos = 0
    parts = []
    match = table.token_re.match
    lookup = table.lookup
    while i >= 0:
        # Bounded one past the longest token: the (?![0-9]) look-ahead still sees the next
        # character, and a long run of token characters stays linear.
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
            hit = lookup(m.group())
            if hit is not None:
                parts.append(s[pos:i])
                parts.append(hit[0])
                pos = m.end()
                restored[hit[1]] = restored.get(hit[1], 0) + 1
                i = s.find(prefix, pos)
                continue
        # Not a known token here; one may start at a later ``AWS_`` inside this run
        # (``AWS_AWS_EC2_001``).
        i = s.find(prefix, i + 4)
    k = 0 if final else _partial_len(s, table.binary)
    if pos == 0 and k == 0:
        return s, table.empty
    parts.append(s[pos : n - k])
    return table.empty.join(parts), s[n - k :]


def counts_by_type(restored: Mapping[str, int]) -> dict[str, int]:
    """Occurrences per token (``{"AWS_EC2_001": 2, "AWS_EC2_002": 1}``) summed by type
    (``{"EC2": 3}``)."""
    out: dict[str, int] = {}
    for token, n in restored.items():
        type_name = _token_type(token)
        if type_name is not None:
            out[type_name] = out.get(type_name, 0) + n
    return out
