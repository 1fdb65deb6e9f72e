"""Rules across keys: open DM needs "*", webhook secret with URL, account ids, agent argv."""

from __future__ import annotations

from typing import Any

import pytest

from zalogate.config import ConfigError, parse_config


def problems_of(data: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env=env or {}, plugin_ids=[])
    return caught.value.problems


@pytest.mark.parametrize("channel", ["zalo", "zalouser"])
def test_open_dm_policy_requires_a_wildcard(channel: str) -> None:
    assert problems_of({"channels": {channel: {"dmPolicy": "open", "allowFrom": ["123"]}}}) == [
        f'channels.{channel}.allowFrom: dmPolicy "open" requires "*" in allowFrom'
    ]
    parse_config({"channels": {channel: {"dmPolicy": "open", "allowFrom": ["*"]}}}, env={})


def test_open_dm_policy_in_an_account_is_reported_at_the_account() -> None:
    problems = problems_of(
        {"channels": {"zalo": {"allowFrom": ["1"], "accounts": {"Shop": {"dmPolicy": "open"}}}}}
    )
    assert problems == [
        'channels.zalo.accounts.Shop.allowFrom: dmPolicy "open" requires "*" in allowFrom'
    ]


def test_open_dm_policy_inherits_the_wildcard_from_the_top_level() -> None:
    parse_config(
        {"channels": {"zalouser": {"allowFrom": ["*"], "accounts": {"a": {"dmPolicy": "open"}}}}},
        env={},
    )


def test_rules_skip_disabled_accounts() -> None:
    parse_config(
        {"channels": {"zalo": {"accounts": {"parked": {"enabled": False, "dmPolicy": "open"}}}}},
        env={},
    )
    parse_config({"channels": {"zalo": {"enabled": False, "dmPolicy": "open"}}}, env={})


def test_webhook_url_requires_a_secret() -> None:
    problems = problems_of(
        {"channels": {"zalo": {"botToken": "1:x", "webhookUrl": "https://x.example/hook"}}}
    )
    assert problems == ["channels.zalo.webhookSecret: required when webhookUrl is set"]


def test_webhook_secret_may_come_from_the_top_level() -> None:
    parse_config(
        {
            "channels": {
                "zalo": {
                    "webhookSecret": "top-level-secret",
                    "accounts": {
                        "a": {"botToken": "1:a", "webhookUrl": "https://x.example/a"},
                        "b": {"botToken": "1:b", "webhookUrl": "https://x.example/b"},
                    },
                }
            }
        },
        env={},
    )


def test_two_accounts_cannot_share_a_webhook_path_and_secret() -> None:
    problems = problems_of(
        {
            "channels": {
                "zalo": {
                    "webhookSecret": "top-level-secret",
                    "webhookUrl": "https://x.example/hook",
                    "accounts": {"a": {"botToken": "1:a"}, "b": {"botToken": "1:b"}},
                }
            }
        }
    )
    assert problems == [
        "channels.zalo.webhookSecret: account 'a' uses the same webhook path '/hook' and the"
        " same secret: requests could not be told apart (give each account its own secret"
        " or path)"
    ]
    assert all("top-level-secret" not in p for p in problems)


def test_two_accounts_may_share_a_webhook_path_with_their_own_secrets() -> None:
    config = parse_config(
        {
            "channels": {
                "zalo": {
                    "webhookUrl": "https://x.example/hook",
                    "accounts": {
                        "a": {"botToken": "1:a", "webhookSecret": "secret-of-a"},
                        "b": {"botToken": "1:b", "webhookSecret": "secret-of-b"},
                    },
                }
            }
        },
        env={},
        plugin_ids=[],
    )
    assert config.channels.zalo is not None
    assert sorted(config.channels.zalo.accounts or {}) == ["a", "b"]


def test_account_keys_that_normalise_to_the_same_id_are_an_error() -> None:
    problems = problems_of({"channels": {"zalo": {"accounts": {"Work": {}, "work ": {}}}}})
    assert problems == [
        "channels.zalo.accounts.work : same account id 'work' as 'Work' (ids are case-insensitive)"
    ]


def test_default_account_must_name_an_account() -> None:
    problems = problems_of(
        {"channels": {"zalouser": {"defaultAccount": "home", "accounts": {"work": {}}}}}
    )
    assert problems == ["channels.zalouser.defaultAccount: no account 'home' in accounts"]


def test_default_account_matches_case_insensitively() -> None:
    parse_config(
        {"channels": {"zalouser": {"defaultAccount": "WORK", "accounts": {"Work": {}}}}}, env={}
    )


def test_command_agent_needs_argv() -> None:
    assert problems_of({"agent": {"type": "command"}}) == [
        'agent.command.argv: required when agent.type is "command"'
    ]
    config = parse_config({"agent": {"type": "command", "command": {"argv": ["cat"]}}}, env={})
    assert config.agent.command.argv == ["cat"]


def test_three_independent_mistakes_are_three_problems() -> None:
    problems = problems_of(
        {
            "gateway": {"port": 99999},
            "channels": {
                "zalo": {"accounts": {"work": {"webhookSecret": "short"}}},
                "zalouser": {"dmPolicy": "open"},
            },
        }
    )
    assert sorted(problems) == [
        "channels.zalo.accounts.work.webhookSecret: must be 8-256 characters",
        'channels.zalouser.allowFrom: dmPolicy "open" requires "*" in allowFrom',
        "gateway.port: must be <= 65535",
    ]


def test_agents_and_bindings_name_the_key_path_of_every_mistake() -> None:
    problems = problems_of(
        {
            "agent": {"type": "http", "http": {"url": "https://n8n.example/webhook/x"}},
            "agents": {
                "list": [
                    {"id": "sales", "type": "command"},
                    {"id": "Sales", "default": True},
                    {"id": "x", "default": True, "type": "python"},
                    {"id": "bad id"},
                ]
            },
            "bindings": [
                {"agentId": "nobody", "match": {"channel": "zalo"}},
                {"agentId": "sales", "match": {"channel": "telegram", "accountId": "*"}},
                {"agentId": "x", "match": {"channel": "zalo", "peer": {"kind": "dm", "id": "1"}}},
            ],
        }
    )
    assert problems == [
        'agent.http.secret: required when agent.type is "http" (it signs every request)',
        'agents.list[0].command.argv: required when agents.list[0].type is "command"',
        "agents.list[1].id: same id 'Sales' as agents.list[0] (ids are unique)",
        'agents.list[2].python.app: required when agents.list[2].type is "python"',
        "agents.list[2].default: only one agent may be the default (agents.list[1] already is)",
        "agents.list[3].id: 1-64 letters, digits, '-' or '_' (it is part of session keys)",
        "bindings[0].agentId: no agent 'nobody' (known: main, sales, x, bad id)",
        "bindings[1].match.channel: unknown channel 'telegram' (known: zalo, zalouser)",
        "bindings[2].match.peer.kind: must be 'direct' or 'group'",
    ]


def test_a_complete_multi_agent_config_is_valid() -> None:
    config = parse_config(
        {
            "agents": {
                "list": [
                    {
                        "id": "sales",
                        "default": True,
                        "type": "openai",
                        "openai": {"model": "gpt-4o-mini", "systemPrompt": "Sell."},
                    },
                    {
                        "id": "support",
                        "type": "http",
                        "http": {
                            "url": "https://n8n.example/webhook/zalo",
                            "secret": "s3cret",
                            "timeoutSeconds": 20,
                            "retries": 3,
                        },
                    },
                ]
            },
            "bindings": [
                {"agentId": "support", "match": {"channel": "zalo", "accountId": "help"}},
                {"agentId": "sales", "match": {"channel": "zalo", "accountId": "*"}},
            ],
        },
        env={},
    )
    assert [a.id for a in config.agents.entries] == ["sales", "support"]
    assert config.bindings[0].match.account_id == "help"
