"""Per-flow data kept beside mitmproxy's flow object (never in ``flow.metadata``, which is saved
with flows): the token map of the flow's own request, and what masking and restoring did."""

from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from mitmproxy import http


@dataclass
class FlowState:
    #: every token in the outgoing body → its original (secrets never appear)
    token_map: dict[str, str] = field(default_factory=dict)
    masked_counts: Counter[str] = field(default_factory=Counter)
    request_bytes: int = 0
    mask_ms: float = 0.0
    #: the installed stream restorer (awsmasker.restore.stream.StreamRestore), if any
    stream: Any = None
    #: the reply is small with a known length: mitmproxy buffers it, ``response`` restores it
    restore_whole: bool = False
    restore_started: float = 0.0


class FlowStates:
    """Weakly keyed by flow: an entry disappears with its flow."""

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[http.HTTPFlow, FlowState] = (
            weakref.WeakKeyDictionary()
        )

    def get(self, flow: http.HTTPFlow) -> FlowState | None:
        return self._states.get(flow)

    def create(self, flow: http.HTTPFlow) -> FlowState:
        st = self._states[flow] = FlowState()
        return st

    def discard(self, flow: http.HTTPFlow) -> None:
        self._states.pop(flow, None)

    def __len__(self) -> int:
        return len(self._states)
