"""Master key resolution: config, environment, key file (0600, atomic, never overwritten)."""

from __future__ import annotations

import base64
import os
import stat
import threading

import pytest
from awsmasker.store.keys import (
    KEY_ENV,
    KEY_FILE_NAME,
    MasterKeyError,
    derive_keys,
    load_master_key,
    load_store_keys,
)


def b64key(seed: int) -> str:
    return base64.b64encode(bytes([seed]) * 32).decode()


def test_key_file_created_0600_in_confdir_and_reused(tmp_path):
    confdir = tmp_path / "mitm"  # does not exist yet
    first = load_store_keys(confdir=confdir, environ={})
    path = confdir / KEY_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(confdir.stat().st_mode) == 0o700
    assert len(base64.b64decode(path.read_text())) == 32
    content = path.read_bytes()
    second = load_store_keys(confdir=confdir, environ={})
    assert path.read_bytes() == content
    assert second.check_value == first.check_value
    assert second.enc_key == first.enc_key
    assert str(path) in first.source
    assert list(confdir.iterdir()) == [path]  # no temporary file left behind


def test_existing_key_file_is_never_overwritten(tmp_path):
    path = tmp_path / "team.key"
    path.write_text(b64key(7) + "\n")
    path.chmod(0o600)
    master, _ = load_master_key(encryption_key_file=str(path), environ={})
    assert master == bytes([7]) * 32
    assert path.read_text() == b64key(7) + "\n"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_group_or_world_accessible_key_file_is_refused(tmp_path, mode):
    path = tmp_path / "k"
    path.write_text(b64key(1))
    path.chmod(mode)
    with pytest.raises(MasterKeyError, match=r"accessible by group or others.*chmod 600"):
        load_store_keys(encryption_key_file=str(path), environ={})


def test_malformed_keys_name_their_source(tmp_path):
    with pytest.raises(MasterKeyError, match="config encryption_key is not base64 of 32 bytes"):
        load_store_keys(encryption_key="c2hvcnQ=", environ={})
    with pytest.raises(MasterKeyError, match=KEY_ENV):
        load_store_keys(environ={KEY_ENV: "!!"})
    path = tmp_path / "k"
    path.write_text("")
    path.chmod(0o600)
    with pytest.raises(MasterKeyError, match="key file"):
        load_store_keys(encryption_key_file=str(path), environ={})


def test_precedence_config_then_env_then_file(tmp_path):
    env = {KEY_ENV: b64key(2)}
    assert load_master_key(b64key(1), confdir=tmp_path, environ=env)[0] == bytes([1]) * 32
    assert load_master_key("", confdir=tmp_path, environ=env)[0] == bytes([2]) * 32
    assert not (tmp_path / KEY_FILE_NAME).exists()  # no file created when a key is given
    urlsafe = base64.urlsafe_b64encode(b"\xfb" * 32).decode().rstrip("=")
    assert load_master_key(urlsafe, environ={})[0] == b"\xfb" * 32


def test_concurrent_first_use_agrees_on_one_key(tmp_path):
    results: list[str] = []
    errors: list[BaseException] = []

    def load() -> None:
        try:
            results.append(load_store_keys(confdir=tmp_path, environ={}).check_value)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 8 and len(set(results)) == 1


def test_subkeys_are_distinct_and_check_value_depends_on_key():
    a, b = derive_keys(os.urandom(32)), derive_keys(os.urandom(32))
    assert len({a.hash_key, a.enc_key}) == 2
    assert a.check_value != b.check_value
    assert "hash_key" not in repr(a) and a.enc_key.hex() not in repr(a)
