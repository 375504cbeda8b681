"""Where three APIs put model text in their SSE events, and how an event is rewritten.

* Anthropic Messages: ``text_delta`` (text) and ``input_json_delta`` (``partial_json``, pieces of a
  JSON document: replacements are JSON-escaped) per content block; thinking, signatures and
  redacted thinking are never touched.
* OpenAI Chat Completions: ``choices[].delta.content`` and ``choices[].delta.tool_calls[].function
  .arguments`` per choice and tool-call index; ``data: [DONE]``.
* OpenAI Responses: ``response.output_text.delta`` / ``response.function_call_arguments.delta``;
  the ``*.done``, ``response.output_item.done`` and ``response.completed`` events that repeat the
  full text are restored whole.

Two ways to one channel step, chosen per event: a delta spelled as its API writes it (one of
:data:`SPLICES`) has its string decoded and the new one spliced back into the raw bytes, so every
other byte stays as the model sent it; any other event is parsed, handed to the handler for its
type (:data:`HANDLERS`) and, if it changed, written again as one compact data line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from json.decoder import scanstring
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, Any

from awsmasker.restore.core import Table, restore

if TYPE_CHECKING:
    from awsmasker.restore.events import EventRestorer

_PARTIAL_ENDS = ("A", "AW", "AWS")  # text ending so may be the start of a token
# Never restored: signed or encrypted model reasoning, opaque blobs.
_SKIP_TYPES = frozenset({"thinking", "redacted_thinking", "reasoning"})
_SKIP_KEYS = frozenset({"signature", "encrypted_content", "data", "thinking"})
_JSON_TEXT_TYPES = frozenset({"function_call", "mcp_call"})  # their "arguments" is JSON text

# -- the deltas as the APIs write them --------------------------------------------------------
# Compact, or with a space after ":" and ","; an optional "event:" line, one data line, the blank
# line. The string allows no raw control character (invalid JSON); its escapes are checked on
# decoding. Other members must be plain scalars (no escapes), so the whole event is valid JSON by
# construction and no key repeats a relevant one.
_EOL = rb"(?:\r\n|\r(?!\n)|\n)"
# The inside of a JSON string. Possessive: it can match only one way, so no backtracking state
# is kept per escape, and a string of a million escapes is matched in linear time and memory.
_STRING_INSIDE = rb'[^"\\\x00-\x1f]*+(?:\\.[^"\\\x00-\x1f]*+)*+'
_STR = rb'"(' + _STRING_INSIDE + rb')"'
_SCALAR = rb'(?:"[^"\\\x00-\x1f]*"|-?(?:0|[1-9][0-9]*)|null|true|false)'
_UINT = rb"(0|[1-9][0-9]{0,8})"
ANTHROPIC_DELTA = re.compile(
    rb"(event:[^\r\n]*" + _EOL + rb")?"
    rb'data: ?\{"type": ?"content_block_delta", ?"index": ?(0|[1-9][0-9]{0,8}), ?'
    rb'"delta": ?\{"type": ?"(?:(text)_delta", ?"text|input_json_delta", ?"partial_json)": ?"'
    rb"(" + _STRING_INSIDE + rb')"\}\}'
    rb"(" + _EOL + rb")" + _EOL
)
CHAT_DELTA = re.compile(
    rb'data: ?(\{(?:"(?!choices")[a-z_]+": ?' + _SCALAR + rb", ?)*"
    rb'"choices": ?\[\{"index": ?' + _UINT + rb', ?"delta": ?\{(?:"content": ?' + _STR
    + rb'|"tool_calls": ?\[\{"index": ?' + _UINT + rb', ?"function": ?\{"arguments": ?' + _STR
    + rb"\}\}\])\}"
    rb'(?:, ?"logprobs": ?null)?, ?"finish_reason": ?null\}\]'
    rb'(?:, ?"(?!choices")[a-z_]+": ?' + _SCALAR + rb")*\})"
    rb"(" + _EOL + rb")" + _EOL
)
RESPONSES_DELTA = re.compile(
    rb"(event:[^\r\n]*" + _EOL + rb")?"
    rb'data: ?(\{"type": ?"response\.(?:(output_text)|function_call_arguments)\.delta", ?'
    rb'(?:"sequence_number": ?(?:0|[1-9][0-9]*), ?)?'
    rb'"item_id": ?"([^"\\\x00-\x1f]*)", ?"output_index": ?(?:0|[1-9][0-9]*), ?'
    rb'(?:"content_index": ?' + _UINT + rb", ?)?"
    rb'"delta": ?' + _STR + rb'(?:, ?"logprobs": ?\[\])?'
    rb'(?:, ?"obfuscation": ?"[^"\\\x00-\x1f]*")?\})'
    rb"(" + _EOL + rb")" + _EOL
)


def restore_event(r: EventRestorer, ev: bytes) -> bytes:
    """``ev`` restored by ``r``, or as it is when one of its channels holds (``r.held``)."""
    for pattern, splice in SPLICES:
        m = pattern.fullmatch(ev)
        if m is not None:
            out = splice(r, ev, m)
            if out is not None:
                return out
            break  # not valid as spelled: the parsing path decides
    return _parsed(r, ev)


# -- splicing ---------------------------------------------------------------------------------
def _splice(r: EventRestorer, ev: bytes, span: tuple[int, int], key: tuple, table: Table,
            choice: Any = None) -> bytes | None:
    """One channel step on the JSON string at ``span`` of ``ev``, spliced back in place; None
    (nothing done) when the string is not valid JSON. ``choice``: the chat choice the delta
    belongs to."""
    start, end = span
    text = decode_string(ev[start:end])
    if text is None:
        return None
    if choice is not None and text:
        r.moves_on(choice, key)
    if not r.holds(key) and "AWS_" not in text and not text.endswith(_PARTIAL_ENDS):
        return ev  # nothing held on this channel and nothing that could start a token
    new = r.step(key, text, table, None)
    held = r.held
    if held is not None:
        held.render = lambda texts: _splice_in(ev, start, end, texts[0])
        return ev
    return ev if new == text else _splice_in(ev, start, end, new)


def _anthropic_delta(r: EventRestorer, ev: bytes, m: re.Match[bytes]) -> bytes | None:
    table = r.raw if m.group(3) is not None else r.js
    return _splice(r, ev, m.span(4), ("a", int(m.group(2))), table)


def _chat_delta(r: EventRestorer, ev: bytes, m: re.Match[bytes]) -> bytes | None:
    span = m.span(3) if m.group(4) is None else m.span(5)
    if not _ascii_around(ev, span):
        return None
    ci = int(m.group(2))
    if m.group(4) is None:
        return _splice(r, ev, span, ("c", ci), r.raw, ci)
    return _splice(r, ev, span, ("t", ci, int(m.group(4))), r.js, ci)


def _responses_delta(r: EventRestorer, ev: bytes, m: re.Match[bytes]) -> bytes | None:
    if not _ascii_around(ev, m.span(6)):
        return None
    item = m.group(4).decode("ascii")
    if m.group(3) is None:
        return _splice(r, ev, m.span(6), ("ra", item), r.js)
    cidx = m.group(5)
    key = ("rt", item, None if cidx is None else int(cidx))
    return _splice(r, ev, m.span(6), key, r.raw)


#: The deltas spelled as each API writes them, with their splice. At most one pattern matches an
#: event (each names a different first member or ``choices``).
SPLICES: tuple[tuple[re.Pattern[bytes], Callable[..., bytes | None]], ...] = (
    (ANTHROPIC_DELTA, _anthropic_delta),
    (CHAT_DELTA, _chat_delta),
    (RESPONSES_DELTA, _responses_delta),
)


def _ascii_around(ev: bytes, span: tuple[int, int]) -> bool:
    """Whether ``ev`` is ASCII outside ``span`` (other strings might not be valid UTF-8: the
    parsing path decides)."""
    return ev.isascii() or (ev[: span[0]].isascii() and ev[span[1] :].isascii())


def decode_string(raw: bytes) -> str | None:
    """The text of a raw JSON string body (no quotes, no raw control character: the splice
    patterns exclude them); None when it is not valid JSON (what ``json.loads`` of it quoted
    rejects)."""
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


def _splice_in(ev: bytes, start: int, end: int, text: str) -> bytes:
    """``ev`` with the JSON string body at ``start:end`` replaced by ``text``."""
    return b"".join((ev[:start], encode_basestring(text)[1:-1].encode("utf-8"), ev[end:]))


# -- parsing ----------------------------------------------------------------------------------
def _parsed(r: EventRestorer, ev: bytes) -> bytes:
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
        r.end(lambda k: True)
        return ev
    try:
        obj = json.loads(data)
    except ValueError:
        r.flags.add("invalid_event")
        return ev
    if not isinstance(obj, dict):
        return ev
    if "choices" in obj:
        changed = _chat(r, obj)
    else:
        t = obj.get("type")
        handler = HANDLERS.get(t) if isinstance(t, str) else None
        if handler is None:
            return ev
        changed = handler(r, obj)
    held = r.held
    if held is not None:
        puts = [s.put for s in held.slots]

        def render(texts: list[str]) -> bytes:
            for put, text in zip(puts, texts, strict=True):
                put(text)  # type: ignore[misc]
            return _rewrite(lines, data_idx, obj)

        held.changed, held.render = changed, render
        return ev
    return _rewrite(lines, data_idx, obj) if changed else ev


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
    dumped = json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    for idx, line in enumerate(lines):
        if idx == data_idx[0]:
            parts.append(head + dumped + eol)
        elif idx not in data_idx:
            parts.append(line)
    return b"".join(parts)


def _set(r: EventRestorer, d: dict, field: str, key: tuple, table: Table,
         final: bool = False) -> bool:
    """One channel step on the string ``d[field]``; whether it changed now."""
    text = d[field]

    def put(v: str) -> None:
        d[field] = v

    new = r.step(key, text, table, put, final)
    if new == text:
        return False
    d[field] = new
    return True


def _deep(r: EventRestorer, v: Any) -> Any:
    """``v`` with every known token restored; the same object when nothing changed."""
    if isinstance(v, str):
        if "AWS_" not in v:
            return v
        return restore(v, r.raw, r.restored, True)[0]
    if isinstance(v, list):
        new = [_deep(r, x) for x in v]
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
                y = restore(x, r.js, r.restored, True)[0]
            else:
                y = _deep(r, x)
            changed = changed or y is not x
            out[k] = y
        return out if changed else v
    return v


def _whole(r: EventRestorer, obj: dict, key: str) -> bool:
    """``obj[key]`` restored whole (a value that repeats text the deltas carried)."""
    if key not in obj:
        return False
    new = _deep(r, obj[key])
    if new is obj[key]:
        return False
    obj[key] = new
    return True


def _final_text(r: EventRestorer, obj: dict, field: str, table: Table) -> bool:
    text = obj.get(field)
    if not isinstance(text, str) or "AWS_" not in text:
        return False
    new = restore(text, table, r.restored, True)[0]
    obj[field] = new
    return new != text


# -- Anthropic Messages -----------------------------------------------------------------------
def _block_delta(r: EventRestorer, obj: dict) -> bool:
    d = obj.get("delta")
    if not isinstance(d, dict):
        return False
    dt = d.get("type")
    if dt == "text_delta":
        return _set(r, d, "text", ("a", obj.get("index")), r.raw)
    if dt == "input_json_delta":
        return _set(r, d, "partial_json", ("a", obj.get("index")), r.js)
    return False  # thinking_delta, signature_delta, citations_delta, ...


def _block_start(r: EventRestorer, obj: dict) -> bool:
    cb = obj.get("content_block")
    if not isinstance(cb, dict):
        return False
    if cb.get("type") == "text" and isinstance(cb.get("text"), str) and cb["text"]:
        return _set(r, cb, "text", ("a", obj.get("index")), r.raw)
    return _whole(r, obj, "content_block")


def _block_stop(r: EventRestorer, obj: dict) -> bool:
    key = ("a", obj.get("index"))
    r.end(lambda k: k == key)
    return False


def _message_start(r: EventRestorer, obj: dict) -> bool:
    m = obj.get("message")
    return isinstance(m, dict) and _whole(r, m, "content")


def _message_end(r: EventRestorer, obj: dict) -> bool:
    r.end(lambda k: k[0] == "a")  # every block has ended
    return False


# -- OpenAI Chat Completions ------------------------------------------------------------------
def _chat(r: EventRestorer, obj: dict) -> bool:
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
                r.moves_on(ci, ("c", ci))
            changed = _set(r, d, "content", ("c", ci), r.raw, fin) or changed
        calls = d.get("tool_calls")
        for tc in calls if isinstance(calls, list) else ():
            fn = tc.get("function") if isinstance(tc, dict) else None
            args = fn.get("arguments") if isinstance(fn, dict) else None
            if not isinstance(args, str):
                continue
            key = ("t", ci, tc.get("index"))
            if args:
                r.moves_on(ci, key)
            changed = _set(r, fn, "arguments", key, r.js, fin) or changed  # type: ignore[arg-type]
        if fin:  # channels of this choice not continued in this chunk end here
            r.end(lambda k, ci=ci: k[0] in ("c", "t") and k[1] == ci)
    return changed


# -- OpenAI Responses -------------------------------------------------------------------------
def _item(obj: dict) -> Any:
    return obj.get("item_id", obj.get("output_index"))


def _text_key(obj: dict) -> tuple:
    return ("rt", _item(obj), obj.get("content_index"))


def _text_delta(r: EventRestorer, obj: dict) -> bool:
    return isinstance(obj.get("delta"), str) and _set(r, obj, "delta", _text_key(obj), r.raw)


def _arguments_delta(r: EventRestorer, obj: dict) -> bool:
    return isinstance(obj.get("delta"), str) and _set(r, obj, "delta", ("ra", _item(obj)), r.js)


def _text_done(r: EventRestorer, obj: dict) -> bool:
    key = _text_key(obj)
    r.end(lambda k: k == key)
    return _final_text(r, obj, "text", r.raw)


def _arguments_done(r: EventRestorer, obj: dict) -> bool:
    key = ("ra", _item(obj))
    r.end(lambda k: k == key)
    return _final_text(r, obj, "arguments", r.js)


def _part_done(r: EventRestorer, obj: dict) -> bool:
    key = _text_key(obj)
    r.end(lambda k: k == key)
    return _whole(r, obj, "part")


def _item_done(r: EventRestorer, obj: dict) -> bool:
    item = _item(obj)
    it = obj.get("item")
    iid = it.get("id", item) if isinstance(it, dict) else item
    r.end(lambda k: k[0] in ("rt", "ra") and k[1] in (iid, item))
    return _whole(r, obj, "item")


def _response_done(r: EventRestorer, obj: dict) -> bool:
    r.end(lambda k: k[0] in ("rt", "ra"))
    return _whole(r, obj, "response")


def _repeats_text(r: EventRestorer, obj: dict) -> bool:
    return any([_whole(r, obj, k) for k in ("response", "item", "part")])


#: The parsed events that carry or end a channel's text, by ``type`` (chat chunks have none: they
#: are recognised by their ``choices``); events of other types pass as they are.
HANDLERS: dict[str, Callable[[EventRestorer, dict], bool]] = {
    "content_block_delta": _block_delta,
    "content_block_start": _block_start,
    "content_block_stop": _block_stop,
    "message_start": _message_start,
    "message_delta": _message_end,
    "message_stop": _message_end,
    "response.output_text.delta": _text_delta,
    "response.function_call_arguments.delta": _arguments_delta,
    "response.output_text.done": _text_done,
    "response.function_call_arguments.done": _arguments_done,
    "response.content_part.done": _part_done,
    "response.output_item.done": _item_done,
    "response.completed": _response_done,
    "response.incomplete": _response_done,
    "response.failed": _response_done,
    "response.created": _repeats_text,
    "response.in_progress": _repeats_text,
    "response.output_item.added": _repeats_text,
    "response.content_part.added": _repeats_text,
}
