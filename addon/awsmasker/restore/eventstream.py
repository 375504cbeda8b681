"""AWS event-stream replies (``application/vnd.amazon.eventstream``, Amazon Bedrock).

The wire format: each frame is a 12-byte prelude (total length, headers length, CRC32 of those 8
bytes), a header block, the payload, and a CRC32 of everything before it. Bedrock's replies carry:

* ``InvokeModelWithResponseStream``: ``chunk`` events whose JSON payload ``{"bytes": base64}``
  holds one Anthropic Messages stream event;
* ``ConverseStream``: ``contentBlockDelta`` events (``delta.text``, ``delta.toolUse.input``),
  ``contentBlockStop``, ``messageStop`` and others that carry no model text.

Each event is restored by the same per-event restorer as SSE (:class:`EventRestorer`), so tokens
split across events and tool-input JSON deltas are handled the same way; a changed frame is
encoded again with its new lengths and CRCs, and held-back text that must come out before a later
frame goes out as an extra delta frame. Frames with nothing to change pass byte-identical;
exception frames and unknown event types pass unchanged.

A corrupt frame (bad CRC, impossible lengths, unreadable headers) ends the restore: it and all
that follows pass unchanged, flag ``corrupt_frame``. A frame longer than ``max_frame`` passes
unchanged as it arrives (flag ``event_too_large``). Held back: at most one partial frame under
``max_frame`` plus the channels' partial tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import struct
from collections.abc import Mapping
from typing import Any, NamedTuple

from awsmasker.restore.events import EventRestorer
from awsmasker.restore.sse import MAX_EVENT

CONTENT_TYPE = "application/vnd.amazon.eventstream"
PRELUDE = 12
OVERHEAD = 16  # prelude and message CRC
_U32 = struct.Struct(">I")
_PRELUDE = struct.Struct(">III")
#: fixed value sizes of the header types (0, 1: booleans with no value; 6, 7: length-prefixed)
_FIXED = {0: 0, 1: 0, 2: 1, 3: 2, 4: 4, 5: 8, 8: 8, 9: 16}
_STRING = 7


class FrameError(ValueError):
    """The bytes are not a valid event-stream frame."""


class Frame(NamedTuple):
    headers: bytes  # the raw header block
    payload: bytes

    def encode(self) -> bytes:
        return encode_frame(self.headers, self.payload)


def encode_frame(headers: bytes, payload: bytes) -> bytes:
    """One frame: the prelude with its CRC, ``headers`` (a raw block), ``payload``, message CRC."""
    prelude = _PRELUDE.pack(OVERHEAD + len(headers) + len(payload), len(headers), 0)[:8]
    head = prelude + _U32.pack(binascii.crc32(prelude))
    crc = binascii.crc32(payload, binascii.crc32(headers, binascii.crc32(head)))
    return b"".join((head, headers, payload, _U32.pack(crc)))


def encode_headers(headers: Mapping[str, str]) -> bytes:
    """A header block of string headers."""
    out = []
    for name, value in headers.items():
        n, v = name.encode("utf-8"), value.encode("utf-8")
        out.append(bytes((len(n),)) + n + bytes((_STRING,)) + struct.pack(">H", len(v)) + v)
    return b"".join(out)


def parse_headers(block: bytes) -> dict[str, Any]:
    """Header name → value (str for strings, bytes for byte arrays, else int/bool/bytes)."""
    out: dict[str, Any] = {}
    i, n = 0, len(block)
    while i < n:
        ln = block[i]
        end = i + 1 + ln
        if end + 1 > n:
            raise FrameError("header name runs past the header block")
        name = block[i + 1 : end].decode("utf-8", "replace")
        kind = block[end]
        i = end + 1
        if kind in (6, _STRING):
            if i + 2 > n:
                raise FrameError("header value length runs past the header block")
            size = (block[i] << 8) | block[i + 1]
            value: Any = block[i + 2 : i + 2 + size]
            i += 2 + size
            if kind == _STRING:
                value = value.decode("utf-8", "replace")
        elif kind in _FIXED:
            size = _FIXED[kind]
            value = kind == 0 if size == 0 else block[i : i + size]
            i += size
        else:
            raise FrameError(f"unknown header value type {kind}")
        if i > n:
            raise FrameError("header value runs past the header block")
        out[name] = value
    return out


def frame_length(prelude: bytes) -> int:
    """The total length a 12-byte prelude announces, after checking its CRC and lengths."""
    total, hlen, crc = _PRELUDE.unpack(prelude)
    if binascii.crc32(prelude[:8]) != crc:
        raise FrameError("prelude CRC mismatch")
    if total < OVERHEAD or hlen > total - OVERHEAD:
        raise FrameError("impossible frame lengths")
    return total


def check_frame(raw: bytes) -> None:
    """Raise FrameError unless ``raw`` is exactly one valid frame (lengths and both CRCs)."""
    if len(raw) < PRELUDE or frame_length(raw[:PRELUDE]) != len(raw):
        raise FrameError("not one whole frame")
    check_message_crc(raw)


def check_message_crc(raw: bytes) -> None:
    """Raise FrameError unless the last 4 bytes of ``raw`` are the CRC32 of the others."""
    if binascii.crc32(raw[:-4]) != _U32.unpack_from(raw, len(raw) - 4)[0]:
        raise FrameError("message CRC mismatch")


def decode_frame(raw: bytes) -> Frame:
    """The headers and payload of one whole frame, CRCs checked."""
    check_frame(raw)
    return split_frame(raw)


def split_frame(raw: bytes) -> Frame:
    """The parts of a whole frame already checked (see :func:`decode_frame`)."""
    hlen = _U32.unpack_from(raw, 4)[0]
    return Frame(raw[PRELUDE : PRELUDE + hlen], raw[PRELUDE + hlen : -4])


class FrameDecoder:
    """Sans-IO splitter: bytes in any pieces → whole raw frames, checked. Each byte is looked at
    a bounded number of times, so feeding one byte at a time costs O(bytes).

    ``feed`` returns ``(True, frame)`` for each whole frame and ``(False, data)`` for bytes to pass
    unchanged: a frame longer than ``max_frame`` as it arrives (``oversized`` set), and from a
    corrupt frame on, everything (``corrupt`` set). Held: at most one partial frame under
    ``max_frame``. ``mark``/``rollback`` undo the calls since the last ``mark``.
    """

    def __init__(self, max_frame: int = MAX_EVENT) -> None:
        self.max_frame = max_frame
        self.corrupt = False
        self.oversized = False
        self._buf = bytearray()
        self._start = 0  # bytes of ``_buf`` already handed out (trimmed on the next feed)
        self._need = PRELUDE  # bytes the next step needs from ``_start``
        self._skip = 0  # bytes of an oversized frame still to pass unchanged
        self._mark: tuple[int, int, int, bool] | None = None

    def held(self) -> bytes:
        return bytes(self._buf[self._start :])

    def mark(self) -> None:
        self._trim()
        self._mark = (len(self._buf), self._need, self._skip, self.corrupt)

    def rollback(self) -> None:
        if self._mark is not None:
            size, self._need, self._skip, self.corrupt = self._mark
            del self._buf[size:]
            self._start = 0
            self._mark = None

    def reset(self) -> None:
        """Forget the held bytes (the caller passed them on)."""
        self._buf.clear()
        self._start, self._need, self._skip, self._mark = 0, PRELUDE, 0, None

    def _trim(self) -> None:
        if self._start:
            del self._buf[: self._start]
            self._start = 0

    def feed(self, data: bytes) -> list[tuple[bool, bytes]]:
        if self.corrupt:
            return [(False, data)] if data else []
        self._trim()
        out: list[tuple[bool, bytes]] = []
        if self._skip:
            n = min(self._skip, len(data))
            out.append((False, data[:n]))
            self._skip -= n
            data = data[n:]
        buf = self._buf
        buf += data
        pos = 0
        while len(buf) - pos >= self._need:
            try:
                if self._need == PRELUDE:
                    total = frame_length(bytes(buf[pos : pos + PRELUDE]))
                    if total <= self.max_frame:
                        self._need = total
                        continue
                    self.oversized = True
                    n = min(total, len(buf) - pos)
                    out.append((False, bytes(buf[pos : pos + n])))
                    pos += n
                    self._skip = total - n
                    continue
                raw = bytes(buf[pos : pos + self._need])
                check_message_crc(raw)  # its prelude was checked above
            except FrameError:
                self.corrupt = True
                out.append((False, bytes(buf[pos:])))
                pos = len(buf)
                break
            out.append((True, raw))
            pos += self._need
            self._need = PRELUDE
        self._start = pos
        return out


# Converse stream deltas, as the Anthropic events EventRestorer knows:
# (Converse delta key, field) ↔ (Anthropic delta type, field)
_CONVERSE_KINDS = {"text": ("text_delta", "text"), "toolUse": ("input_json_delta", "partial_json")}
_ANTHROPIC_KINDS = {"text_delta": ("text", None), "input_json_delta": ("toolUse", "input")}
_DELTA_HEADERS = encode_headers(
    {":event-type": "contentBlockDelta", ":content-type": "application/json",
     ":message-type": "event"}
)


def _sse(doc: bytes) -> bytes:
    """An event's JSON as an SSE event for EventRestorer (its lines as data lines)."""
    if doc.find(b"\n") < 0 and doc.find(b"\r") < 0:
        return b"data: " + doc + b"\n\n"
    lines = doc.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


def _sse_docs(out: bytes) -> list[bytes]:
    """The JSON of each event EventRestorer wrote (one ``data:`` line each, compact JSON)."""
    docs = []
    for ev in out.split(b"\n\n"):
        if ev:
            lines = [ln[5:].removeprefix(b" ") for ln in ev.split(b"\n") if
                     ln.startswith(b"data:")]
            docs.append(b"\n".join(lines))
    return docs


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class EventStreamRestorer:
    """Bedrock event-stream replies (module docstring). The :class:`Restorer` protocol."""

    def __init__(self, token_map: Mapping[str, str], *, max_frame: int = MAX_EVENT) -> None:
        self._events = EventRestorer(token_map)
        self.restored: dict[str, int] = self._events.restored
        self.flags: set[str] = self._events.flags
        self._frames_in = FrameDecoder(max_frame)
        self._chunk_headers: bytes | None = None  # for held text of InvokeModel streams
        self._headers: dict[bytes, dict[str, Any]] = {}  # parsed header blocks
        self._snapshot: tuple | None = None

    # -- the Restorer protocol ---------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        dec = self._frames_in
        if dec.corrupt:
            return data
        dec.mark()
        self._snapshot = (self._chunk_headers, self._events.snapshot())
        out: list[bytes] = []
        for is_frame, piece in dec.feed(data):
            if is_frame:
                out.append(self._frame(piece))
            else:  # held text goes out before bytes that pass unchanged
                out.append(self._frames(self._events.flush_all()))
                out.append(piece)
        if dec.oversized:
            self.flags.add("event_too_large")
        if dec.corrupt:
            self.flags.add("corrupt_frame")
        self._snapshot = None
        return b"".join(out)

    def finish(self) -> bytes:
        out = self._frames(self._events.flush_all()) + self._frames_in.held()
        self._frames_in.reset()
        return out

    def whole(self, data: bytes) -> bytes:
        return self.feed(data) + self.finish()

    def abort(self) -> bytes:
        if self._snapshot is not None:  # feed() failed midway: back to its start
            self._chunk_headers, state = self._snapshot
            self._events.restore_snapshot(state)
            self._frames_in.rollback()
            self._snapshot = None
        try:
            out = self._frames(self._events.flush_all_safe())
        except Exception:
            self.flags.add("error")
            out = b""
        out += self._frames_in.held()
        self._frames_in.reset()
        return out

    # -- frames ------------------------------------------------------------------------------
    def _frame(self, original: bytes) -> bytes:
        """One whole valid frame, restored (the original bytes when nothing changed). Never
        raises: after an internal error the held text goes out unrestored, the frame unchanged."""
        try:
            return self._restore_frame(original)
        except Exception:
            self.flags.add("error")
            try:
                return self._frames(self._events.flush_all_safe()) + original
            except Exception:
                return original

    def _restore_frame(self, original: bytes) -> bytes:
        frame = split_frame(original)  # checked by the decoder
        headers = self._headers.get(frame.headers)
        if headers is None:  # a stream repeats a handful of header blocks
            headers = parse_headers(frame.headers)
            if len(self._headers) < 32:
                self._headers[frame.headers] = headers
        if headers.get(":message-type", "event") != "event":
            # exception or error: held text goes out first, the frame unchanged
            return self._frames(self._events.flush_all()) + original
        kind = headers.get(":event-type")
        if kind == "chunk":
            return self._chunk(frame, original)
        if kind in ("contentBlockDelta", "contentBlockStop", "messageStop"):
            return self._converse(kind, frame, original)
        return original

    def _payload(self, frame: Frame) -> dict | None:
        try:
            obj = json.loads(frame.payload.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError included
            obj = None
        if not isinstance(obj, dict):
            self.flags.add("invalid_event")
            return None
        return obj

    def _chunk(self, frame: Frame, original: bytes) -> bytes:
        """InvokeModelWithResponseStream: ``{"bytes": base64(Anthropic event JSON)}``."""
        obj = self._payload(frame)
        if obj is None or not isinstance(obj.get("bytes"), str):
            return original
        try:
            doc = base64.b64decode(obj["bytes"], validate=True)
        except (binascii.Error, ValueError):
            self.flags.add("invalid_event")
            return original
        self._chunk_headers = frame.headers
        ev = _sse(doc)
        out = self._events.event(ev)
        if out == ev:
            return original
        docs = _sse_docs(out)
        if out.endswith(ev):  # extra events before an unchanged one
            return self._frames(out[: -len(ev)]) + original
        extras, main = docs[:-1], docs[-1]
        obj["bytes"] = base64.b64encode(main).decode("ascii")
        parts = [self._chunk_frame(d) for d in extras]
        parts.append(encode_frame(frame.headers, _dumps(obj)))
        return b"".join(parts)

    def _chunk_frame(self, doc: bytes) -> bytes:
        assert self._chunk_headers is not None
        payload = _dumps({"bytes": base64.b64encode(doc).decode("ascii")})
        return encode_frame(self._chunk_headers, payload)

    def _converse(self, kind: str, frame: Frame, original: bytes) -> bytes:
        """ConverseStream events, restored as the Anthropic events they correspond to."""
        obj = self._payload(frame)
        if obj is None:
            return original
        idx = obj.get("contentBlockIndex")
        if kind == "messageStop":
            return self._frames(self._events.flush_all()) + original
        if kind == "contentBlockStop":
            ev = _sse(_dumps({"type": "content_block_stop", "index": idx}))
            out = self._events.event(ev)
            return self._frames(out[: len(out) - len(ev)]) + original
        delta = obj.get("delta")
        if not isinstance(delta, dict) or len(delta) != 1:
            return original
        (key, value), = delta.items()
        if key not in _CONVERSE_KINDS:
            return original  # reasoningContent, citations, ...: never restored
        dtype, field = _CONVERSE_KINDS[key]
        if key == "toolUse":
            text = value.get("input") if isinstance(value, dict) else None
        else:
            text = value
        if not isinstance(text, str):
            return original
        ev = _sse(_dumps({"type": "content_block_delta", "index": idx,
                          "delta": {"type": dtype, field: text}}))
        out = self._events.event(ev)
        if out == ev:
            return original
        if out.endswith(ev):
            return self._frames(out[: -len(ev)]) + original
        docs = _sse_docs(out)
        new = json.loads(docs[-1])["delta"][field]
        if key == "toolUse":
            value["input"] = new
        else:
            delta[key] = new
        return self._frames(b"".join(_sse(d) for d in docs[:-1])) + encode_frame(
            frame.headers, _dumps(obj))

    def _frames(self, sse: bytes) -> bytes:
        """Frames for events EventRestorer wrote on its own (held text flushed as deltas)."""
        if not sse:
            return b""
        parts = []
        for doc in _sse_docs(sse):
            if self._chunk_headers is not None:
                parts.append(self._chunk_frame(doc))
                continue
            ev = json.loads(doc)
            d = ev["delta"]
            key, field = _ANTHROPIC_KINDS[d["type"]]
            text = d["text" if field is None else "partial_json"]
            delta = {key: text} if field is None else {key: {field: text}}
            parts.append(encode_frame(_DELTA_HEADERS, _dumps(
                {"contentBlockIndex": ev["index"], "delta": delta})))
        return b"".join(parts)
