"""SSE framing: split a byte stream into events, hand each to the format layer.

Holds at most one incomplete event. The boundary search resumes where the previous one stopped,
so a reply fed one byte at a time costs O(bytes). An event that grows past ``max_event`` bytes
is passed through unchanged (flag ``event_too_large``) up to its end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from awsmasker.restore.events import EventRestorer

# A line end (CRLF, lone CR, LF) followed by another one: the empty line that ends an event.
_BOUNDARY = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
MAX_EVENT = 1 << 20


class SSERestorer:
    """text/event-stream replies of the Anthropic Messages, OpenAI Chat and Responses APIs."""

    def __init__(self, token_map: Mapping[str, str], *, max_event: int = MAX_EVENT) -> None:
        self._events = EventRestorer(token_map, max_bytes=max_event)
        self.restored: dict[str, int] = self._events.restored
        self.flags: set[str] = self._events.flags
        self._max_event = max_event
        self._buf = bytearray()  # the incomplete event, if any
        self._scan = 0  # the boundary search resumes here
        self._skipping = False  # inside an oversized event: pass through to its end
        self._skip_tail = b""
        #: while feed() runs on a non-empty buffer: its size before (else -1; the buffer changes
        #: only at the end of a call that started with it empty)
        self._kept = -1

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        if self._skipping:
            data = self._skip(data, out)
        # Events are cut from the chunk itself when nothing is buffered (a chunk of whole events
        # is never copied); the buffer grows in place, so an event fed in many small pieces is
        # not copied again for each.
        buf: bytes | bytearray = data
        if self._buf:
            self._kept = len(self._buf)
            self._buf += data
            buf = self._buf
        events = self._events
        n = len(buf)
        pos = 0
        scan = self._scan  # the boundary search resumes here
        # The next LF LF and the next CR at or after ``scan`` (n: none), each looked for again
        # only once the scan has passed it: linear in the chunk however many events it holds.
        lflf = cr = -1
        resume = -1  # where the next search starts, when not the default below
        while scan < n:
            if lflf < scan:
                lflf = buf.find(b"\n\n", scan)
                if lflf < 0:
                    lflf = n
            if cr < scan:
                cr = buf.find(b"\r", scan)
                if cr < 0:
                    cr = n
            if lflf < cr:  # an LF LF with no CR before it: the first boundary
                end = lflf + 2
            elif cr == n:
                break  # neither: no boundary yet
            else:  # a CR may be part of one: the pattern decides
                m = _BOUNDARY.search(buf, scan)
                if m is None:
                    break
                end = m.end()
                if end == n and buf[end - 1] == 0x0D:
                    resume = m.start()  # a CR at the very end may be the first half of a CRLF
                    break
            # The format layer never raises (EventRestorer.event and flush_all): once it has
            # been handed an event, nothing here fails.
            if end - pos <= self._max_event:
                out.append(events.event(buf[pos:end] if buf is data else bytes(buf[pos:end])))
            else:  # the same whatever the chunking
                self.flags.add("event_too_large")
                out.append(events.flush_all())
                out.append(bytes(buf[pos:end]))
            pos = scan = end
        if resume < 0:  # no boundary in what is left but in its last 3 bytes (CR LF CR)
            resume = max(pos, n - 3)
        if n - pos <= self._max_event:
            if buf is self._buf:
                del buf[:pos]
                self._kept = -1
            else:
                self._buf += buf[pos:]
            self._scan = resume - pos
        else:
            self.flags.add("event_too_large")
            out.append(events.flush_all())
            rest = bytes(buf[pos:])
            out.append(rest)
            self._buf.clear()
            self._kept = -1
            self._scan, self._skipping, self._skip_tail = 0, True, rest[-3:]
        return b"".join(out)

    def _skip(self, data: bytes, out: list[bytes]) -> bytes:
        """Pass ``data`` through up to the end of the oversized event; return the rest."""
        tail = self._skip_tail
        window = tail + data
        m = _BOUNDARY.search(window)
        if m is None:
            out.append(data)
            self._skip_tail = window[-3:]
            return b""
        cut = m.end() - len(tail)
        out.append(data[:cut])
        self._skipping = False
        self._skip_tail = b""
        return data[cut:]

    def finish(self) -> bytes:
        ev = self._events
        out = []
        if self._buf:  # an event cut off at the end: it may still go on a held channel
            out.append(ev.event(bytes(self._buf), final=True))
            self._buf.clear()
        out.append(ev.flush_all())
        self._scan = 0
        return b"".join(out)

    def whole(self, data: bytes) -> bytes:
        """A whole reply: ``feed(data) + finish()``."""
        return self.feed(data) + self.finish()

    def abort(self) -> bytes:
        """Held-back data as of the end of the last completed feed(), unprocessed where possible
        (the restorer is not fed again)."""
        if self._kept >= 0:  # feed() failed (before the format layer, which never raises, was
            del self._buf[self._kept:]  # handed an event): drop what it added
        out = self._events.flush_all_safe() + bytes(self._buf)
        self._buf.clear()
        return out
