"""Claude Code itself on Amazon Bedrock through mitmdump, against the SigV4-verifying stand-in:
the client signing (SigV4, through the proxy as HTTP proxy) and not signing
(``CLAUDE_CODE_SKIP_BEDROCK_AUTH=1``, the proxy in reverse mode signs once); and on Google
Vertex. Skipped, with the reason, when the ``claude`` command is not installed."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.bedrock_upstream import Upstream, UpstreamServer
from tests.test_e2e_bedrock import KEY, ORIGINALS, REGION, SECRET, aws_env
from testsupport.mitmdump import Mitmdump

CLAUDE = shutil.which("claude")
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    CLAUDE is None, reason="Claude Code is not installed (npm i -g @anthropic-ai/claude-code)")]
PROMPT = f"Why can't {ORIGINALS[0]} reach {ORIGINALS[2]}?"


def run_claude(home: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    assert CLAUDE is not None
    full = {"PATH": os.environ["PATH"], "HOME": str(home), "DISABLE_TELEMETRY": "1",
            "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", **env}
    return subprocess.run([CLAUDE, "-p", PROMPT, "--max-turns", "1"], env=full, cwd=home,
                          capture_output=True, text=True, timeout=180)


BEDROCK = {"CLAUDE_CODE_USE_BEDROCK": "1", "AWS_REGION": REGION,
           "ANTHROPIC_MODEL": "anthropic.claude-3-5-sonnet-20241022-v2:0"}


@pytest.mark.parametrize("setup", ["client_signs", "proxy_signs", "vertex"])
def test_claude_code_on_bedrock(tmp_path, setup):
    up = UpstreamServer(Upstream(secrets={KEY: SECRET}, tools=False))
    home = tmp_path / "home"
    home.mkdir()
    workdir = tmp_path / "proxy"
    workdir.mkdir()
    try:
        if setup == "client_signs":
            with Mitmdump(workdir, options=["targets=127.0.0.1"], env=aws_env(tmp_path)) as proxy:
                p = run_claude(home, {
                    **BEDROCK, "AWS_ACCESS_KEY_ID": KEY, "AWS_SECRET_ACCESS_KEY": SECRET,
                    "ANTHROPIC_BEDROCK_BASE_URL": f"http://127.0.0.1:{up.port}",
                    "HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url})
        elif setup == "proxy_signs":
            with Mitmdump(workdir, options=["targets=127.0.0.1"], env=aws_env(tmp_path),
                          args=["--mode", f"reverse:http://127.0.0.1:{up.port}"]) as proxy:
                p = run_claude(home, {**BEDROCK, "CLAUDE_CODE_SKIP_BEDROCK_AUTH": "1",
                                      "ANTHROPIC_BEDROCK_BASE_URL": proxy.url})
        else:  # Vertex: an OAuth bearer token (skipped here), nothing to sign
            with Mitmdump(workdir, options=["targets=127.0.0.1"]) as proxy:
                p = run_claude(home, {
                    "CLAUDE_CODE_USE_VERTEX": "1", "CLAUDE_CODE_SKIP_VERTEX_AUTH": "1",
                    "CLOUD_ML_REGION": "us-east5", "ANTHROPIC_VERTEX_PROJECT_ID": "proj",
                    "ANTHROPIC_MODEL": "claude-sonnet-4-5@20250929",
                    "ANTHROPIC_VERTEX_BASE_URL": f"http://127.0.0.1:{up.port}/v1",
                    "HTTP_PROXY": proxy.url, "HTTPS_PROXY": proxy.url})
        assert p.returncode == 0, p.stderr
        assert ORIGINALS[0] in p.stdout and ORIGINALS[2] in p.stdout
        reqs = up.upstream.requests
        streamed = ":streamRawPredict" if setup == "vertex" else "invoke-with-response-stream"
        assert any(r.path.endswith(streamed) for r in reqs)
        for r in reqs:
            assert r.verified if setup != "vertex" else not r.signed, (r.path, r.why)
            for original in ORIGINALS:
                assert original.encode() not in r.body
    finally:
        up.close()
