"""masker.yaml validation and the options addon (taddons)."""

from __future__ import annotations

from pathlib import Path

import pytest
from awsmasker import config
from awsmasker.options import MaskerOptions
from awsmasker.state import MaskerState
from mitmproxy import exceptions, hooks
from mitmproxy.test import taddons

ROOT = Path(__file__).resolve().parent.parent


def test_repo_masker_yaml_is_exactly_the_embedded_defaults():
    values = config.load_file(ROOT / "masker.yaml")
    assert set(values) == set(config.KEYS_BY_NAME)
    assert config.validate(values) == config.Settings()


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"store": "postgres"}, "store: expected one of 'memory', 'redis'"),
        ({"mapping_ttl": 5}, "mapping_ttl: expected an integer from 60"),
        ({"mapping_ttl": "a week"}, "mapping_ttl"),
        ({"event_sampling_rate": 1.5}, "event_sampling_rate: expected a number from 0 to 1"),
        ({"event_sampling_rate": "nan"}, "event_sampling_rate"),
        ({"event_batch_size": 0}, "event_batch_size: expected an integer from 1 to 100"),
        ({"event_batch_size": True}, "event_batch_size"),
        ({"enable_event_monitoring": "yes"}, "enable_event_monitoring: expected true or false"),
        ({"targets": "*"}, "targets: '*' is not a host name"),
        ({"targets": [1, 2]}, "targets: expected a list of strings"),
        ({"disabled_types": ["EC3"]}, "disabled_types: unknown type 'EC3'"),
        ({"event_sink": "kafka"}, "event_sink: expected one of 'pubsub', 'stream', 'both'"),
        ({"on_store_error": "ignore"}, "on_store_error: expected one of 'block', 'memory'"),
        ({"store": "redis", "redis_url": "http://x"}, "redis_url: expected a redis://"),
        ({"tragets": ["x"]}, "unknown key 'tragets'"),
    ],
)
def test_bad_values_name_the_key_and_what_is_allowed(values, fragment):
    with pytest.raises(config.ConfigError) as e:
        config.validate(values)
    assert fragment in str(e.value)


def test_values_are_coerced_from_option_strings():
    s = config.validate({"event_sampling_rate": "0.25", "targets": "a.com, *.b.com",
                         "mapping_ttl": "3600", "mask_public_ips": "true"})
    assert s.event_sampling_rate == 0.25
    assert s.targets == ("a.com", "*.b.com")
    assert s.mapping_ttl == 3600
    assert s.mask_public_ips is True


def test_load_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: [unclosed\n")
    with pytest.raises(config.ConfigError, match="not valid YAML"):
        config.load_file(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("just text\n")
    with pytest.raises(config.ConfigError, match="mapping"):
        config.load_file(scalar)
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load_file(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert config.load_file(empty) == {}


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("api.anthropic.com", True),
        ("API.Anthropic.com.", True),
        ("evilapi.anthropic.com", False),
        ("api.anthropic.com.evil.net", False),
        ("x.openai.azure.com", True),
        ("openai.azure.com", False),
        (".openai.azure.com", False),
        ("API.Anthropic.COM.", True),
    ],
)
def test_host_matching_is_exact_or_suffix(host, expected):
    assert config.host_matches(host, ["api.anthropic.com", "*.openai.azure.com"]) is expected


def _options_addon(monkeypatch, tmp_path, yaml_text: str | None = None):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)
    if yaml_text is not None:
        (tmp_path / "masker.yaml").write_text(yaml_text)
    state = MaskerState()
    return state, MaskerOptions(state)


def configure_all(tctx, addon) -> None:
    """What mitmproxy does right after loading a script: configure with every option."""
    tctx.master.addons.invoke_addon_sync(addon, hooks.ConfigureHook(set(tctx.options.keys())))


def test_file_values_become_option_defaults_and_set_overrides(monkeypatch, tmp_path):
    state, addon = _options_addon(monkeypatch, tmp_path,
                                  "targets: [llm.internal]\nevent_batch_size: 7\n")
    with taddons.context(addon) as tctx:
        configure_all(tctx, addon)
        assert tctx.options.targets == ["llm.internal"]
        assert state.settings.targets == ("llm.internal",)
        assert state.settings.event_batch_size == 7
        tctx.configure(addon, event_batch_size=9)  # like --set or a mitmweb edit
        assert state.settings.event_batch_size == 9


def test_live_change_is_validated_and_rolled_back(monkeypatch, tmp_path):
    state, addon = _options_addon(monkeypatch, tmp_path)
    with taddons.context(addon) as tctx:
        configure_all(tctx, addon)
        with pytest.raises(exceptions.OptionsError, match="event_sampling_rate"):
            tctx.configure(addon, event_sampling_rate="2")
        assert tctx.options.event_sampling_rate == "1.0"
        assert state.settings.event_sampling_rate == 1.0
        tctx.configure(addon, event_sampling_rate="0.1")
        assert state.settings.event_sampling_rate == 0.1


def test_bad_file_refuses_to_configure(monkeypatch, tmp_path):
    state, addon = _options_addon(monkeypatch, tmp_path, "store: mongo\n")
    with taddons.context(addon) as tctx:
        with pytest.raises(exceptions.OptionsError, match="store: expected one of"):
            configure_all(tctx, addon)
        assert state.settings is None and not state.ready


def test_masker_config_option_loads_another_file(monkeypatch, tmp_path):
    state, addon = _options_addon(monkeypatch, tmp_path)
    other = tmp_path / "team.yaml"
    other.write_text("targets: ['*.example.net']\nallow_values: ['10.0.0.1']\n")
    with taddons.context(addon) as tctx:
        configure_all(tctx, addon)
        tctx.configure(addon, masker_config=str(other))
        assert state.settings.targets == ("*.example.net",)
        assert state.settings.allow_values == ("10.0.0.1",)
        # keys set in the same update win over the file
        third = tmp_path / "third.yaml"
        third.write_text("event_batch_size: 50\nmapping_ttl: 120\n")
        tctx.configure(addon, masker_config=str(third), event_batch_size=3)
        assert state.settings.event_batch_size == 3
        assert state.settings.mapping_ttl == 120


@pytest.mark.parametrize("value", [
    "a.com,b.com", "a.com, b.com", ["a.com,b.com"], ["a.com", "b.com"], ["a.com", " b.com ,"],
    ["a.com", "b.com", "a.com"],
])
def test_a_list_is_the_same_however_it_is_written(value):
    assert config.validate({"targets": value}).targets == ("a.com", "b.com")


@pytest.mark.parametrize("value", [[], "", ",", [" "]])
def test_an_empty_target_list_is_an_error(value):
    with pytest.raises(config.ConfigError, match="targets: the list is empty"):
        config.validate({"targets": value})


def test_a_key_given_twice_in_the_file_is_an_error(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text("targets: [a.com]\nstore: memory\ntargets: [b.com]\n")
    with pytest.raises(config.ConfigError, match=r"key 'targets' is given twice \(lines 1 and 3\)"):
        config.load_file(f)


def test_config_source_order(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(config.CONFIG_ENV, raising=False)
    assert config.config_source("") == ("", "")
    (tmp_path / "masker.yaml").write_text("")
    assert config.config_source("") == (str(tmp_path / "masker.yaml"), "working directory")
    monkeypatch.setenv(config.CONFIG_ENV, "env.yaml")
    assert config.config_source("") == (str(tmp_path / "env.yaml"), "$AWS_MASKER_CONFIG")
    assert config.config_source("opt.yaml") == (str(tmp_path / "opt.yaml"),
                                                "masker_config option")


def test_tunnelled_targets():
    from awsmasker.options import tunnelled_targets

    assert tunnelled_targets(["api.anthropic.com"], [], []) == []
    assert [t for t, _ in tunnelled_targets(["api.anthropic.com"], ["anthropic"], [])] == [
        "api.anthropic.com"]
    assert tunnelled_targets(["api.anthropic.com"], [], [r"^api\.anthropic\.com:443$"]) == []
    assert [t for t, _ in tunnelled_targets(["a.com", "*.b.com"], [], [r"^a\.com"])] == ["*.b.com"]
    assert [t for t, _ in tunnelled_targets(["bedrock-runtime.*.amazonaws.com"], ["amazonaws"],
                                            [])] == ["bedrock-runtime.*.amazonaws.com"]


def test_set_values_survive_a_refused_live_config_change(monkeypatch, tmp_path):
    """A refused live change of masker_config makes mitmproxy configure again with the old
    path; nothing may change then (it used to re-read the start-up file over --set values)."""
    state, addon = _options_addon(monkeypatch, tmp_path, "targets: [from.file]\n")
    with taddons.context(addon) as tctx:
        configure_all(tctx, addon)
        tctx.configure(addon, targets=["from.set"])
        assert state.settings.targets == ("from.set",)
        bad = tmp_path / "bad.yaml"
        bad.write_text("store: mongo\n")
        with pytest.raises(exceptions.OptionsError, match="store: expected one of"):
            tctx.configure(addon, masker_config=str(bad))
        assert state.settings.targets == ("from.set",)
        assert tctx.options.targets == ["from.set"]
        good = tmp_path / "good.yaml"
        good.write_text("targets: [other.file]\nevent_batch_size: 4\n")
        tctx.configure(addon, masker_config=str(good))
        assert state.settings.targets == ("from.set",)  # set as an option: wins over files
        assert state.settings.event_batch_size == 4
        assert tctx.options.event_batch_size == 4  # the options show the values in force


def test_an_empty_list_set_live_is_refused(monkeypatch, tmp_path):
    state, addon = _options_addon(monkeypatch, tmp_path)
    with taddons.context(addon) as tctx:
        configure_all(tctx, addon)
        with pytest.raises(exceptions.OptionsError, match="targets: the list is empty"):
            tctx.configure(addon, targets=[])
        assert state.settings.targets == ("api.anthropic.com",)


def test_readme_table_lists_every_key_with_its_default():
    """The README's configuration table and config.KEYS say the same."""
    import re

    readme = (ROOT / "README.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| `([^`]*)` \|", readme, flags=re.M))

    def shown(key: config.Key) -> str:
        if key.kind is list:
            return "[" + ", ".join(key.default) + "]"
        if key.kind is bool:
            return str(key.default).lower()
        if key.kind is str:
            return key.default or '""'
        return str(key.default)

    assert {name: rows.get(name) for name in config.KEYS_BY_NAME} == {
        k.name: shown(k) for k in config.KEYS}
