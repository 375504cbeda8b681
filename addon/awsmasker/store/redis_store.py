"""Redis mapping store: shared by proxy processes, race-free, encrypted at rest.

One :meth:`RedisStore.resolve` is one round trip: a server-side Lua script (EVALSHA) looks up or
mints every finding's token and fetches every present token's mapping. Redis runs a script
atomically, so the same value gets the same token across flows and processes, and a token is
never handed to two values. Keys under ``<ns>``:

``<ns>:kcv``           key check value; a different master key is refused, not decrypted to garbage
``<ns>:n:<TYPE>``      per-type counter (persistent; below :data:`REDIS_MAX_COUNTER`)
``<ns>:v:<hmac>``      HMAC-SHA256(type, value) → counter (expires after ``ttl``, refreshed on use)
``<ns>:t:<TYPE>:<N>``  token → ``<hmac>`` + base64(nonce ‖ AES-GCM(value)); secrets store the
                       ``<hmac>`` only, so their originals never reach Redis

Key names hold types, counters and keyed hashes, never a value. The Redis server should not evict
persistent keys (``noeviction`` or a ``volatile-*`` policy): a lost counter is re-advanced past
live tokens, but not past tokens whose ``t`` key was evicted.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from redis.exceptions import NoScriptError, RedisError

from awsmasker.config import Settings
from awsmasker.redis_client import SharedRedis
from awsmasker.store.base import (
    REDIS_MAX_COUNTER,
    Finding,
    MappingStore,
    Resolution,
    StoreError,
)
from awsmasker.store.keys import DEFAULT_CONFDIR, MasterKeyError, StoreKeys, load_store_keys
from awsmasker.tokens import TOKEN_RE, format_token, is_valid_type_name

#: Seconds one resolve may take in total (connect + pool wait + script) before it fails.
DEFAULT_TIMEOUT = 5.0
_HASH_HEX_LEN = 64
_NONCE_LEN = 12
_AAD_PREFIX = b"aws-masker v1 "
#: at most this many script lines of reversible findings are kept between resolves (then all are
#: forgotten): a conversation re-sends its identifiers with every request
LINES_KEPT = 4096

# ARGV: ns, ttl_ms, check value, max counter, then the findings as lines "<type> <hmac> <blob>"
#       (blob empty for a secret) and the present tokens as lines "<type> <n>", each list one
#       argument: types are [A-Z0-9_], hmacs hex and blobs base64, so no field holds a space or a
#       line end, and redis-py packs a fixed number of arguments whatever the number of findings.
# Reply: {"ok", {counter per finding}, {stored value or "" per present token}}
#        | {"wrongkey", stored check value} | {"full", type}
LUA_RESOLVE = r"""
local ns = ARGV[1]
local ttl = tonumber(ARGV[2])
local maxc = tonumber(ARGV[4])
local kcv = redis.call('GET', ns .. ':kcv')
if not kcv then
  redis.call('SET', ns .. ':kcv', ARGV[3])
elseif kcv ~= ARGV[3] then
  return {'wrongkey', kcv}
end
local counters = {}
local f = 0
for typ, h, blob in string.gmatch(ARGV[5], '([^ \n]+) ([^ \n]+) ([^\n]*)') do
  f = f + 1
  local fk = ns .. ':v:' .. h
  local n = redis.call('GET', fk)
  if n then
    redis.call('PEXPIRE', fk, ttl)
    local rk = ns .. ':t:' .. typ .. ':' .. n
    if redis.call('PEXPIRE', rk, ttl) == 0 then
      redis.call('SET', rk, h .. blob, 'PX', ttl)
    end
    counters[f] = tonumber(n)
  else
    local ck = ns .. ':n:' .. typ
    local rk
    repeat
      if tonumber(redis.call('GET', ck) or '0') >= maxc then
        return {'full', typ}
      end
      n = redis.call('INCR', ck)
      rk = ns .. ':t:' .. typ .. ':' .. n
    until redis.call('EXISTS', rk) == 0
    redis.call('SET', fk, n, 'PX', ttl)
    redis.call('SET', rk, h .. blob, 'PX', ttl)
    counters[f] = n
  end
end
local stored = {}
local p = 0
for typ, n in string.gmatch(ARGV[6], '([^ \n]+) ([^ \n]+)') do
  p = p + 1
  local rk = ns .. ':t:' .. typ .. ':' .. n
  local v = redis.call('GET', rk)
  if v then
    redis.call('PEXPIRE', rk, ttl)
    redis.call('PEXPIRE', ns .. ':v:' .. string.sub(v, 1, 64), ttl)
    stored[p] = v
  else
    stored[p] = ''
  end
end
return {'ok', counters, stored}
"""
LUA_RESOLVE_SHA = hashlib.sha1(LUA_RESOLVE.encode()).hexdigest()


class StoreKeyMismatch(StoreError):
    """The namespace was written with another master key."""


def redact_url(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        user = parts.username or ""
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "<invalid redis url>"


def _text(x: bytes | str) -> str:
    return x.decode("ascii", "replace") if isinstance(x, bytes) else x


def _raw(x: bytes | str) -> bytes:
    return x if isinstance(x, bytes) else x.encode("latin-1")


class RedisStore(MappingStore):
    name = "redis"

    def __init__(
        self,
        redis: SharedRedis,
        keys: StoreKeys | Callable[[], StoreKeys],
        *,
        namespace: str = "masker",
        ttl: float = 604800,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """``keys``: derived keys, or a callable that loads them on first use (key file…).

        ``ttl`` is in seconds (fractions allowed); ``timeout`` bounds one resolve end to end.
        """
        if not namespace or any(c.isspace() for c in namespace):
            raise ValueError(f"invalid redis namespace: {namespace!r}")
        self._redis = redis
        self._keys_or_loader = keys
        self._keys: StoreKeys | None = keys if isinstance(keys, StoreKeys) else None
        self._aead: AESGCM | None = None
        self._hmac: hmac.HMAC | None = None  # keyed once; each lookup hash works on a copy
        #: (type, value) of a reversible finding → its script line (hash and encrypted value:
        #: the same ciphertext sent again, never a new one under an old nonce). Secrets are
        #: never kept: their line is made for each request.
        self._lines: dict[tuple[str, str], str] = {}
        self.namespace = namespace
        self.ttl_ms = max(1, round(ttl * 1000))
        self.timeout = timeout

    @classmethod
    def from_settings(
        cls, redis: SharedRedis, settings: Settings, confdir: str = DEFAULT_CONFDIR
    ) -> RedisStore:
        """Store for ``masker.yaml`` settings. Loads (or creates) the master key now, so a bad
        key raises :class:`MasterKeyError` at configure time rather than on the first flow."""
        keys = load_store_keys(settings.encryption_key, settings.encryption_key_file, confdir)
        return cls(redis, keys, namespace=settings.redis_namespace, ttl=settings.mapping_ttl)

    # -- keys and crypto -------------------------------------------------------------------

    def _get_keys(self) -> StoreKeys:
        if self._keys is None:
            loader = self._keys_or_loader
            assert callable(loader)
            try:
                self._keys = loader()
            except MasterKeyError as e:
                raise StoreError(f"Redis store: {e}") from None
        if self._aead is None:
            self._aead = AESGCM(self._keys.enc_key)
            self._hmac = hmac.new(self._keys.hash_key, digestmod=hashlib.sha256)
        return self._keys

    def lookup_hash(self, finding: Finding) -> str:
        """Keyed hash naming a finding's forward key (type and secrecy are part of it)."""
        self._get_keys()
        assert self._hmac is not None
        kind = "r" if finding.reversible else "s"
        msg = f"{kind}\0{finding.type_name}\0{finding.value}".encode("utf-8", "surrogatepass")
        # A copy of the HMAC keyed once: the key schedule is not set up again per finding.
        h = self._hmac.copy()
        h.update(msg)
        return h.hexdigest()

    def _encrypt(self, value: str, lookup: str, nonce: bytes) -> str:
        """base64(nonce ‖ AES-GCM(value)); ``nonce``: 12 fresh random bytes, never used before."""
        assert self._aead is not None
        ct = self._aead.encrypt(
            nonce, value.encode("utf-8", "surrogatepass"), _AAD_PREFIX + lookup.encode()
        )
        return binascii.b2a_base64(nonce + ct, newline=False).decode("ascii")

    def _decrypt(self, token: str, type_name: str, stored: bytes) -> str | None:
        """Original from a ``t`` entry; None for a secret's entry (hash only)."""
        lookup = stored[:_HASH_HEX_LEN].decode("ascii", "replace")
        blob = stored[_HASH_HEX_LEN:]
        if not blob:
            return None
        assert self._aead is not None and self._keys is not None
        try:
            raw = base64.b64decode(blob, validate=True)
            plain = self._aead.decrypt(
                raw[:_NONCE_LEN], raw[_NONCE_LEN:], _AAD_PREFIX + lookup.encode()
            )
            value = plain.decode("utf-8", "surrogatepass")
        except (InvalidTag, binascii.Error, ValueError):
            raise StoreError(
                f"Redis store: the mapping of {token} cannot be decrypted: it was encrypted "
                "with a different key or is corrupt"
            ) from None
        if self.lookup_hash(Finding(type_name, value)) != lookup:
            raise StoreError(f"Redis store: the mapping of {token} is corrupt (hash mismatch)")
        return value

    # -- resolve ---------------------------------------------------------------------------

    def _where(self) -> str:
        return f"Redis store at {redact_url(self._redis.url)} (namespace {self.namespace!r})"

    async def resolve(
        self, findings: Sequence[Finding], present_tokens: Sequence[str] = ()
    ) -> Resolution:
        present: list[tuple[str, str, int]] = []
        for token in dict.fromkeys(present_tokens):
            m = TOKEN_RE.fullmatch(token)
            if m is None or not is_valid_type_name(m["type"]):
                continue
            n = int(m["n"])
            if 1 <= n <= REDIS_MAX_COUNTER and format_token(m["type"], n) == token:
                present.append((token, m["type"], n))
        if not findings and not present:
            return Resolution(tokens=[])
        keys = self._get_keys()
        for type_name in {f.type_name for f in findings}:
            if not is_valid_type_name(type_name):
                raise ValueError(f"invalid token type name: {type_name!r}")
        kept = self._lines
        nonces = b""
        lines = []
        for k, f in enumerate(findings):
            if not f.reversible:
                lines.append(f"{f.type_name} {self.lookup_hash(f)} ")
                continue
            line = kept.get((f.type_name, f.value))
            if line is None:
                if not nonces:  # one system call for all the new ones
                    nonces = os.urandom(_NONCE_LEN * len(findings))
                lookup = self.lookup_hash(f)
                nonce = nonces[k * _NONCE_LEN:(k + 1) * _NONCE_LEN]
                line = f"{f.type_name} {lookup} {self._encrypt(f.value, lookup, nonce)}"
                if len(kept) >= LINES_KEPT:
                    kept.clear()
                kept[(f.type_name, f.value)] = line
            lines.append(line)
        args: list[str | int] = [
            self.namespace, self.ttl_ms, keys.check_value, REDIS_MAX_COUNTER,
            "\n".join(lines), "\n".join(f"{t} {n}" for _, t, n in present),
        ]
        reply = await self._run(args)
        status = _text(reply[0])
        if status == "wrongkey":
            raise StoreKeyMismatch(
                f"{self._where()}: mapping was encrypted with a different key (key check value "
                f"mismatch; this proxy's key comes from {keys.source}). Use the key that wrote "
                "the namespace, or purge it: scripts/store_state.py --purge --yes"
            )
        if status == "full":
            raise StoreError(
                f"{self._where()}: no more tokens for type {_text(reply[1])} "
                f"(counter limit {REDIS_MAX_COUNTER}); purge the namespace"
            )
        if status != "ok" or len(reply) != 3 or len(reply[1]) != len(findings):
            raise StoreError(f"{self._where()}: unexpected script reply")
        tokens = [
            format_token(f.type_name, int(n)) for f, n in zip(findings, reply[1], strict=True)
        ]
        originals: dict[str, str] = {}
        for (token, type_name, _), stored in zip(present, reply[2], strict=True):
            if stored and (value := self._decrypt(token, type_name, _raw(stored))) is not None:
                originals[token] = value
        return Resolution(tokens=tokens, originals=originals)

    async def _run(self, args: list[str | int]) -> list:
        try:
            async with asyncio.timeout(self.timeout):
                client = self._redis.client()
                try:
                    return await client.evalsha(LUA_RESOLVE_SHA, 0, *args)
                except NoScriptError:  # first use, or the server restarted / flushed scripts
                    return await client.eval(LUA_RESOLVE, 0, *args)
        except TimeoutError:
            raise StoreError(f"{self._where()}: no answer within {self.timeout:g} s") from None
        except (RedisError, OSError, ValueError) as e:
            raise StoreError(f"{self._where()}: {type(e).__name__}: {e}") from e
