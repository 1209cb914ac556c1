"""Config files: TOML, strict, errors that name the key and its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from toy import ToyProvider
from videogw import Gateway
from videogw.config import load_config, parse_config
from videogw.errors import ConfigurationError
from videogw.testing import registry_with

GOOD = """
public_url = "https://hooks.example.com"

[providers.toy]
api_key_env = "TOY_KEY"
timeout_s = 12

[providers.toy-eu]
plugin = "toy"
base_url = "https://eu.toy.test"

[routes.dop-lite]
candidates = ["toy", "toy-eu"]
strategy = "cheapest"
retry_failed = true

[ledger]
backend = "memory"
"""


def test_a_good_file_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "videogw.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("VIDEOGW_CONFIG", str(path))
    config = load_config()
    assert config.routes["dop-lite"].candidates == ["toy", "toy-eu"]
    assert config.routes["dop-lite"].strategy == "cheapest"
    assert config.providers["toy"]["timeout_s"] == 12


def test_no_file_means_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDEOGW_CONFIG", raising=False)
    assert load_config().routes == {}


def test_an_unknown_top_level_key_is_named_with_its_line() -> None:
    with pytest.raises(ConfigurationError, match=r"cfg.toml, line 3: unknown key 'ledgr'"):
        parse_config('public_url = "https://x.example"\n\n[ledgr]\npath = "x"\n', source="cfg.toml")


def test_an_unknown_route_key_is_named_with_its_line() -> None:
    text = '[routes.dop-lite]\ncandidates = ["toy"]\nstrategy = "priority"\nretries = 3\n'
    with pytest.raises(
        ConfigurationError, match=r"cfg.toml, line 4: unknown key 'routes.dop-lite.retries'"
    ):
        parse_config(text, source="cfg.toml")


def test_a_bad_value_says_what_was_expected() -> None:
    with pytest.raises(ConfigurationError, match=r"strategy.*'priority'"):
        parse_config('[routes.x]\ncandidates = ["a"]\nstrategy = "random"\n')


def test_an_unknown_provider_setting_is_named_with_its_line() -> None:
    config = parse_config(
        GOOD.replace("timeout_s = 12", "timeout_s = 12\ntimeout = 3"), source="cfg.toml"
    )
    with (
        Gateway(config, registry=registry_with(ToyProvider)) as gateway,
        pytest.raises(
            ConfigurationError, match=r"cfg.toml, line 7: unknown key 'providers.toy.timeout'"
        ),
    ):
        gateway.provider("toy")


def test_a_second_instance_of_a_plugin_gets_its_own_settings() -> None:
    with Gateway(parse_config(GOOD), registry=registry_with(ToyProvider)) as gateway:
        eu = gateway.provider("toy-eu")
        assert isinstance(eu, ToyProvider)
        assert eu.instance == "toy-eu"
        assert eu.base_url == "https://eu.toy.test"
        assert gateway.provider("toy").base_url == "https://api.toy.test"


def test_invalid_toml_is_a_clear_error() -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        parse_config("[providers\n")


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read config file"):
        load_config(tmp_path / "absent.toml")
