"""OpenClaw SecretInput refs for botToken / webhookSecret / apiKey."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from zalogate.config import ConfigError, parse_config, resolve_accounts

REF = {"source": "env", "provider": "default", "id": "ZALO_BOT_TOKEN"}


def test_env_ref_resolves_at_top_level_and_in_accounts() -> None:
    config = parse_config(
        {
            "channels": {
                "zalo": {
                    "botToken": REF,
                    "accounts": {"work": {"botToken": {"source": "env", "id": "WORK_TOKEN"}}},
                }
            }
        },
        env={"ZALO_BOT_TOKEN": "111:top", "WORK_TOKEN": " 222:work \n"},
    )
    accounts = {a.account_id: a for a in resolve_accounts(config, "zalo")}
    assert accounts["default"].settings["botToken"] == "111:top"
    assert accounts["work"].settings["botToken"] == "222:work"


def test_env_ref_to_a_missing_variable_names_the_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": {"zalo": {"botToken": REF}}}, env={})
    assert caught.value.problems == [
        "channels.zalo.botToken: environment variable ZALO_BOT_TOKEN is not set"
    ]


def test_file_ref_reads_a_regular_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("a-webhook-secret\n", encoding="utf-8")
    config = parse_config(
        {
            "channels": {
                "zalo": {
                    "botToken": "1:x",
                    "webhookUrl": "https://example.com/hook",
                    "webhookSecret": {"source": "file", "id": str(secret)},
                }
            }
        },
        env={},
    )
    assert config.channels.zalo is not None
    assert config.channels.zalo.webhook_secret is not None
    assert config.channels.zalo.webhook_secret.get_secret_value() == "a-webhook-secret"


def test_relative_file_ref_is_relative_to_base_dir(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("sk-local", encoding="utf-8")
    config = parse_config(
        {"agent": {"openai": {"apiKey": {"source": "file", "id": "key"}}}},
        env={},
        base_dir=tmp_path,
    )
    assert config.agent.openai.api_key is not None
    assert config.agent.openai.api_key.get_secret_value() == "sk-local"


def test_file_ref_refuses_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.write_text("1:token", encoding="utf-8")
    link = tmp_path / "link"
    os.symlink(real, link)
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": {"zalo": {"botToken": {"source": "file", "id": str(link)}}}})
    assert caught.value.problems == [
        f"channels.zalo.botToken: secret file {link} must not be a symlink"
    ]
    assert "1:token" not in str(caught.value)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ({"source": "exec", "id": "x"}, "secret source 'exec' is not supported"),
        ({"source": "env", "provider": "vault", "id": "X"}, "provider 'vault' is not supported"),
        ({"source": "env", "id": ""}, "needs a non-empty string id"),
        ({"source": "env", "id": "X", "extra": 1}, "unknown key(s) in secret ref: extra"),
    ],
)
def test_unsupported_refs_are_clear_problems(ref: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": {"zalo": {"botToken": ref}}}, env={"X": "1"})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("channels.zalo.botToken: ")
    assert message in caught.value.problems[0]


def test_a_ref_where_refs_are_not_accepted_is_a_type_error() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": {"zalo": {"proxy": REF}}}, env={"ZALO_BOT_TOKEN": "1:x"})
    assert caught.value.problems == ["channels.zalo.proxy: must be a string (got object)"]


def test_an_unresolved_webhook_secret_ref_is_reported_once() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {
                "channels": {
                    "zalo": {
                        "botToken": "1:x",
                        "webhookUrl": "https://x.example/hook",
                        "webhookSecret": {"source": "env", "id": "HOOK_SECRET"},
                    }
                }
            },
            env={},
        )
    assert caught.value.problems == [
        "channels.zalo.webhookSecret: environment variable HOOK_SECRET is not set"
    ]
