"""Builders and parsers of Bedrock event-stream replies for tests, stand-ins and benchmarks.

Frames are parsed with botocore's own parser (``botocore.eventstream.EventStreamBuffer``), so a
test that reads the proxy's output through these also checks that botocore accepts every frame.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib

from botocore.eventstream import EventStreamBuffer

from tests.restore_helpers import parse_sse


def encode_headers(headers: dict[str, str]) -> bytes:
    """String headers as an event-stream header block (written here, not by the addon, so the
    tests do not check the addon's encoder against itself)."""
    out = b""
    for name, value in headers.items():
        n, v = name.encode(), value.encode()
        out += struct.pack(">B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v
    return out


def encode_frame(headers: bytes, payload: bytes) -> bytes:
    prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
    head = prelude + struct.pack(">I", zlib.crc32(prelude))
    body = head + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def dumps(obj: object) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def event_frame(event_type: str, payload: object, message_type: str = "event") -> bytes:
    headers = {":event-type": event_type, ":content-type": "application/json",
               ":message-type": message_type}
    if message_type == "exception":
        headers = {":exception-type": event_type, ":content-type": "application/json",
                   ":message-type": "exception"}
    return encode_frame(encode_headers(headers), dumps(payload))


def chunk_frame(event: object, pad: str | None = "abcdefghijklmnopqrstuvwxyzABCDEFGH") -> bytes:
    """An InvokeModelWithResponseStream ``chunk``: one Anthropic event, base64 in JSON (Bedrock
    adds a ``p`` field of padding)."""
    payload = {"bytes": base64.b64encode(dumps(event)).decode()}
    if pad is not None:
        payload["p"] = pad
    return event_frame("chunk", payload)


def chunks_from_sse(sse: bytes) -> bytes:
    """An Anthropic SSE stream as Bedrock's chunk frames."""
    return b"".join(chunk_frame(ev) for _, ev in parse_sse(sse))


def frames(stream: bytes) -> list:
    """Every frame of ``stream``, parsed by botocore (raises if one is invalid or cut short)."""
    buf = EventStreamBuffer()
    buf.add_data(stream)
    msgs = list(buf)
    used = sum(m.prelude.total_length for m in msgs)
    assert used == len(stream), f"{len(stream) - used} bytes after the last whole frame"
    return msgs


def anthropic_events(stream: bytes) -> list[dict]:
    """The Anthropic events inside a chunk stream (other frames skipped)."""
    out = []
    for m in frames(stream):
        if m.headers.get(":event-type") == "chunk":
            out.append(json.loads(base64.b64decode(json.loads(m.payload)["bytes"])))
    return out


def chunk_sse(stream: bytes) -> bytes:
    """The chunk stream's Anthropic events as SSE (for ``restore_helpers.anthropic_channels``)."""
    return b"".join(b"data: " + dumps(ev) + b"\n\n" for ev in anthropic_events(stream))


def converse_stream(blocks: list[tuple[str, list[str]]]) -> bytes:
    """A ConverseStream reply: blocks of kind ``text`` or ``tool`` with their delta pieces."""
    out = [event_frame("messageStart", {"role": "assistant"})]
    for i, (kind, pieces) in enumerate(blocks):
        if kind == "tool":
            out.append(event_frame("contentBlockStart", {"contentBlockIndex": i, "start": {
                "toolUse": {"toolUseId": f"tooluse_{i}", "name": "run"}}}))
        for p in pieces:
            delta = {"text": p} if kind == "text" else {"toolUse": {"input": p}}
            out.append(event_frame("contentBlockDelta", {"contentBlockIndex": i, "delta": delta,
                                                         "p": "abcdef"}))
        out.append(event_frame("contentBlockStop", {"contentBlockIndex": i}))
    out.append(event_frame("messageStop", {"stopReason": "end_turn"}))
    out.append(event_frame("metadata", {"usage": {"inputTokens": 1, "outputTokens": 2,
                                                  "totalTokens": 3}, "metrics": {"latencyMs": 1}}))
    return b"".join(out)


def converse_channels(stream: bytes) -> dict[tuple[int, str], str]:
    """Text and tool input per content block of a ConverseStream reply; checks no delta comes
    after its block's stop."""
    acc: dict[tuple[int, str], str] = {}
    stopped: set[int] = set()
    for m in frames(stream):
        kind = m.headers.get(":event-type")
        body = json.loads(m.payload) if m.payload else {}
        if kind == "contentBlockDelta":
            i = body["contentBlockIndex"]
            assert i not in stopped, "delta after contentBlockStop"
            d = body["delta"]
            key = (i, "text") if "text" in d else (i, "input")
            acc[key] = acc.get(key, "") + (d["text"] if "text" in d else d["toolUse"]["input"])
        elif kind == "contentBlockStop":
            stopped.add(body["contentBlockIndex"])
    return acc
