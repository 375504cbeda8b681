"""The ``MaskerOptions`` addon: ``masker.yaml`` keys as mitmproxy options, one precedence rule.

From lowest to highest, each layer replacing the keys it names:

1. the built-in defaults (:class:`awsmasker.config.Settings`);
2. the config file in force (:func:`awsmasker.config.config_source`): the ``masker_config``
   option, else ``$AWS_MASKER_CONFIG``, else ``./masker.yaml``;
3. keys the user sets as options: ``--set KEY=VALUE`` (or mitmproxy's own ``config.yaml``) and
   live edits (mitmweb's option editor, ``set`` in the console).

A live change of ``masker_config`` swaps layer 2 and keeps layer 3. The options always show the
values in force: the file's values are written into them (without counting as user settings).
Every change is validated as a whole before anything takes effect; a refused change raises
``OptionsError``, mitmproxy rolls the options back, and the settings in force stay as they were.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Sequence
from typing import Any

from mitmproxy import ctx, exceptions

from awsmasker import config
from awsmasker.state import MaskerState

log = logging.getLogger(__name__)

_TYPESPECS: dict[type, Any] = {int: int, bool: bool, str: str, float: str, list: Sequence[str]}
NAMES = frozenset(config.KEYS_BY_NAME)
#: mitmproxy options that decide which connections are tunnelled without being decrypted
_TUNNEL_OPTIONS = ("ignore_hosts", "allow_hosts")


def option_value(key: config.Key, value: Any) -> Any:
    """A Settings value in the form mitmproxy's option of that key holds."""
    if key.kind is float:
        return repr(float(value))
    if key.kind is list:
        return list(value)
    return value


def _set_on_command_line(options) -> set[str]:
    """Our keys given with ``--set`` (or mitmproxy's config.yaml) before the addon declared them:
    mitmproxy keeps such values in ``options.deferred`` until the option exists."""
    return set(options.deferred) & NAMES


def tunnelled_targets(targets: Sequence[str], ignore: Sequence[str],
                      allow: Sequence[str]) -> list[tuple[str, str]]:
    """Targets whose HTTPS connections mitmproxy would pass through without decrypting them,
    as ``(target, reason)``. mitmproxy matches these regexes against ``host:port``; a target
    with ``*`` is probed with one name it matches."""
    out = []
    for target in targets:
        host = target.replace("*", "x")
        probe = f"{host}:443"
        hit = next((p for p in ignore if re.search(p, probe, re.IGNORECASE)), None)
        if hit is not None:
            out.append((target, f"ignore_hosts pattern {hit!r} matches {probe}"))
        elif allow and not any(re.search(p, probe, re.IGNORECASE) for p in allow):
            out.append((target, f"no allow_hosts pattern matches {probe}"))
    return out


class MaskerOptions:
    def __init__(self, state: MaskerState) -> None:
        self.state = state
        #: the config file in force ("" for none) and the values read from it
        self.config_path: str | None = None  # None: not configured yet
        self.config_source = ""
        self.file_values: dict[str, Any] = {}
        #: keys the user set as options; they win over the file
        self.user_keys: set[str] = set()
        self._writing = False  # our own write of the file's values into the options
        self._reloaded = False

    def load(self, loader) -> None:
        options = loader.master.options
        #: loaded again (script reload): the options still hold the values in force, and those
        #: that differ from the file's are the user's
        self._reloaded = "targets" in options
        self.user_keys = set() if self._reloaded else _set_on_command_line(options)
        for key in config.KEYS:
            loader.add_option(
                key.name,
                _TYPESPECS[key.kind],
                option_value(key, key.default),
                key.help + (f" Default: {key.default!r}." if key.kind is not list else ""),
                choices=key.choices,
            )
        loader.add_option(
            "masker_config",
            str,
            "",
            "aws-masker config file (masker.yaml); empty: $AWS_MASKER_CONFIG, else ./masker.yaml. "
            "Keys set as options win over the file's.",
        )

    def configure(self, updated: set[str]) -> None:
        if "flow_detail" in updated:  # mitmdump's own per-flow verbosity governs ours
            self.state.log_flows = ctx.options.flow_detail > 0
        if self._writing:
            return
        ours = updated & NAMES
        if not (ours or "masker_config" in updated or updated & set(_TUNNEL_OPTIONS)):
            return
        path, source = config.config_source(ctx.options.masker_config)
        first = self.config_path is None
        file_values = self.file_values
        try:
            if first or path != self.config_path:
                file_values = config.load_file(path) if path else {}
                config.validate(file_values)
        except config.ConfigError as e:
            where = "" if path in str(e) else f" (in {path})"
            raise exceptions.OptionsError(f"aws-masker: {e}{where}") from None
        from_file = {**_defaults(), **file_values}
        user_keys = self._user_keys(ours, from_file, first)
        try:
            settings = config.validate(
                {**from_file, **{k: getattr(ctx.options, k) for k in user_keys}})
            self._check_tunnels(settings)
            self.state.apply_settings(settings, confdir=ctx.options.confdir)
        except config.ConfigError as e:
            raise exceptions.OptionsError(f"aws-masker: {e}") from None
        self.config_path, self.config_source = path, source
        self.file_values, self.user_keys = file_values, user_keys
        self._reloaded = False
        self._show_in_options(settings)
        if not first:
            log.info("aws-masker: configuration changed: %s", self.describe(settings))

    def running(self) -> None:
        log.info("aws-masker ready: %s", self.describe())

    def _user_keys(self, ours: set[str], from_file: dict[str, Any], first: bool) -> set[str]:
        """The keys whose option values are the user's, after this update."""
        current = self.state.settings
        if self._reloaded:
            return {k for k in NAMES if not _same(k, getattr(ctx.options, k), from_file[k])}
        if first or current is None:
            return set(self.user_keys)
        # A key in the update whose value differs from the one in force was set by the user.
        # (mitmproxy's roll-back of a refused change sends the old values again: they are the
        # ones in force, so a refused change never marks a key.)
        return self.user_keys | {
            k for k in ours if not _same(k, getattr(ctx.options, k), getattr(current, k))
        }

    def _check_tunnels(self, settings: config.Settings) -> None:
        bad = tunnelled_targets(settings.targets, ctx.options.ignore_hosts,
                                ctx.options.allow_hosts)
        exact = [(t, why) for t, why in bad if "*" not in t]
        if exact:
            target, why = exact[0]
            raise config.ConfigError(
                f"targets: {target!r} would be tunnelled without decryption, so its requests "
                f"would go out unmasked ({why}); change ignore_hosts/allow_hosts or targets")
        for target, why in bad:  # a wildcard: the patterns may spare only hosts not used
            log.warning("aws-masker: some hosts of target %r may be tunnelled without "
                        "decryption and go out unmasked (%s)", target, why)

    def _show_in_options(self, settings: config.Settings) -> None:
        """Write the values in force into the options that are not the user's."""
        writes = {}
        for key in config.KEYS:
            if key.name in self.user_keys:
                continue
            value = option_value(key, getattr(settings, key.name))
            if getattr(ctx.options, key.name) != value:
                writes[key.name] = value
        if writes:
            self._writing = True
            try:
                ctx.options.update(**writes)
            finally:
                self._writing = False

    def describe(self, settings: config.Settings | None = None) -> str:
        """One line: the config file in force (or the built-in defaults) and the targets."""
        settings = settings or self.state.settings
        if settings is None:
            return "not configured"
        where = (f"config {self.config_path} (from the {self.config_source})"
                 if self.config_path else "config: built-in defaults (no masker.yaml)")
        events = "on" if settings.enable_event_monitoring else "off"
        user = f"; set as options: {', '.join(sorted(self.user_keys))}" if self.user_keys else ""
        return (f"{where}; targets: {', '.join(repr(t) for t in settings.targets)}; "
                f"store={settings.store}; events={events}{user}")


def _defaults() -> dict[str, Any]:
    return {key.name: key.default for key in config.KEYS}


def _same(name: str, a: Any, b: Any) -> bool:
    """Whether two values of key ``name`` (option or Settings form) are equal once validated."""
    with contextlib.suppress(config.ConfigError):
        return config.coerce(name, a) == config.coerce(name, b)
    return False
