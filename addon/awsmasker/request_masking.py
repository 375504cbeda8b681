"""The ``RequestMasking`` addon: mask identifiers in request bodies bound for target hosts.

Fail closed: whenever a target request cannot be masked, the proxy answers it with an error in
the target API's shape and the request never goes upstream (DESIGN invariant 1).
"""

from __future__ import annotations

import logging
import time

from mitmproxy import ctx, http
from mitmproxy.utils import human

from awsmasker.errors import block_response
from awsmasker.flowstate import add_counts
from awsmasker.headers import note_position, set_fields_at
from awsmasker.labels import note_blocked, note_masked
from awsmasker.scope import is_target
from awsmasker.state import MaskerState
from awsmasker.store.base import StoreError

log = logging.getLogger(__name__)


def decode_text(raw: bytes) -> tuple[str, str]:
    """Body bytes → (text, codec). Identifiers are ASCII, so latin-1 keeps any other body exact."""
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("latin-1"), "latin-1"


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


class RequestHead:
    """The request headers the masking step reads, from one pass over the raw fields
    (mitmproxy's ``Headers.get`` scans and lower-cases every field on each call)."""

    __slots__ = ("accept_identity", "content_type", "plain_body", "positions")

    def __init__(self, req: http.Request) -> None:
        self.content_type = ""
        self.accept_identity = False
        #: no content-encoding and no transfer-encoding: raw_content is the body and
        #: content-length its framing
        self.plain_body = True
        #: where the fields the masking step may set are (see ``set_fields_at``)
        self.positions: dict[bytes, int] = {}
        seen_accept = False
        for i, (name, value) in enumerate(req.headers.fields):
            name = name.lower()
            if name == b"content-type":
                self.content_type = value.decode("latin-1")
            elif name == b"content-length":
                note_position(self.positions, name, i)
            elif name == b"accept-encoding":  # identity only if every such field says so
                self.accept_identity = value == b"identity" and (
                    self.accept_identity or not seen_accept)
                seen_accept = True
                note_position(self.positions, name, i)
            elif name == b"transfer-encoding" or (
                name == b"content-encoding" and value.strip().lower() not in (b"", b"identity")
            ):
                self.plain_body = False


def declared_json(content_type: str) -> bool | None:
    """True for a JSON content type; None lets the masker sniff the body."""
    return True if "json" in content_type.lower() else None


class RequestMasking:
    def __init__(self, state: MaskerState) -> None:
        self.state = state
        #: ``stream_large_bodies`` in bytes (None: off), read in ``configure``: every read of
        #: ``ctx.options`` deep-copies the value, and this is needed for every request
        self._stream_limit: int | None = None

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
                      flow.request.method, flow.request.pretty_url.split("?", 1)[0])
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
            await self._mask(flow)
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
        head = RequestHead(req)
        try:
            raw = (req.raw_content if head.plain_body else req.get_content(strict=True)) or b""
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
        fs.request_bytes = len(raw)
        new_fields: dict[bytes, bytes] = {}
        if raw:
            text, codec = decode_text(raw)
            plan = state.masker.plan(text, is_json=declared_json(head.content_type))
            if plan.findings or plan.present_tokens:
                resolution = await state.store.resolve(plan.findings, plan.present_tokens)
                if plan.findings:
                    masked = plan.apply(resolution.tokens).encode(codec)
                    if head.plain_body:  # what set_content does here, minus header lookups
                        req.raw_content = masked
                        new_fields[b"content-length"] = b"%d" % len(masked)
                    else:
                        req.content = masked  # encodes again
                token_map = fs.token_map
                token_map.update(resolution.originals)
                for finding, token in zip(plan.findings, resolution.tokens, strict=True):
                    if finding.reversible:
                        token_map[token] = finding.value
                fs.masked_counts = plan.counts  # one plan per flow: its counts are the flow's
        # Ask for a reply we can rewrite as it comes.
        if not head.accept_identity:
            new_fields[b"accept-encoding"] = b"identity"
        if new_fields:
            set_fields_at(req.headers, head.positions, new_fields)
        fs.mask_ms = (time.perf_counter() - started) * 1000
        counts = fs.masked_counts
        if counts:
            state.totals.flows_masked += 1
            add_counts(state.totals.masked_by_type, counts)
            note_masked(flow, counts)
        if state.events_enabled:  # its fields cost a sort of the token map per flow
            state.emit_flow_event(
                "masked", flow, counts=dict(counts), bytes=len(raw),
                duration_ms=fs.mask_ms, tokens=sorted(fs.token_map),
            )

    def _block(self, flow: http.HTTPFlow, status: int, message: str, reason: str) -> None:
        if flow.request.stream:
            flow.request.stream = False
        flow.response = block_response(flow, status, message, reason)
        note_blocked(flow, f"blocked ({reason})")
        self.state.flows.pop(flow)
        self.state.totals.blocked_by_reason[reason] += 1
        log.warning("aws-masker: blocked %s %s: %s", flow.request.method,
                    flow.request.pretty_url.split("?", 1)[0], message)
        self.state.emit_flow_event("blocked", flow, reason=reason, status=status)
