"""The token grammar: ``AWS_<TYPE>_<N>``.

``TYPE`` is an upper-case catalogue type name (segments of ``[A-Z][A-Z0-9]*`` joined by ``_``,
e.g. ``EC2``, ``EBS_VOL``, ``PRIVATE_IP``); ``N`` is a per-type counter, zero-padded to at least
three digits and at most ``MAX_COUNTER_DIGITS`` long. One regex recognises every token, and the
longest possible token bounds how much text a stream restorer ever has to hold back.
"""

from __future__ import annotations

import re
from functools import lru_cache

TOKEN_PREFIX = "AWS_"
MIN_COUNTER_DIGITS = 3
MAX_COUNTER_DIGITS = 9
MAX_COUNTER = 10**MAX_COUNTER_DIGITS - 1
#: Longest catalogue type name allowed (checked by the catalogue at import time).
MAX_TYPE_LEN = 24
#: Longest possible token; restorers never hold back more than this per channel.
MAX_TOKEN_LEN = len(TOKEN_PREFIX) + MAX_TYPE_LEN + 1 + MAX_COUNTER_DIGITS

TYPE_NAME_PATTERN = r"[A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*"
_TYPE_NAME_RE = re.compile(rf"{TYPE_NAME_PATTERN}\Z")

#: Matches any well-formed token. The counter takes every following digit, so ``AWS_EC2_0011``
#: is one (non-canonical, hence unknown) token, never ``AWS_EC2_001`` followed by ``1``.
TOKEN_RE = re.compile(
    rf"AWS_(?P<type>{TYPE_NAME_PATTERN})_(?P<n>[0-9]{{{MIN_COUNTER_DIGITS},{MAX_COUNTER_DIGITS}}})(?![0-9])"
)
TOKEN_RE_BYTES = re.compile(TOKEN_RE.pattern.encode("ascii"))


def is_valid_type_name(name: str) -> bool:
    return len(name) <= MAX_TYPE_LEN and _TYPE_NAME_RE.match(name) is not None


#: the catalogue's few type names are checked once each (a token is minted per new value)
_valid_type_name = lru_cache(maxsize=256)(is_valid_type_name)
_COUNTER_FORMAT = f"0{MIN_COUNTER_DIGITS}d"


def format_token(type_name: str, counter: int) -> str:
    """Build the canonical token for ``counter`` (1-based) of ``type_name``."""
    if not _valid_type_name(type_name):
        raise ValueError(f"invalid token type name: {type_name!r}")
    if not 1 <= counter <= MAX_COUNTER:
        raise ValueError(f"token counter out of range: {counter}")
    return f"{TOKEN_PREFIX}{type_name}_{format(counter, _COUNTER_FORMAT)}"


def is_token(text: str) -> bool:
    m = TOKEN_RE.fullmatch(text)
    return m is not None and len(m.group("type")) <= MAX_TYPE_LEN
