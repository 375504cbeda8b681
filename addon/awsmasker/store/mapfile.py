"""A mapping store in one local file, for the command line (``--map PATH``).

It holds what the Redis store holds, under the same master key (see :mod:`awsmasker.store.keys`)
and with the same protection: originals are AES-GCM encrypted, values are looked up by a keyed
HMAC, and secrets keep only their hash. The file is JSON::

    {"format": "aws-masker map v1",
     "check": "<key check value>",             # a different key is refused, not used
     "counters": {"EC2": 2, ...},               # last counter minted per type
     "values": {"<hmac>": "AWS_EC2_002", ...},  # lookup hash → token
     "tokens": {"AWS_EC2_002": ["<hmac>", "<base64 nonce ‖ AES-GCM(value)>" | null], ...}}

The associated data of each ciphertext names its token and hash, so an entry moved to another
token does not decrypt. Mappings never expire.

One :class:`MapFile` is used as a context manager: entering takes an exclusive ``flock`` on the
file (created empty with mode 0600 if missing) and reads it; :meth:`MapFile.save` writes the new
content to a private temporary file and renames it over the old one, so a reader sees the old
map or the new one, never a part. Concurrent command lines wait for each other.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from awsmasker.store.base import Finding, MappingStore, Resolution
from awsmasker.store.keys import StoreKeys
from awsmasker.tokens import format_token, is_token

FORMAT = "aws-masker map v1"
_NONCE_LEN = 12
#: times the file is opened again because another process replaced it while this one waited
_OPEN_ATTEMPTS = 50


class MapFileError(Exception):
    """The map file cannot be used (unreadable, malformed, another key); the message says why."""


class MapFile(MappingStore):
    name = "map file"

    def __init__(self, path: str | os.PathLike[str], keys: StoreKeys) -> None:
        self.path = Path(path)
        self._keys = keys
        self._aead = AESGCM(keys.enc_key)
        self._fd = -1
        self._dirty = False
        self._counters: dict[str, int] = {}
        self._values: dict[str, str] = {}
        self._tokens: dict[str, list] = {}

    # -- open, lock, read, save ------------------------------------------------------------

    def __enter__(self) -> MapFile:
        try:
            self._fd = self._open_locked()
            with os.fdopen(os.dup(self._fd), "rb") as f:
                raw = f.read()
        except OSError as e:
            self.close_file()
            raise MapFileError(f"cannot open map file {self.path}: {e.strerror or e}") from None
        try:
            self._load(raw)
        except MapFileError:
            self.close_file()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close_file()

    def close_file(self) -> None:
        """Release the lock (the file stays as last saved)."""
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops its flock
            self._fd = -1

    def _open_locked(self) -> int:
        """A descriptor of the current file at ``path``, exclusively locked."""
        for _ in range(_OPEN_ATTEMPTS):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                # another run may have renamed a new map over the file while this one waited
                if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                    return fd
            except FileNotFoundError:
                pass
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
        raise MapFileError(f"map file {self.path} keeps being replaced; try again")

    def _load(self, raw: bytes) -> None:
        if not raw:  # just created: a new, empty map under this key
            self._dirty = True
            return
        bad = MapFileError(f"cannot read map file {self.path}: not an aws-masker map file")
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad
        counters, values, tokens = data.get("counters"), data.get("values"), data.get("tokens")
        if not (isinstance(counters, dict) and isinstance(values, dict)
                and isinstance(tokens, dict)
                and all(type(n) is int for n in counters.values())
                and all(isinstance(t, str) for t in values.values())):
            raise bad
        if data.get("check") != self._keys.check_value:
            raise MapFileError(
                f"cannot decrypt map file {self.path}: it was written with another encryption "
                f"key (wrong encryption key? this one comes from {self._keys.source})"
            )
        self._counters, self._values, self._tokens = counters, values, tokens

    def save(self) -> None:
        """Write the map if it changed: a temporary file renamed over the old one (mode 0600)."""
        if not self._dirty:
            return
        data = {
            "format": FORMAT,
            "check": self._keys.check_value,
            "counters": self._counters,
            "values": self._values,
            "tokens": self._tokens,
        }
        body = json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(body)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise MapFileError(f"cannot write map file {self.path}: {e.strerror or e}") from None
        self._dirty = False

    # -- crypto ------------------------------------------------------------------------------

    def _lookup_hash(self, finding: Finding) -> str:
        # the Redis store's lookup hash: a value has the same hash in both stores
        kind = "r" if finding.reversible else "s"
        msg = f"{kind}\0{finding.type_name}\0{finding.value}".encode("utf-8", "surrogatepass")
        return hmac.new(self._keys.hash_key, msg, hashlib.sha256).hexdigest()

    @staticmethod
    def _aad(token: str, lookup: str) -> bytes:
        return f"{FORMAT} {token} {lookup}".encode("ascii")

    def _encrypt(self, token: str, lookup: str, value: str) -> str:
        nonce = os.urandom(_NONCE_LEN)
        ct = self._aead.encrypt(nonce, value.encode("utf-8", "surrogatepass"),
                                self._aad(token, lookup))
        return base64.b64encode(nonce + ct).decode("ascii")

    def _original(self, token: str) -> str | None:
        """The original of ``token``; None if unknown or a secret (never stored)."""
        entry = self._tokens.get(token)
        if entry is None:
            return None
        corrupt = MapFileError(f"map file {self.path}: the entry of {token} is corrupt")
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[0], str)):
            raise corrupt
        lookup, blob = entry
        if blob is None:
            return None
        try:
            raw = base64.b64decode(blob, validate=True)
            value = self._aead.decrypt(raw[:_NONCE_LEN], raw[_NONCE_LEN:],
                                       self._aad(token, lookup)).decode("utf-8", "surrogatepass")
        except (InvalidTag, binascii.Error, TypeError, ValueError):
            raise MapFileError(
                f"cannot decrypt map file {self.path}: the entry of {token} does not decrypt "
                "(wrong encryption key, or the file was altered)"
            ) from None
        type_name = token[len("AWS_"):token.rindex("_")]
        if self._lookup_hash(Finding(type_name, value)) != lookup:
            raise corrupt
        return value

    # -- the store contract ------------------------------------------------------------------

    def token_for(self, finding: Finding) -> str:
        lookup = self._lookup_hash(finding)
        token = self._values.get(lookup)
        if token is not None:
            return token
        n = self._counters.get(finding.type_name, 0)
        while True:  # skip any counter whose token is taken (a hand-edited file)
            n += 1
            token = format_token(finding.type_name, n)
            if token not in self._tokens:
                break
        self._counters[finding.type_name] = n
        self._values[lookup] = token
        blob = self._encrypt(token, lookup, finding.value) if finding.reversible else None
        self._tokens[token] = [lookup, blob]
        self._dirty = True
        return token

    async def resolve(
        self, findings: Sequence[Finding], present_tokens: Sequence[str] = ()
    ) -> Resolution:
        if self._fd < 0:
            raise MapFileError(f"map file {self.path} is not open")
        tokens = [self.token_for(f) for f in findings]
        originals = {}
        for t in dict.fromkeys(present_tokens):
            if is_token(t) and (value := self._original(t)) is not None:
                originals[t] = value
        return Resolution(tokens=tokens, originals=originals)
