"""``masker.yaml`` keys: their defaults, types, allowed values, and validation.

Every key is also a mitmproxy option of the same name (declared by :mod:`awsmasker.options`), so
``--set key=value`` overrides the file and mitmweb's option editor changes it live. Validation is
one function, :func:`validate`, used for the file and for option changes alike; errors name the key
and say what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG_FILE = "masker.yaml"
CONFIG_ENV = "AWS_MASKER_CONFIG"


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range; the message names the key."""


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    kind: type  # int, bool, str, float, list
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


KEYS: tuple[Key, ...] = (
    Key("targets", list, ["api.anthropic.com"],
        "Hosts whose traffic is masked and restored; exact names, '*.suffix', or '*' inside "
        "a label (bedrock-runtime.*.amazonaws.com)."),
    Key("store", str, "memory", "Mapping store.", choices=("memory", "redis")),
    Key("redis_url", str, "redis://127.0.0.1:6379/0",
        "Redis for the store and events (redis://, rediss://, unix://)."),
    Key("redis_namespace", str, "masker", "Prefix of every Redis key the store writes."),
    Key("mapping_ttl", int, 604800, "Seconds a Redis mapping lives (refreshed on use).",
        minimum=60, maximum=10 * 365 * 86400),
    Key("on_store_error", str, "block",
        "When the store fails: answer with an error, or fall back to an in-process store.",
        choices=("block", "memory")),
    Key("encryption_key", str, "",
        "Base64 32-byte key for originals at rest in Redis; empty: $AWS_MASKER_ENCRYPTION_KEY, "
        "then encryption_key_file."),
    Key("encryption_key_file", str, "",
        "Key file, created 0600 on first use; empty: aws-masker.key in mitmproxy's confdir."),
    Key("disabled_types", list, [], "Catalogue types not to mask (e.g. PRIVATE_IP)."),
    Key("allow_values", list, [], "Literal values never masked."),
    Key("mask_public_ips", bool, False, "Also mask public IPv4 addresses."),
    Key("block_unscanned_binary", bool, False,
        "Refuse target requests holding binary content the proxy cannot scan (images, PDFs, "
        "archives in multipart parts or base64 in JSON) instead of passing it flagged."),
    Key("scan_cache_bytes", int, 64 * 1024 * 1024,
        "Bytes of findings remembered from earlier request bodies, so that a conversation "
        "re-sent every turn is scanned only where it is new; 0: scan every body whole.",
        minimum=0, maximum=1024**3),
    Key("max_request_size", int, 32 * 1024 * 1024,
        "Bytes of a target request body that may be masked; larger bodies are blocked.",
        minimum=1024, maximum=1024**3),
    Key("max_response_size", int, 8 * 1024 * 1024,
        "Bytes of one response that are restored; past it the rest passes unchanged (flagged).",
        minimum=1024, maximum=1024**4),
    Key("enable_event_monitoring", bool, False, "Publish masking events to Redis."),
    Key("event_sampling_rate", float, 1.0, "Share of flows whose events are published.",
        minimum=0.0, maximum=1.0),
    Key("redis_event_channel", str, "masker:events", "Pub/sub channel (and stream key) of events."),
    Key("event_batch_size", int, 1, "Events per published message.", minimum=1, maximum=100),
    Key("event_flush_interval_ms", int, 1000, "Longest wait of a partial batch.",
        minimum=10, maximum=60000),
    Key("event_sink", str, "pubsub", "Where events go.", choices=("pubsub", "stream", "both")),
    Key("event_stream_maxlen", int, 100000, "Approximate length cap of the Redis Stream.",
        minimum=100, maximum=100_000_000),
)
KEYS_BY_NAME: dict[str, Key] = {k.name: k for k in KEYS}


def _settings_class() -> type:
    """The settings object, one field per key of :data:`KEYS` with its default (lists become
    tuples, so settings are immutable and hashable)."""
    fields = []
    for key in KEYS:
        kind = tuple[str, ...] if key.kind is list else key.kind
        default = tuple(key.default) if key.kind is list else key.default
        fields.append((key.name, kind, dataclasses.field(default=default)))
    return dataclasses.make_dataclass("Settings", fields, frozen=True, slots=True,
                                      module=__name__)


#: The configuration in force: an immutable value with one attribute per key, e.g.
#: ``Settings().targets == ("api.anthropic.com",)``. Built from :data:`KEYS`, the one table.
Settings = _settings_class()


def _describe(key: Key) -> str:
    if key.choices:
        return "one of " + ", ".join(repr(c) for c in key.choices)
    kinds = {int: "an integer", bool: "true or false", str: "a string", float: "a number",
             list: "a list of strings"}
    text = kinds[key.kind]
    if key.minimum is not None and key.maximum is not None:
        text += f" from {key.minimum:g} to {key.maximum:g}"
    return text


def _coerce(key: Key, value: Any) -> Any:
    """Turn a YAML or option value into the key's type, or raise ConfigError."""
    bad = ConfigError(f"{key.name}: expected {_describe(key)}, got {value!r}")
    if key.kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad
    if key.kind is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            out: Any = value
        elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
            out = int(value)
        else:
            raise bad
    elif key.kind is float:
        if isinstance(value, bool):
            raise bad
        try:
            out = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if math.isnan(out):
            raise bad
    elif key.kind is str:
        if not isinstance(value, str):
            raise bad
        out = value
    else:  # list of strings
        return _coerce_list(key, value, bad)
    if key.choices and out not in key.choices:
        raise bad
    if key.minimum is not None and out < key.minimum:
        raise bad
    if key.maximum is not None and out > key.maximum:
        raise bad
    return out


def coerce(name: str, value: Any) -> Any:
    """``value`` (from YAML or an option) in the type of key ``name``; raises ConfigError."""
    return _coerce(KEYS_BY_NAME[name], value)


def _coerce_list(key: Key, value: Any, bad: ConfigError) -> tuple[str, ...]:
    """A list key from YAML (a list, or one string) or from ``--set`` (one string per ``--set``).

    Every item is split on commas, so ``--set targets=a,b``, a repeated ``--set``, a YAML list
    and a YAML string ``"a, b"`` all give the same list. Blank pieces are dropped and repeats
    are kept once, in their first place.
    """
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise bad
    out: dict[str, None] = {}
    for item in items:
        for piece in item.split(","):
            if piece := piece.strip():
                out[piece] = None
    return tuple(out)


def _check_host_pattern(pattern: str) -> None:
    suffix = pattern.startswith("*.")
    body = pattern[2:] if suffix else pattern
    bad = not body or "/" in body or " " in body or ":" in body
    if "*" in body:  # inside a label, never in the last two (the domain itself), not with *.
        labels = body.split(".")
        bad = bad or suffix or len(labels) < 3 or "" in labels or any(
            "*" in label for label in labels[-2:])
    if bad:
        raise ConfigError(
            f"targets: {pattern!r} is not a host name, a '*.suffix' pattern or a name with "
            "'*' inside a label before its last two (e.g. 'bedrock-runtime.*.amazonaws.com', "
            "'*-aiplatform.googleapis.com')"
        )


def validate(values: Mapping[str, Any], base: Settings | None = None) -> Settings:
    """Validate ``values`` (a subset of keys) on top of ``base`` (defaults when None)."""
    unknown = sorted(set(values) - set(KEYS_BY_NAME))
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}; allowed keys: {', '.join(sorted(KEYS_BY_NAME))}"
        )
    changes = {name: _coerce(KEYS_BY_NAME[name], v) for name, v in values.items()}
    settings = dataclasses.replace(base or Settings(), **changes)
    if not settings.targets:
        raise ConfigError(
            "targets: the list is empty, so no request would be masked; name at least one host "
            "(the default is api.anthropic.com)"
        )
    for pattern in settings.targets:
        _check_host_pattern(pattern)
    from awsmasker.catalogue import TYPE_NAMES  # late: the catalogue is heavier to import

    for t in settings.disabled_types:
        if t not in TYPE_NAMES:
            raise ConfigError(
                f"disabled_types: unknown type {t!r}; allowed: {', '.join(sorted(TYPE_NAMES))}"
            )
    if settings.store == "redis" and not settings.redis_url.startswith(
        ("redis://", "rediss://", "unix://")
    ):
        raise ConfigError(
            f"redis_url: expected a redis://, rediss:// or unix:// URL, got {settings.redis_url!r}"
        )
    return settings


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (plain
    YAML keeps the last one, so a second ``targets:`` would silently replace the first)."""

    def construct_mapping(self, node, deep=False):
        lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            try:
                first = lines.setdefault(key, line)
            except TypeError:  # an unhashable key: the base class reports it
                break
            if first != line:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (lines {first} and {line})")
        return super().construct_mapping(node, deep=deep)


def load_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a masker.yaml; an empty file is an empty mapping. Raises ConfigError."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(p)!r}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {str(p)!r} is not UTF-8 text") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as e:
        line = f" (line {e.problem_mark.line + 1})" if e.problem_mark else ""
        raise ConfigError(f"{p}: not valid YAML: {e.problem}{line}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of keys to values at the top level")
    return data


def config_source(option_path: str = "") -> tuple[str, str]:
    """Which config file is in force, and why: ``(path, source)``.

    The first of: the ``masker_config`` option (``option_path``), ``$AWS_MASKER_CONFIG``,
    ``masker.yaml`` in the working directory if anything of that name is there. ``("", "")``
    when there is none: the built-in defaults apply. A named file that cannot be read is an
    error when it is loaded (:func:`load_file`), never a fall-back to the defaults.
    """
    if option_path:
        return str(Path(option_path).expanduser().absolute()), "masker_config option"
    env = os.environ.get(CONFIG_ENV, "")
    if env:
        return str(Path(env).expanduser().absolute()), f"${CONFIG_ENV}"
    local = Path(DEFAULT_CONFIG_FILE)
    if local.exists() or local.is_symlink():
        return str(local.absolute()), "working directory"
    return "", ""


def host_matches(host: str, patterns: Sequence[str]) -> bool:
    """Exact, ``*.suffix`` or in-label ``*`` host match (``*`` inside a label stands for one or
    more characters of that label), case-insensitive, ignoring a trailing dot."""
    exact, suffixes, wild = _host_patterns(tuple(patterns))
    host = host.lower().rstrip(".")
    # ``*.example.com`` does not match ``.example.com`` itself (nothing before the dot)
    return (host in exact or (host.endswith(suffixes) and host not in suffixes)
            or (wild is not None and wild.fullmatch(host) is not None))


@lru_cache(maxsize=64)
def _host_patterns(
    patterns: tuple[str, ...],
) -> tuple[frozenset[str], tuple[str, ...], re.Pattern[str] | None]:
    """Exact hosts, ``.suffix`` endings and one regex of the in-label ``*`` patterns of
    ``patterns``, normalised once (runs per request)."""
    exact = set()
    suffixes = []
    wild = []
    for p in patterns:
        p = p.lower().rstrip(".")
        if p.startswith("*.") and "*" not in p[2:]:
            suffixes.append(p[1:])
        elif "*" in p:
            wild.append("[^.]+".join(re.escape(part) for part in p.split("*")))
        else:
            exact.add(p)
    regex = re.compile("|".join(f"(?:{w})" for w in wild)) if wild else None
    return frozenset(exact), tuple(suffixes), regex
