"""Per-event restore for SSE replies of three APIs, detected from each event's JSON.

* Anthropic Messages: ``text_delta`` (text) and ``input_json_delta`` (``partial_json``, pieces of a
  JSON document: replacements are JSON-escaped) per content block; thinking, signatures and
  redacted thinking are never touched.
* OpenAI Chat Completions: ``choices[].delta.content`` and ``choices[].delta.tool_calls[].function
  .arguments`` per choice and tool-call index; ``data: [DONE]``.
* OpenAI Responses: ``response.output_text.delta`` / ``response.function_call_arguments.delta``;
  the ``*.done``, ``response.output_item.done`` and ``response.completed`` events that repeat the
  full text are restored whole.

Each text channel holds back only a suffix that could still grow into a token; the held text is
emitted in the channel's next delta, or as an extra delta event placed before the event that ends
the channel. Events with nothing to change are returned byte-identical.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from json.decoder import scanstring
from json.encoder import encode_basestring
from typing import Any, NamedTuple

from awsmasker.restore.core import Table, TokenIndex, make_table, restore

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
_TEXT_DELTA = ("text_delta", "text")
_JSON_DELTA = ("input_json_delta", "partial_json")


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


class _Shape(NamedTuple):
    """How an event was framed, to write a changed or an extra event the same way."""

    named: bool  # has an "event:" line
    eol: bytes


class _Channel(NamedTuple):
    held: str
    table: Table
    make: Callable[[str], bytes]  # flushed text -> a complete delta event


class EventRestorer:
    def __init__(self, token_map: Mapping[str, str]) -> None:
        index = TokenIndex(token_map)  # the two tables share their lazily built keys
        self.raw = make_table(index, escape_json=False, binary=False)
        self.js = make_table(index, escape_json=True, binary=False)
        self.restored: dict[str, int] = {}
        self.flags: set[str] = set()
        self._ch: dict[tuple, _Channel] = {}
        self._makers: dict[tuple, Callable[[str], bytes]] = {}  # for _anthropic_splice
        self._final = False

    # -- state for StreamRestore's rollback ----------------------------------------------------
    def snapshot(self) -> object:
        return dict(self._ch) if self._ch else None

    def restore_snapshot(self, state: object) -> None:
        self._ch = dict(state) if state else {}  # type: ignore[call-overload]

    def has_held(self) -> bool:
        return bool(self._ch)

    # -- channels -------------------------------------------------------------------------------
    def _feed(
        self,
        key: tuple,
        text: str,
        table: Table,
        final: bool,
        make: Callable[[], Callable[[str], bytes]],
    ) -> str:
        ch = self._ch.pop(key, None)
        if ch is not None:
            text = ch.held + text
        out, held = restore(text, table, self.restored, final or self._final)
        if held:
            self._ch[key] = _Channel(held, table, make())
        return out

    def _flush(self, pred: Callable[[tuple], bool]) -> bytes:
        out = []
        for key in [k for k in self._ch if pred(k)]:
            ch = self._ch.pop(key)
            text, _ = restore(ch.held, ch.table, self.restored, True)
            out.append(ch.make(text))
        return b"".join(out)

    def flush_all(self) -> bytes:
        return self._flush(lambda k: True)

    def flush_all_safe(self) -> bytes:
        """Held text as extra events without restoring it (used after an internal error)."""
        out = []
        for ch in self._ch.values():
            try:
                out.append(ch.make(ch.held))
            except Exception:
                self.flags.add("error")
        self._ch = {}
        return b"".join(out)

    # -- one event ------------------------------------------------------------------------------
    def event(self, ev: bytes, final: bool = False) -> bytes:
        """One whole event, restored. Never raises and loses nothing: after an internal error
        the text the channels held before it goes out unrestored, then the event unchanged."""
        if not self._ch and INTEREST.search(ev) is None:
            return ev  # nothing to restore, nothing held: the common case
        saved = self.snapshot()
        self._final = final
        try:
            return self._event(ev)
        except Exception:
            self.flags.add("error")
            self.restore_snapshot(saved)
            return self.flush_all_safe() + ev
        finally:
            self._final = False

    def _anthropic_splice(self, ev: bytes, m: re.Match[bytes], final: bool) -> bytes | None:
        """Restore a matched Anthropic delta by splicing its new string into the raw bytes.

        The same channel step as ``_anthropic`` on the parsed event (inlined: this is the hot
        path); None (nothing changed yet) when the string is not valid JSON, so the general path
        handles (and flags) it.
        """
        named, index, text_kind, raw, eol = m.groups()
        text = _decode_string(raw)
        if text is None:
            return None
        idx = int(index)
        key = ("a", idx)
        ch = self._ch.pop(key, None)
        if ch is None:
            if "AWS_" not in text and not text.endswith(_PARTIAL_ENDS):
                return ev  # nothing held on this channel and nothing that could start a token
            whole = text
        else:
            whole = ch.held + text
        is_text = text_kind is not None
        table = self.raw if is_text else self.js
        new, held = restore(whole, table, self.restored, final)
        if held:
            mkey = (idx, is_text, named is not None, eol)
            make = self._makers.get(mkey)
            if make is None:
                dt, field = _TEXT_DELTA if is_text else _JSON_DELTA
                make = self._anthropic_maker(idx, dt, field, _Shape(mkey[2], mkey[3]))
                if len(self._makers) < 64:  # a handful of blocks per reply; stay bounded
                    self._makers[mkey] = make
            self._ch[key] = _Channel(held, table, make)
        if new == text:
            return ev
        start, end = m.span(4)
        return b"".join((ev[:start], encode_basestring(new)[1:-1].encode("utf-8"), ev[end:]))

    def _openai_splice(self, ev: bytes) -> bytes | None:
        """Splice fast path for OpenAI Chat and Responses deltas: the same channel step as
        ``_chat`` / ``_responses_delta``; None when the event is not in the expected spelling."""
        m = _CHAT_DELTA.fullmatch(ev)
        if m is not None:
            ci = int(m.group(2))
            ti = None if m.group(4) is None else int(m.group(4))
            shape = _Shape(False, m.group(6))

            def chat_maker() -> Callable[[str], bytes]:
                obj = json.loads(m.group(1))
                meta = {k: v for k, v in obj.items() if k not in ("choices", "usage")}
                return self._chat_maker(meta, ci, ti, shape)

            if ti is None:
                return self._splice(ev, m.span(3), ("c", ci), self.raw, chat_maker)
            return self._splice(ev, m.span(5), ("t", ci, ti), self.js, chat_maker)
        m = _RESPONSES_DELTA.fullmatch(ev)
        if m is None:
            return None
        text, cidx = m.group(3) is not None, m.group(5)
        item = m.group(4).decode("latin-1")  # used only when the event is ASCII (see _splice)
        shape = _Shape(m.group(1) is not None, m.group(7))
        if text:
            key: tuple = ("rt", item, None if cidx is None else int(cidx))
        else:
            key = ("ra", item)

        def responses_maker() -> Callable[[str], bytes]:
            obj = json.loads(m.group(2))
            return self._responses_maker(obj, obj["type"], shape)

        return self._splice(ev, m.span(6), key, self.raw if text else self.js, responses_maker)

    def _splice(
        self,
        ev: bytes,
        span: tuple[int, int],
        key: tuple,
        table: Table,
        maker: Callable[[], Callable[[str], bytes]],
    ) -> bytes | None:
        """One channel step on the JSON string at ``span`` of ``ev``, spliced back in place."""
        start, end = span
        if not (ev.isascii() or (ev[:start].isascii() and ev[end:].isascii())):
            return None  # other strings might not be valid UTF-8: let the parser decide
        text = _decode_string(ev[start:end])
        if text is None:
            return None
        ch = self._ch.pop(key, None)
        if ch is None:
            if "AWS_" not in text and not text.endswith(_PARTIAL_ENDS):
                return ev
            whole = text
        else:
            whole = ch.held + text
        new, held = restore(whole, table, self.restored, self._final)
        if held:
            self._ch[key] = _Channel(held, table, maker())
        if new == text:
            return ev
        return b"".join((ev[:start], encode_basestring(new)[1:-1].encode("utf-8"), ev[end:]))

    def _event(self, ev: bytes) -> bytes:
        m = _ANTHROPIC_DELTA.fullmatch(ev)
        if m is not None:
            out = self._anthropic_splice(ev, m, self._final)
            if out is not None:
                return out
        else:
            out = self._openai_splice(ev)
            if out is not None:
                return out
        lines = ev.splitlines(keepends=True)
        data_idx = []
        values = []
        named = False
        for idx, line in enumerate(lines):
            if line.startswith(b"data:"):
                data_idx.append(idx)
                v = line[5:].rstrip(b"\r\n")
                values.append(v[1:] if v.startswith(b" ") else v)
            elif line.startswith(b"event:"):
                named = True
        if not data_idx:
            return ev
        data = values[0] if len(values) == 1 else b"\n".join(values)
        first = lines[data_idx[0]]
        eol = first[len(first.rstrip(b"\r\n")) :] or b"\n"
        shape = _Shape(named, eol)
        if data.strip() == b"[DONE]":
            return self.flush_all() + ev
        try:
            obj = json.loads(data)
        except ValueError:
            self.flags.add("invalid_event")
            return ev
        if not isinstance(obj, dict):
            return ev
        if "choices" in obj:
            prefix, changed = self._chat(obj, shape)
        else:
            t = obj.get("type")
            if not isinstance(t, str):
                return ev
            if t.startswith("response."):
                prefix, changed = self._responses(t, obj, shape)
            elif t in _ANTHROPIC:
                prefix, changed = self._anthropic(t, obj, shape)
            else:
                return ev
        if not changed:
            return prefix + ev if prefix else ev
        # Re-serialise: one data line in place of the first, other lines unchanged.
        # An event cut off at the end of the stream (no line end after its last line) stays so:
        # the new data line gets no line end when nothing follows it.
        head = b"data: " if first.startswith(b"data: ") else b"data:"
        parts = [prefix]
        last = len(lines) - 1
        if not lines[last].endswith((b"\n", b"\r")) and all(
            idx in data_idx for idx in range(data_idx[0], last + 1)
        ):
            eol = b""
        for idx, line in enumerate(lines):
            if idx == data_idx[0]:
                parts.append(head + _dumps(obj) + eol)
            elif idx not in data_idx:
                parts.append(line)
        return b"".join(parts)

    @staticmethod
    def _make_event(name: str, shape: _Shape, obj: dict) -> bytes:
        head = b"event: " + name.encode() + shape.eol if shape.named else b""
        return head + b"data: " + _dumps(obj) + shape.eol + shape.eol

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
    def _anthropic(self, t: str, obj: dict, shape: _Shape) -> tuple[bytes, bool]:
        idx = obj.get("index")
        if t == "content_block_delta":
            d = obj.get("delta")
            if not isinstance(d, dict):
                return b"", False
            dt = d.get("type")
            if dt == "text_delta":
                field, table = "text", self.raw
            elif dt == "input_json_delta":
                field, table = "partial_json", self.js
            else:
                return b"", False  # thinking_delta, signature_delta, citations_delta, ...
            text = d.get(field)
            if not isinstance(text, str):
                return b"", False
            new = self._feed(
                ("a", idx), text, table, False, lambda: self._anthropic_maker(idx, dt, field, shape)
            )
            if new == text:
                return b"", False
            d[field] = new
            return b"", True
        if t == "content_block_stop":
            return self._flush(lambda k: k == ("a", idx)), False
        if t == "content_block_start":
            cb = obj.get("content_block")
            if not isinstance(cb, dict):
                return b"", False
            if cb.get("type") == "text" and isinstance(cb.get("text"), str) and cb["text"]:
                text = cb["text"]
                new = self._feed(
                    ("a", idx),
                    text,
                    self.raw,
                    False,
                    lambda: self._anthropic_maker(idx, "text_delta", "text", shape),
                )
                cb["text"] = new
                return b"", new != text
            return b"", self._whole(obj, "content_block")
        if t == "message_start":
            m = obj.get("message")
            return b"", isinstance(m, dict) and self._whole(m, "content")
        # message_delta, message_stop: every block has ended.
        return self._flush(lambda k: k[0] == "a"), False

    def _anthropic_maker(self, idx: Any, dt: str, field: str, shape: _Shape):
        def make(text: str) -> bytes:
            obj = {"type": "content_block_delta", "index": idx, "delta": {"type": dt, field: text}}
            return self._make_event("content_block_delta", shape, obj)

        return make

    # -- OpenAI Chat Completions ----------------------------------------------------------------
    def _chat(self, obj: dict, shape: _Shape) -> tuple[bytes, bool]:
        choices = obj.get("choices")
        if not isinstance(choices, list):
            return b"", False
        meta = {k: v for k, v in obj.items() if k not in ("choices", "usage")}
        prefix = []
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
                key = ("c", ci)
                new = self._feed(
                    key,
                    content,
                    self.raw,
                    fin,
                    lambda ci=ci: self._chat_maker(meta, ci, None, shape),
                )
                if new != content:
                    d["content"] = new
                    changed = True
            calls = d.get("tool_calls")
            for tc in calls if isinstance(calls, list) else ():
                fn = tc.get("function") if isinstance(tc, dict) else None
                args = fn.get("arguments") if isinstance(fn, dict) else None
                if not isinstance(args, str):
                    continue
                ti = tc.get("index")
                new = self._feed(
                    ("t", ci, ti),
                    args,
                    self.js,
                    fin,
                    lambda ci=ci, ti=ti: self._chat_maker(meta, ci, ti, shape),
                )
                if new != args:
                    fn["arguments"] = new
                    changed = True
            if fin:  # channels of this choice not continued in this chunk end here
                prefix.append(self._flush(lambda k, ci=ci: k[0] in ("c", "t") and k[1] == ci))
        return b"".join(prefix), changed

    def _chat_maker(self, meta: dict, ci: Any, ti: Any, shape: _Shape):
        def make(text: str) -> bytes:
            if ti is None:
                delta: dict = {"content": text}
            else:
                delta = {"tool_calls": [{"index": ti, "function": {"arguments": text}}]}
            obj = dict(meta)
            obj["choices"] = [{"index": ci, "delta": delta, "finish_reason": None}]
            return self._make_event("", shape._replace(named=False), obj)

        return make

    # -- OpenAI Responses -----------------------------------------------------------------------
    def _responses(self, t: str, obj: dict, shape: _Shape) -> tuple[bytes, bool]:
        item = obj.get("item_id", obj.get("output_index"))
        if t == "response.output_text.delta":
            return self._responses_delta(
                ("rt", item, obj.get("content_index")), obj, self.raw, t, shape
            )
        if t == "response.function_call_arguments.delta":
            return self._responses_delta(("ra", item), obj, self.js, t, shape)
        if t == "response.output_text.done":
            prefix = self._flush(lambda k: k == ("rt", item, obj.get("content_index")))
            return prefix, self._final_text(obj, "text", self.raw)
        if t == "response.function_call_arguments.done":
            prefix = self._flush(lambda k: k == ("ra", item))
            return prefix, self._final_text(obj, "arguments", self.js)
        if t == "response.content_part.done":
            prefix = self._flush(lambda k: k == ("rt", item, obj.get("content_index")))
            return prefix, self._whole(obj, "part")
        if t == "response.output_item.done":
            it = obj.get("item")
            iid = it.get("id", item) if isinstance(it, dict) else item
            prefix = self._flush(lambda k: k[0] in ("rt", "ra") and k[1] in (iid, item))
            return prefix, self._whole(obj, "item")
        if t in _RESPONSES_FINAL:
            prefix = self._flush(lambda k: k[0] in ("rt", "ra"))
            return prefix, self._whole(obj, "response")
        if t in _RESPONSES_WHOLE:
            return b"", any([self._whole(obj, k) for k in ("response", "item", "part")])
        return b"", False

    def _responses_delta(
        self, key: tuple, obj: dict, table: Table, t: str, shape: _Shape
    ) -> tuple[bytes, bool]:
        text = obj.get("delta")
        if not isinstance(text, str):
            return b"", False

        new = self._feed(key, text, table, False, lambda: self._responses_maker(obj, t, shape))
        if new == text:
            return b"", False
        obj["delta"] = new
        return b"", True

    def _responses_maker(self, obj: dict, t: str, shape: _Shape) -> Callable[[str], bytes]:
        template = dict(obj)

        def make(held: str) -> bytes:
            ev = dict(template)
            ev["delta"] = held
            return self._make_event(t, shape, ev)

        return make

    def _final_text(self, obj: dict, field: str, table: Table) -> bool:
        text = obj.get(field)
        if not isinstance(text, str) or "AWS_" not in text:
            return False
        new = restore(text, table, self.restored, True)[0]
        obj[field] = new
        return new != text
