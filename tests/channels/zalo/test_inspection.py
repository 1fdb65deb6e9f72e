"""The zalo plugin's config inspector: what ``channels status`` and ``doctor`` learn from the
config alone, without building the channel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zalogate.channels.zalo import plugin
from zalogate.channels.zalo.inspection import INSPECTOR, credential_origin
from zalogate.config import ResolvedAccount, ZalogateConfig, resolve_accounts
from zalogate.core.inspection import ConfigFinding

ENV = {"ZALO_BOT_TOKEN": "1:envtoken"}


def accounts(raw: dict[str, Any], env: dict[str, str]) -> dict[str, ResolvedAccount]:
    config = ZalogateConfig.model_validate(raw)
    return {a.account_id: a for a in resolve_accounts(config, "zalo", env=env)}


def test_the_plugin_carries_its_inspector() -> None:
    assert plugin.inspector is INSPECTOR


def test_token_origin_follows_the_channel_order() -> None:
    found = accounts(
        {
            "channels": {
                "zalo": {
                    "accounts": {
                        "default": {},
                        "work": {},
                        "file": {"tokenFile": "/nowhere"},
                        "blank": {"botToken": ""},
                    }
                }
            }
        },
        ENV,
    )
    assert credential_origin(found["default"], ENV) == "env"  # the default account only
    assert credential_origin(found["work"], ENV) == "none"
    assert credential_origin(found["file"], ENV) == "configFile"
    assert credential_origin(found["blank"], ENV) == "none"  # blank blocks inheritance


def test_env_only_account_is_fail_closed_for_groups() -> None:
    config = ZalogateConfig.model_validate({"channels": {"defaults": {"groupPolicy": "open"}}})
    [account] = resolve_accounts(config, "zalo", env=ENV)
    facts = INSPECTOR.account_facts(config, account, ENV)
    assert facts == {
        "configured": True,
        "mode": "polling",
        "tokenSource": "env",
        "groupPolicy": "allowlist",
    }
    [finding] = INSPECTOR.doctor_findings(config, account, ENV)
    assert finding.level == "ok"
    assert "group messages are dropped (allowlist)" in finding.message


def test_webhook_without_a_secret_and_a_missing_token_file_are_reported(tmp_path: Path) -> None:
    missing = tmp_path / "token.txt"
    raw = {
        "channels": {"zalo": {"tokenFile": str(missing), "webhookUrl": "https://bot.example.com/z"}}
    }
    config = ZalogateConfig.model_validate(raw)
    [account] = resolve_accounts(config, "zalo", env={})
    warnings = INSPECTOR.account_warnings(
        config, account, {}, origin="configFile", policies=True, token_file=True
    )
    assert warnings == [
        "channels.zalo.webhookUrl is set without webhookSecret: the webhook cannot start"
        " (8-256 characters)",
        f"channels.zalo.tokenFile {missing} does not exist",
    ]
    assert INSPECTOR.doctor_findings(config, account, {})[-1] == ConfigFinding(
        "error", f"tokenFile {missing} does not exist"
    )


def test_login_is_refused_with_the_token_settings_named() -> None:
    refusal = INSPECTOR.login_refusal("zalo")
    assert "uses a bot token" in refusal
    assert "channels.zalo.botToken or tokenFile (or ZALO_BOT_TOKEN)" in refusal
