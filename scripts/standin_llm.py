"""A stand-in LLM API server for tests and benchmarks (loopback only).

It speaks just enough of the Anthropic Messages API and the OpenAI Chat Completions and
Responses APIs for the official SDKs: it records every request it receives and answers with a
reply that repeats every aws-masker token found in the request, as text and as a tool call, so a
test can check both directions. Streamed replies (SSE) are cut at seeded random points, so tokens
arrive split across writes and across events.

Run alone: ``python scripts/standin_llm.py --port 8080 [--first-byte-ms 300]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TOKEN_RE = re.compile(r"AWS_[A-Z][A-Z0-9]*(?:_[A-Z][A-Z0-9]*)*_[0-9]{3,9}(?![0-9])")


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class StandinConfig:
    seed: int = 1234
    first_byte_ms: int = 0
    #: pieces a streamed text is cut into per token (more = smaller deltas)
    max_piece: int = 5
    #: extra filler text repeated in replies (to make large replies)
    filler_repeat: int = 0
    #: answer with this exact body instead (content-type, bytes), when set
    canned: tuple[str, bytes] | None = None
    record_bodies: bool = True
    requests: list[Recorded] = field(default_factory=list)


def tokens_in(body: bytes) -> list[str]:
    seen: dict[str, None] = {}
    for m in TOKEN_RE.finditer(body.decode("utf-8", "replace")):
        seen.setdefault(m.group(0))
    return list(seen)


def reply_text(tokens: list[str], cfg: StandinConfig) -> str:
    filler = "The quick brown fox jumps over the lazy dog. " * cfg.filler_repeat
    return filler + "Found: " + ", ".join(tokens) + ". Done."


def tool_input(tokens: list[str]) -> dict:
    return {"command": "aws ec2 describe-instances --ids " + " ".join(tokens), "ids": tokens}


def cut(text: str, rng: random.Random, max_piece: int) -> list[str]:
    pieces, i = [], 0
    while i < len(text):
        n = rng.randint(1, max_piece)
        pieces.append(text[i : i + n])
        i += n
    return pieces


def sse(event: str | None, data: dict | str) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data)
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def anthropic_stream(tokens: list[str], rng: random.Random, cfg: StandinConfig) -> Iterator[bytes]:
    msg = {"id": "msg_standin", "type": "message", "role": "assistant", "model": "standin",
           "content": [], "stop_reason": None, "stop_sequence": None,
           "usage": {"input_tokens": 10, "output_tokens": 1}}
    yield sse("message_start", {"type": "message_start", "message": msg})
    yield sse("content_block_start", {"type": "content_block_start", "index": 0,
                                      "content_block": {"type": "text", "text": ""}})
    for piece in cut(reply_text(tokens, cfg), rng, cfg.max_piece):
        yield sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                          "delta": {"type": "text_delta", "text": piece}})
    yield sse("content_block_stop", {"type": "content_block_stop", "index": 0})
    yield sse("content_block_start", {"type": "content_block_start", "index": 1,
              "content_block": {"type": "tool_use", "id": "toolu_standin", "name": "bash",
                                "input": {}}})
    for piece in cut(json.dumps(tool_input(tokens)), rng, cfg.max_piece):
        yield sse("content_block_delta", {"type": "content_block_delta", "index": 1,
                                          "delta": {"type": "input_json_delta",
                                                    "partial_json": piece}})
    yield sse("content_block_stop", {"type": "content_block_stop", "index": 1})
    yield sse("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                "usage": {"output_tokens": 20}})
    yield sse("message_stop", {"type": "message_stop"})


def anthropic_message(tokens: list[str], cfg: StandinConfig) -> dict:
    return {"id": "msg_standin", "type": "message", "role": "assistant", "model": "standin",
            "content": [{"type": "text", "text": reply_text(tokens, cfg)},
                        {"type": "tool_use", "id": "toolu_standin", "name": "bash",
                         "input": tool_input(tokens)}],
            "stop_reason": "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 20}}


def chat_stream(tokens: list[str], rng: random.Random, cfg: StandinConfig) -> Iterator[bytes]:
    base = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0,
            "model": "standin"}
    yield sse(None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                  "content": ""},
                                          "finish_reason": None}]})
    for piece in cut(reply_text(tokens, cfg), rng, cfg.max_piece):
        yield sse(None, {**base, "choices": [{"index": 0, "delta": {"content": piece},
                                              "finish_reason": None}]})
    yield sse(None, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_standin", "type": "function",
         "function": {"name": "bash", "arguments": ""}}]}, "finish_reason": None}]})
    for piece in cut(json.dumps(tool_input(tokens)), rng, cfg.max_piece):
        yield sse(None, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "function": {"arguments": piece}}]}, "finish_reason": None}]})
    yield sse(None, {**base, "choices": [{"index": 0, "delta": {},
                                          "finish_reason": "tool_calls"}]})
    yield sse(None, "[DONE]")


def chat_completion(tokens: list[str], cfg: StandinConfig) -> dict:
    return {"id": "chatcmpl-standin", "object": "chat.completion", "created": 0,
            "model": "standin",
            "choices": [{"index": 0, "finish_reason": "tool_calls",
                         "message": {"role": "assistant", "content": reply_text(tokens, cfg),
                                     "tool_calls": [{"id": "call_standin", "type": "function",
                                                     "function": {"name": "bash",
                                                                  "arguments": json.dumps(
                                                                      tool_input(tokens))}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}


def responses_stream(tokens: list[str], rng: random.Random, cfg: StandinConfig) -> Iterator[bytes]:
    text = reply_text(tokens, cfg)
    args = json.dumps(tool_input(tokens))
    seq = iter(range(1_000_000))
    resp = {"id": "resp_standin", "object": "response", "created_at": 0, "model": "standin",
            "status": "in_progress", "output": [], "parallel_tool_calls": True,
            "tool_choice": "auto", "tools": []}
    yield sse("response.created", {"type": "response.created", "sequence_number": next(seq),
                                   "response": resp})
    msg_item = {"id": "msg_standin", "type": "message", "role": "assistant",
                "status": "in_progress", "content": []}
    yield sse("response.output_item.added", {"type": "response.output_item.added",
              "sequence_number": next(seq), "output_index": 0, "item": msg_item})
    yield sse("response.content_part.added", {"type": "response.content_part.added",
              "sequence_number": next(seq), "item_id": "msg_standin", "output_index": 0,
              "content_index": 0, "part": {"type": "output_text", "text": "",
                                           "annotations": []}})
    for piece in cut(text, rng, cfg.max_piece):
        yield sse("response.output_text.delta", {"type": "response.output_text.delta",
                  "sequence_number": next(seq), "item_id": "msg_standin", "output_index": 0,
                  "content_index": 0, "delta": piece, "logprobs": []})
    yield sse("response.output_text.done", {"type": "response.output_text.done",
              "sequence_number": next(seq), "item_id": "msg_standin", "output_index": 0,
              "content_index": 0, "text": text, "logprobs": []})
    part = {"type": "output_text", "text": text, "annotations": []}
    yield sse("response.content_part.done", {"type": "response.content_part.done",
              "sequence_number": next(seq), "item_id": "msg_standin", "output_index": 0,
              "content_index": 0, "part": part})
    done_msg = {**msg_item, "status": "completed", "content": [part]}
    yield sse("response.output_item.done", {"type": "response.output_item.done",
              "sequence_number": next(seq), "output_index": 0, "item": done_msg})
    fc = {"id": "fc_standin", "type": "function_call", "call_id": "call_standin",
          "name": "bash", "arguments": "", "status": "in_progress"}
    yield sse("response.output_item.added", {"type": "response.output_item.added",
              "sequence_number": next(seq), "output_index": 1, "item": fc})
    for piece in cut(args, rng, cfg.max_piece):
        yield sse("response.function_call_arguments.delta", {
            "type": "response.function_call_arguments.delta", "sequence_number": next(seq),
            "item_id": "fc_standin", "output_index": 1, "delta": piece})
    yield sse("response.function_call_arguments.done", {
        "type": "response.function_call_arguments.done", "sequence_number": next(seq),
        "item_id": "fc_standin", "output_index": 1, "arguments": args})
    fc_done = {**fc, "arguments": args, "status": "completed"}
    yield sse("response.output_item.done", {"type": "response.output_item.done",
              "sequence_number": next(seq), "output_index": 1, "item": fc_done})
    yield sse("response.completed", {"type": "response.completed", "sequence_number": next(seq),
              "response": {**resp, "status": "completed", "output": [done_msg, fc_done],
                           "usage": {"input_tokens": 10, "output_tokens": 20,
                                     "total_tokens": 30,
                                     "input_tokens_details": {"cached_tokens": 0},
                                     "output_tokens_details": {"reasoning_tokens": 0}}}})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # small writes on kept-alive connections must not wait 40 ms
    server: StandinServer

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        body = self._read_body()
        cfg = self.server.cfg
        if cfg.record_bodies:
            cfg.requests.append(Recorded("POST", self.path, dict(self.headers.items()), body))
        if cfg.first_byte_ms:
            time.sleep(cfg.first_byte_ms / 1000)
        if cfg.canned is not None:
            self._send(200, cfg.canned[0], cfg.canned[1])
            return
        if self.headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            req = {}
        tokens = tokens_in(body)
        rng = random.Random(f"{cfg.seed}:{len(cfg.requests)}")
        path = self.path.split("?", 1)[0]
        stream = bool(req.get("stream"))
        if path.endswith("/messages/count_tokens"):
            self._json({"input_tokens": len(body) // 4})
        elif path.endswith("/messages"):
            if stream:
                self._stream(anthropic_stream(tokens, rng, cfg), rng)
            else:
                self._json(anthropic_message(tokens, cfg))
        elif path.endswith("/chat/completions"):
            if stream:
                self._stream(chat_stream(tokens, rng, cfg), rng)
            else:
                self._json(chat_completion(tokens, cfg))
        elif path.endswith("/responses") and stream:
            self._stream(responses_stream(tokens, rng, cfg), rng)
        else:
            self._send(200, "text/plain; charset=utf-8", reply_text(tokens, cfg).encode())

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()  # the CRLF after each chunk
        length = int(self.headers.get("content-length", "0"))
        return self.rfile.read(length) if length else b""

    def _json(self, obj: dict) -> None:
        self._send(200, "application/json", json.dumps(obj).encode())

    def _send(self, status: int, ctype: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: Iterator[bytes], rng: random.Random) -> None:
        """SSE as chunked transfer-encoding, re-cut at random byte offsets across events."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        pending = b""
        for ev in events:
            pending += ev
            while len(pending) > 64:
                n = rng.randint(1, len(pending))
                self._chunk(pending[:n])
                pending = pending[n:]
        if pending:
            self._chunk(pending)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


class StandinServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, cfg: StandinConfig, port: int = 0) -> None:
        self.cfg = cfg
        super().__init__(("127.0.0.1", port), Handler)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> StandinServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self


def self_signed_localhost(directory: Path) -> tuple[Path, Path]:
    """A one-day self-signed certificate for ``localhost`` and 127.0.0.1, written to ``directory``:
    (cert, key) PEM paths. For serving the stand-in over TLS (tests and benchmarks)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(san, critical=False).sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "standin-cert.pem", directory / "standin-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--first-byte-ms", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    cfg = StandinConfig(seed=args.seed, first_byte_ms=args.first_byte_ms, record_bodies=False)
    srv = StandinServer(cfg, args.port)
    print(f"stand-in LLM API on http://127.0.0.1:{srv.port}", flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
