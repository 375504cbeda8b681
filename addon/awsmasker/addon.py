"""Assemble the addon that ``addon/aws_masker.py`` hands to mitmproxy.

The work is split into one class per concern (``make_addons``). mitmproxy sees them as one set
of handlers, :class:`AwsMasker`'s ``members()``: for every event (about 16 per proxied request)
it walks each addon object of a script looking for a handler, and six objects instead of one
cost about 1% of the CPU of a small request (the entry script puts the members on its module
itself, one object fewer still). The handlers are the concern classes' own bound methods.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from mitmproxy import hooks

from awsmasker.contentview import MaskerContentview
from awsmasker.event_monitoring import EventMonitoring
from awsmasker.options import MaskerOptions
from awsmasker.request_masking import RequestMasking
from awsmasker.response_restoring import ResponseRestoring
from awsmasker.state import MaskerState
from awsmasker.stats import MaskerStats

#: events the concern classes handle; any other mitmproxy event name is forwarded too
EVENTS = ("load", "configure", "running", "done", "requestheaders", "request",
          "responseheaders", "response", "error")


def make_addons(state: MaskerState | None = None) -> list[object]:
    state = state or MaskerState()
    return [
        MaskerOptions(state),
        RequestMasking(state),
        ResponseRestoring(state),
        EventMonitoring(state),
        MaskerContentview(),
        MaskerStats(state),  # last: its done() closes the shared Redis client
    ]


def _in_order(handlers: Sequence[Callable]) -> Callable:
    """One handler that calls ``handlers`` in order (awaiting those that are async)."""
    if any(inspect.iscoroutinefunction(h) for h in handlers):
        async def run_async(*args):
            for h in handlers:
                result = h(*args)
                if inspect.isawaitable(result):
                    await result
        return run_async

    def run(*args):
        for h in handlers:
            h(*args)
    return run


class AwsMasker:
    """The concern addons as one mitmproxy addon: each event goes to the parts that handle it,
    in the parts' order; their commands (``masker.stats``) are exposed as they are."""

    def __init__(self, parts: Sequence[object]) -> None:
        self.parts = list(parts)
        for name, member in self.members().items():
            setattr(self, name, member)

    def members(self) -> dict[str, Callable]:
        """What mitmproxy looks for on an addon: a handler per event the parts handle and the
        parts' commands, by attribute name."""
        out: dict[str, Callable] = {}
        for name in sorted(set(EVENTS) | set(hooks.all_hooks)):
            handlers = [h for p in self.parts if callable(h := getattr(p, name, None))]
            if handlers:  # one handler: its bound method itself, no extra call
                out[name] = handlers[0] if len(handlers) == 1 else _in_order(handlers)
        for part in self.parts:
            for attr in dir(part):
                member = getattr(part, attr, None)
                if isinstance(getattr(member, "command_name", None), str):
                    out[attr] = member
        return out


def make_addon(state: MaskerState | None = None) -> AwsMasker:
    return AwsMasker(make_addons(state))
