"""What a flow keeps of a restored reply (the reply as sent: tokens, bounded), the content views
and the flow list's labels, with mitmproxy's taddons/tflow."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import zlib
from io import BytesIO

import pytest
from awsmasker.contentview import MaskedBodyContentview
from awsmasker.kept_reply import KeptReply
from awsmasker.labels import BLOCKED, FLAGGED, MASKED
from awsmasker.restore import SSERestorer
from awsmasker.restore.decoding import stream_decoder
from awsmasker.restore.stream import StreamRestore
from mitmproxy import contentviews, exceptions, io
from mitmproxy.addons.view import View
from mitmproxy.test import tflow, tutils
from mitmproxy.utils.emoji import emoji

from testsupport.samples import ORIGINALS, PROMPT

TOKEN_MAP = {"AWS_EC2_001": "i-0a1b2c3d4e5f67890", "AWS_VPC_001": "vpc-0123abcd"}


def sse(*texts: str) -> bytes:
    return b"".join(
        b"event: content_block_delta\ndata: " + json.dumps(
            {"type": "content_block_delta", "index": 0,
             "delta": {"type": "text_delta", "text": t}}).encode() + b"\n\n"
        for t in texts)


REPLY = sse("on AWS_EC", "2_001 in AWS_VPC_0", "01, done")


def joined(out) -> bytes:
    return out if isinstance(out, bytes) else b"".join(out)


def run(kept: KeptReply, chunks: list[bytes]) -> bytes:
    out = b"".join(joined(kept(c)) for c in chunks)
    return out + joined(kept(b""))


def kept_stream(limit: int = 1 << 20, encoding: str | None = None, ends: list | None = None):
    response = tutils.tresp(content=None)
    decoder = stream_decoder(encoding) if encoding else None
    inner = StreamRestore(SSERestorer(TOKEN_MAP), max_bytes=1 << 20, decoder=decoder)
    on_end = (lambda: ends.append(inner.restored)) if ends is not None else None
    return response, KeptReply(response, inner, encoding=encoding, limit=limit, on_end=on_end)


def test_keeps_the_reply_as_sent_at_every_split_point():
    """The client gets the restored reply, the flow keeps the input: at every split point."""
    for i in range(len(REPLY) + 1):
        ends: list = []
        response, kept = kept_stream(ends=ends)
        out = run(kept, [REPLY[:i], REPLY[i:]] if i else [REPLY])
        assert b"i-0a1b2c3d4e5f67890" in out and b"vpc-0123abcd" in out  # the client's copy
        assert response.raw_content == REPLY  # the flow's: the tokens
        # the report, once, after the last chunk
        assert ends == [{"AWS_EC2_001": 1, "AWS_VPC_001": 1}]


def test_kept_copy_is_bounded_and_says_where_it_was_cut():
    response, kept = kept_stream(limit=40)
    run(kept, [REPLY[i:i + 9] for i in range(0, len(REPLY), 9)])
    head, note = response.raw_content[:40], response.raw_content[40:]
    assert head == REPLY[:40]
    assert note == f"\n[aws-masker: the first 40 bytes of {len(REPLY)} bytes kept here]\n".encode()


def test_compressed_reply_is_kept_decoded():
    body = gzip.compress(REPLY)
    response, kept = kept_stream(encoding="gzip")
    out = run(kept, [body[i:i + 5] for i in range(0, len(body), 5)])
    assert b"vpc-0123abcd" in out
    assert response.raw_content == REPLY  # decoded, like the headers the flow keeps


def test_compressed_reply_past_the_limit_is_cut_decoded():
    big = sse(*["AWS_EC2_001 " * 50] * 40)
    body = gzip.compress(big)
    response, kept = kept_stream(limit=1000, encoding="gzip")
    run(kept, [body])
    assert response.raw_content.startswith(big[:1000])
    assert response.raw_content[1000:].startswith(b"\n[aws-masker: the first 1000 bytes of")


def test_an_undecodable_reply_keeps_what_decoded():
    body = gzip.compress(REPLY)
    broken = body[:20] + b"\x00" * 10 + body[30:]
    response, kept = kept_stream(encoding="gzip")
    run(kept, [broken])  # never raises
    head, _, rest = response.raw_content.partition(b"\n[aws-masker: ")
    assert REPLY.startswith(head) and rest == b"the reply could not be decoded from here]\n"


def test_markers_render_as_characters_text_fonts_have():
    # mitmweb shows emoji.get(marker, "🔴"): each must be a shortcode it knows
    shown = {m: emoji[m].replace("\ufe0f", "") for m in (MASKED, FLAGGED, BLOCKED)}
    assert shown == {MASKED: "✔", FLAGGED: "⚠", BLOCKED: "✖"}


async def restored_flow(tctx, state, a) -> tflow.HTTPFlow:
    """A masked flow whose SSE reply was restored, as mitmweb has it (bodies are kept)."""
    tctx.master.addons.add(View())  # mitmweb's flow list: bodies are kept
    a["ResponseRestoring"].configure({"view"})
    req = tutils.treq(host="api.anthropic.com", port=443, scheme=b"https",
                      path=b"/v1/messages", method=b"POST",
                      content=json.dumps({"messages": [{"role": "user",
                                                        "content": PROMPT}]}).encode())
    req.headers["content-type"] = "application/json"
    f = tflow.tflow(req=req)
    await a["RequestMasking"].request(f)
    tokens = {v: t for t, v in state.flows.get(f).token_map.items()}
    reply = sse(f"on {tokens['i-0a1b2c3d4e5f67890'][:7]}",
                f"{tokens['i-0a1b2c3d4e5f67890'][7:]} in {tokens['vpc-0123abcd']}")
    f.response = tutils.tresp(content=b"")
    f.response.headers["content-type"] = "text/event-stream"
    del f.response.headers["content-length"]
    a["ResponseRestoring"].responseheaders(f)
    out = joined(f.response.stream(reply)) + joined(f.response.stream(b""))
    assert b"i-0a1b2c3d4e5f67890" in out
    a["ResponseRestoring"].response(f)
    return f


async def test_views_show_tokens_and_originals_on_request(env):
    tctx, state, a = env
    f = await restored_flow(tctx, state, a)
    assert f.comment == "14 masked · 2 restored" and f.marked == MASKED
    body = f.response.content
    for value in ORIGINALS:
        assert value.encode() not in body
    meta = contentviews.Metadata(flow=f, http_message=f.response,
                                 content_type="text/event-stream")
    masked = contentviews.registry["aws-masker"]
    assert masked.render_priority(body, meta) > 1  # tokens only whole in the joined text
    shown = masked.prettify(body, meta)
    assert shown.startswith("# aws-masker: 2 tokens, originals: View ▸ aws-masker restored\n"
                            "# EC2×1, VPC×1\n")
    assert "## text (the events' pieces joined)\non ⟦AWS_EC2_" in shown
    restored = contentviews.registry["aws-masker restored"]
    assert restored.render_priority(body, meta) < 0  # never picked by itself
    text = restored.prettify(body, meta)
    assert text.startswith("# aws-masker restored: from this proxy's memory, not stored in")
    assert text.splitlines()[1] == "# 2 originals put back"
    assert text.splitlines()[2] == "# EC2×1, VPC×1"
    assert "on i-0a1b2c3d4e5f67890 in vpc-0123abcd" in text
    assert f.response.content == body  # computed, never written into the flow
    # the same flow read back from a file: no token map in this proxy, tokens shown
    buf = BytesIO()
    io.FlowWriter(buf).add(f)
    buf.seek(0)
    copy = next(io.FlowReader(buf).stream())
    meta.flow = copy
    text = restored.prettify(copy.response.content, meta)
    assert "holds no token map for this flow" in text and "i-0a1b2c3d4e5f67890" not in text


async def test_store_streamed_bodies_is_refused_live(env):
    tctx, _, _ = env
    tctx.options.add_option("store_streamed_bodies", bool, False, "")  # mitmproxy's option
    with pytest.raises(exceptions.OptionsError, match="originals included"):
        tctx.options.update(store_streamed_bodies=True)
    assert tctx.options.store_streamed_bodies is False


def aws_frame(event_type: str, payload: bytes) -> bytes:
    """One AWS event-stream frame (prelude, string headers, payload, CRCs), built here."""
    headers = b""
    for name, value in ((":event-type", event_type), (":message-type", "event"),
                        (":content-type", "application/json")):
        headers += (bytes([len(name)]) + name.encode() + b"\x07"
                    + struct.pack(">H", len(value)) + value.encode())
    prelude = struct.pack(">II", 16 + len(headers) + len(payload), len(headers))
    head = prelude + struct.pack(">I", zlib.crc32(prelude))
    return head + headers + payload + struct.pack(">I", zlib.crc32(head + headers + payload))


def bedrock_chunk(text: str) -> bytes:
    event = {"type": "content_block_delta", "index": 0,
             "delta": {"type": "text_delta", "text": text}}
    return aws_frame("chunk", json.dumps(
        {"bytes": base64.b64encode(json.dumps(event).encode()).decode()}).encode())


def test_masked_view_reads_bedrock_event_stream_frames():
    """Bedrock's frames carry each event base64-encoded: the view decodes them with botocore
    and joins their text, so a token split across frames shows whole."""
    body = bedrock_chunk("on AWS_EC") + bedrock_chunk("2_001 in AWS_VPC_001") + b"\x00\x00"
    meta = contentviews.Metadata(content_type="application/vnd.amazon.eventstream")
    masked = MaskedBodyContentview()
    assert masked.render_priority(body, meta) > 1
    shown = masked.prettify(body, meta)
    assert shown.startswith("# aws-masker: 2 tokens")
    assert "## text (the events' pieces joined)\non ⟦AWS_EC2_001⟧ in ⟦AWS_VPC_001⟧\n" in shown
    assert '\nchunk: {"type": "content_block_delta"' in shown  # the frames, decoded
