"""A loopback upstream that generates large or unusual streamed replies on the fly.

Used by the proxy-level stream tests and by scripts/bench_proxy.py. A reply is built by a
``Reply`` callable from the aws-masker tokens found in the request, so every reply is a
deterministic function of (tokens, parameters): a test can generate the same bytes again to
compare with what the client received, without ever holding a large reply in memory.
"""

from __future__ import annotations

import gzip
import json
import random
import ssl
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from testsupport.standin import tokens_in

#: (headers, body chunks) for the tokens of a request
Reply = Callable[[list[str]], tuple[list[tuple[str, str]], Iterable[bytes]]]

SSE_HEADERS = [("content-type", "text/event-stream; charset=utf-8"), ("cache-control", "no-cache")]
FILLER_WORDS = (
    "the",
    "instance",
    "is",
    "running",
    "in",
    "zone",
    "and",
    "its",
    "volume",
    "looks",
    "fine;",
    "check",
    "route",
    "table",
    "next.",
    "Logs",
    "show",
    "nothing",
)


def sse_event(name: str, obj: dict) -> bytes:
    return f"event: {name}\ndata: {json.dumps(obj)}\n\n".encode()


def text_delta(piece: str) -> bytes:
    return sse_event(
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
    )


def sse_head() -> bytes:
    msg = {
        "id": "msg_big",
        "type": "message",
        "role": "assistant",
        "model": "standin",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 1},
    }
    return sse_event("message_start", {"type": "message_start", "message": msg}) + sse_event(
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )


def sse_tail() -> bytes:
    return (
        sse_event("content_block_stop", {"type": "content_block_stop", "index": 0})
        + sse_event(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 20},
            },
        )
        + sse_event("message_stop", {"type": "message_stop"})
    )


@dataclass
class BigSSE:
    """An Anthropic text stream of about ``total`` bytes: one period of text_delta events repeated.

    The period's text mixes filler words with the request's tokens (about one every
    ``token_every`` characters) and is cut into deltas of 1..``max_piece`` characters, so tokens
    arrive split across events; it is written in chunks of random size, so they are split across
    writes too.
    """

    tokens: list[str]
    total: int
    seed: int = 7
    period_chars: int = 48_000
    token_every: int = 400
    max_piece: int = 40
    head: bytes = field(init=False)
    tail: bytes = field(init=False)
    period: bytes = field(init=False)
    chunks: list[bytes] = field(init=False)
    repeats: int = field(init=False)
    per_period: Counter[str] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        words: list[str] = []
        size, since = 0, 0
        per: Counter[str] = Counter()
        while size < self.period_chars:
            if self.tokens and since >= self.token_every:
                w = rng.choice(self.tokens)
                per[w] += 1
                since = 0
            else:
                w = rng.choice(FILLER_WORDS)
            words.append(w)
            size += len(w) + 1
            since += len(w) + 1
        text = " ".join(words) + " "
        events, i = [], 0
        while i < len(text):
            n = rng.randint(1, self.max_piece)
            events.append(text_delta(text[i : i + n]))
            i += n
        self.period = b"".join(events)
        self.per_period = per
        self.chunks, pos = [], 0
        while pos < len(self.period):
            n = rng.randint(1, 16 * 1024)
            self.chunks.append(self.period[pos : pos + n])
            pos += n
        self.head, self.tail = sse_head(), sse_tail()
        self.repeats = max(
            1, -(-(self.total - len(self.head) - len(self.tail)) // len(self.period))
        )

    @property
    def size(self) -> int:
        return len(self.head) + self.repeats * len(self.period) + len(self.tail)

    def expected_counts(self) -> Counter[str]:
        """Occurrences of each token in the whole reply."""
        return Counter({t: n * self.repeats for t, n in self.per_period.items()})

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        for _ in range(self.repeats):
            yield from self.chunks
        yield self.tail


def big_sse_reply(total: int, **kw) -> Reply:
    def reply(tokens: list[str]):
        return SSE_HEADERS, BigSSE(tokens, total, **kw)

    return reply


def gzip_stream(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """gzip-compress a stream, flushing after each chunk so it still streams."""
    z = zlib.compressobj(6, zlib.DEFLATED, 31)
    for c in chunks:
        out = z.compress(c) + z.flush(zlib.Z_SYNC_FLUSH)
        if out:
            yield out
    yield z.flush()


def gzip_reply(inner: Reply) -> Reply:
    """``inner``'s reply, gzip-encoded whatever the request's accept-encoding says."""

    def reply(tokens: list[str]):
        headers, chunks = inner(tokens)
        return [*headers, ("content-encoding", "gzip")], gzip_stream(chunks)

    return reply


def fixed_reply(content_type: str, body_for: Callable[[list[str]], bytes]) -> Reply:
    def reply(tokens: list[str]):
        return [("content-type", content_type)], [body_for(tokens)]

    return reply


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    tokens: list[str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: UpstreamServer

    def log_message(self, format: str, *args) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        body = self.rfile.read(length) if length else b""
        if self.headers.get("content-encoding", "").lower() == "gzip":
            body = gzip.decompress(body)
        tokens = tokens_in(body)
        self.server.seen.append(Seen(self.path, dict(self.headers.items()), tokens))
        headers, chunks = self.server.reply(tokens)
        self.send_response(200)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        try:
            for c in chunks:
                if c:
                    self.wfile.write(b"%x\r\n%b\r\n" % (len(c), c))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class UpstreamServer(ThreadingHTTPServer):
    """Serves ``reply`` on 127.0.0.1 (HTTP, or HTTPS with ``ssl_context``) and records requests."""

    daemon_threads = True

    def __init__(self, reply: Reply, ssl_context: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.seen: list[Seen] = []
        super().__init__(("127.0.0.1", 0), _Handler)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def __enter__(self) -> UpstreamServer:
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.shutdown()
        self.server_close()
