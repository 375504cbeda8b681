"""A memory-store proxy without events never imports redis-py.

redis-py's import (it brings OpenTelemetry's API) made every request of such a proxy cost about
0.7% more instructions (``bench_proxy.py --meter instructions``). Checked in a fresh
interpreter: this test process imports redis for other tests.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = textwrap.dedent('''
    import asyncio, json, sys
    sys.path.insert(0, "addon")
    from awsmasker.addon import make_addon
    from mitmproxy import hooks, http
    from mitmproxy.proxy.layers.http import (HttpRequestHeadersHook, HttpRequestHook,
                                             HttpResponseHeadersHook, HttpResponseHook)
    from mitmproxy.test import taddons, tflow, tutils

    async def main() -> None:
        addon = make_addon()
        with taddons.context(addon) as tctx:
            configure = hooks.ConfigureHook(set(tctx.options.keys()))
            tctx.master.addons.invoke_addon_sync(addon, configure)
            if "--events" in sys.argv:  # nothing listens on port 1: events are dropped, counted
                tctx.configure(addon, enable_event_monitoring=True,
                               redis_url="redis://127.0.0.1:1/0")
                print("after-configure", "redis" in sys.modules)
            await tctx.master.addons.invoke_addon(addon, hooks.RunningHook())
            req = tutils.treq(host="api.anthropic.com", port=443, scheme=b"https",
                              path=b"/v1/messages", method=b"POST",
                              content=json.dumps({"messages": [{"role": "user",
                                  "content": "why is i-0123456789abcdef0 down?"}]}).encode())
            req.headers["content-type"] = "application/json"
            f = tflow.tflow(req=req)
            await tctx.master.addons.handle_lifecycle(HttpRequestHeadersHook(f))
            await tctx.master.addons.handle_lifecycle(HttpRequestHook(f))
            assert b"i-0123456789abcdef0" not in f.request.raw_content
            token = f.request.raw_content.split(b"why is ")[1].split(b" ")[0]
            f.response = http.Response.make(200, b'{"text": "' + token + b'"}',
                                            {"content-type": "application/json"})
            await tctx.master.addons.handle_lifecycle(HttpResponseHeadersHook(f))
            await tctx.master.addons.handle_lifecycle(HttpResponseHook(f))
            assert b"i-0123456789abcdef0" in f.response.content
            await tctx.master.addons.invoke_addon(addon, hooks.DoneHook())
        print("before-client", "redis" in sys.modules)
        if "--client" in sys.argv:
            from awsmasker.redis_client import SharedRedis
            SharedRedis().client()
            print("after-client", "redis" in sys.modules)

    asyncio.run(main())
''')


def run(*args: str) -> str:
    p = subprocess.run([sys.executable, "-c", PROGRAM, *args], cwd=ROOT, capture_output=True,
                       text=True, timeout=120, env={"AWS_MASKER_CONFIG": "", "PATH": ""})
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_memory_store_proxy_never_imports_redis():
    assert "before-client False" in run()


def test_redis_is_imported_when_the_shared_client_is_first_made():
    out = run("--client")
    assert "before-client False" in out
    assert "after-client True" in out


def test_a_setting_that_needs_redis_imports_it_when_applied_not_at_first_use():
    assert "after-configure True" in run("--events")
