"""A stand-in LLM API server (loopback only): for the tests, the benchmarks and
``scripts/standin_llm.py``, which lets a user try the proxy without an API key.

It speaks just enough of the Anthropic Messages API and the OpenAI Chat Completions and
Responses APIs for the official SDKs and Claude Code. Its answer repeats every aws-masker token
found in the request, as text and as a ``Bash`` tool call, so a test can check both directions.
With ``tool_call="when-asked"`` (the command's mode) the tool call comes only when the latest
user prompt names Bash, and a turn that carries a tool result gets text only, so an agent's
loop ends. Streamed replies (SSE) are cut at seeded random points, so tokens arrive split across
writes and across events.
"""

from __future__ import annotations

import gzip
import itertools
import json
import random
import re
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

#: the tool the replies call: Claude Code's shell tool
TOOL = "Bash"
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
    #: "always": every reply has a tool call; "when-asked": only when the prompt names Bash
    tool_call: str = "always"
    #: each request is also appended to this file as a JSON line (method, path, headers, body)
    record_file: Path | None = None


def tokens_in(body: bytes) -> list[str]:
    seen: dict[str, None] = {}
    for m in TOKEN_RE.finditer(body.decode("utf-8", "replace")):
        seen.setdefault(m.group(0))
    return list(seen)


def reply_parts(body: bytes) -> tuple[str, dict]:
    """The text and the tool input of an Anthropic Messages reply, JSON or SSE (its deltas
    joined)."""
    if body.lstrip()[:1] == b"{":
        blocks = json.loads(body)["content"]
        return ("".join(b["text"] for b in blocks if b["type"] == "text"),
                next((b["input"] for b in blocks if b["type"] == "tool_use"), {}))
    text, tool = [], []
    for line in body.decode().splitlines():
        if line.startswith("data:"):
            delta = json.loads(line[5:]).get("delta", {})
            text.append(delta.get("text", ""))
            tool.append(delta.get("partial_json", ""))
    return "".join(text), json.loads("".join(tool) or "{}")


def reply_text(tokens: list[str], cfg: StandinConfig) -> str:
    filler = "The quick brown fox jumps over the lazy dog. " * cfg.filler_repeat
    return filler + "Found: " + ", ".join(tokens) + ". Done."


def tool_input(tokens: list[str]) -> dict:
    return {"command": "aws ec2 describe-instances --ids " + " ".join(tokens), "ids": tokens}


def bash_input(tokens: list[str]) -> dict:
    """Input for Claude Code's Bash tool (its schema: ``command``, ``description``): print the
    identifiers, which the proxy has put back by the time the tool runs."""
    words = " ".join(f"'{t}'" for t in tokens) or "'(no identifiers)'"
    return {"command": f"echo {words}", "description": "Print the identifiers"}


_REMINDER = re.compile(r"<system-reminder>.*?</system-reminder>", re.S)
_ASKS = re.compile(r"\bbash\b", re.I)


def asks_for_tool(req: dict) -> bool:
    """True when the latest user turn is a prompt (not a tool result) that names Bash.

    Claude Code adds ``<system-reminder>`` blocks to the user turn; they are not the prompt."""
    turns = req.get("messages") or req.get("input") or []
    if isinstance(turns, str):
        return bool(_ASKS.search(turns))
    # Claude Code may end the list with a system-role message: not a turn of the conversation
    said = [t for t in turns
            if isinstance(t, dict) and t.get("role") not in ("system", "developer")]
    last = said[-1] if said else {}
    if last.get("role") != "user":
        return False
    content = last.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    if any(isinstance(b, dict) and b.get("type") in ("tool_result", "function_call_output")
           for b in blocks):
        return False
    text = " ".join(b.get("text", "") for b in blocks if isinstance(b, dict))
    return bool(_ASKS.search(_REMINDER.sub("", text)))


#: the reply functions' default ``tool``: a tool call whose input lists every token
ALL_TOKENS: dict = {}


def tool_for(tokens: list[str], tool: dict | None) -> dict | None:
    return tool_input(tokens) if tool is ALL_TOKENS else tool


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


def anthropic_stream(tokens: list[str], rng: random.Random, cfg: StandinConfig,
                     tool: dict | None = ALL_TOKENS) -> Iterator[bytes]:
    """The reply as SSE; ``tool``: the tool call's input (None: text only)."""
    tool = tool_for(tokens, tool)
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
    if tool is not None:
        yield sse("content_block_start", {"type": "content_block_start", "index": 1,
                  "content_block": {"type": "tool_use", "id": "toolu_standin", "name": TOOL,
                                    "input": {}}})
        for piece in cut(json.dumps(tool), rng, cfg.max_piece):
            yield sse("content_block_delta", {"type": "content_block_delta", "index": 1,
                                              "delta": {"type": "input_json_delta",
                                                        "partial_json": piece}})
        yield sse("content_block_stop", {"type": "content_block_stop", "index": 1})
    stop = "end_turn" if tool is None else "tool_use"
    yield sse("message_delta", {"type": "message_delta",
                                "delta": {"stop_reason": stop, "stop_sequence": None},
                                "usage": {"output_tokens": 20}})
    yield sse("message_stop", {"type": "message_stop"})


def anthropic_message(tokens: list[str], cfg: StandinConfig,
                      tool: dict | None = ALL_TOKENS) -> dict:
    tool = tool_for(tokens, tool)
    calls = [] if tool is None else [{"type": "tool_use", "id": "toolu_standin", "name": TOOL,
                                      "input": tool}]
    return {"id": "msg_standin", "type": "message", "role": "assistant", "model": "standin",
            "content": [{"type": "text", "text": reply_text(tokens, cfg)}, *calls],
            "stop_reason": "end_turn" if tool is None else "tool_use", "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 20}}


def chat_stream(tokens: list[str], rng: random.Random, cfg: StandinConfig,
                tool: dict | None = ALL_TOKENS) -> Iterator[bytes]:
    tool = tool_for(tokens, tool)
    base = {"id": "chatcmpl-standin", "object": "chat.completion.chunk", "created": 0,
            "model": "standin"}
    yield sse(None, {**base, "choices": [{"index": 0, "delta": {"role": "assistant",
                                                                  "content": ""},
                                          "finish_reason": None}]})
    for piece in cut(reply_text(tokens, cfg), rng, cfg.max_piece):
        yield sse(None, {**base, "choices": [{"index": 0, "delta": {"content": piece},
                                              "finish_reason": None}]})
    if tool is not None:
        yield sse(None, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
            {"index": 0, "id": "call_standin", "type": "function",
             "function": {"name": TOOL, "arguments": ""}}]}, "finish_reason": None}]})
        for piece in cut(json.dumps(tool), rng, cfg.max_piece):
            yield sse(None, {**base, "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": piece}}]}, "finish_reason": None}]})
    finish = "stop" if tool is None else "tool_calls"
    yield sse(None, {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    yield sse(None, "[DONE]")


def chat_completion(tokens: list[str], cfg: StandinConfig,
                    tool: dict | None = ALL_TOKENS) -> dict:
    tool = tool_for(tokens, tool)
    message = {"role": "assistant", "content": reply_text(tokens, cfg)}
    if tool is not None:
        message["tool_calls"] = [{"id": "call_standin", "type": "function",
                                  "function": {"name": TOOL, "arguments": json.dumps(tool)}}]
    return {"id": "chatcmpl-standin", "object": "chat.completion", "created": 0,
            "model": "standin",
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "stop" if tool is None else "tool_calls"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}}


def responses_stream(tokens: list[str], rng: random.Random, cfg: StandinConfig,
                     tool: dict | None = ALL_TOKENS) -> Iterator[bytes]:
    tool = tool_for(tokens, tool)
    text = reply_text(tokens, cfg)
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
    output = [done_msg]
    if tool is not None:
        args = json.dumps(tool)
        fc = {"id": "fc_standin", "type": "function_call", "call_id": "call_standin",
              "name": TOOL, "arguments": "", "status": "in_progress"}
        yield sse("response.output_item.added", {"type": "response.output_item.added",
                  "sequence_number": next(seq), "output_index": 1, "item": fc})
        for piece in cut(args, rng, cfg.max_piece):
            yield sse("response.function_call_arguments.delta", {
                "type": "response.function_call_arguments.delta", "sequence_number": next(seq),
                "item_id": "fc_standin", "output_index": 1, "delta": piece})
        yield sse("response.function_call_arguments.done", {
            "type": "response.function_call_arguments.done", "sequence_number": next(seq),
            "item_id": "fc_standin", "output_index": 1, "arguments": args})
        output.append({**fc, "arguments": args, "status": "completed"})
        yield sse("response.output_item.done", {"type": "response.output_item.done",
                  "sequence_number": next(seq), "output_index": 1, "item": output[-1]})
    yield sse("response.completed", {"type": "response.completed", "sequence_number": next(seq),
              "response": {**resp, "status": "completed", "output": output,
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

    def _record(self, body: bytes) -> None:
        cfg = self.server.cfg
        if cfg.record_bodies:
            cfg.requests.append(Recorded(self.command, self.path, dict(self.headers.items()),
                                         body))
        if cfg.record_file is not None:
            if self.headers.get("content-encoding", "").lower() == "gzip":
                body = gzip.decompress(body)
            line = json.dumps({"method": self.command, "path": self.path,
                               "headers": dict(self.headers.items()),
                               "body": body.decode("utf-8", "replace")})
            with self.server.record_lock, cfg.record_file.open("a", encoding="utf-8") as f:
                f.write(line + "\n")

    def do_GET(self) -> None:
        self._record(b"")
        error = {"type": "error", "error": {"type": "not_found_error",
                                            "message": f"the stand-in has no {self.path}"}}
        self._send(404, "application/json", json.dumps(error).encode())

    def do_POST(self) -> None:
        body = self._read_body()
        cfg = self.server.cfg
        self._record(body)
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
        tool: dict | None = ALL_TOKENS
        if cfg.tool_call == "when-asked":
            tool = bash_input(tokens) if asks_for_tool(req) else None
        if path.endswith("/messages/count_tokens"):
            self._json({"input_tokens": len(body) // 4})
        elif path.endswith("/messages"):
            if stream:
                self._stream(anthropic_stream(tokens, rng, cfg, tool), rng)
            else:
                self._json(anthropic_message(tokens, cfg, tool))
        elif path.endswith("/chat/completions"):
            if stream:
                self._stream(chat_stream(tokens, rng, cfg, tool), rng)
            else:
                self._json(chat_completion(tokens, cfg, tool))
        elif path.endswith("/responses") and stream:
            self._stream(responses_stream(tokens, rng, cfg, tool), rng)
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
    """The stand-in on 127.0.0.1; HTTPS with a server ``tls`` context (see
    :func:`self_signed_localhost`; the handshake runs in ``accept``, once per connection)."""

    daemon_threads = True

    def __init__(self, cfg: StandinConfig, port: int = 0, tls: ssl.SSLContext | None = None,
                 handler: type[BaseHTTPRequestHandler] | None = None) -> None:
        self.cfg = cfg
        self.record_lock = threading.Lock()
        super().__init__(("127.0.0.1", port), handler or Handler)
        if tls is not None:
            self.socket = tls.wrap_socket(self.socket, server_side=True)

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


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx



# -- the benchmark's stand-in: one fixed-size reply per request, in a process of its own -------

TOKEN_RE_B = re.compile(TOKEN_RE.pattern.encode())
REPLY_TOKENS = 20  # tokens the bench reply repeats back (a realistic answer, not the whole body)
#: the bench stand-in's answers: ~900 characters of text, deltas of up to 12 characters
BENCH_CFG = StandinConfig(record_bodies=False, filler_repeat=20, max_piece=12)


def even_cut(text: str, n: int) -> list[str]:
    """``text`` in exactly ``n`` pieces of (nearly) equal length (empty ones if it is shorter):
    exactly ``n`` whatever the length, so a reply without tokens has as many events."""
    cuts = [len(text) * i // n for i in range(n + 1)]
    return [text[a:b] for a, b in itertools.pairwise(cuts)]


def fixed_stream(tokens: list[str], cfg: StandinConfig = BENCH_CFG) -> list[bytes]:
    """An Anthropic SSE reply of exactly 107 events, 100 of them deltas (60 text, 40 tool input),
    whatever the tokens, so the event count (and the stream's duration with gaps) is the same in
    every mode. Pieces may cut a token in two, as a real stream does."""
    msg = anthropic_message(tokens, cfg)
    text, tool = msg["content"][0]["text"], json.dumps(msg["content"][1]["input"])
    start = {**msg, "content": [], "stop_reason": None}
    out = [sse("message_start", {"type": "message_start", "message": start}),
           sse("content_block_start", {"type": "content_block_start", "index": 0,
                                       "content_block": {"type": "text", "text": ""}})]
    out += [sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                        "delta": {"type": "text_delta", "text": piece}})
            for piece in even_cut(text, 60)]
    out += [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("content_block_start", {"type": "content_block_start", "index": 1,
                                        "content_block": {**msg["content"][1], "input": {}}})]
    out += [sse("content_block_delta", {"type": "content_block_delta", "index": 1,
                                        "delta": {"type": "input_json_delta",
                                                  "partial_json": piece}})
            for piece in even_cut(tool, 40)]
    out += [sse("content_block_stop", {"type": "content_block_stop", "index": 1}),
            sse("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                                  "usage": {"output_tokens": 20}}),
            sse("message_stop", {"type": "message_stop"})]
    return out


class BenchHandler(Handler):
    """Answers every POST with one reply that does not grow with the request (a real model's
    answer does not either) and names up to 20 of the tokens it saw: JSON, the 107-event stream
    (``sse``: an event every ``gap_s``) or, with ``big_sse`` bytes, one long text stream."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length) if length else b""
        srv: BenchServer = self.server  # type: ignore[assignment]
        if srv.first_byte_ms:
            time.sleep(srv.first_byte_ms / 1000)
        tokens = list(dict.fromkeys(m.decode() for m in TOKEN_RE_B.findall(body)))
        if srv.big_sse:
            from testsupport.stream_upstream import BigSSE

            events: list[bytes] | BigSSE = BigSSE(tokens, srv.big_sse)
        elif srv.sse:
            events = fixed_stream(tokens[:REPLY_TOKENS])
        else:
            self._json(anthropic_message(tokens[:REPLY_TOKENS], BENCH_CFG))
            return
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        # Event k goes out at start + k * gap whatever this machine's load: a remote model's pace
        # does not depend on the proxy's CPU, and a sleep after each write would let every
        # scheduling delay add up over the stream.
        start = time.perf_counter()
        for k, ev in enumerate(events):
            if k and srv.gap_s and (wait := start + k * srv.gap_s - time.perf_counter()) > 0:
                time.sleep(wait)
            self._chunk(ev)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class BenchServer(StandinServer):
    def __init__(self, *, sse: bool = False, gap_ms: float = 0, first_byte_ms: int = 0,
                 big_sse: int = 0, tls: ssl.SSLContext | None = None) -> None:
        self.sse, self.gap_s, self.first_byte_ms = sse, gap_ms / 1000, first_byte_ms
        self.big_sse = big_sse
        super().__init__(BENCH_CFG, tls=tls, handler=BenchHandler)


def serve_bench(tls_files: list[str] | None = None, **kw) -> None:
    srv = BenchServer(tls=server_tls(*map(Path, tls_files)) if tls_files else None, **kw)
    print(f"PORT {srv.port}", flush=True)
    srv.serve_forever()


class BenchStandin:
    """The bench stand-in as a child process (its CPU off the load generator's GIL). With
    ``tls_files`` (cert and key PEM for ``localhost``) it serves HTTPS and its URL names
    ``localhost``, so the certificate's name matches. Keyword arguments: :class:`BenchServer`'s.
    """

    def __init__(self, tls_files: tuple[Path, Path] | None = None, **kw) -> None:
        from testsupport.procs import stop_process

        self._stop = stop_process
        kw["tls_files"] = [str(p) for p in tls_files] if tls_files else None
        code = "import json, sys; from testsupport.standin import serve_bench; " \
               "serve_bench(**json.loads(sys.argv[1]))"
        self.proc = subprocess.Popen([sys.executable, "-c", code, json.dumps(kw)],
                                     cwd=Path(__file__).resolve().parents[1],
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"stand-in server did not start: {line!r}")
        self.port = int(line.split()[1])
        self.host = "localhost" if tls_files else "127.0.0.1"
        self.cert = tls_files[0] if tls_files else None
        self.url = f"{'https' if tls_files else 'http'}://{self.host}:{self.port}/v1/messages"

    def stop(self) -> None:
        self._stop(self.proc)
