"""The ``ResponseRestoring`` addon: put the originals back into replies from target hosts.

Only the flow's own token map is used (DESIGN: restore is exact and scoped), so the response
path never waits on the store. Replies are always streamed through a sans-IO restorer, which
keeps memory bounded whatever the reply size.
"""

from __future__ import annotations

import logging
import time

from mitmproxy import http

from awsmasker.restore import restore_body, select_restorer
from awsmasker.restore.decoding import stream_decoder
from awsmasker.restore.stream import StreamRestore
from awsmasker.state import MaskerState

log = logging.getLogger(__name__)


class ResponseRestoring:
    def __init__(self, state: MaskerState) -> None:
        self.state = state

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        fs = self.state.flows.get(flow)
        resp = flow.response
        if fs is None or not fs.token_map or resp is None or self.state.settings is None:
            return
        if flow.request.method == "HEAD" or resp.status_code in (204, 304):
            return  # no body
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
        fs.stream = StreamRestore(restorer, max_bytes=self.state.settings.max_response_size,
                                  decoder=decoder)
        fs.restore_started = time.perf_counter()
        resp.stream = fs.stream

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
        fs = self.state.flows.get(flow)
        if fs is None or flow.response is None:
            return
        try:
            if fs.stream is not None:
                self._finish_stream(flow)
            elif fs.token_map and not flow.response.stream and flow.response.raw_content:
                self._restore_whole(flow)
        finally:
            self.state.flows.discard(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self.state.flows.discard(flow)

    def _restore_whole(self, flow: http.HTTPFlow) -> None:
        """Fallback for a reply that was not streamed (e.g. another addon buffered it)."""
        fs = self.state.flows.get(flow)
        resp = flow.response
        assert fs is not None and resp is not None
        started = time.perf_counter()
        try:
            body = resp.get_content(strict=True) or b""
        except ValueError:
            self._flag(flow, "undecodable_response")
            return
        restored, counts = restore_body(resp.headers.get("content-type"), flow.request.path,
                                        fs.token_map, body)
        if restored != body:
            resp.content = restored
        self._report(flow, counts, set(), len(body), (time.perf_counter() - started) * 1000)

    def _finish_stream(self, flow: http.HTTPFlow) -> None:
        fs = self.state.flows.get(flow)
        assert fs is not None
        s = fs.stream
        duration = (time.perf_counter() - fs.restore_started) * 1000
        self._report(flow, s.restored, set(s.flags), s.bytes_decoded, duration)

    def _report(self, flow: http.HTTPFlow, counts, flags: set[str], nbytes: int,
                duration_ms: float) -> None:
        state = self.state
        state.totals.restored_by_type.update(counts)
        for f in flags:
            self._flag(flow, f)
        if counts:
            summary = ", ".join(f"{t}×{n}" for t, n in sorted(counts.items()))
            flow.comment = (flow.comment + "; " if flow.comment else "") + f"restored {summary}"
        if "size_cap" in flags:
            state.emit_flow_event("restore_skipped", flow, counts=dict(counts), bytes=nbytes,
                                  duration_ms=duration_ms, reason="size_cap")
        state.emit_flow_event("restored", flow, counts=dict(counts), bytes=nbytes,
                              duration_ms=duration_ms, flags=sorted(flags))

    def _flag(self, flow: http.HTTPFlow, reason: str) -> None:
        self.state.totals.flagged_by_reason[reason] += 1
        flow.marked = ":warning:"
        note = f"aws-masker: {reason.replace('_', ' ')}"
        if note not in (flow.comment or ""):
            flow.comment = (flow.comment + "; " if flow.comment else "") + note
        log.warning("aws-masker: %s %s", reason, flow.request.pretty_url.split("?", 1)[0])
