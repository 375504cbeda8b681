"""What a flow shows in mitmweb's (and the console's) flow list: a marker and a short comment.

Comments are short and lead with the numbers, ``14 masked · 42 restored``: mitmweb's comment
column is 150 pixels wide and cuts the rest. The counts per type are in the ``aws-masker``
content view. The
markers are emoji shortcodes (mitmweb shows any other marker as a red circle emoji) whose
characters are in common text fonts (DejaVu Sans), so they render without an emoji font.
"""

from __future__ import annotations

from mitmproxy import http

#: the request's identifiers were masked (✔)
MASKED = ":heavy_check_mark:"
#: something went wrong restoring or reading the reply (⚠)
FLAGGED = ":warning:"
#: the proxy answered the request itself, or killed it: nothing went upstream (✖)
BLOCKED = ":heavy_multiplication_x:"

SEP = " · "


def add_note(flow: http.HTTPFlow, note: str) -> None:
    """Append ``note`` to the flow's comment (once)."""
    comment = flow.comment
    if not comment:
        flow.comment = note
    elif note not in comment.split(SEP):
        flow.comment = comment + SEP + note


def note_masked(flow: http.HTTPFlow, counts: dict[str, int]) -> None:
    """The count leads the comment; notes already there (a flag) follow it and keep their
    marker."""
    note = f"{sum(counts.values())} masked"
    flow.comment = note + SEP + flow.comment if flow.comment else note
    if flow.marked != FLAGGED:
        flow.marked = MASKED


def note_restored(flow: http.HTTPFlow, counts: dict[str, int]) -> None:
    add_note(flow, f"{sum(counts.values())} restored")


def note_flag(flow: http.HTTPFlow, reason: str) -> None:
    flow.marked = FLAGGED
    add_note(flow, reason.replace("_", " "))


def note_blocked(flow: http.HTTPFlow, what: str) -> None:
    """``what``: e.g. ``blocked (store_error)``; it replaces the comment."""
    flow.comment = what
    flow.marked = BLOCKED


def logged_url(flow: http.HTTPFlow) -> str:
    """The request's URL as the log shows it: without its query, which may hold identifiers
    (a query is masked on the way up, but the log may be written before or without that)."""
    return flow.request.pretty_url.split("?", 1)[0]
