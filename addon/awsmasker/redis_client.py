"""One lazily created ``redis.asyncio`` client, shared by the Redis store and the event publisher
(redis-py itself is imported only then).

Created on first use inside mitmproxy's running event loop (never at import time), bounded by a
blocking connection pool, replaced when ``redis_url`` changes, and closed in ``done``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger(__name__)

#: Upper bound on sockets to Redis per proxy process, whatever the load.
MAX_CONNECTIONS = 16
#: Seconds a command may take before it counts as a store failure.
SOCKET_TIMEOUT = 2.0
#: Seconds a caller waits for a free pooled connection.
POOL_TIMEOUT = 2.0


class SharedRedis:
    def __init__(self, url: str = "redis://127.0.0.1:6379/0") -> None:
        self._url = url
        self._client: aioredis.Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retired: list[aioredis.Redis] = []
        self._closing: set[asyncio.Task] = set()

    @staticmethod
    def import_client_library() -> None:
        """Import redis-py (once; a no-op after). Called when a setting needs Redis, so that its
        first use does not pay the import (~0.1 s) on mitmproxy's event loop."""
        import redis.asyncio  # noqa: F401

    @property
    def url(self) -> str:
        return self._url

    def set_url(self, url: str) -> None:
        """Point at another server; the old client is closed on the next ``close``/``client``."""
        if url != self._url:
            self._url = url
            if self._client is not None:
                self._retired.append(self._client)
                self._client = None

    def client(self) -> aioredis.Redis:
        """The shared client, created on first call. Must be called from the running loop."""
        loop = asyncio.get_running_loop()
        if self._client is not None and self._loop is not loop:
            # A different loop (tests, reload): the old pool's sockets belong to the old loop.
            self._client = None
        if self._retired:
            retired, self._retired = self._retired, []
            for old in retired:
                task = loop.create_task(self._close_quietly(old))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
        if self._client is None:
            # redis-py is imported on first use: a memory-store proxy without events never
            # needs it, and its import alone makes every request cost a little more
            import redis.asyncio as aioredis
            from redis.asyncio.retry import Retry
            from redis.backoff import NoBackoff
            from redis.exceptions import ConnectionError as RedisConnectionError

            pool = aioredis.BlockingConnectionPool.from_url(
                self._url,
                max_connections=MAX_CONNECTIONS,
                timeout=POOL_TIMEOUT,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_TIMEOUT,
                health_check_interval=30,
                # After a Redis restart, pooled sockets are dead: one immediate retry on a
                # fresh connection, or every request would fail once per pooled socket.
                # Safe: the store's commands are idempotent lookup-or-create scripts.
                retry=Retry(NoBackoff(), 1),
                retry_on_error=[RedisConnectionError],
            )
            self._client = aioredis.Redis(connection_pool=pool)
            self._loop = loop
        return self._client

    @staticmethod
    async def _close_quietly(client: aioredis.Redis) -> None:
        try:
            await client.aclose(close_connection_pool=True)
        except Exception as e:  # closing a dead connection may fail; nothing to lose
            log.debug("closing redis client: %s", e)

    async def close(self) -> None:
        clients = [c for c in (self._client, *self._retired) if c is not None]
        self._client = None
        self._retired = []
        for c in clients:
            await self._close_quietly(c)
