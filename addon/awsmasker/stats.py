"""The ``MaskerStats`` addon: totals since start, as commands and in the log; clean shutdown.

``masker.stats`` answers one readable line (mitmweb's command bar shows it as it is);
``masker.stats_json`` the same totals as JSON for scripts. mitmdump has no command prompt, so
the totals are also logged at exit and whenever the process gets ``SIGUSR1``
(``kill -USR1 <pid>``). No original value is ever part of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal

from mitmproxy import command

from awsmasker.flowstate import by_type
from awsmasker.state import MaskerState

log = logging.getLogger(__name__)


def _by_type(counts: dict[str, int]) -> str:
    return by_type(counts) or "none"


class MaskerStats:
    def __init__(self, state: MaskerState) -> None:
        self.state = state
        self._signal_loop: asyncio.AbstractEventLoop | None = None

    def totals(self) -> dict:
        data = self.state.totals.as_dict()
        data["store"] = self.state.store.name
        data["flows_in_progress"] = len(self.state.flows)
        if self.state.publisher is not None:
            data["events"] = dict(self.state.publisher.stats)
        return data

    def summary(self) -> str:
        t = self.totals()
        return (f"aws-masker totals: {t['flows_seen']} target flows, {t['flows_masked']} masked "
                f"({_by_type(t['masked_by_type'])}); restored {_by_type(t['restored_by_type'])}; "
                f"blocked {_by_type(t['blocked_by_reason'])}; "
                f"flagged {_by_type(t['flagged_by_reason'])}; store {t['store']}, "
                f"{t['store_errors']} store errors")

    @command.command("masker.stats")
    def stats(self) -> str:
        """Totals since start, one line: flows masked, tokens per type, blocks, flags."""
        text = self.summary()
        log.info("%s", text)
        return text

    @command.command("masker.stats_json")
    def stats_json(self) -> str:
        """The same totals as a JSON object (for scripts)."""
        return json.dumps(self.totals(), sort_keys=True)

    def running(self) -> None:
        with contextlib.suppress(RuntimeError, ValueError, NotImplementedError):
            loop = asyncio.get_running_loop()
            loop.add_signal_handler(signal.SIGUSR1, lambda: log.info("%s", self.summary()))
            self._signal_loop = loop

    async def done(self) -> None:
        if self._signal_loop is not None:
            with contextlib.suppress(Exception):
                self._signal_loop.remove_signal_handler(signal.SIGUSR1)
            self._signal_loop = None
        log.info("%s", self.summary())
        await self.state.store.close()
        await self.state.redis.close()
