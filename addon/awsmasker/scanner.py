"""Find AWS identifiers in text.

Two stages:

1. **Triggers.** Each rule has short literal triggers (``arn:``, ``AKIA``, ``amazonaws.com``,
   ``account`` …) or one fixed-width trigger regex (``-[0-9a-f]{8}`` for EC2-family IDs). A
   trigger engine finds where they occur: hyperscan (one pass for all rules) when installed, else
   Python ``re`` (one literal-led pass per rule). Caseless triggers are searched in an
   ASCII-lowercased copy, so both engines see the same bytes.
2. **Verification.** At each trigger, a Python ``re`` pattern anchored there decides whether an
   identifier is present and where its value lies. A trigger engine only decides *where to look*;
   every result comes from the same verification code, so all engines give identical matches
   (tests check this).

Matches never start right after ``[A-Za-z0-9_]`` nor end right before an ASCII digit, so the token
that replaces one can be found again exactly (see :data:`awsmasker.tokens.TOKEN_RE`).
"""

from __future__ import annotations

import bisect
import re
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
Verify = Callable[[str, int], list[Cand]]


@dataclass(frozen=True)
class Rule:
    name: str
    types: tuple[str, ...]
    verify: Verify
    literals: tuple[str, ...] = ()  # case-sensitive triggers
    caseless: tuple[str, ...] = ()  # ASCII-caseless triggers (given in lower case)
    regex: str = ""  # fixed-width trigger regex (instead of literals)
    width: int = 0


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
_EC2_LENS = sorted({len(p) for p in EC2_PREFIXES}, reverse=True)
_EC2_BEFORE = _WORDCH | {"-"}


def _verify_ec2(view: str, h: int) -> list[Cand]:
    m = _EC2_HEX.match(view, h)
    if not m:
        return []
    for n in _EC2_LENS:
        s = h - n
        if s < 0:
            continue
        t = EC2_PREFIXES.get(view[s:h])
        if t is not None and (s == 0 or view[s - 1] not in _EC2_BEFORE):
            return [(s, m.end(), t)]
    return []


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
_VERSION_CTX = re.compile(
    r"(?:version|release|tag|ver|build|firmware|chrome|firefox|safari)[ \t:=\"'\x01/]*\Z",
    A | re.I,
)


def _version_context(view: str, s: int) -> bool:
    return bool(_VERSION_CTX.search(view, max(0, s - 24), s))


def _verify_private_ip(view: str, h: int) -> list[Cand]:
    if h > 0 and view[h - 1] == ".":
        return []
    m = _PRIV_RX.match(view, h)
    if not m or _version_context(view, h):
        return []
    return [(h, m.end(1), "PRIVATE_IP")]


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
_HOST_BACK = re.compile(r"[A-Za-z0-9.-]*", A)
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
    s = h - _HOST_BACK.match(view[lo:h][::-1]).end()
    while s < h and view[s] in ".-":
        s += 1
    if s >= h:
        return []
    host = view[s:e]
    low = host.lower()
    m = _ECR_RX.match(low)
    if m:
        return [(s, s + 12, "ACCOUNT")]
    if _SQS_RX.match(low):
        m = _SQS_PATH.match(view, e)
        return [(m.start(1), m.end(1), "ACCOUNT")] if m else []
    m = _S3_VHOST.match(low)
    if m:
        return [(s, s + m.end(1), "S3_BUCKET")] if _bucket_ok(m.group(1)) else []
    if _S3_PATHHOST.match(low):
        m = _S3_PATH.match(view, e)
        return [(m.start(1), m.end(1), "S3_BUCKET")] if m and _bucket_ok(m.group(1)) else []
    for rx, type_name in _HOST_KINDS:
        if rx.match(low):
            return [(s, e, type_name)]
    return []


# --- bare 12-digit numbers: accepted only when equal to an account found elsewhere -------------


def _verify_bare12(view: str, h: int) -> list[Cand]:
    e = h + 12
    if (h > 0 and view[h - 1] in _DIGITS) or (e < len(view) and view[e] in _DIGITS):
        return []
    return [(h, e, "ACCOUNT")]


# --- the rule list -------------------------------------------------------------------------------
RULES: tuple[Rule, ...] = (
    Rule("arn", ("ARN",), _verify_arn, literals=("arn:",)),
    Rule("ec2", tuple(EC2_PREFIXES.values()), _verify_ec2, regex="-[0-9a-f]{8}", width=9),
    Rule("akid", ("ACCESS_KEY", "IAM_ID"), _verify_akid, literals=_KEY_PREFIXES + _IAM_PREFIXES),
    Rule("private_ip", ("PRIVATE_IP",), _verify_private_ip, literals=("192.168.", "172.", "10.")),
    Rule("account", ("ACCOUNT",), _verify_account, caseless=("account", "owner", "acct")),
    Rule("secret", ("SECRET_KEY",), _verify_secret, caseless=("secret",)),
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
    ),
    Rule("s3url", ("S3_BUCKET",), _verify_s3url, literals=("s3a://", "s3n://", "s3://")),
    Rule("bucket_key", ("S3_BUCKET",), _verify_bucket_key, caseless=("bucket",)),
    Rule(
        "kms",
        ("KMS_KEY",),
        _verify_kms,
        literals=("key/",),
        caseless=("key_id", "key-id", "keyid", "kms"),
    ),
    Rule(
        "zone",
        ("HOSTED_ZONE",),
        _verify_zone,
        caseless=("hostedzone", "hosted_zone", "hosted-zone", "hosted zone"),
    ),
    Rule("distribution", ("CF_DISTRIBUTION",), _verify_distribution, caseless=("distribution",)),
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
    ),
    Rule("bare_account", ("ACCOUNT",), _verify_bare12, regex="[0-9]{12}", width=12),
)
_BARE = len(RULES) - 1

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
# trigger engines: view → {rule index: sorted trigger start positions}


def _encode(view: str) -> tuple[bytes, bytes]:
    """One byte per character (non-Latin-1 characters become ``?``), and its ASCII lower case."""
    b = view.encode("latin-1", "replace")
    return b, b.lower()


def _alternation(items: Iterable[str]) -> bytes:
    return b"|".join(re.escape(x).encode() for x in sorted(items, key=lambda x: (-len(x), x)))


class ReEngine:
    """Pure-``re`` triggers: one literal-led pass per rule (and per case mode)."""

    name = "re"

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self._passes: list[tuple[int, re.Pattern[bytes], bool]] = []
        for i, r in enumerate(rules):
            if r.regex:
                self._passes.append((i, re.compile(r.regex.encode()), False))
            if r.literals:
                self._passes.append((i, re.compile(_alternation(r.literals)), False))
            if r.caseless:
                self._passes.append((i, re.compile(_alternation(r.caseless)), True))

    def find(self, b: bytes, lb: bytes) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for i, rx, low in self._passes:
            starts = [m.start() for m in rx.finditer(lb if low else b)]
            if starts:
                out.setdefault(i, []).extend(starts)
        return out


class Re2Engine(ReEngine):
    """google-re2: an ``re2.Set`` skips absent rules, then one RE2 pass per present rule."""

    name = "re2"

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        import re2

        super().__init__(rules)
        opts = re2.Options()
        opts.encoding = re2.Options.Encoding.LATIN1
        self._re2_passes = [
            (i, re2.compile(rx.pattern, options=opts), low) for i, rx, low in self._passes
        ]
        self._sets = []
        for low in (False, True):
            st = re2.Set.SearchSet(opts)
            idx = []
            for k, (_i, rx, lw) in enumerate(self._re2_passes):
                if lw == low:
                    st.Add(rx.pattern)
                    idx.append(k)
            st.Compile()
            self._sets.append((st, idx, low))

    def find(self, b: bytes, lb: bytes) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {}
        for st, idx, low in self._sets:
            data = lb if low else b
            for k in st.Match(data) or ():
                i, rx, _ = self._re2_passes[idx[k]]
                starts = [m.start() for m in rx.finditer(data)]
                if starts:
                    out.setdefault(i, []).extend(starts)
        return out


class HyperscanEngine:
    """hyperscan: every trigger of every rule in one pass over the bytes."""

    name = "hyperscan"

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        import hyperscan

        exprs: list[bytes] = []
        flags: list[int] = []
        self._meta: list[tuple[int, int]] = []  # (rule index, trigger width)
        for i, r in enumerate(rules):
            if r.regex:
                exprs.append(r.regex.encode())
                flags.append(0)
                self._meta.append((i, r.width))
            for lit in r.literals:
                exprs.append(re.escape(lit).encode())
                flags.append(0)
                self._meta.append((i, len(lit)))
            for lit in r.caseless:
                exprs.append(re.escape(lit).encode())
                flags.append(hyperscan.HS_FLAG_CASELESS)
                self._meta.append((i, len(lit)))
        self._db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        self._db.compile(
            expressions=exprs, ids=list(range(len(exprs))), elements=len(exprs), flags=flags
        )

    def find(self, b: bytes, lb: bytes) -> dict[int, list[int]]:
        hits: list[tuple[int, int]] = []
        add = hits.append

        def on_match(pid: int, _frm: int, to: int, _flags: int, _ctx: object) -> None:
            add((pid, to))

        self._db.scan(b, match_event_handler=on_match)
        out: dict[int, list[int]] = {}
        meta = self._meta
        for pid, to in hits:
            i, w = meta[pid]
            out.setdefault(i, []).append(to - w)
        return out


ENGINES: dict[str, type] = {"re": ReEngine, "re2": Re2Engine, "hyperscan": HyperscanEngine}
_engine_cache: dict[str, object] = {}


def available_engines() -> list[str]:
    out = ["re"]
    for name in ("re2", "hyperscan"):
        try:
            get_engine(name)
        except ImportError:
            continue
        out.append(name)
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
        self._active = [
            i for i, r in enumerate(RULES) if any(t not in self.disabled for t in r.types)
        ]

    def scan(self, view: str) -> list[Match]:
        """Sorted, non-overlapping matches in ``view``."""
        if not view:
            return []
        b, lb = _encode(view)
        hits = self.engine.find(b, lb)
        cands: list[Cand] = []
        bare: list[Cand] = []
        for i in self._active:
            starts = hits.get(i)
            if not starts:
                continue
            if i == _BARE:
                for h in sorted(set(starts)):
                    bare.extend(_verify_bare12(view, h))
                continue
            verify = RULES[i].verify
            done = -1
            for h in sorted(set(starts)):
                if h < done:
                    continue  # inside the previous find of this rule
                found = verify(view, h)
                if found:
                    cands.extend(found)
                    done = max(e for _, e, _ in found)
        if self.mask_public_ips:
            for m in _PUBLIC_RX.finditer(view):
                if _is_public(m.group(1)) and not _version_context(view, m.start()):
                    cands.append((m.start(1), m.end(1), "PUBLIC_IP"))
        if bare:
            cands.extend(_known_accounts(view, cands, bare))
        return self._resolve(view, cands)

    def _resolve(self, view: str, cands: list[Cand]) -> list[Match]:
        n = len(view)
        tokens = [(m.start(), m.end()) for m in TOKEN_RE.finditer(view)] if "AWS_" in view else []
        tok_starts = [s for s, _ in tokens]
        out: list[Match] = []
        last = 0
        for s, e, t in sorted(set(cands), key=lambda c: (c[0], -c[1], c[2])):
            if s < last or t in self.disabled:
                continue
            if s > 0 and view[s - 1] in _WORDCH:
                continue
            if e < n and view[e] in _DIGITS:
                continue
            if tokens:
                k = bisect.bisect_left(tok_starts, e)
                if k > 0 and tokens[k - 1][1] > s:
                    continue  # overlaps a token already in the text
            value = view[s:e]
            if value in self.allow:
                continue
            out.append(Match(s, e, t, value, BY_NAME[t].reversible))
            last = e
        return out


def _known_accounts(view: str, cands: list[Cand], bare: list[Cand]) -> list[Cand]:
    """Bare 12-digit numbers equal to an account already found (in context or inside an ARN)."""
    known: set[str] = set()
    for s, e, t in cands:
        if t == "ACCOUNT":
            known.add(view[s:e])
        elif t == "ARN":
            m = _ARN_ACCOUNT.match(view, s, e)
            if m:
                known.add(m.group(1))
    return [c for c in bare if view[c[0] : c[1]] in known]
