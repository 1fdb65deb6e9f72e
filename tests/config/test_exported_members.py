"""The public surface of ``zalogate.config`` (other layers code against these names)."""

from __future__ import annotations

import inspect

import zalogate.config as config


def test_contract_names_are_exported() -> None:
    for name in (
        "ConfigError",
        "ZalogateConfig",
        "ZaloConfig",
        "ZalouserConfig",
        "ResolvedAccount",
        "load_config",
        "parse_config",
        "state_dir",
        "config_path",
        "normalize_account_id",
        "resolve_accounts",
        "default_account_id",
    ):
        assert name in config.__all__
        assert hasattr(config, name)


def test_everything_in_all_exists() -> None:
    for name in config.__all__:
        assert hasattr(config, name), name


def test_contract_signatures() -> None:
    assert list(inspect.signature(config.load_config).parameters) == ["path", "env"]
    assert list(inspect.signature(config.parse_config).parameters)[:3] == [
        "data",
        "env",
        "source",
    ]
    assert list(inspect.signature(config.state_dir).parameters) == ["config", "env"]
    assert list(inspect.signature(config.config_path).parameters) == ["explicit", "env"]
    assert list(inspect.signature(config.resolve_accounts).parameters)[:2] == ["config", "channel"]
    fields = list(config.ResolvedAccount.__dataclass_fields__)
    assert fields == [
        "channel",
        "account_id",
        "enabled",
        "is_default",
        "settings",
        "own",
        "base",
        "name",
    ]


def test_config_error_carries_every_problem() -> None:
    error = config.ConfigError(["a.b: x", "c: y", "a.b: x"])
    assert error.problems == ["a.b: x", "c: y"]
    assert str(error) == "a.b: x\nc: y"
