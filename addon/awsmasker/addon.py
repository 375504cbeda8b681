"""Assemble the addon chain that ``addon/aws_masker.py`` hands to mitmproxy."""

from __future__ import annotations

from awsmasker.contentview import MaskerContentview
from awsmasker.event_monitoring import EventMonitoring
from awsmasker.options import MaskerOptions
from awsmasker.request_masking import RequestMasking
from awsmasker.response_restoring import ResponseRestoring
from awsmasker.state import MaskerState
from awsmasker.stats import MaskerStats


def make_addons(state: MaskerState | None = None) -> list[object]:
    state = state or MaskerState()
    return [
        MaskerOptions(state),
        RequestMasking(state),
        ResponseRestoring(state),
        EventMonitoring(state),
        MaskerContentview(),
        MaskerStats(state),  # last: its done() closes the shared Redis client
    ]
