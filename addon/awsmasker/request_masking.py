"""The ``RequestMasking`` addon: mask identifiers in request bodies bound for target hosts.

Fail closed: whenever a target request cannot be masked, the proxy answers it with an error in
the target API's shape and the request never goes upstream (DESIGN invariant 1).
"""

from __future__ import annotations

import logging
import time
from collections import Counter

from mitmproxy import ctx, http
from mitmproxy.utils import human

from awsmasker.carriers import Refused, request_texts
from awsmasker.catalogue import Finding
from awsmasker.errors import block_response
from awsmasker.flowstate import add_counts, by_type
from awsmasker.labels import logged_url, note_blocked, note_flag, note_masked
from awsmasker.scope import is_target
from awsmasker.sigv4 import Signer, prepare
from awsmasker.state import MaskerState
from awsmasker.store.base import StoreError
from awsmasker.websocket import WebSocketMessages

log = logging.getLogger(__name__)


def stream_limit() -> int | None:
    """mitmproxy's ``stream_large_bodies`` in bytes, or None when it is off."""
    value = ctx.options.stream_large_bodies
    return (human.parse_size(value) or 0) if value else None


def could_stream_request(flow: http.HTTPFlow, limit: int | None) -> bool:
    """Whether mitmproxy's ``stream_large_bodies`` (``limit``) may send this request's body
    upstream as it arrives: a known length over the limit, or a length only known at the end
    (chunked, or HTTP/2 and HTTP/3 without content-length), whatever the method."""
    req = flow.request
    if req.stream:
        return True
    if limit is None:
        return False
    if "chunked" in req.headers.get("transfer-encoding", "").lower():
        return True
    length = req.headers.get("content-length")
    if length is None:
        # HTTP/1 without either field has no body; HTTP/2 and 3 frame the body themselves,
        # so it may run past the limit (these headers do not say whether one follows).
        return req.http_version not in ("HTTP/1.1", "HTTP/1.0")
    return not length.strip().isdigit() or int(length) > limit


def after_map_remote(flow: http.HTTPFlow) -> http.HTTPFlow:
    """A copy of ``flow`` as mitmproxy's ``map_remote`` will send it. A streamed request's body
    leaves before the ``request`` hook, where map_remote rewrites the destination, so its real
    destination must be worked out here."""
    map_remote = ctx.master.addons.get("mapremote")
    if map_remote is None or not ctx.options.map_remote:
        return flow
    copy = flow.copy()
    copy.live = True  # map_remote leaves flows that are not live alone
    map_remote.request(copy)
    return copy


class RequestMasking:
    def __init__(self, state: MaskerState) -> None:
        self.state = state
        #: ``stream_large_bodies`` in bytes (None: off), read in ``configure``: every read of
        #: ``ctx.options`` deep-copies the value, and this is needed for every request
        self._stream_limit: int | None = None
        self._signer = Signer()  # Bedrock SigV4: see sigv4.py
        self.websockets = WebSocketMessages(state)

    def configure(self, updated: set[str]) -> None:
        if "stream_large_bodies" in updated:
            self._stream_limit = stream_limit()

    async def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not could_stream_request(flow, self._stream_limit):
            return
        settings = self.state.settings
        if await is_target(flow, settings) or await is_target(after_map_remote(flow), settings):
            # With stream_large_bodies, mitmproxy sends a large body upstream as it arrives,
            # without the request hook, and no hook can stop it later (the size of a chunked
            # body is only known once buffered). Killing the flow now is the only way to make
            # sure no byte of it reaches the server. A response cannot be set here: mitmproxy
            # refuses a response on a streamed request, and one set on a request it goes on to
            # buffer is lost as soon as the buffer crosses the limit and streaming starts.
            self.state.totals.blocked_by_reason["request_streamed"] += 1
            note_blocked(flow, "killed (stream_large_bodies would send it unmasked)")
            log.warning("aws-masker: refused %s %s: its body could exceed stream_large_bodies "
                      "and would go upstream unmasked; unset stream_large_bodies",
                      flow.request.method, logged_url(flow))
            self.state.emit_flow_event("blocked", flow, reason="request_streamed")
            flow.kill()

    async def request(self, flow: http.HTTPFlow) -> None:
        state = self.state
        if flow.response is not None or not await is_target(flow, state.settings):
            return
        state.totals.flows_seen += 1
        if not state.ready:
            self._block(flow, 500, f"configuration error: {state.config_error or 'not loaded'}",
                        "config_error")
            return
        try:
            # Bedrock SigV4 (sigv4.py): read before masking, signed again after it, last.
            signing = prepare(self._signer, flow)
            await self._mask(flow)
            if signing is not None and flow.response is None and (refusal := await signing()):
                self._block(flow, refusal.status, str(refusal), refusal.reason)
        except StoreError as e:
            state.totals.store_errors += 1
            self._block(flow, 503, f"mapping store unavailable ({e}); the request was not sent",
                        "store_error")
            state.emit_flow_event("store_error", flow, reason=str(type(e).__name__))
        except Exception as e:
            log.exception("aws-masker: masking failed")
            self._block(flow, 500, f"internal masking error ({type(e).__name__}); "
                        "the request was not sent", "internal_error")

    async def _mask(self, flow: http.HTTPFlow) -> None:
        state = self.state
        settings = state.settings
        assert settings is not None and state.masker is not None
        req = flow.request
        raw_len = len(req.raw_content or b"")
        if raw_len > settings.max_request_size:
            self._block(flow, 413, f"request body of {raw_len} bytes exceeds max_request_size "
                        f"({settings.max_request_size})", "request_too_large")
            return
        headers = req.headers
        # an identity body is sent as it is; any other content-encoding is decoded here
        decode = headers.get("content-encoding", "").strip().lower() not in ("", "identity")
        try:
            raw = (req.get_content(strict=True) if decode else req.raw_content) or b""
        except ValueError:
            self._block(flow, 500, "the request body's content-encoding could not be decoded",
                        "undecodable_body")
            return
        if len(raw) > settings.max_request_size:
            self._block(flow, 413, f"decoded request body of {len(raw)} bytes exceeds "
                        f"max_request_size ({settings.max_request_size})", "request_too_large")
            return
        started = time.perf_counter()
        fs = state.flows.create(flow)
        sent_tokens: list[str] = []
        try:
            texts = request_texts(req, raw, headers.get("content-type", ""))
        except Refused as e:
            self._block(flow, e.status, e.message, e.reason)
            return
        if texts.binary:
            if settings.block_unscanned_binary:
                self._block(flow, 415, f"the request holds binary content the proxy cannot scan "
                            f"({', '.join(sorted(set(texts.binary)))}) and "
                            "block_unscanned_binary is on", "unscanned_binary")
                return
            self._flag_binary(flow, texts.binary)
        plans = [state.masker.plan(p.text, is_json=p.is_json) for p in texts.pieces]
        # one store round trip for every piece of the request
        index: dict[Finding, int] = {}
        present: dict[str, None] = {}
        for plan in plans:
            for f in plan.findings:
                index.setdefault(f, len(index))
            present.update(dict.fromkeys(plan.present_tokens))
        if index or present:
            findings = list(index)
            resolution = await state.store.resolve(findings, list(present))
            tokens = sent_tokens = resolution.tokens  # secrets' tokens too (no value)
            counts: Counter[str] = Counter()
            for plan, piece in zip(plans, texts.pieces, strict=True):
                if plan.findings:
                    piece.put(plan.apply([tokens[index[f]] for f in plan.findings]))
                    add_counts(counts, plan.counts)
            masked = texts.body()
            if masked is not None:
                if decode:
                    req.content = masked  # encodes again
                else:  # identity in any spelling: the bytes as masked, and their length
                    req.raw_content = masked
                    if "transfer-encoding" not in headers:
                        headers["content-length"] = str(len(masked))
            token_map = fs.token_map
            token_map.update(resolution.originals)
            for finding, token in zip(findings, tokens, strict=True):
                if finding.reversible:
                    token_map[token] = finding.value
            fs.masked_counts = dict(counts)
        # Ask for a reply we can rewrite as it comes (one field, whatever the client sent).
        headers["accept-encoding"] = "identity"
        if headers.get("upgrade", "").strip().lower() == "websocket":
            self.websockets.upgrade_requested(flow, fs.token_map)
        fs.mask_ms = (time.perf_counter() - started) * 1000
        counts = fs.masked_counts
        if counts:
            state.totals.flows_masked += 1
            add_counts(state.totals.masked_by_type, counts)
            note_masked(flow, counts)
            if state.log_flows:
                log.info("aws-masker: masked %s in %s %s (%d bytes, %.1f ms)", by_type(counts),
                         req.method, logged_url(flow), len(raw), fs.mask_ms)
        if state.events_enabled:  # its fields cost a sort of the token map per flow
            state.emit_flow_event(
                "masked", flow, counts=dict(counts), bytes=len(raw),
                duration_ms=fs.mask_ms, tokens=sorted(set(fs.token_map).union(sent_tokens)),
            )

    async def websocket_message(self, flow: http.HTTPFlow) -> None:
        """Client text of a target WebSocket masked, server text restored (see
        :mod:`awsmasker.websocket`)."""
        if not self.state.ready:
            return
        # A connection whose upgrade was masked is known; the scope check (names, maybe DNS)
        # is only for one that is not, not repeated for every message.
        scoped = self.websockets.tracks(flow) or await is_target(flow, self.state.settings)
        await self.websockets.message(flow, scoped)

    def websocket_end(self, flow: http.HTTPFlow) -> None:
        self.websockets.end(flow)

    def _flag_binary(self, flow: http.HTTPFlow, kinds: list[str]) -> None:
        """Binary content passed unscanned: counted, and the flow says so."""
        self.state.totals.flagged_by_reason["binary_unscanned"] += len(kinds)
        note = f"binary passed unscanned ({', '.join(sorted(set(kinds)))})"
        note_flag(flow, note)
        log.warning("aws-masker: %s: %s %s", note, flow.request.method,
                    logged_url(flow))

    def _block(self, flow: http.HTTPFlow, status: int, message: str, reason: str) -> None:
        if flow.request.stream:
            flow.request.stream = False
        flow.response = block_response(flow, status, message, reason)
        note_blocked(flow, f"blocked ({reason})")
        self.state.flows.pop(flow)
        self.state.totals.blocked_by_reason[reason] += 1
        log.warning("aws-masker: blocked %s %s: %s", flow.request.method,
                    logged_url(flow), message)
        self.state.emit_flow_event("blocked", flow, reason=reason, status=status)
