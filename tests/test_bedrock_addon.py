"""The addon's hooks on Bedrock flows (taddons/tflow): a SigV4 request masked and signed again,
refused with another key, no credentials in comments or events; an event-stream reply restored
with its content type kept."""

from __future__ import annotations

import base64
import json

import pytest
from awsmasker.restore.eventstream import CONTENT_TYPE
from mitmproxy import http

from tests.bedrock_upstream import verify_sigv4
from tests.eventstream_helpers import chunk_frame, frames
from tests.test_addon import anthropic_flow
from testsupport.samples import ORIGINALS, PROMPT

KEY, SECRET, TOKEN = "AKIDADDONTEST", "addon-test-secret", "addon-session-token"
PATH = "/model/anthropic.claude-3-5-sonnet-20241022-v2:0/converse"


@pytest.fixture
def aws(env, monkeypatch, tmp_path):
    """The proxy's AWS credentials (environment only) and the Bedrock host as a target."""
    tctx, _state, a = env
    tctx.configure(a["MaskerOptions"], targets=["bedrock-runtime.*.amazonaws.com"])
    for name, value in {"AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
                        "AWS_SESSION_TOKEN": TOKEN, "AWS_CONFIG_FILE": str(tmp_path / "none"),
                        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
                        "AWS_EC2_METADATA_DISABLED": "true"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def bedrock_flow(key: str = KEY):
    body = {"messages": [{"role": "user", "content": [{"text": PROMPT}]}]}
    auth = (f"AWS4-HMAC-SHA256 Credential={key}/20260101/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
            + "0" * 64)
    f = anthropic_flow(body, host="bedrock-runtime.us-east-1.amazonaws.com", path=PATH,
                       headers={"authorization": auth, "x-amz-date": "20260101T000000Z",
                                "x-amz-security-token": TOKEN,
                                "host": "bedrock-runtime.us-east-1.amazonaws.com"})
    return f


def recorded_events(state, monkeypatch) -> list:
    events: list = []
    monkeypatch.setattr(type(state), "events_enabled", property(lambda self: True))
    monkeypatch.setattr(state, "emit_flow_event",
                        lambda kind, flow, **fields: events.append((kind, fields)))
    return events


async def test_sigv4_request_is_masked_and_signed_again(env, aws, monkeypatch):
    _tctx, state, a = env
    events = recorded_events(state, monkeypatch)
    f = bedrock_flow()
    await a["RequestMasking"].request(f)
    assert f.response is None
    sent = f.request.get_text()
    for value in ORIGINALS:
        assert value not in sent
    ok, why = verify_sigv4("POST", PATH, list(f.request.headers.items(multi=True)),
                           f.request.raw_content, {KEY: SECRET})
    assert ok, why
    assert events and events[0][0] == "masked"
    telemetry = f.comment + json.dumps(events, default=str)
    for secret in (KEY, SECRET, TOKEN, f.request.headers["authorization"].rsplit("=", 1)[1]):
        assert secret not in telemetry


async def test_another_key_is_refused_in_bedrock_shape(env, aws, monkeypatch):
    _tctx, state, a = env
    events = recorded_events(state, monkeypatch)
    f = bedrock_flow("AKIDSOMEONEELSE")
    await a["RequestMasking"].request(f)
    assert f.response is not None and f.response.status_code == 403
    assert f.response.headers["x-amzn-errortype"] == "AccessDeniedException"
    assert "access key other than the proxy's own" in json.loads(f.response.content)["message"]
    assert f.comment == "blocked (signing_error)"
    telemetry = f.comment + json.dumps(events, default=str) + f.response.text
    for secret in (KEY, SECRET, TOKEN, "AKIDSOMEONEELSE"):
        assert secret not in telemetry


async def test_eventstream_reply_is_restored_and_keeps_its_content_type(env, aws):
    _tctx, state, a = env
    f = bedrock_flow()
    await a["RequestMasking"].request(f)
    token = next(t for t, v in state.flows.get(f).token_map.items() if v == ORIGINALS[0])
    reply = chunk_frame({"type": "content_block_delta", "index": 0,
                         "delta": {"type": "text_delta", "text": f"about {token} now"}})
    f.response = http.Response.make(200, b"", {"content-type": CONTENT_TYPE,
                                               "content-length": str(len(reply))})
    a["ResponseRestoring"].responseheaders(f)
    assert callable(f.response.stream)  # streamed, never buffered
    out = [f.response.stream(piece) for piece in (reply[:5], reply[5:], b"")]  # in a prelude
    body = b"".join(x if isinstance(x, bytes) else b"".join(x) for x in out)
    (m,) = frames(body)
    assert ORIGINALS[0].encode() not in m.payload  # base64 inside
    text = json.loads(base64.b64decode(json.loads(m.payload)["bytes"]))["delta"]["text"]
    assert text == f"about {ORIGINALS[0]} now"
    assert f.response.headers["content-type"] == CONTENT_TYPE
    a["ResponseRestoring"].response(f)
    assert "restored" in f.comment
