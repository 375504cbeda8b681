"""scripts/store_state.py against a real redis-server: counts, TTLs, no originals, purge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import Finding
from awsmasker.store.keys import derive_keys
from awsmasker.store.redis_store import RedisStore

from testsupport.redis_server import RedisServer

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "store_state.py"
ORIGINALS = ["i-0123456789abcdef0", "i-0fedcba9876543210", "vpc-0a1b2c3d", "10.9.8.7"]
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=60)


@pytest.fixture
async def populated(redis_proc, redisdb):
    url = f"redis://{redis_proc.host}:{redis_proc.port}/0"
    ns = f"s{uuid.uuid4().hex[:8]}"
    shared = SharedRedis(url)
    store = RedisStore(shared, derive_keys(os.urandom(32)), namespace=ns, ttl=3600)
    await store.resolve([Finding("EC2", ORIGINALS[0]), Finding("EC2", ORIGINALS[1]),
                         Finding("VPC", ORIGINALS[2]), Finding("PRIVATE_IP", ORIGINALS[3]),
                         Finding("SECRET_KEY", SECRET, reversible=False)])
    await shared.close()
    redisdb.set(f"{ns}:events", "not a store key")  # e.g. an event stream sharing the prefix
    redisdb.set(f"other{ns}:n:EC2", "5")
    return url, ns, redisdb


def test_state_json_has_counts_and_ttls_and_no_originals(populated):
    url, ns, _ = populated
    out = run("--redis-url", url, "--namespace", ns, "--json")
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)
    assert state["types"] == {
        "EC2": {"live_mappings": 2, "minted": 2},
        "PRIVATE_IP": {"live_mappings": 1, "minted": 1},
        "SECRET_KEY": {"live_mappings": 1, "minted": 1},
        "VPC": {"live_mappings": 1, "minted": 1},
    }
    assert state["live_mappings"] == 5
    assert state["total_keys"] == 5 + 5 + 4 + 1  # mapping, lookup, counter, key check
    assert 3500 < state["ttl_seconds"]["min"] <= state["ttl_seconds"]["max"] <= 3600
    for v in [*ORIGINALS, SECRET]:
        assert v not in out.stdout


def test_state_text_output(populated):
    url, ns, _ = populated
    out = run("--redis-url", url, "--namespace", ns)
    assert out.returncode == 0, out.stderr
    assert f"namespace {ns!r}: 5 live mappings" in out.stdout
    assert "EC2" in out.stdout and "ttl (s): min" in out.stdout
    for v in [*ORIGINALS, SECRET]:
        assert v not in out.stdout


def test_purge_needs_yes_and_deletes_only_store_keys(populated):
    url, ns, r = populated
    refused = run("--redis-url", url, "--namespace", ns, "--purge")
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert len(list(r.scan_iter(f"{ns}:*"))) == 16

    done = run("--redis-url", url, "--namespace", ns, "--purge", "--yes")
    assert done.returncode == 0, done.stderr
    assert "15 keys deleted" in done.stdout
    assert [k.decode() for k in r.scan_iter(f"{ns}:*")] == [f"{ns}:events"]
    assert r.get(f"other{ns}:n:EC2") == b"5"
    state = json.loads(run("--redis-url", url, "--namespace", ns, "--json").stdout)
    assert state["total_keys"] == 0 and state["types"] == {}


def test_unreachable_redis_exits_nonzero_with_message(tmp_path):
    port = RedisServer(tmp_path).port  # free port, nothing listening
    out = run("--redis-url", f"redis://:sekrit@127.0.0.1:{port}/0")
    assert out.returncode == 2
    assert f"cannot read the store at redis://:***@127.0.0.1:{port}/0" in out.stderr
    assert "sekrit" not in out.stderr + out.stdout
