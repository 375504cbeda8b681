"""The ``EventMonitoring`` addon: the event publisher's background task, for the proxy's life.

Settings reach the publisher through ``MaskerState.apply_settings``, so live option changes
(off → 1% → 10% → 100%) apply to the next event.
"""

from __future__ import annotations

from awsmasker.events import EventPublisher
from awsmasker.state import MaskerState


class EventMonitoring:
    def __init__(self, state: MaskerState) -> None:
        self.state = state
        if state.publisher is None:
            state.publisher = EventPublisher(state.redis)

    async def running(self) -> None:
        if self.state.publisher is not None:
            await self.state.publisher.start()

    async def done(self) -> None:
        if self.state.publisher is not None:
            await self.state.publisher.stop()
