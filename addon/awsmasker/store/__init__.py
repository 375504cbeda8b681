"""Mapping stores: value ⇄ token. ``memory`` (default) and ``redis``."""

from awsmasker.store.base import Finding, MappingStore, Resolution, StoreError
from awsmasker.store.memory import MemoryStore

__all__ = ["Finding", "MappingStore", "MemoryStore", "Resolution", "StoreError"]
