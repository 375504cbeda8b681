"""SSE framing: split a byte stream into events, hand each to the format layer.

Holds at most one incomplete event. The boundary search resumes where the previous one stopped,
so a reply fed one byte at a time costs O(bytes). An event that grows past ``max_event`` bytes
is passed through unchanged (flag ``event_too_large``) up to its end.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from awsmasker.restore.events import INTEREST, EventRestorer

# A line end (CRLF, lone CR, LF) followed by another one: the empty line that ends an event.
_BOUNDARY = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
MAX_EVENT = 1 << 20
_UNSAVED = object()


class SSERestorer:
    """text/event-stream replies of the Anthropic Messages, OpenAI Chat and Responses APIs."""

    def __init__(self, token_map: Mapping[str, str], *, max_event: int = MAX_EVENT) -> None:
        self._events = EventRestorer(token_map, max_bytes=max_event)
        self.restored: dict[str, int] = self._events.restored
        self.flags: set[str] = self._events.flags
        self._max_event = max_event
        self._buf = bytearray()
        self._scan = 0  # boundary search resumes here
        self._skipping = False  # inside an oversized event: pass through to its end
        self._skip_tail = b""
        self._snapshot: tuple | None = None
        self._events_state: object = _UNSAVED
        self._sep = b"\n\n"  # the stream's usual event separator, for the fast path
        self._sep_unknown = True
        #: at an event boundary: no partial event buffered, not inside an oversized one
        self._bare = True
        #: ... and no channel holds text: a chunk of whole events without INTEREST passes as it is
        self._clean = True

    def feed(self, data: bytes) -> bytes:
        # Two shortcuts for a chunk of whole events (it ends with LF LF, which ends an event
        # whatever precedes them) where no event is too large; the framing loop below would
        # give the same output after many more steps.
        if data[-2:] == b"\n\n" and len(data) <= self._max_event:
            if self._clean and INTEREST.search(data) is None:
                return data  # the usual chunk: nothing to restore and nothing held
            if self._bare and data.find(b"\n\n") == len(data) - 2 and data.find(b"\r") < 0:
                # Exactly one LF-framed event (EventRestorer.event never raises).
                out = self._events.event(data)
                self._settle()
                return out
        ev = self._events
        self._bare = self._clean = False  # until this call completes
        # The format layer's state is saved only once this call first hands it an event (see
        # _save_events): most chunks of a reply fed in small pieces complete none.
        self._snapshot = (len(self._buf), self._scan, self._skipping, self._skip_tail)
        self._events_state = _UNSAVED
        out: list[bytes] = []
        if self._skipping:
            data = self._skip(data, out)
        buf = self._buf
        buf += data
        pos = 0
        scan = self._scan
        search = _BOUNDARY.search
        # Bulk fast path: a run of complete events with nothing to restore and nothing held is
        # passed on in one piece. ``ready`` ends the last event completed by this chunk.
        sep = self._sep
        lf_only = not self._sep_unknown and sep == b"\n\n"
        ready = buf.rfind(sep, max(0, len(buf) - len(data) - len(sep) + 1))
        ready = ready + len(sep) if ready >= 0 else 0
        interest = -1  # next position that may need restoring (cached)
        while True:
            if pos < ready and not ev.has_held():
                if interest < pos:
                    hit = INTEREST.search(buf, pos, ready)
                    interest = hit.start() if hit else ready
                if interest >= ready:
                    cut = ready
                else:
                    cut = buf.rfind(sep, pos, interest)
                    cut = cut + len(sep) if cut >= 0 else -1
                if cut > pos:
                    out.append(bytes(buf[pos:cut]))
                    pos = scan = cut
                    continue
            # The next event's end. In an LF-only stream without a CR up to the first "\n\n",
            # that is the boundary the regex would find, for a fraction of its cost.
            end = buf.find(b"\n\n", scan) if lf_only else -1
            if end >= 0 and buf.find(b"\r", scan, end) < 0:
                end += 2
            else:
                # No CR-free "\n\n" ahead: searching for one again for every event of this
                # chunk would make CR-framed events cost O(chunk) each.
                lf_only = False
                m = search(buf, scan)
                if m is None:
                    scan = max(pos, len(buf) - 3)
                    break
                end = m.end()
                if end == len(buf) and buf[end - 1] == 0x0D:
                    scan = m.start()  # a CR at the very end may be the first half of a CRLF
                    break
                if self._sep_unknown:
                    self._sep_unknown = False
                    if m.group() == b"\r\n\r\n":
                        self._sep = sep = m.group()
                    lf_only = sep == b"\n\n"
            if end - pos > self._max_event:  # the same whatever the chunking
                self.flags.add("event_too_large")
                self._save_events()
                out.append(ev.flush_all())
                out.append(bytes(buf[pos:end]))
            else:
                self._save_events()
                out.append(ev.event(bytes(buf[pos:end])))
            pos = scan = end
        # Mutate the buffer only once everything that can fail has run (see abort()).
        if len(buf) - pos > self._max_event:
            self.flags.add("event_too_large")
            self._save_events()
            out.append(ev.flush_all())
            rest = bytes(buf[pos:])
            out.append(rest)
            buf.clear()
            self._scan, self._skipping, self._skip_tail = 0, True, rest[-3:]
        else:
            if pos:
                del buf[:pos]
            self._scan = scan - pos
        self._snapshot = None
        self._settle()
        return b"".join(out)

    def _save_events(self) -> None:
        """Save the format layer's state for abort() before this feed() first changes it."""
        if self._events_state is _UNSAVED:
            self._events_state = self._events.snapshot()

    def _settle(self) -> None:
        """Work out ``_bare`` and ``_clean`` once a call has completed."""
        self._bare = not self._buf and not self._skipping
        self._clean = self._bare and not self._events.has_held()

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
        self._settle()
        return b"".join(out)

    def whole(self, data: bytes) -> bytes:
        """A whole reply: ``feed(data) + finish()``."""
        return self.feed(data) + self.finish()

    def abort(self) -> bytes:
        """Held-back data as of the end of the last completed feed(), unprocessed where possible."""
        ev = self._events
        if self._snapshot is not None:  # feed() failed midway: roll back to its start
            size, self._scan, self._skipping, self._skip_tail = self._snapshot
            del self._buf[size:]
            if self._events_state is not _UNSAVED:
                ev.restore_snapshot(self._events_state)
            self._snapshot = None
        out = ev.flush_all_safe() + bytes(self._buf)
        self._buf.clear()
        self._settle()
        return out
