"""A raw-socket upstream for end-to-end tests: it does exactly what a test tells it to
(misbehave, pause mid-reply) where the shared stand-in server cannot; and the pieces of an
Anthropic SSE reply its behaviours write."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable

Behaviour = Callable[[socket.socket, bytes], None]


def read_request(conn: socket.socket) -> bytes | None:
    """One HTTP/1.1 request with a content-length body; returns the body (None on EOF)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        body += chunk
    return body


class RawUpstream:
    """Accepts connections on loopback; each request's body is recorded and handed, with the
    socket, to ``behaviour``. The connection is closed when ``behaviour`` returns."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.bodies: list[bytes] = []
        self.errors: list[BaseException] = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                body = read_request(conn)
                if body is None:
                    return
                self.bodies.append(body)
                self.behaviour(conn, body)
            except OSError as e:
                self.errors.append(e)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/messages"

    def close(self) -> None:
        self._closed = True
        self.sock.close()


# -- what a behaviour writes: an Anthropic SSE reply, piece by piece -------------------------

def sse_event(text: str) -> bytes:
    return ("event: content_block_delta\ndata: " + json.dumps(
        {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": text}}) + "\n\n").encode()


def sse_head(chunked: bool = True) -> bytes:
    framing = b"transfer-encoding: chunked\r\n" if chunked else b"connection: close\r\n"
    return (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\n" + framing + b"\r\n")


def chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"
