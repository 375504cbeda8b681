"""Where text travels in a target request, and how each piece is written back once masked.

A *carrier* hands out :class:`Piece` objects: a text to scan (decoded from whatever encoding
it travels in) and a ``put`` that writes the masked text back in that same encoding. The
masking step plans every piece of one request, resolves all their findings in one store round
trip and puts back the pieces that changed. Pieces that did not change keep their original
bytes exactly.

Carriers of one request:

- the body, by content type: JSON or text in its charset (``charset=`` parameter or BOM),
  ``application/x-www-form-urlencoded`` fields, ``multipart/*`` parts (each part by its own
  content type, charset and content-transfer-encoding), and base64 text inside JSON (Anthropic
  ``document`` sources, ``data:`` URLs such as OpenAI file inputs);
- the URL: query keys and values, path segments (except where the API needs them:
  :func:`kept_path_segments`);
- header values, except the API's own (:data:`API_HEADERS`, ``content-*``).

Each text is decoded and encoded back by :mod:`awsmasker.textcodecs`. What cannot be decoded
although it claims to be text is refused (:class:`Refused`); binary content that cannot be
scanned (images, PDFs, archives) is listed in ``binary`` for the caller to flag or refuse.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import quote, quote_plus, unquote_to_bytes

from mitmproxy import http

from awsmasker.body import MaskingError
from awsmasker.textcodecs import (
    Payload,
    Refused,
    base64_payloads,
    content_type_parts,
    decode_charset,
    decode_transfer,
    encode_transfer,
    is_json_type,
    is_text_type,
)


@dataclass(slots=True)
class Piece:
    """A text to scan and where its masked form goes (``put`` is called only if it changed)."""

    text: str
    is_json: bool | None
    put: Callable[[str], None]


@dataclass(slots=True)
class RequestTexts:
    pieces: list[Piece] = field(default_factory=list)
    #: media types of content passed unscanned (binary), one entry per item
    binary: list[str] = field(default_factory=list)
    #: the new body once the pieces are put back (None: the body is unchanged)
    body: Callable[[], bytes | None] = lambda: None


# -- joined short texts (headers, URL parts, form fields) -------------------------------------

_SEP = "\n"


def joined_pieces(items: list[tuple[str, Callable[[str], None]]]) -> Iterator[Piece]:
    """Short texts scanned as one text (one plan instead of one each), joined by a newline,
    which no identifier holds; a text holding a newline itself is a piece of its own."""
    alone = [(t, put) for t, put in items if _SEP in t]
    together = [(t, put) for t, put in items if _SEP not in t and t]
    yield from (Piece(t, False, put) for t, put in alone)
    if not together:
        return

    def put_all(masked: str) -> None:
        parts = masked.split(_SEP)
        if len(parts) != len(together):
            raise MaskingError("a match crossed two header or URL values")
        for (old, put), new in zip(together, parts, strict=True):
            if new != old:
                put(new)

    yield Piece(_SEP.join(t for t, _ in together), False, put_all)


def _unquote(raw: str, *, plus: bool) -> str:
    """Percent-decoded text of a URL or form component: UTF-8, any other byte kept as a
    surrogate (:func:`_quote` writes the same bytes back)."""
    return unquote_to_bytes(raw.replace("+", " ") if plus else raw).decode(
        "utf-8", "surrogateescape")


def _quote(text: str, *, plus: bool, safe: str) -> str:
    data = text.encode("utf-8", "surrogateescape")
    return quote_plus(data, safe=safe) if plus else quote(data, safe=safe)


class _Fields:
    """``k=v&k=v`` (a query string or a form body): each key and value decoded (``+`` is a
    space); only the components that change are encoded again."""

    def __init__(self, raw: str) -> None:
        self.parts: list[list[str]] = [p.split("=", 1) for p in raw.split("&")]
        self.changed = False

    def items(self) -> list[tuple[str, Callable[[str], None]]]:
        out = []
        for part in self.parts:
            for j, comp in enumerate(part):
                if comp:
                    out.append((_unquote(comp, plus=True), self._setter(part, j)))
        return out

    def _setter(self, part: list[str], j: int) -> Callable[[str], None]:
        def put(masked: str) -> None:
            part[j] = _quote(masked, plus=True, safe=":/@")
            self.changed = True
        return put

    def encode(self) -> str:
        return "&".join("=".join(p) for p in self.parts)


# -- URL and headers ---------------------------------------------------------------------------

#: request headers that belong to the API itself and pass unscanned: authentication, the
#: vendors' version and beta headers, framing and negotiation (``content-*`` as well)
API_HEADERS = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie",
    "anthropic-version", "anthropic-beta", "openai-beta", "openai-organization",
    "openai-project", "host", "connection", "keep-alive", "transfer-encoding", "te", "trailer",
    "upgrade", "accept-encoding", "expect", "sec-websocket-key", "sec-websocket-version",
    "sec-websocket-extensions", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256",
})

_BEDROCK_MODEL_ROUTE = re.compile(
    r"/model/[^/]+/(?:invoke|invoke-with-response-stream|converse|converse-stream)\Z")


def kept_path_segments(host: str, path: str) -> frozenset[int]:
    """Indexes of path segments left as they are because the API needs them: the model id of
    Bedrock's runtime routes (``/model/{modelId}/invoke…``, ``/converse…``), which may be an
    inference-profile or provisioned-model ARN holding the account ID. Every other segment of
    a target request is masked."""
    if host.startswith("bedrock-runtime.") and _BEDROCK_MODEL_ROUTE.match(path):
        return frozenset({2})
    return frozenset()


def _url_items(req: http.Request) -> list[tuple[str, Callable[[str], None]]]:
    path, q, query = req.path.partition("?")
    segments = path.split("/")
    kept = (kept_path_segments(req.pretty_host.lower(), path) if path.startswith("/model/")
            else frozenset())
    fields = _Fields(query) if q else None

    def commit() -> None:
        new = "/".join(segments)
        if fields is not None:
            new += "?" + fields.encode()
        req.path = new

    def seg_setter(i: int) -> Callable[[str], None]:
        def put(masked: str) -> None:
            segments[i] = _quote(masked, plus=False, safe=":@!$&'()*+,;=")
            commit()
        return put

    items = [(_unquote(seg, plus=False), seg_setter(i))
             for i, seg in enumerate(segments) if seg and i not in kept]
    if fields is not None:
        for text, put in fields.items():
            items.append((text, _then(put, commit)))
    return items


def _then(put: Callable[[str], None], after: Callable[[], None]) -> Callable[[str], None]:
    def both(masked: str) -> None:
        put(masked)
        after()
    return both


_API_HEADER_BYTES = frozenset(h.encode() for h in API_HEADERS)


def _header_items(req: http.Request) -> list[tuple[str, Callable[[str], None]]]:
    """Values of the headers that are not the API's own: UTF-8, any other byte kept as a
    surrogate."""
    fields = req.headers.fields
    return [(value.decode("utf-8", "surrogateescape"), _header_setter(req, i))
            for i, (name, value) in enumerate(fields)
            if (key := name.lower()) not in _API_HEADER_BYTES and not key.startswith(b"content-")]


def _header_setter(req: http.Request, i: int) -> Callable[[str], None]:
    def put(masked: str) -> None:
        fields = list(req.headers.fields)
        fields[i] = (fields[i][0], masked.encode("utf-8", "surrogateescape"))
        req.headers.fields = tuple(fields)
    return put


# -- bodies ------------------------------------------------------------------------------------

class _Body:
    """A body (or a multipart part's content) as pieces, and its bytes once put back."""

    def __init__(self) -> None:
        self.pieces: list[Piece] = []
        self.binary: list[str] = []

    def encode(self) -> bytes | None:  # None: unchanged
        raise NotImplementedError


_JSON_START = re.compile(r"[ \t\r\n]*[\[{]")


class _TextBody(_Body):
    """JSON or text in its charset; base64 text inside JSON as pieces of their own."""

    def __init__(self, raw: bytes, mime: str, charset: str | None, what: str) -> None:
        super().__init__()
        self.decoded = decode_charset(raw, charset, what=what,
                                      text_type=not mime or is_text_type(mime))
        self.out: str | None = None  # the masked text, once put
        #: base64 payloads as written in the body, or as written again once masked
        self.payloads: list[str] = []
        self.payloads_changed = False
        text = self.template = self.decoded.text
        is_json = is_json_type(mime)
        # one pass over the body (no copy) in the usual case: no base64 anywhere
        payloads = (base64_payloads(text)
                    if (text.find("base64") >= 0 or text.find('"data:') >= 0)
                    and (is_json or _JSON_START.match(text)) else [])
        if not payloads:
            self.pieces.append(Piece(text, is_json, self._put))
            return
        # Each payload leaves the body for a placeholder (no rule matches one) while the body
        # is scanned, and comes back encoded again with its text masked (or as it was).
        for i, payload in enumerate(payloads):
            text = text.replace(f'"{payload.raw}"', f'"{_holder(i)}"')
            self.payloads.append(payload.raw)
            if payload.text is None:
                self.binary.append(payload.mime)
            else:
                self.pieces.append(Piece(payload.text, is_json_type(payload.mime),
                                         self._payload_setter(i, payload)))
        self.template = text
        self.pieces.append(Piece(text, is_json, self._put))

    def _put(self, masked: str) -> None:
        self.out = masked

    def _payload_setter(self, i: int, payload: Payload) -> Callable[[str], None]:
        def put(masked: str) -> None:
            self.payloads[i] = payload.rebuild(masked)
            self.payloads_changed = True
        return put

    def encode(self) -> bytes | None:
        if self.out is None and not self.payloads_changed:
            return None
        out = self.template if self.out is None else self.out
        for i, raw in enumerate(self.payloads):
            out = out.replace(f'"{_holder(i)}"', f'"{raw}"')
        return self.decoded.encode(out)


def _holder(i: int) -> str:
    """A payload's stand-in while its body is scanned: no rule matches it."""
    return f"aws-masker-payload-{i}"


class _FormBody(_Body):
    """``application/x-www-form-urlencoded``: percent-decoded bytes are read as UTF-8, any
    other byte kept as a surrogate, so a form in another ASCII-compatible charset keeps its
    bytes and its (ASCII) identifiers are found all the same."""

    def __init__(self, raw: bytes) -> None:
        super().__init__()
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise Refused(415, "the form body holds bytes that are not URL-encoded; "
                          "it was not sent", "undecodable_form") from None
        self.fields = _Fields(text)
        self.pieces.extend(joined_pieces(self.fields.items()))

    def encode(self) -> bytes | None:
        return self.fields.encode().encode("ascii") if self.fields.changed else None


class _MultipartBody(_Body):
    """Parts split on the boundary; a part's headers and framing are kept byte for byte and
    only the content of a part that changed is written again."""

    def __init__(self, raw: bytes, boundary: str) -> None:
        super().__init__()
        delim = b"--" + boundary.encode("latin-1")
        chunks = raw.split(delim)
        if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
            raise Refused(400, "the multipart body could not be parsed (no closing boundary); "
                          "it was not sent", "bad_multipart")
        self.delim = delim
        self.chunks = chunks
        #: (chunk index, content start, content end, transfer encoding, content, carrier)
        self.parts: list[tuple[int, int, int, str, bytes, _Body]] = []
        for k in range(1, len(chunks) - 1):
            self._part(k)

    def _part(self, k: int) -> None:
        chunk = self.chunks[k]
        head_end = chunk.find(b"\r\n\r\n")
        line_end = chunk.find(b"\r\n")
        if head_end < 0 and chunk[line_end:line_end + 4] != b"\r\n\r\n":
            raise Refused(400, "a multipart part could not be parsed; it was not sent",
                          "bad_multipart")
        if head_end == line_end:  # no header lines
            headers_raw, start = b"", line_end + 4
        else:
            headers_raw, start = chunk[line_end + 2:head_end], head_end + 4
        end = len(chunk) - 2 if chunk.endswith(b"\r\n") else len(chunk)
        content = chunk[start:end]
        import email.parser  # late: multipart bodies are rare, the email package is large
        import email.policy

        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            headers_raw + b"\r\n\r\n", headersonly=True)
        declared = msg.get("content-type")
        mime, params = content_type_parts(str(declared) if declared is not None else None)
        cte = str(msg.get("content-transfer-encoding", "")).strip().lower()
        data = decode_transfer(content, cte)
        if mime.startswith("multipart/") and "boundary" in params:
            inner: _Body = _MultipartBody(data, params["boundary"])
        elif mime == "application/x-www-form-urlencoded":
            inner = _FormBody(data)
        elif not mime or is_text_type(mime):
            inner = _TextBody(data, mime, params.get("charset"), "multipart text part")
        else:
            try:  # a type that does not say text, holding UTF-8 all the same, is scanned
                data.decode("utf-8")
            except UnicodeDecodeError:
                self.binary.append(mime)
                return
            inner = _TextBody(data, "", "utf-8", "multipart part")
        self.pieces.extend(inner.pieces)
        self.binary.extend(inner.binary)
        self.parts.append((k, start, end, cte, content, inner))

    def encode(self) -> bytes | None:
        changed = False
        for k, start, end, cte, content, inner in self.parts:
            new = inner.encode()
            if new is None:
                continue
            chunk = self.chunks[k]
            self.chunks[k] = chunk[:start] + encode_transfer(new, cte, content) + chunk[end:]
            changed = True
        return self.delim.join(self.chunks) if changed else None


# -- a request ---------------------------------------------------------------------------------

def body_carrier(raw: bytes, content_type: str) -> _Body:
    mime, params = content_type_parts(content_type)
    if mime.startswith("multipart/"):
        if "boundary" not in params:
            raise Refused(400, "the multipart body has no boundary; it was not sent",
                          "bad_multipart")
        return _MultipartBody(raw, params["boundary"])
    if mime == "application/x-www-form-urlencoded":
        return _FormBody(raw)
    return _TextBody(raw, mime, params.get("charset"), "request body")


def request_texts(req: http.Request, raw: bytes, content_type: str) -> RequestTexts:
    """Every text a target request carries (body, URL, headers) as pieces.

    Raises :class:`Refused` when a part that claims to be text cannot be decoded."""
    out = RequestTexts()
    if raw:
        body = body_carrier(raw, content_type)
        out.pieces.extend(body.pieces)
        out.binary.extend(body.binary)
        out.body = body.encode
    out.pieces.extend(joined_pieces(_url_items(req) + _header_items(req)))
    return out
