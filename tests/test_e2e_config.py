"""Every way to configure the addon, through a real mitmdump, judged by the traffic.

One precedence rule (README, Configuration): built-in defaults < the config file in force
(``--set masker_config``, else ``$AWS_MASKER_CONFIG``, else ``./masker.yaml``) < keys set as
options (``--set``, live edits). Each test asserts on what the stand-in server received, not
only on option values. Live edits go through ``tests/live_options_script.py``, which calls
``options.update`` as mitmweb's option editor does.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import httpx
import pytest

from tests.live_options_script import CONTROL_HOST
from testsupport.mitmdump import ENTRY, Mitmdump, run_mitmdump_expecting_exit
from testsupport.procs import wait_until
from testsupport.samples import ORIGINALS, PROMPT

pytestmark = pytest.mark.e2e

HERE = Path(__file__).resolve().parent
LIVE = HERE / "live_options_script.py"
REWRITE = HERE / "rewrite_script.py"
NO_ENV = {"AWS_MASKER_CONFIG": ""}


def body(text: str = PROMPT) -> bytes:
    return json.dumps({"model": "m", "max_tokens": 5,
                       "messages": [{"role": "user", "content": text}]}).encode()


def send(proxy: Mitmdump, url: str, content: bytes | None = None, **headers: str) -> httpx.Response:
    with httpx.Client(proxy=proxy.url, timeout=30) as c:
        return c.post(url, content=content or body(),
                      headers={"content-type": "application/json", **headers})


def last_seen(standin) -> str:
    assert standin.cfg.requests, "the stand-in server received nothing"
    return standin.cfg.requests[-1].body.decode()


def assert_masked(standin, *, except_for: tuple[str, ...] = ()) -> None:
    seen = last_seen(standin)
    for value in ORIGINALS:
        if value in except_for:
            assert value in seen, f"{value} should have passed unmasked"
        else:
            assert value not in seen, f"{value} reached the upstream server"


def assert_unmasked(standin) -> None:
    seen = last_seen(standin)
    assert all(value in seen for value in ORIGINALS)


def live_set(proxy: Mitmdump, **values) -> httpx.Response:
    with httpx.Client(proxy=proxy.url, timeout=30) as c:
        return c.post(f"http://{CONTROL_HOST}/", content=json.dumps(values).encode())


def start(workdir: Path, *options: str, env: dict[str, str] | None = None,
          extra_scripts=(LIVE,), args=()) -> Mitmdump:
    workdir.mkdir(exist_ok=True)
    return Mitmdump(workdir, options=options, env={**NO_ENV, **(env or {})},
                    extra_scripts=extra_scripts, args=args)


# -- each source of configuration -------------------------------------------------------------


def test_masker_yaml_in_the_working_directory(tmp_path, standin):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "masker.yaml").write_text("targets: [127.0.0.1]\n")
    with start(tmp_path / "w") as proxy:
        assert f"config {tmp_path / 'w' / 'masker.yaml'} (from the working directory)" \
            in proxy.output()
        assert "targets: '127.0.0.1'" in proxy.output()
        send(proxy, f"http://127.0.0.1:{standin.port}" + "/v1/messages")
    assert_masked(standin)


def test_config_file_named_by_the_environment(tmp_path, standin):
    cfg = tmp_path / "team.yaml"
    cfg.write_text("targets: [127.0.0.1]\n")
    with start(tmp_path / "w", env={"AWS_MASKER_CONFIG": str(cfg)}) as proxy:
        assert f"config {cfg} (from the $AWS_MASKER_CONFIG)" in proxy.output()
        send(proxy, f"http://127.0.0.1:{standin.port}" + "/v1/messages")
    assert_masked(standin)


def test_config_file_named_by_set_masker_config(tmp_path, standin):
    """It used to be read but not applied: the defaults stayed in force."""
    cfg = tmp_path / "team.yaml"
    cfg.write_text("targets: [127.0.0.1]\nallow_values: ['10.20.30.40']\n")
    with start(tmp_path / "w", f"masker_config={cfg}") as proxy:
        assert f"config {cfg} (from the masker_config option)" in proxy.output()
        send(proxy, f"http://127.0.0.1:{standin.port}" + "/v1/messages")
    assert_masked(standin, except_for=("10.20.30.40",))


def test_set_masker_config_wins_over_the_environment_and_the_working_directory(
        tmp_path, standin):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "masker.yaml").write_text("targets: [nothing.invalid]\n")
    env_file = tmp_path / "env.yaml"
    env_file.write_text("targets: [nothing-either.invalid]\n")
    named = tmp_path / "named.yaml"
    named.write_text("targets: [127.0.0.1]\n")
    with start(tmp_path / "w", f"masker_config={named}",
               env={"AWS_MASKER_CONFIG": str(env_file)}) as proxy:
        send(proxy, f"http://127.0.0.1:{standin.port}" + "/v1/messages")
    assert_masked(standin)


@pytest.mark.parametrize("options", [
    ("targets=gw.internal,127.0.0.1",),  # one --set, comma-separated
    ("targets=gw.internal", "targets=127.0.0.1"),  # --set repeated
    ("targets=gw.internal, 127.0.0.1",),
], ids=["comma", "repeated", "comma-space"])
def test_a_target_list_on_the_command_line(tmp_path, standin, options):
    """``--set targets=a,b`` used to be one entry "a,b" that matched no host."""
    with start(tmp_path / "w", *options) as proxy:
        assert "targets: 'gw.internal', '127.0.0.1'" in proxy.output()
        send(proxy, f"http://127.0.0.1:{standin.port}" + "/v1/messages")
    assert_masked(standin)


def test_set_wins_over_the_file(tmp_path, standin):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "masker.yaml").write_text(
        "targets: [127.0.0.1]\nallow_values: ['172.31.5.17']\n")
    with start(tmp_path / "w", "allow_values=10.20.30.40") as proxy:
        send(proxy, f"http://127.0.0.1:{standin.port}" + "/v1/messages")
    assert_masked(standin, except_for=("10.20.30.40",))  # the file's allow value is replaced


def test_live_edits_and_a_refused_edit_changes_nothing(tmp_path, standin):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "masker.yaml").write_text("targets: [nothing.invalid]\n")
    with start(tmp_path / "w", "targets=127.0.0.1") as proxy:
        url = f"http://127.0.0.1:{standin.port}" + "/v1/messages"
        send(proxy, url)
        assert_masked(standin)
        # a live edit of a key takes effect for the next request
        assert live_set(proxy, allow_values=["10.20.30.40"]).status_code == 200
        send(proxy, url)
        assert_masked(standin, except_for=("10.20.30.40",))
        # refused: an empty target list, a bad value, a missing config file
        for bad in ({"targets": []}, {"event_batch_size": 0},
                    {"masker_config": str(tmp_path / "missing.yaml")}):
            r = live_set(proxy, **bad)
            assert r.status_code == 400 and "aws-masker" in r.text, r.text
        # ... and left every setting as it was (targets from --set, allow_values from the edit)
        send(proxy, url)
        assert_masked(standin, except_for=("10.20.30.40",))


def test_a_live_change_of_masker_config_keeps_the_keys_set_as_options(tmp_path, standin):
    other = tmp_path / "other.yaml"
    other.write_text("targets: [nothing.invalid]\nallow_values: ['172.31.5.17']\n")
    with start(tmp_path / "w", "targets=127.0.0.1") as proxy:
        url = f"http://127.0.0.1:{standin.port}" + "/v1/messages"
        assert live_set(proxy, masker_config=str(other)).status_code == 200
        assert proxy.wait_for(f"configuration changed: config {other}")
        send(proxy, url)
        # the file's allow value applies; its targets do not: --set targets wins
        assert_masked(standin, except_for=("172.31.5.17",))
        # a live edit of targets (a comma-separated value) applies as well
        assert live_set(proxy, targets=["nothing.invalid,127.0.0.1"]).status_code == 200
        send(proxy, url)
        assert_masked(standin, except_for=("172.31.5.17",))


# -- loud configuration: what cannot work stops the proxy with one line ----------------------


@pytest.mark.parametrize(("setup", "options", "env", "fragment"), [
    ("targets: [127.0.0.1]\ntargets: [x.invalid]\n", (), {},
     "key 'targets' is given twice (lines 1 and 2)"),
    ("targets: []\n", (), {}, "targets: the list is empty"),
    ("", ("targets=",), {}, "targets: the list is empty"),
    ("", ("masker_config=/nonexistent/masker.yaml",), {},
     "cannot read config file '/nonexistent/masker.yaml'"),
    ("", (), {"AWS_MASKER_CONFIG": "/nonexistent/env.yaml"},
     "cannot read config file '/nonexistent/env.yaml'"),
    ("DIR", (), {}, "Is a directory"),
    ("", ("targets=127.0.0.1", "ignore_hosts=^127\\.0\\.0\\.1"), {},
     "targets: '127.0.0.1' would be tunnelled without decryption"),
    ("", ("targets=127.0.0.1,api.anthropic.com", "allow_hosts=^api\\.anthropic\\.com:443$"), {},
     "no allow_hosts pattern matches 127.0.0.1:443"),
], ids=["duplicate-key", "empty-list-yaml", "empty-list-set", "missing-named-file",
        "missing-env-file", "directory", "ignore-hosts", "allow-hosts"])
def test_configurations_that_cannot_work_stop_the_proxy(tmp_path, setup, options, env, fragment):
    if setup == "DIR":
        (tmp_path / "masker.yaml").mkdir()
    elif setup:
        (tmp_path / "masker.yaml").write_text(setup)
    code, out = run_mitmdump_expecting_exit(tmp_path, options, env={**NO_ENV, **env})
    assert code != 0
    assert fragment in out, out
    assert "Traceback" not in out, out
    assert len([line for line in out.splitlines() if "aws-masker:" in line]) == 1, out


# -- mitmproxy's rewrites run before masking --------------------------------------------------


def test_map_remote_to_a_target_is_masked(tmp_path, standin):
    with start(tmp_path / "w", "targets=127.0.0.1",
               f"map_remote=|//alias.invalid:{standin.port}|//127.0.0.1:{standin.port}") as proxy:
        send(proxy, f"http://alias.invalid:{standin.port}/v1/messages")
    assert_masked(standin)


def test_modify_body_and_later_scripts_cannot_put_identifiers_back(tmp_path, standin):
    with start(tmp_path / "w", "targets=127.0.0.1",
               "modify_body=|~q|BODY_PLACEHOLDER|i-0a1b2c3d4e5f60718",
               "modify_headers=|~q|x-note|vpc-0a1b2c3d",
               extra_scripts=(LIVE, REWRITE)) as proxy:
        send(proxy, f"http://127.0.0.1:{standin.port}" + "/v1/messages",
             body(PROMPT + " BODY_PLACEHOLDER SCRIPT_PLACEHOLDER"))
    assert_masked(standin)
    seen = last_seen(standin)
    assert "PLACEHOLDER" not in seen  # the rewrites happened ...
    assert "i-0a1b2c3d4e5f60718" not in seen and "i-0fedcba9876543210" not in seen  # ... first
    headers = {k.lower(): v for k, v in standin.cfg.requests[-1].headers.items()}
    assert "x-note" in headers and "vpc-0a1b2c3d" not in headers["x-note"]


# -- targets matched as mitmproxy routes the request ------------------------------------------


def test_an_ip_target_covers_a_name_that_resolves_to_it(tmp_path, standin):
    with start(tmp_path / "w", "targets=127.0.0.1") as proxy:
        send(proxy, f"http://localhost:{standin.port}/v1/messages")
    assert_masked(standin)


def test_the_host_header_counts_however_it_is_spelled(tmp_path, standin):
    """An absolute-form request to a non-target address whose Host header names a target, with
    blanks before its port."""
    with start(tmp_path / "w", "targets=llm.internal") as proxy:
        content = body()
        head = (f"POST http://127.0.0.1:{standin.port}/v1/messages HTTP/1.1\r\n"
                f"Host: LLM.Internal.\t:{standin.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n"
                "Connection: close\r\n\r\n").encode()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as s:
            s.sendall(head + content)
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert_masked(standin)


def test_the_tls_sni_counts(tmp_path, tls_standin):
    """A CONNECT to an address that is not a target, whose TLS SNI names one."""
    import ssl

    with start(tmp_path / "w", "targets=localhost", "ssl_insecure=true") as proxy:
        content = body()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=30) as raw:
            raw.sendall(f"CONNECT 127.0.0.1:{tls_standin.port} HTTP/1.1\r\n"
                        f"Host: 127.0.0.1:{tls_standin.port}\r\n\r\n".encode())
            assert raw.recv(4096).startswith(b"HTTP/1.1 200")
            ctx = ssl.create_default_context(cafile=str(proxy.ca_cert))
            ctx.check_hostname = False
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall((f"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:{tls_standin.port}\r\n"
                           f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n"
                           "Connection: close\r\n\r\n").encode() + content)
                reply = b""
                while chunk := s.recv(65536):
                    reply += chunk
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    assert_masked(tls_standin)


def test_a_non_target_stays_untouched(tmp_path, standin):
    with start(tmp_path / "w", "targets=llm.internal") as proxy:
        send(proxy, f"http://127.0.0.1:{standin.port}" + "/v1/messages")
    assert_unmasked(standin)


# -- the entry script reloads cleanly ---------------------------------------------------------


def test_editing_the_entry_script_reloads_the_addon(tmp_path, standin, own_redis):
    """mitmproxy reloads a script whose file changes: the old addon's done runs (its Redis
    connections close), the new one masks the next request."""
    scripts = tmp_path / "entry"
    scripts.mkdir()
    entry = scripts / "aws_masker.py"
    shutil.copy(ENTRY, entry)
    (scripts / "awsmasker").symlink_to(ENTRY.parent / "awsmasker")
    workdir = tmp_path / "w"
    workdir.mkdir()
    with Mitmdump(workdir, options=("targets=127.0.0.1", "store=redis",
                                    f"redis_url={own_redis.url}"),
                  env=NO_ENV, script=entry) as proxy:
        url = f"http://127.0.0.1:{standin.port}" + "/v1/messages"
        send(proxy, url)
        assert_masked(standin)
        first_token = last_seen(standin)
        clients_before = redis_clients(own_redis)
        time.sleep(1.1)  # a new mtime for the watcher, which looks once a second
        entry.write_text(entry.read_text() + "\n# edited\n")
        assert wait_until(lambda: proxy.output().count("Loading script") >= 2)
        assert wait_until(lambda: proxy.output().count("aws-masker ready") >= 2)
        send(proxy, url)
        assert_masked(standin)
        assert last_seen(standin) == first_token  # same tokens: same store, same mapping
        assert wait_until(lambda: redis_clients(own_redis) <= clients_before)
        out = proxy.output()
    for failure in ("Traceback", "error in script", "Addon error", "cannot be called"):
        assert failure not in out, out


def redis_clients(server) -> int:
    """Connections to the test Redis other than the one asking."""
    return len(server.client().client_list()) - 1


# -- what mitmdump says -----------------------------------------------------------------------


def test_totals_on_sigusr1_and_at_exit(tmp_path, standin):
    import signal

    with start(tmp_path / "w", "targets=127.0.0.1") as proxy:
        send(proxy, f"http://127.0.0.1:{standin.port}/v1/messages")
        proxy.proc.send_signal(signal.SIGUSR1)
        assert proxy.wait_for("aws-masker totals: 1 target flows, 1 masked (")
        proxy.stop()
        assert wait_until(lambda: proxy.output().count("aws-masker totals:") == 2)
        out = proxy.output()
    assert all(value not in out for value in ORIGINALS)


def test_one_log_line_per_masked_and_restored_flow(tmp_path, standin):
    """Counts by type, bytes and ms; never a value. At info level: ``--set
    termlog_verbosity=warn`` turns them down; ``flow_detail=0`` (no per-flow output from
    mitmdump) silences them, as it silences mitmdump's own flow lines."""
    with start(tmp_path / "w", "targets=127.0.0.1", "flow_detail=1") as proxy:
        r = send(proxy, f"http://127.0.0.1:{standin.port}/v1/messages")
        assert r.status_code == 200
        assert proxy.wait_for("aws-masker: restored ")
        out = proxy.output()
    (masked,) = [ln for ln in out.splitlines() if "aws-masker: masked " in ln]
    assert "EC2 1" in masked and "POST http://127.0.0.1:" in masked
    assert " bytes, " in masked and masked.endswith(" ms)")
    (restored,) = [ln for ln in out.splitlines() if "aws-masker: restored " in ln]
    assert "in the reply to POST" in restored
    assert all(value not in out for value in ORIGINALS)
    with start(tmp_path / "q", "targets=127.0.0.1", "flow_detail=0") as proxy:
        r = send(proxy, f"http://127.0.0.1:{standin.port}/v1/messages")
        assert r.status_code == 200 and "i-0" in r.text  # restored
        proxy.stop()
        out = proxy.output()
    assert "aws-masker: masked " not in out and "aws-masker: restored " not in out
    assert "aws-masker totals: 1 target flows, 1 masked (" in out  # the totals at exit stay
