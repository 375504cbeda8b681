"""Amazon Bedrock and Google Vertex through a real mitmdump, with real clients (the anthropic SDK's
``AnthropicBedrock`` / ``AnthropicVertex``, boto3 ``bedrock-runtime``, httpx) and a loopback
stand-in that verifies every SigV4 signature with botocore (tests/bedrock_upstream.py)."""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path

import anthropic
import boto3
import httpx
import pytest
from awsmasker.tokens import TOKEN_RE
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.bedrock_upstream import Upstream, UpstreamServer
from tests.eventstream_helpers import anthropic_events, frames
from testsupport.mitmdump import Mitmdump

pytestmark = pytest.mark.e2e

KEY, SECRET = "AKIDPROXYTEST0000001", "proxy-test-secret/0123456789abcdefghijklmn"
OTHER_KEY, OTHER_SECRET = "AKIDOTHERTEST0000002", "other-test-secret/0123456789abcdefghijklm"
ORIGINALS = ["i-0123456789abcdef0", "vpc-0a1b2c3d4e5f67890", "10.0.1.25"]
PROMPT = f"Why can't {ORIGINALS[0]} in {ORIGINALS[1]} reach {ORIGINALS[2]}?"
MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"
REGION = "us-east-1"


@pytest.fixture
def upstream():
    srv = UpstreamServer(Upstream(secrets={KEY: SECRET, OTHER_KEY: OTHER_SECRET}))
    yield srv
    srv.close()


def aws_env(tmp_path: Path, key: str = KEY, secret: str = SECRET) -> dict[str, str]:
    """The proxy's own AWS credential chain: these keys only (no files, no metadata service)."""
    return {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_REGION": REGION}


@pytest.fixture
def bedrock_proxy(proxy_factory, tmp_path):
    return proxy_factory("targets=127.0.0.1", "termlog_verbosity=debug", env=aws_env(tmp_path))


def assert_upstream_clean(upstream, *, signed: bool) -> None:
    reqs = upstream.upstream.requests
    assert reqs, "the stand-in received nothing"
    for r in reqs:
        seen = r.path.encode() + r.body + json.dumps(r.headers).encode()
        for original in ORIGINALS:
            assert original.encode() not in seen
        assert b"AWS_EC2_" in r.body
        if signed:
            assert r.verified, r.why
        else:
            assert not r.signed


def assert_restored(text: str, tool_input: dict) -> None:
    for original in ORIGINALS:
        assert original in text
    assert tool_input["ids"] == ORIGINALS


def bedrock_sdk(proxy, upstream, **auth) -> anthropic.AnthropicBedrock:
    return anthropic.AnthropicBedrock(
        aws_region=REGION, base_url=f"http://127.0.0.1:{upstream.port}", max_retries=0,
        http_client=anthropic.DefaultHttpxClient(proxy=proxy.url, timeout=30), **auth)


def boto3_client(proxy, upstream, key: str = KEY, secret: str = SECRET):
    return boto3.client(
        "bedrock-runtime", region_name=REGION, endpoint_url=f"http://127.0.0.1:{upstream.port}",
        aws_access_key_id=key, aws_secret_access_key=secret,
        config=Config(proxies={"http": proxy.url}, retries={"max_attempts": 1},
                      read_timeout=30, connect_timeout=10))


def sdk_call(client, stream: bool, model: str = MODEL) -> tuple[str, dict]:
    kw = dict(model=model, max_tokens=100, messages=[{"role": "user", "content": PROMPT}])
    if stream:
        with client.messages.stream(**kw) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(**kw)
    text = "".join(b.text for b in msg.content if b.type == "text")
    (tool,) = [b for b in msg.content if b.type == "tool_use"]
    return text, tool.input


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_anthropic_bedrock_sigv4(bedrock_proxy, upstream, stream):
    client = bedrock_sdk(bedrock_proxy, upstream, aws_access_key=KEY, aws_secret_key=SECRET)
    assert_restored(*sdk_call(client, stream))
    assert_upstream_clean(upstream, signed=True)
    # the anthropic SDK sends the model ID's ":" as it is
    assert MODEL in upstream.upstream.requests[0].path
    # credentials and signatures stay out of the log, even at debug verbosity
    signature = dict((k.lower(), v) for k, v in upstream.upstream.requests[0].headers)[
        "authorization"].rsplit("=", 1)[1]
    out = bedrock_proxy.output()
    assert "Found credentials" in out  # botocore's own line: the log was captured
    for secret in (KEY, SECRET, signature):
        assert secret not in out


@pytest.mark.parametrize("stream", [False, True], ids=["invoke", "stream"])
def test_anthropic_bedrock_api_key(bedrock_proxy, upstream, stream):
    client = bedrock_sdk(bedrock_proxy, upstream, api_key="bedrock-api-key-test")
    assert_restored(*sdk_call(client, stream))
    assert_upstream_clean(upstream, signed=False)
    headers = dict((k.lower(), v) for k, v in upstream.upstream.requests[0].headers)
    assert headers["authorization"] == "Bearer bedrock-api-key-test"


def test_boto3_invoke_model_stream_percent_encoded_model(bedrock_proxy, upstream):
    client = boto3_client(bedrock_proxy, upstream)
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": PROMPT}]}
    resp = client.invoke_model_with_response_stream(modelId=MODEL, body=json.dumps(body))
    events = [json.loads(e["chunk"]["bytes"]) for e in resp["body"]]
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] ==
                   "content_block_delta")
    args = "".join(e["delta"].get("partial_json", "") for e in events if e["type"] ==
                   "content_block_delta")
    assert_restored(text, json.loads(args))
    assert_upstream_clean(upstream, signed=True)
    assert MODEL.replace(":", "%3A") in upstream.upstream.requests[0].path  # boto3's spelling


def test_boto3_converse_stream(bedrock_proxy, upstream):
    client = boto3_client(bedrock_proxy, upstream)
    resp = client.converse_stream(
        modelId=MODEL, system=[{"text": f"The user owns {ORIGINALS[0]}."}],
        messages=[{"role": "user", "content": [{"text": PROMPT}]},
                  {"role": "assistant", "content": [{"toolUse": {
                      "toolUseId": "t1", "name": "bash", "input": {"id": ORIGINALS[1]}}}]},
                  {"role": "user", "content": [{"toolResult": {
                      "toolUseId": "t1", "content": [{"text": ORIGINALS[2]}]}}]}])
    text, args = "", ""
    for ev in resp["stream"]:
        delta = ev.get("contentBlockDelta", {}).get("delta", {})
        text += delta.get("text", "")
        args += delta.get("toolUse", {}).get("input", "")
    assert_restored(text, json.loads(args))
    assert_upstream_clean(upstream, signed=True)
    body = json.loads(upstream.upstream.requests[0].body)
    assert body["system"][0]["text"].startswith("The user owns AWS_EC2_")
    assert body["messages"][1]["content"][0]["toolUse"]["input"]["id"].startswith("AWS_VPC_")


def test_boto3_converse(bedrock_proxy, upstream):
    client = boto3_client(bedrock_proxy, upstream)
    resp = client.converse(modelId=MODEL,
                           messages=[{"role": "user", "content": [{"text": PROMPT}]}])
    content = resp["output"]["message"]["content"]
    assert_restored(content[0]["text"], content[1]["toolUse"]["input"])
    assert_upstream_clean(upstream, signed=True)


def test_refused_when_the_proxy_has_another_key(proxy_factory, tmp_path, upstream):
    proxy = proxy_factory("targets=127.0.0.1", "termlog_verbosity=debug",
                          env=aws_env(tmp_path, OTHER_KEY, OTHER_SECRET))
    client = boto3_client(proxy, upstream)
    with pytest.raises(ClientError) as e:
        client.converse(modelId=MODEL, messages=[{"role": "user", "content": [{"text": PROMPT}]}])
    err = e.value.response["Error"]
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert err["Code"] == "AccessDeniedException"
    assert "access key other than the proxy's own" in err["Message"]
    assert "AWS_PROFILE" in err["Message"]  # how to fix it
    assert upstream.upstream.requests == []
    out = proxy.output()
    for secret in (KEY, SECRET, OTHER_KEY, OTHER_SECRET):
        assert secret not in out and secret not in err["Message"]


def test_refused_without_proxy_credentials(proxy_factory, tmp_path, upstream):
    env = aws_env(tmp_path, "", "")
    proxy = proxy_factory("targets=127.0.0.1", env=env)
    client = bedrock_sdk(proxy, upstream, aws_access_key=KEY, aws_secret_key=SECRET)
    with pytest.raises(anthropic.PermissionDeniedError) as e:
        sdk_call(client, stream=False)
    assert "has no AWS credentials" in str(e.value)
    assert upstream.upstream.requests == []


def test_unsigned_client_reverse_mode_proxy_signs(proxy_factory, tmp_path, upstream):
    """CLAUDE_CODE_SKIP_BEDROCK_AUTH=1 with ANTHROPIC_BEDROCK_BASE_URL at the proxy in reverse
    mode: the client does not sign, the proxy signs once with its own credentials."""
    workdir = tmp_path / "reverse"
    workdir.mkdir()
    with Mitmdump(workdir, options=["targets=127.0.0.1"], env=aws_env(tmp_path),
                  args=["--mode", f"reverse:http://127.0.0.1:{upstream.port}"]) as proxy:
        post_unsigned(proxy, upstream)


def post_unsigned(proxy, upstream) -> None:
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": PROMPT}]}
    with httpx.Client(timeout=30) as c:
        r = c.post(f"{proxy.url}/model/{MODEL}/invoke-with-response-stream", json=body,
                   headers={"accept": "application/vnd.amazon.eventstream"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/vnd.amazon.eventstream"
    frames(r.content)  # botocore accepts every frame
    events = anthropic_events(r.content)
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] ==
                   "content_block_delta")
    args = "".join(e["delta"].get("partial_json", "") for e in events if e["type"] ==
                   "content_block_delta")
    assert_restored(text, json.loads(args))
    assert_upstream_clean(upstream, signed=True)


@pytest.mark.parametrize("stream", [False, True], ids=["rawPredict", "streamRawPredict"])
def test_anthropic_vertex(proxy, upstream, stream):
    client = anthropic.AnthropicVertex(
        region="us-east5", project_id="proj", access_token="ya29.test-token",
        base_url=f"http://127.0.0.1:{upstream.port}/v1", max_retries=0,
        http_client=anthropic.DefaultHttpxClient(proxy=proxy.url, timeout=30))
    assert_restored(*sdk_call(client, stream, model="claude-sonnet-4@20250514"))
    assert_upstream_clean(upstream, signed=False)
    path = upstream.upstream.requests[0].path
    assert path.endswith(":streamRawPredict" if stream else ":rawPredict")
    assert "/publishers/anthropic/models/claude-sonnet-4@20250514" in path


def test_bedrock_host_pattern(tmp_path, upstream):
    """The real Bedrock host name as the target pattern ``bedrock-runtime.*.amazonaws.com``
    (mitmdump sends to the stand-in as its upstream proxy): boto3 signs with its region; an
    unsigned request is signed by the proxy in the host's region, not AWS_REGION's."""
    workdir = tmp_path / "upstream-mode"
    workdir.mkdir()
    with Mitmdump(workdir, options=["targets=bedrock-runtime.*.amazonaws.com"],
                  env=aws_env(tmp_path),
                  args=["--mode", f"upstream:http://127.0.0.1:{upstream.port}"]) as proxy:
        client = boto3.client(
            "bedrock-runtime", region_name="eu-west-3",
            endpoint_url="http://bedrock-runtime.eu-west-3.amazonaws.com",
            aws_access_key_id=KEY, aws_secret_access_key=SECRET,
            config=Config(proxies={"http": proxy.url}, retries={"max_attempts": 1}))
        resp = client.converse(modelId=MODEL,
                               messages=[{"role": "user", "content": [{"text": PROMPT}]}])
        content = resp["output"]["message"]["content"]
        assert_restored(content[0]["text"], content[1]["toolUse"]["input"])
        body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
                "messages": [{"role": "user", "content": PROMPT}]}
        with httpx.Client(proxy=proxy.url, timeout=30) as c:
            r = c.post(f"http://bedrock-runtime.us-west-2.amazonaws.com/model/{MODEL}/invoke",
                       json=body)
        assert r.status_code == 200, r.text
        msg = r.json()
        assert_restored(msg["content"][0]["text"], msg["content"][1]["input"])
    assert_upstream_clean(upstream, signed=True)
    scopes = [dict((k.lower(), v) for k, v in r.headers)["authorization"].split("/")[2]
              for r in upstream.upstream.requests]
    assert scopes == ["eu-west-3", "us-west-2"]



def test_corrupt_frame_ends_the_restore_flagged(bedrock_proxy, upstream):
    """The frames before a corrupt one come back restored, it and the rest unchanged (tokens
    and all); the proxy flags the flow."""
    upstream.upstream.corrupt_frame = 40
    body = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
            "messages": [{"role": "user", "content": PROMPT}]}
    with httpx.Client(proxy=bedrock_proxy.url, timeout=30) as c:  # an API key: no signing
        r = c.post(f"http://127.0.0.1:{upstream.port}/model/{MODEL}/invoke-with-response-stream",
                   json=body, headers={"authorization": "Bearer bedrock-api-key-test"})
    assert r.status_code == 200
    raw = split_frames(r.content)
    (bad,) = [i for i, f in enumerate(raw) if zlib.crc32(f[:-4]) != int.from_bytes(f[-4:])]
    head = b"".join(raw[:bad])
    frames(head)  # botocore accepts every frame before it
    before = anthropic_events(head)
    after = [json.loads(base64.b64decode(json.loads(f[f.index(b'{"bytes"'):-4])["bytes"]))
             for f in raw[bad:]]
    # a token cut by the corrupt frame goes out as far as it came ("AWS_E"): not restorable
    assert TOKEN_RE.search(deltas(before)) is None and ORIGINALS[0] in deltas(before)
    assert TOKEN_RE.search(deltas(after))  # passed as the stand-in wrote it
    assert bedrock_proxy.wait_for("aws-masker: corrupt_frame")


def deltas(events: list[dict]) -> str:
    return "".join(e["delta"].get("text", e["delta"].get("partial_json", "")) for e in events
                   if e["type"] == "content_block_delta")


def split_frames(data: bytes) -> list[bytes]:
    """Frames by their prelude's total length, no CRC checked."""
    out, pos = [], 0
    while pos < len(data):
        total = int.from_bytes(data[pos : pos + 4])
        out.append(data[pos : pos + total])
        pos += total
    return out
