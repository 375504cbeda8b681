"""Per-event restore for SSE replies of three APIs, detected from each event's JSON.

* Anthropic Messages: ``text_delta`` (text) and ``input_json_delta`` (``partial_json``, pieces of a
  JSON document: replacements are JSON-escaped) per content block; thinking, signatures and
  redacted thinking are never touched.
* OpenAI Chat Completions: ``choices[].delta.content`` and ``choices[].delta.tool_calls[].function
  .arguments`` per choice and tool-call index; ``data: [DONE]``.
* OpenAI Responses: ``response.output_text.delta`` / ``response.function_call_arguments.delta``;
  the ``*.done``, ``response.output_item.done`` and ``response.completed`` events that repeat the
  full text are restored whole.

Every event goes out once, in the order it came, or not at all: the restorer never makes an event
up, so ``sequence_number`` and indexes stay the model's. A delta whose text ends in what may be the
start of a token (``AWS_EC``) is held back whole, and the events after it wait behind it, until its
channel's next event shows whether the token goes on:

* a delta of the same channel: the held tail moves into it. The held event goes out with the text
  before its tail; when that is empty and the event says nothing the next delta does not say
  (``sequence_number`` and ``obfuscation`` aside), it does not go out at all: no delta comes out
  empty that did not come in empty (one that carries more, e.g. log-probabilities, still does);
* the end of the channel (``content_block_stop``, ``finish_reason``, ``*.done``, ``[DONE]``, end of
  stream): the held event goes out with its text as it came, restored.

A chat choice writes one channel at a time (its content, then each tool call in turn; no event
ends one): its text on another channel ends the open one. Other channels and events interleave
freely. At most ``MAX_QUEUED`` events and ``max_bytes`` bytes wait; past that the oldest held event
goes out as it came (a token its channel completes only after so long stays as the model wrote
it). Events with nothing to change are returned byte-identical.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from json.decoder import scanstring
from json.encoder import encode_basestring
from typing import Any

from awsmasker.restore.core import Table, TokenIndex, make_table, restore

#: Events that may wait behind a held one (see the module docstring).
MAX_QUEUED = 64

_ANTHROPIC = frozenset(
    {
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    }
)
_RESPONSES_FINAL = frozenset({"response.completed", "response.incomplete", "response.failed"})
_RESPONSES_WHOLE = frozenset(
    {
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    }
)
# Never restored: signed or encrypted model reasoning, opaque blobs.
_SKIP_TYPES = frozenset({"thinking", "redacted_thinking", "reasoning"})
_SKIP_KEYS = frozenset({"signature", "encrypted_content", "data", "thinking"})
_JSON_TEXT_TYPES = frozenset({"function_call", "mcp_call"})  # their "arguments" is JSON text


# An Anthropic text or tool-input delta as the API writes it (compact, or with a space after ":" and
# ","): an optional "event:" line, one data line, the blank line. Such an event is restored by
# splicing the new string into the raw bytes; any other spelling takes the general (parsing) path.
# The string allows no raw control character (invalid JSON); its escapes are checked on decoding.
_EOL = rb"(?:\r\n|\r(?!\n)|\n)"
# The inside of a JSON string. Possessive: it can match only one way, so keeping backtracking
# state (sre saves some for every escape) buys nothing; without it a string of a million escapes
# costs no more per byte than a short one.
_STRING_INSIDE = rb'[^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+'
_ANTHROPIC_DELTA = re.compile(
    rb"(event:[^\r\n]*" + _EOL + rb")?"
    rb'data: ?\{"type": ?"content_block_delta", ?"index": ?(0|[1-9][0-9]{0,8}), ?'
    rb'"delta": ?\{"type": ?"(?:(text)_delta", ?"text|input_json_delta", ?"partial_json)": ?"'
    rb"(" + _STRING_INSIDE + rb')"\}\}'
    rb"(" + _EOL + rb")" + _EOL
)
# The same for the OpenAI deltas as the APIs write them. Other members must be plain scalars (no
# escapes), so the whole event is valid JSON by construction and no key repeats a relevant one.
_STR = rb'"(' + _STRING_INSIDE + rb')"'
_SCALAR = rb'(?:"[^"\\\x00-\x1f]*"|-?(?:0|[1-9][0-9]*)|null|true|false)'
_UINT = rb"(0|[1-9][0-9]{0,8})"
_CHAT_DELTA = re.compile(
    rb'data: ?(\{(?:"(?!choices")[a-z_]+": ?' + _SCALAR + rb", ?)*"
    rb'"choices": ?\[\{"index": ?' + _UINT + rb', ?"delta": ?\{(?:"content": ?' + _STR
    + rb'|"tool_calls": ?\[\{"index": ?' + _UINT + rb', ?"function": ?\{"arguments": ?' + _STR
    + rb"\}\}\])\}"
    rb'(?:, ?"logprobs": ?null)?, ?"finish_reason": ?null\}\]'
    rb'(?:, ?"(?!choices")[a-z_]+": ?' + _SCALAR + rb")*\})"
    rb"(" + _EOL + rb")" + _EOL
)
_RESPONSES_DELTA = re.compile(
    rb"(event:[^\r\n]*" + _EOL + rb")?"
    rb'data: ?(\{"type": ?"response\.(?:(output_text)|function_call_arguments)\.delta", ?'
    rb'(?:"sequence_number": ?(?:0|[1-9][0-9]*), ?)?'
    rb'"item_id": ?"([^"\\\x00-\x1f]*)", ?"output_index": ?(?:0|[1-9][0-9]*), ?'
    rb'(?:"content_index": ?' + _UINT + rb", ?)?"
    rb'"delta": ?' + _STR + rb'(?:, ?"logprobs": ?\[\])?'
    rb'(?:, ?"obfuscation": ?"[^"\\\x00-\x1f]*")?\})'
    rb"(" + _EOL + rb")" + _EOL
)


# Events without these bytes have no token and no text that could start one: with nothing held
# they pass unchanged (text ending in "A", "AW" or "AWS" shows as A" etc. in the raw JSON).
# One regex search, not ``in`` tests: ``bytes in bytes`` first tries its operand as an integer,
# and CPython 3.12 formats and clears a TypeError each time (~1.7 k instructions). For the same
# reason the hot paths test bytes with ``find``.
INTEREST = re.compile(rb'A(?:WS_|WS"|W"|")')

_PARTIAL_ENDS = ("A", "AW", "AWS")  # text ending so may be the start of a token
# Keys an event carries for itself alone: a held event merged into the next one loses nothing
# by losing them. String values under _TEXT_KEYS are channel text (moved, not lost).
_PER_EVENT_KEYS = frozenset({"sequence_number", "obfuscation"})
_TEXT_KEYS = frozenset({"text", "partial_json", "content", "arguments", "delta"})
_MISSING = object()


def _decode_string(raw: bytes) -> str | None:
    """The text of a raw JSON string body (no quotes, no raw control character: the callers'
    patterns exclude them); None when it is not valid JSON."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text.find("\\") < 0:
        return text
    # json's own string scanner, without json.loads's encoding sniffing and document checks
    quoted = text + '"'
    try:
        value, end = scanstring(quoted, 0)
    except ValueError:
        return None
    return value if end == len(quoted) else None


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _splice_in(ev: bytes, start: int, end: int, text: str) -> bytes:
    """``ev`` with the JSON string body at ``start:end`` replaced by ``text``."""
    return b"".join((ev[:start], encode_basestring(text)[1:-1].encode("utf-8"), ev[end:]))


def _leaves(v: Any, path: tuple, out: dict) -> None:
    """The informative scalars of a JSON value by path: per-event keys, channel text and empty
    values (null, "", [], {}) say nothing."""
    if isinstance(v, dict):
        for k, x in v.items():
            if k in _PER_EVENT_KEYS or (k in _TEXT_KEYS and isinstance(x, str)):
                continue
            _leaves(x, (*path, k), out)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            _leaves(x, (*path, i), out)
    elif v is not None and v != "":
        out[path] = v


def _says(ev: bytes) -> dict | None:
    """What an event says apart from its text (its name and informative scalars), or None."""
    name = None
    data = []
    for line in ev.splitlines():
        if line.startswith(b"data:"):
            v = line[5:]
            data.append(v[1:] if v.startswith(b" ") else v)
        elif line.startswith(b"event:"):
            name = line[6:].strip()
    try:
        obj = json.loads(b"\n".join(data))
    except ValueError:
        return None
    out: dict = {("event:",): name} if name else {}
    _leaves(obj, (), out)
    return out


def _says_no_more(held: bytes, nxt: bytes) -> bool:
    """Whether ``held`` says nothing (text aside) that ``nxt`` does not say too."""
    a, b = _says(held), _says(nxt)
    return a is not None and b is not None and all(b.get(p, _MISSING) == v for p, v in a.items())


class _Slot:
    """One channel's string in a held event: ``text`` restored so far, ``tail`` held back."""

    __slots__ = ("key", "orig", "put", "table", "tail", "text")

    def __init__(self, key: tuple, text: str, tail: str, table: Table, orig: str,
                 put: Callable[[str], None] | None) -> None:
        self.key, self.text, self.tail, self.table, self.orig, self.put = (
            key, text, tail, table, orig, put)

    def copy(self) -> _Slot:
        return _Slot(self.key, self.text, self.tail, self.table, self.orig, self.put)


class _Held:
    """An event held back: a channel's text in it ends in what may be the start of a token."""

    __slots__ = ("changed", "open", "out", "raw", "render", "slots")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw  # the event as it came
        self.slots: list[_Slot] = []
        self.open = 0  # slots whose tail is still held
        self.changed = False  # the event changed apart from its slots
        self.render: Callable[[list[str]], bytes] | None = None  # slot texts -> the event
        self.out: bytes | None = None  # once settled: what goes out (b"": merged into the next)

    def copy(self) -> _Held:
        c = _Held(self.raw)
        c.slots = [s.copy() for s in self.slots]
        c.open, c.changed, c.render, c.out = self.open, self.changed, self.render, self.out
        return c


def _all(key: tuple) -> bool:
    return True


class EventRestorer:
    def __init__(self, token_map: Mapping[str, str], *, max_bytes: int = 1 << 20) -> None:
        index = TokenIndex(token_map)  # the two tables share their lazily built keys
        self.raw = make_table(index, escape_json=False, binary=False)
        self.js = make_table(index, escape_json=True, binary=False)
        self.restored: dict[str, int] = {}
        self.flags: set[str] = set()
        self._max_bytes = max_bytes
        #: the oldest held event, then every event after it (bytes when settled), in order.
        #: Replaced, never changed in place, so a snapshot (one per event restored) keeps it as
        #: it is without a copy.
        self._queue: list[bytes | _Held] = []
        self._queued = 0  # bytes in the queue
        self._open: dict[tuple, tuple[_Held, int]] = {}  # channel -> its held event and slot
        # while one event is restored:
        self._ev = b""
        self._cur: _Held | None = None  # the event itself, once one of its channels holds
        self._continued: list[_Held] = []  # held events whose channel it continues
        self._final = False

    # -- state for rollback ----------------------------------------------------------------------
    def snapshot(self) -> object:
        if not self._queue:
            return None
        # Only events with an open slot change; settled ones and bytes are kept as they are.
        copies = {id(r): r.copy() for r, _ in self._open.values()}
        return self._queue, self._queued, copies, dict(self._open)

    def restore_snapshot(self, state: object) -> None:
        if state is None:
            self._queue, self._queued, self._open = [], 0, {}
        else:
            queue, self._queued, copies, opened = state  # type: ignore[misc]
            self._queue = [copies.get(id(e), e) for e in queue]
            self._open = {k: (copies[id(r)], i) for k, (r, i) in opened.items()}

    def has_held(self) -> bool:
        return bool(self._queue)

    # -- channels ----------------------------------------------------------------------------------
    def _take(self, key: tuple) -> str:
        """The tail the channel's held event holds, moved out of it (the channel goes on in the
        event being restored); "" when the channel holds nothing."""
        held = self._open.pop(key, None)
        if held is None:
            return ""
        rec, i = held
        slot = rec.slots[i]
        tail, slot.tail = slot.tail, ""
        rec.open -= 1
        self._continued.append(rec)
        return tail

    def _feed(self, key: tuple, text: str, table: Table, put: Callable[[str], None] | None,
              final: bool = False) -> str:
        """One channel step for a string of the event being restored: its new text; the string
        as it is when its end is held (``put`` writes the text once the event is settled)."""
        whole = self._take(key) + text if self._open else text
        new, tail = restore(whole, table, self.restored, final or self._final)
        if not tail:
            return new
        cur = self._cur
        if cur is None:
            cur = self._cur = _Held(self._ev)
        self._open[key] = (cur, len(cur.slots))
        cur.slots.append(_Slot(key, new, tail, table, text, put))
        cur.open += 1
        return text

    def _end(self, pred: Callable[[tuple], bool]) -> None:
        """The channels ``pred`` names have ended: their held events keep their text."""
        for key in [k for k in self._open if pred(k)]:
            rec, i = self._open.pop(key)
            slot = rec.slots[i]
            slot.text += restore(slot.tail, slot.table, self.restored, True)[0]
            slot.tail = ""
            rec.open -= 1
            if rec.open == 0 and rec is not self._cur:
                self._settle(rec, None)

    def _settle(self, rec: _Held, nxt: bytes | None) -> None:
        """What a held event whose every slot is resolved goes out as; ``nxt`` is the event
        that continued its channels last (None: they ended)."""
        if rec.out is not None:
            return
        texts = [s.text for s in rec.slots]
        if not rec.changed and all(s.text == s.orig for s in rec.slots):
            rec.out = rec.raw
        elif nxt is not None and not any(texts) and _says_no_more(rec.raw, nxt):
            rec.out = b""  # merged into the next delta
        else:
            assert rec.render is not None
            rec.out = rec.render(texts)

    def _ready(self) -> bytes:
        """Take the settled events at the head of the queue."""
        q = self._queue
        out = []
        n = 0
        for e in q:
            if isinstance(e, bytes):
                out.append(e)
                self._queued -= len(e)
            elif e.out is not None:
                out.append(e.out)
                self._queued -= len(e.raw)
            else:
                break
            n += 1
        if n:
            self._queue = q[n:]
        return b"".join(out)

    def flush_all(self) -> bytes:
        """Every held channel ends: the queue, in order."""
        if not self._queue:
            return b""
        self._end(_all)
        return self._ready()

    def flush_all_safe(self) -> bytes:
        """The queue with held tails unrestored (used after an internal error)."""
        out = []
        for e in self._queue:
            if isinstance(e, bytes):
                out.append(e)
            elif e.out is not None:
                out.append(e.out)
            else:
                try:
                    assert e.render is not None
                    out.append(e.render([s.text + s.tail for s in e.slots]))
                except Exception:
                    self.flags.add("error")
                    out.append(e.raw)
        self._queue, self._queued, self._open = [], 0, {}
        return b"".join(out)

    # -- one event -------------------------------------------------------------------------------
    def event(self, ev: bytes, final: bool = False) -> bytes:
        """One whole event: what goes out now (the events it settles, itself unless held).
        Never raises and loses nothing: after an internal error the held events go out with
        their tails unrestored, then the event unchanged."""
        if not self._queue and INTEREST.search(ev) is None:
            return ev  # nothing to restore, nothing held: the common case
        saved = self.snapshot()
        self._final = final
        self._ev = ev
        try:
            return self._event(ev)
        except Exception:
            self.flags.add("error")
            self.restore_snapshot(saved)
            return self.flush_all_safe() + ev
        finally:
            self._final = False
            self._ev = b""
            self._cur = None
            self._continued = []

    def _event(self, ev: bytes) -> bytes:
        out: bytes | _Held = self._restore(ev)
        cur = self._cur
        for rec in self._continued:
            if rec.open == 0 and rec is not cur:
                self._settle(rec, ev)
        if cur is not None:
            if cur.open:
                out = cur
            else:  # a channel repeated within the event took its own tail
                self._settle(cur, None)
                out = cur.out  # type: ignore[assignment]
        if not self._queue and isinstance(out, bytes):
            return out
        self._queue = [*self._queue, out]
        self._queued += len(out) if isinstance(out, bytes) else len(ev)
        parts = [self._ready()]
        while len(self._queue) > MAX_QUEUED or self._queued > self._max_bytes:
            head = self._queue[0]  # held: a settled head has gone out
            self._end(lambda k, head=head: self._open[k][0] is head)
            parts.append(self._ready())
        return b"".join(parts)

    def _restore(self, ev: bytes) -> bytes:
        """The event restored, or as it is when one of its channels holds (``self._cur``)."""
        m = _ANTHROPIC_DELTA.fullmatch(ev)
        if m is not None:
            table = self.raw if m.group(3) is not None else self.js
            out = self._splice(ev, m.span(4), ("a", int(m.group(2))), table)
            if out is not None:
                return out
        else:
            out = self._openai_splice(ev)
            if out is not None:
                return out
        lines = ev.splitlines(keepends=True)
        data_idx = []
        values = []
        for idx, line in enumerate(lines):
            if line.startswith(b"data:"):
                data_idx.append(idx)
                v = line[5:].rstrip(b"\r\n")
                values.append(v[1:] if v.startswith(b" ") else v)
        if not data_idx:
            return ev
        data = values[0] if len(values) == 1 else b"\n".join(values)
        if data.strip() == b"[DONE]":
            self._end(_all)
            return ev
        try:
            obj = json.loads(data)
        except ValueError:
            self.flags.add("invalid_event")
            return ev
        if not isinstance(obj, dict):
            return ev
        if "choices" in obj:
            changed = self._chat(obj)
        else:
            t = obj.get("type")
            if not isinstance(t, str):
                return ev
            if t.startswith("response."):
                changed = self._responses(t, obj)
            elif t in _ANTHROPIC:
                changed = self._anthropic(t, obj)
            else:
                return ev
        cur = self._cur
        if cur is not None:
            puts = [s.put for s in cur.slots]

            def render(texts: list[str]) -> bytes:
                for put, text in zip(puts, texts, strict=True):
                    put(text)  # type: ignore[misc]
                return _rewrite(lines, data_idx, obj)

            cur.changed, cur.render = changed, render
            return ev
        return _rewrite(lines, data_idx, obj) if changed else ev

    # -- splicing: a delta as the APIs write it ---------------------------------------------------
    def _splice(self, ev: bytes, span: tuple[int, int], key: tuple, table: Table,
                choice: Any = None) -> bytes | None:
        """One channel step on the JSON string at ``span`` of ``ev``, spliced back in place; None
        (nothing done) when the string is not valid JSON, so the parsing path handles it.
        ``choice``: the chat choice the delta belongs to."""
        start, end = span
        text = _decode_string(ev[start:end])
        if text is None:
            return None
        if key not in self._open and "AWS_" not in text and not text.endswith(_PARTIAL_ENDS):
            if choice is not None and text:
                self._moves_on(choice, key)
            return ev  # nothing held on this channel and nothing that could start a token
        if choice is not None and text:
            self._moves_on(choice, key)
        new = self._feed(key, text, table, None)
        if self._cur is not None:
            self._cur.render = lambda texts: _splice_in(ev, start, end, texts[0])
            return ev
        return ev if new == text else _splice_in(ev, start, end, new)

    def _openai_splice(self, ev: bytes) -> bytes | None:
        """The splice for OpenAI Chat and Responses deltas: the same channel step as ``_chat`` /
        ``_responses``; None when the event is not in the expected spelling."""
        m = _CHAT_DELTA.fullmatch(ev)
        if m is not None:
            if not _ascii_around(ev, m.span(3) if m.group(4) is None else m.span(5)):
                return None
            ci = int(m.group(2))
            if m.group(4) is None:
                return self._splice(ev, m.span(3), ("c", ci), self.raw, ci)
            return self._splice(ev, m.span(5), ("t", ci, int(m.group(4))), self.js, ci)
        m = _RESPONSES_DELTA.fullmatch(ev)
        if m is None or not _ascii_around(ev, m.span(6)):
            return None
        cidx = m.group(5)
        item = m.group(4).decode("ascii")
        if m.group(3) is not None:
            key: tuple = ("rt", item, None if cidx is None else int(cidx))
            return self._splice(ev, m.span(6), key, self.raw)
        return self._splice(ev, m.span(6), ("ra", item), self.js)

    def _moves_on(self, ci: Any, key: tuple) -> None:
        """A chat choice writes one channel at a time: its text on ``key`` ends its others."""
        if self._open:
            self._end(lambda k: k != key and k[0] in ("c", "t") and k[1] == ci)

    # -- whole values (final) -------------------------------------------------------------------
    def _deep(self, v: Any) -> Any:
        """``v`` with every known token restored; the same object when nothing changed."""
        if isinstance(v, str):
            if "AWS_" not in v:
                return v
            return restore(v, self.raw, self.restored, True)[0]
        if isinstance(v, list):
            new = [self._deep(x) for x in v]
            return v if all(a is b for a, b in zip(new, v, strict=True)) else new
        if isinstance(v, dict):
            t = v.get("type")
            if t in _SKIP_TYPES:
                return v
            out = {}
            changed = False
            for k, x in v.items():
                if k in _SKIP_KEYS:
                    y = x
                elif k == "arguments" and t in _JSON_TEXT_TYPES and isinstance(x, str):
                    y = restore(x, self.js, self.restored, True)[0]
                else:
                    y = self._deep(x)
                changed = changed or y is not x
                out[k] = y
            return out if changed else v
        return v

    def _whole(self, obj: dict, key: str) -> bool:
        if key not in obj:
            return False
        new = self._deep(obj[key])
        if new is obj[key]:
            return False
        obj[key] = new
        return True

    # -- Anthropic Messages ---------------------------------------------------------------------
    def _anthropic(self, t: str, obj: dict) -> bool:
        idx = obj.get("index")
        if t == "content_block_delta":
            d = obj.get("delta")
            if not isinstance(d, dict):
                return False
            dt = d.get("type")
            if dt == "text_delta":
                field, table = "text", self.raw
            elif dt == "input_json_delta":
                field, table = "partial_json", self.js
            else:
                return False  # thinking_delta, signature_delta, citations_delta, ...
            return self._set(d, field, ("a", idx), table)
        if t == "content_block_stop":
            self._end(lambda k: k == ("a", idx))
            return False
        if t == "content_block_start":
            cb = obj.get("content_block")
            if not isinstance(cb, dict):
                return False
            if cb.get("type") == "text" and isinstance(cb.get("text"), str) and cb["text"]:
                return self._set(cb, "text", ("a", idx), self.raw)
            return self._whole(obj, "content_block")
        if t == "message_start":
            m = obj.get("message")
            return isinstance(m, dict) and self._whole(m, "content")
        # message_delta, message_stop: every block has ended.
        self._end(lambda k: k[0] == "a")
        return False

    def _set(self, d: dict, field: str, key: tuple, table: Table, final: bool = False) -> bool:
        """One channel step on the string ``d[field]``; whether it changed now."""
        text = d[field]

        def put(v: str) -> None:
            d[field] = v

        new = self._feed(key, text, table, put, final)
        if new == text:
            return False
        d[field] = new
        return True

    # -- OpenAI Chat Completions ----------------------------------------------------------------
    def _chat(self, obj: dict) -> bool:
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return False
        changed = False
        for n, choice in enumerate(choices):
            if not isinstance(choice, dict):
                continue
            ci = choice.get("index", n)
            fin = choice.get("finish_reason") is not None
            d = choice.get("delta")
            if not isinstance(d, dict):
                d = {}
            content = d.get("content")
            if isinstance(content, str):
                if content:
                    self._moves_on(ci, ("c", ci))
                changed = self._set(d, "content", ("c", ci), self.raw, fin) or changed
            calls = d.get("tool_calls")
            for tc in calls if isinstance(calls, list) else ():
                fn = tc.get("function") if isinstance(tc, dict) else None
                args = fn.get("arguments") if isinstance(fn, dict) else None
                if not isinstance(args, str):
                    continue
                key = ("t", ci, tc.get("index"))
                if args:
                    self._moves_on(ci, key)
                changed = self._set(fn, "arguments", key, self.js, fin) or changed  # type: ignore[arg-type]
            if fin:  # channels of this choice not continued in this chunk end here
                self._end(lambda k, ci=ci: k[0] in ("c", "t") and k[1] == ci)
        return changed

    # -- OpenAI Responses -----------------------------------------------------------------------
    def _responses(self, t: str, obj: dict) -> bool:
        item = obj.get("item_id", obj.get("output_index"))
        text_key = ("rt", item, obj.get("content_index"))
        if t == "response.output_text.delta":
            return isinstance(obj.get("delta"), str) and self._set(obj, "delta", text_key, self.raw)
        if t == "response.function_call_arguments.delta":
            return isinstance(obj.get("delta"), str) and self._set(
                obj, "delta", ("ra", item), self.js)
        if t == "response.output_text.done":
            self._end(lambda k: k == text_key)
            return self._final_text(obj, "text", self.raw)
        if t == "response.function_call_arguments.done":
            self._end(lambda k: k == ("ra", item))
            return self._final_text(obj, "arguments", self.js)
        if t == "response.content_part.done":
            self._end(lambda k: k == text_key)
            return self._whole(obj, "part")
        if t == "response.output_item.done":
            it = obj.get("item")
            iid = it.get("id", item) if isinstance(it, dict) else item
            self._end(lambda k: k[0] in ("rt", "ra") and k[1] in (iid, item))
            return self._whole(obj, "item")
        if t in _RESPONSES_FINAL:
            self._end(lambda k: k[0] in ("rt", "ra"))
            return self._whole(obj, "response")
        if t in _RESPONSES_WHOLE:
            return any([self._whole(obj, k) for k in ("response", "item", "part")])
        return False

    def _final_text(self, obj: dict, field: str, table: Table) -> bool:
        text = obj.get(field)
        if not isinstance(text, str) or "AWS_" not in text:
            return False
        new = restore(text, table, self.restored, True)[0]
        obj[field] = new
        return new != text


def _ascii_around(ev: bytes, span: tuple[int, int]) -> bool:
    """Whether ``ev`` is ASCII outside ``span`` (other strings might not be valid UTF-8: the
    parsing path decides)."""
    return ev.isascii() or (ev[: span[0]].isascii() and ev[span[1] :].isascii())


def _rewrite(lines: list[bytes], data_idx: list[int], obj: dict) -> bytes:
    """The event with ``obj`` as one data line in place of the first, other lines unchanged.
    An event cut off at the end of the stream (no line end after its last line) stays so: the
    new data line gets no line end when nothing follows it."""
    first = lines[data_idx[0]]
    eol = first[len(first.rstrip(b"\r\n")) :] or b"\n"
    head = b"data: " if first.startswith(b"data: ") else b"data:"
    last = len(lines) - 1
    if not lines[last].endswith((b"\n", b"\r")) and all(
        idx in data_idx for idx in range(data_idx[0], last + 1)
    ):
        eol = b""
    parts = []
    for idx, line in enumerate(lines):
        if idx == data_idx[0]:
            parts.append(head + _dumps(obj) + eol)
        elif idx not in data_idx:
            parts.append(line)
    return b"".join(parts)
