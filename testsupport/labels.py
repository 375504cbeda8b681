"""An independent labeller for the real-text corpus (``testsupport.realcorpus``).

It finds the AWS identifiers in a document from AWS's documented formats and from the botocore
service models (shape names, member names, the ID prefixes that EC2's own examples use), with its
own patterns: it imports nothing from ``awsmasker``, so a rule missing from the scanner shows up
as a miss instead of being copied into the answer key.

Each label is ``(class, value)``. Classes are the catalogue's token types, except the EC2 family,
labelled ``EC2:<prefix>`` (the report names the catalogue type of each prefix).

Limits (the labeller is a second opinion, not ground truth):

* Context types (ACCOUNT, KMS_KEY, S3_BUCKET, HOSTED_ZONE, CF_DISTRIBUTION) are labelled where
  a key, option, URL shape or nearby wording says what the value is, and then everywhere else the
  same value occurs in that document. A value that only the reader's knowledge identifies (a bare
  12-digit number in a table with no header) is not labelled.
* Generic AWS hosts (HOST) are labelled only for Redshift clusters, OpenSearch domains and IoT
  endpoints; public service endpoints are not identifiers and are never labelled.
* Public IPs are not labelled (off by default in the masker), nor bucket "names" that are plain
  words (``s3://bucket/key``).
* A value counts as leaked when it is still in the masked text as a whole word, so a value
  masked in one place but left in another counts as leaked, and a value only partly masked
  (an ARN cut short) counts as masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

A = re.ASCII
_B = r"(?<![A-Za-z0-9_])"  # not glued to a word before
_E = r"(?![A-Za-z0-9_])"  # nor after

#: ID prefixes of other services that follow EC2's ``prefix-<hex>`` form (EFS file systems,
#: access points and mount targets; SSM managed instances; EC2 kernel/ramdisk images, dedicated
#: hosts, reservations, local gateways), documented in those services' API references.
EXTRA_PREFIXES = ("fs", "fsap", "fsmt", "mi", "aki", "ari", "h", "r", "lgw")

_EC2_VALUE = re.compile(r"([a-z]+(?:-[a-z]+)*)-(?:[0-9a-f]{17}|[0-9a-f]{8})\Z", A)


def ec2_prefixes_from_model(
    service_model: dict, examples: Iterable[object], cli_texts: Iterable[str]
) -> set[str]:
    """The ``prefix`` of every ``prefix-<8 or 17 hex>`` value that EC2's examples give to a
    member whose shape is an ID (its name or its shape's name ends in ``Id``/``Ids``)."""
    members: set[str] = set()
    for shape in service_model["shapes"].values():
        for name, m in shape.get("members", {}).items():
            target = m["shape"]
            if name.endswith(("Id", "Ids")) or target.endswith(("Id", "Ids", "IdList")):
                members.add(name)
    out: set[str] = set()

    def walk(obj: object, key: str | None) -> None:
        if isinstance(obj, dict):
            for k, v in obj.items():
                walk(v, k)
        elif isinstance(obj, list):
            for v in obj:
                walk(v, key)
        elif isinstance(obj, str) and key in members:
            m = _EC2_VALUE.match(obj)
            if m:
                out.add(m.group(1))

    for ex in examples:
        walk(ex, None)
    for text in cli_texts:
        for k, v in re.findall(r'"(\w+)"\s*:\s*"([^"]*)"', text):
            if k in members and (m := _EC2_VALUE.match(v)):
                out.add(m.group(1))
        for v in re.findall(r"--[a-z-]+-ids?\s+([a-z][a-z0-9-]+)", text):
            if m := _EC2_VALUE.match(v):
                out.add(m.group(1))
    return out


# --- patterns -------------------------------------------------------------------------------
_ACCT12 = r"[0-9]{12}"
_PARTITION = r"(?:aws|aws-cn|aws-us-gov|aws-iso(?:-[a-z])?|aws-eusc)"
# The ARN format: arn:partition:service:region:account-id:resource (the resource may hold ``:``
# and ``/``; in a policy the region and account may be ``*``). It ends at whitespace, a quote, a
# backtick, a bracket or a comma; a final ``.``, ``:`` or ``;`` is punctuation of the sentence.
_ARN = re.compile(
    rf"{_B}(arn:{_PARTITION}:[a-z0-9-]+:(?:[a-z0-9*-]*|<[\w-]+>|\$\{{[\w:.]+\}}):({_ACCT12}|aws|\*)?:"
    r"[^\s\"'`<>()\[\]{},\\|]+)",
    A,
)
# templated partitions (CloudFormation ``${AWS::Partition}``, docs' ``{arn-aws}``)
_ARN_TEMPLATED = re.compile(
    rf"(?:arn:\$\{{(?:AWS::)?Partition\}}|\{{arn-aws\}}):[a-z0-9-]+:[a-z0-9-]*:({_ACCT12}):", A
)
_ARN_ENCODED = re.compile(
    rf"arn%3A{_PARTITION}%3A[a-z0-9-]+%3A[a-z0-9-]*%3A({_ACCT12})%3A", A | re.I
)
_AKID = re.compile(r"(?<![A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16})(?![A-Za-z0-9])", A)
# IAM unique IDs: a 4-letter prefix per entity kind; botocore's ``idType`` allows 16-128 word
# characters in all.
_IAMID = re.compile(
    r"(?<![A-Za-z0-9])((?:AIDA|AROA|AIPA|ANPA|ANVA|AGPA|APKA|ASCA)[A-Z0-9]{12,124})(?![A-Za-z0-9])",
    A,
)
_B64_40 = r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
_SECRET = re.compile(
    rf"(?:(?i:secret)[A-Za-z_-]*[\"']?[ \t]*[:=][ \t]*[\"']?|"
    rf"(?:AKIA|ASIA)[A-Z0-9]{{16}}:){_B64_40}",
    A,
)
_SESSION = re.compile(
    r"(?i:session_?token|security_?token|x-amz-security-token)[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"([A-Za-z0-9/+=%]{32,})",
    A,
)
_BUCKETNAME = r"([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])"
_BUCKETS = (
    re.compile(rf"s3[an]?://{_BUCKETNAME}(?![A-Za-z0-9_-])", A),
    re.compile(rf"--bucket(?:-name)?[ =]+[\"']?{_BUCKETNAME}(?![A-Za-z0-9_-])", A),
    re.compile(rf"\"(?:Bucket|BucketName|S3Bucket|bucket)\"[ \t]*:[ \t]*\"{_BUCKETNAME}\"", A),
    re.compile(rf"(?<![A-Za-z0-9_.-]){_BUCKETNAME}\.s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com", A),
    re.compile(rf"//s3(?:[.-][a-z0-9-]+)*\.amazonaws\.com/{_BUCKETNAME}(?![A-Za-z0-9_-])", A),
    # the CDK: ``Bucket.fromBucketName(this, 'Id', 'name')``, ``from_bucket_name(self, "Id", …)``
    re.compile(rf"(?:fromBucketName|from_bucket_name)\([^,()]*,[^,()]*,\s*[\"']{_BUCKETNAME}[\"']",
               A),
    # ``aws s3 ls``: "2013-07-11 17:08:50 name", a bucket per line
    re.compile(rf"(?m)^[ \t]*[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} [0-9:]{{8}} {_BUCKETNAME}[ \t]*$", A),
)
#: bucket "names" that are plain words (``s3://bucket/key``, ``"Bucket": "example"``): whether
#: they leak cannot be told, the word is in the prose anyway, so they are not labelled
_PLAIN_WORDS = frozenset({"bucket", "example", "name", "test", "data", "logs", "path", "string"})
#: S3's service principals, written as a bucket's virtual host (``logging.s3.amazonaws.com`` in a
#: bucket policy; S3's user guide on access logs, Batch Operations, Storage Lens, Access Grants and
#: S3 Metadata): no buckets
_S3_SERVICES = frozenset(
    {"logging", "batchoperations", "storage-lens", "access-grants", "metadata"})
_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_KMSV = rf"({_UUID}|mrk-[0-9a-f]{{32}})(?![A-Za-z0-9-])"
_KMS = (
    re.compile(rf"key/{_KMSV}", A),
    re.compile(rf"\"\w*(?:Key[Ii]d|KeyArn)\"[ \t]*:[ \t]*\"{_KMSV}", A),
    re.compile(rf"--(?:[a-z-]*-)?key-id[ =]+[\"']?{_KMSV}", A),
    # wording: "KMS key 1234…", "a KMS key with an ID of `1234…`", "key ID 1234…"
    re.compile(rf"(?i:kms|key[ _-]?id)[^\n.;]{{0,40}}?[ `'\"(]{_KMSV}", A),
    re.compile(rf"{_B}(mrk-[0-9a-f]{{32}}){_E}", A),
)
_UUID_ANY = re.compile(rf"(?<![A-Za-z0-9-])({_UUID})(?![A-Za-z0-9-])", A)
_ZONE = re.compile(
    r"(?:hostedzone/|\"HostedZoneId\"[ \t]*:[ \t]*\"(?:/hostedzone/)?|--hosted-zone-id[ =]+"
    r"(?:/hostedzone/)?)(Z[A-Z0-9]{7,31})(?![A-Za-z0-9])",
    A,
)
_DIST = re.compile(
    r"(?:--distribution-id[ =]+|\"DistributionId\"[ \t]*:[ \t]*\"|distribution/)"
    r"(E[A-Z0-9]{7,20})(?![A-Za-z0-9])",
    A,
)
# in CloudFront's own documents, a distribution's ``Id`` and ``--id``
_DIST_CF = re.compile(r"(?:--id[ =]+|\"Id\"[ \t]*:[ \t]*\")(E[A-Z0-9]{7,20})(?![A-Za-z0-9])", A)
_AWSCOM = r"\.amazonaws\.com(?:\.cn)?"
_LBL = r"[a-z0-9-]+"
_HOSTS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(rf"(?<![A-Za-z0-9.-])({p})(?![A-Za-z0-9-])(?!\.[A-Za-z0-9])", A), t)
    for p, t in (
        (rf"(?:{_LBL}\.){{2,}}rds{_AWSCOM}", "RDS"),
        (rf"(?:{_LBL}\.){{2,}}cache{_AWSCOM}", "ELASTICACHE"),
        (rf"(?:{_LBL}\.)+elb(?:\.{_LBL})?{_AWSCOM}", "ELB"),
        (rf"[0-9A-Fa-f]{{32}}\.{_LBL}\.{_LBL}\.eks{_AWSCOM}", "EKS"),
        (rf"[a-z0-9]{{10}}\.execute-api\.{_LBL}{_AWSCOM}", "API_GATEWAY"),
        (r"[a-z0-9]{32}\.lambda-url\.[a-z0-9-]+\.on\.aws", "LAMBDA_URL"),
        (r"d[a-z0-9]{12,13}\.cloudfront\.net", "CLOUDFRONT"),
        (
            rf"ec2-[0-9]{{1,3}}(?:-[0-9]{{1,3}}){{3}}\.(?:{_LBL}\.)?compute(?:-1)?{_AWSCOM}",
            "EC2_HOST",
        ),
        (
            r"ip-[0-9]{1,3}(?:-[0-9]{1,3}){3}\.(?:[a-z0-9-]+\.)?(?:ec2|compute)\.internal",
            "EC2_HOST",
        ),
        (rf"{_LBL}\.{_LBL}\.{_LBL}\.redshift{_AWSCOM}", "HOST"),
        (rf"(?:search|vpc)-{_LBL}\.{_LBL}\.es{_AWSCOM}", "HOST"),
        (rf"[a-z0-9]{{10,20}}-ats\.iot\.{_LBL}{_AWSCOM}", "HOST"),
    )
)
_OIDC = re.compile(rf"oidc\.eks\.{_LBL}{_AWSCOM}/id/([0-9A-Fa-f]{{32}})(?![A-Za-z0-9])", A)
# AWS Organizations (the API reference's patterns): ``^o-[a-z0-9]{10,32}$``,
# ``^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$``
_ORG_ID = re.compile(r"(?<![\w-])(o-[a-z0-9]{10,32})(?![\w-])", A)
_OU_ID = re.compile(r"(?<![\w-])(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})(?![\w-])", A)
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_PRIVATE = re.compile(
    rf"(?<![0-9.A-Za-z_])((?:10\.{_OCTET}|172\.(?:1[6-9]|2[0-9]|3[01])|192\.168)"
    rf"\.{_OCTET}\.{_OCTET})(?![0-9]|\.[0-9])",
    A,
)
# 10.2.0.1 after these words is a version, not an address
_VERSIONISH = re.compile(
    r"(?i:version|release|v|ver|build|tags?|engine|firmware|chrome|firefox|safari)"
    r"[\"' \t:=/]*\Z",
    A,
)

# --- accounts -------------------------------------------------------------------------------
_ACCOUNT_CTX = (
    re.compile(rf"AWSLogs/({_ACCT12})(?![0-9])", A),
    re.compile(rf"(?<![0-9])({_ACCT12})\.dkr\.ecr", A),
    # a VPC flow log record: ``version account-id interface-id srcaddr …`` (the default format)
    re.compile(rf"(?<![0-9])({_ACCT12})[ \t]+eni-[0-9a-f]{{8}}", A),
    re.compile(rf"(?:sqs\.{_LBL}|queue){_AWSCOM}/({_ACCT12})(?![0-9])", A),
    # JSON keys and CLI options naming an account or owner (botocore: AccountId, OwnerId,
    # SourceAccount, AwsAccountId, RequesterId …)
    re.compile(rf"\"\w*(?i:account|owner|requester)\w*\"[ \t]*:[ \t]*\"?({_ACCT12})(?![0-9])", A),
    re.compile(rf"--[a-z-]*(?:account|owner)[a-z-]*[ =]+[\"']?({_ACCT12})(?![0-9])", A),
    # members the models give a 12-digit shape under other names (ECR's registryId, Glue's
    # CatalogId, Data Exchange's principals …) and EC2's security group pairs' UserId
    re.compile(r"\"(?:registryId|registry|[cC]atalogId|UserId|RequestorId|ReceiverPrincipal"
               rf"|SenderPrincipal|InvoiceReceiver|jobInvoker|SharedBy|CanceledBy)\"[ \t]*:[ \t]*"
               rf"\"({_ACCT12})\"", A),
    # prose: "account 1234…", "Account B (`444455556666`)", "the AWS account ID 1234…"
    re.compile(rf"(?i:account|owner)[^\n.;]{{0,40}}?(?<![0-9])({_ACCT12})(?![0-9])", A),
)
_ACCT_LIST = re.compile(
    # an account key's list, an account option's values, or a policy's principal by account
    # (IAM: the account ID stands for its root user, ``"Principal": {"AWS": ["1111…"]}``)
    r"(?:\"\w*(?i:account)\w*\"[ \t]*:[ \t]*\[|--[a-z-]*account[a-z-]*[ =]+"
    r"|\"AWS\"[ \t]*:[ \t]*\[?|\bAWS:[ \t]*|\bidentifiers[ \t]*=[ \t]*\[)"
    r"((?:[\s,\"']*[0-9]{12}(?![0-9]))+)",
    A,
)
_ANY12 = re.compile(rf"(?<![0-9A-Za-z-])({_ACCT12})(?![0-9A-Za-z])", A)


def _ok_ip(text: str, start: int) -> bool:
    return not _VERSIONISH.search(text, max(0, start - 24), start)


def _values(rx: re.Pattern[str], text: str) -> Iterator[str]:
    for m in rx.finditer(text):
        yield m.group(1)


def label(text: str, ec2_prefixes: Iterable[str], service: str = "") -> set[tuple[str, str]]:
    """The labels of one document (``service``: the AWS service it documents, if known)."""
    out: set[tuple[str, str]] = set()
    prefixes = sorted(set(ec2_prefixes) | set(EXTRA_PREFIXES), key=lambda p: (-len(p), p))
    ec2 = re.compile(
        rf"(?<![A-Za-z0-9_-])({'|'.join(map(re.escape, prefixes))})-"
        rf"(?:[0-9a-f]{{17}}|[0-9a-f]{{8}})(?![A-Za-z0-9_])",
        A,
    )
    for m in ec2.finditer(text):
        out.add((f"EC2:{m.group(1)}", m.group(0)))

    accounts: set[str] = set()
    for m in _ARN.finditer(text):
        value = m.group(1).rstrip(".:;")
        if value.endswith("$"):  # a template's placeholder follows (``arn:aws:s3:::${Bucket}``)
            continue
        out.add(("ARN", value))
        if m.group(2) and m.group(2) != "aws":
            accounts.add(m.group(2))
    for rx in (_ARN_TEMPLATED, _ARN_ENCODED, *_ACCOUNT_CTX):
        accounts.update(_values(rx, text))
    for m in _ACCT_LIST.finditer(text):
        accounts.update(re.findall(r"[0-9]{12}", m.group(1)))
    # the same number elsewhere in the document is the same account
    for v in _values(_ANY12, text):
        if v in accounts:
            out.add(("ACCOUNT", v))

    out.update(("ACCESS_KEY", v) for v in _values(_AKID, text))
    out.update(("IAM_ID", v) for v in _values(_IAMID, text))
    out.update(("SECRET_KEY", v) for v in _values(_SECRET, text))
    out.update(("SESSION_TOKEN", v) for v in _values(_SESSION, text))

    for rx in _BUCKETS:
        for v in _values(rx, text):
            if ".." not in v and not re.fullmatch(r"[0-9.]+", v) and v not in _PLAIN_WORDS \
                    and v not in _S3_SERVICES:
                out.add(("S3_BUCKET", v))

    kms: set[str] = set()
    for rx in _KMS:
        kms.update(_values(rx, text))
    for v in _values(_UUID_ANY, text):
        if v in kms:
            out.add(("KMS_KEY", v))
    out.update(("KMS_KEY", v) for v in kms if v.startswith("mrk-"))

    out.update(("HOSTED_ZONE", v) for v in _values(_ZONE, text))
    dists = set(_values(_DIST, text))
    if service == "cloudfront":
        dists.update(_values(_DIST_CF, text))
    out.update(("CF_DISTRIBUTION", v) for v in dists if any(c.isdigit() for c in v))
    for rx, t in _HOSTS:
        out.update((t, v) for v in _values(rx, text))
    out.update(("EKS_OIDC", v) for v in _values(_OIDC, text))
    out.update(("ORG", v) for v in _values(_ORG_ID, text))
    out.update(("ORG_UNIT", v) for v in _values(_OU_ID, text))
    for m in _PRIVATE.finditer(text):
        if _ok_ip(text, m.start()):
            out.add(("PRIVATE_IP", m.group(1)))
    return out


def example_text(obj: object) -> str:
    """A botocore example as the text a user would paste: indented JSON."""
    return json.dumps(obj, indent=2, ensure_ascii=False)
