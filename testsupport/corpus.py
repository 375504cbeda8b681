"""Seeded generator of realistic AWS-flavoured text with planted identifiers and look-alikes.

``generate(seed, size)`` returns ``(text, planted)`` where ``planted`` lists every identifier
``(type_name, value)`` written into the text. Look-alike negatives (git SHAs, UUIDs outside AWS
context, versions, ``10.1.1.0`` version tags, timestamps, phone numbers, 12-digit order numbers)
are mixed in; none of them should be masked.
"""

from __future__ import annotations

import json
import random
import string

from awsmasker.catalogue import EC2_PREFIXES

HEX = "0123456789abcdef"
UP = string.ascii_uppercase + string.digits
REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2", "eu-central-1")
WORDS = [
    "the",
    "deploy",
    "failed",
    "because",
    "the",
    "service",
    "could",
    "not",
    "reach",
    "its",
    "database",
    "after",
    "we",
    "rotated",
    "credentials",
    "and",
    "the",
    "cache",
    "warmed",
    "slowly",
    "while",
    "traffic",
    "shifted",
    "between",
    "zones",
    "during",
    "the",
    "maintenance",
    "window",
    "so",
    "please",
    "check",
    "the",
    "logs",
    "metrics",
    "alarms",
    "and",
    "dashboards",
    "before",
    "rolling",
    "back",
    "any",
    "change",
    "to",
    "production",
    "today",
]


class Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)
        self.planted: list[tuple[str, str]] = []

    def p(self, type_name: str, value: str) -> str:
        self.planted.append((type_name, value))
        return value

    # --- identifier values -----------------------------------------------------------------
    def hexs(self, n: int) -> str:
        return "".join(self.r.choice(HEX) for _ in range(n))

    def ec2(self, prefix: str | None = None) -> str:
        prefix = prefix or self.r.choice(list(EC2_PREFIXES))
        n = 8 if prefix in ("fs", "r", "h", "pl") or self.r.random() < 0.3 else 17
        return self.p(EC2_PREFIXES[prefix], f"{prefix}-{self.hexs(n)}")

    def account_value(self) -> str:
        return str(self.r.randrange(10**11, 10**12))

    def account(self) -> str:
        return self.p("ACCOUNT", self.account_value())

    def region(self) -> str:
        return self.r.choice(REGIONS)

    def arn(self) -> str:
        part = self.r.choice(("aws", "aws", "aws-cn", "aws-us-gov"))
        acct = self.account_value()
        kind = self.r.randrange(5)
        if kind == 0:
            v = f"arn:{part}:iam::{acct}:role/{self.name()}-role"
        elif kind == 1:
            v = f"arn:{part}:s3:::{self.name()}-bucket/path/{self.name()}.json"
        elif kind == 2:
            v = f"arn:{part}:lambda:{self.region()}:{acct}:function:{self.name()}"
        elif kind == 3:
            v = f"arn:{part}:ec2:{self.region()}:{acct}:instance/i-{self.hexs(17)}"
        else:
            v = f"arn:{part}:kms:{self.region()}:{acct}:key/{self.uuid()}"
        return self.p("ARN", v)

    def name(self) -> str:
        return "-".join(
            self.r.choice(("app", "data", "prod", "web", "etl", "core", "api")) for _ in range(2)
        )

    def uuid(self) -> str:
        return "-".join(self.hexs(n) for n in (8, 4, 4, 4, 12))

    def akid(self) -> str:
        pre = self.r.choice(("AKIA", "ASIA", "AIDA", "AROA", "ANPA", "AGPA"))
        t = "ACCESS_KEY" if pre in ("AKIA", "ASIA") else "IAM_ID"
        return self.p(t, pre + "".join(self.r.choice(UP) for _ in range(16)))

    def secret(self) -> str:
        alpha = string.ascii_letters + string.digits + "/+"
        return self.p("SECRET_KEY", "".join(self.r.choice(alpha) for _ in range(40)))

    def session(self) -> str:
        alpha = string.ascii_letters + string.digits + "/+"
        body = "".join(self.r.choice(alpha) for _ in range(self.r.randrange(200, 400)))
        return self.p("SESSION_TOKEN", "IQoJb3JpZ2luX2Vj" + body + "==")

    def bucket(self) -> str:
        return self.p("S3_BUCKET", f"{self.name()}-{self.r.randrange(1000, 9999)}")

    def private_ip(self, cidr: bool = True) -> str:
        k = self.r.randrange(3)
        if k == 0:
            v = f"10.{self.r.randrange(256)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"
        elif k == 1:
            v = f"172.{self.r.randrange(16, 32)}.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"
        else:
            v = f"192.168.{self.r.randrange(256)}.{self.r.randrange(1, 255)}"
        if cidr and self.r.random() < 0.2:
            v += f"/{self.r.randrange(8, 29)}"
        return self.p("PRIVATE_IP", v)

    def host(self) -> str:
        k = self.r.randrange(9)
        reg = self.region()
        a = "".join(self.r.choice(string.ascii_lowercase + string.digits) for _ in range(12))
        if k == 0:
            return self.p("RDS", f"{self.name()}.{a}.{reg}.rds.amazonaws.com")
        if k == 1:
            return self.p("ELASTICACHE", f"{self.name()}.{a[:6]}.ng.0001.use1.cache.amazonaws.com")
        if k == 2:
            return self.p(
                "ELB", f"{self.name()}-{self.r.randrange(10**9, 10**10)}.{reg}.elb.amazonaws.com"
            )
        if k == 3:
            return self.p("EKS", f"{self.hexs(32).upper()}.gr7.{reg}.eks.amazonaws.com")
        if k == 4:
            return self.p("API_GATEWAY", f"{a[:10]}.execute-api.{reg}.amazonaws.com")
        if k == 5:
            lam = "".join(self.r.choice(string.ascii_lowercase + string.digits) for _ in range(32))
            return self.p("LAMBDA_URL", f"{lam}.lambda-url.{reg}.on.aws")
        if k == 6:
            return self.p("CLOUDFRONT", f"d{a[:13]}.cloudfront.net")
        if k == 7:
            o = [self.r.randrange(1, 255) for _ in range(3)]
            return self.p("EC2_HOST", f"ip-10-{o[0]}-{o[1]}-{o[2]}.ec2.internal")
        return self.p("HOST", f"{self.name()}.{a}.{reg}.redshift.amazonaws.com")

    def kms(self) -> str:
        return self.p("KMS_KEY", self.uuid())

    def zone(self) -> str:
        return self.p(
            "HOSTED_ZONE",
            "Z" + str(self.r.randrange(10)) + "".join(self.r.choice(UP) for _ in range(12)),
        )

    def dist(self) -> str:
        return self.p(
            "CF_DISTRIBUTION",
            "E" + str(self.r.randrange(10)) + "".join(self.r.choice(UP) for _ in range(12)),
        )

    # --- negatives ----------------------------------------------------------------------------
    def negative(self) -> str:
        r = self.r
        k = r.randrange(9)
        if k == 0:
            return f"commit {self.hexs(40)} fixed it"
        if k == 1:
            return f"request id {self.uuid()} completed"
        if k == 2:
            return f"upgraded to v{r.randrange(1, 20)}.{r.randrange(30)}.{r.randrange(30)}-rc.1"
        if k == 3:
            a, b = r.randrange(10), r.randrange(10)
            return f"firmware version 10.{a}.{b}.0 and v10.1.1.{r.randrange(9)}"
        if k == 4:
            return (
                f"at 2024-0{r.randrange(1, 9)}-1{r.randrange(9)}T10:{r.randrange(10, 59)}:00.123Z"
            )
        if k == 5:
            return f"call +1 (555) {r.randrange(100, 999)}-{r.randrange(1000, 9999)}"
        if k == 6:
            return f"order number {r.randrange(10**11, 10**12)} shipped"
        if k == 7:
            return f"short sha {self.hexs(8)} and {self.hexs(12)}"
        return (
            f"build 2024.{r.randrange(10, 12)}.{r.randrange(10, 30)} of the multi-{self.hexs(8)}x"
        )

    def prose(self, n: int) -> str:
        return " ".join(self.r.choice(WORDS) for _ in range(n))

    # --- documents ------------------------------------------------------------------------------
    def cli_json(self) -> str:
        acct = self.account()
        inst = {
            "InstanceId": self.ec2("i"),
            "ImageId": self.ec2("ami"),
            "PrivateIpAddress": self.private_ip(False),
            "PrivateDnsName": self.host(),
            "SubnetId": self.ec2("subnet"),
            "VpcId": self.ec2("vpc"),
            "SecurityGroups": [{"GroupId": self.ec2("sg"), "GroupName": "default"}],
            "NetworkInterfaces": [{"NetworkInterfaceId": self.ec2("eni"), "OwnerId": acct}],
            "IamInstanceProfile": {"Arn": self.arn(), "Id": self.akid()},
            "LaunchTime": "2024-03-01T10:00:00+00:00",
        }
        return json.dumps({"Reservations": [{"OwnerId": acct, "Instances": [inst]}]}, indent=2)

    def cli_table(self) -> str:
        rows = [
            ("InstanceId", self.ec2("i")),
            ("VolumeId", self.ec2("vol")),
            ("SnapshotId", self.ec2("snap")),
            ("Account", self.account()),
            ("RouteTableId", self.ec2("rtb")),
            ("NatGatewayId", self.ec2("nat")),
        ]
        return "\n".join(f"|  {k:<16}|  {v:<40}|" for k, v in rows)

    def cloudtrail(self) -> str:
        rec = {
            "eventVersion": "1.08",
            "userIdentity": {
                "type": "AssumedRole",
                "arn": self.arn(),
                "accountId": self.account(),
                "accessKeyId": self.akid(),
            },
            "eventTime": "2024-05-01T12:00:00Z",
            "sourceIPAddress": self.private_ip(False),
            "requestParameters": {
                "bucketName": self.bucket(),
                "keyId": self.kms(),
                "hostedZoneId": self.zone(),
            },
            "recipientAccountId": self.account(),
            "requestID": "1b2c3d4e-1111-2222-3333-444455556666",
        }
        return json.dumps({"Records": [rec]})

    def terraform(self) -> str:
        return (
            'resource "aws_instance" "web" {\n'
            f'  ami           = "{self.ec2("ami")}"\n'
            f'  subnet_id     = "{self.ec2("subnet")}"\n'
            f'  vpc_security_group_ids = ["{self.ec2("sg")}"]\n'
            f'  private_ip    = "{self.private_ip(False)}"\n'
            f'  kms_key_id    = "{self.kms()}"\n'
            "}\n"
            f'terraform {{ backend "s3" {{ bucket = "{self.bucket()}" }} }}\n'
            f'  "id": "{self.ec2("tgw-attach")}", "cidr_block": "{self.private_ip()}"\n'
        )

    def cfn(self) -> str:
        return (
            "Resources:\n  Dist:\n    Type: AWS::CloudFront::Distribution\n"
            f"    # DistributionId: {self.dist()}\n"
            f"    Origin: {self.host()}\n"
            f"  Role: {self.arn()}\n"
            f"  Endpoint: {self.ec2('vpce')}\n  Peering: {self.ec2('pcx')}\n"
        )

    def logs(self) -> str:
        reg = self.region()
        return (
            f"2024-05-01 12:00:01 INFO connecting to {self.host()} from {self.private_ip(False)}\n"
            f"2024-05-01 12:00:02 WARN aws s3 cp s3://{self.bucket()}/x.tgz . --region {reg}\n"
            f"2024-05-01 12:00:03 INFO pulled {self.account()}.dkr.ecr.{reg}.amazonaws.com/app:1\n"
            f"2024-05-01 12:00:04 INFO queue https://sqs.{reg}.amazonaws.com/{self.account()}/jobs\n"
            f"2024-05-01 12:00:05 DEBUG export AWS_SECRET_ACCESS_KEY={self.secret()}\n"
            f"2024-05-01 12:00:06 DEBUG aws_session_token = {self.session()}\n"
            f"2024-05-01 12:00:07 INFO aws cloudfront create-invalidation"
            f" --distribution-id {self.dist()}\n"
            f"2024-05-01 12:00:08 INFO attached {self.ec2()} and {self.ec2()}"
            f" to {self.ec2('igw')}\n"
        )

    def prose_block(self) -> str:
        return (
            f"{self.prose(12)}. The instance {self.ec2('i')} in account {self.account()} "
            f"talks to {self.host()} ({self.private_ip()}). {self.negative()}. "
            f"{self.prose(10)}; hosted zone {self.zone()} and KMS key {self.kms()}. "
            f"{self.negative()}, {self.negative()}. Bucket: {self.bucket()}.\n"
        )

    def document(self) -> str:
        k = self.r.randrange(7)
        return (
            self.cli_json,
            self.cli_table,
            self.cloudtrail,
            self.terraform,
            self.cfn,
            self.logs,
            self.prose_block,
        )[k]()


def generate(seed: int, size: int) -> tuple[str, list[tuple[str, str]]]:
    """About ``size`` characters of mixed documents separated by prose and negatives."""
    g = Gen(seed)
    parts: list[str] = []
    total = 0
    while total < size:
        doc = g.document() if g.r.random() < 0.5 else g.prose(40) + ". " + g.negative() + ".\n"
        parts.append(doc)
        total += len(doc) + 1
    return "\n".join(parts), g.planted


def negatives(seed: int, count: int) -> list[str]:
    g = Gen(seed)
    return [g.negative() for _ in range(count)]


def mixed_pieces(seed: int, size: int, doc_share: float) -> list[str]:
    """About ``size`` characters of pieces: an AWS document with probability ``doc_share``,
    otherwise 60 words of prose and a look-alike."""
    g = Gen(seed)
    pieces: list[str] = []
    total = 0
    while total < size:
        doc = (g.document() if g.r.random() < doc_share
               else g.prose(60) + ". " + g.negative() + ".\n")
        pieces.append(doc)
        total += len(doc)
    return pieces


def conversation(pieces: list[str], seed: int = 7) -> list[dict]:
    """Anthropic messages of six pieces each, in turn: user text, an assistant ``tool_use``
    with the pieces in its input, the user's ``tool_result``."""
    out: list[dict] = []
    for k, i in enumerate(range(0, len(pieces) - 6, 6)):
        chunk = "\n".join(pieces[i:i + 6])
        if k % 3 == 0:
            msg = {"role": "user", "content": [{"type": "text", "text": chunk}]}
        elif k % 3 == 1:
            msg = {"role": "assistant", "content": [
                {"type": "text", "text": "Running the command."},
                {"type": "tool_use", "id": f"toolu_{seed}_{k}", "name": "bash",
                 "input": {"command": "aws ec2 describe-instances", "note": chunk}}]}
        else:
            msg = {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_{seed}_{k - 1}",
                 "content": [{"type": "text", "text": chunk}]}]}
        out.append(msg)
    return out


class Bodies:
    """Distinct Anthropic Messages bodies of a given size (the proxy benchmark's requests).

    A conversation pool (serialised messages: user text, assistant tool_use, user tool_result
    with CLI output, JSON and logs) is built once; a body takes consecutive pool messages from a
    random offset and ends with a fresh user turn (a counter, a tool_result with fresh
    identifiers, prose filler that brings the body to its exact size).
    """

    HEAD = ('{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":%s,'
            '"system":"You are a helpful AWS assistant. Answer briefly.","messages":[')

    def __init__(self, seed: int = 7, pool_bytes: int = 2_500_000) -> None:
        pool = [json.dumps(m) for m in conversation(mixed_pieces(seed, pool_bytes, 0.06), seed)]
        self.pool = pool[: len(pool) // 3 * 3]

    def _fresh(self, n: int, target: int) -> str:
        """The last user turn, serialised to about ``target`` characters."""
        g = Gen(1_000_003 + n)
        inst = g.ec2("i")
        cli = json.dumps({"Reservations": [{"Instances": [
            {"InstanceId": inst, "InstanceType": "t3.large", "State": {"Name": "running"},
             "Tags": [{"Key": "Name", "Value": f"web \"{n}\""}]}]}]}, indent=2)
        text = f"Turn {n}: why is it not reachable? "
        filler = g.prose(max(20, target // 5))
        while len(filler) < target:
            filler += " " + g.prose(200)

        def render(fill: str) -> str:
            return json.dumps({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": f"toolu_fresh_{n}",
                 "content": f"$ aws ec2 describe-instances\n{cli}"},
                {"type": "text", "text": text + fill}]})

        out = render(filler)
        excess = len(out) - target
        if excess > 0:
            out = render(filler[: max(0, len(filler) - excess)])
        return out

    def body(self, size: int, n: int, *, stream: bool = False) -> bytes:
        head = self.HEAD % ("true" if stream else "false")
        msgs: list[str] = []
        used = len(head) + 2
        fresh_share = min(size, 2048)
        if size > 4096:
            r = random.Random(n)
            i = r.randrange(len(self.pool) // 3) * 3  # start on a user turn
            while used + len(self.pool[i]) + 1 < size - fresh_share:
                msgs.append(self.pool[i])
                used += len(self.pool[i]) + 1
                i = (i + 1) % len(self.pool)
        msgs.append(self._fresh(n, size - used))
        return (head + ",".join(msgs) + "]}").encode()
