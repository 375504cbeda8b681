"""Restore tokens in replies: sans-IO restorers chosen by content type (bytes in, bytes out).

``select_restorer`` picks one per reply; ``restore_body`` runs it over a whole body;
``stream.StreamRestore`` wraps it as mitmproxy's ``flow.response.stream`` callable.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple, Protocol

from awsmasker.charsets import ascii_compatible, sniff_bom
from awsmasker.restore.body import JsonRestorer, TextRestorer
from awsmasker.restore.charset import BomSniffed, Transcoded
from awsmasker.restore.core import counts_by_type
from awsmasker.restore.eventstream import CONTENT_TYPE as EVENTSTREAM
from awsmasker.restore.eventstream import EventStreamRestorer
from awsmasker.restore.sse import SSERestorer
from awsmasker.restore.stream import StreamRestore

__all__ = [
    "JsonRestorer",
    "Restorer",
    "SSERestorer",
    "TextRestorer",
    "counts_by_type",
    "restore_body",
    "select_restorer",
]


class Restorer(Protocol):
    #: restored occurrences per token (``{"AWS_EC2_001": 2}``; never an original): the tokens a
    #: ``restored`` event lists, summed by type (:func:`counts_by_type`) for counts
    restored: dict[str, int]
    flags: set[str]  # e.g. "event_too_large", "invalid_event", "error"

    def feed(self, data: bytes) -> bytes:
        """Restore a chunk; may return b"" when everything is held back."""
        ...

    def finish(self) -> bytes:
        """End of input: flush every carry."""
        ...

    def whole(self, data: bytes) -> bytes:
        """A whole body at once: what ``feed(data) + finish()`` returns."""
        ...

    def abort(self) -> bytes:
        """Give up: return the data held back before the last (failed) call, unprocessed."""
        ...


_JSON_TYPES = frozenset(
    {"application/json", "application/x-ndjson", "application/jsonl", "application/json-seq"}
)


@lru_cache(maxsize=256)
def _parse_content_type(content_type: str | None) -> tuple[str, str | None]:
    """(mime type, charset or None) of a Content-Type value (a reply's is one of very few
    strings)."""
    if not content_type:
        return "", None
    mime, _, rest = content_type.partition(";")
    charset = None
    for p in rest.split(";"):
        k, eq, v = p.partition("=")
        if eq and k.strip().lower() == "charset":
            charset = v.strip().strip('"')
    return mime.strip().lower(), charset


@lru_cache(maxsize=64)
def _ascii_compatible(charset: str) -> str:
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return "utf-8"
    try:
        ok = "AWS_0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ".encode(name) == (
            b"AWS_0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        )
    except (UnicodeError, LookupError):
        ok = False
    return name if ok else "utf-8"


def select_restorer(
    content_type: str | None, path: str, token_map: Mapping[str, str]
) -> Restorer | None:
    """The restorer for a reply, or None to pass it through (unknown type or empty token map).

    SSE events are recognised from their JSON, so ``path`` is not needed to choose; it is kept in
    the signature for API-specific choices.
    """
    if not token_map:
        return None
    mime, charset = _parse_content_type(content_type)
    if mime == "text/event-stream":
        return SSERestorer(token_map)
    if mime == EVENTSTREAM:  # Bedrock: tokens inside base64 and binary frames
        return EventStreamRestorer(token_map)
    if mime in _JSON_TYPES or mime.endswith("+json"):
        inner: Restorer = JsonRestorer(token_map)
    elif mime.startswith("text/"):
        inner = TextRestorer(token_map, _ascii_compatible(charset or "utf-8"))
    else:
        return None
    if charset is None:  # a UTF-16/32 byte-order mark may still say it is not ASCII-like
        return BomSniffed(inner)
    return inner if ascii_compatible(charset) else Transcoded(inner, charset)


_BOM_STARTS = (b"\xff", b"\xfe", b"\x00")


def _bom_charset(body: bytes) -> str | None:
    """``utf-16`` or ``utf-32`` for a body that starts with the byte-order mark of one."""
    codec = sniff_bom(body)[1]
    return codec[:6] if codec is not None and codec != "utf-8" else None


class RestoredBody(NamedTuple):
    body: bytes
    restored: Mapping[str, int]  # restored occurrences per token (see Restorer.restored)
    flags: frozenset[str]


_NO_FLAGS: frozenset[str] = frozenset()


def restore_body(
    content_type: str | None,
    path: str,
    token_map: Mapping[str, str],
    body: bytes,
    *,
    max_bytes: int | None = None,
) -> RestoredBody:
    """Restore a whole (non-streamed, decoded) reply body with the streaming path's guarantees:
    it never raises; after an error, or past ``max_bytes``, the rest passes unchanged and a flag
    says so. Unknown content types come back unchanged."""
    if not token_map:
        return RestoredBody(body, {}, _NO_FLAGS)
    charset = _parse_content_type(content_type)[1]
    if charset is None and body[:1] in _BOM_STARTS:
        charset = _bom_charset(body)
        if charset is not None:  # a UTF-16/32 byte-order mark and no charset declared
            content_type = f"{content_type or 'text/plain'}; charset={charset}"
    # no AWS_ (the usual small reply): skip making a restorer, unless the reply is in a
    # charset that does not write a token as ASCII bytes, or is event-stream (tokens in base64)
    if (body.find(b"AWS_") < 0 and (charset is None or ascii_compatible(charset))
            and _parse_content_type(content_type)[0] != EVENTSTREAM):
        return RestoredBody(body, {}, _NO_FLAGS)
    restorer = select_restorer(content_type, path, token_map)
    if restorer is None:
        return RestoredBody(body, {}, _NO_FLAGS)
    if max_bytes is None or len(body) <= max_bytes:
        # The whole body in one feed: what StreamRestore does for it, minus its bookkeeping.
        try:
            out = restorer.whole(body)
        except Exception:
            return RestoredBody(body, {}, frozenset(restorer.flags | {"error"}))
        return RestoredBody(out, restorer.restored, frozenset(restorer.flags))
    s = StreamRestore(restorer, max_bytes=max_bytes)
    head = s(body)
    out = (head if isinstance(head, bytes) else b"") + s(b"")
    return RestoredBody(out, s.restored, frozenset(s.flags))
