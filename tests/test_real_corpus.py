"""Detection on real text (issue 14): a sample of the corpus that scripts/realcorpus.py makes
from the pinned awscli/botocore wheels' examples, labelled independently of the scanner, meets
the targets; EC2's own API names no ID prefix the catalogue lacks; the miss classes found on real
text stay fixed.

The first run downloads the pinned wheels (about 45 MB) into ``.corpus/wheels``.
"""

from __future__ import annotations

import ast
import urllib.parse
import zipfile
from pathlib import Path

import pytest
from awsmasker.body import Masker
from awsmasker.catalogue import EC2_PREFIXES
from mitmproxy.test import taddons

from tests.test_carriers import masking, target_flow
from testsupport import labels, realcorpus
from testsupport.realcorpus import (
    TARGET_ALL,
    TARGET_FP_PER_MB,
    TARGET_TYPE,
    Result,
    load,
    measure,
    present,
    type_of,
)

SAMPLE = 15  # one document in 15 (about 500, 850 labelled values) and all 2.8 MB of negatives


@pytest.fixture(scope="module")
def sample() -> list[dict]:
    path = realcorpus.CACHE / f"sample{SAMPLE}.jsonl"
    realcorpus.build(path, SAMPLE)
    return load(path)


def test_sample_meets_targets(sample: list[dict]) -> None:
    res = measure(sample)
    assert sum(res.total.values()) > 500 and res.neg_bytes > 2_000_000  # the sample is no stub
    assert res.recall_all >= TARGET_ALL, res.misses
    for t in res.total:
        # a type with a handful of values in the sample: one miss is not a trend
        if res.total[t] >= 20:
            assert res.recall(t) >= TARGET_TYPE, (t, res.misses[t])
    assert res.fp_per_mb <= TARGET_FP_PER_MB, res.fp_spans
    assert res.roundtrip_checked > 400 and not res.roundtrip_failed


@pytest.mark.parametrize("depth", [2, 3])
def test_sample_nested_in_json_strings(sample: list[dict], depth: int) -> None:
    """The text as JSON inside a JSON string, once or twice (an OpenAI tool call's
    ``arguments``, a JSON file an agent writes): its escapes are escaped again (``\\\\n``,
    ``\\\\\\"``), and it is masked as the text itself is, and still decodes at every level."""
    flat = measure(sample)
    res = measure(sample, depth=depth)
    assert res.misses == flat.misses and res.leaked == flat.leaked
    assert res.fp_spans == [] and res.roundtrip_checked > 400 and not res.roundtrip_failed


BOUNDARY = "b0undary"
#: how a text reaches an LLM API as something else than JSON: (content-type, body, the text the
#: masked body holds)
CARRIERS = {
    "text/plain; charset=utf-8": (lambda t: t.encode(), lambda b: b.decode()),
    "application/x-www-form-urlencoded": (
        lambda t: urllib.parse.urlencode({"prompt": t}).encode(),
        lambda b: urllib.parse.parse_qs(b.decode())["prompt"][0]),
    f"multipart/form-data; boundary={BOUNDARY}": (
        lambda t: (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\n"
                   f"{t}\r\n--{BOUNDARY}--\r\n").encode(),
        lambda b: b.decode()),
}


@pytest.mark.parametrize("content_type", CARRIERS)
async def test_sample_through_the_request_hook_as_text(sample: list[dict], content_type: str):
    """The sample's documents as a text body, a form field and a multipart field, through the
    addon's request hook: the same targets as JSON bodies."""
    make, text_of = CARRIERS[content_type]
    rm, _ = masking()
    res = Result()
    with taddons.context():
        for d in (d for d in sample if d["kind"] == "pos"):
            f = target_flow(make(d["text"]), content_type)
            await rm.request(f)
            assert f.response is None, d["id"]
            masked = text_of(f.request.content)
            for cls, value in {tuple(x) for x in d["labels"]}:
                t = type_of(cls)
                res.total[t] += 1
                if present(value, masked):
                    res.leaked[t] += 1
                    res.misses[t].append((d["id"], value))
    assert sum(res.total.values()) > 500
    assert res.recall_all >= TARGET_ALL, res.misses
    for t in res.total:
        if res.total[t] >= 20:
            assert res.recall(t) >= TARGET_TYPE, (t, res.misses[t])


def test_every_ec2_prefix_of_the_model_has_a_type() -> None:
    with (
        zipfile.ZipFile(realcorpus.wheel(realcorpus.AWSCLI)) as cli,
        zipfile.ZipFile(realcorpus.wheel(realcorpus.BOTOCORE)) as bc,
    ):
        prefixes = realcorpus.ec2_prefixes(bc, cli)
    assert len(prefixes) > 60
    assert sorted(prefixes - set(EC2_PREFIXES)) == []


#: members of the models whose shape is 12 digits but whose name is too generic to mean an account
#: anywhere else (an "Id" is an account's only in Organizations and Migration Hub)
GENERIC_MEMBERS = {"Id", "id", "TargetId", "createdBy", "startedBy", "WildCardValue",
                   "vatRegistrationNumber"}


def test_every_account_member_of_the_models_is_masked() -> None:
    """A JSON key that any service model gives a 12-digit shape: its value is masked as an
    account (by the account wording of its name, or as one of ``rules.ACCOUNT_KEYS``)."""
    with zipfile.ZipFile(realcorpus.wheel(realcorpus.BOTOCORE)) as bc:
        members = realcorpus.account_members(bc)
    assert len(members) > 80 and "registryId" in members
    masker = Masker()
    missed = [m for m in sorted(members - GENERIC_MEMBERS)
              if [f.type_name for f in masker.plan(f'{{"{m}": "123456789012"}}').findings]
              != ["ACCOUNT"]]
    assert missed == []


def test_labeller_does_not_use_the_scanner() -> None:
    tree = ast.parse(Path(labels.__file__).read_text())
    imported = {
        n.module if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in (n.names if isinstance(n, ast.Import) else [n])
    }
    assert not any(str(m).startswith("awsmasker") for m in imported), imported


# the classes of miss that real text showed (issue 14), as the masker must treat them
MASKED = [
    ("AIDACKCEVSQ6C2EXAMPLE", "AIDACKCEVSQ6C2EXAMPLE"),
    ('"UserId": "AROADBQP57FF2AEXAMPLE:session"', "AROADBQP57FF2AEXAMPLE"),
    ("AIPAJCJEDKX7QYHWYK7GS", "AIPAJCJEDKX7QYHWYK7GS"),
    ("s3://trail/AWSLogs/144218288521/CloudTrail/us-east-1/", "144218288521"),
    ("?arn=arn%3Aaws%3Aappsync%3Aus-east-1%3A123456789012%3Aapis%2Fabc", "123456789012"),
    ("Principal: {arn-aws}iam::111122223333:role/x", "111122223333"),
    ("!Sub arn:${AWS::Partition}:iam::111122223333:role/x", "111122223333"),
    ("arn:${Partition}:s3:::b/x and 111122223333", "arn:${Partition}:s3:::b/x"),
    ("assume the role from Account B (`444455556666`)", "444455556666"),
    ("a KMS key with an ID of `9d5e2b3d-1234-4abc-8def-0123456789ab`.", "9d5e2b3d-1234-4abc"),
    ("encrypted with KMS key `8af79514-1234-4abc-8def-0123456789ab`", "8af79514-1234-4abc"),
    ("iip-assoc-0e7736511a163c209", "iip-assoc-0e7736511a163c209"),
    ("cvpn-endpoint-123456789123abcde", "cvpn-endpoint-123456789123abcde"),
    ("ipam-res-disco-0365d2977fc1672fe", "ipam-res-disco-0365d2977fc1672fe"),
    ("sir-08b93456", "sir-08b93456"),
    ("mi-0123456789abcdef0", "mi-0123456789abcdef0"),
    ('"Distribution": {"Id": "EDFDVBD6EXAMPLE"}', "EDFDVBD6EXAMPLE"),
    ("oidc.eks.us-east-2.amazonaws.com/id/38D6A4619A0A69E342B113ED7F1A7652", "38D6A461"),
    ("https://amzn-s3-demo-bucket.s3.amazonaws.com/key", "amzn-s3-demo-bucket"),
    ("the bucket ``amzn-s3-demo-bucket2`` is", "amzn-s3-demo-bucket2"),
    ("bucket_name = 'logs-archive-01'", "logs-archive-01"),
    ("aws s3api list-objects --s-3-bucket my-artifacts-01", "my-artifacts-01"),
    ("GET /keys/AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG"),
    ("the distribution with the ID\n``EDFDVBD6EXAMPLE``", "EDFDVBD6EXAMPLE"),
    ('"Id": "amzn-s3-demo-bucket.s3.amazonaws.com-cli-example"', "amzn-s3-demo-bucket"),
    # AWS's Query and REST-XML APIs answer in XML (an STS AssumeRole response, S3, Route 53)
    ("<SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY</SecretAccessKey>",
     "wJalrXUtnFEMI/K7MDENG"),
    ("<SessionToken>AQoDYXdzEJr1K4EXAMPLEtokenAQoDYXdzEJr1K4EXAMPLEtoken</SessionToken>",
     "AQoDYXdzEJr1K4EXAMPLE"),
    ("<Bucket>my-data-bucket-01</Bucket>", "my-data-bucket-01"),
    ("<OwnerId>123456789012</OwnerId>", "123456789012"),
    ("<KeyId>1234abcd-12ab-34cd-56ef-1234567890ab</KeyId>", "1234abcd-12ab-34cd"),
    ("<HostedZoneId>Z1D633PJN98FT9</HostedZoneId>", "Z1D633PJN98FT9"),
    ("<DistributionId>EDFDVBD6EXAMPLE</DistributionId>", "EDFDVBD6EXAMPLE"),
    ("<Buckets><Bucket><Name>my-data-bucket-01</Name>", "my-data-bucket-01"),
    ('<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>logs-archive-07',
     "logs-archive-07"),
    # a value found in context is masked wherever else the body holds it
    ('"Bucket": "my-logs-01"} gives {"Location": "/my-logs-01"}', "my-logs-01"),
    ("aws s3 rb s3://amzn-s3-demo-bucket\nremoves *amzn-s3-demo-bucket*.", "amzn-s3-demo-bucket"),
    # ... letters only too, when 8 or longer (the real-text corpus's last S3_BUCKET misses)
    ('"Bucket": "examplebucket"} gives {"Location": "/examplebucket"}', "examplebucket"),
    ("for example, myawsbucket.s3.amazonaws.com. An S3 bucket named myawsbucket.", "myawsbucket"),
    # an ECR registry, its region a placeholder (docs, Dockerfiles, CI scripts)
    ("docker push 123456789012.dkr.ecr.${AWS_REGION}.amazonaws.com/app:1", "123456789012"),
    ("the full URI (for example, 012345678910.dkr.ecr.<region-name>.amazonaws.com/<repo>)",
     "012345678910"),
    # a policy's wildcards in an ARN (IAM and resource policies, CDK's README examples)
    ("repo.notify('arn:aws:sns:*:123456789012:my_topic');", "123456789012"),
    ('"Resource": "arn:aws:logs:us-*:123456789012:log-group:*"', "123456789012"),
    # ... and a placeholder for its region (docs, CloudFormation's !Sub)
    ("arn:aws:codebuild:<region-ID>:972506530580:report/<report-group-name>", "972506530580"),
    ('!Sub "arn:aws:sns:${AWS::Region}:123456789012:alerts"', "123456789012"),
    # a policy's principal by account (bucket, key and trust policies; CloudFormation's YAML)
    ('{"Effect": "Allow", "Principal": {"AWS": "123456789012"}, "Action": "s3:GetObject"}',
     "123456789012"),
    ('"Principal": {"AWS": ["111122223333", "444455556666"]}', "444455556666"),
    ("Principal:\n  AWS: '111122223333'", "111122223333"),
    # keys the models give an account's shape (ECR's registryId), EC2's security group pairs
    ('{"registryId": "123456789012", "repositoryName": "app"}', "123456789012"),
    ('"UserIdGroupPairs": [{"GroupId": "sg-0abc1234def567890", "UserId": "123456789012"}]',
     "123456789012"),
    ("aws ecr describe-images --registry-id 123456789012 --repository-name app", "123456789012"),
    ('principals {\n  type        = "AWS"\n  identifiers = ["111122223333"]\n}', "111122223333"),
    # AWS Organizations' IDs (a bucket policy's aws:PrincipalOrgID, an OU as a parent)
    ('"Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}', "o-a1b2c3d4e5"),
    ('"ParentId": "ou-examplerootid111-exampleouid111"', "ou-examplerootid111"),
    # the CDK (TypeScript, Python)
    ("s3.Bucket.fromBucketName(this, 'Logs', 'acme-logs-2024')", "acme-logs-2024"),
    ('s3.Bucket.from_bucket_name(self, "Logs", "acme-logs-2024")', "acme-logs-2024"),
    # ``aws s3 ls``: a bucket per line after its creation date
    ("$ aws s3 ls\n2024-01-01 12:00:00 acme-prod-data\n2024-01-02 12:00:00 acme-staging-2\n",
     "acme-staging-2"),
    # a VPC flow log record (default format: version account-id interface-id srcaddr dstaddr …)
    ("2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
     "1418530010 1418530070 ACCEPT OK", "123456789010"),
    # the API reference's wording (botocore's service models)
    ("TargetID is an Amazon Web Services account identifier, (For example, 123456789012).",
     "123456789012"),
    ("Resource owner (like 111122223333)", "111122223333"),
    ("in accountId:watermarkName format (for example, 123456789012:approvedAmi)",
     "123456789012"),
]


@pytest.mark.parametrize(("text", "secret"), MASKED)
def test_real_text_classes_masked(text: str, secret: str) -> None:
    plan = Masker().plan(text, is_json=False)
    masked = plan.apply([f"AWS_{f.type_name}_{i + 1:03d}" for i, f in enumerate(plan.findings)])
    assert secret not in masked, masked


def test_s3_xml_namespace_stays() -> None:
    text = '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    assert Masker().plan(text, is_json=False).findings == []


def test_s3_service_principals_stay() -> None:
    """S3's service principals have a bucket host's shape; they name no bucket."""
    text = ('"Principal": {"Service": ["logging.s3.amazonaws.com", "metadata.s3.amazonaws.com", '
            '"batchoperations.s3.amazonaws.com", "storage-lens.s3.amazonaws.com", '
            '"access-grants.s3.amazonaws.com"]}')
    assert Masker().plan(text, is_json=False).findings == []


def test_an_organization_id_starts_a_name() -> None:
    text = "demo-o-abcdefghijk, co-abcdefghijkl, o-short"
    assert Masker().plan(text, is_json=False).findings == []


def test_log_lines_after_a_time_stamp_stay() -> None:
    text = "2024-01-01 12:00:00 completed\n2024-01-01 12:00:01 step-2 started\n"
    assert Masker().plan(text, is_json=False).findings == []


def test_four_part_version_tags_stay() -> None:
    text = "Tags: 10.1.1.0, 10.1, 10\ntags=172.16.0.1"
    assert Masker().plan(text, is_json=False).findings == []


def test_values_found_again_only_as_whole_names() -> None:
    text = (
        '"Bucket": "my-logs-01", "Bucket": "logging"; the logging policy; my-logs-01-old;'
        " x.my-logs-01; my-logs-01.s3 and my-logs-01."
    )
    plan = Masker().plan(text, is_json=False)
    masked = plan.apply([f"AWS_{f.type_name}_{i + 1:03d}" for i, f in enumerate(plan.findings)])
    # a value shorter than 8 is a word as often as a name: only its own context masks it
    assert "the logging policy" in masked
    assert "my-logs-01-old" in masked and "x.my-logs-01" in masked and "my-logs-01.s3" in masked
    assert masked.endswith("and AWS_S3_BUCKET_001.")
