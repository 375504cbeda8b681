"""The callable the addon assigns to ``flow.response.stream``.

mitmproxy calls it with each raw chunk and a final ``b""``. Mid-stream it returns ``[]`` when
nothing is ready (``b""`` would end an HTTP/1.1 chunked body). It never raises.

With a decoder the output is the *decoded* body: the addon removes ``content-encoding`` (and
``content-length``) from the response headers when it installs one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from awsmasker.restore import Restorer
    from awsmasker.restore.decoding import StreamDecoder

_RESTORE, _PASS, _RAW = "restore", "pass", "raw"


class StreamRestore:
    """Restore up to ``max_bytes`` of (decoded) input; pass the rest through unchanged.

    Sizes: ``bytes_in`` counts the raw input (compressed, with a decoder), ``bytes_decoded`` the
    decoded bytes the size cap is measured in (the same as ``bytes_in`` without a decoder; after a
    ``decode_error`` the raw rest is not counted), ``bytes_out`` what was returned.

    Flags: ``size_cap`` (input past ``max_bytes`` passed unchanged), ``error`` (the restorer
    failed: its held-back data and the chunk were passed through, then everything after),
    ``decode_error`` (the body could not be decoded: raw bytes passed through from there on), plus
    the restorer's own flags (``event_too_large``, ``invalid_event``, ...).
    """

    def __init__(
        self, restorer: Restorer, *, max_bytes: int, decoder: StreamDecoder | None = None
    ) -> None:
        self.restorer = restorer
        self.max_bytes = max_bytes
        self.decoder = decoder
        self._flags: set[str] = set()
        self._mode = _RESTORE
        self._room = max_bytes  # decoded bytes the restorer may still take
        self.bytes_in = 0
        self.bytes_decoded = 0
        self.bytes_out = 0
        self.finished = False

    @property
    def flags(self) -> set[str]:
        return self._flags | self.restorer.flags

    @property
    def restored(self) -> dict[str, int]:
        return self.restorer.restored

    def __call__(self, data: bytes) -> bytes | list[bytes]:
        final = not data
        try:
            self.bytes_in += len(data)
            out = self._step(data, final)
        except Exception:  # never raise into mitmproxy: that drops the chunk
            # A bug outside the restorer's own rollback: stop rewriting, lose nothing new.
            self._flags.add("error")
            self._mode = _RAW
            out = data
        if final:
            self.finished = True
        self.bytes_out += len(out)
        if out or final:
            return out
        return []

    def _step(self, data: bytes, final: bool) -> bytes:
        if self._mode == _RAW:
            return data
        if self.decoder is not None:
            try:
                dec = self.decoder.decode(data) if data else self.decoder.flush()
            except Exception:
                self._flags.add("decode_error")
                held = self._abort() if self._mode == _RESTORE else b""
                self._mode = _RAW
                return held + data
        else:
            dec = data
        self.bytes_decoded += len(dec)
        if self._mode == _PASS:
            return dec
        room = self._room
        head, rest = (dec, b"") if len(dec) <= room else (dec[:room], dec[room:])
        self._room -= len(head)
        out: list[bytes] = []
        unsent = dec  # input not yet reflected in ``out``
        try:
            out.append(self.restorer.feed(head))
            unsent = rest
            if rest or final:
                out.append(self.restorer.finish())
        except Exception:
            return self._fail(b"".join(out), unsent)
        if rest:
            self._flags.add("size_cap")
            self._mode = _PASS
            out.append(rest)
        return b"".join(out)

    def _fail(self, sent: bytes, unsent: bytes) -> bytes:
        """The restorer failed: it rolls back to its state before the failed call. Pass what it
        held then, and the input it did not handle, unchanged; everything after too."""
        self._flags.add("error")
        self._mode = _PASS
        return sent + self._abort() + unsent

    def _abort(self) -> bytes:
        try:
            return self.restorer.abort()
        except Exception:
            return b""
