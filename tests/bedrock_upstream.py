"""A loopback stand-in for Amazon Bedrock Runtime and Google Vertex AI (Anthropic models).

It verifies every SigV4 signature it receives by computing it again with botocore from the
request as it arrived (the path as sent, the signed headers, the body) and the secret of the
access key named in it, as the service does. Replies echo the tokens found in the request, so a
client that gets the originals back shows that the proxy restored them:

* ``/model/{id}/invoke`` (JSON) and ``/invoke-with-response-stream`` (event-stream ``chunk``
  frames, each an Anthropic event in base64);
* ``/model/{id}/converse`` (JSON) and ``/converse-stream`` (ConverseStream frames);
* Vertex ``…/publishers/anthropic/models/{model}:rawPredict`` / ``:streamRawPredict`` (Anthropic
  JSON / SSE).

Streamed replies are written in many TCP writes cut at random points, some of them inside a
frame's 12-byte prelude.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.eventstream_helpers import chunk_frame, event_frame
from tests.restore_helpers import parse_sse
from testsupport.standin import (
    StandinConfig,
    anthropic_message,
    anthropic_stream,
    reply_text,
    tokens_in,
    tool_input,
)

_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                   r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$")
_MODEL = re.compile(r"^/model/([^/]+)/(invoke|invoke-with-response-stream|converse|"
                    r"converse-stream)$")
_VERTEX = re.compile(r"^/v1/projects/[^/]+/locations/[^/]+/publishers/anthropic/models/"
                     r"([^/:]+):(rawPredict|streamRawPredict)$")


@dataclass
class Received:
    path: str
    headers: list[tuple[str, str]]
    body: bytes
    signed: bool  # carried a SigV4 Authorization
    verified: bool  # ... and it is right
    why: str = ""


@dataclass
class Upstream:
    secrets: dict[str, str]  # access key ID → secret key
    requests: list[Received] = field(default_factory=list)
    seed: int = 7
    tools: bool = True  # replies end with a tool_use block (False: text only, end_turn)
    corrupt_frame: int | None = None  # flip a bit of this streamed frame's message CRC


def verify_sigv4(method: str, path: str, headers: list[tuple[str, str]], body: bytes,
                 secrets: dict[str, str]) -> tuple[bool, str]:
    """Whether the request's SigV4 signature is the one AWS would compute; why not."""
    h: dict[str, list[str]] = {}
    for k, v in headers:
        h.setdefault(k.lower(), []).append(v)
    auth = h.get("authorization", [""])
    m = _AUTH.match(auth[0]) if len(auth) == 1 else None
    if m is None:
        return False, "no SigV4 Authorization"
    key, day, region, service, signed, signature = m.groups()
    if key not in secrets:
        return False, "unknown access key"
    amz_date = h.get("x-amz-date", [""])[0]
    if amz_date[:8] != day:
        return False, "date does not match the scope"
    names = signed.split(";")
    if "host" not in names:
        return False, "host not signed"
    if "x-amz-content-sha256" in h and h["x-amz-content-sha256"][0] != \
            hashlib.sha256(body).hexdigest():
        return False, "x-amz-content-sha256 is not the body's"
    fields = {n: ",".join(v.strip() for v in h.get(n, [])) for n in names}
    req = AWSRequest(method=method, url=f"http://{fields['host']}{path}", data=body,
                     headers=fields)
    req.context["timestamp"] = amz_date
    token = h.get("x-amz-security-token", [None])[0]
    signer = SigV4Auth(Credentials(key, secrets[key], token), service, region)
    canonical = signer.canonical_request(req)
    expected = signer.signature(signer.string_to_sign(req, canonical), req)
    return (expected == signature), ("" if expected == signature else "signature mismatch")


def cut_points(frames: list[bytes], rng: random.Random) -> list[bytes]:
    """The frames' bytes as TCP writes: cut inside some preludes and at random elsewhere."""
    data = b"".join(frames)
    cuts, pos = set(), 0
    for f in frames:
        cuts.add(pos + rng.randint(1, 11))  # inside the 12-byte prelude
        cuts.add(pos + rng.randint(1, len(f)))
        pos += len(f)
    points = sorted(c for c in cuts if 0 < c < len(data))
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def model_events(tokens: list[str], rng: random.Random, tools: bool = True) -> list[dict]:
    """The stand-in's Anthropic stream events; without ``tools``, text only (end_turn)."""
    cfg = StandinConfig(max_piece=4)
    events = [ev for _, ev in parse_sse(b"".join(anthropic_stream(tokens, rng, cfg)))]
    if not tools:
        events = [ev for ev in events if ev.get("index") != 1]
        for ev in events:
            if ev.get("type") == "message_delta":
                ev["delta"]["stop_reason"] = "end_turn"
    return events


def invoke_frames(tokens: list[str], rng: random.Random, tools: bool = True) -> list[bytes]:
    events = model_events(tokens, rng, tools)
    for ev in events:
        if ev.get("type") == "message_stop":
            ev["amazon-bedrock-invocationMetrics"] = {"inputTokenCount": 10,
                                                      "outputTokenCount": 20}
    return [chunk_frame(ev, pad="abcdefghij"[: rng.randint(1, 10)]) for ev in events]


def converse_frames(tokens: list[str], rng: random.Random) -> list[bytes]:
    def pieces(text: str) -> list[str]:
        out, i = [], 0
        while i < len(text):
            n = rng.randint(1, 4)
            out.append(text[i : i + n])
            i += n
        return out

    out = [event_frame("messageStart", {"role": "assistant", "p": "ab"})]
    for piece in pieces(reply_text(tokens, StandinConfig())):
        out.append(event_frame("contentBlockDelta", {"contentBlockIndex": 0,
                                                     "delta": {"text": piece}, "p": "abc"}))
    out.append(event_frame("contentBlockStop", {"contentBlockIndex": 0}))
    out.append(event_frame("contentBlockStart", {"contentBlockIndex": 1, "start": {
        "toolUse": {"toolUseId": "tooluse_standin", "name": "bash"}}}))
    for piece in pieces(json.dumps(tool_input(tokens))):
        out.append(event_frame("contentBlockDelta", {"contentBlockIndex": 1,
                                                     "delta": {"toolUse": {"input": piece}}}))
    out.append(event_frame("contentBlockStop", {"contentBlockIndex": 1}))
    out.append(event_frame("messageStop", {"stopReason": "tool_use"}))
    out.append(event_frame("metadata", {"usage": {"inputTokens": 10, "outputTokens": 20,
                                                  "totalTokens": 30},
                                        "metrics": {"latencyMs": 5}}))
    return out


def converse_message(tokens: list[str]) -> dict:
    return {"output": {"message": {"role": "assistant", "content": [
                {"text": reply_text(tokens, StandinConfig())},
                {"toolUse": {"toolUseId": "tooluse_standin", "name": "bash",
                             "input": tool_input(tokens)}}]}},
            "stopReason": "tool_use",
            "usage": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30},
            "metrics": {"latencyMs": 5}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # each write its own TCP segment
    server: UpstreamServer

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        up = self.server.upstream
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("http://"):  # absolute form: we are the proxy's upstream proxy
            self.path = "/" + self.path.split("/", 3)[3]
        headers = list(self.headers.items())
        signed = any(k.lower() == "authorization" and v.startswith("AWS4-") for k, v in headers)
        ok, why = verify_sigv4("POST", self.path, headers, body, up.secrets) if signed else \
            (False, "unsigned")
        up.requests.append(Received(self.path, headers, body, signed, ok, why))
        if signed and not ok:
            self._send(403, "application/json", json.dumps({"message": why}).encode(),
                       [("x-amzn-errortype", "InvalidSignatureException")])
            return
        tokens = tokens_in(body)
        rng = random.Random(f"{up.seed}:{len(up.requests)}")
        path = self.path.split("?", 1)[0]
        if m := _MODEL.match(path):
            op = m.group(2)
            if op == "invoke":
                self._json(anthropic_message(tokens, StandinConfig()))
            elif op == "converse":
                self._json(converse_message(tokens))
            else:
                if op == "invoke-with-response-stream":
                    frames = invoke_frames(tokens, rng, up.tools)
                else:
                    frames = converse_frames(tokens, rng)
                if up.corrupt_frame is not None:
                    bad = bytearray(frames[up.corrupt_frame])
                    bad[-1] ^= 0x01
                    frames[up.corrupt_frame] = bytes(bad)
                self._frames(frames, rng)
        elif m := _VERTEX.match(path):
            if m.group(2) == "rawPredict":
                self._json(anthropic_message(tokens, StandinConfig()))
            else:
                events = [f"event: {ev['type']}\ndata: {json.dumps(ev)}\n\n".encode()
                          for ev in model_events(tokens, rng, up.tools)]
                self._chunked("text/event-stream", cut_points(events, rng))
        else:
            self._send(404, "application/json", b'{"message":"not found"}')

    def _json(self, obj: dict) -> None:
        self._send(200, "application/json", json.dumps(obj).encode())

    def _send(self, status: int, ctype: str, data: bytes,
              extra: list[tuple[str, str]] = ()) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _frames(self, frames: list[bytes], rng: random.Random) -> None:
        self._chunked("application/vnd.amazon.eventstream", cut_points(frames, rng),
                      [("x-amzn-bedrock-content-type", "application/json")])

    def _chunked(self, ctype: str, writes: list[bytes],
                 extra: list[tuple[str, str]] = ()) -> None:
        self.send_response(200)
        self.send_header("content-type", ctype)
        for k, v in extra:
            self.send_header(k, v)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for w in writes:
            self.wfile.write(f"{len(w):x}\r\n".encode() + w + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class UpstreamServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, upstream: Upstream) -> None:
        self.upstream = upstream
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def close(self) -> None:
        self.shutdown()
        self.server_close()
