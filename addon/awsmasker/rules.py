"""The rule table of the scanner: where each AWS identifier may start and how it is verified.

Each row (:class:`Rule`) has *triggers* (short regexes saying where an identifier may start), a
*verification* (Python code anchored at a trigger that decides whether an identifier is there and
where its value lies) and the types it gives. Context (``account``, ``"Bucket":``, ``s3://`` …) is
part of the trigger and of the verification. :mod:`awsmasker.scanner` finds the triggers and runs
the verifications.

Guarantees: every repetition in the patterns is bounded, so a verification reads a bounded window
around its trigger; a 12-digit number alone is an account only when the same number was found as
one in context (:func:`known_accounts`); version numbers (``version 10.1.2.3``) are no addresses
(:mod:`awsmasker.ipv4`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable
from dataclasses import dataclass

from awsmasker.catalogue import EC2_PREFIXES
from awsmasker.ipv4 import verify_private_ip
from awsmasker.tokens import TOKEN_RE

A = re.ASCII

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
    position) or is a run of digits (``[0-9]{12}``, which the ``re`` engine finds by
    :func:`awsmasker.scanner.digit_runs`); none looks around (hyperscan has no look-around).
    """

    name: str
    types: tuple[str, ...]
    verify: Verify
    triggers: tuple[str, ...] = ()
    caseless: tuple[str, ...] = ()


# --- shared pattern pieces ----------------------------------------------------------------------

# separators between a context key and its value (``>``: an XML element, as AWS's Query and
# REST-XML APIs answer: ``<SecretAccessKey>…</SecretAccessKey>``)
_SEP = r"[ \t\r\n\"'`=:|>\x01]"
_BUCKET = r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]"
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
WORDCH = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
DIGITS = frozenset("0123456789")


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
    # ``{arn-aws}`` for ``arn:aws:``); a policy's wildcards (``arn:aws:sns:*:1234…:topic``); a
    # placeholder for the region (``<region>``, ``${AWS::Region}``)
    rf"((?:arn:(?:{_PARTITIONS}|\$\{{(?:AWS::)?Partition\}}):|\{{arn-aws\}})[a-z0-9-]{{1,64}}:"
    r"(?:[a-z0-9*-]{0,32}|<[A-Za-z_-]{1,40}>|\$\{[A-Za-z0-9:_.]{1,40}\})"
    r":(?:[0-9]{12}|aws|\*)?:[A-Za-z0-9/_+=.@:*-]{0,1023}[A-Za-z0-9/_+=@*-]"
    # URL-encoded (a query parameter): every ``:`` is ``%3A``
    rf"|(?i:arn%3A){_PARTITIONS}(?i:%3A)[a-z0-9-]{{1,64}}(?i:%3A)[a-z0-9-]{{0,32}}(?i:%3A)"
    r"(?:[0-9]{12}|aws)?(?i:%3A)[A-Za-z0-9/_+=.@*%-]{0,1023}[A-Za-z0-9/_+=@*-])",
    A,
)
_verify_arn = _anchored(_ARN_RX.pattern, "ARN")

# --- EC2 family: trigger "-" + 8 hex at h ---------------------------------------------------
_EC2_HEX = re.compile(r"-(?:[0-9a-f]{17}|[0-9a-f]{8})(?![A-Za-z0-9])", A)
_EC2_MAX = max(len(p) for p in EC2_PREFIXES)
_EC2_BEFORE = "".join(sorted(WORDCH)) + "-"  # every prefix character is one of these


def _verify_ec2(view: str, h: int) -> list[Cand]:
    """A prefix right before ``h`` that is not glued to ``[A-Za-z0-9_-]``: so it is the whole
    run of those characters that ends at ``h``."""
    m = _EC2_HEX.match(view, h)
    if not m:
        return []
    lo = max(0, h - _EC2_MAX - 1)
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


# --- account IDs in wording / key context ---------------------------------------------------
_ACCT_RX = re.compile(
    # "account 1234…", "Account B (`4444…`)", "accounts, with the identifiers ``1111…``",
    # ``"MemberAccounts": [\n    "2222…"``, "owner (like 1111…)", "account identifier, (for
    # example, 1234…)"; or an S3 log path (``AWSLogs/1442…/CloudTrail/``)
    r"(?:(?:account|owner|acct)[A-Za-z_ ,:-]{0,30}?[ \t\r\n\"'`=:|#(\[>\x01]{0,24}"
    r"(?:(?:for example|e\.g\.|such as|like)[ \t\r\n\"'`=:,(\x01]{1,8})?|awslogs/)"
    r"([0-9]{12})(?![0-9])",
    A | re.I,
)
_ACCT_MORE = re.compile(r"(?:[ \t\r\n\"'`,\[\]\x01]|and|or){1,40}([0-9]{12})(?![0-9])", A)
#: keys whose value is an account ID though their name says neither account nor owner: botocore's
#: members whose shape is 12 digits (ECR's registryId …; tests/test_real_corpus.py checks the
#: models), EC2's security group pairs (UserId) and network interfaces (RequesterId)
ACCOUNT_KEYS = ("registryId", "registry", "catalogId", "CatalogId", "UserId", "RequesterId",
                "RequestorId", "ReceiverPrincipal", "SenderPrincipal", "InvoiceReceiver",
                "jobInvoker", "SharedBy", "CanceledBy")
# such a key, the same options (``--registry-id``), a policy's principal by account
# (``"Principal": {"AWS": ["1111…", "2222…"]}``, YAML ``AWS: 1111…``, Terraform's
# ``identifiers = ["1111…"]``)
_KEYED_RX = re.compile(
    rf"(?:(?:{'|'.join(ACCOUNT_KEYS)})[\"'\x01]{{1,2}}[ \t]*[:=]|--(?:registry|catalog)-id[ =]"
    r"|AWS[\"'\x01]{0,2}[ \t]*:|identifiers[ \t]*=)[ \t]*\[?[ \t\r\n]*[\"'\x01]{0,2}"
    r"([0-9]{12})(?![0-9])", A)


def _accounts(rx: re.Pattern[str]) -> Verify:
    """An account where ``rx`` matches (group 1), and those listed right after it."""

    def verify(view: str, h: int) -> list[Cand]:
        m = rx.match(view, h)
        if not m:
            return []
        out = [(m.start(1), m.end(1), "ACCOUNT")]
        for _ in range(50):  # a short list: "accounts 111…, 222… and 333…"
            m = _ACCT_MORE.match(view, m.end())
            if not m:
                break
            out.append((m.start(1), m.end(1), "ACCOUNT"))
        return out

    return verify


# the 12 digits right before the trigger: an ECR registry (``<account>.dkr.ecr.<region>…``, the
# region maybe ``${REGION}``), a VPC flow log record (``2 <account> eni-… 10.0.1.5 …``)
_TWELVE = re.compile(r"[0-9]{12}", A)


def _verify_twelve_before(view: str, h: int) -> list[Cand]:
    lo = max(0, h - 16)
    e = lo + len(view[lo:h].rstrip(" \t"))  # across blanks (a JSON view's \t is two tabs)
    return [(e - 12, e, "ACCOUNT")] if e >= 12 and _TWELVE.fullmatch(view, e - 12, e) else []


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
#: S3's service principals (``"Service": "logging.s3.amazonaws.com"``) have a bucket host's shape
_S3_PRINCIPALS = frozenset(
    {"logging", "metadata", "batchoperations", "storage-lens", "access-grants"})
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
# ``aws s3 ls``: a line of "2024-01-02 12:00:00 name" per bucket (the trigger is at ":00:00 "); a
# name of letters only is left, as a log line's one word after its time stamp is one
_LS_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}", A)
_LS_NAME = re.compile(rf":[0-9]{{2}}:[0-9]{{2}} +({_BUCKET})[ \t]*(?:[\r\n\"'\x01]|\Z)", A)


def _verify_s3_listing(view: str, h: int) -> list[Cand]:
    s = h - 13
    if s < 0 or not _LS_DATE.fullmatch(view, s, h) or view[s - 1 : s] not in "\n \t\"'\x01":
        return []
    m = _LS_NAME.match(view, h)
    ok = m is not None and not m.group(1).isalpha() and _bucket_ok(m.group(1))
    return [(m.start(1), m.end(1), "S3_BUCKET")] if ok else []


_verify_bucket_assign = _bucket_verify(
    rf"(?i:bucket)(?:(?:[_-]?(?i:name))?[\"'\x01]{{0,2}}[ \t]*[:=>][ \t]*[\"'\x01]{{0,2}}"
    # S3's XML: <Bucket><Name>…</Name> (ListAllMyBuckets), <ListBucketResult …><Name>…</Name>
    r"(?:(?<=>)[ \t\r\n]*<Name>)?|Result(?: [^<>]{0,200})?>[ \t\r\n]*<Name>)"
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
# the CDK's ``Bucket.fromBucketName(this, 'Logs', 'name')`` (Python: ``from_bucket_name``)
_verify_bucket_cdk = _bucket_verify(
    rf"(?i:bucket)_?(?i:name)\((?:[^,()]{{0,80}},){{2}}[ \t]*[\"'\x01]{{1,2}}({_BUCKET})[\"'\x01]"
)


def _verify_bucket_key(view: str, h: int) -> list[Cand]:
    found = (_verify_bucket_assign(view, h) or _verify_bucket_prose(view, h)
             or _verify_bucket_cdk(view, h))
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
# AWS Organizations: organization and organizational unit IDs (the API's patterns)
_ORG_RX = re.compile(
    r"(?:(o-[a-z0-9]{10,32})|(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}))(?![A-Za-z0-9_-])", A)


def _verify_org(view: str, h: int) -> list[Cand]:
    m = None if h and view[h - 1] == "-" else _ORG_RX.match(view, h)  # (``x-o-…`` is a name)
    return [(h, m.end(), "ORG" if m.group(1) else "ORG_UNIT")] if m else []


_verify_zone = _anchored(
    r"(?i:hosted[ _-]?zone[a-z_ -]{0,8}?)[/ \t\r\n\"'`=:|>\x01]{0,12}"
    r"(Z(?=[A-Z]*[0-9])[A-Z0-9]{7,31})(?![A-Za-z0-9])",
    "HOSTED_ZONE",
)
_verify_distribution = _anchored(
    # "DistributionId", "--distribution-id", "distribution/"; CloudFront's "Id" of a
    # distribution or an origin access identity ("Id": "EDFDVBD6EXAMPLE", --id E1XNX8R2GOAABC,
    # origin-access-identity/cloudfront/E74FTE3AEXAMPLE, "with the ID ``EDFDVBD6EXAMPLE``")
    r"(?:(?i:distribution[a-z_ -]{0,8}?)[/ \t\r\n\"'`=:|>\x01]{0,12}"
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
_DASHED_IP = r"[0-9]{1,3}(?:-[0-9]{1,3}){3}"
#: (a word every such host holds, its shape, its type): the first whose word is in the host
#: and whose shape it has gives the type (the word is checked first, a cheap way to skip a shape)
_HOST_KINDS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (w, re.compile(p + r"\Z", A), t)
    for w, p, t in (
        ("ec2-", rf"ec2-{_DASHED_IP}\.(?:{_L}\.)?compute(?:-1)?{_AWSCOM}", "EC2_HOST"),
        ("ip-", rf"ip-{_DASHED_IP}\.(?:{_L}\.)?(?:ec2|compute)\.internal", "EC2_HOST"),
        ("rds.", rf"(?:{_L}\.){{2,}}rds{_AWSCOM}", "RDS"),
        ("cache.", rf"(?:{_L}\.){{2,}}cache{_AWSCOM}", "ELASTICACHE"),
        ("elb", rf"(?:{_L}\.)+(?:{_L}\.elb|elb\.{_L}){_AWSCOM}", "ELB"),
        (".eks.", rf"[0-9a-f]{{32}}\.(?:[a-z0-9]+\.)?{_L}\.eks{_AWSCOM}", "EKS"),
        (".execute-api.", rf"[a-z0-9]{{10}}\.execute-api\.{_L}{_AWSCOM}", "API_GATEWAY"),
        (".lambda-url.", r"[a-z0-9]{32}\.lambda-url\.[a-z0-9-]+\.on\.aws", "LAMBDA_URL"),
        (".cloudfront.", r"[a-z0-9]{13,14}\.cloudfront\.net", "CLOUDFRONT"),
        (".es.", rf"(?:search|vpc)-{_L}\.{_L}\.es{_AWSCOM}", "HOST"),
        ("-ats.iot.", rf"[a-z0-9]{{10,20}}-ats\.iot\.{_L}{_AWSCOM}", "HOST"),
        ("amazonaws.", rf"(?:{_L}\.){{4,}}amazonaws\.com(?:\.cn)?", "HOST"),
    )
)
_SQS_RX = re.compile(rf"(?:sqs(?:-fips)?\.{_L}|{_L}\.queue|queue){_AWSCOM}\Z", A)
_SQS_PATH = re.compile(r"/([0-9]{12})(?![0-9])", A)
_S3_VHOST = re.compile(rf"({_BUCKET})\.s3(?:[.-]{_L})*{_AWSCOM}\Z", A)
_S3_PATHHOST = re.compile(rf"s3(?:[.-]{_L})*{_AWSCOM}\Z", A)
# (not S3's XML namespace, http://s3.amazonaws.com/doc/2006-03-01/, in every XML answer)
_S3_PATH = re.compile(rf"/(?!doc/2006-03-01/)({_BUCKET})(?![A-Za-z0-9_-])", A)
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
    if "dkr.ecr" in low:
        return []  # an ECR registry: the twelve_before rule finds its account
    if ("sqs" in low or "queue" in low) and _SQS_RX.match(low):
        m = _SQS_PATH.match(view, e)
        return [(m.start(1), m.end(1), "ACCOUNT")] if m else []
    if "s3" in low:
        m = _S3_VHOST.match(low)
        if m:
            ok = _bucket_ok(m.group(1)) and m.group(1) not in _S3_PRINCIPALS
            return [(s, s + m.end(1), "S3_BUCKET")] if ok else []
        if _S3_PATHHOST.match(low):
            m = _S3_PATH.match(view, e)
            return [(m.start(1), m.end(1), "S3_BUCKET")] if m and _bucket_ok(m.group(1)) else []
    if low.startswith("oidc.eks."):  # an EKS cluster's OIDC issuer: the ID in the path
        m = _OIDC_PATH.match(view, e)
        return [(m.start(1), m.end(1), "EKS_OIDC")] if m else []
    for word, rx, t in _HOST_KINDS:
        if word in low and rx.match(low):
            return [(s, e, t)]
    return []


# --- bare 12-digit numbers: accepted only when equal to an account found elsewhere -------------


def verify_bare12(view: str, h: int) -> list[Cand]:
    e = h + 12
    if (h > 0 and view[h - 1] in DIGITS) or (e < len(view) and view[e] in DIGITS):
        return []
    return [(h, e, "ACCOUNT")]


def verify_token(view: str, h: int) -> list[Cand]:
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
        verify_private_ip,
        # the whole shape, so that version numbers like "10.2" cost no verification
        triggers=(
            rf"10\.[0-9]{{1,3}}{_OCTETS}",
            rf"172\.(?:1[6-9]|2[0-9]|3[01]){_OCTETS}",
            rf"192\.168{_OCTETS}",
        ),
    ),
    Rule("account", ("ACCOUNT",), _accounts(_ACCT_RX),
         caseless=("acc(?:ount|t)", "owner", "awslogs/")),
    Rule("account_key", ("ACCOUNT",), _accounts(_KEYED_RX),
         triggers=(*(f"{k}[\"'\x01]" for k in ACCOUNT_KEYS), "--registry-id", "--catalog-id",
                   "AWS[\"'\x01]{0,2}[ \t]*:", "identifiers[ \t]*=")),
    Rule("twelve_before", ("ACCOUNT",), _verify_twelve_before,
         triggers=(r"\.dkr\.ecr", r"eni-[0-9a-f]{8}")),
    Rule("secret", ("SECRET_KEY",), _verify_secret, caseless=("secret",)),
    Rule(
        "session", ("SESSION_TOKEN",), _verify_session, caseless=("se(?:ssion|curity)[_-]?token",)
    ),
    Rule("s3url", ("S3_BUCKET",), _verify_s3url, triggers=("s3[an]?://",)),
    Rule("s3_listing", ("S3_BUCKET",), _verify_s3_listing, triggers=(":[0-9]{2}:[0-9]{2} ",)),
    Rule("bucket_key", ("S3_BUCKET",), _verify_bucket_key, caseless=("bucket",)),
    # "key/" is found caselessly too (one pass); the verification wants it in lower case
    Rule("kms", ("KMS_KEY",), _verify_kms, caseless=("k(?:ey(?:/|[ _-]?id)|ms)",)),
    Rule("zone", ("HOSTED_ZONE",), _verify_zone, caseless=("hosted[ _-]?zone",)),
    Rule("org", ("ORG", "ORG_UNIT"), _verify_org, triggers=("o-[a-z0-9]{10}", "ou-[0-9a-z]{4}")),
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
        ("S3_BUCKET", "EC2_HOST", "RDS", "ELASTICACHE", "ELB", "EKS", "EKS_OIDC", "API_GATEWAY",
         "LAMBDA_URL", "CLOUDFRONT", "HOST", "ACCOUNT"),
        _verify_host,
        triggers=(
            r"amazonaws\.com",
            r"\.(?:compute\.internal|ec2\.internal|cloudfront\.net|on\.aws)",
        ),
    ),
    # verified only where an account was found in context, and kept only if equal to one
    Rule("bare_account", ("ACCOUNT",), verify_bare12, triggers=("[0-9]{12}",)),
    # tokens already in the text (no type: nothing that overlaps one is matched)
    Rule("token", (), verify_token, triggers=("AWS_",)),
    # the key of a thinking block's text (no type, not verified: the JSON path reads it)
    Rule("thinking", (), lambda view, h: [], triggers=('"thinking"',)),
)
#: the rules the scanner treats apart, by index
BARE, TOKEN, THINKING = (len(RULES) - 3, len(RULES) - 2, len(RULES) - 1)

#: the account field of an ARN (plain, templated or URL-encoded): 12 digits between colons
_ARN_ACCOUNT = re.compile(r"(?::|%3[Aa])([0-9]{12})(?::|%3[Aa])", A)
#: an Organizations account ARN names the member account last: ``…:account/o-…/333333333333``
_ORG_MEMBER = re.compile(r":account/o-[a-z0-9]+/([0-9]{12})\Z", A)


def known_accounts(view: str, cands: list[Cand]) -> set[str]:
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
