"""Redis mapping store against a real redis-server (pytest-redis on a free port; no fakes)."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
import redis
import redis.asyncio.connection as aioconn
from awsmasker import redis_client
from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import FALLBACK_FIRST_COUNTER, REDIS_MAX_COUNTER, Finding, StoreError
from awsmasker.store.guarded import GuardedStore
from awsmasker.store.keys import derive_keys
from awsmasker.store.redis_store import RedisStore, StoreKeyMismatch
from awsmasker.tokens import TOKEN_RE

from tests.redis_helpers import assert_consistent
from testsupport.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "redis_store_worker.py"
STATE_SCRIPT = ROOT / "scripts" / "store_state.py"


@pytest.fixture
def redis_url(redis_proc) -> str:
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


@pytest.fixture
def sync_redis(redisdb) -> redis.Redis:
    """Plain client on the same server; pytest-redis flushes it after the test."""
    return redisdb


@pytest.fixture
def ns() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


@pytest.fixture
def master() -> bytes:
    return os.urandom(32)


@pytest.fixture
async def shared(redis_url):
    s = SharedRedis(redis_url)
    yield s
    await s.close()


@pytest.fixture
def store(shared, master, ns) -> RedisStore:
    return RedisStore(shared, derive_keys(master), namespace=ns, ttl=600)


def ec2(i: int) -> Finding:
    return Finding("EC2", f"i-{i:017x}")


def counter(token: str) -> int:
    m = TOKEN_RE.fullmatch(token)
    assert m is not None, token
    return int(m["n"])


def all_keys_and_values(r: redis.Redis) -> list[tuple[bytes, bytes]]:
    return [(k, r.dump(k) or b"") for k in r.scan_iter(count=1000)]


# -- determinism, originals, secrets ------------------------------------------------------------


async def test_same_value_same_token_across_store_instances(redis_url, master, ns):
    a_shared, b_shared = SharedRedis(redis_url), SharedRedis(redis_url)
    try:
        a = RedisStore(a_shared, derive_keys(master), namespace=ns, ttl=600)
        b = RedisStore(b_shared, derive_keys(master), namespace=ns, ttl=600)
        ra = await a.resolve([ec2(1), ec2(2), Finding("VPC", "vpc-0a1b2c3d")])
        rb = await b.resolve([Finding("VPC", "vpc-0a1b2c3d"), ec2(3), ec2(1)])
    finally:
        await a_shared.close()
        await b_shared.close()
    assert ra.tokens == ["AWS_EC2_001", "AWS_EC2_002", "AWS_VPC_001"]
    assert rb.tokens == ["AWS_VPC_001", "AWS_EC2_003", "AWS_EC2_001"]


async def test_present_tokens_return_originals_never_secrets(store):
    secret = Finding("SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", reversible=False)
    first = await store.resolve([ec2(7), secret, Finding("ARN", "arn:aws:iam::123:role/é")])
    assert first.tokens == ["AWS_EC2_001", "AWS_SECRET_KEY_001", "AWS_ARN_001"]
    again = await store.resolve(
        [secret],
        ["AWS_EC2_001", "AWS_SECRET_KEY_001", "AWS_ARN_001", "AWS_EC2_0001", "AWS_EC2_999",
         "AWS_EC2_001"],
    )
    assert again.tokens == ["AWS_SECRET_KEY_001"]
    assert again.originals == {
        "AWS_EC2_001": ec2(7).value,
        "AWS_ARN_001": "arn:aws:iam::123:role/é",
    }


async def test_values_with_spaces_and_line_ends_round_trip(store):
    """The script takes the findings as lines of space-separated fields: a value's own spaces
    and line ends travel encrypted (base64), never as separators."""
    odd = [Finding("ARN", "arn:aws:iam::123:role/a b\nc d"), Finding("ARN", " \n\n "),
           Finding("SECRET_KEY", "x y\nz", reversible=False), ec2(1)]
    first = await store.resolve(odd)
    assert first.tokens == ["AWS_ARN_001", "AWS_ARN_002", "AWS_SECRET_KEY_001", "AWS_EC2_001"]
    again = await store.resolve(list(reversed(odd)), first.tokens)
    assert again.tokens == list(reversed(first.tokens))
    assert again.originals == {"AWS_ARN_001": odd[0].value, "AWS_ARN_002": odd[1].value,
                               "AWS_EC2_001": odd[3].value}


def test_lookup_hash_is_hmac_sha256_of_kind_type_and_value(shared, master, ns):
    """The forward keys already in Redis are named by this hash: it must not change."""
    import hashlib
    import hmac

    keys = derive_keys(master)
    store = RedisStore(shared, keys, namespace=ns, ttl=600)
    secret = Finding("SECRET_KEY", "wJalr/é", reversible=False)
    for finding, kind in ((ec2(5), b"r"), (secret, b"s")):
        msg = kind + b"\0" + finding.type_name.encode() + b"\0" + finding.value.encode()
        expected = hmac.new(keys.hash_key, msg, hashlib.sha256).hexdigest()
        assert store.lookup_hash(finding) == store.lookup_hash(finding) == expected


async def test_secret_and_reversible_with_same_text_get_different_tokens(store):
    r = await store.resolve([Finding("KEY", "same"), Finding("KEY", "same", reversible=False)])
    assert len(set(r.tokens)) == 2


async def test_determinism_across_processes(redis_url, store, master, ns):
    values = [["EC2", ec2(i).value] for i in range(40)] + [["SUBNET", f"subnet-{i:08x}"]
                                                           for i in range(20)]
    mine = await store.resolve([Finding(t, v) for t, v in values[:30]])
    out = subprocess.run(
        [sys.executable, str(WORKER), redis_url, ns, base64.b64encode(master).decode(), "1",
         "5", "60"],
        input=json.dumps(values), capture_output=True, text=True, timeout=60, check=True,
    )
    theirs = [((t, v), tok) for (t, v), tok in json.loads(out.stdout)]
    mapping = assert_consistent(
        [*theirs, *(((t, v), tok) for (t, v), tok in zip(values[:30], mine.tokens, strict=True))]
    )
    assert len(mapping) == len(values)
    later = await store.resolve([Finding(t, v) for t, v in values])
    assert later.tokens == [mapping[(t, v)] for t, v in values]


async def test_lost_counter_never_reissues_a_live_token(store, ns, sync_redis):
    assert (await store.resolve([ec2(1), ec2(2), ec2(3)])).tokens[-1] == "AWS_EC2_003"
    sync_redis.delete(f"{ns}:n:EC2")  # e.g. deleted by hand
    assert (await store.resolve([ec2(4), ec2(2)])).tokens == ["AWS_EC2_004", "AWS_EC2_002"]


async def test_counter_stays_below_fallback_range(store, ns, sync_redis):
    sync_redis.set(f"{ns}:n:EC2", REDIS_MAX_COUNTER - 1)
    assert (await store.resolve([ec2(1)])).tokens == [f"AWS_EC2_{REDIS_MAX_COUNTER}"]
    with pytest.raises(StoreError, match="no more tokens for type EC2"):
        await store.resolve([ec2(2)])
    assert (await store.resolve([ec2(1)])).tokens == [f"AWS_EC2_{REDIS_MAX_COUNTER}"]
    assert FALLBACK_FIRST_COUNTER > REDIS_MAX_COUNTER + 1


# -- concurrency and connections -----------------------------------------------------------------


def _sample_clients(url_port: int, stop: threading.Event, seen: list[int]) -> None:
    r = redis.Redis(port=url_port, socket_timeout=5)
    try:
        while not stop.is_set():
            seen.append(len(r.client_list()))
            stop.wait(0.005)
    finally:
        r.close()


async def test_200_concurrent_resolves_mint_without_duplicates(
    redis_proc, redis_url, shared, store, master, ns, sync_redis
):
    rng = random.Random(4)
    values = [("EC2", ec2(i).value) for i in range(80)] + [
        ("SG", f"sg-{i:08x}") for i in range(40)
    ] + [("PRIVATE_IP", f"10.0.{i}.7") for i in range(30)]
    picks = [rng.sample(values, 25) for _ in range(200)]
    baseline = len(sync_redis.client_list())

    # a second "proxy process" minting overlapping values at the same time
    other = subprocess.Popen(
        [sys.executable, str(WORKER), redis_url, ns, base64.b64encode(master).decode(), "9",
         "100", "25"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert other.stdin is not None
    other.stdin.write(json.dumps([list(v) for v in values]))
    other.stdin.close()
    other.stdin = None

    stop, seen = threading.Event(), []
    sampler = threading.Thread(target=_sample_clients, args=(redis_proc.port, stop, seen))
    sampler.start()
    try:
        results = await asyncio.gather(
            *(store.resolve([Finding(t, v) for t, v in pick]) for pick in picks)
        )
    finally:
        stop.set()
        sampler.join()
    out, _ = other.communicate(timeout=120)
    assert other.returncode == 0
    ours_after = len(sync_redis.client_list())  # the other process is gone; our pool stays open

    pairs = [(key, tok) for pick, res in zip(picks, results, strict=True)
             for key, tok in zip(pick, res.tokens, strict=True)]
    pairs += [((t, v), tok) for (t, v), tok in json.loads(out)]
    mapping = assert_consistent(pairs)
    assert set(mapping) == set(values)
    for type_name in ("EC2", "SG", "PRIVATE_IP"):  # counters are dense: no token lost or reused
        ns_ = sorted(counter(tok) for (t, _), tok in mapping.items() if t == type_name)
        assert ns_ == list(range(1, len(ns_) + 1))

    # our pool never exceeds its bound (+ sampler, fixture client, and the other process's pool)
    assert seen, "sampler saw nothing"
    assert max(seen) <= baseline + 1 + 2 * redis_client.MAX_CONNECTIONS
    assert ours_after - baseline <= redis_client.MAX_CONNECTIONS + 1


async def test_connection_count_bounded_under_load(store, sync_redis):
    baseline = len(sync_redis.client_list())
    for _ in range(3):
        await asyncio.gather(*(store.resolve([ec2(i % 50), ec2(i)]) for i in range(300)))
    assert len(sync_redis.client_list()) - baseline <= redis_client.MAX_CONNECTIONS


async def test_one_round_trip_per_resolve(store, sync_redis, monkeypatch):
    findings = [ec2(i) for i in range(50)]
    warm = await store.resolve(findings)  # connects (handshake) and loads the script
    sent = []
    original = aioconn.AbstractConnection.send_packed_command

    async def counting(self, command, check_health=True):
        sent.append(command)
        return await original(self, command, check_health)

    monkeypatch.setattr(aioconn.AbstractConnection, "send_packed_command", counting)
    before = sync_redis.info("commandstats")
    for _ in range(10):
        await store.resolve([*findings, Finding("VPC", "vpc-1")], warm.tokens)
    after = sync_redis.info("commandstats")
    assert len(sent) == 10
    assert after["cmdstat_evalsha"]["calls"] - before["cmdstat_evalsha"]["calls"] == 10

    sync_redis.script_flush()  # server forgot the script: EVALSHA fails once, EVAL recovers
    sent.clear()
    again = await store.resolve(findings)
    assert again.tokens == warm.tokens
    assert len(sent) == 2


async def test_known_values_reuse_their_encrypted_line_and_secrets_are_never_kept(
        store, ns, sync_redis, monkeypatch):
    """A value seen before is sent with the ciphertext made for it then (no new encryption);
    that ciphertext still recreates a lost reverse entry; a secret's line is never kept."""
    import awsmasker.store.redis_store as redis_store_module

    encrypted: list[str] = []
    real = RedisStore._encrypt

    def counting(self, value, lookup, nonce=None):  # type: ignore[no-untyped-def]
        encrypted.append(value)
        return real(self, value, lookup, nonce)

    monkeypatch.setattr(RedisStore, "_encrypt", counting)
    secret = Finding("SECRET_KEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", reversible=False)
    findings = [ec2(1), ec2(2), secret]
    first = await store.resolve(findings)
    assert encrypted == [ec2(1).value, ec2(2).value]
    sync_redis.delete(f"{ns}:t:EC2:{counter(first.tokens[0])}")  # the reverse entry is lost
    again = await store.resolve(findings)
    assert again.tokens == first.tokens and len(encrypted) == 2  # nothing encrypted anew
    assert (await store.resolve([], first.tokens)).originals == {
        first.tokens[0]: ec2(1).value, first.tokens[1]: ec2(2).value}
    assert all(secret.value not in key for key in store._lines)
    assert all(secret.value not in line for line in store._lines.values())

    monkeypatch.setattr(redis_store_module, "LINES_KEPT", 2)
    await store.resolve([ec2(i) for i in range(3, 8)])
    assert len(store._lines) <= 2


# -- expiry ---------------------------------------------------------------------------------------


async def test_mappings_expire_and_use_refreshes_them(shared, master, ns, sync_redis):
    store = RedisStore(shared, derive_keys(master), namespace=ns, ttl=2.0)
    a, b = Finding("EC2", "i-aaaaaaaa"), Finding("EC2", "i-bbbbbbbb")
    first = await store.resolve([a, b])
    ta, tb = first.tokens
    fwd_a = f"{ns}:v:{store.lookup_hash(a)}"
    rev_a = f"{ns}:t:EC2:{counter(ta)}"
    assert 0 < sync_redis.pttl(fwd_a) <= 2000

    await asyncio.sleep(1.0)
    # a is used (as a finding and as a present token); b is not
    assert (await store.resolve([a], [ta])).originals == {ta: a.value}
    assert sync_redis.pttl(fwd_a) > 1500 and sync_redis.pttl(rev_a) > 1500
    await asyncio.sleep(1.5)  # b expired at 2.0 s; a lives until at least 3.0 s

    res = await store.resolve([a], [ta, tb])
    assert res.tokens == [ta]
    assert res.originals == {ta: a.value}
    # an expired value is minted anew; the persistent counter never reissues its old token
    assert (await store.resolve([b])).tokens == ["AWS_EC2_003"]
    assert sync_redis.ttl(f"{ns}:n:EC2") == -1


async def test_present_token_use_refreshes_forward_key(shared, master, ns, sync_redis):
    store = RedisStore(shared, derive_keys(master), namespace=ns, ttl=2.0)
    a = Finding("EC2", "i-cccccccc")
    (ta,) = (await store.resolve([a])).tokens
    await asyncio.sleep(1.2)
    await store.resolve([], [ta])  # only the token is seen (e.g. in an earlier turn's text)
    await asyncio.sleep(1.2)  # past the first expiry; refreshed by the present-token use
    assert (await store.resolve([a])).tokens == [ta]


# -- at rest ---------------------------------------------------------------------------------------


async def test_nothing_original_in_redis_keys_values_or_rdb(store, sync_redis, ns, tmp_path):
    originals = [
        "i-0123456789abcdef0", "vpc-0fedcba9", "arn:aws:s3:::my-private-bucket",
        "123456789012", "10.1.2.3", "AKIAIOSFODNN7EXAMPLE", "my-private-bucket",
    ]
    secrets = ["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "FQoGZXIvYXdzEXAMPLESESSIONTOKEN"]
    findings = [Finding(f"T{i}", v) for i, v in enumerate(originals)]
    findings += [Finding("SECRET", s, reversible=False) for s in secrets]
    res = await store.resolve(findings)
    back = await store.resolve([], res.tokens)
    assert set(back.originals.values()) == set(originals)  # stored, but not in the clear

    needles = [v.encode() for v in originals + secrets]
    needles += [base64.b64encode(n) for n in needles]
    dumped = all_keys_and_values(sync_redis)
    assert len(dumped) >= 2 * len(findings) + 1
    for key, value in dumped:
        for needle in needles:
            assert needle not in key and needle not in value, (key, needle)

    # the persisted snapshot, uncompressed, as a copy of the data would be taken
    sync_redis.config_set("rdbcompression", "no")
    sync_redis.save()
    cfg = sync_redis.config_get("dir") | sync_redis.config_get("dbfilename")
    rdb = (Path(cfg["dir"]) / cfg["dbfilename"]).read_bytes()
    assert f"{ns}:kcv".encode() in rdb
    for needle in needles:
        assert needle not in rdb


async def test_wrong_key_is_a_clear_error(shared, store, ns, sync_redis):
    res = await store.resolve([ec2(1)])
    other = RedisStore(shared, derive_keys(os.urandom(32)), namespace=ns, ttl=600)
    with pytest.raises(StoreKeyMismatch, match="encrypted with a different key"):
        await other.resolve([ec2(1)], res.tokens)
    with pytest.raises(StoreKeyMismatch):
        await other.resolve([], res.tokens)
    # without the check value (deleted), the ciphertext itself refuses the wrong key
    sync_redis.delete(f"{ns}:kcv")
    with pytest.raises(StoreError, match="different key or is corrupt"):
        await other.resolve([], res.tokens)


async def test_key_loader_errors_become_store_errors(shared, ns, tmp_path):
    bad = tmp_path / "k"
    bad.write_text("not a key")
    bad.chmod(0o600)
    from awsmasker.store.keys import load_store_keys

    store = RedisStore(shared, lambda: load_store_keys(encryption_key_file=str(bad), environ={}),
                       namespace=ns)
    with pytest.raises(StoreError, match="not base64 of 32 bytes"):
        await store.resolve([ec2(1)])


# -- failures ------------------------------------------------------------------------------------


async def test_unreachable_redis_is_a_store_error_without_password(master):
    port = RedisServer(Path("/nonexistent")).port  # free, nobody listening
    shared = SharedRedis(f"redis://user:hunter2@127.0.0.1:{port}/0")
    store = RedisStore(shared, derive_keys(master), namespace="x")
    try:
        with pytest.raises(StoreError, match=f"127.0.0.1:{port}") as exc:
            await store.resolve([ec2(1)])
        assert "hunter2" not in str(exc.value)
    finally:
        await shared.close()


async def test_hung_redis_times_out_as_store_error(tmp_path, master):
    server = RedisServer(tmp_path)
    server.start()
    shared = SharedRedis(server.url)
    try:
        store = RedisStore(shared, derive_keys(master), namespace="x", timeout=0.5)
        assert (await store.resolve([ec2(1)])).tokens == ["AWS_EC2_001"]
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)
        try:
            with pytest.raises(StoreError, match=r"no answer within 0\.5 s"):
                await store.resolve([ec2(2)])
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert (await store.resolve([ec2(1)])).tokens == ["AWS_EC2_001"]
    finally:
        await shared.close()
        server.kill()


async def test_guarded_policies_on_unreachable_redis(master, caplog):
    port = RedisServer(Path("/nonexistent")).port
    shared = SharedRedis(f"redis://127.0.0.1:{port}/0")
    calls: list[tuple[str, bool]] = []
    guarded = GuardedStore(RedisStore(shared, derive_keys(master), namespace="x"),
                           policy="block", on_store_error=lambda m, f: calls.append((m, f)))
    try:
        with pytest.raises(StoreError):
            await guarded.resolve([ec2(1)])
        with pytest.raises(StoreError):  # within the probe interval: fails fast, no new report
            await guarded.resolve([ec2(1)])
        assert len(calls) == 1 and calls[0][1] is False
        assert guarded.status()["healthy"] is False

        guarded.policy = "memory"  # changed live
        res = await guarded.resolve([ec2(1), ec2(2), ec2(1)])
        assert [counter(t) for t in res.tokens] == [FALLBACK_FIRST_COUNTER,
                                                    FALLBACK_FIRST_COUNTER + 1,
                                                    FALLBACK_FIRST_COUNTER]
        st = guarded.status()
        assert st["fallback_active"] is True and st["fallback_mappings"] == 2
        assert str(port) in st["last_error"]
        assert sum("mapping store failed" in r.message for r in caplog.records) == 1
    finally:
        await shared.close()


def _check_block_round(results, findings_of) -> list[str]:
    """Each result is tokens for every finding or a StoreError; returns the tokens seen."""
    tokens = []
    for res in results:
        if isinstance(res, BaseException):
            assert isinstance(res, StoreError), repr(res)
        else:
            assert len(res.tokens) == findings_of
            tokens += res.tokens
    return tokens


async def _await_recovery(guarded: GuardedStore, findings) -> list[str]:
    for _ in range(400):  # bounded: ~20 s at most
        try:
            res = await guarded.resolve(findings)
        except StoreError:
            res = None
        if guarded.healthy and res is not None:
            return res.tokens
        await asyncio.sleep(0.05)
    raise AssertionError(f"store did not recover: {guarded.status()}")


def _fallback_pairs(picks, results) -> list[tuple[tuple[str, str], str]]:
    return [
        ((f.type_name, f.value), tok)
        for p, r in zip(picks, results, strict=True)
        if not isinstance(r, BaseException)
        for f, tok in zip(p, r.tokens, strict=True)
        if counter(tok) >= FALLBACK_FIRST_COUNTER
    ]


@pytest.mark.parametrize("policy", ["block", "memory"])
async def test_redis_killed_mid_load_and_restarted(tmp_path, master, caplog, policy):
    caplog.set_level(logging.WARNING, logger="awsmasker.store.guarded")
    server = RedisServer(tmp_path)
    server.start()
    shared = SharedRedis(server.url)
    reports: list[tuple[str, bool]] = []
    recovered: list[float] = []
    guarded = GuardedStore(
        RedisStore(shared, derive_keys(master), namespace="m", ttl=600),
        policy=policy, on_store_error=lambda m, f: reports.append((m, f)),
        on_recovered=recovered.append, probe_interval=0.05,
    )
    values = [ec2(i) for i in range(60)]
    rng = random.Random(1)
    picks = [rng.sample(values, 10) for _ in range(60)]
    try:
        async with asyncio.timeout(90):
            before = await guarded.resolve(values)
            # a round of concurrent requests with the kill landing in the middle of it
            tasks = [asyncio.ensure_future(guarded.resolve(p)) for p in picks]
            await asyncio.sleep(0)
            await asyncio.to_thread(server.kill)
            mid = await asyncio.gather(*tasks, return_exceptions=True)
            during = await asyncio.gather(
                *(guarded.resolve(p) for p in picks[:20]), return_exceptions=True
            )
            server.start()
            after_tokens = await _await_recovery(guarded, values)
            fallback = _fallback_pairs(picks + picks[:20], [*mid, *during])
            if fallback:  # a token minted during the outage still restores after recovery
                (_, value), tok = fallback[0]
                restored = await guarded.resolve([], [tok, after_tokens[0]])
                assert restored.originals == {tok: value, after_tokens[0]: values[0].value}
    finally:
        await shared.close()
        server.kill()

    assert guarded.healthy and not guarded.status()["fallback_active"]
    assert len(reports) == 1 and reports[0][1] is (policy == "memory")
    assert len(recovered) == 1
    assert sum("store recovered" in r.message for r in caplog.records) == 1
    # data acknowledged before the kill survived it: the same tokens after the restart
    assert after_tokens == before.tokens
    assert all(counter(t) <= REDIS_MAX_COUNTER for t in after_tokens)

    if policy == "block":
        _check_block_round(mid, 10)
        assert all(isinstance(r, StoreError) for r in during)
        assert not fallback
    else:
        assert not any(isinstance(r, BaseException) for r in [*mid, *during])
        assert len(fallback) >= 20 * 10, "requests during the outage were not served"
        assert_consistent(fallback)


async def test_from_settings_uses_namespace_ttl_and_key_file(
    shared, tmp_path, sync_redis, monkeypatch
):
    monkeypatch.delenv("AWS_MASKER_ENCRYPTION_KEY", raising=False)
    from awsmasker.config import Settings

    settings = Settings(store="redis", redis_namespace="cfgns", mapping_ttl=120,
                        encryption_key_file=str(tmp_path / "k.key"))
    store = RedisStore.from_settings(shared, settings, confdir=str(tmp_path))
    (tok,) = (await store.resolve([ec2(1)])).tokens
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600
    assert 0 < sync_redis.pttl(f"cfgns:t:EC2:{counter(tok)}") <= 120_000
    again = RedisStore.from_settings(shared, settings, confdir=str(tmp_path))
    assert (await again.resolve([], [tok])).originals == {tok: ec2(1).value}
