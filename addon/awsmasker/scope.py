"""Which flows the addon touches: requests to a configured target host.

A request counts as a target when any name mitmproxy routes it by matches ``targets`` (exact or
``*.suffix``, see :func:`awsmasker.config.host_matches`): the request's host, its ``Host``
header (or HTTP/2 authority), the TLS SNI the client sent, and the server connection's address
and resolved IP. Each is normalised as mitmproxy parses it: case, a trailing dot, blanks around
the name, the port. An IP-address target also covers a name that resolves to that address:
the address mitmproxy connected to where it is known, else the name is resolved here (the same
resolver mitmproxy uses), cached for :data:`RESOLVE_TTL` seconds.

Matching more names than mitmproxy routes by can only mask more, never less.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections import OrderedDict
from functools import lru_cache

from mitmproxy import http

from awsmasker.config import Settings, host_matches

#: seconds a name's resolved addresses are kept
RESOLVE_TTL = 60.0
#: names whose addresses are kept at most
RESOLVE_CACHE_SIZE = 1024

_resolved: OrderedDict[str, tuple[float, frozenset[str]]] = OrderedDict()


def normalise_host(value: str) -> str:
    """A host name or authority (``Host`` header, SNI, address) as a bare lower-case name:
    blanks, the port, IPv6 brackets and a trailing dot removed."""
    host = value.strip()
    if host.startswith("["):
        end = host.find("]")
        host = host[1:end] if end > 0 else host[1:]
    elif host.count(":") == 1:
        name, _, port = host.partition(":")
        if port.strip().isdigit() or not port.strip():
            host = name
    return host.strip().lower().rstrip(".")


def route_names(flow: http.HTTPFlow) -> set[str]:
    """Every name or address mitmproxy may route this request by, normalised."""
    req = flow.request
    names = {req.host}
    if host_header := req.headers.get("host"):
        names.add(host_header)
    if req.authority:
        names.add(req.authority)
    if sni := flow.client_conn.sni:
        names.add(sni)
    for address in (flow.server_conn.address, flow.server_conn.peername):
        if address:
            names.add(str(address[0]))
    return {n for n in map(normalise_host, names) if n}


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


def _targets(settings: Settings | None) -> tuple[str, ...]:
    # With no valid settings the default target still counts, so a broken configuration
    # blocks rather than forwards.
    return settings.targets if settings is not None else Settings().targets


@lru_cache(maxsize=8)
def _ip_targets(targets: tuple[str, ...]) -> frozenset:
    return frozenset(ip for t in targets if (ip := _ip(t)) is not None)


async def is_target(flow: http.HTTPFlow, settings: Settings | None) -> bool:
    """Whether this request goes to a target (module docstring)."""
    targets = _targets(settings)
    if host_matches(normalise_host(flow.request.host), targets):
        return True  # the request's own host, the usual case; then every name it may route by
    names = route_names(flow)
    if any(host_matches(name, targets) for name in names):
        return True
    ip_targets = _ip_targets(targets)
    if not ip_targets:
        return False
    for name in names:
        if _ip(name) is None:
            for address in await resolve(name):
                if _ip(address) in ip_targets:
                    return True
    return False


async def resolve(name: str) -> frozenset[str]:
    """The addresses ``name`` resolves to (empty when it does not), cached."""
    now = time.monotonic()
    hit = _resolved.get(name)
    if hit is not None and hit[0] > now:
        _resolved.move_to_end(name)
        return hit[1]
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            name, None, type=socket.SOCK_STREAM)
        addresses = frozenset(str(info[4][0]).split("%", 1)[0] for info in infos)
    except (OSError, UnicodeError):
        addresses = frozenset()
    _resolved[name] = (now + RESOLVE_TTL, addresses)
    _resolved.move_to_end(name)
    while len(_resolved) > RESOLVE_CACHE_SIZE:
        _resolved.popitem(last=False)
    return addresses
