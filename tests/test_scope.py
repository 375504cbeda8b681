"""Which requests are targets: every name mitmproxy routes by, normalised (taddons/tflow)."""

from __future__ import annotations

import pytest
from awsmasker import config
from awsmasker.scope import is_target, normalise_host
from mitmproxy.test import tflow, tutils


@pytest.mark.parametrize(("raw", "host"), [
    ("api.anthropic.com", "api.anthropic.com"),
    ("API.Anthropic.com.", "api.anthropic.com"),
    ("localhost\t:8080", "localhost"),
    (" localhost : 443 ", "localhost"),
    ("[::1]:8080", "::1"),
    ("::1", "::1"),
    ("127.0.0.1:80", "127.0.0.1"),
])
def test_normalise_host(raw, host):
    assert normalise_host(raw) == host


def flow(host: str = "example.com", host_header: str | None = None,
         sni: str | None = None) -> tflow.HTTPFlow:
    req = tutils.treq(host=host, port=443, scheme=b"https", path=b"/v1/messages", method=b"POST")
    if host_header is not None:
        req.headers["host"] = host_header
    f = tflow.tflow(req=req)
    f.client_conn.sni = sni
    f.server_conn.address = (host, 443)
    return f


def settings(*targets: str) -> config.Settings:
    return config.validate({"targets": list(targets)})


async def test_each_routing_name_counts():
    s = settings("api.anthropic.com")
    assert await is_target(flow("api.anthropic.com"), s)
    assert await is_target(flow(host_header="API.anthropic.com.\t:443"), s)
    assert await is_target(flow(sni="api.anthropic.com"), s)
    assert not await is_target(flow(), s)


async def test_an_ip_target_covers_names_that_resolve_to_it():
    s = settings("127.0.0.1")
    assert await is_target(flow("localhost"), s)
    assert not await is_target(flow("name.invalid"), s)


async def test_broken_settings_still_treat_the_default_target_as_one():
    assert await is_target(flow("api.anthropic.com"), None)
