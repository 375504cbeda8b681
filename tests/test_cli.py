"""``python -m awsmasker mask|unmask`` end to end: real subprocesses, real files, a real
redis-server, and a real mitmdump for the tokens the proxy gives."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from awsmasker.config import validate
from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import Finding
from awsmasker.store.redis_store import RedisStore
from awsmasker.tokens import TOKEN_RE

from tests.clients import anthropic_client
from testsupport.samples import ORIGINALS, PROMPT, SECRET, SECRET_LINE

ADDON = Path(__file__).resolve().parent.parent / "addon"
KEY = base64.b64encode(os.urandom(32)).decode()
OTHER_KEY = base64.b64encode(os.urandom(32)).decode()

#: text with what a round trip must keep: CRLF and LF lines, non-ASCII, a JSON-looking line with
#: a bare account number, tabs, no final newline
TEXT = (PROMPT + "\r\nnaïve café ☕ line with i-0a1b2c3d4e5f67890 again\n"
        '{"Account": 123456789012, "note": "x"}\n\ttrailing 172.31.5.17')


class Cli:
    """Runs the command line in ``cwd`` with a private HOME (its default key file goes there)."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.home = cwd / "home"
        self.home.mkdir()

    def __call__(self, *args: str | Path, stdin: bytes = b"", key: str | None = KEY,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_MASKER")}
        base.update(PYTHONPATH=str(ADDON), HOME=str(self.home))
        if key is not None:
            base["AWS_MASKER_ENCRYPTION_KEY"] = key
        base.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "awsmasker", *map(str, args)], input=stdin,
            capture_output=True, cwd=self.cwd, env=base, timeout=120, check=False,
        )

    def ok(self, *args: str | Path, **kw) -> subprocess.CompletedProcess[bytes]:
        r = self(*args, **kw)
        assert r.returncode == 0, r.stderr.decode()
        return r


@pytest.fixture
def cli(tmp_path) -> Cli:
    return Cli(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_bytes(text.encode())
    return path


def assert_masked(out: bytes, originals=ORIGINALS) -> None:
    text = out.decode()
    for value in originals:
        assert value not in text
    assert TOKEN_RE.search(text)


def files_in(d: Path) -> set[str]:
    return {p.name for p in d.iterdir()}


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


# -- the paths that work -----------------------------------------------------------------------


def test_stdin_to_stdout(cli):
    r = cli.ok("mask", stdin=PROMPT.encode())
    assert_masked(r.stdout)
    assert "AWS_EC2_001" in r.stdout.decode()
    assert b"store is memory" in r.stderr  # says the mappings are not kept
    assert b"masked 14" in r.stderr
    assert cli.ok("mask", "-", stdin=PROMPT.encode()).stdout == r.stdout


def test_one_file_with_map_round_trip_is_byte_identical(cli, tmp_path):
    src = write(tmp_path / "log.txt", TEXT)
    masked = cli.ok("mask", "--map", "m.json", src).stdout
    assert_masked(masked)
    back = cli.ok("unmask", "--map", "m.json", stdin=masked)
    assert back.stdout == src.read_bytes()
    # masking masked text changes nothing (its tokens are left as they are)
    assert cli.ok("mask", "--map", "m.json", stdin=masked).stdout == masked
    assert back.stderr == b""  # every token had a mapping
    assert files_in(tmp_path) == {"home", "log.txt", "m.json"}


def test_map_file_is_private_and_holds_no_original(cli, tmp_path):
    cli.ok("mask", "--map", "m.json", stdin=TEXT.encode())
    m = tmp_path / "m.json"
    assert mode(m) == 0o600
    raw = m.read_text()
    for value in [*ORIGINALS, "123456789012"]:
        assert value not in raw
    data = json.loads(raw)
    assert data["counters"]["EC2"] == 1
    assert "AWS_EC2_001" in data["tokens"]
    # a second run rewrites it (new value) and it stays private
    cli.ok("mask", "--map", "m.json", stdin=b"i-0ffffffffffffffff")
    assert mode(m) == 0o600
    assert json.loads(m.read_text())["counters"]["EC2"] == 2


def test_same_value_same_token_across_runs(cli):
    first = cli.ok("mask", "--map", "m.json", stdin=b"a i-0a1b2c3d4e5f67890 b").stdout
    second = cli.ok("mask", "--map", "m.json",
                    stdin=b"c i-0ffffffffffffffff d i-0a1b2c3d4e5f67890").stdout
    assert first == b"a AWS_EC2_001 b"
    assert second == b"c AWS_EC2_002 d AWS_EC2_001"


def test_several_files_with_suffix(cli, tmp_path):
    a = write(tmp_path / "a.log", TEXT)
    b = write(tmp_path / "b.log", "other vpc-0123abcd and 10.9.8.7\n")
    r = cli.ok("mask", "--map", "m.json", "--suffix", ".masked", a, b)
    assert r.stdout == b""
    am, bm = tmp_path / "a.log.masked", tmp_path / "b.log.masked"
    assert_masked(am.read_bytes())
    assert bm.read_bytes() == b"other AWS_VPC_001 and AWS_PRIVATE_IP_004\n"  # after a.log's 3 IPs
    assert mode(am) == mode(bm) == 0o600
    cli.ok("unmask", "--map", "m.json", "--suffix", ".orig", am, bm)
    assert (tmp_path / "a.log.masked.orig").read_bytes() == a.read_bytes()
    assert (tmp_path / "b.log.masked.orig").read_bytes() == b.read_bytes()
    assert files_in(tmp_path) == {"home", "m.json", "a.log", "b.log", "a.log.masked",
                                  "b.log.masked", "a.log.masked.orig", "b.log.masked.orig"}


def test_one_file_with_suffix_writes_beside_it(cli, tmp_path):
    a = write(tmp_path / "a.log", PROMPT)
    assert cli.ok("mask", "--suffix", ".m", a).stdout == b""
    assert_masked((tmp_path / "a.log.m").read_bytes())


def test_secrets_stay_tokens_and_unknown_tokens_are_reported(cli):
    masked = cli.ok("mask", "--map", "m.json", stdin=f"{SECRET_LINE}\nid i-0a1b2c3d4e5f67890\n"
                    .encode()).stdout
    assert SECRET.encode() not in masked
    r = cli.ok("unmask", "--map", "m.json", stdin=masked + b"and AWS_EC2_077\n")
    out = r.stdout.decode()
    assert "i-0a1b2c3d4e5f67890" in out
    assert SECRET not in out
    assert "AWS_SECRET_KEY_001" in out and "AWS_EC2_077" in out
    assert "2 token(s) have no mapping" in r.stderr.decode()
    assert "AWS_EC2_077" in r.stderr.decode()


def test_json_text_escapes_and_thinking_blocks_are_masked(cli):
    """A pasted conversation: an ID right after a JSON escape is found, and the text of a
    thinking block is masked too (the proxy must leave it; a chat window has no signature)."""
    body = json.dumps({"messages": [{"role": "assistant", "content": [
        {"type": "thinking", "thinking": "look at vpc-0123abcd", "signature": "c2ln"},
        {"type": "text", "text": "log:\ni-0a1b2c3d4e5f67890\tsg-0badc0ffee1234567"},
    ]}], "account": 123456789012})
    masked = cli.ok("mask", "--map", "m.json", stdin=body.encode()).stdout
    assert_masked(masked, ["vpc-0123abcd", "i-0a1b2c3d4e5f67890", "sg-0badc0ffee1234567"])
    assert b'"account": AWS_ACCOUNT_001}' in masked  # bare, as it was: unmask gives it back
    assert b'"thinking": "look at AWS_VPC_001"' in masked
    assert cli.ok("unmask", "--map", "m.json", stdin=masked).stdout == body.encode()


@pytest.mark.parametrize("how", ["cwd", "env", "option"])
def test_masker_yaml_settings_are_honoured(cli, tmp_path, how):
    conf = ("disabled_types: [PRIVATE_IP]\nallow_values: [vpc-0123abcd]\n"
            "mask_public_ips: true\n")
    env = {}
    args: list[str | Path] = []
    if how == "cwd":
        write(tmp_path / "masker.yaml", conf)
    else:
        path = write(tmp_path / "elsewhere.yaml", conf)
        # a masker.yaml in the working directory that would mask nothing if it were read
        write(tmp_path / "masker.yaml", "disabled_types: [EC2, PUBLIC_IP]\n")
        if how == "env":
            env["AWS_MASKER_CONFIG"] = str(path)
        else:
            args = ["--config", path]
            env["AWS_MASKER_CONFIG"] = str(tmp_path / "masker.yaml")  # --config wins
    text = "i-0a1b2c3d4e5f67890 vpc-0123abcd 10.20.30.40 8.8.4.4"
    out = cli.ok("mask", *args, stdin=text.encode(), env=env).stdout
    assert out == b"AWS_EC2_001 vpc-0123abcd 10.20.30.40 AWS_PUBLIC_IP_001"


def test_default_key_file_is_created_and_reused(cli):
    """No key configured: the proxy's key file (~/.mitmproxy/aws-masker.key) is made 0600."""
    masked = cli.ok("mask", "--map", "m.json", stdin=PROMPT.encode(), key=None).stdout
    keyfile = cli.home / ".mitmproxy" / "aws-masker.key"
    assert mode(keyfile) == 0o600
    assert cli.ok("unmask", "--map", "m.json", stdin=masked, key=None).stdout == PROMPT.encode()
    # the map is bound to that key: the env key is another one
    r = cli("unmask", "--map", "m.json", stdin=masked, key=KEY)
    assert r.returncode == 2 and b"wrong encryption key" in r.stderr


def test_key_file_named_in_masker_yaml(cli, tmp_path):
    keyfile = tmp_path / "team.key"
    keyfile.write_text(OTHER_KEY + "\n")
    keyfile.chmod(0o600)
    write(tmp_path / "masker.yaml", f"encryption_key_file: {keyfile}\n")
    masked = cli.ok("mask", "--map", "m.json", stdin=PROMPT.encode(), key=None).stdout
    env = {"AWS_MASKER_CONFIG": str(write(tmp_path / "k.yaml", f"encryption_key: {OTHER_KEY}"))}
    assert cli.ok("unmask", "--map", "m.json", stdin=masked, key=None,
                  env=env).stdout == PROMPT.encode()


def test_concurrent_runs_share_one_map(cli, tmp_path):
    """Runs on the same map wait for each other: no mapping is lost, no token is shared."""
    ids = [f"i-0{n:016x}" for n in range(1, 7)]
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_MASKER")}
    base.update(PYTHONPATH=str(ADDON), HOME=str(cli.home), AWS_MASKER_ENCRYPTION_KEY=KEY)
    procs = []
    for n, i in enumerate(ids):
        # each input is ready before its run starts: the runs reach the map together
        with write(tmp_path / f"in{n}", f"x {i}").open("rb") as stdin:
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "awsmasker", "mask", "--map", "m.json"], stdin=stdin,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path, env=base))
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        outs.append(out)
    assert sorted(outs) == [f"x AWS_EC2_{n:03d}".encode() for n in range(1, 7)]
    back = cli.ok("unmask", "--map", "m.json", stdin=b"\n".join(outs)).stdout
    assert back == b"\n".join(f"x {i}".encode() for i in ids)


# -- bad input: a clear error, a non-zero exit, no output --------------------------------------


def assert_refused(r: subprocess.CompletedProcess[bytes], *fragments: str, code: int = 2) -> None:
    assert r.returncode == code, r.stderr.decode()
    assert r.stdout == b""
    err = r.stderr.decode()
    assert err.startswith("aws-masker: ")
    for f in fragments:
        assert f in err, err


def test_binary_file_refused_and_nothing_written(cli, tmp_path):
    good = write(tmp_path / "good.log", PROMPT)
    binary = tmp_path / "dump.bin"
    binary.write_bytes(b"i-0a1b2c3d4e5f67890\x00\x01\x02")
    before = files_in(tmp_path)
    r = cli("mask", "--map", "m.json", "--suffix", ".out", good, binary)
    assert_refused(r, "dump.bin", "binary")
    assert files_in(tmp_path) == before  # no good.log.out, no map, no temporary file
    assert_refused(cli("mask", stdin=b"a\x00b"), "standard input", "binary")


def test_non_utf8_file_refused(cli, tmp_path):
    latin = tmp_path / "latin.log"
    latin.write_bytes("café i-0a1b2c3d4e5f67890".encode("latin-1"))
    before = files_in(tmp_path)
    assert_refused(cli("mask", "--suffix", ".out", latin), "latin.log", "not UTF-8")
    assert files_in(tmp_path) == before


def test_missing_file_refused_and_nothing_written(cli, tmp_path):
    good = write(tmp_path / "good.log", PROMPT)
    before = files_in(tmp_path)
    r = cli("mask", "--map", "m.json", "--suffix", ".out", good, tmp_path / "nope.log")
    assert_refused(r, "nope.log", "No such file")
    assert files_in(tmp_path) == before


def test_several_files_without_suffix_refused(cli, tmp_path):
    a, b = write(tmp_path / "a.log", PROMPT), write(tmp_path / "b.log", PROMPT)
    before = files_in(tmp_path)
    assert_refused(cli("mask", a, b), "--suffix")
    assert_refused(cli("mask", "--suffix", "", a, b), "--suffix")
    assert files_in(tmp_path) == before


@pytest.mark.parametrize("content", [b"not json", b'{"format": "something else"}',
                                     b'{"format": "aws-masker map v1", "counters": []}'])
def test_unreadable_map_refused(cli, tmp_path, content):
    (tmp_path / "m.json").write_bytes(content)
    src = write(tmp_path / "a.log", PROMPT)
    for command in ("mask", "unmask"):
        r = cli(command, "--map", "m.json", "--suffix", ".out", src)
        assert_refused(r, "map file m.json", "not an aws-masker map file")
    assert (tmp_path / "m.json").read_bytes() == content  # left as it was
    assert not (tmp_path / "a.log.out").exists()


def test_map_that_is_a_directory_or_missing_for_unmask(cli, tmp_path):
    (tmp_path / "dir").mkdir()
    assert_refused(cli("mask", "--map", "dir", stdin=PROMPT.encode()), "cannot open map file dir")
    assert_refused(cli("unmask", "--map", "none.json", stdin=b"AWS_EC2_001"),
                   "map file none.json does not exist")
    assert not (tmp_path / "none.json").exists()


def test_wrong_key_refused_and_nothing_written(cli, tmp_path):
    masked = cli.ok("mask", "--map", "m.json", stdin=PROMPT.encode()).stdout
    src = tmp_path / "masked.log"
    src.write_bytes(masked)
    map_before = (tmp_path / "m.json").read_bytes()
    for command in ("unmask", "mask"):
        r = cli(command, "--map", "m.json", "--suffix", ".out", src, key=OTHER_KEY)
        assert_refused(r, "cannot decrypt map file m.json", "wrong encryption key")
    assert not (tmp_path / "masked.log.out").exists()
    assert (tmp_path / "m.json").read_bytes() == map_before


def test_tampered_map_entry_refused(cli, tmp_path):
    masked = cli.ok("mask", "--map", "m.json", stdin=b"i-0a1b2c3d4e5f67890 vpc-0123abcd").stdout
    m = tmp_path / "m.json"
    data = json.loads(m.read_text())
    # move the instance's ciphertext to the VPC token: its associated data no longer matches
    data["tokens"]["AWS_VPC_001"][1] = data["tokens"]["AWS_EC2_001"][1]
    m.write_text(json.dumps(data))
    assert_refused(cli("unmask", "--map", "m.json", stdin=masked), "AWS_VPC_001",
                   "does not decrypt")


@pytest.mark.parametrize(("yaml_text", "fragment"), [
    ("bogus_key: 1\n", "unknown key 'bogus_key'"),
    ("mask_public_ips: maybe\n", "mask_public_ips"),
    ("disabled_types: [NOT_A_TYPE]\n", "disabled_types"),
    ("encryption_key: short\n", "encryption key"),
    ("- a list\n", "mapping"),
])
def test_bad_config_refused(cli, tmp_path, yaml_text, fragment):
    write(tmp_path / "masker.yaml", yaml_text)
    src = write(tmp_path / "a.log", PROMPT)
    assert_refused(cli("mask", "--map", "m.json", "--suffix", ".out", src), fragment)
    assert not (tmp_path / "a.log.out").exists()


def test_named_config_that_cannot_be_read_is_an_error(cli, tmp_path):
    assert_refused(cli("mask", "--config", tmp_path / "missing.yaml", stdin=PROMPT.encode()),
                   "cannot read config file")
    assert_refused(cli("mask", stdin=PROMPT.encode(),
                       env={"AWS_MASKER_CONFIG": str(tmp_path / "missing.yaml")}),
                   "cannot read config file")


def test_unmask_without_a_kept_mapping_is_refused(cli):
    assert_refused(cli("unmask", stdin=b"AWS_EC2_001"), "store is memory", "--map")


def test_usage_and_help(cli):
    for command in ("mask", "unmask"):
        r = cli.ok(command, "--help")
        assert r.stdout.startswith(f"usage: python -m awsmasker {command}".encode())
        assert b"--map PATH" in r.stdout and b"--suffix SUF" in r.stdout
    assert cli().returncode == 2
    assert_refused(cli("mask", "--suffix", ".x", stdin=PROMPT.encode()), "--suffix")


# -- the Redis store ---------------------------------------------------------------------------


def redis_yaml(cli: Cli, url: str) -> Path:
    return write(cli.cwd / "masker.yaml", f"store: redis\nredis_url: {url}\n")


async def test_redis_store_tokens_agree_with_the_proxy_store(cli, own_redis):
    redis_yaml(cli, own_redis.url)
    # the proxy's store mints a token first
    settings = validate({"store": "redis", "redis_url": own_redis.url, "encryption_key": KEY})
    shared = SharedRedis(own_redis.url)
    proxy_store = RedisStore.from_settings(shared, settings)
    try:
        (first,) = (await proxy_store.resolve([Finding("EC2", "i-0ffffffffffffffff")])).tokens
        r = cli.ok("mask", stdin=f"{PROMPT}\nand i-0ffffffffffffffff".encode())
        out = r.stdout.decode()
        assert_masked(r.stdout)
        assert b"store is memory" not in r.stderr
        assert out.endswith(f"and {first}")
        # what the command line minted, the proxy's store gives back (and the reverse)
        res = await proxy_store.resolve(
            [Finding("EC2", "i-0a1b2c3d4e5f67890"), Finding("VPC", "vpc-0123abcd")])
        for token in res.tokens:
            assert token in out
        back = cli.ok("unmask", stdin=r.stdout).stdout.decode()
        assert back == f"{PROMPT}\nand i-0ffffffffffffffff"
    finally:
        await shared.close()


def test_redis_store_wrong_key_and_outage(cli, own_redis, tmp_path):
    redis_yaml(cli, own_redis.url)
    masked = cli.ok("mask", stdin=PROMPT.encode()).stdout
    src = tmp_path / "m.log"
    src.write_bytes(masked)
    r = cli("unmask", "--suffix", ".out", src, key=OTHER_KEY)
    assert_refused(r, "wrong encryption key", "different key")
    own_redis.kill()
    r = cli("unmask", "--suffix", ".out", src)
    assert_refused(r, "mapping store error", "Redis store at", code=1)
    assert not (tmp_path / "m.log.out").exists()


def test_map_option_wins_over_the_redis_store(cli, tmp_path):
    # an unreachable Redis in masker.yaml is never contacted when --map is given
    redis_yaml(cli, "redis://127.0.0.1:9/0")
    masked = cli.ok("mask", "--map", "m.json", stdin=PROMPT.encode()).stdout
    assert cli.ok("unmask", "--map", "m.json", stdin=masked).stdout == PROMPT.encode()


@pytest.mark.e2e
def test_command_line_and_proxy_give_the_same_tokens(cli, own_redis, proxy_factory, standin):
    """A real mitmdump on the same Redis masks a prompt; the command line masks the same text to
    the same tokens, and unmasks what the proxy sent upstream."""
    proxy = proxy_factory("targets=127.0.0.1", "store=redis", f"redis_url={own_redis.url}",
                          f"encryption_key={KEY}")
    client = anthropic_client(proxy, standin)
    client.messages.create(model="m", max_tokens=5,
                           messages=[{"role": "user", "content": PROMPT}])
    (sent,) = standin.cfg.requests
    upstream_text = json.loads(sent.body)["messages"][0]["content"]
    redis_yaml(cli, own_redis.url)
    assert cli.ok("mask", stdin=PROMPT.encode()).stdout.decode() == upstream_text
    assert cli.ok("unmask", stdin=upstream_text.encode()).stdout.decode() == PROMPT
