"""The identifier catalogue: every AWS identifier type the masker knows.

One entry per token type (``AWS_<TYPE>_<N>``). The rule table (:mod:`awsmasker.rules`) holds the
matching code; this module is the single list of types, what they match, the context they need,
whether they are reversible, whether they are on by default, and an example (``example`` is the
value, ``example_text`` shows it in the context that makes it match).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from awsmasker.tokens import is_valid_type_name


@dataclass(frozen=True, slots=True)
class IdentifierType:
    type_name: str
    description: str
    context: str
    example: str
    example_text: str = ""
    reversible: bool = True
    default_enabled: bool = True

    def __post_init__(self) -> None:
        if not self.example_text:
            object.__setattr__(self, "example_text", self.example)


#: EC2-family resource-ID prefixes (followed by ``-`` and 8 or 17 lowercase hex digits) → type.
EC2_PREFIXES: dict[str, str] = {
    "i": "EC2",
    "ami": "AMI",
    "vol": "EBS_VOL",
    "snap": "EBS_SNAP",
    "sg": "SG",
    "sgr": "SG_RULE",
    "vpc": "VPC",
    "subnet": "SUBNET",
    "eni": "ENI",
    "eni-attach": "ENI_ATTACH",
    "igw": "IGW",
    "eigw": "EIGW",
    "nat": "NAT_GW",
    "rtb": "RTB",
    "rtbassoc": "RTB_ASSOC",
    "acl": "NACL",
    "aclassoc": "NACL_ASSOC",
    "eipalloc": "EIP_ALLOC",
    "eipassoc": "EIP_ASSOC",
    "tgw": "TGW",
    "tgw-attach": "TGW_ATTACH",
    "tgw-rtb": "TGW_RTB",
    "vpce": "VPC_ENDPOINT",
    "vpce-svc": "VPCE_SERVICE",
    "pcx": "VPC_PEERING",
    "lt": "LAUNCH_TEMPLATE",
    "vgw": "VGW",
    "cgw": "CGW",
    "vpn": "VPN",
    "dopt": "DHCP_OPTIONS",
    "fs": "EFS",
    "fsap": "EFS_AP",
    "fsmt": "EFS_MT",
    "r": "EC2_RESERVATION",
    "pl": "PREFIX_LIST",
    "fl": "FLOW_LOG",
    "h": "DEDICATED_HOST",
    "cr": "CAPACITY_RSV",
    "ipam": "IPAM",
    "lgw": "LOCAL_GW",
    # the rest of the ID prefixes that EC2's API examples use (botocore's ec2 model; a test
    # derives them from it), and those of SSM managed instances
    "afi": "FPGA_IMAGE",
    "agfi": "FPGA_IMAGE_GLOBAL",
    "aki": "KERNEL_IMAGE",
    "ari": "RAMDISK_IMAGE",
    "bun": "BUNDLE_TASK",
    "cagw": "CARRIER_GW",
    "crf": "CAPACITY_RSV_FLEET",
    "cvpn-assoc": "CVPN_ASSOC",
    "cvpn-connection": "CVPN_CONNECTION",
    "cvpn-endpoint": "CVPN_ENDPOINT",
    "eice": "EC2_CONNECT_ENDPOINT",
    "eni-perm": "ENI_PERMISSION",
    "export-ami": "EXPORT_IMAGE_TASK",
    "hr": "HOST_RESERVATION",
    "hro": "HOST_RSV_OFFERING",
    "iew": "EVENT_WINDOW",
    "iip-assoc": "IIP_ASSOC",
    "import-ami": "IMPORT_IMAGE_TASK",
    "import-snap": "IMPORT_SNAP_TASK",
    "instance-event": "INSTANCE_EVENT",
    "ipam-ext-res-ver": "IPAM_EXT_RES_VERIFY",
    "ipam-pool": "IPAM_POOL",
    "ipam-pool-cidr": "IPAM_POOL_CIDR",
    "ipam-res-disco": "IPAM_RES_DISCO",
    "ipam-res-disco-assoc": "IPAM_RES_DISCO_ASSOC",
    "ipam-scope": "IPAM_SCOPE",
    "lgw-rtb": "LOCAL_GW_RTB",
    "mi": "SSM_MANAGED_INSTANCE",
    "nia": "NET_INSIGHTS_ANALYSIS",
    "nip": "NET_INSIGHTS_PATH",
    "nis": "NET_INSIGHTS_SCOPE",
    "nisa": "NET_INSIGHTS_SCOPE_RUN",
    "replacevol": "REPLACE_ROOT_VOL_TASK",
    "sir": "SPOT_REQUEST",
    "subnet-cidr-assoc": "SUBNET_CIDR_ASSOC",
    "tgw-connect-peer": "TGW_CONNECT_PEER",
    "tgw-mcast-domain": "TGW_MCAST_DOMAIN",
    "tgw-ptb": "TGW_POLICY_TABLE",
    "tmf": "MIRROR_FILTER",
    "tmfr": "MIRROR_FILTER_RULE",
    "tms": "MIRROR_SESSION",
    "tmt": "MIRROR_TARGET",
    "vae": "VA_ENDPOINT",
    "vagr": "VA_GROUP",
    "vai": "VA_INSTANCE",
    "vatp": "VA_TRUST_PROVIDER",
    "vpc-cidr-assoc": "VPC_CIDR_ASSOC",
    "vpce-nfn": "VPCE_NOTIFICATION",
    "vpce-rsc-asc": "VPCE_RESOURCE_ASSOC",
    "vpn-endpoint": "VPN_ENDPOINT",
}

_HEX17 = "0a1b2c3d4e5f60718"
_HEX8 = "0a1b2c3d"


def _ec2_entries() -> list[IdentifierType]:
    out = []
    for prefix, type_name in EC2_PREFIXES.items():
        digits = _HEX8 if prefix in ("fs", "r", "h", "pl") else _HEX17
        out.append(
            IdentifierType(
                type_name,
                f"EC2-family resource ID `{prefix}-` + 8 or 17 hex digits",
                "none (the prefix is the context)",
                f"{prefix}-{digits}",
            )
        )
    return out


CATALOGUE: tuple[IdentifierType, ...] = (
    *_ec2_entries(),
    IdentifierType(
        "ARN",
        "Amazon Resource Name of any service, partitions aws, aws-cn, aws-us-gov, aws-iso*,"
        " aws-eusc, or a templated partition (`arn:${AWS::Partition}:`, `arn:${Partition}:`,"
        " `{arn-aws}`); a policy's wildcard region or account (`arn:aws:sns:*:1234…:topic`), a"
        " placeholder region (`<region>`, `${AWS::Region}`); also"
        " URL-encoded (`arn%3Aaws%3A…`); masked whole",
        "none (`arn:` prefix)",
        "arn:aws:iam::123456789012:role/deploy-role",
    ),
    IdentifierType(
        "ACCOUNT",
        "12-digit AWS account ID",
        "account/owner wording or key nearby (`OwnerId`,"
        " `AccountId`, `--account-id`, `account 1234…`, ``Account B (`4444…`)``, `owner (like"
        " 1111…)`, `account identifier (for example, 1234…)`, lists after such a key), a"
        " policy's principal (`\"Principal\": {\"AWS\": \"1234…\"}`, YAML `AWS: 1234…`,"
        " Terraform `identifiers = [\"1234…\"]`), keys the service models give an account's"
        " shape under other names (`registryId`, `CatalogId`, EC2's `UserId`, `--registry-id` …),"
        " a VPC flow log record's (`2 1234… eni-…`),"
        " `AWSLogs/1234…/` paths, ECR registry hosts (also with a placeholder region:"
        " `1234….dkr.ecr.${AWS_REGION}.amazonaws.com`), SQS URLs, or an account"
        " already seen in an ARN of the same body (its account field, or the member account of an"
        " Organizations account ARN)",
        "123456789012",
        '"OwnerId": "123456789012"',
    ),
    IdentifierType(
        "ACCESS_KEY",
        "Access key ID (AKIA, ASIA, ABIA, ACCA + 16), also right after `/` or `+`",
        "none",
        "AKIAIOSFODNN7EXAMPLE",
    ),
    IdentifierType(
        "IAM_ID",
        "IAM unique ID (AIDA, AROA, AIPA, ANPA, ANVA, AGPA, APKA, ASCA + 12 to 124 more:"
        " 16-128 characters, as botocore's `idType`)",
        "none",
        "AROAJQABLZS4A3QDU576",
    ),
    IdentifierType(
        "SECRET_KEY",
        "Secret access key (40 base64 characters); one-way",
        "a `secret…` key or word right before it, or an access key ID and `:` (`AKIA…:secret`)",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        reversible=False,
    ),
    IdentifierType(
        "SESSION_TOKEN",
        "STS session / security token (long base64); one-way",
        "`SessionToken`, `aws_session_token`, `X-Amz-Security-Token` … right before it",
        "IQoJb3JpZ2luX2VjEXAMPLEtokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/==",
        '"SessionToken": "IQoJb3JpZ2luX2VjEXAMPLEtokenAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+/=="',
        reversible=False,
    ),
    IdentifierType(
        "S3_BUCKET",
        "S3 bucket name",
        '`s3://`, virtual-hosted or path-style S3 URLs, `"Bucket":`/`bucket_name =` keys, any'
        " `--…bucket` option, prose that quotes it (``the bucket ``name`` ``, `a bucket named"
        ' "name"`), the CDK\'s `fromBucketName(this, \'Id\', \'name\')`, `aws s3 ls` listings'
        " (`2024-01-02 12:00:00 my-bucket-1`: a name with a digit, `-` or `.`); not S3's service"
        " principals (`logging.s3.amazonaws.com`, `metadata.`,"
        " `batchoperations.`, `storage-lens.`, `access-grants.`)",
        "my-data-bucket-prod",
        "s3://my-data-bucket-prod/logs/2024/",
    ),
    IdentifierType(
        "RDS",
        "RDS / Aurora endpoint host",
        "`….rds.amazonaws.com`",
        "mydb.c9akciq32.us-east-1.rds.amazonaws.com",
    ),
    IdentifierType(
        "ELASTICACHE",
        "ElastiCache endpoint host",
        "`….cache.amazonaws.com`",
        "my-redis.abc123.ng.0001.use1.cache.amazonaws.com",
    ),
    IdentifierType(
        "ELB",
        "Load balancer DNS name (CLB/ALB/NLB)",
        "`….elb.amazonaws.com`",
        "my-alb-1234567890.us-east-1.elb.amazonaws.com",
    ),
    IdentifierType(
        "EKS",
        "EKS cluster API endpoint host",
        "`….eks.amazonaws.com`",
        "0123456789ABCDEF0123456789ABCDEF.gr7.us-west-2.eks.amazonaws.com",
    ),
    IdentifierType(
        "EKS_OIDC",
        "EKS cluster OIDC issuer ID (32 hex digits)",
        "`oidc.eks.….amazonaws.com/id/…`",
        "38D6A4619A0A69E342B113ED7F1A7652",
        "https://oidc.eks.us-east-2.amazonaws.com/id/38D6A4619A0A69E342B113ED7F1A7652",
    ),
    IdentifierType(
        "API_GATEWAY",
        "API Gateway endpoint host",
        "`….execute-api.….amazonaws.com`",
        "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
    ),
    IdentifierType(
        "LAMBDA_URL",
        "Lambda function URL host",
        "`….lambda-url.….on.aws`",
        "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws",
    ),
    IdentifierType(
        "CLOUDFRONT",
        "CloudFront distribution domain",
        "`….cloudfront.net`",
        "d111111abcdef8.cloudfront.net",
    ),
    IdentifierType(
        "EC2_HOST",
        "EC2 public or private DNS name",
        "`ec2-…compute.amazonaws.com`, `ip-….ec2.internal`, `ip-….compute.internal`",
        "ip-10-0-1-2.ec2.internal",
    ),
    IdentifierType(
        "HOST",
        "Other account-specific AWS host (Redshift, MSK, DocumentDB, OpenSearch, IoT,"
        " VPC endpoint DNS …)",
        "`….amazonaws.com` with resource labels",
        "mycluster.abc123xyz789.us-east-1.redshift.amazonaws.com",
    ),
    IdentifierType(
        "PRIVATE_IP",
        "Private IPv4 address or CIDR (10/8, 172.16/12, 192.168/16)",
        "none; not right after a letter, digit, `_` or `.` (`v10.1.1.0`), nor after version wording"
        " (`version`, `ver`, `release`, `tag`, `tags`, `build`, `firmware`, `chrome`, `firefox`,"
        " `safari`)",
        "10.0.1.25",
    ),
    IdentifierType(
        "PUBLIC_IP",
        "Public IPv4 address or CIDR (off unless `mask_public_ips`)",
        "none; not after version wording",
        "54.239.28.85",
        default_enabled=False,
    ),
    IdentifierType(
        "KMS_KEY",
        "KMS key ID (UUID or `mrk-` multi-Region key)",
        "`key/…`, `KeyId`/`--key-id` keys, `key ID …`, `KMS …` wording, also in a code span",
        "1234abcd-12ab-34cd-56ef-1234567890ab",
        '"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"',
    ),
    IdentifierType(
        "HOSTED_ZONE",
        "Route 53 hosted zone ID",
        "`hostedzone/…`, `HostedZoneId`, `hosted zone` (also before a code span)",
        "Z1D633PJN98FT9",
        "/hostedzone/Z1D633PJN98FT9",
    ),
    IdentifierType(
        "CF_DISTRIBUTION",
        "CloudFront distribution or origin access identity ID (`E` + 9 to 15 capitals and digits)",
        '`DistributionId`, `--distribution-id`, `distribution/…`, a JSON `"Id":` key, `--id`,'
        " `ID` before it, `origin-access-identity/cloudfront/…`",
        "E2QWRUHAPOMQZL",
        "--distribution-id E2QWRUHAPOMQZL",
    ),
    IdentifierType(
        "ORG",
        "AWS Organizations organization ID (`o-` + 10 to 32 lowercase letters and digits)",
        "none; not after a letter, digit, `_` or `-`",
        "o-a1b2c3d4e5",
        '"aws:PrincipalOrgID": "o-a1b2c3d4e5"',
    ),
    IdentifierType(
        "ORG_UNIT",
        "AWS Organizations organizational unit ID (`ou-` + its root's 4 to 32, `-`, 8 to 32)",
        "none",
        "ou-ab12-cdef5678",
        '"ParentId": "ou-ab12-cdef5678"',
    ),
)

BY_NAME: dict[str, IdentifierType] = {e.type_name: e for e in CATALOGUE}
TYPE_NAMES: frozenset[str] = frozenset(BY_NAME)
#: Types that are never stored or restored (secrets).
ONE_WAY_TYPES: frozenset[str] = frozenset(e.type_name for e in CATALOGUE if not e.reversible)

assert len(BY_NAME) == len(CATALOGUE), "duplicate catalogue type"
for _e in CATALOGUE:
    assert is_valid_type_name(_e.type_name), _e.type_name


class Finding(NamedTuple):
    """One distinct identifier found in a body (a named tuple: immutable and hashable, one
    is made per new identifier of every request).

    ``reversible`` is False for secrets (secret access keys, session tokens): they get a
    token, but the store keeps only a keyed hash of them and never returns them.
    """

    type_name: str
    value: str
    reversible: bool = True
