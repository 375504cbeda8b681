"""AWS event-stream replies (``application/vnd.amazon.eventstream``, Amazon Bedrock).

The wire format: each frame is a 12-byte prelude (total length, headers length, CRC32 of those 8
bytes), a header block, the payload, and a CRC32 of everything before it. Bedrock's replies carry:

* ``InvokeModelWithResponseStream``: ``chunk`` events whose JSON payload ``{"bytes": base64}``
  holds one Anthropic Messages stream event;
* ``ConverseStream``: ``contentBlockDelta`` events (``delta.text``, ``delta.toolUse.input``),
  ``contentBlockStop``, ``messageStop`` and others that carry no model text.

Each event is restored by the same per-event restorer as SSE (:class:`EventRestorer`), so tokens
split across events and tool-input JSON deltas are handled the same way. Every event frame goes
to it in order, as an SSE event tagged with its frame (an ``id:`` line); what it lets out maps
back to those frames: unchanged events are their frames byte for byte, changed ones are encoded
again with new lengths and CRCs, and frames wait behind a held delta, so they leave in the order
they came. Exception frames and unknown event types pass unchanged.

A corrupt frame (a CRC that does not match, impossible lengths) ends the restore: it and all
that follows pass unchanged, flag ``corrupt_frame``; a frame whose CRCs match but whose headers
cannot be read passes unchanged (flag ``error``). A frame longer than ``max_frame`` passes
unchanged as it arrives (flag ``event_too_large``). Held back: at most one partial frame under
``max_frame``, plus what the event restorer holds (its own bound, as for SSE).
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
    """Header name → value, read by botocore's event-stream parser (imported on a first
    event-stream reply: a proxy that never sees one never loads botocore)."""
    from botocore.eventstream import EventStreamHeaderParser, ParserError

    try:
        return EventStreamHeaderParser().parse(block)
    except (ParserError, KeyError, ValueError, struct.error) as e:  # cut, unknown type, not UTF-8
        raise FrameError(f"unreadable header block: {type(e).__name__}") from e


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


# ConverseStream deltas as the Anthropic deltas EventRestorer knows, and back:
# Converse delta key -> (Anthropic delta type, its text field)
_CONVERSE_KINDS = {"text": ("text_delta", "text"), "toolUse": ("input_json_delta", "partial_json")}
_ANTHROPIC_KINDS = {"text_delta": "text", "input_json_delta": "toolUse"}
_DELTA_HEADERS = encode_headers(
    {":event-type": "contentBlockDelta", ":content-type": "application/json",
     ":message-type": "event"}
)
_OPAQUE = b"{}"  # an event with nothing to restore: it only keeps its place in the order


def _sse(tag: int, doc: bytes) -> bytes:
    """A frame's event as an SSE event for EventRestorer, tagged with an ``id:`` line (kept on
    every event it writes, ignored when it compares events) so that what comes out maps back to
    the frame it came from. A document's lines become data lines."""
    if doc.find(b"\n") < 0 and doc.find(b"\r") < 0:
        return b"id: %d\ndata: %s\n\n" % (tag, doc)
    lines = doc.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return b"id: %d\n" % tag + b"".join(b"data: " + line + b"\n" for line in lines) + b"\n"


def _sse_events(out: bytes) -> list[tuple[int | None, bytes, bytes]]:
    """(tag, JSON document, the event) of each event EventRestorer wrote."""
    events = []
    for ev in out.split(b"\n\n"):
        if not ev:
            continue
        tag = None
        data = []
        for line in ev.split(b"\n"):
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            elif line.startswith(b"id:"):
                tag = int(line[3:])
        events.append((tag, b"\n".join(data), ev + b"\n\n"))
    return events


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class _Pending(NamedTuple):
    """A frame whose event is with EventRestorer (it may hold it back a while)."""

    original: bytes  # the frame as it came
    headers: bytes  # its raw header block
    payload: dict | None  # its JSON payload (None: nothing in it is restored)
    kind: str  # "chunk", "converse" (a delta) or "" (goes out as it came)
    event: bytes  # what EventRestorer was given


class EventStreamRestorer:
    """Bedrock event-stream replies (module docstring). The :class:`Restorer` protocol.

    Every event frame goes through EventRestorer, in order, as an SSE event (an Anthropic event,
    a ConverseStream event written as the Anthropic one it stands for, or an empty placeholder
    for other events), so that frames leave in the order they came even while a delta is held.
    """

    def __init__(self, token_map: Mapping[str, str], *, max_frame: int = MAX_EVENT) -> None:
        self._events = EventRestorer(token_map)
        self.restored: dict[str, int] = self._events.restored
        self.flags: set[str] = self._events.flags
        self._frames_in = FrameDecoder(max_frame)
        self._pending: dict[int, _Pending] = {}  # by tag, in order
        self._tag = 0
        self._chunk_headers: bytes | None = None  # for events EventRestorer writes itself
        self._headers: dict[bytes, dict[str, Any]] = {}  # parsed header blocks
        self._snapshot: tuple | None = None

    # -- the Restorer protocol ---------------------------------------------------------------
    def feed(self, data: bytes) -> bytes:
        dec = self._frames_in
        if dec.corrupt:
            return data
        dec.mark()
        self._snapshot = (self._chunk_headers, self._events.snapshot(),
                          dict(self._pending) if self._pending else None)
        out: list[bytes] = []
        for is_frame, piece in dec.feed(data):
            if is_frame:
                out.append(self._frame(piece))
            else:  # held events go out before bytes that pass unchanged
                out.append(self._emit(self._events.flush_all()))
                out.append(piece)
        if dec.oversized:
            self.flags.add("event_too_large")
        if dec.corrupt:
            self.flags.add("corrupt_frame")
        self._snapshot = None
        return b"".join(out)

    def finish(self) -> bytes:
        out = self._emit(self._events.flush_all()) + self._frames_in.held()
        self._frames_in.reset()
        return out

    def whole(self, data: bytes) -> bytes:
        return self.feed(data) + self.finish()

    def abort(self) -> bytes:
        if self._snapshot is not None:  # feed() failed midway: back to its start
            self._chunk_headers, state, pending = self._snapshot
            self._events.restore_snapshot(state)
            self._pending = pending or {}
            self._frames_in.rollback()
            self._snapshot = None
        out = self._emit_safe(self._events.flush_all_safe()) + self._frames_in.held()
        self._frames_in.reset()
        return out

    # -- frames ------------------------------------------------------------------------------
    def _frame(self, original: bytes) -> bytes:
        """One whole valid frame: the frames that go out now. Never raises: after an internal
        error the held events go out unrestored, then this frame unchanged."""
        tag = self._tag
        try:
            return self._restore_frame(original)
        except Exception:
            self.flags.add("error")
            self._pending.pop(tag, None)
            return self._emit_safe(self._events.flush_all_safe()) + original

    def _restore_frame(self, original: bytes) -> bytes:
        frame = split_frame(original)  # checked by the decoder
        headers = self._headers.get(frame.headers)
        if headers is None:  # a stream repeats a handful of header blocks
            headers = parse_headers(frame.headers)
            if len(self._headers) < 32:
                self._headers[frame.headers] = headers
        if headers.get(":message-type", "event") != "event":
            # exception or error: the stream ends; what is held goes out first
            return self._emit(self._events.flush_all()) + original
        event_type = headers.get(":event-type")
        payload, kind, doc = None, "", _OPAQUE
        if event_type == "chunk":
            payload, doc = self._chunk(frame)
            if payload is not None:
                kind = "chunk"
                self._chunk_headers = frame.headers
        elif event_type in ("contentBlockDelta", "contentBlockStop", "messageStop"):
            payload, kind, doc = self._converse(event_type, frame)
        tag = self._tag
        self._tag += 1
        ev = _sse(tag, doc)
        out = self._events.event(ev)
        if out == ev:  # the usual frame: nothing held, nothing to restore
            return original
        self._pending[tag] = _Pending(original, frame.headers, payload, kind, ev)
        return self._emit(out)

    def _payload(self, frame: Frame) -> dict | None:
        try:
            obj = json.loads(frame.payload.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError included
            obj = None
        if not isinstance(obj, dict):
            self.flags.add("invalid_event")
            return None
        return obj

    def _chunk(self, frame: Frame) -> tuple[dict | None, bytes]:
        """InvokeModelWithResponseStream: ``{"bytes": base64(Anthropic event JSON)}``."""
        obj = self._payload(frame)
        if obj is None or not isinstance(obj.get("bytes"), str):
            return None, _OPAQUE
        try:
            return obj, base64.b64decode(obj["bytes"], validate=True)
        except (binascii.Error, ValueError):
            self.flags.add("invalid_event")
            return None, _OPAQUE

    def _converse(self, event_type: str, frame: Frame) -> tuple[dict | None, str, bytes]:
        """A ConverseStream event as the Anthropic event it stands for."""
        obj = self._payload(frame)
        if obj is None:
            return None, "", _OPAQUE
        idx = obj.get("contentBlockIndex")
        if event_type == "messageStop":
            return None, "", b'{"type":"message_stop"}'
        if event_type == "contentBlockStop":
            return None, "", _dumps({"type": "content_block_stop", "index": idx})
        delta = obj.get("delta")
        if not isinstance(delta, dict) or len(delta) != 1:
            return None, "", _OPAQUE
        ((key, value),) = delta.items()
        text = value.get("input") if key == "toolUse" and isinstance(value, dict) else value
        if key not in _CONVERSE_KINDS or not isinstance(text, str):
            return None, "", _OPAQUE  # reasoningContent, citations, ...: never restored
        dtype, field = _CONVERSE_KINDS[key]
        doc = _dumps({"type": "content_block_delta", "index": idx,
                      "delta": {"type": dtype, field: text}})
        return obj, "converse", doc

    def _emit(self, out: bytes) -> bytes:
        """The frames for what EventRestorer let out: each tagged event is its frame (as it
        came when the event is unchanged); a frame whose event it merged into a later one is
        dropped; an event it wrote itself (no tag) becomes a new delta frame."""
        if not out:
            return b""
        pending = self._pending
        parts = []
        for tag, doc, ev in _sse_events(out):
            if tag is None:
                parts.append(self._new_frame(doc))
                continue
            while pending:  # events before this one that did not come out were merged
                first = next(iter(pending))
                if first >= tag:
                    break
                del pending[first]
            p = pending.pop(tag, None)
            if p is None:
                continue  # a frame that went out already (after an error)
            if ev == p.event or p.payload is None:
                parts.append(p.original)
            else:
                parts.append(self._changed_frame(p, doc))
        return b"".join(parts)

    def _emit_safe(self, out: bytes) -> bytes:
        try:
            return self._emit(out)
        except Exception:
            self.flags.add("error")
            return b""

    def _changed_frame(self, p: _Pending, doc: bytes) -> bytes:
        assert p.payload is not None
        obj = dict(p.payload)
        if p.kind == "chunk":
            obj["bytes"] = base64.b64encode(doc).decode("ascii")
        else:
            d = json.loads(doc)["delta"]
            key = _ANTHROPIC_KINDS[d["type"]]
            if key == "toolUse":
                obj["delta"] = {key: {**obj["delta"][key], "input": d["partial_json"]}}
            else:
                obj["delta"] = {key: d["text"]}
        return encode_frame(p.headers, _dumps(obj))

    def _new_frame(self, doc: bytes) -> bytes:
        """A frame for a delta event EventRestorer wrote itself."""
        if self._chunk_headers is not None:
            payload = _dumps({"bytes": base64.b64encode(doc).decode("ascii")})
            return encode_frame(self._chunk_headers, payload)
        ev = json.loads(doc)
        d = ev["delta"]
        key = _ANTHROPIC_KINDS[d["type"]]
        delta = {key: d["text"]} if key == "text" else {key: {"input": d["partial_json"]}}
        return encode_frame(_DELTA_HEADERS, _dumps({"contentBlockIndex": ev["index"],
                                                    "delta": delta}))
