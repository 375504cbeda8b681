"""Build the configured mapping store."""

from __future__ import annotations

import logging
from collections.abc import Callable

from awsmasker.config import ConfigError, Settings
from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import MappingStore
from awsmasker.store.guarded import GuardedStore
from awsmasker.store.keys import MasterKeyError
from awsmasker.store.memory import MemoryStore

log = logging.getLogger(__name__)


def build_store(settings: Settings, redis: SharedRedis, *, previous: MappingStore | None,
                on_outage: Callable[[str, bool], None], on_recovered: Callable[[float], None],
                confdir: str) -> MappingStore:
    """The store for ``settings``; raises ConfigError when the Redis store's key is unusable.
    ``on_outage(message, fallback)`` and ``on_recovered(outage_seconds)`` are told of outages
    of a Redis store."""
    if settings.store == "memory":
        # Keep the mappings of a running memory store across unrelated option changes.
        return previous if isinstance(previous, MemoryStore) else MemoryStore()
    # imported only when configured: a memory-store proxy never loads redis-py (nor the
    # OpenTelemetry API it brings), whose import slows every later request of the process
    from awsmasker.store.redis_store import RedisStore

    try:
        primary = RedisStore.from_settings(redis, settings, confdir=confdir)
    except MasterKeyError as e:
        raise ConfigError(f"encryption_key: {e}") from None
    return GuardedStore(
        primary,
        policy=settings.on_store_error,
        on_store_error=on_outage,
        on_recovered=on_recovered,
    )
