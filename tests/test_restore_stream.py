"""StreamRestore (the flow.response.stream callable) and the incremental decoders."""

from __future__ import annotations

import gzip
import zlib

import brotli
import pytest
from awsmasker.restore import select_restorer
from awsmasker.restore.decoding import stream_decoder
from awsmasker.restore.stream import StreamRestore

from tests.restore_helpers import TOKEN_MAP, anthropic_channels, anthropic_stream, mask

TEXT = "Instance i-0123456789abcdef0 in vpc-0a1b2c3d at 10.0.1.2. " * 3
STREAM = anthropic_stream([("text", [mask(TEXT)[i : i + 4] for i in range(0, 200, 4)])])




def run(sr: StreamRestore, data: bytes, size: int) -> bytes:
    out = []
    for i in range(0, len(data), size):
        r = sr(data[i : i + size])
        assert r != b""
        out.append(r if isinstance(r, bytes) else b"".join(r))
    last = sr(b"")
    out.append(last if isinstance(last, bytes) else b"".join(last))
    return b"".join(out)


def sse_restore(**kw: object) -> StreamRestore:
    r = select_restorer("text/event-stream", "/v1/messages", TOKEN_MAP)
    assert r is not None
    return StreamRestore(r, max_bytes=kw.pop("max_bytes", 1 << 30), **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("size", [1, 3, 7, 64, 1 << 16])
def test_restores_and_never_returns_empty_bytes_mid_stream(size: int) -> None:
    sr = sse_restore()
    out = run(sr, STREAM, size)
    assert anthropic_channels(out)[(0, "text")].startswith(TEXT[:150])
    assert sr.bytes_in == len(STREAM) and sr.bytes_out == len(out)
    assert sr.restored["AWS_EC2_001"] >= 2 and sr.flags == set()


def test_max_bytes_passes_the_rest_unchanged() -> None:
    for cap in (0, 1, 100, 777, len(STREAM) // 2, len(STREAM) - 1):
        for size in (1, 50, 1 << 16):
            sr = sse_restore(max_bytes=cap)
            out = run(sr, STREAM, size)
            assert "size_cap" in sr.flags
            assert out.endswith(STREAM[cap:])  # bytes past the cap identical to the input
            head = out[: len(out) - (len(STREAM) - cap)]
            assert b"AWS_EC2_001" not in head  # before the cap every token was restored
    sr = sse_restore(max_bytes=len(STREAM))
    run(sr, STREAM, 100)
    assert "size_cap" not in sr.flags


class Boom(Exception):
    pass


class FailingMap(dict):
    """A token map whose ``fail_at``-th lookup fails (a bug inside the restorer)."""

    def __init__(self, data: dict[str, str], fail_at: int) -> None:
        super().__init__(data)
        self.calls, self.fail_at = 0, fail_at

    def get(self, key, default=None):  # type: ignore[no-untyped-def, override]
        self.calls += 1
        if self.calls == self.fail_at:
            raise Boom
        return super().get(key, default)


@pytest.mark.parametrize("size", [1, 50, 1 << 16])
def test_injected_exception_loses_no_bytes(size: int) -> None:
    expected = run(sse_restore(), STREAM, size)
    for fail_at in (1, 2, 3):
        r = select_restorer("text/event-stream", "/v1/messages", FailingMap(TOKEN_MAP, fail_at))
        assert r is not None
        sr = StreamRestore(r, max_bytes=1 << 30)
        out = run(sr, STREAM, size)
        assert "error" in sr.flags
        # The failing event goes out unchanged (held text before it, unrestored): every event
        # parses, the text is whole, and the events after it are restored as before.
        text = anthropic_channels(out)[(0, "text")]
        assert len(text) >= 150 and text != anthropic_channels(expected)[(0, "text")]
        assert out.endswith(expected[-60:])


def test_exception_in_feed_passes_held_and_chunk_through(monkeypatch) -> None:
    from awsmasker.restore.events import EventRestorer

    sr = sse_restore()
    first = sr(STREAM[:100])  # an incomplete event is held back
    first_b = first if isinstance(first, bytes) else b"".join(first)

    def boom(self, ev: bytes, final: bool = False) -> bytes:
        raise Boom

    monkeypatch.setattr(EventRestorer, "event", boom)  # a bug the layer does not catch
    rest = sr(STREAM[100:])
    rest_b = rest if isinstance(rest, bytes) else b"".join(rest)
    assert "error" in sr.flags
    assert rest_b.endswith(STREAM[100:])
    assert first_b + rest_b == STREAM[: len(first_b + rest_b) - len(STREAM[100:])] + STREAM[100:]
    assert sr(b"more") == b"more" and sr(b"") == b""


@pytest.mark.parametrize("path", ["usual_chunk", "past_max_bytes", "decoder"])
def test_restorer_that_always_raises(path: str) -> None:
    """Whichever path a chunk takes through StreamRestore, a failing restorer loses nothing."""
    from awsmasker.restore.decoding import stream_decoder

    class Broken:
        def __init__(self) -> None:
            self.restored: dict = {}
            self.flags: set = set()

        def feed(self, data: bytes) -> bytes:
            raise Boom

        def finish(self) -> bytes:
            raise Boom

        def abort(self) -> bytes:
            raise Boom

    if path == "decoder":
        sr = StreamRestore(Broken(), max_bytes=100,  # type: ignore[arg-type]
                           decoder=stream_decoder("gzip"))
        assert sr(gzip.compress(b"abc")) == b"abc"
        assert sr(b"") == b"" and "error" in sr.flags
        return
    sr = StreamRestore(Broken(), max_bytes=10 if path == "usual_chunk" else 2)  # type: ignore[arg-type]
    assert sr(b"abc") == b"abc" and sr(b"def") == b"def" and sr(b"") == b""
    assert "error" in sr.flags and sr.bytes_in == sr.bytes_out == 6


def _compress(kind: str, data: bytes) -> bytes:
    if kind == "gzip":
        return gzip.compress(data[:300]) + gzip.compress(data[300:])  # two members
    if kind == "deflate":
        return zlib.compress(data)
    if kind == "br":
        return brotli.compress(data)
    from awsmasker.restore.decoding import zstd

    return zstd.compress(data)


@pytest.mark.parametrize("kind", ["gzip", "deflate", "br", "zstd"])
@pytest.mark.parametrize("size", [1, 13, 1 << 16])
def test_decoding_path(kind: str, size: int) -> None:
    plain = STREAM
    expected = run(sse_restore(), plain, 1 << 20)
    decoder = stream_decoder(kind)
    assert decoder is not None
    sr = sse_restore(decoder=decoder)
    assert run(sr, _compress(kind, plain), size) == expected


def test_raw_deflate_and_identity_and_unknown() -> None:
    co = zlib.compressobj(wbits=-15)
    raw = co.compress(b"x AWS_EC2_001 y") + co.flush()
    d = stream_decoder("deflate")
    assert d is not None
    assert b"".join(d.decode(raw[i : i + 1]) for i in range(len(raw))) + d.flush() == (
        b"x AWS_EC2_001 y")
    assert stream_decoder("identity") is None and stream_decoder("") is None
    with pytest.raises(ValueError):
        stream_decoder("compress")
    d = stream_decoder("gzip, br")
    assert d is not None
    assert d.decode(brotli.compress(gzip.compress(b"hello"))) + d.flush() == b"hello"


def test_corrupt_compressed_data_is_flagged() -> None:
    sr = sse_restore(decoder=stream_decoder("gzip"))
    good = gzip.compress(STREAM)
    out = run(sr, good[:200] + b"\x00garbage" * 10, 64)
    assert "decode_error" in sr.flags and out.endswith(b"\x00garbage")


def test_a_bug_outside_the_restorer_passes_the_chunk_through() -> None:
    from awsmasker.restore import select_restorer
    from awsmasker.restore.stream import StreamRestore

    class BrokenDecoder:  # a bug: it returns something that is not bytes
        def decode(self, data: bytes) -> None:
            return None

        def flush(self) -> bytes:
            return b""

    r = select_restorer("text/plain", "/", {"AWS_EC2_001": "i-0123456789abcdef0"})
    s = StreamRestore(r, max_bytes=8, decoder=BrokenDecoder())  # type: ignore[arg-type]
    assert s(b"chunk with AWS_EC2_001") == b"chunk with AWS_EC2_001"
    assert "error" in s.flags
    assert s(b" more") == b" more" and s(b"") == b""  # raw pass-through from then on
