"""A mitmproxy script for tests: live option edits over HTTP, made the way mitmweb's option
editor makes them (``options.update``; a refused change answers 400 with mitmproxy's message).

``POST http://options.control/`` through the proxy with a JSON object of option values.
"""

import json

from mitmproxy import ctx, exceptions, http

CONTROL_HOST = "options.control"


class LiveOptions:
    def request(self, flow: http.HTTPFlow) -> None:
        if flow.request.pretty_host != CONTROL_HOST:
            return
        try:
            ctx.options.update(**json.loads(flow.request.content or b"{}"))
        except (exceptions.OptionsError, KeyError, TypeError) as e:
            flow.response = http.Response.make(400, str(e).encode())
            return
        flow.response = http.Response.make(200, b"ok")


addons = [LiveOptions()]
