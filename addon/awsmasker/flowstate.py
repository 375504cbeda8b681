"""Per-flow data kept beside mitmproxy's flow object (never in ``flow.metadata``, which is saved
with flows): the token map of the flow's own request, and what masking and restoring did."""

from __future__ import annotations

import weakref
from collections import Counter
from typing import Any

from mitmproxy import http


class FlowState:
    """What the addon knows of one flow (a plain class with slots: one is made per request)."""

    __slots__ = ("mask_ms", "masked_counts", "response_type", "restore_started", "restore_whole",
                 "stream", "token_map")

    def __init__(self) -> None:
        #: every token in the outgoing body → its original (secrets never appear)
        self.token_map: dict[str, str] = {}
        #: identifiers masked in the request, by type
        self.masked_counts: dict[str, int] = {}
        self.mask_ms = 0.0
        #: the installed stream restorer (awsmasker.restore.stream.StreamRestore), if any
        self.stream: Any = None
        #: the reply is small with a known length: mitmproxy buffers it, ``response`` restores it
        self.restore_whole = False
        #: the reply's content-type when ``restore_whole`` (read with its other headers)
        self.response_type: str | None = None
        self.restore_started = 0.0


class FlowStates:
    """Weakly keyed by flow: an entry disappears with its flow."""

    def __init__(self) -> None:
        self._states: weakref.WeakKeyDictionary[http.HTTPFlow, FlowState] = (
            weakref.WeakKeyDictionary()
        )
        #: token maps of finished flows that a person may look at (mitmweb, the console), for
        #: the "aws-masker restored" content view; in memory only, never in the flow
        self._shown_maps: weakref.WeakKeyDictionary[http.HTTPFlow, dict[str, str]] = (
            weakref.WeakKeyDictionary()
        )

    def keep_map(self, flow: http.HTTPFlow, token_map: dict[str, str]) -> None:
        """Keep a finished flow's token map for as long as the flow lives."""
        self._shown_maps[flow] = token_map

    def token_map(self, flow: http.HTTPFlow) -> dict[str, str] | None:
        """The flow's token map, while it is in flight or kept; None otherwise (a flow read
        from a file, or one whose map was not kept)."""
        st = self._states.get(flow)
        if st is not None:
            return st.token_map
        return self._shown_maps.get(flow)

    def get(self, flow: http.HTTPFlow) -> FlowState | None:
        return self._states.get(flow)

    def create(self, flow: http.HTTPFlow) -> FlowState:
        st = self._states[flow] = FlowState()
        return st

    def pop(self, flow: http.HTTPFlow) -> FlowState | None:
        """The flow's state (if any), forgotten here."""
        return self._states.pop(flow, None)

    def __len__(self) -> int:
        return len(self._states)


def add_counts(total: Counter[str], counts: dict[str, int]) -> None:
    """``total.update(counts)``, which costs more than this loop for the few keys a flow has."""
    for type_name, n in counts.items():
        total[type_name] += n


def count_summary(counts: dict[str, int]) -> str:
    """``EC2×2, VPC×1``: counts by type for a flow comment."""
    if len(counts) == 1:  # the usual flow: no sort, no join
        for t, n in counts.items():
            return f"{t}×{n}"
    return ", ".join(f"{t}×{n}" for t, n in sorted(counts.items()))


def by_type(counts: dict[str, int]) -> str:
    """``EC2 2, VPC 1``: counts by type for a log line (types in order, never values)."""
    return ", ".join(f"{t} {n}" for t, n in sorted(counts.items()))
