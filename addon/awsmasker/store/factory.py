"""Build the configured mapping store."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from awsmasker.config import ConfigError, Settings
from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import MappingStore
from awsmasker.store.guarded import GuardedStore
from awsmasker.store.keys import MasterKeyError
from awsmasker.store.memory import MemoryStore

if TYPE_CHECKING:
    from awsmasker.state import MaskerState

log = logging.getLogger(__name__)


def build_store(settings: Settings, redis: SharedRedis, *, previous: MappingStore | None,
                state: MaskerState, confdir: str) -> MappingStore:
    """The store for ``settings``; raises ConfigError when the Redis store's key is unusable."""
    if settings.store == "memory":
        # Keep the mappings of a running memory store across unrelated option changes.
        return previous if isinstance(previous, MemoryStore) else MemoryStore()
    # imported only when configured: redis-py's import alone (it brings OpenTelemetry's API)
    # costs every request of a memory-store proxy about 0.7% more instructions
    from awsmasker.store.redis_store import RedisStore

    try:
        primary = RedisStore.from_settings(redis, settings, confdir=confdir)
    except MasterKeyError as e:
        raise ConfigError(f"encryption_key: {e}") from None
    return GuardedStore(
        primary,
        policy=settings.on_store_error,
        on_store_error=state.store_outage,
        on_recovered=state.store_recovered,
    )
