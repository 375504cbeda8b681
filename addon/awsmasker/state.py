"""State shared by the addon's parts: settings, masker, store, Redis client, event publisher.

Rebuilt piecemeal by :meth:`MaskerState.apply_settings` whenever options change, so a live edit in
mitmweb takes effect for the next flow without a restart.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from awsmasker.config import Settings
from awsmasker.flowstate import FlowStates
from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import MappingStore
from awsmasker.store.memory import MemoryStore

log = logging.getLogger(__name__)

_MASKER_KEYS = ("disabled_types", "allow_values", "mask_public_ips", "scan_cache_bytes")
_STORE_KEYS = (
    "store", "redis_url", "redis_namespace", "mapping_ttl", "on_store_error",
    "encryption_key", "encryption_key_file",
)


@dataclass
class Totals:
    """Process-wide counters shown by ``masker.stats`` (no original values)."""

    flows_seen: int = 0
    flows_masked: int = 0
    masked_by_type: Counter[str] = field(default_factory=Counter)
    restored_by_type: Counter[str] = field(default_factory=Counter)
    blocked_by_reason: Counter[str] = field(default_factory=Counter)
    flagged_by_reason: Counter[str] = field(default_factory=Counter)
    store_errors: int = 0

    def as_dict(self) -> dict:
        return {
            "flows_seen": self.flows_seen,
            "flows_masked": self.flows_masked,
            "masked_by_type": dict(self.masked_by_type),
            "restored_by_type": dict(self.restored_by_type),
            "blocked_by_reason": dict(self.blocked_by_reason),
            "flagged_by_reason": dict(self.flagged_by_reason),
            "store_errors": self.store_errors,
        }


class MaskerState:
    def __init__(self) -> None:
        self.settings: Settings | None = None
        self.config_error: str | None = None
        self.redis = SharedRedis()
        self.store: MappingStore = MemoryStore()
        self.masker = None  # awsmasker.body.Masker, built on first apply_settings
        self.publisher = None  # awsmasker.events.EventPublisher, see events wiring
        self.totals = Totals()
        self.flows = FlowStates()
        #: one info line per masked request and restored reply; off where mitmdump prints no
        #: flows (``flow_detail=0``), on where there is no such option (mitmweb's event log)
        self.log_flows = True

    @property
    def ready(self) -> bool:
        return self.settings is not None and self.masker is not None

    def apply_settings(self, new: Settings, *, confdir: str = "~/.mitmproxy") -> None:
        """Rebuild what ``new`` changes. Raises ConfigError (state unchanged) when it cannot."""
        from awsmasker.body import Masker
        from awsmasker.store.factory import build_store

        old = self.settings
        masker = self.masker
        if old is None or any(getattr(old, k) != getattr(new, k) for k in _MASKER_KEYS):
            masker = Masker(
                disabled_types=new.disabled_types,
                allow_values=new.allow_values,
                mask_public_ips=new.mask_public_ips,
                scan_cache_bytes=new.scan_cache_bytes,
            )
        store = self.store
        self.redis.set_url(new.redis_url)
        if new.store == "redis" or new.enable_event_monitoring:
            SharedRedis.import_client_library()  # now, not on the event loop at first use
        if old is None or any(getattr(old, k) != getattr(new, k) for k in _STORE_KEYS):
            store = build_store(new, self.redis, previous=self.store, confdir=confdir,
                                on_outage=self.store_outage, on_recovered=self.store_recovered)
        self.masker, self.store = masker, store
        if self.publisher is not None:
            self.publisher.configure(new)
        self.settings = new
        self.config_error = None

    @property
    def events_enabled(self) -> bool:
        """Whether events are published at all: callers skip building an event's fields when
        not (the work would be thrown away on every flow)."""
        pub = self.publisher
        return pub is not None and pub.enabled

    def emit_flow_event(self, event_type: str, flow, **fields) -> None:
        """Hand an event about ``flow`` to the publisher (sampled per flow; never blocks)."""
        pub = self.publisher
        if pub is None or not pub.enabled:
            return
        from awsmasker.events import make_event

        try:
            if not pub.sampled(flow.id):
                return
            event = make_event(
                event_type,
                flow_id=flow.id,
                host=flow.request.pretty_host,
                path=flow.request.path,
                **fields,
            )
            pub.publish(event)
        except Exception:  # monitoring never changes traffic (DESIGN invariant 7)
            log.exception("aws-masker: could not queue event")

    def emit_event(self, event_type: str, **fields) -> None:
        """An event not tied to one flow (store outages); never blocks."""
        pub = self.publisher
        if pub is None or not pub.enabled:
            return
        from awsmasker.events import make_event

        try:
            pub.publish(make_event(event_type, flow_id="-", host="-", path="/", **fields))
        except Exception:
            log.exception("aws-masker: could not queue event")

    def store_outage(self, message: str, fallback: bool) -> None:
        """Called once per store outage by the guarded store."""
        self.totals.store_errors += 1
        if fallback:
            log.warning("aws-masker: mapping store unavailable (%s); masking continues with an "
                        "in-process store until it recovers", message)
        else:
            log.warning("aws-masker: mapping store unavailable (%s); target requests are "
                        "blocked until it recovers", message)
        self.emit_event("store_error", store=self.store.name, fallback=fallback)

    def store_recovered(self, outage_s: float) -> None:
        self.emit_event("store_recovered", duration_ms=outage_s * 1000, store=self.store.name)
