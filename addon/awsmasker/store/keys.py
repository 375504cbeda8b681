"""The master key of the Redis store, and the subkeys derived from it.

Where the master key comes from, first match wins:

1. config ``encryption_key`` (base64 of 32 bytes);
2. environment ``AWS_MASKER_ENCRYPTION_KEY`` (same format) — how a team shares one key;
3. a key file: config ``encryption_key_file``, else ``aws-masker.key`` in mitmproxy's confdir.
   It is created on first use with mode 0600 (atomically, never overwriting an existing file);
   an existing file that group or others can access is refused.

Separate subkeys are derived with HKDF-SHA256 for lookup hashing, for AES-GCM encryption and for
the key check value stored in Redis (which tells a wrong key from a corrupt mapping).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

KEY_ENV = "AWS_MASKER_ENCRYPTION_KEY"
KEY_FILE_NAME = "aws-masker.key"
DEFAULT_CONFDIR = "~/.mitmproxy"
KEY_LEN = 32
_HKDF_SALT = b"aws-masker store v1"


class MasterKeyError(ValueError):
    """The master key is malformed, or its file is unsafe or unreadable. The message says which."""


@dataclass(frozen=True, slots=True)
class StoreKeys:
    """Subkeys of one master key. ``source`` says where the key came from (never the key)."""

    hash_key: bytes
    enc_key: bytes
    #: Public fingerprint stored in Redis: equal only for the same master key.
    check_value: str
    source: str

    def __repr__(self) -> str:  # keep keys out of logs and tracebacks
        return f"StoreKeys(source={self.source!r}, check_value={self.check_value!r})"


def _hkdf(master: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=info).derive(master)


def derive_keys(master: bytes, source: str = "given") -> StoreKeys:
    if len(master) != KEY_LEN:
        raise MasterKeyError(f"encryption key from {source} must be {KEY_LEN} bytes")
    return StoreKeys(
        hash_key=_hkdf(master, b"lookup-hmac"),
        enc_key=_hkdf(master, b"aes-gcm"),
        check_value="v1:" + _hkdf(master, b"key-check").hex()[:32],
        source=source,
    )


def parse_key(text: str, source: str) -> bytes:
    """Decode base64 (standard or URL-safe) text of exactly 32 bytes."""
    s = text.strip().replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_LEN:
        raise MasterKeyError(
            f"encryption key from {source} is not base64 of {KEY_LEN} bytes "
            "(make one with: openssl rand -base64 32)"
        )
    return raw


def default_key_file(confdir: str | os.PathLike[str] = DEFAULT_CONFDIR) -> Path:
    return Path(os.path.expanduser(str(confdir))) / KEY_FILE_NAME


def _check_file_mode(path: Path, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise MasterKeyError(f"key file {path} is not a regular file")
    if st.st_mode & 0o077:
        raise MasterKeyError(
            f"key file {path} is accessible by group or others "
            f"(mode {stat.S_IMODE(st.st_mode):04o}); refusing to use it. "
            f"Run: chmod 600 {path}"
        )


def _read_key_file(path: Path) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        _check_file_mode(path, os.fstat(fd))
        with os.fdopen(fd, "r", encoding="ascii", closefd=False) as f:
            text = f.read(4096)
    finally:
        os.close(fd)
    return parse_key(text, f"key file {path}")


def _create_key_file(path: Path) -> None:
    """Write a new random key to ``path`` unless it exists (another process may win the race).

    The key is written to a private temporary file and hard-linked into place: the link either
    creates ``path`` complete or fails because it exists, so no reader ever sees a partial file.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = (base64.b64encode(os.urandom(KEY_LEN)) + b"\n")
    fd, tmp = tempfile.mkstemp(prefix=".aws-masker-key-", dir=path.parent)  # mode 0600
    try:
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        try:
            os.link(tmp, path)
        except FileExistsError:
            return
        except OSError:  # filesystem without hard links: exclusive create instead
            try:
                out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return
            try:
                os.write(out, data)
                os.fsync(out)
            finally:
                os.close(out)
    finally:
        if fd >= 0:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def load_master_key(
    encryption_key: str = "",
    encryption_key_file: str = "",
    confdir: str | os.PathLike[str] = DEFAULT_CONFDIR,
    environ: Mapping[str, str] | None = None,
) -> tuple[bytes, str]:
    """The master key and a description of its source. Raises :class:`MasterKeyError`."""
    env = os.environ if environ is None else environ
    if encryption_key:
        return parse_key(encryption_key, "config encryption_key"), "config encryption_key"
    if env.get(KEY_ENV):
        return parse_key(env[KEY_ENV], f"${KEY_ENV}"), f"${KEY_ENV}"
    path = (
        Path(os.path.expanduser(encryption_key_file))
        if encryption_key_file
        else default_key_file(confdir)
    )
    try:
        if not path.exists():
            _create_key_file(path)
        return _read_key_file(path), f"key file {path}"
    except OSError as e:
        raise MasterKeyError(f"cannot use key file {path}: {e.strerror or e}") from None


def load_store_keys(
    encryption_key: str = "",
    encryption_key_file: str = "",
    confdir: str | os.PathLike[str] = DEFAULT_CONFDIR,
    environ: Mapping[str, str] | None = None,
) -> StoreKeys:
    """Resolve the master key (see module doc) and derive the store's subkeys."""
    master, source = load_master_key(encryption_key, encryption_key_file, confdir, environ)
    return derive_keys(master, source)
