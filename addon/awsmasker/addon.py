"""The addon, and how the entry script hands it to mitmproxy.

:class:`AwsMasker` is the addon: one part per concern, as mitmproxy sub-addons, in order.

:class:`EntryScript` is what ``addon/aws_masker.py`` lists in ``addons``. It adds the
:class:`AwsMasker` at the **end** of mitmproxy's addon chain instead of leaving it where scripts
sit (before mitmproxy's ``map_remote``, ``modify_body`` and ``modify_headers``, and before any
script listed after this one). So every request is masked after the last rewrite of its body,
headers or destination, and a rewrite can never put an identifier back, or point an unmasked
request at a target.

mitmproxy calls a script's ``load`` and ``done`` synchronously when it reloads the script (its
file changed) and only then; so the entry's own hooks are synchronous, and the masker's
asynchronous ``running``/``done`` (event publisher, Redis client) are run as tasks on a reload.
At shutdown mitmproxy runs the masker's ``done`` itself, awaited.
"""

from __future__ import annotations

import logging

from mitmproxy import exceptions, hooks
from mitmproxy.addonmanager import traverse
from mitmproxy.utils import asyncio_utils

from awsmasker.contentview import MaskerContentview
from awsmasker.event_monitoring import EventMonitoring
from awsmasker.options import MaskerOptions
from awsmasker.request_masking import RequestMasking
from awsmasker.response_restoring import ResponseRestoring
from awsmasker.state import MaskerState
from awsmasker.stats import MaskerStats

log = logging.getLogger(__name__)


def make_addons(state: MaskerState | None = None) -> list[object]:
    state = state or MaskerState()
    return [
        MaskerOptions(state),
        RequestMasking(state),
        ResponseRestoring(state),
        EventMonitoring(state),
        MaskerContentview(state),
        MaskerStats(state),  # last: its done() closes the shared Redis client
    ]


class AwsMasker:
    """The addon: its parts handle the events, in this order."""

    name = "aws-masker"

    def __init__(self, state: MaskerState | None = None) -> None:
        self.state = state or MaskerState()
        self.addons = make_addons(self.state)


def make_addon(state: MaskerState | None = None) -> AwsMasker:
    return AwsMasker(state)


def _addon_name(addon: object) -> str:
    # mitmproxy's rule: the ``name`` attribute, else the lower-case class name
    return getattr(addon, "name", type(addon).__name__.lower())


class EntryScript:
    """Puts an :class:`AwsMasker` at the end of mitmproxy's addon chain (module docstring)."""

    name = "aws-masker-entry"

    def __init__(self) -> None:
        self.masker: AwsMasker | None = None
        self.master = None

    def load(self, loader) -> None:
        master = self.master = loader.master
        masker = self.masker = AwsMasker()
        master.addons.add(masker)  # declares the options, then applies --set values
        try:
            master.addons.invoke_addon_sync(masker, hooks.ConfigureHook(master.options.keys()))
        except exceptions.OptionsError as e:
            # One line, no traceback. At start-up mitmproxy exits on a logged error; on a reload
            # the masker stays unconfigured, which blocks every target request.
            log.error("%s", e)
        loader_addon = master.addons.get("scriptloader")
        if loader_addon is not None and loader_addon.is_running:  # a reload: "running" is past
            asyncio_utils.create_task(master.addons.invoke_addon(masker, hooks.RunningHook()),
                                      name="aws-masker running", keep_ref=True)

    def done(self) -> None:
        masker, self.masker = self.masker, None
        if masker is None or self.master is None or self.master.should_exit.is_set():
            return  # shutting down: mitmproxy awaits the masker's own done
        addons = self.master.addons
        for a in traverse([masker]):
            addons.lookup.pop(_addon_name(a), None)
        addons.chain = [a for a in addons.chain if a is not masker]
        asyncio_utils.create_task(addons.invoke_addon(masker, hooks.DoneHook()),
                                  name="aws-masker done", keep_ref=True)
