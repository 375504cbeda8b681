"""The ``on_store_error`` policy around a primary (Redis) store.

``block``: a failure is re-raised as :class:`StoreError` (the addon answers with an error).
``memory``: masking goes on from an in-process store whose counters start above every
Redis-minted counter, so a fallback token never equals a Redis token.

Either way an outage is logged and reported through ``on_store_error`` once, and the primary is
probed again on later requests (at most one probe per ``probe_interval``) so the proxy recovers
without a restart; recovery is logged once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from awsmasker.store.base import (
    FALLBACK_FIRST_COUNTER,
    Finding,
    MappingStore,
    Resolution,
    StoreError,
)
from awsmasker.store.memory import MemoryStore
from awsmasker.tokens import TOKEN_RE, format_token

log = logging.getLogger(__name__)

POLICIES = ("block", "memory")


class FallbackMemoryStore(MemoryStore):
    """A memory store whose per-type counters start at :data:`FALLBACK_FIRST_COUNTER`."""

    name = "memory-fallback"

    def _mint(self, type_name: str) -> str:
        n = self._counters.get(type_name, FALLBACK_FIRST_COUNTER - 1) + 1
        self._counters[type_name] = n
        return format_token(type_name, n)

    def mapping_count(self) -> int:
        return sum(n - FALLBACK_FIRST_COUNTER + 1 for n in self._counters.values())


def _is_fallback_token(token: str) -> bool:
    m = TOKEN_RE.fullmatch(token)
    return m is not None and int(m["n"]) >= FALLBACK_FIRST_COUNTER


class GuardedStore(MappingStore):
    def __init__(
        self,
        primary: MappingStore,
        *,
        policy: str = "block",
        on_store_error: Callable[[str, bool], None] | None = None,
        on_recovered: Callable[[float], None] | None = None,
        probe_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``on_store_error(message, fallback)`` is called once per outage (fallback is True
        with the ``memory`` policy); ``on_recovered(outage_seconds)`` once when it ends."""
        self.primary = primary
        self.policy = policy
        self.fallback = FallbackMemoryStore()
        self.on_store_error = on_store_error
        self.on_recovered = on_recovered
        self.probe_interval = probe_interval
        self._clock = clock
        self._down_since: float | None = None
        self._next_probe = 0.0
        self._last_error = ""
        self.outages = 0

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.primary.name

    @property
    def policy(self) -> str:
        return self._policy

    @policy.setter
    def policy(self, value: str) -> None:
        if value not in POLICIES:
            raise ValueError(f"on_store_error: expected one of {POLICIES}, got {value!r}")
        self._policy = value

    @property
    def healthy(self) -> bool:
        return self._down_since is None

    async def resolve(
        self, findings: Sequence[Finding], present_tokens: Sequence[str] = ()
    ) -> Resolution:
        started = self._clock()
        if self._down_since is not None:
            if started < self._next_probe:
                return await self._degraded(findings, present_tokens, self._last_error)
            self._next_probe = started + self.probe_interval  # this call is the probe
        try:
            result = await self.primary.resolve(findings, present_tokens)
        except StoreError as e:
            self._failed(str(e))
            return await self._degraded(findings, present_tokens, str(e))
        if self._down_since is not None and started >= self._down_since:
            self._recovered()
        if self.fallback.mapping_count():
            await self._add_fallback_originals(result, present_tokens)
        return result

    async def _degraded(
        self, findings: Sequence[Finding], present_tokens: Sequence[str], error: str
    ) -> Resolution:
        if self._policy == "block":
            raise StoreError(error)
        return await self.fallback.resolve(findings, present_tokens)

    async def _add_fallback_originals(self, result: Resolution, present: Sequence[str]) -> None:
        """Tokens minted during an outage still restore once the primary is back."""
        missing = [t for t in present if t not in result.originals and _is_fallback_token(t)]
        if missing:
            result.originals.update((await self.fallback.resolve((), missing)).originals)

    def _failed(self, message: str) -> None:
        now = self._clock()
        self._last_error = message
        self._next_probe = now + self.probe_interval
        if self._down_since is not None:
            return
        self._down_since = now
        self.outages += 1
        fallback = self._policy == "memory"
        if fallback:
            log.warning(
                "mapping store failed: %s; masking continues from an in-process store "
                "(tokens from %d on) until it recovers", message, FALLBACK_FIRST_COUNTER,
            )
        else:
            log.warning(
                "mapping store failed: %s; requests that need tokens are blocked until it "
                "recovers", message,
            )
        if self.on_store_error is not None:
            try:
                self.on_store_error(message, fallback)
            except Exception:
                log.exception("on_store_error callback failed")

    def _recovered(self) -> None:
        assert self._down_since is not None
        duration = self._clock() - self._down_since
        self._down_since = None
        self._last_error = ""
        log.warning("store recovered after %.1f s", duration)
        if self.on_recovered is not None:
            try:
                self.on_recovered(duration)
            except Exception:
                log.exception("on_recovered callback failed")

    def status(self) -> dict[str, Any]:
        """Health for the addon: no values, only state, policy, error text and counts."""
        down = self._down_since
        return {
            "store": self.primary.name,
            "policy": self._policy,
            "healthy": down is None,
            "down_for_s": None if down is None else round(self._clock() - down, 3),
            "last_error": self._last_error or None,
            "outages": self.outages,
            "fallback_active": down is not None and self._policy == "memory",
            "fallback_mappings": self.fallback.mapping_count(),
        }

    async def close(self) -> None:
        await self.primary.close()
