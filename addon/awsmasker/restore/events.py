"""Per-event restore for SSE replies: channels, held events and the order they go out in.

:class:`EventRestorer` takes one whole SSE event at a time (from :mod:`.sse`, or an event-stream
frame's event from :mod:`.eventstream`). Where the text is in an event, per API, is
:mod:`.apis`'s; this module keeps each channel's carry (a token may be cut across deltas) and
the queue of events waiting behind a held one.

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
from typing import Any

from awsmasker.restore.apis import restore_event
from awsmasker.restore.core import Table, TokenIndex, make_table, restore

#: Events that may wait behind a held one (see the module docstring).
MAX_QUEUED = 64

# Events without these bytes have no token and no text that could start one: with nothing held
# they pass unchanged (text ending in "A", "AW" or "AWS" shows as A" etc. in the raw JSON).
# A regex search, not ``in`` tests: ``bytes in bytes`` first tries its operand as an integer and
# raises and clears a TypeError each time; for the same reason bytes are tested with ``find``.
INTEREST = re.compile(rb'A(?:WS_|WS"|W"|")')

# Keys an event carries for itself alone: a held event merged into the next one loses nothing
# by losing them. String values under _TEXT_KEYS are channel text (moved, not lost).
_PER_EVENT_KEYS = frozenset({"sequence_number", "obfuscation"})
_TEXT_KEYS = frozenset({"text", "partial_json", "content", "arguments", "delta"})
_MISSING = object()


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

    # -- channels: what apis.py calls for the event being restored ---------------------------------
    @property
    def held(self) -> _Held | None:
        """The event being restored, once one of its channels holds: it goes out when they are
        resolved, as its ``render`` writes it (set by the caller)."""
        return self._cur

    def holds(self, key: tuple) -> bool:
        """Whether the channel ``key`` holds a tail."""
        return key in self._open

    def moves_on(self, ci: Any, key: tuple) -> None:
        """A chat choice writes one channel at a time: its text on ``key`` ends its others."""
        if self._open:
            self.end(lambda k: k != key and k[0] in ("c", "t") and k[1] == ci)

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

    def step(self, key: tuple, text: str, table: Table, put: Callable[[str], None] | None,
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

    def end(self, pred: Callable[[tuple], bool]) -> None:
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
        """Every held channel ends: the queue, in order. Never raises: after an internal error
        the held events go out with their tails unrestored (:meth:`flush_all_safe`)."""
        if not self._queue:
            return b""
        try:
            self.end(_all)
            return self._ready()
        except Exception:
            self.flags.add("error")
            return self.flush_all_safe()

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
        out: bytes | _Held = restore_event(self, ev)
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
            self.end(lambda k, head=head: self._open[k][0] is head)
            parts.append(self._ready())
        return b"".join(parts)
