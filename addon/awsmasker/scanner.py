"""Find AWS identifiers in text.

Two stages:

1. **Triggers.** Each rule has short literal triggers (``arn:``, ``AKIA``, ``amazonaws.com``,
   ``account`` …) or one fixed-width trigger regex (``-[0-9a-f]{8}`` for EC2-family IDs). A
   trigger engine finds where they occur: hyperscan (one pass for all rules, with tighter
   patterns that skip positions the verification would reject) when installed, else Python
   ``re`` (literal-led passes, each starting at a less common character of its literal; caseless
   ones in an ASCII-lowercased copy; runs of 12 digits only when an account was found).
2. **Verification.** At each trigger, a Python ``re`` pattern anchored there decides whether an
   identifier is present and where its value lies. A trigger engine only decides *where to look*;
   every result comes from the same verification code, so all engines give identical matches
   (tests check this).

Matches never start right after ``[A-Za-z0-9_]`` nor end right before an ASCII digit, so the token
that replaces one can be found again exactly (see :data:`awsmasker.tokens.TOKEN_RE`).
"""

from __future__ import annotations

import re
import string
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from awsmasker.catalogue import BY_NAME, EC2_PREFIXES, TYPE_NAMES
from awsmasker.tokens import TOKEN_PREFIX, TOKEN_RE

A = re.ASCII


class Match(NamedTuple):
    start: int
    end: int
    type_name: str
    value: str
    reversible: bool


Cand = tuple[int, int, str]  # start, end, type name
_new_tuple = tuple.__new__  # ``Match(...)`` without its Python-level ``__new__``
Verify = Callable[[str, int], list[Cand]]
#: a rule's verification at each of its trigger positions (sorted, distinct), skipping those
#: inside its previous find: what :func:`_each` makes of a :data:`Verify`, or a faster equivalent
VerifyAll = Callable[[str, list[int]], list[Cand]]
#: faster equivalents of ``_each(verify)`` (tests check they give the same)
_BATCH: dict[Verify, VerifyAll] = {}


def _each(verify: Verify) -> VerifyAll:
    """``verify`` at each position; a position inside the previous find is skipped."""

    def verify_all(view: str, starts: list[int]) -> list[Cand]:
        out: list[Cand] = []
        done = -1
        for h in starts:
            if h < done:
                continue
            found = verify(view, h)
            if found:
                out += found
                done = found[-1][1]  # verifications list their finds left to right
        return out

    return verify_all


def batch_verify(verify: Verify) -> VerifyAll:
    """The :data:`VerifyAll` of ``verify``: the fast one if there is one."""
    return _BATCH.get(verify) or _each(verify)


class HsTrigger(NamedTuple):
    """A hyperscan trigger: the position is ``from + k`` (``som``) or ``to - k``."""

    pattern: str
    k: int
    som: bool = False


class RePass(NamedTuple):
    """A pure-``re`` trigger pass: the position is ``match.start() - offset``."""

    pattern: str
    lower: bool = False  # search the ASCII-lowercased copy
    offset: int = 0
    literal: bool = False  # a plain ``bytes.find`` loop (faster than sre for long literals)
    not_after: str = ""  # drop finds right after one of these characters (a lookbehind would
    # cost sre its fast literal search)


@dataclass(frozen=True)
class Rule:
    """One verification and the triggers that say where to run it.

    ``literals``/``caseless``/``regex`` are the canonical triggers: the verification can only
    succeed where one of them starts. An engine may report more positions (each one costs a
    verification) but never fewer of those where the verification succeeds; ``hs`` and
    ``re_passes`` are cheaper engine-specific ways to find them (tests check they cover the
    canonical triggers).
    """

    name: str
    types: tuple[str, ...]
    verify: Verify
    literals: tuple[str, ...] = ()  # case-sensitive triggers
    caseless: tuple[str, ...] = ()  # ASCII-caseless triggers (given in lower case)
    regex: str = ""  # fixed-width trigger regex (instead of literals)
    width: int = 0
    hs: tuple[HsTrigger, ...] = ()  # hyperscan triggers instead of the canonical ones
    #: hyperscan triggers after a JSON escape (``\\t``, ``\\u00e9`` …) in a raw JSON body, for the
    #: ``hs`` triggers that look at the character before (see :meth:`Scanner.json_triggers_raw`)
    hs_esc: tuple[HsTrigger, ...] = ()
    re_passes: tuple[RePass, ...] = ()  # pure-re passes instead of the canonical ones
    digit_run: int = 0  # pure re: runs of exactly this many ASCII digits (instead of passes)


# ---------------------------------------------------------------------------------------------
# shared pattern pieces

_SEP = r"[ \t\r\n\"'=:|\x01]"  # separators between a context key and its value
_OCT = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_WORDCH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_DIGITS = frozenset("0123456789")


def _anchored(pattern: str, type_name: str, flags: int = 0) -> Verify:
    """Verification by a regex anchored at the trigger; group 1 is the value."""
    rx = re.compile(pattern, A | flags)

    def verify(view: str, h: int) -> list[Cand]:
        m = rx.match(view, h)
        return [(m.start(1), m.end(1), type_name)] if m else []

    def verify_all(view: str, starts: list[int]) -> list[Cand]:
        out: list[Cand] = []
        append = out.append
        match = rx.match
        done = -1
        for h in starts:
            if h < done:
                continue
            m = match(view, h)
            if m is not None:
                s, done = m.span(1)
                append((s, done, type_name))
        return out

    _BATCH[verify] = verify_all
    return verify


# --- ARN ---------------------------------------------------------------------------------------
_ARN_RX = re.compile(
    r"(arn:(?:aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc):[a-z0-9-]{1,64}:"
    r"[a-z0-9-]{0,32}:(?:[0-9]{12}|aws)?:[A-Za-z0-9/_+=.@:*-]{0,1023}[A-Za-z0-9/_+=@*-])",
    A,
)
_verify_arn = _anchored(_ARN_RX.pattern, "ARN")

# --- EC2 family: trigger "-" + 8 hex at h ---------------------------------------------------
_EC2_HEX = re.compile(r"-(?:[0-9a-f]{17}|[0-9a-f]{8})(?![A-Za-z0-9])", A)
_EC2_MAX = max(len(p) for p in EC2_PREFIXES)
_EC2_BEFORE = "".join(sorted(_WORDCH)) + "-"  # every prefix character is one of these


def _verify_ec2(view: str, h: int) -> list[Cand]:
    """A prefix right before ``h`` that is not glued to ``[A-Za-z0-9_-]``: so it is the whole
    run of those characters that ends at ``h``."""
    m = _EC2_HEX.match(view, h)
    if not m:
        return []
    lo = h - _EC2_MAX - 1
    if lo < 0:
        lo = 0
    w = view[lo:h]  # one character more than the longest prefix: a longer run is no prefix
    s = lo + len(w.rstrip(_EC2_BEFORE))
    t = EC2_PREFIXES.get(view[s:h])
    return [(s, m.end(), t)] if t is not None else []


def _verify_ec2_all(view: str, starts: list[int]) -> list[Cand]:
    """:func:`_verify_ec2` at each position, inlined."""
    out: list[Cand] = []
    append = out.append
    match = _EC2_HEX.match
    prefix = EC2_PREFIXES.get
    before = _EC2_BEFORE
    back = _EC2_MAX + 1
    done = -1
    for h in starts:
        if h < done:
            continue
        m = match(view, h)
        if m is None:
            continue
        lo = h - back
        if lo < 0:
            lo = 0
        s = lo + len(view[lo:h].rstrip(before))
        t = prefix(view[s:h])
        if t is not None:
            done = m.end()
            append((s, done, t))
    return out


_BATCH[_verify_ec2] = _verify_ec2_all


# --- access keys / IAM unique IDs -------------------------------------------------------------
_KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")
_IAM_PREFIXES = ("AIDA", "AROA", "AIPA", "ANPA", "ANVA", "AGPA", "APKA", "ASCA")
_AKID_RX = re.compile(r"(?<![A-Za-z0-9+/])(A[A-Z0-9]{3}[A-Z0-9]{16})(?![A-Za-z0-9+])", A)


def _verify_akid(view: str, h: int) -> list[Cand]:
    m = _AKID_RX.match(view, h)
    if not m:
        return []
    p = view[h : h + 4]
    return [(h, m.end(), "ACCESS_KEY" if p in _KEY_PREFIXES else "IAM_ID")]


# --- private IPv4 --------------------------------------------------------------------------------
_CIDR = r"(?:/(?:3[0-2]|[12][0-9]|[0-9]))?"
_PRIV_RX = re.compile(
    rf"((?:10\.{_OCT}\.{_OCT}\.{_OCT}|172\.(?:1[6-9]|2[0-9]|3[01])\.{_OCT}\.{_OCT}"
    rf"|192\.168\.{_OCT}\.{_OCT}){_CIDR})(?![0-9]|\.[0-9])",
    A,
)
# A whole word (``server 10.0.1.5`` is an address, ``ver 10.0.1.5`` a version): no letter or
# digit before it; ``_`` counts as a separator (``app_version=10.1.2.3``).
_VERSION_CTX = re.compile(
    r"(?<![A-Za-z0-9])(?:version|release|tag|ver|build|firmware|chrome|firefox|safari)"
    r"[ \t:=\"'\x01/]*\Z",
    A | re.I,
)


_VERSION_WORDS = (
    "version", "release", "tag", "ver", "build", "firmware", "chrome", "firefox", "safari"
)  # fmt: skip
_VERSION_SEP = " \t:=\"'\x01/"
_ALNUM = frozenset(string.ascii_letters + string.digits)


def _version_context(view: str, s: int) -> bool:
    """Does a version word end right before ``s`` (``_VERSION_CTX`` over the 24 characters)?"""
    lo = max(0, s - 24)
    # A word ends in a letter, so the separators after it are the whole trailing run: strip them
    # and compare the end (ASCII only; anything else goes to the regex).
    w = view[lo:s].rstrip(_VERSION_SEP)
    if not w.isascii():
        return bool(_VERSION_CTX.search(view, lo, s))
    lw = w.lower()
    if not lw.endswith(_VERSION_WORDS):
        return False  # the usual case
    # Is it a whole word? A word ends in a letter, so it ends where ``w`` does; no word is the
    # end of another, so one of them matches there. The regex's lookbehind (ASCII-only under
    # ``re.A``) may look at the character before ``lo`` too.
    for word in _VERSION_WORDS:
        if lw.endswith(word):
            b = lo + len(w) - len(word)
            return b == 0 or view[b - 1] not in _ALNUM
    return False  # not reached


def _verify_private_ip(view: str, h: int) -> list[Cand]:
    if h > 0 and view[h - 1] == ".":
        return []
    if _version_context(view, h):  # first: most IP-shaped text rejected is a version number
        return []
    m = _PRIV_RX.match(view, h)
    if not m:
        return []
    return [(h, m.end(1), "PRIVATE_IP")]


def _verify_private_ip_all(view: str, starts: list[int]) -> list[Cand]:
    """:func:`_verify_private_ip` at each position, inlined."""
    out: list[Cand] = []
    append = out.append
    match = _PRIV_RX.match
    version = _version_context
    done = -1
    for h in starts:
        if h < done or (h > 0 and view[h - 1] == "."):
            continue
        if version(view, h):
            continue
        m = match(view, h)
        if m is not None:
            done = m.end(1)
            append((h, done, "PRIVATE_IP"))
    return out


_BATCH[_verify_private_ip] = _verify_private_ip_all


# --- account IDs in wording / key context ---------------------------------------------------
_ACCT_RX = re.compile(
    r"(?:account|owner|acct)[A-Za-z_ -]{0,20}?[ \t\r\n\"'=:|#(\[\x01]{0,12}"
    r"([0-9]{12})(?![0-9])",
    A | re.I,
)
_ACCT_MORE = re.compile(r"(?:[ \t\r\n\"',\[\]\x01]|and|or){1,12}([0-9]{12})(?![0-9])", A)


def _verify_account(view: str, h: int) -> list[Cand]:
    m = _ACCT_RX.match(view, h)
    if not m:
        return []
    out = [(m.start(1), m.end(1), "ACCOUNT")]
    for _ in range(50):  # a short list: "accounts 111…, 222… and 333…"
        m = _ACCT_MORE.match(view, m.end())
        if not m:
            break
        out.append((m.start(1), m.end(1), "ACCOUNT"))
    return out


# --- secrets ------------------------------------------------------------------------------------
_verify_secret = _anchored(
    rf"(?i:secret)[A-Za-z_-]{{0,24}}{_SEP}{{1,12}}([A-Za-z0-9/+]{{40}})(?![A-Za-z0-9/+=])",
    "SECRET_KEY",
)
_verify_session = _anchored(
    rf"(?i:session|security)[_-]?(?i:token)[A-Za-z_-]{{0,12}}{_SEP}{{1,12}}"
    rf"([A-Za-z0-9/+=%]{{32,16384}})(?![A-Za-z0-9/+=%])",
    "SESSION_TOKEN",
)

# --- S3 buckets --------------------------------------------------------------------------------
_NOT_BUCKETS = frozenset({"null", "none", "true", "false", "bucket", "name", "string"})
_IPLIKE = re.compile(r"[0-9]+(?:\.[0-9]+){3}\Z", A)


def _bucket_ok(value: str) -> bool:
    return value not in _NOT_BUCKETS and not _IPLIKE.match(value) and ".." not in value


def _bucket_verify(pattern: str) -> Verify:
    rx = re.compile(pattern, A)

    def verify(view: str, h: int) -> list[Cand]:
        m = rx.match(view, h)
        if not m or not _bucket_ok(m.group(1)):
            return []
        return [(m.start(1), m.end(1), "S3_BUCKET")]

    return verify


_verify_s3url = _bucket_verify(rf"s3[an]?://({_BUCKET})(?![A-Za-z0-9_-])")
_verify_bucket_key = _bucket_verify(
    rf"(?:(?<=--)(?i:bucket)(?:-name)?[ =]+[\"'\x01]{{0,2}}"
    rf"|(?i:bucket)(?:[_-]?(?i:name))?[\"'\x01]{{0,2}}[ \t]*[:=][ \t]*[\"'\x01]{{0,2}})"
    rf"({_BUCKET})(?![A-Za-z0-9_-])"
)

# --- KMS, Route 53, CloudFront ------------------------------------------------------------------
_KMSV = rf"((?:{_UUID}|mrk-[0-9a-f]{{32}}))(?![A-Za-z0-9-])"
_verify_kms = _anchored(
    rf"(?:key/|(?i:key[_-]?id)[A-Za-z_-]{{0,8}}{_SEP}{{0,12}}"
    rf"|(?i:kms)[A-Za-z _-]{{0,24}}?{_SEP}{{0,12}}){_KMSV}",
    "KMS_KEY",
)
_verify_zone = _anchored(
    r"(?i:hosted[ _-]?zone[a-z_ -]{0,8}?)[/ \t\r\n\"'=:|\x01]{0,12}"
    r"(Z(?=[A-Z]*[0-9])[A-Z0-9]{7,31})(?![A-Za-z0-9])",
    "HOSTED_ZONE",
)
_verify_distribution = _anchored(
    r"(?i:distribution[a-z_ -]{0,8}?)[/ \t\r\n\"'=:|\x01]{0,12}"
    r"(E(?=[A-Z]*[0-9])[A-Z0-9]{11,14})(?![A-Za-z0-9])",
    "CF_DISTRIBUTION",
)

# --- AWS host names ---------------------------------------------------------------------------
_HOST_TAIL = re.compile(
    r"(?:amazonaws\.com(?:\.cn)?|\.ec2\.internal|\.compute\.internal|\.cloudfront\.net|\.on\.aws)"
    r"(?![A-Za-z0-9_-])(?!\.[A-Za-z0-9])",
    A,
)
_HOST_CHARS = string.ascii_letters + string.digits + ".-"  # a host name's, scanning back
_AWSCOM = r"\.amazonaws\.com(?:\.cn)?"
_L = r"[a-z0-9-]+"
_HOST_KINDS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p + r"\Z", A), t)
    for p, t in (
        (
            rf"ec2-[0-9]{{1,3}}(?:-[0-9]{{1,3}}){{3}}\.(?:{_L}\.)?compute(?:-1)?{_AWSCOM}",
            "EC2_HOST",
        ),
        (
            rf"ip-[0-9]{{1,3}}(?:-[0-9]{{1,3}}){{3}}\.(?:{_L}\.)?(?:ec2|compute)\.internal",
            "EC2_HOST",
        ),
        (rf"(?:{_L}\.){{2,}}rds{_AWSCOM}", "RDS"),
        (rf"(?:{_L}\.){{2,}}cache{_AWSCOM}", "ELASTICACHE"),
        (rf"(?:{_L}\.)+(?:{_L}\.elb|elb\.{_L}){_AWSCOM}", "ELB"),
        (rf"[0-9a-f]{{32}}\.(?:[a-z0-9]+\.)?{_L}\.eks{_AWSCOM}", "EKS"),
        (rf"[a-z0-9]{{10}}\.execute-api\.{_L}{_AWSCOM}", "API_GATEWAY"),
        (r"[a-z0-9]{32}\.lambda-url\.[a-z0-9-]+\.on\.aws", "LAMBDA_URL"),
        (r"[a-z0-9]{13,14}\.cloudfront\.net", "CLOUDFRONT"),
        (rf"(?:search|vpc)-{_L}\.{_L}\.es{_AWSCOM}", "HOST"),
        (rf"[a-z0-9]{{10,20}}-ats\.iot\.{_L}{_AWSCOM}", "HOST"),
        (rf"(?:{_L}\.){{4,}}amazonaws\.com(?:\.cn)?", "HOST"),
    )
)
#: the kinds above in one pattern (the first alternative that matches wins, as in order)
_HOST_KIND_RX = re.compile("|".join(f"({rx.pattern})" for rx, _ in _HOST_KINDS), A)
_HOST_KIND_TYPES = tuple(t for _, t in _HOST_KINDS)
_ECR_RX = re.compile(rf"([0-9]{{12}})\.dkr\.ecr(?:-fips)?\.{_L}{_AWSCOM}\Z", A)
_SQS_RX = re.compile(rf"(?:sqs(?:-fips)?\.{_L}|{_L}\.queue|queue){_AWSCOM}\Z", A)
_SQS_PATH = re.compile(r"/([0-9]{12})(?![0-9])", A)
_S3_VHOST = re.compile(rf"({_BUCKET})\.s3(?:[.-]{_L})*{_AWSCOM}\Z", A)
_S3_PATHHOST = re.compile(rf"s3(?:[.-]{_L})*{_AWSCOM}\Z", A)
_S3_PATH = re.compile(rf"/({_BUCKET})(?![A-Za-z0-9_-])", A)


def _verify_host(view: str, h: int) -> list[Cand]:
    t = _HOST_TAIL.match(view, h)
    if not t:
        return []
    e = t.end()
    lo = max(0, h - 253)
    s = lo + len(view[lo:h].rstrip(_HOST_CHARS))  # the start of the host characters before h
    while s < h and view[s] in ".-":
        s += 1
    if s >= h:
        return []
    low = view[s:e].lower()
    # each pattern below needs the word tested before it (a cheap way to skip it)
    if "dkr.ecr" in low and _ECR_RX.match(low):
        return [(s, s + 12, "ACCOUNT")]
    if ("sqs" in low or "queue" in low) and _SQS_RX.match(low):
        m = _SQS_PATH.match(view, e)
        return [(m.start(1), m.end(1), "ACCOUNT")] if m else []
    if "s3" in low:
        m = _S3_VHOST.match(low)
        if m:
            return [(s, s + m.end(1), "S3_BUCKET")] if _bucket_ok(m.group(1)) else []
        if _S3_PATHHOST.match(low):
            m = _S3_PATH.match(view, e)
            return [(m.start(1), m.end(1), "S3_BUCKET")] if m and _bucket_ok(m.group(1)) else []
    m = _HOST_KIND_RX.match(low)
    return [(s, e, _HOST_KIND_TYPES[m.lastindex - 1])] if m else []


# --- bare 12-digit numbers: accepted only when equal to an account found elsewhere -------------


def _verify_bare12(view: str, h: int) -> list[Cand]:
    e = h + 12
    if (h > 0 and view[h - 1] in _DIGITS) or (e < len(view) and view[e] in _DIGITS):
        return []
    return [(h, e, "ACCOUNT")]


# --- the rule list -------------------------------------------------------------------------------
# Engine-specific triggers. They skip positions whose find would be dropped anyway, so fewer
# positions need a Python call: an EC2 prefix glued to [A-Za-z0-9_-] (the verification rejects
# it), a private IP right after [A-Za-z0-9_.] (the verification or the boundary rule of
# Scanner._resolve rejects it; every IP-shaped trigger inside such a find would be rejected too,
# so skipping it changes no later verification), a digit run that is not exactly 12 long, hex
# that is not an EC2 ID's 8 or 17 digits, a dotted number that is not IPv4-shaped. Pure ``re``
# searches each literal from a less common character (sre only uses its fast search for a
# pattern that starts with a literal, and its cost follows how often that first character
# occurs) and merges literals that share a prefix.
_NOT_EC2_BEFORE = r"[^A-Za-z0-9_-]"
#: every EC2 prefix in one pattern (a pattern per prefix scans about 15% slower)
_EC2_ALT = "|".join(re.escape(p) for p in sorted(EC2_PREFIXES, key=lambda p: (-len(p), p)))
_EC2_HS = (HsTrigger(rf"(?:^|{_NOT_EC2_BEFORE})(?:{_EC2_ALT})-[0-9a-f]{{8}}", 9),)
_PRIV_SHAPE = (
    r"(?:10\.[0-9]{1,3}\.[0-9]{1,3}|172\.(?:1[6-9]|2[0-9]|3[01])\.[0-9]{1,3}"
    r"|192\.168\.[0-9]{1,3})\.[0-9]"
)
_NOT_BEFORE_IP = string.ascii_letters + string.digits + "_."
_PRIV_HS = (
    HsTrigger(rf"[^A-Za-z0-9_.]{_PRIV_SHAPE}", 1, som=True),
    HsTrigger(rf"^{_PRIV_SHAPE}", 0, som=True),
)
# An escape other than \" and \\ (a letter or \uXXXX): in the JSON view its last character is
# replaced by one that no [A-Za-z0-9_.-] class holds, so a trigger may follow it there.
_ESC1 = r'\\[^"]'
_ESC6 = r"\\u[0-9a-fA-F]{4}"
_EC2_HS_ESC = (HsTrigger(rf"(?:{_ESC1}|{_ESC6})(?:{_EC2_ALT})-[0-9a-f]{{8}}", 9),)
_PRIV_HS_ESC = (
    HsTrigger(rf"{_ESC1}{_PRIV_SHAPE}", 2, som=True),
    HsTrigger(rf"{_ESC6}{_PRIV_SHAPE}", 6, som=True),
)

RULES: tuple[Rule, ...] = (
    Rule("arn", ("ARN",), _verify_arn, literals=("arn:",), re_passes=(RePass("rn:", False, 1),)),
    Rule(
        "ec2",
        tuple(EC2_PREFIXES.values()),
        _verify_ec2,
        regex="-[0-9a-f]{8}",
        width=9,
        hs=_EC2_HS,
        hs_esc=_EC2_HS_ESC,
        re_passes=(RePass(_EC2_HEX.pattern),),  # the hex part whole: UUIDs cost nothing
    ),
    Rule("akid", ("ACCESS_KEY", "IAM_ID"), _verify_akid, literals=_KEY_PREFIXES + _IAM_PREFIXES),
    Rule(
        "private_ip",
        ("PRIVATE_IP",),
        _verify_private_ip,
        literals=("192.168.", "172.", "10."),
        hs=_PRIV_HS,
        hs_esc=_PRIV_HS_ESC,
        # the whole shape, so that version numbers like "10.2" cost no verification
        re_passes=(RePass(_PRIV_SHAPE, not_after=_NOT_BEFORE_IP),),
    ),
    Rule(
        "account",
        ("ACCOUNT",),
        _verify_account,
        caseless=("account", "owner", "acct"),
        re_passes=(RePass("cc(?:ount|t)", True, 1), RePass("wner", True, 1)),
    ),
    Rule(
        "secret",
        ("SECRET_KEY",),
        _verify_secret,
        caseless=("secret",),
        re_passes=(),  # see _SHARED_RE_PASSES
    ),
    Rule(
        "session",
        ("SESSION_TOKEN",),
        _verify_session,
        caseless=(
            "session_token",
            "session-token",
            "sessiontoken",
            "security_token",
            "security-token",
            "securitytoken",
        ),
        re_passes=(),  # see _SHARED_RE_PASSES
    ),
    Rule(
        "s3url",
        ("S3_BUCKET",),
        _verify_s3url,
        literals=("s3a://", "s3n://", "s3://"),
        re_passes=(RePass("3[an]?://", False, 1),),
    ),
    Rule(
        "bucket_key",
        ("S3_BUCKET",),
        _verify_bucket_key,
        caseless=("bucket",),
        re_passes=(),  # see _SHARED_RE_PASSES
    ),
    Rule(
        "kms",
        ("KMS_KEY",),
        _verify_kms,
        literals=("key/",),
        caseless=("key_id", "key-id", "keyid", "kms"),
        re_passes=(),  # see _SHARED_RE_PASSES
    ),
    Rule(
        "zone",
        ("HOSTED_ZONE",),
        _verify_zone,
        caseless=("hostedzone", "hosted_zone", "hosted-zone", "hosted zone"),
        re_passes=(RePass("hosted[ _-]?zone", True),),
    ),
    Rule(
        "distribution",
        ("CF_DISTRIBUTION",),
        _verify_distribution,
        caseless=("distribution",),
        re_passes=(RePass("distribution", True, 0, literal=True),),
    ),
    Rule(
        "host",
        (
            "ACCOUNT",
            "S3_BUCKET",
            "EC2_HOST",
            "RDS",
            "ELASTICACHE",
            "ELB",
            "EKS",
            "API_GATEWAY",
            "LAMBDA_URL",
            "CLOUDFRONT",
            "HOST",
        ),
        _verify_host,
        literals=(
            "amazonaws.com",
            ".compute.internal",
            ".ec2.internal",
            ".cloudfront.net",
            ".on.aws",
        ),
        re_passes=(
            RePass(r"zonaws\.com", False, 3),
            RePass(r"\.(?:compute\.internal|ec2\.internal|cloudfront\.net|on\.aws)"),
        ),
    ),
    Rule(
        "bare_account",
        ("ACCOUNT",),
        _verify_bare12,
        regex="[0-9]{12}",
        width=12,
        hs=(HsTrigger("[^0-9][0-9]{12}", 12), HsTrigger("^[0-9]{12}", 12)),
        hs_esc=(HsTrigger(rf"{_ESC6}[0-9]{{12}}", 12),),  # after \\uXXXX: 12+ digits here
        digit_run=12,
    ),
)
_BARE = len(RULES) - 1
_REVERSIBLE = {name: t.reversible for name, t in BY_NAME.items()}
_RULE_INDEX = {r.name: i for i, r in enumerate(RULES)}

#: For the rules whose verification reads only near its trigger: how many characters before and
#: after a trigger at ``h`` it reads, with :meth:`Scanner._resolve`'s look at the characters
#: around a candidate (``view[h - back : h + after]`` holds all it reads), plus two for safety.
#: A JSON body's view needs to be made only there when these are the only rules that fire
#: (``awsmasker.body``); the tests check each bound against the whole view.
SHORT_REACH: dict[int, tuple[int, int]] = {
    # the prefix run before the "-" (one more than the longest prefix) and the character before
    # it; "-" + 17 hex and the look-ahead, then the character after
    _RULE_INDEX["ec2"]: (_EC2_MAX + 2 + 2, 19 + 2),
    # the version word before it (24 characters and the one before them); 18 characters
    # (15 + "/32") and a two-character look-ahead
    _RULE_INDEX["private_ip"]: (25 + 2, 20 + 2),
    # the look-behind's character; 20 characters and the look-ahead's
    _RULE_INDEX["akid"]: (1 + 2, 21 + 2),
}
#: the rule of bare 12-digit runs (verified only where an account is known)
BARE_RULE = _BARE

#: Pure-``re`` passes shared by rules: every position found goes to each listed rule (with its
#: offset), whose verification rejects the other rule's finds. One pass instead of two.
_SHARED_RE_PASSES: tuple[tuple[RePass, tuple[tuple[str, int], ...]], ...] = (
    (RePass("se(?:cret|ssion[_-]?token|curity[_-]?token)", True), (("secret", 0), ("session", 0))),
    # "key/" searched caselessly too: the verification rejects "KEY/"
    (RePass("k(?:et|ey(?:[-_]?id|/)|ms)", True), (("bucket_key", 3), ("kms", 0))),
)

_PUBLIC_RX = re.compile(
    rf"(?<![A-Za-z0-9_.])({_OCT}\.{_OCT}\.{_OCT}\.{_OCT}{_CIDR})(?![0-9]|\.[0-9])", A
)
_ARN_ACCOUNT = re.compile(r"arn:[^:]*:[^:]*:[^:]*:([0-9]{12}):", A)


def _is_public(ip: str) -> bool:
    o = [int(x) for x in ip.split("/")[0].split(".")]
    if o[0] in (0, 10, 127) or o[0] >= 224:
        return False
    if (o[0] == 172 and 16 <= o[1] <= 31) or (o[0] == 192 and o[1] == 168):
        return False
    if (o[0] == 169 and o[1] == 254) or (o[0] == 100 and 64 <= o[1] <= 127):
        return False
    return not (o[0] == 255 or (o[0] == 192 and o[1] == 0 and o[2] in (0, 2)))


# ---------------------------------------------------------------------------------------------
# trigger engines: view bytes → {rule index: trigger start positions (any order, maybe repeated)}

#: Keys of marker positions in an engine's result, when it reports markers: ``AWS_`` (token
#: starts) and ``"thinking"`` (a JSON key the body masker looks for).
TOKEN_KEY = -1
THINKING_KEY = -2
MARKERS = {TOKEN_KEY: TOKEN_PREFIX, THINKING_KEY: '"thinking"'}
#: Key, in :meth:`Scanner.json_triggers_raw`, of the flag: the raw body holds escapes other than
#: ``\\"``, ``\\n`` and ``\\\\``.
ESCAPE_KEY = -3
#: In a raw JSON body: an escape other than ``\"``, ``\n`` and ``\\`` (an odd backslash of a run)
_RAW_ESCAPE_HS = r'(?:^|[^\\])(?:\\\\)*\\[^"\\n]'
#: Key of :meth:`Scanner.json_triggers_raw`'s flag: the raw body holds an escaped backslash
PAIR_KEY = -5
#: Key, in :meth:`Scanner.json_triggers_raw`, of the starts of the runs of 12 digits outside JSON
#: strings (where the quotes before, escaped ones not counted, are even in number): where an
#: account is a bare JSON number. The same quote parity as in the scan view, found in the scan.
OUTSIDE12_KEY = -6
#: Key, in :meth:`Scanner.json_triggers_raw`, of the flag: the raw body may hold escapes that
#: hide identifier characters (``\\/``, ``\\u00XX``: see :mod:`awsmasker.body`)
DECODE_KEY = -7
_JSON_TOKEN = r'(?:[^"\\]|\\[\s\S])'  # a character, or an escape's first two
#: From the start: characters, escapes and whole strings (the way both views pair backslashes),
#: then 12 digits. The ``\\?``: the JSON view keeps an invalid escape (``\5``) as it is, so an
#: account may start right after its backslash (no valid escape has a digit there).
_RAW_OUTSIDE12_HS = rf'^(?:{_JSON_TOKEN}|"{_JSON_TOKEN}*")*\\?[0-9]{{12}}'
Hits = dict[int, list[int]]


def _encode(view: str) -> bytes:
    """One byte per character (non-Latin-1 characters become ``?``)."""
    return view.encode("latin-1", "replace")


def _alternation(items: Iterable[str]) -> bytes:
    return b"|".join(re.escape(x).encode() for x in sorted(items, key=lambda x: (-len(x), x)))


def _canonical_passes(rules: tuple[Rule, ...]) -> list[tuple[int, bytes, bool]]:
    """(rule index, pattern, search the lowercased copy) for each rule's canonical triggers."""
    out: list[tuple[int, bytes, bool]] = []
    for i, r in enumerate(rules):
        if r.regex:
            out.append((i, r.regex.encode(), False))
        if r.literals:
            out.append((i, _alternation(r.literals), False))
        if r.caseless:
            out.append((i, _alternation(r.caseless), True))
    return out


_DIGIT_CLASS = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))


def digit_runs(b: bytes, n: int) -> list[int]:
    """Starts of the runs of exactly ``n`` ASCII digits in ``b``.

    sre has no fast search for ``[0-9]{12}`` (it tries every position), so the bytes are mapped
    to ``0`` (digit) and space first; a run of ``n`` zeros is then a plain substring search.
    """
    t = b.translate(_DIGIT_CLASS)
    needle = b"0" * n
    find = t.find
    size = len(t)
    out: list[int] = []
    i = find(needle)
    while i >= 0:
        j = i + n
        if (j == size or t[j] != 48) and (i == 0 or t[i - 1] != 48):
            out.append(i)
        j = find(b" ", j)  # the end of this run
        if j < 0:
            break
        i = find(needle, j)
    return out


Search = Callable[[bytes], list[int]]


def _literal_search(lit: str) -> Search:
    needle = lit.encode()

    def search(data: bytes) -> list[int]:
        out: list[int] = []
        find = data.find
        i = find(needle)
        while i >= 0:
            out.append(i)
            i = find(needle, i + 1)
        return out

    return search


def _not_after(search: Search, chars: str) -> Search:
    bad = frozenset(chars.encode())

    def filtered(data: bytes) -> list[int]:
        return [h for h in search(data) if h == 0 or data[h - 1] not in bad]

    return filtered


def _regex_search(pattern: str) -> Search:
    finditer = re.compile(pattern.encode()).finditer
    return lambda data: [m.start() for m in finditer(data)]


class ReEngine:
    """Pure-``re`` triggers: literal-led passes (sre's fast literal search), digit runs lazily."""

    name = "re"
    needs_lower = True
    reports_markers = False

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        #: (search, in the lowercased copy?, ((rule index, offset), …))
        self._passes: list[tuple[Search, bool, tuple[tuple[int, int], ...]]] = []
        #: rule index → digit count; searched only when the scanner asks (bare account numbers)
        self.lazy: dict[int, int] = {}

        def add(p: RePass | tuple[bytes, bool], targets: tuple[tuple[int, int], ...]) -> None:
            if isinstance(p, RePass):
                search = _literal_search(p.pattern) if p.literal else _regex_search(p.pattern)
                if p.not_after:
                    search = _not_after(search, p.not_after)
                self._passes.append((search, p.lower, targets))
            else:
                self._passes.append((_regex_search(p[0].decode()), p[1], targets))

        done: set[int] = set()
        if rules is RULES:
            for p, names in _SHARED_RE_PASSES:
                targets = tuple((_RULE_INDEX[n], off) for n, off in names)
                add(p, targets)
                done.update(i for i, _ in targets)
        for i, r in enumerate(rules):
            if r.digit_run:
                self.lazy[i] = r.digit_run
                done.add(i)
            elif r.re_passes:
                for p in r.re_passes:
                    add(p, ((i, p.offset),))
                done.add(i)
        for i, pattern, low in _canonical_passes(rules):
            if i not in done:
                add((pattern, low), ((i, 0),))

    def find(self, b: bytes, lb: bytes) -> Hits:
        out: Hits = {}
        for search, low, targets in self._passes:
            starts = search(lb if low else b)
            if not starts:
                continue
            for i, off in targets:
                hs = starts
                if off:
                    hs = [h - off for h in starts]
                    if hs[0] < 0:
                        hs = [h for h in hs if h >= 0]
                out.setdefault(i, []).extend(hs)
        return out

    def find_lazy(self, i: int, b: bytes, values: set[str]) -> list[int]:
        """Where rule ``i`` (a digit run) may match, given that only ``values`` are of use: a
        few values are searched for directly (a long needle is a fast search)."""
        if len(values) > 8:
            return digit_runs(b, self.lazy[i])
        out: list[int] = []
        for v in values:
            out.extend(_literal_search(v)(b))
        return out


class HyperscanEngine:
    """hyperscan: every trigger of every rule, and token starts, in one pass over the bytes."""

    name = "hyperscan"
    needs_lower = False
    reports_markers = True
    lazy: dict[int, int] = {}  # noqa: RUF012 (never mutated)

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        import hyperscan

        exprs: list[bytes] = []
        flags: list[int] = []
        self._meta: list[tuple[int, int, bool]] = []  # (rule index, k, som): see HsTrigger

        def add(i: int, pattern: str, flag: int, k: int, som: bool = False) -> None:
            exprs.append(pattern.encode())
            flags.append(flag | (hyperscan.HS_FLAG_SOM_LEFTMOST if som else 0))
            self._meta.append((i, k, som))

        for i, r in enumerate(rules):
            if r.hs:
                for t in r.hs:
                    add(i, t.pattern, 0, t.k, t.som)
                continue
            if r.regex:
                add(i, r.regex, 0, r.width)
            for lit in r.literals:
                add(i, re.escape(lit), 0, len(lit))
            for lit in r.caseless:
                add(i, re.escape(lit), hyperscan.HS_FLAG_CASELESS, len(lit))
        for key, lit in MARKERS.items():
            add(key, re.escape(lit), 0, len(lit))

        def compile_db() -> hyperscan.Database:
            """A database of the patterns added so far."""
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(
                expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags
            )
            return db

        self._db = compile_db()
        # The same for a raw JSON body (no escape replaced; plain text may hold many
        # backslashes: only JSON bodies are scanned with this one), plus the triggers right
        # after an escape, whether escapes other than ``\"``, ``\n`` and ``\\`` occur (``\\``
        # pairs counted from the start of each run of backslashes) and whether an escaped
        # backslash does.
        for i, r in enumerate(rules):
            for t in r.hs_esc:
                add(i, t.pattern, 0, t.k, t.som)
        add(ESCAPE_KEY, _RAW_ESCAPE_HS, hyperscan.HS_FLAG_SINGLEMATCH, 0)  # whether, not where
        add(PAIR_KEY, r"\\\\", hyperscan.HS_FLAG_SINGLEMATCH, 2)
        add(OUTSIDE12_KEY, _RAW_OUTSIDE12_HS, 0, 12)
        add(DECODE_KEY, r"\\(?:/|u00[0-7])", hyperscan.HS_FLAG_SINGLEMATCH, 0)
        self._db_raw = compile_db()
        self._som = [m[2] for m in self._meta]

    def find(self, b: bytes, lb: bytes, *, raw: bool = False) -> Hits:
        """Trigger positions. With ``raw`` (a raw JSON body), also the ``hs_esc`` triggers,
        whether escapes other than ``\\"``/``\\n``/``\\\\`` occur (:data:`ESCAPE_KEY`), whether
        an escaped backslash does (:data:`PAIR_KEY`: the first one's start), whether escapes to
        decode may (:data:`DECODE_KEY`) and the runs of 12 digits outside strings
        (:data:`OUTSIDE12_KEY`)."""
        # per pattern that matched: ``from`` (som) or ``to`` of each match; the callback, once a
        # match, does as little as it can
        lists: defaultdict[int, list[int]] = defaultdict(list)
        som = self._som

        def on_match(pid: int, frm: int, to: int, _flags: int, _ctx: object) -> None:
            lists[pid].append(frm if som[pid] else to)

        (self._db_raw if raw else self._db).scan(b, match_event_handler=on_match)
        out: Hits = {}
        meta = self._meta
        for pid, lst in lists.items():
            i, k, from_start = meta[pid]
            hs = [x + k for x in lst] if from_start else [x - k for x in lst]
            have = out.get(i)
            if have is None:
                out[i] = hs
            else:
                have += hs
        return out


ENGINES: dict[str, type] = {"re": ReEngine, "hyperscan": HyperscanEngine}
_engine_cache: dict[str, object] = {}


def available_engines() -> list[str]:
    out = ["re"]
    try:
        get_engine("hyperscan")
        out.append("hyperscan")
    except ImportError:
        pass
    return out


def get_engine(name: str | None = None) -> ReEngine | HyperscanEngine:
    """The named engine, or the best one installed (hyperscan, else ``re``)."""
    if name is None:
        try:
            return get_engine("hyperscan")
        except ImportError:
            return get_engine("re")
    eng = _engine_cache.get(name)
    if eng is None:
        eng = _engine_cache[name] = ENGINES[name](RULES)
    return eng  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------


class ScanResult(NamedTuple):
    matches: list[Match]
    #: spans of the tokens already in the view, as ``TOKEN_RE.finditer`` finds them
    tokens: list[tuple[int, int]]
    #: whether ``"thinking"`` occurs in the view (``None``: the engine did not look)
    thinking: bool | None
    #: the accounts the view names itself (in context or inside an ARN; empty when accounts
    #: are not masked): a bare 12-digit number equal to one is an account too, anywhere in the
    #: body, so a view scanned as part of a body needs those the other parts name
    accounts: frozenset[str] = frozenset()


class Scanner:
    """Finds identifiers; configuration fixed at construction."""

    def __init__(
        self,
        *,
        disabled_types: Iterable[str] = (),
        allow_values: Iterable[str] = (),
        mask_public_ips: bool = False,
        engine: str | None = None,
    ) -> None:
        disabled = set(disabled_types)
        unknown = disabled - TYPE_NAMES
        if unknown:
            raise ValueError(f"unknown identifier types: {sorted(unknown)}")
        self.disabled = frozenset(disabled)
        self.allow = frozenset(allow_values)
        self.mask_public_ips = mask_public_ips and "PUBLIC_IP" not in self.disabled
        self.engine = get_engine(engine)
        active = [i for i, r in enumerate(RULES) if any(t not in self.disabled for t in r.types)]
        self._bare = _BARE in active
        #: rule index → its batch verifier, for the active rules (the bare 12-digit rule is
        #: verified apart); the engine's hits are looked up here, markers are not in it
        self._verifiers = {i: batch_verify(RULES[i].verify) for i in active if i != _BARE}

    @property
    def bare_accounts(self) -> bool:
        """Whether a bare 12-digit number can be an account (one named elsewhere in the body)."""
        return self._bare

    def scan(self, view: str) -> list[Match]:
        """Sorted, non-overlapping matches in ``view``."""
        return self.scan_full(view).matches

    def scan_full(self, view: str, accounts: frozenset[str] = frozenset()) -> ScanResult:
        """:meth:`scan`, the spans of the tokens already in ``view``, and whether it holds
        ``"thinking"`` if the engine saw that in passing. ``accounts``: accounts named
        elsewhere in the same body (see :attr:`ScanResult.accounts`)."""
        if not view:
            return ScanResult([], [], False)
        eng = self.engine
        b = _encode(view)
        hits = eng.find(b, b.lower() if eng.needs_lower else b)
        return self._scan_hits(view, b, hits, accounts)

    def json_triggers_raw(self, raw: str) -> tuple[Hits, int] | None:
        """Trigger positions for the JSON view of ``raw``, found in ``raw`` itself (no escape
        replaced first), and where its first escaped backslash starts (-1: nowhere).

        The raw text differs from the JSON view only inside escapes, and no trigger matches a
        backslash or what the view has there except as the character before it: after an
        escaped backslash both have one outside every class such a trigger tests (``\\`` and
        ``\\x01``), after another escape the ``hs_esc`` triggers match. So every trigger of the
        JSON view is found at its position, plus maybe some that verification rejects.

        The result holds :data:`ESCAPE_KEY` when escapes other than ``\\"``, ``\\n`` and ``\\\\``
        occur (or invalid ones), :data:`DECODE_KEY` when escapes that need exact decoding may,
        and under :data:`OUTSIDE12_KEY` the starts of the runs of 12 digits outside strings.
        ``None`` if the engine cannot do this (only hyperscan can) or ``raw`` ends in a
        backslash.
        """
        eng = self.engine
        if not isinstance(eng, HyperscanEngine) or not raw or raw[-1] == "\\":
            return None
        b = _encode(raw)
        hits = eng.find(b, b, raw=True)
        del b  # free the bytes before the caller makes the view (the allocator reuses them)
        pair = hits.pop(PAIR_KEY, None)
        return hits, -1 if pair is None else pair[0]

    def scan_hits(
        self, view: str, hits: Hits, accounts: frozenset[str] = frozenset()
    ) -> ScanResult:
        """:meth:`scan_full` of ``view`` with the trigger positions ``hits`` already found (by
        :meth:`json_triggers_raw`): in ``view``, those of every trigger and maybe more."""
        return self._scan_hits(view, None, hits, accounts)

    def _scan_hits(
        self, view: str, b: bytes | None, hits: Hits, accounts: frozenset[str] = frozenset()
    ) -> ScanResult:
        """Verify the engine's trigger positions ``hits`` in ``view`` (``b``: its bytes, or
        ``None`` to encode them again if a lazy rule needs them)."""
        eng = self.engine
        cands: list[Cand] = []
        verifiers = self._verifiers
        for i, starts in hits.items():  # a few rules hit a body, most of them none
            verify_all = verifiers.get(i)
            if verify_all is not None and starts:
                cands += verify_all(view, sorted(set(starts)))
        if self.mask_public_ips:
            for m in _PUBLIC_RX.finditer(view):
                if _is_public(m.group(1)) and not _version_context(view, m.start()):
                    cands.append((m.start(1), m.end(1), "PUBLIC_IP"))
        own: set[str] = set()
        if self._bare:
            own = _known_accounts(view, cands)
            known = own | accounts if accounts else own
            if known:  # only then are bare 12-digit numbers worth finding
                lazy = _BARE in eng.lazy
                if lazy and b is None:
                    b = _encode(view)
                starts = eng.find_lazy(_BARE, b, known) if lazy else hits.get(_BARE)
                if starts:
                    for h in sorted({h for h in starts if view[h : h + 12] in known}):
                        cands.extend(_verify_bare12(view, h))
        thinking: bool | None = None
        if eng.reports_markers:
            tokens = _tokens_at(view, hits[TOKEN_KEY]) if TOKEN_KEY in hits else []
            thinking = THINKING_KEY in hits
        else:
            tokens = [m.span() for m in TOKEN_RE.finditer(view)]
        return ScanResult(self._resolve(view, cands, tokens), tokens, thinking, frozenset(own))

    def _resolve(self, view: str, cands: list[Cand], tokens: list[tuple[int, int]]) -> list[Match]:
        """Sorted, non-overlapping matches from the candidates: at each start the longest; a
        candidate is dropped if glued to a word character before or a digit after, overlapping
        a token already in ``view``, disabled or allowed."""
        n = len(view)
        out: list[Match] = []
        append = out.append
        last = 0
        disabled = self.disabled
        allow = self.allow
        wordch = _WORDCH
        digits = _DIGITS
        reversible = _REVERSIBLE
        new = _new_tuple
        # Tokens are sorted and disjoint, and candidates come by increasing start: a token that
        # ends at or before a candidate's start overlaps no later one, so one index walks them.
        ntok = len(tokens)
        k = 0
        tok_start, tok_end = tokens[0] if ntok else (n + 1, n + 1)
        # (start, -end, type) sorts natively (no key function): at a start the longest first. A
        # repeated candidate needs no removing: it fares as the first one, and after that one is
        # taken it starts before ``last`` (no candidate is empty).
        for s, neg_e, t in sorted([(s, -e, t) for s, e, t in cands]):
            if s < last:
                continue
            e = -neg_e
            if (s > 0 and view[s - 1] in wordch) or (e < n and view[e] in digits):
                continue
            if disabled and t in disabled:
                continue
            if tok_end <= s:
                while tok_end <= s:
                    k += 1
                    tok_start, tok_end = tokens[k] if k < ntok else (n + 1, n + 1)
            if tok_start < e:
                continue  # overlaps a token already in the text
            value = view[s:e]
            if allow and value in allow:
                continue
            append(new(Match, (s, e, t, value, reversible[t])))
            last = e
        return out


def _tokens_at(view: str, starts: list[int]) -> list[tuple[int, int]]:
    """Token spans from the positions of ``AWS_``, exactly as ``TOKEN_RE.finditer`` finds them."""
    out: list[tuple[int, int]] = []
    end = -1
    for h in sorted(starts):
        if h < end:
            continue
        m = TOKEN_RE.match(view, h)
        if m:
            out.append(m.span())
            end = m.end()
    return out


def _known_accounts(view: str, cands: list[Cand]) -> set[str]:
    """Accounts already found (in context or inside an ARN): bare 12-digit numbers equal to one
    of them are accounts too."""
    known: set[str] = set()
    for s, e, t in cands:
        if t == "ACCOUNT":
            known.add(view[s:e])
        elif t == "ARN":
            m = _ARN_ACCOUNT.match(view, s, e)
            if m:
                known.add(m.group(1))
    return known
