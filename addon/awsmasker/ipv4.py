"""IPv4 addresses: private ones by their shape (a rule of :mod:`awsmasker.rules`), public ones in
a pass of their own (off unless ``mask_public_ips``). An address right after version wording
(``version 10.1.2.3``, ``Tags: 10.1.1.0``) is a version, not an address."""

from __future__ import annotations

import re
import string

A = re.ASCII
Cand = tuple[int, int, str]  # start, end, type name (as in awsmasker.rules)

_OCT = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CIDR = r"(?:/(?:3[0-2]|[12][0-9]|[0-9]))?"
_PRIV_RX = re.compile(
    rf"((?:10\.{_OCT}\.{_OCT}\.{_OCT}|172\.(?:1[6-9]|2[0-9]|3[01])\.{_OCT}\.{_OCT}"
    rf"|192\.168\.{_OCT}\.{_OCT}){_CIDR})(?![0-9]|\.[0-9])",
    A,
)
_PUBLIC_RX = re.compile(
    rf"(?<![A-Za-z0-9_.])({_OCT}\.{_OCT}\.{_OCT}\.{_OCT}{_CIDR})(?![0-9]|\.[0-9])", A
)
_NOT_BEFORE_IP = frozenset(string.ascii_letters + string.digits + "_.")
#: Version wording right before an address makes it a version: one of these words (ASCII case
#: ignored) as a whole word, then only separators, within the 24 characters before it.
#: ``server 10.0.1.5`` is an address, ``ver 10.0.1.5`` a version; ``_`` counts as a separator
#: (``app_version=10.1.2.3``).
_VERSION_WORDS = frozenset({"version", "release", "tags", "tag", "ver", "build", "firmware",
                           "chrome", "firefox", "safari"})
_VERSION_SEP = " \t:=\"'\x01/"
_ALNUM = frozenset(string.ascii_letters + string.digits)


def version_context(view: str, s: int) -> bool:
    """Does a version word (and separators) end right before ``s``?"""
    lo = max(0, s - 24)
    w = view[lo:s].rstrip(_VERSION_SEP)
    b = lo + len(w.rstrip(string.ascii_letters))  # where the letters before them start
    word = view[b : lo + len(w)].lower()
    return word in _VERSION_WORDS and (b == 0 or view[b - 1] not in _ALNUM)


def verify_private_ip(view: str, h: int) -> list[Cand]:
    """The private address (or CIDR block) starting at ``h``, if any."""
    # Right after a word character an address would be dropped (no match is glued to one),
    # right after "." it is part of a longer dotted number; rejecting it here also leaves the
    # addresses inside it to their own triggers, which reject them alike.
    if h > 0 and view[h - 1] in _NOT_BEFORE_IP:
        return []
    m = _PRIV_RX.match(view, h)
    return [] if not m or version_context(view, h) else [(h, m.end(1), "PRIVATE_IP")]


def _is_public(ip: str) -> bool:
    o = [int(x) for x in ip.split("/")[0].split(".")]
    if o[0] in (0, 10, 127) or o[0] >= 224:
        return False
    if (o[0] == 172 and 16 <= o[1] <= 31) or (o[0] == 192 and o[1] == 168):
        return False
    if (o[0] == 169 and o[1] == 254) or (o[0] == 100 and 64 <= o[1] <= 127):
        return False
    return not (o[0] == 255 or (o[0] == 192 and o[1] == 0 and o[2] in (0, 2)))


def public_ips(view: str) -> list[Cand]:
    """Public IPv4 addresses (and CIDR blocks), but for versions (:func:`version_context`)."""
    return [
        (m.start(1), m.end(1), "PUBLIC_IP")
        for m in _PUBLIC_RX.finditer(view)
        if _is_public(m.group(1)) and not version_context(view, m.start())
    ]
