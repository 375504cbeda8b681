"""Which flows the addon touches: only requests to a configured target host."""

from __future__ import annotations

from mitmproxy import http

from awsmasker.config import Settings, host_matches


def is_target(flow: http.HTTPFlow, settings: Settings | None) -> bool:
    """Exact or ``*.suffix`` match of the request's host (not a substring filter like ``~d``).


    With no valid settings every flow to a default target counts, so a broken configuration
    blocks rather than forwards.
    """
    targets = settings.targets if settings is not None else Settings().targets
    req = flow.request
    # The connection's host and the Host header can differ; mask if either is a target.
    return host_matches(req.host, targets) or host_matches(req.pretty_host, targets)
