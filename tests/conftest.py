"""Shared fixtures: the stand-in LLM server, raw-socket upstreams and mitmdump processes running
the addon."""

from __future__ import annotations

import ssl

import pytest
from awsmasker.addon import make_addons
from awsmasker.state import MaskerState
from mitmproxy import hooks
from mitmproxy.test import taddons

from testsupport.mitmdump import Mitmdump
from testsupport.raw_upstream import Behaviour, RawUpstream
from testsupport.redis_server import RedisServer
from testsupport.standin import StandinConfig, StandinServer, self_signed_localhost

pytest_plugins = ["tests.report_plugin"]


@pytest.fixture
def standin():
    cfg = StandinConfig()
    srv = StandinServer(cfg).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def tls_standin(tmp_path):
    """The stand-in LLM server, speaking only TLS (so every recorded request came over TLS)."""
    cert, key = self_signed_localhost(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = StandinServer(StandinConfig())
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def proxy_factory(tmp_path):
    started: list[Mitmdump] = []

    def start(*options: str, with_addon: bool = True, env: dict[str, str] | None = None,
              name: str = "proxy") -> Mitmdump:
        workdir = tmp_path / f"{name}{len(started)}"
        workdir.mkdir()
        p = Mitmdump(workdir, options=options, with_addon=with_addon, env=env)
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


@pytest.fixture
def proxy(proxy_factory):
    """mitmdump with the addon, targeting the stand-in server on 127.0.0.1."""
    return proxy_factory("targets=127.0.0.1")


@pytest.fixture
def upstreams():
    """``upstreams(behaviour)`` starts a :class:`RawUpstream`; all are closed at the end."""
    made: list[RawUpstream] = []

    def make(behaviour: Behaviour) -> RawUpstream:
        made.append(RawUpstream(behaviour))
        return made[-1]

    yield make
    for u in made:
        u.close()


@pytest.fixture
def env(monkeypatch, tmp_path):
    """A configured addon chain (no masker.yaml: embedded defaults) and its state."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AWS_MASKER_CONFIG", raising=False)
    state = MaskerState()
    addons = make_addons(state)
    with taddons.context(*addons) as tctx:
        for a in addons:
            tctx.master.addons.invoke_addon_sync(a, hooks.ConfigureHook(set(tctx.options.keys())))
        yield tctx, state, {type(a).__name__: a for a in addons}


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of the test's own (it may kill it), in ``tmp_path/redis``."""
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.kill()
