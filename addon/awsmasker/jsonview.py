"""The JSON text of a request body as the scanner reads it: a same-length *view* in which each
escape is replaced by characters that act like what it decodes to, and the exact decoding of a
JSON string's inside with the raw offsets of its characters.

The view keeps every offset, so a match in it is a span of the raw text, and a match never
contains an escape, so its raw slice is its value (see :mod:`awsmasker.body`). Every function
here takes linear time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

_ESC_U = re.compile(r"\\u[0-9a-fA-F]{4}")
_NEEDS_DECODE = re.compile(r"\\(?:/|u00[0-7][0-9a-fA-F])")
#: JSON's escapes; a backslash before anything else (invalid JSON) is kept as a character, so
#: a span never starts on a backslash it would drop
_ESC = re.compile(r"\\(u[0-9a-fA-F]{4}|[\"\\/bfnrt])")
_SIMPLE = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "\\": "\\", "/": "/"}

# Two-character escapes are replaced with ``re`` (for such a needle its search is quicker than
# ``str.replace``'s). An escaped backslash reads as two apostrophes like an escaped quote: every
# pattern that holds one of them as a separator holds the other, and no token holds either.
_SUB_BACKSLASH_QUOTE = re.compile(r'\\[\\"]').sub
_SUB_NL = re.compile(r"\\n").sub
_RARE_ESCAPES = (
    ("\\t", "\t\t"),
    ("\\r", "\r\r"),
    ("\\/", "\x01\x01"),
    ("\\b", "\x01\x01"),
    ("\\f", "\x01\x01"),
)


def json_view(raw: str) -> tuple[str, list[int]]:
    """Same-length scan view of raw JSON, and positions of escapes that need exact decoding."""
    view, exact, _ = scan_view(raw)
    return view, exact


def scan_view(raw: str) -> tuple[str, list[int], bool]:
    """:func:`json_view`, and whether the view holds the tokens of ``raw`` at the same spans: it
    does unless a ``\\uXXXX`` escape was replaced (its last hex digit can be the ``A`` of
    ``AWS_``); every other escape is replaced by characters that no token holds."""
    if "\\" not in raw:
        return raw, [], True
    # Escaped backslashes first (with escaped quotes, in the same pass, left to right): then
    # every backslash left starts an escape (an invalid one, as in ``\\q``, stays as it is).
    view = _SUB_NL("\n\n", _SUB_BACKSLASH_QUOTE("''", raw))
    if "\\" not in view:  # the usual body: no other escape
        return view, [], True
    exact = [m.start() for m in _NEEDS_DECODE.finditer(view)]
    view, n = _ESC_U.subn("\x01" * 6, view)
    for esc, rep in _RARE_ESCAPES:
        view = view.replace(esc, rep)
    return view, exact, n == 0


def text_view(text: str) -> str:
    """Same-length scan view of plain text: a quote or backslash written after a backslash (JSON
    quoted in a shell command, ``--event "{\\"account\\":\\"1234…\\"}"``) reads as two
    apostrophes, as in a JSON view, so the rules see it quoted. No value holds either."""
    return _SUB_BACKSLASH_QUOTE("''", text) if "\\" in text else text


def decode_with_offsets(raw: str) -> tuple[str, list[int]]:
    """Decode the inside of a JSON string; ``offs[i]`` is the raw offset of decoded char ``i``."""
    parts: list[str] = []
    offs: list[int] = []
    pos = 0
    for m in _ESC.finditer(raw):
        parts.append(raw[pos : m.start()])
        offs.extend(range(pos, m.start()))
        g = m.group(1)
        parts.append(chr(int(g[1:], 16)) if len(g) == 5 else _SIMPLE.get(g, g))
        offs.append(m.start())
        pos = m.end()
    parts.append(raw[pos:])
    offs.extend(range(pos, len(raw) + 1))
    return "".join(parts), offs


_JSON_STRING = json.JSONDecoder(strict=False).decode
#: a surrogate escape: ``json`` joins a pair into one character, :func:`decode_with_offsets` not
_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def decode_string(raw: str) -> str:
    """The text of the JSON string whose inside is ``raw``, as :func:`decode_with_offsets` has
    it (``json``'s decoder where it agrees: valid escapes, no surrogate escape)."""
    if _SURROGATE.search(raw) is None:
        try:
            return _JSON_STRING(f'"{raw}"')
        except ValueError:  # an escape JSON does not have: kept as written
            pass
    return decode_with_offsets(raw)[0]


def raw_offsets(raw: str, points: Iterable[int]) -> dict[int, int]:
    """For positions in the decoded text of ``raw`` (the inside of a JSON string), their raw
    offsets, as :func:`decode_with_offsets` maps them: one pass over the escapes."""
    todo = sorted(set(points), reverse=True)
    out: dict[int, int] = {}
    shift = 0  # raw characters before the escape at hand, less the decoded ones
    for m in _ESC.finditer(raw):
        d = m.start() - shift  # the escape's decoded position
        while todo and todo[-1] <= d:
            p = todo.pop()
            out[p] = p + shift
        if not todo:
            return out
        shift += m.end() - m.start() - 1
    for p in todo:
        out[p] = p + shift
    return out
