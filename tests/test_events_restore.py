"""``restored`` events list every token they count, and only those (issue 19): a buffered JSON
reply, an SSE stream cut at every byte, a WebSocket message. Driven through the addon's hooks."""

from __future__ import annotations

import json

from awsmasker.tokens import TOKEN_RE
from mitmproxy.test import tflow, tutils
from mitmproxy.websocket import WebSocketMessage
from wsproto.frame_protocol import Opcode

from testsupport.samples import PROMPT


class Recorder:
    """Stands in for the event publisher: every event is kept, none is sampled out."""

    enabled = True

    def __init__(self) -> None:
        self.events: list[dict] = []

    def sampled(self, flow_id: str) -> bool:
        return True

    def publish(self, event: dict) -> None:
        self.events.append(event)

    def configure(self, settings: object) -> None:
        pass


def recording(state) -> Recorder:
    state.publisher = Recorder()
    return state.publisher


def anthropic_flow() -> tflow.HTTPFlow:
    body = json.dumps({"model": "m", "max_tokens": 5,
                       "messages": [{"role": "user", "content": PROMPT}]}).encode()
    req = tutils.treq(host="api.anthropic.com", port=443, scheme=b"https", path=b"/v1/messages",
                      method=b"POST", content=body)
    req.headers["content-type"] = "application/json"
    return tflow.tflow(req=req)


async def masked(state, a) -> tuple[tflow.HTTPFlow, dict[str, str]]:
    """A flow whose request was masked, and value → token for it."""
    f = anthropic_flow()
    await a["RequestMasking"].request(f)
    token_map = state.flows.get(f).token_map
    return f, {v: t for t, v in token_map.items()}


def type_of(token: str) -> str:
    m = TOKEN_RE.fullmatch(token)
    assert m is not None
    return m.group("type")


def counts_of(tokens: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in tokens:
        out[type_of(t)] = out.get(type_of(t), 0) + 1
    return out


def the_restored_event(rec: Recorder, flow: tflow.HTTPFlow) -> dict:
    (event,) = [e for e in rec.events if e["event_type"] == "restored"
                and e["flow_id"] == flow.id]
    return event


async def test_buffered_json_reply_event_lists_the_tokens_restored(env):
    _, state, a = env
    rec = recording(state)
    f, tok = await masked(state, a)
    ec2, vpc = tok["i-0a1b2c3d4e5f67890"], tok["vpc-0123abcd"]
    body = json.dumps({"content": [
        {"type": "thinking", "thinking": f"about {tok['ami-0abcdef1234567890']}",
         "signature": "s"},  # thinking is never restored: its token is not listed
        {"type": "text", "text": f"{ec2} in {vpc}; again {ec2}; AWS_EC2_999 is unknown"}]})
    f.response = tutils.tresp(content=b"")
    f.response.headers["content-type"] = "application/json"
    f.response.headers["content-length"] = str(len(body))
    a["ResponseRestoring"].responseheaders(f)
    assert not f.response.stream  # buffered: restored whole in ``response``
    f.response.set_content(body.encode())
    a["ResponseRestoring"].response(f)
    assert "i-0a1b2c3d4e5f67890 in vpc-0123abcd" in f.response.text
    event = the_restored_event(rec, f)
    assert event["tokens"] == sorted([ec2, vpc])
    assert event["counts"] == counts_of([ec2, ec2, vpc])
    assert "i-0a1b2c3d4e5f67890" not in json.dumps(event)


def sse(events: list[dict]) -> bytes:
    return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


def sse_reply(tok: dict[str, str]) -> tuple[bytes, list[str]]:
    """A reply that restores a token cut across two deltas, one in tool input twice and one in
    a text block's start; a thinking block's token and an unknown one stay. With the tokens it
    restores, once per restoration."""
    ec2, vpc, sg = tok["i-0a1b2c3d4e5f67890"], tok["vpc-0123abcd"], tok["sg-0badc0ffee1234567"]
    ami = tok["ami-0abcdef1234567890"]
    text = [f"see {ec2[:7]}", f"{ec2[7:]} and AWS_EC2_999"]
    args = json.dumps({"a": vpc, "b": [vpc]})
    reply = sse([
        {"type": "content_block_start", "index": 0, "content_block": {"type": "thinking",
                                                                      "thinking": ""}},
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "thinking_delta", "thinking": f"hm {ami}"}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {"type": "text",
                                                                      "text": f"{sg}: "}},
        *({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": t}}
          for t in text),
        {"type": "content_block_stop", "index": 1},
        {"type": "content_block_start", "index": 2,
         "content_block": {"type": "tool_use", "id": "t", "name": "x", "input": {}}},
        {"type": "content_block_delta", "index": 2,
         "delta": {"type": "input_json_delta", "partial_json": args[:9]}},
        {"type": "content_block_delta", "index": 2,
         "delta": {"type": "input_json_delta", "partial_json": args[9:]}},
        {"type": "content_block_stop", "index": 2},
        {"type": "message_stop"},
    ])
    return reply, [sg, ec2, vpc, vpc]


def stream_through(a, f: tflow.HTTPFlow, pieces: list[bytes]) -> bytes:
    f.response = tutils.tresp(content=b"")
    f.response.headers["content-type"] = "text/event-stream"
    a["ResponseRestoring"].responseheaders(f)
    assert callable(f.response.stream)
    out = []
    for p in [*pieces, b""]:
        got = f.response.stream(p)
        out.append(got if isinstance(got, bytes) else b"".join(got))
    a["ResponseRestoring"].response(f)
    return b"".join(out)


async def test_sse_event_lists_the_tokens_restored_at_every_split_point(env):
    _, state, a = env
    rec = recording(state)
    f, tok = await masked(state, a)
    reply, restored = sse_reply(tok)
    expected = stream_through(a, f, [reply])
    assert b"i-0a1b2c3d4e5f67890 and AWS_EC2_999" in expected
    assert tok["ami-0abcdef1234567890"].encode() in expected  # thinking: as the model wrote it
    cuts = [[reply[:k], reply[k:]] for k in range(1, len(reply))]  # b"" would end the stream
    cuts.append([reply[i:i + 1] for i in range(len(reply))])
    for pieces in cuts:
        f, _ = await masked(state, a)
        assert stream_through(a, f, pieces) == expected
        event = the_restored_event(rec, f)
        assert event["tokens"] == sorted(set(restored)), len(pieces[0])
        assert event["counts"] == counts_of(restored)


async def test_websocket_message_event_lists_the_tokens_restored(env):
    _, state, a = env
    rec = recording(state)
    # Another flow's tokens: the store gives a value the same token everywhere, but only the
    # connection's own are restored in its messages.
    _, other_tok = await masked(state, a)
    f = tflow.twebsocketflow(messages=False)
    f.request.host = "api.anthropic.com"
    msgs = f.websocket.messages
    msgs.append(WebSocketMessage(Opcode.TEXT, True, b"on i-0a1b2c3d4e5f67890 in vpc-0123abcd"))
    await a["RequestMasking"].websocket_message(f)
    sent = msgs[-1].text
    ec2, vpc = [m.group() for m in TOKEN_RE.finditer(sent)]
    assert {ec2, vpc} == {other_tok["i-0a1b2c3d4e5f67890"], other_tok["vpc-0123abcd"]}
    other_token = other_tok["sg-0badc0ffee1234567"]
    reply = json.dumps({"echo": f"{vpc} {ec2} {vpc} {other_token} AWS_VPC_999"})
    msgs.append(WebSocketMessage(Opcode.TEXT, False, reply.encode()))
    await a["RequestMasking"].websocket_message(f)
    assert json.loads(msgs[-1].content)["echo"] == (
        f"vpc-0123abcd i-0a1b2c3d4e5f67890 vpc-0123abcd {other_token} AWS_VPC_999")
    event = the_restored_event(rec, f)
    assert event["tokens"] == sorted([ec2, vpc])
    assert event["counts"] == counts_of([vpc, ec2, vpc])
    assert event["wire_format"] == "websocket"
    # a server message with nothing to restore makes no event
    msgs.append(WebSocketMessage(Opcode.TEXT, False, b"no tokens AWS_EC2_999"))
    await a["RequestMasking"].websocket_message(f)
    assert len([e for e in rec.events if e["flow_id"] == f.id]) == 1
