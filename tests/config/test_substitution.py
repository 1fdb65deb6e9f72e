"""``${VAR}`` substitution (product-decisions: names ``[A-Z_][A-Z0-9_]*``, ``$${VAR}`` literal)."""

from __future__ import annotations

import pytest

from zalogate.config import ConfigError, parse_config
from zalogate.config.substitution import substitute_env


def test_variables_are_replaced_inline_in_nested_strings_and_lists() -> None:
    data = {"a": {"b": "${BASE}/v1", "c": ["x-${ID_1}", 5]}, "${KEY}": "kept"}
    result = substitute_env(data, {"BASE": "http://h", "ID_1": "42", "KEY": "nope"})
    assert result.data == {"a": {"b": "http://h/v1", "c": ["x-42", 5]}, "${KEY}": "kept"}
    assert [str(p) for p in result.problems] == []


def test_double_dollar_is_a_literal() -> None:
    result = substitute_env({"v": "$${HOME} and ${X}"}, {"X": "1", "HOME": "/root"})
    assert result.data == {"v": "${HOME} and 1"}


@pytest.mark.parametrize("text", ["${lower}", "${1ABC}", "$X", "${}", "price: 5$", "${A-B}"])
def test_names_outside_the_pattern_are_left_alone(text: str) -> None:
    result = substitute_env({"v": text}, {})
    assert result.data == {"v": text}
    assert [str(p) for p in result.problems] == []


def test_a_missing_variable_names_the_key_path_and_the_variable() -> None:
    result = substitute_env({"channels": {"zalo": {"allowFrom": ["${WHO}"]}}}, {})
    assert [str(p) for p in result.problems] == [
        "channels.zalo.allowFrom[0]: environment variable WHO is not set"
    ]
    assert result.failed_paths == {("channels", "zalo", "allowFrom", 0)}


def test_an_empty_variable_is_a_problem_not_a_silent_empty_string() -> None:
    result = substitute_env({"t": "${TOKEN}"}, {"TOKEN": ""})
    assert [str(p) for p in result.problems] == ["t: environment variable TOKEN is empty"]


def test_missing_variable_in_a_secret_fails_the_config_without_a_follow_up_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": {"zalo": {"webhookSecret": "${SECRET}"}}}, env={})
    # Only the substitution problem: no "must be 8-256 characters" for the unresolved text.
    assert caught.value.problems == [
        "channels.zalo.webhookSecret: environment variable SECRET is not set"
    ]


def test_substituted_values_are_validated_and_resolved() -> None:
    config = parse_config(
        {"gateway": {"port": "${PORT}"}, "channels": {"zalo": {"botToken": "${ZT}"}}},
        env={"PORT": "8080", "ZT": "123:abc"},
    )
    assert config.gateway.port == 8080
    assert config.channels.zalo is not None
    assert config.channels.zalo.bot_token is not None
    assert config.channels.zalo.bot_token.get_secret_value() == "123:abc"
