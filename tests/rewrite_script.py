"""A mitmproxy script for tests, loaded after the addon: it writes an identifier into every
request body (``PLACEHOLDER`` becomes an instance ID), as a careless user script could."""

from mitmproxy import http

INSERTED = "i-0fedcba9876543210"


class Rewrite:
    def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.content and b"SCRIPT_PLACEHOLDER" in flow.request.content:
            flow.request.content = flow.request.content.replace(
                b"SCRIPT_PLACEHOLDER", INSERTED.encode())


addons = [Rewrite()]
