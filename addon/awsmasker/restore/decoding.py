"""Incremental content decoders for compressed streamed replies (gzip, deflate, br, zstd)."""

from __future__ import annotations

import zlib
from typing import Protocol

import brotli

try:  # mitmproxy 12 depends on backports.zstd (compression.zstd from Python 3.14 on)
    from compression import zstd  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the Python version
    from backports import zstd  # type: ignore[import-not-found,no-redef]


class StreamDecoder(Protocol):
    def decode(self, data: bytes) -> bytes: ...
    def flush(self) -> bytes: ...


class _Gzip:
    """gzip, including several concatenated members."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj(wbits=31)

    def decode(self, data: bytes) -> bytes:
        out = [self._d.decompress(data)]
        while self._d.eof and self._d.unused_data:
            rest = self._d.unused_data
            self._d = zlib.decompressobj(wbits=31)
            out.append(self._d.decompress(rest))
        return b"".join(out)

    def flush(self) -> bytes:
        return self._d.flush()


class _Deflate:
    """HTTP "deflate": zlib-wrapped, or raw deflate as some servers send it."""

    def __init__(self) -> None:
        self._d: zlib._Decompress | None = None
        self._head = b""

    def decode(self, data: bytes) -> bytes:
        if self._d is None:
            self._head += data
            if len(self._head) < 2:
                return b""
            h = self._head
            zlib_wrapped = (h[0] & 0x0F) == 8 and (h[0] * 256 + h[1]) % 31 == 0
            self._d = zlib.decompressobj(15 if zlib_wrapped else -15)
            data, self._head = h, b""
        return self._d.decompress(data)

    def flush(self) -> bytes:
        if self._d is None:
            return zlib.decompress(self._head, -15) if self._head else b""
        return self._d.flush()


class _Brotli:
    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def decode(self, data: bytes) -> bytes:
        return self._d.process(data) if data else b""

    def flush(self) -> bytes:
        return b""


class _Zstd:
    """zstd, including several concatenated frames."""

    def __init__(self) -> None:
        self._d = zstd.ZstdDecompressor()

    def decode(self, data: bytes) -> bytes:
        out = [self._d.decompress(data)]
        while self._d.eof and self._d.unused_data:
            rest = self._d.unused_data
            self._d = zstd.ZstdDecompressor()
            out.append(self._d.decompress(rest))
        return b"".join(out)

    def flush(self) -> bytes:
        return b""


class _Chain:
    """Several encodings, applied in order, so decoded in reverse order."""

    def __init__(self, decoders: list[StreamDecoder]) -> None:
        self._decoders = decoders  # outermost (last applied) first

    def decode(self, data: bytes) -> bytes:
        for d in self._decoders:
            data = d.decode(data)
        return data

    def flush(self) -> bytes:
        data = b""
        for d in self._decoders:
            data = d.decode(data) + d.flush() if data else d.flush()
        return data


_DECODERS = {"gzip": _Gzip, "x-gzip": _Gzip, "deflate": _Deflate, "br": _Brotli, "zstd": _Zstd}


def stream_decoder(content_encoding: str) -> StreamDecoder | None:
    """An incremental decoder for a ``content-encoding`` header value; None for identity.

    Raises ValueError for an encoding it cannot decode (the caller passes the reply through).
    """
    names = [e.strip().lower() for e in content_encoding.split(",")]
    names = [e for e in names if e and e != "identity"]
    if not names:
        return None
    decoders: list[StreamDecoder] = []
    for name in reversed(names):
        cls = _DECODERS.get(name)
        if cls is None:
            raise ValueError(f"unsupported content-encoding: {name}")
        decoders.append(cls())
    return decoders[0] if len(decoders) == 1 else _Chain(decoders)
