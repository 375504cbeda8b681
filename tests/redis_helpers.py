"""Consistency checks for the Redis store tests (the server itself: testsupport.redis_server)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def assert_consistent(pairs: Iterable[tuple[tuple[str, str], str]]) -> dict[tuple[str, str], str]:
    """Every (type, value) has one token and no token serves two values; returns the map."""
    tokens_of: dict[tuple[str, str], set[str]] = defaultdict(set)
    values_of: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for key, token in pairs:
        tokens_of[key].add(token)
        values_of[token].add(key)
    split = {k: v for k, v in tokens_of.items() if len(v) > 1}
    shared = {t: v for t, v in values_of.items() if len(v) > 1}
    assert not split, f"values with several tokens: {split}"
    assert not shared, f"tokens shared by several values: {shared}"
    return {k: next(iter(v)) for k, v in tokens_of.items()}
