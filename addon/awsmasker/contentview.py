"""What a person sees of masked flows in mitmweb and the console.

Two content views:

- ``aws-masker`` shows a body as it went over the wire: tokens wrapped in ``⟦…⟧`` and a header
  line counting them per type. It shows tokens only, never originals, and is picked
  automatically for bodies that carry tokens;
- ``aws-masker restored`` shows the same body with the originals put back, computed when it is
  shown from the flow's token map, which the proxy holds in memory beside the flow (never in it).
  It is chosen by hand; a flow read from a file, or one that outlived the proxy, has no map, and
  the view says so.

The :class:`MaskerContentview` addon registers both and keeps mitmweb's flow list useful: the
comment column (``14 masked · 42 restored``) is added to mitmweb's default columns. It refuses
mitmproxy's ``store_streamed_bodies``: the flow would keep the restored reply as it went to the
client, originals included (``awsmasker.kept_reply`` keeps the reply as the model sent it).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections import Counter

from mitmproxy import contentviews, ctx, exceptions, http

from awsmasker.flowstate import count_summary
from awsmasker.restore import counts_by_type, restore_body
from awsmasker.state import MaskerState
from awsmasker.tokens import TOKEN_RE

OPEN, CLOSE = "⟦", "⟧"
#: bodies larger than this are not looked at for tokens when mitmweb picks a view
_SNIFF_LIMIT = 8 * 1024 * 1024


def mark_tokens(text: str) -> tuple[str, Counter[str]]:
    counts: Counter[str] = Counter()

    def mark(m) -> str:
        counts[m.group("type")] += 1
        return f"{OPEN}{m.group(0)}{CLOSE}"

    return TOKEN_RE.sub(mark, text), counts


def _pretty(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    with contextlib.suppress(ValueError):
        text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    return text


#: keys whose string values are the text an event stream delivers piece by piece: Anthropic
#: (text, partial_json, thinking), OpenAI Chat (content, arguments), OpenAI Responses (delta),
#: Bedrock ConverseStream (text, input)
_DELTA_KEYS = ("text", "partial_json", "thinking", "content", "arguments", "delta", "input")
SSE, AWS_EVENTSTREAM = "text/event-stream", "application/vnd.amazon.eventstream"


def _strings(value: object, key: str, out: dict[str, list[str]]) -> None:
    if isinstance(value, str):
        if key in _DELTA_KEYS:
            out.setdefault(key, []).append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            _strings(v, k, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, key, out)


def stream_kind(content_type: str | None) -> str | None:
    """SSE or AWS_EVENTSTREAM for an event stream's content type, else None."""
    ct = (content_type or "").lower()
    return next((kind for kind in (SSE, AWS_EVENTSTREAM) if kind in ct), None)


def aws_events(data: bytes) -> list[tuple[str, object]]:
    """The frames of an AWS event stream (Bedrock) as (event type, JSON payload), read with
    botocore's parser; a ``chunk``'s base64 ``bytes`` (one Anthropic event) decoded. Reading
    stops at a frame botocore refuses (the rest of a cut copy, say)."""
    from botocore.eventstream import EventStreamBuffer

    buf = EventStreamBuffer()
    buf.add_data(data)
    out: list[tuple[str, object]] = []
    try:
        for msg in buf:
            name = msg.headers.get(":event-type") or msg.headers.get(":exception-type") or "?"
            try:
                payload = json.loads(msg.payload)
                if isinstance(payload, dict) and isinstance(payload.get("bytes"), str):
                    payload = json.loads(base64.b64decode(payload["bytes"]))
            except ValueError:
                payload = msg.payload.decode("utf-8", "replace")
            out.append((name, payload))
    except Exception:  # botocore's parser errors: a cut or corrupt frame
        pass
    return out


def _stream_events(data: bytes, kind: str) -> list[object]:
    if kind == AWS_EVENTSTREAM:
        return [payload for _, payload in aws_events(data)]
    events = []
    for line in data.decode("utf-8", "replace").splitlines():
        if line.startswith("data:"):
            with contextlib.suppress(ValueError):
                events.append(json.loads(line[5:]))
    return events


def event_texts(data: bytes, kind: str = SSE) -> dict[str, str]:
    """An event stream's text pieces joined, by the key they came under. A model writes a token
    in several deltas, so only the joined text shows it whole."""
    out: dict[str, list[str]] = {}
    for event in _stream_events(data, kind):
        _strings(event, "", out)
    return {k: "".join(v) for k, v in out.items()}


def _stream_body(data: bytes, kind: str, mark: bool) -> tuple[str, Counter[str]]:
    """An event stream for display: its joined text first (where tokens are whole), then its
    events (AWS frames decoded, one a line)."""
    parts, counts = [], Counter[str]()
    for key, text in event_texts(data, kind).items():
        if mark:
            text, n = mark_tokens(text)
            counts += n
        parts.append(f"## {key} (the events' pieces joined)\n{text}\n")
    if kind == AWS_EVENTSTREAM:
        events = "\n".join(f"{name}: {json.dumps(p, ensure_ascii=False)}"
                           for name, p in aws_events(data))
    else:
        events = data.decode("utf-8", "replace")
    if mark:
        events, _ = mark_tokens(events)
    return "\n".join([*parts, f"## the events\n{events}"]), counts


class MaskedBodyContentview(contentviews.Contentview):
    @property
    def name(self) -> str:
        return "aws-masker"

    @property
    def syntax_highlight(self) -> contentviews.SyntaxHighlight:
        return "yaml"  # mitmproxy highlights JSON with its YAML highlighter

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        kind = stream_kind(metadata.content_type)
        if kind is not None:
            body, counts = _stream_body(data, kind, mark=True)
        else:
            body, counts = mark_tokens(_pretty(data))
        if counts:
            header = (f"# aws-masker: {counts.total()} tokens, originals: View ▸ aws-masker "
                      f"restored\n# {count_summary(counts)}")
        else:
            header = "# aws-masker: no tokens"
        return f"{header}\n{body}"

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        # Chosen by default (above the JSON view's 1) only for bodies that carry tokens.
        if len(data) > _SNIFF_LIMIT:
            return -1
        if TOKEN_RE.search(data.decode("utf-8", "replace")):
            return 1.5
        kind = stream_kind(metadata.content_type)
        if kind is not None and any(TOKEN_RE.search(t) for t in event_texts(data, kind).values()):
            return 1.5
        return -1


class RestoredBodyContentview(contentviews.Contentview):
    def __init__(self, state: MaskerState) -> None:
        self.state = state

    @property
    def name(self) -> str:
        return "aws-masker restored"

    @property
    def syntax_highlight(self) -> contentviews.SyntaxHighlight:
        return "yaml"

    def prettify(self, data: bytes, metadata: contentviews.Metadata) -> str:
        flow = metadata.flow
        token_map = (self.state.flows.token_map(flow)
                     if isinstance(flow, http.HTTPFlow) else None)
        if not token_map:
            marked, _ = mark_tokens(_pretty(data))
            return ("# aws-masker restored: this proxy holds no token map for this flow\n"
                    "# (read from a file, made before a restart, or nothing was masked)\n"
                    + marked)
        path = flow.request.path if isinstance(flow, http.HTTPFlow) else ""
        # The restorers the proxy uses, so a token split across SSE events is found too.
        result = restore_body(metadata.content_type or "text/plain", path, token_map, data)
        restored = counts_by_type(result.restored)
        what = (f"{sum(restored.values())} originals put back\n# {count_summary(restored)}"
                if restored else "no token of this flow in this body")
        kind = stream_kind(metadata.content_type)
        if kind is not None:
            body, _ = _stream_body(result.body, kind, mark=False)
        else:
            body = _pretty(result.body)
        return ("# aws-masker restored: from this proxy's memory, not stored in the flow\n"
                f"# {what}\n{body}")

    def render_priority(self, data: bytes, metadata: contentviews.Metadata) -> float:
        return -1  # shows originals: only when a person picks it


class MaskerContentview:
    """Addon: registers the content views, shows the comment column, refuses
    ``store_streamed_bodies``."""

    def __init__(self, state: MaskerState | None = None) -> None:
        self.view = MaskedBodyContentview()
        self.restored_view = RestoredBodyContentview(state or MaskerState())

    def load(self, loader) -> None:
        contentviews.add(self.view)
        contentviews.add(self.restored_view)

    def configure(self, updated: set[str]) -> None:
        if "store_streamed_bodies" in updated and ctx.options.store_streamed_bodies:
            raise exceptions.OptionsError(
                "store_streamed_bodies would keep each restored reply, originals included, in "
                "its flow; aws-masker keeps the reply as the model sent it (tokens) instead")

    def running(self) -> None:
        opts = ctx.options
        if "web_columns" not in opts or opts.has_changed("web_columns"):
            return  # not mitmweb, or the user chose the columns
        opts.update(web_columns=[*opts.web_columns, "comment"])
