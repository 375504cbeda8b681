"""The ``MaskerStats`` addon: the ``masker.stats`` command and clean shutdown."""

from __future__ import annotations

import json
import logging

from mitmproxy import command

from awsmasker.state import MaskerState

log = logging.getLogger(__name__)


class MaskerStats:
    def __init__(self, state: MaskerState) -> None:
        self.state = state

    @command.command("masker.stats")
    def stats(self) -> str:
        """Totals since start: flows masked, tokens per type, blocks, flags (no original values)."""
        data = self.state.totals.as_dict()
        data["store"] = self.state.store.name
        data["flows_in_progress"] = len(self.state.flows)
        if self.state.publisher is not None:
            data["events"] = dict(self.state.publisher.stats)
        text = json.dumps(data, sort_keys=True)
        log.info("aws-masker stats: %s", text)
        return text

    async def done(self) -> None:
        await self.state.store.close()
        await self.state.redis.close()
