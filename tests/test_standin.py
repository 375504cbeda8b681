"""The stand-in LLM server as a user runs it (``scripts/standin_llm.py``): TLS as localhost,
a record of what it received, a ``Bash`` tool call only when the prompt asks for one, and the
README's Claude Code recipe with the real ``claude`` CLI when it is installed."""

from __future__ import annotations

import json
import os
import re
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import anthropic
import httpx
import pytest

from testsupport.mitmdump import Mitmdump
from testsupport.procs import stop_process
from testsupport.samples import ORIGINALS, PROMPT
from testsupport.standin import StandinConfig, StandinServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def asked_standin():
    srv = StandinServer(StandinConfig(tool_call="when-asked")).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def client_for(srv: StandinServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key="sk-test", base_url=f"http://127.0.0.1:{srv.port}",
                               max_retries=0,
                               http_client=anthropic.DefaultHttpxClient(trust_env=False))


@pytest.mark.parametrize("stream", [False, True], ids=["json", "sse"])
def test_the_command_calls_bash_only_when_the_prompt_asks(asked_standin, stream):
    client = client_for(asked_standin)

    def ask(messages: list) -> anthropic.types.Message:
        kw = {"model": "m", "max_tokens": 50, "messages": messages}
        if stream:
            with client.messages.stream(**kw) as s:
                return s.get_final_message()
        return client.messages.create(**kw)

    plain = ask([{"role": "user", "content": "What is AWS_EC2_001?"}])
    assert [b.type for b in plain.content] == ["text"] and plain.stop_reason == "end_turn"
    assert "AWS_EC2_001" in plain.content[0].text

    reminder = "<system-reminder>the Bash tool is available</system-reminder>"
    hidden = ask([{"role": "user", "content": [{"type": "text", "text": reminder},
                                               {"type": "text", "text": "Describe it."}]}])
    assert [b.type for b in hidden.content] == ["text"], "a system reminder is not the prompt"

    asked = ask([{"role": "user", "content": "Use Bash to print AWS_EC2_001 and AWS_VPC_002"}])
    assert asked.stop_reason == "tool_use"
    call = asked.content[1]
    assert call.type == "tool_use" and call.name == "Bash"
    assert call.input == {"command": "echo 'AWS_EC2_001' 'AWS_VPC_002'",
                          "description": "Print the identifiers"}

    done = ask([{"role": "user", "content": "Use Bash to print AWS_EC2_001"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": call.id,
                                                   "name": "Bash", "input": call.input}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id,
                                              "content": "AWS_EC2_001"}]}])
    assert [b.type for b in done.content] == ["text"] and done.stop_reason == "end_turn"


def start_command(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, str, Path]:
    """``scripts/standin_llm.py --tls --port 0 ARGS``: the process, its URL, its certificate."""
    proc = subprocess.Popen([sys.executable, "scripts/standin_llm.py", "--tls", "--port", "0",
                             *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(2)]
    cert = re.search(r"^certificate: (\S+)$", lines[0], re.M)
    url = re.search(r"(https://localhost:\d+)$", lines[1], re.M)
    if not (cert and url):
        stop_process(proc)
        pytest.fail(f"unexpected start-up lines: {lines}")
    return proc, url.group(1), Path(cert.group(1))


def recorded(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.e2e
def test_the_command_serves_tls_as_localhost_and_records_what_reached_it(tmp_path):
    p = subprocess.run([sys.executable, "scripts/standin_llm.py", "--help"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert "8787" in p.stdout and "8080" not in p.stdout  # not the proxy's port
    record = tmp_path / "seen.jsonl"
    standin, url, cert = start_command(tmp_path, "--record", str(record))
    try:
        # the printed certificate is the one it serves, for localhost
        with httpx.Client(verify=ssl.create_default_context(cafile=str(cert)),
                          trust_env=False) as direct:
            assert direct.get(url + "/v1/models").status_code == 404
        with Mitmdump(tmp_path / "proxy", options=["targets=localhost", "ssl_insecure=true"],
                      env={"AWS_MASKER_CONFIG": ""}) as proxy:
            verify = ssl.create_default_context(cafile=str(proxy.ca_cert))
            client = anthropic.Anthropic(
                api_key="sk-test", base_url=url, max_retries=0,
                http_client=anthropic.DefaultHttpxClient(proxy=proxy.url, verify=verify,
                                                         trust_env=False, timeout=30))
            reply = client.messages.create(model="m", max_tokens=50,
                                           messages=[{"role": "user", "content": PROMPT}])
    finally:
        stop_process(standin)
    text = reply.content[0].text
    assert [b.type for b in reply.content] == ["text"]
    assert all(v in text for v in ORIGINALS), text
    seen = recorded(record)
    assert [(r["method"], r["path"]) for r in seen] == [("GET", "/v1/models"),
                                                       ("POST", "/v1/messages")]
    assert "AWS_EC2_" in seen[1]["body"]
    assert not [v for v in ORIGINALS if v in seen[1]["body"]]


@pytest.mark.e2e
def test_readme_claude_code_recipe_with_the_real_cli(tmp_path):
    """The README's recipe: the stand-in over TLS, mitmdump in front, ``claude -p`` asking for a
    Bash call. The tool runs with the originals (its output reaches the stand-in masked), the
    final answer shows them, and the run ends after two model calls."""
    claude = shutil.which("claude")
    if claude is None:
        pytest.skip("the claude CLI is not installed (npm install -g @anthropic-ai/claude-code)")
    record = tmp_path / "seen.jsonl"
    standin, url, _cert = start_command(tmp_path, "--record", str(record))
    home = tmp_path / "home"
    home.mkdir()
    try:
        with Mitmdump(tmp_path / "proxy", options=["targets=localhost", "ssl_insecure=true"],
                      env={"AWS_MASKER_CONFIG": ""}) as proxy:
            env = {"PATH": os.environ["PATH"], "HOME": str(home), "HTTPS_PROXY": proxy.url,
                   "NODE_EXTRA_CA_CERTS": str(proxy.ca_cert), "ANTHROPIC_BASE_URL": url,
                   "ANTHROPIC_API_KEY": "sk-standin",
                   "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"}
            p = subprocess.run([claude, "-p", "Use Bash to print i-0a1b2c3d4e5f67890 and "
                                "vpc-0123abcd", "--allowedTools", "Bash(echo:*)"],
                               cwd=tmp_path, env=env, capture_output=True, text=True,
                               timeout=180)
    finally:
        stop_process(standin)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "i-0a1b2c3d4e5f67890" in p.stdout and "vpc-0123abcd" in p.stdout, p.stdout
    calls = [r for r in recorded(record) if r["path"].startswith("/v1/messages")]
    assert len(calls) == 2, [r["path"] for r in calls]
    assert not [r for r in calls if "i-0a1b2c3d4e5f67890" in r["body"]]
    last = json.loads(calls[-1]["body"])["messages"]
    results = [b for m in last if isinstance(m["content"], list) for b in m["content"]
               if b.get("type") == "tool_result"]
    assert results and "AWS_EC2_001" in json.dumps(results)  # echo printed the original
