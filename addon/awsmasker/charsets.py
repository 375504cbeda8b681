"""Byte-order marks and BOM-less UTF-16/32, for request bodies and replies alike."""

from __future__ import annotations

import codecs
from functools import lru_cache

_BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
#: bytes needed to tell every BOM above
BOM_MAX = 4


def sniff_bom(raw: bytes) -> tuple[bytes, str | None]:
    """(the BOM ``raw`` starts with, the codec it names), or (b"", None)."""
    for mark, name in _BOMS:
        if raw.startswith(mark):
            return mark, name
    return b"", None


def unmarked_utf(raw: bytes, family: str | None = None) -> str | None:
    """The UTF-16/32 codec of text without a BOM, told by where the NULs of its first two
    (ASCII) characters are (RFC 4627 §3: JSON and most text start with ASCII); None when the
    first bytes do not show that pattern. ``family`` (``utf-16`` or ``utf-32``, as declared):
    its byte order by the same pattern, else big-endian (RFC 2781)."""
    h = raw[:4]
    found = None
    if len(h) == 4:
        if h[:3] == b"\x00\x00\x00" and h[3]:
            found = "utf-32-be"
        elif h[0] and h[1:] == b"\x00\x00\x00":
            found = "utf-32-le"
        elif h[0] == h[2] == 0 and h[1] and h[3]:
            found = "utf-16-be"
        elif h[1] == h[3] == 0 and h[0] and h[2]:
            found = "utf-16-le"
    if family is None or (found and found.startswith(family)):
        return found
    return f"{family}-be"


@lru_cache(maxsize=64)
def ascii_compatible(charset: str) -> bool:
    """Whether ``charset`` writes ASCII (every token's characters) as ASCII bytes; an unknown
    charset counts as compatible (its reply is handled as bytes)."""
    try:
        name = codecs.lookup(charset).name
    except LookupError:
        return True
    sample = "AWS_0123456789_ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    try:
        return sample.encode(name) == sample.encode("ascii")
    except (UnicodeError, LookupError):
        return False
