"""WebSocket messages of target flows: client text masked, server text restored.

Each connection has its own token map (the tokens of its upgrade request and of every message
the client sent), so a server message is restored only with tokens of its own connection.

Fail closed: a client message that cannot be masked (a binary message, a store failure) is not
forwarded, and the connection is closed with code 1008 and a reason saying why. Every later
client message of that connection is dropped until the close is through.
"""

from __future__ import annotations

import logging
import os
import struct
import time
import weakref

from mitmproxy import ctx, http
from mitmproxy.proxy.layers.websocket import WebsocketLayer
from mitmproxy.websocket import WebSocketMessage

from awsmasker import labels
from awsmasker.flowstate import add_counts
from awsmasker.restore import JsonRestorer, TextRestorer, counts_by_type
from awsmasker.state import MaskerState
from awsmasker.store.base import StoreError

log = logging.getLogger(__name__)

#: RFC 6455 close code "policy violation"
POLICY_VIOLATION = 1008


class Connection:
    __slots__ = ("closing", "counts", "token_map")

    def __init__(self, token_map: dict[str, str]) -> None:
        self.token_map = token_map
        self.counts: dict[str, int] = {}
        #: a close was requested: drop every client message from now on
        self.closing = False


class WebSocketMessages:
    def __init__(self, state: MaskerState) -> None:
        self.state = state
        self._conns: weakref.WeakKeyDictionary[http.HTTPFlow, Connection] = (
            weakref.WeakKeyDictionary())

    def upgrade_requested(self, flow: http.HTTPFlow, token_map: dict[str, str]) -> None:
        """A target request asks for a WebSocket: its tokens start the connection's map."""
        self._conns[flow] = Connection(dict(token_map))

    def tracks(self, flow: http.HTTPFlow) -> bool:
        """Whether this connection's upgrade was a target request (its messages are ours)."""
        return flow in self._conns

    async def message(self, flow: http.HTTPFlow, scoped: bool) -> None:
        conn = self._conns.get(flow)
        if conn is None:
            if not scoped:
                return
            conn = self._conns[flow] = Connection({})
        assert flow.websocket is not None
        msg = flow.websocket.messages[-1]
        if not msg.from_client:
            self._restore(flow, conn, msg)
            return
        if conn.closing:
            msg.drop()
            return
        if not msg.is_text:
            self._refuse(flow, conn, msg, "binary message refused: the proxy masks text only",
                         "websocket_binary")
            return
        try:
            await self._mask(flow, conn, msg)
        except StoreError:
            self.state.totals.store_errors += 1
            self._refuse(flow, conn, msg, "mapping store unavailable; message not sent",
                         "store_error")
        except Exception as e:
            log.exception("aws-masker: masking a WebSocket message failed")
            self._refuse(flow, conn, msg, f"internal masking error ({type(e).__name__})",
                         "internal_error")

    async def _mask(self, flow: http.HTTPFlow, conn: Connection, msg: WebSocketMessage) -> None:
        state = self.state
        assert state.masker is not None
        text = msg.text
        plan = state.masker.plan(text)
        if not (plan.findings or plan.present_tokens):
            return
        resolution = await state.store.resolve(plan.findings, plan.present_tokens)
        conn.token_map.update(resolution.originals)
        for finding, token in zip(plan.findings, resolution.tokens, strict=True):
            if finding.reversible:
                conn.token_map[token] = finding.value
        if plan.findings:
            msg.text = plan.apply(resolution.tokens)
            add_counts(state.totals.masked_by_type, plan.counts)
            for t, n in plan.counts.items():
                conn.counts[t] = conn.counts.get(t, 0) + n
            flow.comment = f"{sum(conn.counts.values())} masked (websocket)"
            flow.marked = labels.MASKED

    def _restore(self, flow: http.HTTPFlow, conn: Connection, msg: WebSocketMessage) -> None:
        """Server text gets the connection's originals back; binary passes (no text)."""
        if not msg.is_text or not conn.token_map or msg.content.find(b"AWS_") < 0:
            return
        started = time.perf_counter()
        data = msg.content
        first = data.lstrip()[:1]
        restorer = (JsonRestorer(conn.token_map) if first in (b"{", b"[")
                    else TextRestorer(conn.token_map))
        try:
            out = restorer.whole(data)
        except Exception:
            log.exception("aws-masker: restoring a WebSocket message failed")
            return  # tokens stay tokens: nothing leaks
        msg.content = out
        if not restorer.restored:
            return
        counts = counts_by_type(restorer.restored)
        add_counts(self.state.totals.restored_by_type, counts)
        self.state.emit_flow_event(
            "restored", flow, counts=counts, bytes=len(data), wire_format="websocket",
            duration_ms=(time.perf_counter() - started) * 1000, tokens=sorted(restorer.restored))

    def _refuse(self, flow: http.HTTPFlow, conn: Connection, msg: WebSocketMessage,
                why: str, reason: str) -> None:
        msg.drop()
        self.state.totals.blocked_by_reason[reason] += 1
        labels.note_blocked(flow, f"websocket closed ({reason})")
        log.warning("aws-masker: closing WebSocket %s: %s",
                    labels.logged_url(flow), why)
        self.state.emit_flow_event("blocked", flow, reason=reason)
        if not conn.closing:
            conn.closing = True
            if not close_from_client(flow, POLICY_VIOLATION, f"aws-masker: {why}"):
                log.warning("aws-masker: could not close the WebSocket; its client messages "
                            "are dropped from now on")

    def end(self, flow: http.HTTPFlow) -> None:
        self._conns.pop(flow, None)


def close_from_client(flow: http.HTTPFlow, code: int, reason: str) -> bool:
    """Close ``flow``'s WebSocket on both sides with ``code`` and ``reason``, as if the client
    had sent that close frame after its last message.

    mitmproxy has no command to close a WebSocket: the frame is handed to the connection's
    WebSocket layer as data received from the client, right behind the message being handled,
    so the layer closes the server side and answers the client with the same code and reason.
    Returns False when the layer cannot be found (the caller drops every later message)."""
    layer = _websocket_layer(flow)
    if layer is None:
        return False
    payload = struct.pack("!H", code) + reason.encode()[:123]
    key = os.urandom(4)
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    frame = bytes([0x88, 0x80 | len(payload)]) + key + masked
    layer.client_ws.receive_data(frame)
    return True


def _websocket_layer(flow: http.HTTPFlow) -> WebsocketLayer | None:
    proxyserver = ctx.master.addons.get("proxyserver")
    handler = getattr(proxyserver, "connections", {}).get(flow.client_conn.id)
    stack = [getattr(handler, "layer", None)]
    seen: set[int] = set()
    while stack and len(seen) < 256:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, WebsocketLayer) and node.flow is flow:
            return node
        stack.extend(getattr(node, name, None) for name in ("layer", "child_layer"))
        # a layer that handed its events on keeps its child only as that handler's owner
        stack.extend(getattr(getattr(node, name, None), "__self__", None)
                     for name in ("_handle_event", "handle_event"))
        streams = getattr(node, "streams", None)
        if isinstance(streams, dict):
            stack.extend(streams.values())
    return None
