"""In-process store: mappings live as long as the proxy process."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Sequence

from awsmasker.store.base import Finding, MappingStore, Resolution
from awsmasker.tokens import format_token


class MemoryStore(MappingStore):
    name = "memory"

    def __init__(self) -> None:
        self._token_by_value: dict[tuple[str, str], str] = {}
        self._value_by_token: dict[str, str] = {}
        # Secrets are looked up by a keyed hash; the key dies with the process.
        self._secret_key = os.urandom(32)
        self._token_by_secret_hash: dict[bytes, str] = {}
        self._counters: dict[str, int] = {}

    def _mint(self, type_name: str) -> str:
        n = self._counters.get(type_name, 0) + 1
        self._counters[type_name] = n
        return format_token(type_name, n)

    def token_for(self, finding: Finding) -> str:
        """Synchronous lookup-or-mint (the memory store never waits)."""
        if not finding.reversible:
            digest = hmac.digest(
                self._secret_key, f"{finding.type_name}\0{finding.value}".encode(), hashlib.sha256
            )
            token = self._token_by_secret_hash.get(digest)
            if token is None:
                token = self._token_by_secret_hash[digest] = self._mint(finding.type_name)
            return token
        key = (finding.type_name, finding.value)
        token = self._token_by_value.get(key)
        if token is None:
            token = self._mint(finding.type_name)
            self._token_by_value[key] = token
            self._value_by_token[token] = finding.value
        return token

    async def resolve(
        self, findings: Sequence[Finding], present_tokens: Sequence[str] = ()
    ) -> Resolution:
        # the usual finding (a reversible one already mapped) without a call per finding
        known = self._token_by_value.get
        tokens: list[str] = []
        append = tokens.append
        for f in findings:
            token = known((f.type_name, f.value)) if f.reversible else None
            append(token if token is not None else self.token_for(f))
        originals = {t: v for t in present_tokens if (v := self._value_by_token.get(t)) is not None}
        return Resolution(tokens=tokens, originals=originals)

    def stats(self) -> dict[str, int]:
        """Mappings per type (no values)."""
        return dict(self._counters)
