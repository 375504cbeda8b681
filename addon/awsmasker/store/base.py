"""The store contract shared by the memory and Redis stores.

One call per request body: :meth:`MappingStore.resolve` gets (or mints) the token of every
finding and the original of every token that was already in the body, in one round trip.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass, field

from awsmasker.catalogue import Finding

#: Redis counters stay below this bound; in-process fallback tokens start above it.
REDIS_MAX_COUNTER = 10**8 - 1
#: First counter of the in-process fallback store: its tokens never equal a Redis-minted one.
FALLBACK_FIRST_COUNTER = 10**8 + 1


class StoreError(Exception):
    """The store could not answer (connection lost, timeout, bad key…)."""


@dataclass(slots=True)
class Resolution:
    #: token for each finding, in the order the findings were given
    tokens: list[str]
    #: original value for each already-present token the store knows (secrets never appear)
    originals: dict[str, str] = field(default_factory=dict)


class MappingStore(abc.ABC):
    """Same value → same token; two values never share a token."""

    name: str = "abstract"

    @abc.abstractmethod
    async def resolve(
        self, findings: Sequence[Finding], present_tokens: Sequence[str] = ()
    ) -> Resolution:
        """Tokens for ``findings`` (minting new ones) and originals for ``present_tokens``.

        Raises :class:`StoreError` when the store cannot answer.
        """

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections. Safe to call more than once."""
