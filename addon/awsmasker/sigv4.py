"""Sign Amazon Bedrock requests again after masking (AWS Signature Version 4).

A SigV4 signature covers the body's SHA-256, so a masked request would be rejected by the
service. The proxy signs it again with botocore's signer and the credentials of its own standard
AWS chain (environment, shared config and credentials files, SSO, container and instance roles),
keeping the service and region of the client's credential scope and the headers it signed. Only
when those credentials have the access key ID the client signed with: the proxy never lends the
client an identity it did not have. Otherwise the request is refused with a message that says how
to give the proxy the credentials.

A request the client did not sign (``CLAUDE_CODE_SKIP_BEDROCK_AUTH=1``) to a Bedrock Runtime path
is signed once here, for service ``bedrock`` in the region of the ``bedrock-runtime.REGION``
host, or else of the proxy's AWS configuration. Bearer tokens (Bedrock API keys, Vertex OAuth)
need no signing and are left alone.

The signed path is the path as sent: a model ID with ``:`` or ``%3A`` gets the signature the
service computes for that spelling. botocore is imported on the first signed request only.
Credentials and signatures never reach logs, events or flow comments.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import threading
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from mitmproxy import http

ALGORITHM = "AWS4-HMAC-SHA256"
EVENTSTREAM = "application/vnd.amazon.eventstream"
SERVICE = "bedrock"
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request\s*,"
    r"\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=[0-9a-fA-F]+\s*$"
)
#: the Bedrock Runtime operations whose bodies carry model text
BEDROCK_PATH = re.compile(
    r"^/model/[^/?#]+/(?:invoke|invoke-with-response-stream|converse|converse-stream)(?:[?#]|$)"
)
#: Bedrock Runtime endpoints, also FIPS, PrivateLink (VPC endpoint) and China ones: the region
_BEDROCK_HOST = re.compile(
    r"^(?:[a-z0-9-]+\.)?bedrock-runtime(?:-fips)?\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$")
#: headers the proxy itself sets when it signs
_OWN = ("authorization", "x-amz-date", "x-amz-security-token")

HOW = ("give the proxy the same AWS credentials as the client: start mitmdump with "
       "AWS_PROFILE (or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN]) set, or "
       "with the shared credentials file, SSO login or instance role the client uses")


def prepare(
    signer: Signer, flow: http.HTTPFlow
) -> Callable[[], Awaitable[SigningError | None]] | None:
    """Read how the request is signed, before masking changes any header; None when it needs
    no signing. Await the result once the request is masked: it signs it again, or returns why
    the request must be refused."""
    try:
        scope = signer.scope(flow)
    except SigningError as e:
        refusal = e

        async def refuse() -> SigningError | None:
            return refusal

        return refuse
    if scope is None:
        return None

    async def sign() -> SigningError | None:
        try:
            await signer.sign(flow, scope)
        except SigningError as e:
            return e
        return None

    return sign


class SigningError(Exception):
    """The request cannot be signed again, or sent at all; the message is safe to show (no
    credentials). ``status`` and ``reason`` are those of the proxy's error reply."""

    def __init__(self, message: str, status: int = 403, reason: str = "signing_error") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Scope(NamedTuple):
    access_key: str | None  # None: the client did not sign
    region: str
    service: str
    signed_headers: tuple[str, ...]


def parse_authorization(value: str) -> Scope | None:
    """The credential scope and signed headers of a SigV4 ``Authorization`` value."""
    m = _AUTH.match(value.strip())
    if m is None:
        return None
    key, _, region, service, signed = m.groups()
    return Scope(key, region, service, tuple(signed.lower().split(";")))


def region_from_host(host: str) -> str | None:
    m = _BEDROCK_HOST.match(host.lower().rstrip("."))
    return m.group(1) if m else None


class Signer:
    """Signs requests with the proxy's AWS credentials, found once (in a thread: the chain may
    read files or call a metadata service) and refreshed by botocore as they expire."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        self._credentials: Any = None

    def scope(self, flow: http.HTTPFlow) -> Scope | None:
        """What to sign the request as; None when it needs no signing. Raises SigningError."""
        req = flow.request
        path = req.path
        if path.endswith("-bidirectional-stream") or req.headers.get(
                "content-type", "").lower().startswith(EVENTSTREAM):
            # Its text rides in base64 inside binary frames, streamed both ways: not maskable.
            raise SigningError("event-stream request bodies (Bedrock bidirectional streaming) "
                               "cannot be masked; the request was not sent", 400,
                               "eventstream_request")
        auth = req.headers.get_all("authorization")
        if path.find("?") >= 0 and path.lower().find("x-amz-signature=") >= 0:
            raise SigningError("a pre-signed (query-string SigV4) URL cannot be signed again "
                               "after masking; sign requests with the Authorization header")
        if len(auth) == 1 and auth[0].lstrip().startswith(ALGORITHM):
            scope = parse_authorization(auth[0])
            if scope is None:
                raise SigningError("the SigV4 Authorization header could not be read")
            return scope
        if auth or not path.startswith("/model/") or not BEDROCK_PATH.match(path) or \
                "x-api-key" in req.headers:
            return None  # a bearer token, an API key, or not Bedrock Runtime
        region = region_from_host(req.pretty_host)
        return Scope(None, region or "", SERVICE, ())

    async def sign(self, flow: http.HTTPFlow, scope: Scope) -> None:
        """Sign the request as it now is (masked), in place. Raises SigningError."""
        req = flow.request
        host = req.host_header or req.authority or req.pretty_host
        spec = (req.method, f"{req.scheme}://{host}{req.path}", req.raw_content or b"",
                [(k.lower(), v) for k, v in req.headers.items(multi=True)], host)
        new = await asyncio.to_thread(self._sign, scope, *spec)
        for name in (*_OWN, "x-amz-content-sha256"):
            if name in req.headers and name not in new:
                del req.headers[name]
        for name, value in new.items():
            req.headers[name] = value

    def _load(self, refresh: bool) -> Any:
        from botocore.session import Session  # only a proxy that signs pays for this import

        # botocore's signer logs the canonical request (a session token among its headers) at
        # debug level; mitmdump's debug verbosity must not print it.
        logging.getLogger("botocore.auth").setLevel(logging.INFO)
        with self._lock:
            if self._credentials is None or refresh:
                self._session = Session()
                self._credentials = self._session.get_credentials()
            return self._credentials

    def _sign(self, scope: Scope, method: str, url: str, body: bytes,
              headers: list[tuple[str, str]], host: str) -> dict[str, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        try:
            creds = self._load(refresh=False)
            frozen = creds.get_frozen_credentials() if creds is not None else None
        except Exception as e:  # e.g. an expired SSO session: say which, never the values
            raise SigningError(f"the proxy's AWS credentials could not be loaded "
                               f"({type(e).__name__}); {HOW}") from None
        if frozen is None or not frozen.access_key or not frozen.secret_key:
            raise SigningError(f"the proxy has no AWS credentials to sign the masked request "
                               f"with; {HOW}")
        if scope.access_key is not None and frozen.access_key != scope.access_key:
            creds = self._load(refresh=True)  # the chain may have changed (a new profile, keys)
            frozen = creds.get_frozen_credentials() if creds is not None else None
            if frozen is None or frozen.access_key != scope.access_key:
                raise SigningError("the request is signed with an AWS access key other than "
                                   f"the proxy's own, so it cannot be signed again; {HOW}")
        region = scope.region or os.environ.get("AWS_REGION") or (
            self._session.get_config_variable("region") or "")
        if not region:
            raise SigningError("no AWS region for the unsigned Bedrock request: use a "
                               "bedrock-runtime.REGION.amazonaws.com host or start mitmdump "
                               "with AWS_REGION set")
        # What the client signed, with the values the request now has; then what SigV4 needs.
        wanted = set(scope.signed_headers or ("content-type",)) - set(_OWN)
        wanted.add("host")
        if any(k == "x-amz-content-sha256" for k, _ in headers):
            wanted.add("x-amz-content-sha256")
        chosen: dict[str, list[str]] = {}
        for name, value in headers:
            if name in wanted:
                chosen.setdefault(name, []).append(value)
        fields = {name: ",".join(values) for name, values in chosen.items()}
        fields["host"] = host
        if "x-amz-content-sha256" in fields:
            fields["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        request = AWSRequest(method=method, url=url, data=body, headers=fields)

        class HeadersSigner(SigV4Auth):
            """botocore's signer over exactly these headers and the ones it adds."""

            def headers_to_sign(self, request: Any) -> Any:
                signed = super().headers_to_sign(request)
                for name in list(signed.keys()):
                    if name not in fields and name not in _OWN:
                        del signed[name]
                return signed

        HeadersSigner(frozen, scope.service, region).add_auth(request)
        out = {name: request.headers[name] for name in _OWN if name in request.headers}
        if "x-amz-content-sha256" in fields:
            out["x-amz-content-sha256"] = fields["x-amz-content-sha256"]
        return out
