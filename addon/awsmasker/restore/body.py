"""Restorers for plain text and JSON bodies (streamed or whole): bounded carry, raw bytes."""

from __future__ import annotations

import re
from collections.abc import Mapping

from awsmasker.restore.core import make_table, restore

# The value of a signed Anthropic thinking block:
# {"type":"thinking","thinking":"...","signature":"..."}.
# Thinking is never restored, so the block re-sent next turn matches its signature. In valid JSON
# this pattern cannot match inside a string (every quote there is escaped).
_THINKING_VALUE = re.compile(rb'"type"\s*:\s*"thinking"\s*,\s*"thinking"\s*:\s*"')
#: The inside of a JSON string (up to its closing quote or the end of the data). Possessive: it
#: matches one way only, so no backtracking state is kept per escape (linear time and memory).
STRING_BODY = re.compile(rb'[^"\\]*+(?:\\.[^"\\]*+)*+')
_LOOKBEHIND = 64  # longer than any match of _THINKING_VALUE in compact or pretty JSON


def _thinking_value(data: bytes) -> re.Match[bytes] | None:
    """The first ``_THINKING_VALUE`` in ``data``. A body without the literal ``"thinking"`` is
    answered by one ``find``, without starting the regex search."""
    if data.find(b'"thinking"') < 0:
        return None
    return _THINKING_VALUE.search(data)


class TextRestorer:
    """text/* bodies: every known token replaced by its original, encoded in ``encoding``."""

    def __init__(self, token_map: Mapping[str, str], encoding: str = "utf-8") -> None:
        self._table = make_table(token_map, escape_json=False, binary=True, encoding=encoding)
        self._held = b""
        self.restored: dict[str, int] = {}  # occurrences per token restored
        self.flags: set[str] = set()

    def feed(self, data: bytes) -> bytes:
        out, self._held = restore(self._held + data, self._table, self.restored, False)
        return out

    def finish(self) -> bytes:
        out, self._held = restore(self._held, self._table, self.restored, True)
        return out

    def whole(self, data: bytes) -> bytes:
        """``feed(data) + finish()`` in one step."""
        out, self._held = restore(self._held + data, self._table, self.restored, True)
        return out

    def abort(self) -> bytes:
        held, self._held = self._held, b""
        return held


class JsonRestorer:
    """JSON (and NDJSON) bodies, streamed with bounded memory.

    Tokens only occur inside JSON strings, and need no escaping there, so the raw bytes are scanned
    directly and each known token is replaced by its original escaped for a JSON string. Values of
    Anthropic thinking blocks are passed through untouched.
    """

    def __init__(self, token_map: Mapping[str, str]) -> None:
        self._table = make_table(token_map, escape_json=True, binary=True)
        self._held = b""  # suffix that could still become a token
        self._tail = b""  # last bytes seen outside thinking values (pattern across chunks)
        self._skip = False  # inside a thinking value
        self._escape = False  # ... right after a backslash
        self.restored: dict[str, int] = {}  # occurrences per token restored
        self.flags: set[str] = set()

    def feed(self, data: bytes) -> bytes:
        return self._run(data, False)

    def finish(self) -> bytes:
        return self._run(b"", True)

    def whole(self, data: bytes) -> bytes:
        """``feed(data) + finish()`` in one step."""
        return self._run(data, True)

    def abort(self) -> bytes:
        held, self._held = self._held, b""
        return held

    def _run(self, data: bytes, final: bool) -> bytes:
        # Work on locals and commit at the end, so a failure leaves the state as it was.
        held, tail, skip, escape = self._held, self._tail, self._skip, self._escape
        out: list[bytes] = []
        i, n = 0, len(data)
        while i < n:
            if skip:
                j = i + 1 if escape else i
                escape = False
                if j >= n:
                    out.append(data[i:])
                    break
                e = STRING_BODY.match(data, j).end()
                if e == n:
                    out.append(data[i:])
                    break
                if data[e] == 0x5C:  # lone backslash at the end of the chunk
                    out.append(data[i:])
                    escape = True
                    break
                out.append(data[i:e])  # the closing quote is handled outside
                skip, tail, i = False, b"", e
                continue
            window = tail + data[i:] if i else tail + data
            m = _thinking_value(window)
            if m is None:
                piece, held = restore(held + data[i:], self._table, self.restored, final)
                out.append(piece)
                tail = window[-_LOOKBEHIND:]
                break
            v = i + m.end() - len(tail)  # first byte of the thinking value
            piece, held = restore(held + data[i:v], self._table, self.restored, True)
            out.append(piece)
            skip, i = True, v
        else:
            if final and held:
                piece, held = restore(held, self._table, self.restored, True)
                out.append(piece)
        self._held, self._tail, self._skip, self._escape = held, tail, skip, escape
        return b"".join(out)
