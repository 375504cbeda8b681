"""Header edits done once per flow, in one pass over mitmproxy's raw header fields.

``Headers.__setitem__``/``get`` scan and lower-case every field on each call; the addon edits
headers on every target request and restored reply, so it builds the new fields once instead,
or, when an earlier pass over the fields already found where each one is, sets them in place.
"""

from __future__ import annotations

from mitmproxy import http

#: in a positions map: the name has several fields (``set_header_fields`` decides)
REPEATED = -1


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


def note_position(positions: dict[bytes, int], key: bytes, index: int) -> None:
    """Record that the field at ``index`` is named ``key`` (lower-case), for
    :func:`set_fields_at`."""
    positions[key] = REPEATED if key in positions else index


def set_fields_at(headers: http.Headers, positions: dict[bytes, int],
                  values: dict[bytes, bytes]) -> None:
    """:func:`set_header_fields` without lower-casing every field again: ``positions`` maps
    each name of ``values`` to the index of its one field, as an earlier pass over these fields
    found it (no entry: no such field). A repeated name, or a field no longer where it was
    seen, takes the full pass."""
    fields = list(headers.fields)
    n = len(fields)
    for key, value in values.items():
        i = positions.get(key)
        if i is None:
            fields.append((key, value))
        elif 0 <= i < n and fields[i][0].lower() == key:
            fields[i] = (fields[i][0], value)
        else:
            set_header_fields(headers, values)
            return
    headers.fields = tuple(fields)
