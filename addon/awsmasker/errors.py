"""Error responses the proxy sends instead of forwarding a request it could not mask.

The body follows the target API's own error shape, so SDKs raise their usual exception with
a message that says what happened and what to do.
"""

from __future__ import annotations

import json
from enum import StrEnum

from mitmproxy import http

BLOCK_HEADER = "x-aws-masker"


class ApiFlavor(StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    BEDROCK = "bedrock"  # AWS JSON errors: {"message"} and the x-amzn-ErrorType header


_OPENAI_PATH_PARTS = ("/chat/completions", "/completions", "/responses", "/embeddings")


def api_flavor(host: str, path: str) -> ApiFlavor:
    """Which error shape the client expects. The path decides first: Anthropic also serves an
    OpenAI-compatible ``/v1/chat/completions``, whose clients are OpenAI SDKs."""
    p = path.split("?", 1)[0]
    if p.startswith("/model/") or host.startswith("bedrock-runtime"):
        return ApiFlavor.BEDROCK
    if any(part in p for part in _OPENAI_PATH_PARTS):
        return ApiFlavor.OPENAI
    if "anthropic" in host or "/messages" in p:
        return ApiFlavor.ANTHROPIC
    return ApiFlavor.OPENAI if "openai" in host else ApiFlavor.ANTHROPIC


# status → (anthropic error type, openai error type)
_ERROR_TYPES: dict[int, tuple[str, str]] = {
    403: ("permission_error", "permission_denied"),
    400: ("invalid_request_error", "invalid_request_error"),
    413: ("request_too_large", "invalid_request_error"),
    415: ("invalid_request_error", "invalid_request_error"),
    500: ("api_error", "server_error"),
    503: ("overloaded_error", "server_error"),
}


def error_body(flavor: ApiFlavor, status: int, message: str, code: str) -> bytes:
    anthropic_type, openai_type = _ERROR_TYPES.get(status, ("api_error", "server_error"))
    if flavor is ApiFlavor.BEDROCK:
        return json.dumps({"message": message}).encode()
    if flavor is ApiFlavor.OPENAI:
        payload: dict = {
            "error": {"message": message, "type": openai_type, "param": None, "code": code}
        }
    else:
        payload = {"type": "error", "error": {"type": anthropic_type, "message": message}}
    return json.dumps(payload).encode()


def block_response(flow: http.HTTPFlow, status: int, message: str, code: str) -> http.Response:
    """A response that ends the flow here; the request never reaches upstream."""
    flavor = api_flavor(flow.request.pretty_host, flow.request.path)
    headers = {"content-type": "application/json", BLOCK_HEADER: f"blocked; reason={code}"}
    if flavor is ApiFlavor.BEDROCK:
        headers["x-amzn-errortype"] = _BEDROCK_ERRORS.get(status, "InternalServerException")
    return http.Response.make(
        status, error_body(flavor, status, f"aws-masker: {message}", code), headers)


# status → the exception name boto3 raises for it
_BEDROCK_ERRORS = {403: "AccessDeniedException", 400: "ValidationException",
                   413: "ValidationException", 503: "ServiceUnavailableException"}
