"""Account resolution: ids, merge, default-account rule, implicit zalo default, enabled."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zalogate.config import (
    default_account_id,
    normalize_account_id,
    parse_config,
    resolve_accounts,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("work", "work"),
        ("  Work  ", "work"),
        ("Work Phone", "work-phone"),
        ("a//b..c", "a-b-c"),
        ("--edge--", "edge"),
        ("___", "___"),
        ("", "default"),
        (None, "default"),
        ("!!!", "default"),
        ("Tiếng Việt", "ti-ng-vi-t"),
        ("x" * 80, "x" * 64),
        ("a" * 63 + "-b", "a" * 63),
    ],
)
def test_normalize_account_id(raw: str | None, expected: str) -> None:
    assert normalize_account_id(raw) == expected


def accounts(channels: dict[str, Any], channel: str, env: dict[str, str] | None = None) -> Any:
    config = parse_config({"channels": channels}, env=env or {})
    return resolve_accounts(config, channel)


def test_a_channel_that_is_not_written_has_no_accounts() -> None:
    # zalo is the exception only when ZALO_BOT_TOKEN is set (next test).
    config = parse_config({}, env={})
    assert resolve_accounts(config, "zalo") == []
    assert resolve_accounts(config, "zalouser") == []
    assert default_account_id(config, "zalo") == "default"
    blank = parse_config({}, env={"ZALO_BOT_TOKEN": "  \n"})
    assert resolve_accounts(blank, "zalo") == []


def test_zalo_without_a_section_has_one_default_account_from_the_environment() -> None:
    """Scenario 39 (env part): only ZALO_BOT_TOKEN -> ``default``, nothing else."""
    config = parse_config(
        {"channels": {"defaults": {"groupPolicy": "open"}}}, env={"ZALO_BOT_TOKEN": " 1:x "}
    )
    (account,) = resolve_accounts(config, "zalo")
    assert (account.account_id, account.is_default, account.enabled) == ("default", True, True)
    assert (account.settings, account.own, account.base) == ({}, {}, {})
    assert "1:x" not in repr(account)
    assert resolve_accounts(config, "zalouser") == []  # zalouser never comes from the env
    assert default_account_id(config, "zalo") == "default"
    # The explicit env argument wins over the load environment, both ways.
    assert resolve_accounts(config, "zalo", env={}) == []
    bare = parse_config({}, env={})
    assert [a.account_id for a in resolve_accounts(bare, "zalo", env={"ZALO_BOT_TOKEN": "2"})] == [
        "default"
    ]


def test_a_written_zalo_section_with_enabled_false_still_disables_the_env_account() -> None:
    config = parse_config({"channels": {"zalo": {"enabled": False}}}, env={"ZALO_BOT_TOKEN": "1"})
    (account,) = resolve_accounts(config, "zalo")
    assert (account.account_id, account.enabled) == ("default", False)


def test_without_an_accounts_map_there_is_one_default_account() -> None:
    (account,) = accounts({"zalouser": {"dmPolicy": "allowlist", "allowFrom": ["1"]}}, "zalouser")
    assert account.account_id == "default"
    assert account.is_default is True
    assert account.enabled is True
    assert account.settings == {"dmPolicy": "allowlist", "allowFrom": ["1"]}
    assert account.own == {}
    assert account.base == {"dmPolicy": "allowlist", "allowFrom": ["1"]}


def test_an_empty_accounts_map_also_means_one_default_account() -> None:
    (account,) = accounts({"zalouser": {"accounts": {}}}, "zalouser")
    assert account.account_id == "default"


def test_accounts_override_top_level_keys_and_inherit_the_rest() -> None:
    result = accounts(
        {
            "zalouser": {
                "dmPolicy": "pairing",
                "historyLimit": 10,
                "defaultAccount": "b",
                "accounts": {"a": {"historyLimit": 3}, "b": {}},
            }
        },
        "zalouser",
    )
    by_id = {a.account_id: a for a in result}
    assert by_id["a"].settings == {"dmPolicy": "pairing", "historyLimit": 3}
    assert by_id["a"].own == {"historyLimit": 3}
    assert by_id["b"].settings == {"dmPolicy": "pairing", "historyLimit": 10}
    for account in result:
        assert "accounts" not in account.settings
        assert "defaultAccount" not in account.settings


def test_settings_use_camel_case_keys_as_written_without_defaults() -> None:
    (account,) = accounts({"zalo": {"botToken": "1:x", "mediaMaxMb": 3}}, "zalo")
    assert account.settings == {"botToken": "1:x", "mediaMaxMb": 3}


def test_account_keys_are_matched_case_insensitively() -> None:
    result = accounts(
        {"zalouser": {"defaultAccount": "Work", "accounts": {"Work": {"profile": "w"}}}},
        "zalouser",
    )
    assert [(a.account_id, a.is_default, a.own) for a in result] == [
        ("work", True, {"profile": "w"})
    ]


def test_default_account_rule_explicit_then_default_then_first_sorted() -> None:
    explicit = accounts(
        {"zalouser": {"defaultAccount": "b", "accounts": {"a": {}, "b": {}, "default": {}}}},
        "zalouser",
    )
    assert [a.account_id for a in explicit] == ["b", "a", "default"]
    assert [a.is_default for a in explicit] == [True, False, False]

    present = accounts({"zalouser": {"accounts": {"z": {}, "default": {}, "a": {}}}}, "zalouser")
    assert [a.account_id for a in present] == ["default", "a", "z"]

    first = accounts({"zalouser": {"accounts": {"zeta": {}, "Alpha": {}}}}, "zalouser")
    assert [a.account_id for a in first] == ["alpha", "zeta"]
    assert first[0].is_default is True


def test_default_account_id_follows_the_same_rule() -> None:
    config = parse_config({"channels": {"zalouser": {"accounts": {"b": {}, "a": {}}}}}, env={})
    assert default_account_id(config, "zalouser") == "a"


def test_enabled_needs_both_channel_and_account() -> None:
    result = accounts({"zalouser": {"accounts": {"on": {}, "off": {"enabled": False}}}}, "zalouser")
    assert {a.account_id: a.enabled for a in result} == {"off": False, "on": True}
    disabled_channel = accounts(
        {"zalouser": {"enabled": False, "accounts": {"on": {"enabled": True}}}}, "zalouser"
    )
    assert [a.enabled for a in disabled_channel] == [False]


def test_zalo_implicit_default_account_from_a_top_level_token() -> None:
    result = accounts(
        {"zalo": {"botToken": "1:top", "accounts": {"work": {"botToken": "2:w"}}}}, "zalo"
    )
    assert [(a.account_id, a.is_default) for a in result] == [("default", True), ("work", False)]
    assert result[0].own == {}
    assert result[0].settings["botToken"] == "1:top"


def test_zalo_implicit_default_account_from_a_top_level_token_file() -> None:
    result = accounts({"zalo": {"tokenFile": "/t", "accounts": {"work": {}}}}, "zalo")
    assert [a.account_id for a in result] == ["default", "work"]


def test_zalo_implicit_default_account_from_the_environment() -> None:
    section = {"zalo": {"accounts": {"work": {"botToken": "2:w"}}}}
    assert [a.account_id for a in accounts(section, "zalo", env={"ZALO_BOT_TOKEN": "9:env"})] == [
        "default",
        "work",
    ]
    assert [a.account_id for a in accounts(section, "zalo", env={"ZALO_BOT_TOKEN": "  "})] == [
        "work"
    ]
    assert [a.account_id for a in accounts(section, "zalo")] == ["work"]


def test_resolve_accounts_env_argument_overrides_the_load_environment() -> None:
    config = parse_config({"channels": {"zalo": {"accounts": {"w": {}}}}}, env={})
    ids = [a.account_id for a in resolve_accounts(config, "zalo", env={"ZALO_BOT_TOKEN": "1:x"})]
    assert ids == ["default", "w"]


def test_zalouser_has_no_implicit_default_account() -> None:
    result = accounts({"zalouser": {"profile": "p", "accounts": {"work": {}}}}, "zalouser")
    assert [a.account_id for a in result] == ["work"]


def test_a_blank_token_in_an_account_is_kept_in_own_to_block_inheritance() -> None:
    result = accounts(
        {"zalo": {"botToken": "1:top", "accounts": {"work": {"botToken": ""}}}}, "zalo"
    )
    work = next(a for a in result if a.account_id == "work")
    assert work.own == {"botToken": ""}
    assert work.settings["botToken"] == ""
    assert work.base["botToken"] == "1:top"


def test_null_values_do_not_override_inherited_ones() -> None:
    (account,) = accounts(
        {"zalouser": {"dmPolicy": "allowlist", "accounts": {"a": {"dmPolicy": None}}}}, "zalouser"
    )
    assert account.settings["dmPolicy"] == "allowlist"
    assert account.own == {}


def test_name_is_trimmed_and_inherited() -> None:
    result = accounts(
        {"zalouser": {"name": " Shop ", "accounts": {"a": {}, "b": {"name": "B"}}}}, "zalouser"
    )
    assert {a.account_id: a.name for a in result} == {"a": "Shop", "b": "B"}


def test_secrets_are_plain_strings_in_settings_but_hidden_from_repr() -> None:
    (account,) = accounts(
        {
            "zalo": {
                "botToken": "1:SECRET",
                "webhookUrl": "https://x.example/h",
                "webhookSecret": "0123456789",
            }
        },
        "zalo",
    )
    assert account.settings["botToken"] == "1:SECRET"
    assert account.settings["webhookSecret"] == "0123456789"
    assert "SECRET" not in repr(account)
    assert "0123456789" not in repr(account)


def test_third_party_plugin_accounts_resolve_the_same_way() -> None:
    config = parse_config(
        {"channels": {"tg": {"mode": "x", "accounts": {"B": {"mode": "y"}, "a": {}}}}},
        env={},
        plugin_ids=["tg"],
    )
    result = resolve_accounts(config, "tg")
    assert [(a.account_id, a.settings["mode"]) for a in result] == [("a", "x"), ("b", "y")]


@given(st.text(max_size=200))
def test_normalized_ids_are_valid_and_stable(raw: str) -> None:
    account_id = normalize_account_id(raw)
    assert re.fullmatch(r"[a-z0-9_]([a-z0-9_-]{0,62}[a-z0-9_])?", account_id)
    assert normalize_account_id(account_id) == account_id
    assert normalize_account_id(raw.lower()) == account_id  # case-insensitive
