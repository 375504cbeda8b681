"""How a text carried in a request is decoded, and written back in the same encoding.

Charsets (a BOM, a ``charset=`` parameter, the NUL pattern of BOM-less UTF-16/32), media types
that say text, a multipart part's content-transfer-encoding, and base64 or percent-encoded
text inside JSON (Anthropic ``document`` sources, ``data:`` URLs such as OpenAI file inputs).
What claims to be text and does not decode is refused (:class:`Refused`), never passed on
unscanned.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import json
import quopri
import re
import urllib.parse
from dataclasses import dataclass

from mitmproxy.net.http.headers import parse_content_type

from awsmasker.charsets import sniff_bom, unmarked_utf


class Refused(Exception):
    """The request cannot be masked as it is; the proxy answers ``status`` with ``message``."""

    def __init__(self, status: int, message: str, reason: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.reason = reason


# -- charsets ----------------------------------------------------------------------------------

@dataclass(slots=True)
class Decoded:
    text: str
    codec: str
    bom: bytes = b""

    def encode(self, text: str) -> bytes:
        try:
            return self.bom + text.encode(self.codec)
        except UnicodeError:
            raise Refused(415, f"the masked text cannot be written back in {self.codec}",
                          "unencodable_charset") from None


def decode_charset(raw: bytes, charset: str | None, *, what: str = "request body",
                   text_type: bool = True) -> Decoded:
    """Bytes → text by a BOM, else the declared ``charset``, else (for a ``text_type``: one
    that says text, or none) the NUL pattern of BOM-less UTF-16/32, else UTF-8, else latin-1
    (identifiers are ASCII: latin-1 finds them in any ASCII-compatible bytes, keeping them
    exact; a binary body is never read as UTF-16, where its ASCII would be lost).

    Raises :class:`Refused` (415) for an unknown charset or bytes that do not decode in the
    charset they declare (by parameter or BOM)."""
    bom, codec = sniff_bom(raw)
    if codec is None and charset:
        try:
            codec = codecs.lookup(charset).name
        except LookupError:
            raise Refused(415, f"the {what} declares charset {charset!r}, which is unknown; "
                          "it was not sent", "unknown_charset") from None
        if codec in ("utf-16", "utf-32"):
            codec = unmarked_utf(raw, codec)
    if codec is not None:
        try:
            return Decoded(raw[len(bom):].decode(codec), codec, bom)
        except UnicodeDecodeError:
            raise Refused(415, f"the {what} does not decode as {codec}; it was not sent",
                          "undecodable_charset") from None
    guess = unmarked_utf(raw) if text_type else None
    if guess is not None:
        try:
            return Decoded(raw.decode(guess), guess)
        except UnicodeDecodeError:
            pass  # not UTF-16/32 after all
    try:
        return Decoded(raw.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        return Decoded(raw.decode("latin-1"), "latin-1")


def content_type_parts(value: str | None) -> tuple[str, dict[str, str]]:
    """(lower-case mime type, parameters) of a Content-Type value ("" when absent)."""
    if not value:
        return "", {}
    parsed = parse_content_type(value)
    if parsed is None:
        return value.split(";", 1)[0].strip().lower(), {}
    return f"{parsed[0]}/{parsed[1]}".lower(), {k.lower(): v for k, v in parsed[2].items()}


_TEXT_APPLICATION = re.compile(
    r"application/(?:json|xml|javascript|ecmascript|x-ndjson|jsonl|x-yaml|yaml|toml|sql|graphql"
    r"|x-sh|x-python|x-www-form-urlencoded|ld\+json|[\w.+-]*\+(?:json|xml|yaml))\Z")


def is_text_type(mime: str) -> bool:
    """Whether a media type says its content is text."""
    return mime.startswith("text/") or mime == "image/svg+xml" or (
        _TEXT_APPLICATION.match(mime) is not None)


def is_json_type(mime: str) -> bool | None:
    return True if "json" in mime else None


# -- multipart parts ---------------------------------------------------------------------------

def decode_transfer(content: bytes, cte: str) -> bytes:
    if cte in ("", "7bit", "8bit", "binary"):
        return content
    try:
        if cte == "base64":
            return base64.b64decode(b"".join(content.split()), validate=True)
        if cte == "quoted-printable":
            return quopri.decodestring(content)
    except (binascii.Error, ValueError):
        raise Refused(400, "a multipart part's base64 content does not decode; it was not sent",
                      "bad_transfer_encoding") from None
    raise Refused(415, f"a multipart part has content-transfer-encoding {cte!r}, which the "
                  "proxy cannot decode; it was not sent", "unknown_transfer_encoding")


def encode_transfer(data: bytes, cte: str, original: bytes) -> bytes:
    if cte == "base64":
        if b"\n" not in original.strip():
            return base64.b64encode(data)
        nl = b"\r\n" if b"\r\n" in original else b"\n"
        b64 = base64.b64encode(data)
        return nl.join(b64[i:i + 76] for i in range(0, len(b64), 76))
    if cte == "quoted-printable":
        return quopri.encodestring(data).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return data


# -- base64 inside JSON ------------------------------------------------------------------------

_DATA_URL = re.compile(r"data:([^;,]*)((?:;[^;,]*)*?);base64,(.*)\Z", re.S | re.I)
#: a ``data:`` URL whose content is percent-encoded (RFC 2397 without ``;base64``)
_DATA_URL_PLAIN = re.compile(r"data:([^;,]*)((?:;[^;,]*)*?),(.*)\Z", re.S | re.I)


@dataclass(slots=True)
class Payload:
    raw: str  # as written in the body (a JSON string's raw form, quotes excluded)
    mime: str
    text: str | None  # decoded text; None: binary, passed unscanned
    decoded: Decoded | None
    prefix: str  # a data: URL's head ("" for a bare base64 source)
    percent: bool = False  # a data: URL's percent-encoded content, not base64

    def rebuild(self, masked: str) -> str:
        assert self.decoded is not None
        data = self.decoded.encode(masked)
        if self.percent:
            return self.prefix + urllib.parse.quote_from_bytes(data, safe="-_.~!$&'()*+,;=:@/?")
        return self.prefix + base64.b64encode(data).decode("ascii")


def base64_payloads(text: str) -> list[Payload]:
    """Base64 content inside a JSON body: Anthropic sources ``{"type": "base64",
    "media_type": …, "data": …}`` (document, image blocks) and ``data:…;base64,`` strings
    anywhere (OpenAI file and image inputs)."""
    if '"base64"' not in text and ";base64," not in text and '"data:' not in text:
        return []  # "base64" as a word only
    try:
        doc = json.loads(text)
    except ValueError:
        return []  # not JSON: scanned as text
    found: dict[str, Payload] = {}
    stack = [doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if (node.get("type") == "base64" and isinstance(node.get("data"), str)
                    and isinstance(node.get("media_type"), str)):
                _add_payload(found, text, node["data"], "", node["media_type"], "")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str) and node[:5].lower() == "data:":
            m = _DATA_URL.match(node)
            if m:
                _add_payload(found, text, m.group(3), node[:m.start(3)], m.group(1),
                             m.group(2))
            elif m := _DATA_URL_PLAIN.match(node):
                _add_payload(found, text, m.group(3), node[:m.start(3)],
                             m.group(1) or "text/plain", m.group(2), percent=True)
    return list(found.values())


def _add_payload(found: dict[str, Payload], text: str, data: str, prefix: str, media: str,
                 params: str, *, percent: bool = False) -> None:
    raw = prefix + data
    if raw in found or len(raw) < 8:
        return
    if f'"{raw}"' not in text:
        raw = raw.replace("/", "\\/")  # some encoders escape the slash
        if f'"{raw}"' not in text:
            raise Refused(400, "a base64 payload inside the JSON body could not be located; "
                          "it was not sent", "bad_base64")
    mime, mparams = content_type_parts(media + params)
    if not is_text_type(mime):
        found[raw] = Payload(raw, mime or "application/octet-stream", None, None, prefix)
        return
    try:
        data_bytes = (urllib.parse.unquote_to_bytes(data) if percent
                      else base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        raise Refused(400, f"a base64 {mime} payload inside the JSON body does not decode; "
                      "it was not sent", "bad_base64") from None
    decoded = decode_charset(data_bytes, mparams.get("charset"), what=f"data: {mime} payload")
    found[raw] = Payload(raw, mime, decoded.text, decoded, prefix, percent)
