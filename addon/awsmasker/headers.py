"""Header edits done once per flow, in one pass over mitmproxy's raw header fields.

``Headers.__setitem__``/``get`` scan and lower-case every field on each call; the addon edits
headers on every target request and restored reply, so it builds the new fields once instead.
"""

from __future__ import annotations

from mitmproxy import http


def set_header_fields(headers: http.Headers, values: dict[bytes, bytes]) -> None:
    """Set each (lower-case) header in ``values`` to one field, in one pass over the fields
    (``headers[name] = value`` scans and lower-cases every field once per name)."""
    fields: list[tuple[bytes, bytes]] = []
    left = dict(values)
    for name, value in headers.fields:
        key = name.lower()
        if key in values:
            if key not in left:
                continue  # a repeated field: set once
            value = left.pop(key)
        fields.append((name, value))
    fields.extend(left.items())
    headers.fields = tuple(fields)
