"""Replies in a charset that does not write tokens as ASCII bytes (UTF-16, UTF-32, EBCDIC…).

:class:`Transcoded` decodes the reply incrementally, lets a UTF-8 restorer restore it and
encodes the result back in the reply's charset, so the client gets the charset it was sent.
It is sans-IO (bytes in, bytes out) and hold back at most a partial character
plus what the inner restorer holds.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from awsmasker.charsets import BOM_MAX, sniff_bom, unmarked_utf

if TYPE_CHECKING:
    from awsmasker.restore import Restorer


class Transcoded:
    """Restore a reply in ``charset`` with ``inner``, a restorer of UTF-8 bytes.

    For ``utf-16``/``utf-32`` (byte order by BOM) the first bytes decide the byte order: a BOM
    is passed on as it came, without one the NUL pattern of the first character decides (else
    big-endian). On a failed call the state is as before it (the inner restorer rolls itself
    back; the decoder's state is put back here), as ``StreamRestore`` expects."""

    def __init__(self, inner: Restorer, charset: str) -> None:
        self.inner = inner
        self.restored = inner.restored
        self.flags = inner.flags
        self._charset = codecs.lookup(charset).name
        self._head = b""  # first bytes, until the byte order is known
        self._decoder: codecs.IncrementalDecoder | None = None
        self._encoder: codecs.IncrementalEncoder | None = None
        if self._charset not in ("utf-16", "utf-32"):
            self._decoder, self._encoder = _coders(self._charset)

    def _run(self, data: bytes, final: bool) -> bytes:
        bom = b""
        decoder, encoder = self._decoder, self._encoder
        if decoder is None:
            head = self._head + data
            if len(head) < BOM_MAX and not final:
                self._head = head
                return b""
            bom, codec = sniff_bom(head)
            if codec is None or not codec.startswith(self._charset):
                bom, codec = b"", unmarked_utf(head, self._charset)
            assert codec is not None
            decoder, encoder = _coders(codec)
            data = head[len(bom):]
        assert encoder is not None
        state = decoder.getstate()
        try:
            text = decoder.decode(data, final)
            utf8 = text.encode("utf-8", "surrogatepass")
            out = self.inner.whole(utf8) if final else self.inner.feed(utf8)
        except Exception:
            decoder.setstate(state)
            raise
        self._decoder, self._encoder, self._head = decoder, encoder, b""
        # The inner restorer returns whole characters: it holds back only ASCII (a token's
        # beginning) and is fed whole characters.
        return bom + encoder.encode(out.decode("utf-8", "surrogatepass"), final)

    def feed(self, data: bytes) -> bytes:
        return self._run(data, False)

    def finish(self) -> bytes:
        return self._run(b"", True)

    def whole(self, data: bytes) -> bytes:
        return self._run(data, True)

    def abort(self) -> bytes:
        held = self.inner.abort()
        if self._decoder is None:
            head, self._head = self._head, b""
            return head
        assert self._encoder is not None
        pending = self._decoder.getstate()[0]
        self._decoder.reset()
        return self._encoder.encode(held.decode("utf-8", "surrogatepass"), True) + pending


def _coders(codec: str) -> tuple[codecs.IncrementalDecoder, codecs.IncrementalEncoder]:
    return codecs.getincrementaldecoder(codec)(), codecs.getincrementalencoder(codec)()


class BomSniffed:
    """A JSON or text reply that declares no charset: a UTF-16/32 byte-order mark in its first
    bytes makes it a :class:`Transcoded` reply in that charset; otherwise ``inner`` restores it
    as it is. Holds back at most the first :data:`BOM_MAX` bytes, once. On a failed call the
    state is as before it."""

    def __init__(self, inner: Restorer) -> None:
        self.inner = inner
        self.restored = inner.restored
        self.flags = inner.flags
        self._head = b""
        self._chosen: Restorer | None = None

    def _pick(self, head: bytes) -> Restorer:
        codec = sniff_bom(head)[1]
        if codec is not None and codec.startswith(("utf-16", "utf-32")):
            return Transcoded(self.inner, codec[:6])
        return self.inner

    def _first(self, head: bytes, final: bool) -> bytes:
        chosen = self._pick(head)
        out = chosen.whole(head) if final else chosen.feed(head)  # raises: nothing changed
        self._chosen, self._head = chosen, b""
        return out

    def feed(self, data: bytes) -> bytes:
        if self._chosen is not None:
            return self._chosen.feed(data)
        head = self._head + data
        if len(head) < BOM_MAX:
            self._head = head
            return b""
        return self._first(head, False)

    def finish(self) -> bytes:
        if self._chosen is not None:
            return self._chosen.finish()
        return self._first(self._head, True)

    def whole(self, data: bytes) -> bytes:
        if self._chosen is not None:
            return self._chosen.whole(data)
        return self._first(self._head + data, True)

    def abort(self) -> bytes:
        if self._chosen is not None:
            return self._chosen.abort()
        head, self._head = self._head, b""
        return head + self.inner.abort()
