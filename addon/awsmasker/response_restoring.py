"""The ``ResponseRestoring`` addon: put the originals back into replies from target hosts.

Only the flow's own token map is used (DESIGN: restore is exact and scoped), so the response
path never waits on the store. Two ways, one result:

- a reply with a known, small length (``content-length`` ≤ :data:`BUFFER_LIMIT`, no
  ``content-encoding``, not SSE) is left for mitmproxy to buffer and is restored whole in the
  ``response`` hook; mitmproxy then sends it with its new ``content-length``. This costs the
  same as plain mitmdump per reply (one body write, no chunked framing, no per-chunk calls, no
  "Streaming response" log line) and memory stays bounded by that constant (DESIGN invariant 5).
  Only when nothing in the process keeps or prints reply bodies (:func:`bodies_kept`): a
  buffered reply holds the originals in the flow, a streamed one keeps only the reply as the
  model sent it, tokens (``kept_reply``; invariant 4);
- every other reply (SSE, chunked or unknown length, large, compressed) is streamed through a
  sans-IO restorer, which keeps memory bounded whatever the reply size.

A flow with nothing to restore (its request held no identifier) gets its reply unchanged; an SSE
or length-less one is still streamed (without a restorer), so that an answer reaches the client
as it is written whether or not the request held an identifier.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from collections.abc import Set as AbstractSet

from mitmproxy import ctx, http

from awsmasker.flowstate import FlowState, add_counts, by_type
from awsmasker.kept_reply import KeptReply
from awsmasker.labels import logged_url, note_flag, note_restored
from awsmasker.restore import counts_by_type, restore_body, select_restorer
from awsmasker.restore.decoding import stream_decoder
from awsmasker.restore.stream import StreamRestore
from awsmasker.state import MaskerState

log = logging.getLogger(__name__)

#: Largest reply (bytes, by its content-length) restored whole instead of streamed.
BUFFER_LIMIT = 1 << 20


def _is_event_stream(content_type: str) -> bool:
    ct = content_type.lower()
    return "text/event-stream" in ct or "vnd.amazon.eventstream" in ct


def buffered_reply(resp: http.Response) -> tuple[int, str | None] | None:
    """The reply's length and content type, if mitmproxy can buffer it unchanged and we may
    restore it whole: a content-length, no transfer-encoding, no content-encoding (or
    identity), not an event stream (events go to the client as they come)."""
    headers = resp.headers
    length = headers.get("content-length", "")
    if not length.isdigit() or "transfer-encoding" in headers:
        return None
    if headers.get("content-encoding", "").strip().lower() not in ("", "identity"):
        return None
    content_type = headers.get("content-type")
    if content_type is not None and _is_event_stream(content_type):
        return None
    return int(length), content_type


def written_as_it_comes(resp: http.Response) -> bool:
    """Whether a client reads this reply as the server writes it: an event stream, or a body
    without a content-length (chunked, or until the connection closes)."""
    headers = resp.headers
    return _is_event_stream(headers.get("content-type", "")) or "content-length" not in headers


def bodies_kept() -> bool:
    """Whether this mitmproxy keeps or prints reply bodies: mitmweb's or the console's flow view,
    mitmdump's ``flow_detail`` ≥ 3, a flow file (``save_stream_file``) or a HAR dump."""
    opts = ctx.options
    if ctx.master.addons.get("view") is not None:
        return True
    if "flow_detail" in opts and opts.flow_detail >= 3:
        return True
    return any(k in opts and getattr(opts, k) for k in ("save_stream_file", "hardump"))


class ResponseRestoring:
    def __init__(self, state: MaskerState) -> None:
        self.state = state
        self._may_buffer: bool | None = None  # decided on the first reply after a configure

    def configure(self, updated: set[str]) -> None:
        self._may_buffer = None

    def may_buffer(self) -> bool:
        """Whether small replies may be restored whole (see the module docstring)."""
        if self._may_buffer is None:
            self._may_buffer = not bodies_kept()
        return self._may_buffer

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        fs = self.state.flows.get(flow)
        resp = flow.response
        settings = self.state.settings
        if fs is None or resp is None or settings is None:
            return
        if flow.request.method == "HEAD" or resp.status_code in (204, 304):
            return  # no body
        if not fs.token_map:
            # Nothing to restore. A reply that is read as it is written (SSE, or no length) goes
            # through as it comes, as it would without the proxy: mitmproxy would otherwise hold
            # it whole, and a streamed answer would reach the client only once it is complete.
            # It is streamed as well when there are tokens (below), so streaming does not
            # depend on whether the request held an identifier.
            if not resp.stream and written_as_it_comes(resp):
                resp.stream = True
            return
        if not resp.stream and self.may_buffer():  # stream_large_bodies may have set it
            reply = buffered_reply(resp)
            if reply is not None and reply[0] <= min(BUFFER_LIMIT, settings.max_response_size):
                fs.restore_whole = True
                fs.response_type = reply[1]
                return  # mitmproxy buffers it; ``response`` restores it
        restorer = select_restorer(resp.headers.get("content-type"), flow.request.path,
                                   fs.token_map)
        if restorer is None:
            return  # a content type we do not rewrite: bytes pass unchanged
        encoding = resp.headers.get("content-encoding", "identity").strip().lower()
        decoder = None
        if encoding not in ("", "identity"):
            try:
                decoder = stream_decoder(encoding)
            except ValueError:
                decoder = None
            if decoder is None:
                # We asked for identity; an encoding we cannot decode passes through unchanged.
                self._flag(flow, "unsupported_encoding")
                return
            del resp.headers["content-encoding"]
        self._drop_length(flow)
        fs.stream = StreamRestore(restorer, max_bytes=settings.max_response_size,
                                  decoder=decoder)
        fs.restore_started = time.perf_counter()
        # The flow keeps the reply as sent (tokens), and its report is written as the last
        # chunk goes out: before the response hooks, where a flow file saves the flow.
        resp.stream = KeptReply(resp, fs.stream, encoding=encoding if decoder else None,
                                on_end=lambda: self._finish_stream(flow, fs))

    @staticmethod
    def _drop_length(flow: http.HTTPFlow) -> None:
        """Restoring changes the length. On HTTP/1.1 the reply is then sent chunked: without a
        length or chunked framing its end could only be signalled by closing the connection,
        and every request would pay for a new one."""
        resp = flow.response
        assert resp is not None
        resp.headers.pop("content-length", None)
        te = resp.headers.get("transfer-encoding", "").lower()
        if flow.request.http_version == "HTTP/1.1" and "chunked" not in te:
            resp.headers["transfer-encoding"] = "chunked"

    def response(self, flow: http.HTTPFlow) -> None:
        fs = self.state.flows.pop(flow)  # the flow's last hook here
        if fs is None or flow.response is None:
            return
        if fs.token_map and not self.may_buffer():  # for the "aws-masker restored" view
            self.state.flows.keep_map(flow, fs.token_map)
        if fs.stream is not None:
            return  # reported when its last chunk went out (KeptReply's on_end)
        if fs.token_map and not flow.response.stream and flow.response.raw_content:
            # Buffered by choice (fs.restore_whole) or because something else buffered it.
            self._restore_whole(flow, fs)

    def error(self, flow: http.HTTPFlow) -> None:
        self.state.flows.pop(flow)

    def _restore_whole(self, flow: http.HTTPFlow, fs: FlowState) -> None:
        """Restore a buffered reply in one pass, with the streaming path's guarantees (never
        raises; ``error`` or ``size_cap`` flag and the rest passed unchanged)."""
        resp = flow.response
        settings = self.state.settings
        assert resp is not None
        started = time.perf_counter()
        if fs.restore_whole:  # identity, no transfer-encoding: see buffered_reply
            body = resp.raw_content or b""
            content_type = fs.response_type
        else:
            try:
                body = resp.get_content(strict=True) or b""
            except ValueError:
                self._flag(flow, "undecodable_response")
                return
            content_type = resp.headers.get("content-type")
        cap = settings.max_response_size if settings is not None else len(body)
        result = restore_body(content_type, flow.request.path, fs.token_map, body,
                              max_bytes=cap)
        restored = result.body
        if restored != body:
            if fs.restore_whole:  # identity, no transfer-encoding: see buffered_reply
                resp.raw_content = restored
                resp.headers["content-length"] = str(len(restored))
            else:
                resp.content = restored  # encodes again, sets the new content-length
        self._report(flow, result.restored, result.flags, len(body),
                     (time.perf_counter() - started) * 1000)

    def _finish_stream(self, flow: http.HTTPFlow, fs: FlowState) -> None:
        s = fs.stream
        duration = (time.perf_counter() - fs.restore_started) * 1000
        self._report(flow, s.restored, s.flags, s.bytes_decoded, duration)

    def _report(self, flow: http.HTTPFlow, restored: Mapping[str, int], flags: AbstractSet[str],
                nbytes: int, duration_ms: float) -> None:
        """``restored``: occurrences per token restored (the restorer's record)."""
        state = self.state
        counts = counts_by_type(restored) if restored else {}
        if counts:
            add_counts(state.totals.restored_by_type, counts)
            note_restored(flow, counts)
            if state.log_flows:
                log.info("aws-masker: restored %s in the reply to %s %s (%d bytes, %.1f ms)",
                         by_type(counts), flow.request.method,
                         logged_url(flow), nbytes, duration_ms)
        for f in flags:
            self._flag(flow, f)
        if not state.events_enabled:
            return
        if "size_cap" in flags:
            state.emit_flow_event("restore_skipped", flow, counts=counts, bytes=nbytes,
                                  duration_ms=duration_ms, reason="size_cap",
                                  tokens=sorted(restored))
        state.emit_flow_event("restored", flow, counts=counts, bytes=nbytes,
                              duration_ms=duration_ms, flags=sorted(flags),
                              tokens=sorted(restored))

    def _flag(self, flow: http.HTTPFlow, reason: str) -> None:
        self.state.totals.flagged_by_reason[reason] += 1
        note_flag(flow, reason)
        log.warning("aws-masker: %s %s", reason, logged_url(flow))
