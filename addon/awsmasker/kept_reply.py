"""Keep a streamed reply as the model sent it (tokens, never originals) in its flow, for display.

A restored reply is streamed: mitmproxy keeps nothing of a streamed body, so mitmweb's Response
tab would read "Content is missing." and mitmdump would log ``(content missing)``.
:class:`KeptReply` wraps the stream callable on its *input* side: it copies the first
:data:`KEEP_LIMIT` bytes of what the server sent, then hands every chunk on unchanged. When the
last chunk has gone out it writes the copy into ``response.data.content`` and calls ``on_end``
(the addon's report: comment, marker, event). That is before mitmproxy's ``response`` hooks, so
mitmweb, a flow file (``save_stream_file``) and mitmdump's log all see both; and after the
client got every byte, so only the flow's record changes: mitmproxy does not send the body of
an already streamed reply again.

The copy is what the model wrote: with tokens, never restored. With a ``content-encoding`` that
the restorer decoded (the addon then removes the header from the reply), the copy is decoded
too, so it matches the flow's headers. Past the limit the copy ends with a line saying how much
was kept. Memory per reply is bounded by the limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from mitmproxy import http

from awsmasker.restore.decoding import stream_decoder

#: Bytes of a reply (as decoded) kept in its flow.
KEEP_LIMIT = 1 << 20
#: Compressed input is decoded this much at a time, so output past the limit is never made.
_DECODE_STEP = 1024

Stream = Callable[[bytes], "Iterable[bytes] | bytes"]


def cut_note(kept: int, total: int | None) -> bytes:
    whole = f"{total} bytes" if total is not None else "more"
    return f"\n[aws-masker: the first {kept} bytes of {whole} kept here]\n".encode()


class KeptReply:
    """``flow.response.stream`` for a restored reply: ``stream`` does the work, this keeps a
    bounded copy of its input and writes it into ``response`` at the end."""

    __slots__ = ("_buf", "_on_end", "_response", "bytes_in", "encoding", "limit", "stream")

    def __init__(self, response: http.Response, stream: Stream, *,
                 encoding: str | None = None, limit: int = KEEP_LIMIT,
                 on_end: Callable[[], None] | None = None) -> None:
        self._response: http.Response | None = response
        #: called once, after the last chunk (the addon's report on the flow)
        self._on_end = on_end
        self.stream = stream
        #: the content-encoding of the input, when the kept copy is to be decoded
        self.encoding = encoding
        self.limit = limit
        self._buf = bytearray()
        self.bytes_in = 0

    def __call__(self, data: bytes) -> Iterable[bytes] | bytes:
        room = self.limit - len(self._buf)
        if room > 0:
            self._buf += data if len(data) <= room else data[:room]
        self.bytes_in += len(data)
        out = self.stream(data)
        if not data:
            # never raise into mitmproxy: it would drop the last chunk
            with contextlib.suppress(Exception):
                self._write()
            on_end, self._on_end = self._on_end, None
            if on_end is not None:
                with contextlib.suppress(Exception):
                    on_end()
        return out

    def kept(self) -> bytes:
        """The copy as the flow keeps it (decoded, with a note when cut)."""
        raw = bytes(self._buf)
        cut = self.bytes_in > len(raw)
        if self.encoding is None:
            return raw + cut_note(len(raw), self.bytes_in) if cut else raw
        try:
            decoder = stream_decoder(self.encoding)
        except ValueError:
            decoder = None
        if decoder is None:
            return raw
        out = bytearray()
        try:
            for i in range(0, len(raw), _DECODE_STEP):
                out += decoder.decode(raw[i:i + _DECODE_STEP])
                if len(out) > self.limit:
                    break
            else:
                if not cut:
                    out += decoder.flush()
        except Exception:  # a body that does not decode: its readable head, and a note
            return bytes(out) + b"\n[aws-masker: the reply could not be decoded from here]\n"
        if len(out) > self.limit or cut:
            del out[self.limit:]
            return bytes(out) + cut_note(len(out), None)
        return bytes(out)

    def _write(self) -> None:
        response, self._response = self._response, None
        if response is None:
            return
        kept = self.kept()
        self._buf = bytearray()
        # data.content: the raw body as the flow stores it, without touching the headers (the
        # client already got them).
        response.data.content = kept
