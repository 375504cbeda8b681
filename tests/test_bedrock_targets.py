"""Target patterns for the Bedrock and Vertex hosts, the Bedrock error shape and the SigV4
request classification (no proxy process)."""

from __future__ import annotations

import json

import pytest
from awsmasker import config
from awsmasker.errors import block_response
from awsmasker.sigv4 import (
    BEDROCK_PATH,
    Signer,
    SigningError,
    parse_authorization,
    region_from_host,
)
from mitmproxy.test import tflow, tutils

PATTERNS = ["bedrock-runtime.*.amazonaws.com", "*-aiplatform.googleapis.com",
            "aiplatform.googleapis.com"]


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("bedrock-runtime.us-east-1.amazonaws.com", True),
        ("BEDROCK-RUNTIME.eu-west-3.amazonaws.com.", True),
        ("bedrock-runtime.amazonaws.com", False),  # '*' stands for one or more characters
        ("bedrock-runtime.a.b.amazonaws.com", False),  # ... of one label
        ("bedrock.us-east-1.amazonaws.com", False),
        ("s3.us-east-1.amazonaws.com", False),
        ("bedrock-runtime.us-east-1.amazonaws.com.evil.net", False),
        ("us-east5-aiplatform.googleapis.com", True),
        ("europe-west1-aiplatform.googleapis.com", True),
        ("-aiplatform.googleapis.com", False),
        ("aiplatform.googleapis.com", True),
        ("x.aiplatform.googleapis.com", False),
    ],
)
def test_in_label_wildcards(host, expected):
    assert config.host_matches(host, PATTERNS) is expected


@pytest.mark.parametrize("pattern", ["*.*.amazonaws.com", "bedrock.amazonaws.*",
                                     "bedrock-runtime.*.com", "x..*.amazonaws.com", "*"])
def test_wildcard_patterns_that_would_match_too_much_are_errors(pattern):
    with pytest.raises(config.ConfigError, match="targets:"):
        config.validate({"targets": [pattern]})


def test_wildcard_patterns_validate():
    s = config.validate({"targets": PATTERNS})
    assert s.targets == tuple(PATTERNS)


def flow(path: str, headers: dict[str, str], host: str = "bedrock-runtime.us-west-2.amazonaws.com"):
    req = tutils.treq(host=host, port=443, scheme=b"https", path=path.encode(), method=b"POST",
                      content=b"{}")
    req.headers["host"] = host
    for k, v in headers.items():
        req.headers[k] = v
    return tflow.tflow(req=req)


AUTH = ("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-west-2/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, Signature=" + "ab" * 32)


@pytest.mark.parametrize(("host", "region"), [
    ("bedrock-runtime.us-east-1.amazonaws.com", "us-east-1"),
    ("bedrock-runtime-fips.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
    ("vpce-0abc-xyz.bedrock-runtime.eu-central-1.vpce.amazonaws.com", "eu-central-1"),
    ("bedrock-runtime.cn-north-1.amazonaws.com.cn", "cn-north-1"),
    ("bedrock-runtime.us-east-1.amazonaws.com.evil.net", None),
    ("127.0.0.1", None),
])
def test_region_from_host(host, region):
    assert region_from_host(host) == region


def test_parse_authorization():
    scope = parse_authorization(AUTH)
    assert scope == ("AKIDEXAMPLE", "us-west-2", "bedrock", ("content-type", "host", "x-amz-date"))
    assert parse_authorization("AWS4-HMAC-SHA256 Credential=x") is None


@pytest.mark.parametrize("path", ["/model/anthropic.claude-v2:1/invoke",
                                  "/model/anthropic.claude-v2%3A1/invoke-with-response-stream",
                                  "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ax/converse",
                                  "/model/m/converse-stream"])
def test_bedrock_paths(path):
    assert BEDROCK_PATH.match(path)
    # unsigned: the proxy signs, in the host's region
    assert Signer().scope(flow(path, {})) == (None, "us-west-2", "bedrock", ())


@pytest.mark.parametrize(("path", "headers"), [
    ("/model/m/invoke", {"authorization": "Bearer bedrock-api-key"}),  # Bedrock API key
    ("/v1/messages", {"x-api-key": "sk"}),
    ("/v1/projects/p/locations/l/publishers/anthropic/models/c:rawPredict",
     {"authorization": "Bearer ya29.x"}),  # Vertex OAuth
    ("/model/m/list", {}),
])
def test_requests_that_need_no_signing(path, headers):
    assert Signer().scope(flow(path, headers)) is None


def test_signed_request_scope_and_presigned_refusal():
    assert Signer().scope(flow("/model/m/invoke", {"authorization": AUTH})).access_key == \
        "AKIDEXAMPLE"
    with pytest.raises(SigningError, match="pre-signed"):
        Signer().scope(flow("/model/m/invoke?X-Amz-Signature=ab", {}))
    with pytest.raises(SigningError, match="could not be read"):
        Signer().scope(flow("/model/m/invoke", {"authorization": "AWS4-HMAC-SHA256 nonsense"}))


@pytest.mark.parametrize(("path", "headers"), [
    ("/model/amazon.nova-sonic-v1:0/invoke-with-bidirectional-stream", {}),
    ("/model/m/invoke", {"content-type": "application/vnd.amazon.eventstream"}),
])
def test_eventstream_request_bodies_are_refused(path, headers):
    with pytest.raises(SigningError, match="cannot be masked") as e:
        Signer().scope(flow(path, headers))
    assert (e.value.status, e.value.reason) == (400, "eventstream_request")


def test_bedrock_error_shape():
    f = flow("/model/m/converse", {})
    resp = block_response(f, 403, "no credentials", "signing_error")
    assert resp.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert json.loads(resp.content) == {"message": "aws-masker: no credentials"}


# -- signing, checked by the stand-in's verifier (botocore computing the signature again) -----

async def test_signing_with_session_token_content_hash_and_percent_path(monkeypatch, tmp_path):
    from tests.bedrock_upstream import verify_sigv4

    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDSIGNTEST", "AWS_SECRET_ACCESS_KEY": "s3cret",
                        "AWS_SESSION_TOKEN": "session-token-value",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    path = "/model/anthropic.claude-v2%3A1/converse"
    auth = ("AWS4-HMAC-SHA256 Credential=AKIDSIGNTEST/20260101/eu-west-1/bedrock/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-security-token, Signature=" + "00" * 32)
    f = flow(path, {"authorization": auth, "content-type": "application/json",
                    "x-amz-content-sha256": "0" * 64, "x-amz-date": "20260101T000000Z",
                    "x-amz-security-token": "session-token-value", "user-agent": "test"})
    f.request.content = b'{"messages":[{"role":"user","content":[{"text":"AWS_EC2_001"}]}]}'
    signer = Signer()
    scope = signer.scope(f)
    assert scope is not None
    await signer.sign(f, scope)
    headers = list(f.request.headers.items(multi=True))
    ok, why = verify_sigv4("POST", path, headers, f.request.content,
                           {"AKIDSIGNTEST": "s3cret"})
    assert ok, why
    assert f.request.headers["x-amz-content-sha256"] != "0" * 64  # the masked body's hash
    assert "/eu-west-1/bedrock/" in f.request.headers["authorization"]
    assert "user-agent" not in f.request.headers["authorization"]  # not signed by the client


async def test_signing_refuses_another_access_key(monkeypatch, tmp_path):
    for name, value in {"AWS_ACCESS_KEY_ID": "AKIDPROXY", "AWS_SECRET_ACCESS_KEY": "s3cret",
                        "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    f = flow("/model/m/invoke", {"authorization": AUTH, "x-amz-date": "20260101T000000Z"})
    signer = Signer()
    with pytest.raises(SigningError, match="access key other than") as e:
        await signer.sign(f, signer.scope(f))
    assert "AKIDPROXY" not in str(e.value) and "AKIDEXAMPLE" not in str(e.value)
    assert f.request.headers["authorization"] == AUTH  # untouched
