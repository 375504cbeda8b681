"""The ``MaskerOptions`` addon: ``masker.yaml`` keys as mitmproxy options.

``load`` reads the config file (``$AWS_MASKER_CONFIG`` or ``./masker.yaml``) and declares one
option per key with the file's value as default, so ``--set`` wins over the file. ``configure``
validates every change with :func:`awsmasker.config.validate` (a bad value is rejected with a
message naming the key, and mitmproxy keeps the previous value) and publishes the new
:class:`~awsmasker.config.Settings` to the shared state. Setting ``masker_config`` at runtime
loads that file, except for keys set in the same update.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from mitmproxy import ctx, exceptions

from awsmasker import config
from awsmasker.state import MaskerState

log = logging.getLogger(__name__)

_TYPESPECS: dict[type, Any] = {int: int, bool: bool, str: str, float: str, list: Sequence[str]}


def _option_value(key: config.Key, value: Any) -> Any:
    """A validated Settings value in the form mitmproxy's option of that key holds."""
    if key.kind is float:
        return repr(float(value))
    if key.kind is list:
        return list(value)
    return value


class MaskerOptions:
    def __init__(self, state: MaskerState) -> None:
        self.state = state
        self._config_path = ""

    def load(self, loader) -> None:
        path = config.default_config_path()
        defaults = config.Settings()
        try:
            file_values = config.load_file(path) if path else {}
            defaults = config.validate(file_values)
            self._config_path = path
        except config.ConfigError as e:
            # Declare the options anyway; configure() reports the error, and until it is
            # fixed the state stays "broken", which blocks every target flow.
            self.state.config_error = str(e)
            self._config_path = path
        for key in config.KEYS:
            loader.add_option(
                key.name,
                _TYPESPECS[key.kind],
                _option_value(key, getattr(defaults, key.name)),
                key.help + (f" Default: {key.default!r}." if key.kind is not list else ""),
                choices=key.choices,
            )
        loader.add_option(
            "masker_config",
            str,
            path,
            "aws-masker config file (masker.yaml); its keys become the options' values.",
        )

    def configure(self, updated: set[str]) -> None:
        names = {k.name for k in config.KEYS}
        if not (updated & names or "masker_config" in updated):
            return
        path = ctx.options.masker_config
        path_changed = "masker_config" in updated and path and path != self._config_path
        if path_changed and self._apply_file(path, updated):
            return  # the nested update has configured everything
        if self.state.config_error and self.state.settings is None:
            raise exceptions.OptionsError(f"aws-masker: {self.state.config_error}")
        values = {k.name: getattr(ctx.options, k.name) for k in config.KEYS}
        try:
            settings = config.validate(values)
            self.state.apply_settings(settings, confdir=ctx.options.confdir)
        except config.ConfigError as e:
            raise exceptions.OptionsError(f"aws-masker: {e}") from None

    def _apply_file(self, path: str, updated: set[str]) -> bool:
        """Push a newly named config file's values into the options (keys in ``updated`` win).

        Returns True when a nested options update has already configured everything.
        """
        try:
            file_values = config.load_file(path)
            config.validate(file_values)
        except config.ConfigError as e:
            raise exceptions.OptionsError(f"aws-masker: {e}") from None
        self._config_path = path
        self.state.config_error = None
        pending = {k: v for k, v in file_values.items() if k not in updated}
        if not pending:
            return False
        as_options = {
            k: _option_value(config.KEYS_BY_NAME[k], getattr(config.validate({k: v}), k))
            for k, v in pending.items()
        }
        ctx.options.update(**as_options)
        return True
