"""Accounts and tokens: resolution order, blank tokens, token files, env, modes, no secret in
any repr."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zalogate.channels.media import media_max_bytes
from zalogate.channels.zalo.accounts import (
    TokenResolution,
    resolve_token,
    resolve_zalo_accounts,
    webhook_path,
)
from zalogate.config import parse_config

TOKEN = "12345689:abc-xyz-SECRET"


def accounts(section: dict[str, Any], env: dict[str, str] | None = None) -> dict[str, Any]:
    resolved = resolve_zalo_accounts({"channels": {"zalo": section}}, env=env or {})
    return {a.account_id: a for a in resolved}


def test_a_top_level_token_belongs_to_the_default_account() -> None:
    found = accounts({"botToken": TOKEN})
    default = found["default"]
    assert (default.token.token, default.token.source, default.token.status) == (
        TOKEN,
        "config",
        "available",
    )
    assert default.is_default
    assert default.mode == "polling"


def test_an_explicitly_blank_account_token_does_not_inherit() -> None:
    found = accounts({"botToken": TOKEN, "accounts": {"work": {"botToken": ""}}})
    assert found["work"].token == TokenResolution(None, "none", "missing", "botToken is blank")
    assert found["work"].token.configured is False
    assert found["default"].token.token == TOKEN  # the implicit default keeps the top level


def test_a_blank_account_token_blocks_the_environment_too() -> None:
    found = accounts({"accounts": {"default": {"botToken": ""}}}, env={"ZALO_BOT_TOKEN": TOKEN})
    assert found["default"].token.token is None


def test_a_named_account_never_uses_top_level_or_env_tokens() -> None:
    found = accounts(
        {"botToken": TOKEN, "accounts": {"work": {"dmPolicy": "allowlist"}}},
        env={"ZALO_BOT_TOKEN": "99:env-token"},
    )
    assert found["work"].token.status == "missing"
    assert found["default"].token.token == TOKEN


def test_env_token_configures_only_the_default_account() -> None:
    found = accounts({"accounts": {"work": {}}}, env={"ZALO_BOT_TOKEN": "  99:env-token  "})
    assert set(found) == {"default", "work"}
    assert (found["default"].token.token, found["default"].token.source) == (
        "99:env-token",
        "env",
    )
    assert found["work"].token.configured is False


def test_account_keys_match_case_insensitively_and_empty_accounts_inherit() -> None:
    found = accounts(
        {
            "webhookUrl": "https://example.com/hooks/zalo",
            "webhookSecret": "secret-1234",
            "accounts": {"Work": {"botToken": TOKEN}},
        }
    )
    work = found["work"]
    assert work.token.token == TOKEN
    assert work.webhook_url == "https://example.com/hooks/zalo"
    assert work.mode == "webhook"
    assert work.webhook_path == "/hooks/zalo"


def test_token_file_is_read_and_trimmed(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(f"  {TOKEN}\n")
    found = accounts({"tokenFile": str(token_file)})
    assert (found["default"].token.token, found["default"].token.source) == (TOKEN, "configFile")


def test_a_symlinked_token_file_is_refused(tmp_path: Path) -> None:
    real = tmp_path / "real-token"
    real.write_text(TOKEN)
    link = tmp_path / "token"
    link.symlink_to(real)
    token = accounts({"tokenFile": str(link)})["default"].token
    assert token.token is None
    assert token.status == "configured_unavailable"
    assert token.detail is not None
    assert "must not be a symlink" in token.detail
    assert token.configured is True


@pytest.mark.parametrize("content", [None, ""])
def test_missing_or_empty_token_files_are_configured_but_unavailable(
    tmp_path: Path, content: str | None
) -> None:
    path = tmp_path / "token"
    if content is not None:
        path.write_text(content)
    token = accounts({"tokenFile": str(path)})["default"].token
    assert (token.token, token.status) == (None, "configured_unavailable")


def test_account_token_file_wins_over_top_level_token(tmp_path: Path) -> None:
    path = tmp_path / "work-token"
    path.write_text("77:file-token")
    found = accounts({"botToken": TOKEN, "accounts": {"default": {"tokenFile": str(path)}}})
    assert found["default"].token.token == "77:file-token"


def test_resolve_token_order_for_the_default_account(tmp_path: Path) -> None:
    path = tmp_path / "t"
    path.write_text("2:file")
    env = {"ZALO_BOT_TOKEN": "3:env"}
    assert resolve_token({}, {"botToken": "1:inline"}, is_default=True, env=env).token == "1:inline"
    assert resolve_token({}, {"tokenFile": str(path)}, is_default=True, env=env).token == "2:file"
    assert resolve_token({}, {}, is_default=True, env=env).token == "3:env"
    assert resolve_token({}, {}, is_default=False, env=env).token is None


def test_a_parsed_config_model_works_like_a_mapping() -> None:
    config = parse_config({"channels": {"zalo": {"botToken": TOKEN, "name": "Shop"}}}, env={})
    [account] = resolve_zalo_accounts(config, env={})
    assert (account.token.token, account.name) == (TOKEN, "Shop")


def test_disabled_channel_or_account() -> None:
    found = accounts({"enabled": False, "botToken": TOKEN})
    assert found["default"].enabled is False
    found = accounts({"botToken": TOKEN, "accounts": {"b": {"enabled": False, "botToken": "1:x"}}})
    assert (found["default"].enabled, found["b"].enabled) == (True, False)


def test_no_section_and_no_env_token_means_no_account() -> None:
    assert resolve_zalo_accounts({"channels": {}}, env={}) == []
    assert resolve_zalo_accounts({"channels": {}}, env={"ZALO_BOT_TOKEN": "   "}) == []


def test_no_section_with_an_env_token_is_the_default_account_at_its_defaults() -> None:
    """Scenario 39 (env part), without any ``channels.zalo`` section."""
    [account] = resolve_zalo_accounts({"channels": {}}, env={"ZALO_BOT_TOKEN": f" {TOKEN}\n"})
    assert (account.account_id, account.is_default, account.enabled) == ("default", True, True)
    assert (account.token.token, account.token.source, account.token.status) == (
        TOKEN,
        "env",
        "available",
    )
    assert (account.mode, account.dm_policy, account.section_written) == (
        "polling",
        "pairing",
        False,
    )
    assert dict(account.settings) == {}
    assert TOKEN not in repr(account)
    assert accounts({}, env={"ZALO_BOT_TOKEN": TOKEN})["default"].section_written is True


def test_a_disabled_section_disables_the_env_account() -> None:
    found = accounts({"enabled": False}, env={"ZALO_BOT_TOKEN": TOKEN})
    assert (found["default"].enabled, found["default"].token.source) == (False, "env")


def test_a_named_account_never_takes_the_env_token() -> None:
    """Scenario 39: with only the env token a named account is not configured."""
    env = {"ZALO_BOT_TOKEN": TOKEN}
    found = accounts({"accounts": {"work": {}, "Shop": {"dmPolicy": "allowlist"}}}, env=env)
    assert sorted(found) == ["default", "shop", "work"]
    assert found["work"].token == TokenResolution(None, "none", "missing")
    assert found["shop"].token == TokenResolution(None, "none", "missing")
    assert (found["default"].token.token, found["default"].token.source) == (TOKEN, "env")
    assert resolve_token({}, {}, is_default=False, env=env).configured is False


def test_nothing_secret_in_any_repr() -> None:
    found = accounts(
        {
            "botToken": TOKEN,
            "webhookUrl": "https://example.com/hook",
            "webhookSecret": "webhook-secret-value",
        }
    )
    account = found["default"]
    text = repr(account) + repr(account.settings) + str(account.settings) + repr(account.token)
    assert "abc-xyz-SECRET" not in text
    assert "webhook-secret-value" not in text
    assert account.settings["botToken"] == TOKEN  # the value itself is still there to use


@pytest.mark.parametrize(
    ("explicit", "url", "path"),
    [
        ("/custom", "https://h.example/other", "/custom"),
        ("  custom/  ", None, "/custom"),
        (None, "https://h.example/hooks/zalo/", "/hooks/zalo"),
        (None, "https://h.example", "/"),
        ("", "https://h.example/x", "/x"),
        (None, None, None),
        (None, "not a url", None),
    ],
)
def test_webhook_path_resolution(explicit: str | None, url: str | None, path: str | None) -> None:
    assert webhook_path(explicit, url) == path


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 5 * 1048576),
        (0, 5 * 1048576),
        (-1, 5 * 1048576),
        ("9", 5 * 1048576),
        (30.1, 31562137),
        (1, 1048576),
    ],
)
def test_media_max_mb(value: object, expected: int) -> None:
    assert media_max_bytes(value) == expected
