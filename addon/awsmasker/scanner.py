"""Find AWS identifiers in text.

The rules (:data:`RULES`) are a table: each row has *triggers* (short regexes saying where an
identifier may start), a *verification* (Python code anchored at a trigger that decides whether
an identifier is there and where its value lies) and the types it gives. Context (``account``,
``"Bucket":``, ``s3://`` …) is part of the trigger and of the verification.

A trigger engine finds the triggers of every rule: hyperscan (one pass for all of them) when it
is installed, else Python ``re``, chosen once (:func:`get_engine`). An engine only says *where
to look*; every match comes from the same verification code, so both give the same matches
(tests check this on random text and on the real-text corpus).

Guarantees:

* **Linear time.** The engines take linear time; each verification reads a bounded window around
  its trigger (every repetition in the patterns is bounded), and a trigger inside the previous
  find of its rule is not verified again. Values found in context are looked for again at most
  :data:`REPEAT_MAX` times (a search each); the candidates are sorted once.
* **Never matched.** A match never starts right after ``[A-Za-z0-9_]`` nor ends right before an
  ASCII digit, so the token that replaces it is found again exactly (see
  :data:`awsmasker.tokens.TOKEN_RE`); it never overlaps a token already in the text; a 12-digit
  number alone is an account only when the same number was found as one in context; version
  numbers (``version 10.1.2.3``) are no addresses.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

from awsmasker.catalogue import BY_NAME, EC2_PREFIXES, TYPE_NAMES
from awsmasker.tokens import TOKEN_RE

A = re.ASCII


class Match(NamedTuple):
    start: int
    end: int
    type_name: str
    value: str
    reversible: bool


Cand = tuple[int, int, str]  # start, end, type name
#: a rule's verification at one trigger position: its finds, left to right
Verify = Callable[[str, int], list[Cand]]


@dataclass(frozen=True)
class Rule:
    """One row of the rule table.

    The verification runs at the start of every match of a trigger (``triggers`` are
    case-sensitive; ``caseless`` ones ignore ASCII case and are written in lower case), so it can
    only succeed where a trigger matches. A trigger may match where the verification fails, at a
    cost of one call. Each trigger starts with a literal character (``re`` then finds candidates
    with its fast literal search; with an alternation or a class first it would try every
    position) or is a run of digits (``[0-9]{12}``, which :class:`ReEngine` finds by
    :func:`digit_runs`); none looks around (hyperscan has no look-around).
    """

    name: str
    types: tuple[str, ...]
    verify: Verify
    triggers: tuple[str, ...] = ()
    caseless: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# shared pattern pieces

_SEP = r"[ \t\r\n\"'`=:|\x01]"  # separators between a context key and its value
_OCT = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_WORDCH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_DIGITS = frozenset("0123456789")


def _anchored(pattern: str, type_name: str) -> Verify:
    """Verification by a regex anchored at the trigger; group 1 is the value."""
    rx = re.compile(pattern, A)

    def verify(view: str, h: int) -> list[Cand]:
        m = rx.match(view, h)
        return [(m.start(1), m.end(1), type_name)] if m else []

    return verify


# --- ARN ---------------------------------------------------------------------------------------
_PARTITIONS = r"(?:aws|aws-cn|aws-us-gov|aws-iso|aws-iso-[a-z]|aws-eusc)"
_ARN_RX = re.compile(
    # a partition, or a template for one (CloudFormation's ``${AWS::Partition}``, the docs'
    # ``{arn-aws}`` for ``arn:aws:``)
    rf"((?:arn:(?:{_PARTITIONS}|\$\{{(?:AWS::)?Partition\}}):|\{{arn-aws\}})[a-z0-9-]{{1,64}}:"
    r"[a-z0-9-]{0,32}:(?:[0-9]{12}|aws)?:[A-Za-z0-9/_+=.@:*-]{0,1023}[A-Za-z0-9/_+=@*-]"
    # URL-encoded (a query parameter): every ``:`` is ``%3A``
    rf"|(?i:arn%3A){_PARTITIONS}(?i:%3A)[a-z0-9-]{{1,64}}(?i:%3A)[a-z0-9-]{{0,32}}(?i:%3A)"
    r"(?:[0-9]{12}|aws)?(?i:%3A)[A-Za-z0-9/_+=.@*%-]{0,1023}[A-Za-z0-9/_+=@*-])",
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


# --- access keys / IAM unique IDs -------------------------------------------------------------
_KEY_PREFIXES = ("AKIA", "ASIA", "ABIA", "ACCA")
_IAM_PREFIXES = ("AIDA", "AROA", "AIPA", "ANPA", "ANVA", "AGPA", "APKA", "ASCA")
# Access key IDs are 20 characters; IAM unique IDs have no fixed length (botocore's ``idType``:
# 16 to 128 word characters; 20 and 21 are usual). Right after ``/`` or ``+`` is fine
# (``/keys/AKIA…``): inside base64 the run would go on with a lower-case letter.
_AKID_RX = re.compile(r"(?<![A-Za-z0-9])(A[A-Z0-9]{3}[A-Z0-9]{12,124})(?![A-Za-z0-9+])", A)
_PAIR_SECRET = re.compile(r":([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])", A)


def _verify_akid(view: str, h: int) -> list[Cand]:
    m = _AKID_RX.match(view, h)
    if not m:
        return []
    e = m.end()
    if view[h : h + 4] not in _KEY_PREFIXES:
        return [(h, e, "IAM_ID")]
    if e - h != 20:
        return []
    out = [(h, e, "ACCESS_KEY")]
    s = _PAIR_SECRET.match(view, e)  # ``AKIA…:secret`` (a credential pair on one line)
    if s:
        out.append((s.start(1), s.end(1), "SECRET_KEY"))
    return out


# --- private IPv4 --------------------------------------------------------------------------------
_CIDR = r"(?:/(?:3[0-2]|[12][0-9]|[0-9]))?"
_PRIV_RX = re.compile(
    rf"((?:10\.{_OCT}\.{_OCT}\.{_OCT}|172\.(?:1[6-9]|2[0-9]|3[01])\.{_OCT}\.{_OCT}"
    rf"|192\.168\.{_OCT}\.{_OCT}){_CIDR})(?![0-9]|\.[0-9])",
    A,
)
_NOT_BEFORE_IP = frozenset(string.ascii_letters + string.digits + "_.")
#: Version wording right before an address makes it a version: one of these words (ASCII case
#: ignored) as a whole word, then only separators, within the 24 characters before it.
#: ``server 10.0.1.5`` is an address, ``ver 10.0.1.5`` a version; ``_`` counts as a separator
#: (``app_version=10.1.2.3``). No word is the end of another, so at most one can end the text.
_VERSION_WORDS = tuple(
    w.encode()
    for w in ("version", "release", "tags", "tag", "ver", "build", "firmware", "chrome", "firefox",
              "safari")
)  # fmt: skip
_VERSION_SEP = " \t:=\"'\x01/"
_ALNUM = frozenset(string.ascii_letters + string.digits)


def _version_context(view: str, s: int) -> bool:
    """Does a version word (and separators) end right before ``s``?"""
    lo = max(0, s - 24)
    # The word ends where the separators before ``s`` start (it ends in a letter). Bytes: their
    # ``lower`` is ASCII only and keeps every position.
    w = view[lo:s].rstrip(_VERSION_SEP).encode("latin-1", "replace").lower()
    for word in _VERSION_WORDS:
        if w.endswith(word):
            b = lo + len(w) - len(word)
            return b == 0 or view[b - 1] not in _ALNUM
    return False


def _verify_private_ip(view: str, h: int) -> list[Cand]:
    # Right after a word character an address would be dropped (see Scanner._resolve), right
    # after "." it is part of a longer dotted number; rejecting it here also leaves the
    # addresses inside it to their own triggers, which reject them alike.
    if h > 0 and view[h - 1] in _NOT_BEFORE_IP:
        return []
    m = _PRIV_RX.match(view, h)
    if not m or _version_context(view, h):
        return []
    return [(h, m.end(1), "PRIVATE_IP")]


# --- account IDs in wording / key context ---------------------------------------------------
_ACCT_RX = re.compile(
    # "account 1234…", "Account B (`4444…`)", "accounts, with the identifiers ``1111…``",
    # ``"MemberAccounts": [\n    "2222…"``; or an S3 log path (``AWSLogs/1442…/CloudTrail/``)
    r"(?:(?:account|owner|acct)[A-Za-z_ ,-]{0,30}?[ \t\r\n\"'`=:|#(\[\x01]{0,24}|awslogs/)"
    r"([0-9]{12})(?![0-9])",
    A | re.I,
)
_ACCT_MORE = re.compile(r"(?:[ \t\r\n\"'`,\[\]\x01]|and|or){1,40}([0-9]{12})(?![0-9])", A)


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
_verify_bucket_assign = _bucket_verify(
    rf"(?i:bucket)(?:[_-]?(?i:name))?[\"'\x01]{{0,2}}[ \t]*[:=][ \t]*[\"'\x01]{{0,2}}"
    rf"({_BUCKET})(?![A-Za-z0-9_-])"
)
# a CLI option ending in ``bucket`` (``--bucket``, ``--source-bucket``, ``--s-3-bucket``)
_verify_bucket_option = _bucket_verify(
    rf"(?<=-)(?i:bucket)(?:-name)?[ =]+[\"'\x01]{{0,2}}({_BUCKET})(?![A-Za-z0-9_-])"
)
_OPTION_CHARS = string.ascii_lowercase + string.digits + "-"
# prose: the bucket ``name``, a bucket named "name", an S3 bucket called `name` (quoted; in a
# JSON view an escaped quote is two characters)
_verify_bucket_prose = _bucket_verify(
    rf"(?i:bucket)s?(?:[ \t]+(?i:named|called))?[ \t\r\n]+(?:``|[`\"'\x01]{{1,2}})({_BUCKET})"
    r"(?=[`\"'\x01])"
)


def _verify_bucket_key(view: str, h: int) -> list[Cand]:
    found = _verify_bucket_assign(view, h) or _verify_bucket_prose(view, h)
    if found or h < 2 or view[h - 1] != "-":
        return found
    lo = max(0, h - 64)
    s = lo + len(view[lo:h].rstrip(_OPTION_CHARS))  # the option's start: it must be ``--``
    return _verify_bucket_option(view, h) if view.startswith("--", s) else []


# --- KMS, Route 53, CloudFront ------------------------------------------------------------------
_KMSV = rf"((?:{_UUID}|mrk-[0-9a-f]{{32}}))(?![A-Za-z0-9-])"
_verify_kms = _anchored(
    rf"(?:key/|(?i:key[ _-]?id)[A-Za-z_-]{{0,8}}{_SEP}{{0,12}}"
    rf"|(?i:kms)[A-Za-z _-]{{0,24}}?{_SEP}{{0,12}}){_KMSV}",
    "KMS_KEY",
)
_verify_zone = _anchored(
    r"(?i:hosted[ _-]?zone[a-z_ -]{0,8}?)[/ \t\r\n\"'`=:|\x01]{0,12}"
    r"(Z(?=[A-Z]*[0-9])[A-Z0-9]{7,31})(?![A-Za-z0-9])",
    "HOSTED_ZONE",
)
_verify_distribution = _anchored(
    # "DistributionId", "--distribution-id", "distribution/"; CloudFront's "Id" of a
    # distribution or an origin access identity ("Id": "EDFDVBD6EXAMPLE", --id E1XNX8R2GOAABC,
    # origin-access-identity/cloudfront/E74FTE3AEXAMPLE, "with the ID ``EDFDVBD6EXAMPLE``")
    r"(?:(?i:distribution[a-z_ -]{0,8}?)[/ \t\r\n\"'`=:|\x01]{0,12}"
    r"|(?<=[\"'\x01])Id[\"'\x01]{1,2}[ \t]*:[ \t]*[\"'\x01]{1,2}"
    r"|--id[ =]+|(?i:origin-access-identity/)(?:cloudfront/)?|ID[ \t\r\n]{1,4}`{0,2})"
    r"(E(?=[A-Z]*[0-9])[A-Z0-9]{9,15})(?![A-Za-z0-9])",
    "CF_DISTRIBUTION",
)

# --- AWS host names ---------------------------------------------------------------------------
_HOST_TAIL = re.compile(
    r"(?:amazonaws\.com(?:\.cn)?|\.ec2\.internal|\.compute\.internal|\.cloudfront\.net|\.on\.aws)"
    # a ``-`` may follow: no host name goes on past its top-level domain that way
    # (``"Id": "bucket.s3.amazonaws.com-origin"`` names a host)
    r"(?![A-Za-z0-9_])(?!\.[A-Za-z0-9])",
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
_OIDC_PATH = re.compile(r"/id/([0-9A-Fa-f]{32})(?![A-Za-z0-9])", A)


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
    if low.startswith("oidc.eks."):  # an EKS cluster's OIDC issuer: the ID in the path
        m = _OIDC_PATH.match(view, e)
        return [(m.start(1), m.end(1), "EKS_OIDC")] if m else []
    m = _HOST_KIND_RX.match(low)
    return [(s, e, _HOST_KIND_TYPES[m.lastindex - 1])] if m else []


# --- bare 12-digit numbers: accepted only when equal to an account found elsewhere -------------


def _verify_bare12(view: str, h: int) -> list[Cand]:
    e = h + 12
    if (h > 0 and view[h - 1] in _DIGITS) or (e < len(view) and view[e] in _DIGITS):
        return []
    return [(h, e, "ACCOUNT")]


def _verify_token(view: str, h: int) -> list[Cand]:
    m = TOKEN_RE.match(view, h)
    return [(h, m.end(), "")] if m else []


# --- the rule table ----------------------------------------------------------------------------

_QUOTES = "\"'\x01"  # a quote, and what a JSON view has for an escaped one
_OCTETS = r"\.[0-9]{1,3}\.[0-9]"  # the last two octets (the first digit of the last)

RULES: tuple[Rule, ...] = (
    Rule("arn", ("ARN",), _verify_arn, triggers=(r"\{arn-aws\}",), caseless=("arn(?::|%3a)",)),
    # an EC2-family ID is found by its hex part, whole (a UUID's groups are no trigger); the
    # prefix before it is checked in Python
    Rule(
        "ec2",
        tuple(EC2_PREFIXES.values()),
        _verify_ec2,
        triggers=("-(?:[0-9a-f]{17}|[0-9a-f]{8})(?:[^A-Za-z0-9]|$)",),
    ),
    Rule(
        "akid",
        ("ACCESS_KEY", "IAM_ID"),
        _verify_akid,
        triggers=("A(?:" + "|".join(p[1:] for p in _KEY_PREFIXES + _IAM_PREFIXES) + ")",),
    ),
    Rule(
        "private_ip",
        ("PRIVATE_IP",),
        _verify_private_ip,
        # the whole shape, so that version numbers like "10.2" cost no verification
        triggers=(
            rf"10\.[0-9]{{1,3}}{_OCTETS}",
            rf"172\.(?:1[6-9]|2[0-9]|3[01]){_OCTETS}",
            rf"192\.168{_OCTETS}",
        ),
    ),
    Rule("account", ("ACCOUNT",), _verify_account, caseless=("acc(?:ount|t)", "owner", "awslogs/")),
    Rule("secret", ("SECRET_KEY",), _verify_secret, caseless=("secret",)),
    Rule(
        "session", ("SESSION_TOKEN",), _verify_session, caseless=("se(?:ssion|curity)[_-]?token",)
    ),
    Rule("s3url", ("S3_BUCKET",), _verify_s3url, triggers=("s3[an]?://",)),
    Rule("bucket_key", ("S3_BUCKET",), _verify_bucket_key, caseless=("bucket",)),
    # "key/" is found caselessly too (one pass); the verification wants it in lower case
    Rule("kms", ("KMS_KEY",), _verify_kms, caseless=("k(?:ey(?:/|[ _-]?id)|ms)",)),
    Rule("zone", ("HOSTED_ZONE",), _verify_zone, caseless=("hosted[ _-]?zone",)),
    Rule(
        "distribution",
        ("CF_DISTRIBUTION",),
        _verify_distribution,
        # "Id"/"ID" are everywhere in AWS output ("VpcId"): only where an E… value follows
        triggers=(
            "--id",
            rf"Id[{_QUOTES}]{{1,2}}[ \t]*:[ \t]*[{_QUOTES}]{{1,2}}E",
            r"ID[ \t\r\n]{1,4}`{0,2}E",
        ),
        caseless=("distribution", "origin-access-identity/"),
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
            "EKS_OIDC",
            "API_GATEWAY",
            "LAMBDA_URL",
            "CLOUDFRONT",
            "HOST",
        ),
        _verify_host,
        triggers=(
            r"amazonaws\.com",
            r"\.(?:compute\.internal|ec2\.internal|cloudfront\.net|on\.aws)",
        ),
    ),
    # verified only where an account was found in context, and kept only if equal to one
    Rule("bare_account", ("ACCOUNT",), _verify_bare12, triggers=("[0-9]{12}",)),
    # tokens already in the text (no type: nothing that overlaps one is matched)
    Rule("token", (), _verify_token, triggers=("AWS_",)),
)
_BARE = len(RULES) - 2
_TOKEN = len(RULES) - 1
_REVERSIBLE = {name: t.reversible for name, t in BY_NAME.items()}

_PUBLIC_RX = re.compile(
    rf"(?<![A-Za-z0-9_.])({_OCT}\.{_OCT}\.{_OCT}\.{_OCT}{_CIDR})(?![0-9]|\.[0-9])", A
)
#: the account field of an ARN (plain, templated or URL-encoded): 12 digits between colons
_ARN_ACCOUNT = re.compile(r"(?::|%3[Aa])([0-9]{12})(?::|%3[Aa])", A)
#: an Organizations account ARN names the member account last: ``…:account/o-…/333333333333``
_ORG_MEMBER = re.compile(r":account/o-[a-z0-9]+/([0-9]{12})\Z", A)


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
# trigger engines: text → {rule index: trigger starts (any order, maybe repeated)}

Hits = dict[int, list[int]]


def _encode(view: str) -> bytes:
    """One byte per character: the positions stay the same (non-Latin-1 characters become ``?``,
    which no trigger holds)."""
    return view.encode("latin-1", "replace")


class ReEngine:
    """Python ``re``: one search per trigger, caseless ones in an ASCII-lowercased copy; runs of
    digits by :func:`digit_runs` (``re`` has no fast search for them)."""

    name = "re"

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        #: (rule index, compiled trigger, search the lowercased copy)
        self._triggers: list[tuple[int, re.Pattern[bytes], bool]] = []
        #: (rule index, digit count) of the ``[0-9]{n}`` triggers
        self._digit_runs: list[tuple[int, int]] = []
        for i, r in enumerate(rules):
            for low, ts in ((False, r.triggers), (True, r.caseless)):
                for t in ts:
                    run = _DIGIT_RUN.fullmatch(t)
                    if run and not low:
                        self._digit_runs.append((i, int(run.group(1))))
                    else:
                        self._triggers.append((i, re.compile(t.encode()), low))

    def find(self, view: str) -> Hits:
        b = _encode(view)
        lb = b.lower()  # ASCII only: lengths and positions stay the same
        out: Hits = {}
        for i, rx, low in self._triggers:
            data = lb if low else b
            search = rx.search
            m = search(data)
            while m is not None:  # every start, also one inside the previous match
                h = m.start()
                out.setdefault(i, []).append(h)
                m = search(data, h + 1)
        for i, n in self._digit_runs:
            starts = digit_runs(view, n)
            if starts:
                out.setdefault(i, []).extend(starts)
        return out


_DIGIT_RUN = re.compile(r"\[0-9\]\{([0-9]+)\}")


class HyperscanEngine:
    """hyperscan: every trigger of every rule in one pass."""

    name = "hyperscan"

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        import hyperscan

        exprs: list[bytes] = []
        flags: list[int] = []
        self._rule: list[int] = []  # pattern id → rule index
        for i, r in enumerate(rules):
            for low, ts in ((False, r.triggers), (True, r.caseless)):
                for t in ts:
                    exprs.append(t.encode())
                    flags.append(
                        hyperscan.HS_FLAG_SOM_LEFTMOST | (hyperscan.HS_FLAG_CASELESS if low else 0)
                    )
                    self._rule.append(i)
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(
            expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags
        )

    def find(self, view: str) -> Hits:
        out: Hits = {}
        rule = self._rule

        def on_match(pid: int, frm: int, _to: int, _flags: int, _ctx: object) -> None:
            out.setdefault(rule[pid], []).append(frm)

        self._db.scan(_encode(view), match_event_handler=on_match)
        return out


ENGINES: dict[str, type[ReEngine] | type[HyperscanEngine]] = {
    "re": ReEngine,
    "hyperscan": HyperscanEngine,
}
_engine_cache: dict[str, ReEngine | HyperscanEngine] = {}


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
    return eng


# ---------------------------------------------------------------------------------------------


class ScanResult(NamedTuple):
    matches: list[Match]
    #: spans of the tokens already in the view, as ``TOKEN_RE.finditer`` finds them
    tokens: list[tuple[int, int]]
    #: the accounts the view names itself (in context or inside an ARN; empty when accounts are
    #: not masked): a bare 12-digit number equal to one is an account anywhere in the body
    accounts: frozenset[str]
    #: the names the view finds in context (:func:`repeat_names`): the body's first ones are
    #: masked anywhere in it
    names: dict[str, str]


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
        #: rule index → verification, for the rules that can give an enabled type
        self._verify = {
            i: r.verify for i, r in enumerate(RULES) if any(t not in self.disabled for t in r.types)
        }

    @property
    def bare_accounts(self) -> bool:
        """Whether a bare 12-digit number can be an account (one named elsewhere in the body)."""
        return _BARE in self._verify

    def scan(self, view: str) -> list[Match]:
        """Sorted, non-overlapping matches in ``view``."""
        return self.scan_full(view).matches

    def scan_full(
        self,
        view: str,
        accounts: frozenset[str] = frozenset(),
        names: dict[str, str] | None = None,
    ) -> ScanResult:
        """:meth:`scan`, the spans of the tokens already in ``view``, the accounts and the names
        it finds. Two rules read across a whole body, and a view that is a piece of one is
        given what they read elsewhere: ``accounts`` named elsewhere in the body (a bare
        12-digit number equal to one is an account too), and ``names``: the body's names
        masked wherever they occur (its :func:`first_names`; ``None``: the view's own, as when
        it is the whole body). The scans of a body's pieces with these make the body's scan."""
        if not view:
            return ScanResult([], [], frozenset(), {})
        hits = self.engine.find(view)
        bare = hits.pop(_BARE, None)
        tokens = [(s, e) for s, e, _ in _verify_at(_verify_token, view, hits.pop(_TOKEN, []))]
        cands: list[Cand] = []
        for i, starts in hits.items():
            verify = self._verify.get(i)
            if verify is not None:
                cands += _verify_at(verify, view, starts)
        if self.mask_public_ips:
            for m in _PUBLIC_RX.finditer(view):
                if _is_public(m.group(1)) and not _version_context(view, m.start()):
                    cands.append((m.start(1), m.end(1), "PUBLIC_IP"))
        own: frozenset[str] = frozenset()
        if self.bare_accounts:
            own = frozenset(_known_accounts(view, cands))
            known = own | accounts
            if bare and known:
                found = _verify_at(_verify_bare12, view, bare)
                cands += [c for c in found if view[c[0] : c[1]] in known]
        own_names = repeat_names(view, cands)
        cands += _repeats(view, own_names if names is None else names)
        return ScanResult(self._resolve(view, cands, tokens), tokens, own, own_names)

    def _resolve(self, view: str, cands: list[Cand], tokens: list[tuple[int, int]]) -> list[Match]:
        """Sorted, non-overlapping matches from the candidates: at each start the longest; a
        candidate is dropped if glued to a word character before or a digit after, overlapping
        a token already in ``view``, disabled or allowed."""
        n = len(view)
        out: list[Match] = []
        disabled, allow, make = self.disabled, self.allow, Match._make
        last = 0
        k = 0  # tokens[:k] end at or before the current candidate's start
        # At a start the longest first. A repeated candidate needs no removing: after the first
        # one is taken it starts before ``last`` (no candidate is empty).
        for s, neg_e, t in sorted([(s, -e, t) for s, e, t in cands]):
            e = -neg_e
            if s < last or t in disabled:
                continue
            if (s > 0 and view[s - 1] in _WORDCH) or (e < n and view[e] in _DIGITS):
                continue
            while k < len(tokens) and tokens[k][1] <= s:
                k += 1
            if k < len(tokens) and tokens[k][0] < e:
                continue  # overlaps a token already in the text
            value = view[s:e]
            if value not in allow:
                out.append(make((s, e, t, value, _REVERSIBLE[t])))
                last = e
        return out


#: Types found by their context whose value, once found, is masked wherever else it occurs in the
#: same body (``"Bucket": "my-logs-01"`` and later ``"Location": "/my-logs-01"``)
REPEAT_TYPES = frozenset({"S3_BUCKET", "CF_DISTRIBUTION", "HOSTED_ZONE", "KMS_KEY", "EKS_OIDC"})
#: at most this many distinct values are looked for again (the first in sorted order): a search
#: each, so the scan stays linear
REPEAT_MAX = 16
_REPEAT_GLUE = frozenset(string.ascii_letters + string.digits + "_-")  # a longer name's


def _whole(view: str, i: int, j: int) -> bool:
    """Is ``view[i:j]`` a whole name: not glued to name characters, nor part of a dotted name
    (``x.name``, ``name.s3``)? A ``.`` that ends a sentence is fine."""
    if i > 0 and (view[i - 1] in _REPEAT_GLUE or view[i - 1] == "."):
        return False
    if j == len(view):
        return True
    c = view[j]
    return c not in _REPEAT_GLUE and (c != "." or j + 1 == len(view) or not view[j + 1].isalnum())


def repeat_names(view: str, cands: list[Cand]) -> dict[str, str]:
    """The values of :data:`REPEAT_TYPES` among the candidates (value → type; the least type
    name if one has two, as a UUID after ``bucket:`` and after ``key/``, so that the type does
    not depend on the order of the finds). A value of letters only (``logging``, a word as often
    as a name) or shorter than 8 is not looked for again."""
    found: dict[str, str] = {}
    for s, e, t in cands:
        if t in REPEAT_TYPES and e - s >= 8:
            v = view[s:e]
            if not v.isalpha() and t < found.get(v, "~"):
                found[v] = t
    return found


def first_names(names: dict[str, str]) -> dict[str, str]:
    """The names of ``names`` that are looked for again: the first :data:`REPEAT_MAX`, sorted."""
    return {v: names[v] for v in sorted(names)[:REPEAT_MAX]}


def _repeats(view: str, names: dict[str, str]) -> list[Cand]:
    """The occurrences in ``view``, as whole words, of the :func:`first_names` of ``names``
    (found in context by :func:`repeat_names`, in ``view`` or in the text it is part of)."""
    out: list[Cand] = []
    for v, t in first_names(names).items():
        i = view.find(v)
        while i >= 0:
            j = i + len(v)
            if _whole(view, i, j):
                out.append((i, j, t))
            i = view.find(v, j)
    return out


def _verify_at(verify: Verify, view: str, starts: list[int]) -> list[Cand]:
    """``verify`` at each trigger position, left to right; a position inside the previous find
    is skipped (it would find a part of it)."""
    out: list[Cand] = []
    done = -1
    for h in sorted(set(starts)):
        if h >= done:
            found = verify(view, h)
            if found:
                out += found
                done = found[-1][1]
    return out


def _known_accounts(view: str, cands: list[Cand]) -> set[str]:
    """Accounts already found (in context or inside an ARN, as its account field or as the
    member account of an Organizations ARN): bare 12-digit numbers equal to one are accounts."""
    known: set[str] = set()
    for s, e, t in cands:
        if t == "ACCOUNT":
            known.add(view[s:e])
        elif t == "ARN":
            m = _ARN_ACCOUNT.search(view, s, e)
            if m:
                known.add(m.group(1))
            m = _ORG_MEMBER.search(view, s, e)
            if m:
                known.add(m.group(1))
    return known


#: bytes → ``0`` for an ASCII digit, a space for anything else
_DIGIT_CLASS = bytes(0x30 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))


def digit_runs(text: str, n: int) -> list[int]:
    """Starts of the runs of exactly ``n`` ASCII digits in ``text``.

    ``re`` has no fast search for ``[0-9]{12}`` (it tries every position), so the characters are
    mapped to ``0`` (digit) and space first; a run of ``n`` zeros is then a plain substring
    search.
    """
    t = _encode(text).translate(_DIGIT_CLASS)
    needle = b"0" * n
    out: list[int] = []
    i = t.find(needle)
    while i >= 0:
        j = i + n
        if (j == len(t) or t[j] != 0x30) and (i == 0 or t[i - 1] != 0x30):
            out.append(i)
        j = t.find(b" ", j)  # the end of this run
        if j < 0:
            break
        i = t.find(needle, j)
    return out
