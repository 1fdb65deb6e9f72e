"""The strict schema: unknown keys, wrong types, enumerations and bounds name their key path."""

from __future__ import annotations

from typing import Any

import pytest

from zalogate.config import (
    ConfigError,
    ZaloAccountConfig,
    ZaloConfig,
    ZalogateConfig,
    ZalouserConfig,
    parse_config,
)
from zalogate.runtime.wiring import channel_configured as _channel_configured


def problems_of(data: dict[str, Any], env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, env=env or {}, plugin_ids=[])
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


def test_empty_config_gives_safe_defaults() -> None:
    config = parse_config({}, env={})
    assert config.gateway.host == "127.0.0.1"
    assert config.gateway.port == 18789
    assert config.gateway.state_dir is None
    assert config.gateway.log_level == "info"
    assert config.agent.type == "echo"
    assert config.session.dm_scope == "main"
    assert config.session.main_key == "main"
    assert config.channels.zalo is None
    assert config.channels.zalouser is None
    assert config.channels.defaults.group_policy is None


def test_openclaw_zalo_examples_are_accepted_unchanged() -> None:
    examples: list[dict[str, Any]] = [
        {
            "enabled": True,
            "accounts": {"default": {"botToken": "12345689:abc-xyz", "dmPolicy": "pairing"}},
        },
        {
            "webhookUrl": "https://example.com/zalo-webhook",
            "webhookSecret": "your-secret-8-plus-chars",
            "webhookPath": "/zalo-webhook",
            "botToken": "1:x",
        },
        {
            "enabled": True,
            "botToken": "12345689:abc-xyz",
            "dmPolicy": "pairing",
            "proxy": "http://proxy.local:8080",
        },
    ]
    for example in examples:
        config = parse_config({"channels": {"zalo": example}}, env={})
        assert isinstance(config.channels.zalo, ZaloConfig)


def test_every_zalo_key_of_the_reference_is_accepted_at_both_levels() -> None:
    account: dict[str, Any] = {
        "name": "Shop bot",
        "enabled": True,
        "configWrites": False,
        "markdown": {"tables": "bullets"},
        "botToken": "1:abc",
        "tokenFile": "/run/secrets/zalo",
        "webhookUrl": "https://bot.example.com/zalo",
        "webhookSecret": "s3cret-s3cret",
        "webhookPath": "/zalo",
        "dmPolicy": "allowlist",
        "allowFrom": ["123", 4567890123456789012, "zalo:42"],
        "groupPolicy": "disabled",
        "groupAllowFrom": ["*"],
        "mediaMaxMb": 2.5,
        "proxy": "socks5://127.0.0.1:1080",
        "responsePrefix": "[bot] ",
        "historyLimit": 0,
        "apiBaseUrl": "http://127.0.0.1:9999",
        "textChunkLimit": 1000,
        "chunkMode": "newline",
        "pollTimeoutSeconds": 20,
    }
    second = {**account, "webhookPath": "/zalo-2"}
    config = parse_config(
        {"channels": {"zalo": {**account, "accounts": {"x": second}, "defaultAccount": "x"}}},
        env={},
    )
    zalo = config.channels.zalo
    assert zalo is not None
    assert zalo.allow_from == ["123", 4567890123456789012, "zalo:42"]  # big ids stay exact ints
    assert zalo.accounts is not None
    assert isinstance(zalo.accounts["x"], ZaloAccountConfig)
    assert zalo.accounts["x"].media_max_mb == 2.5
    assert zalo.default_account == "x"


def test_every_zalouser_key_of_the_reference_is_accepted() -> None:
    section: dict[str, Any] = {
        "enabled": True,
        "name": "Me",
        "profile": "work",
        "markdown": {"tables": "code"},
        "configWrites": True,
        "mediaMaxMb": 10,
        "dmPolicy": "pairing",
        "allowFrom": ["zlu:1", 2],
        "groupAllowFrom": ["3"],
        "groupPolicy": "allowlist",
        "groups": {
            "123": {"requireMention": False},
            "group:456": {"enabled": True, "tools": {"allow": ["zalouser"], "deny": []}},
            "*": {"allow": True},
        },
        "dangerouslyAllowNameMatching": False,
        "historyLimit": 20,
        "messagePrefix": "[me]",
        "responsePrefix": "",
        "mentionPatterns": [r"@bot\b"],
        "textChunkLimit": 2000,
        "chunkMode": "length",
        "apiHosts": {
            "id": "http://127.0.0.1:1",
            "wpa": "http://127.0.0.1:2",
            "jr": "http://127.0.0.1:3",
        },
        "websocketUrl": "ws://127.0.0.1:4/ws",
        "clientVersion": 685,
    }
    config = parse_config(
        {"channels": {"zalouser": {**section, "accounts": {"b": {"profile": "b"}}}}}, env={}
    )
    zalouser = config.channels.zalouser
    assert isinstance(zalouser, ZalouserConfig)
    assert zalouser.groups is not None
    assert zalouser.groups["123"].require_mention is False
    assert zalouser.api_hosts is not None
    assert zalouser.api_hosts.wpa == "http://127.0.0.1:2"
    assert zalouser.client_version == 685


def test_unknown_keys_are_named_with_their_full_path_and_a_hint() -> None:
    problems = problems_of(
        {
            "gatway": {},
            "channels": {"zalo": {"accounts": {"Work": {"dmPolicyy": "open"}}}},
            "agent": {"openai": {"modle": "x"}},
        }
    )
    assert sorted(problems) == [
        "agent.openai.modle: unknown key (did you mean 'model'?)",
        "channels.zalo.accounts.Work.dmPolicyy: unknown key (did you mean 'dmPolicy'?)",
        "gatway: unknown key (did you mean 'gateway'?)",
    ]


def test_schema_key_is_allowed_at_the_root_only() -> None:
    parse_config({"$schema": "https://example.com/schema.json"}, env={})
    assert problems_of({"gateway": {"$schema": "x"}}) == ["gateway.$schema: unknown key"]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"gateway": {"port": "http"}}, "gateway.port: must be an integer (got string)"),
        ({"gateway": {"host": 5}}, "gateway.host: must be a string (got number)"),
        (
            {"channels": {"zalo": {"enabled": "yes please"}}},
            "channels.zalo.enabled: must be true or false (got string)",
        ),
        (
            {"channels": {"zalo": {"allowFrom": "123"}}},
            "channels.zalo.allowFrom: must be a list (got string)",
        ),
        (
            {"channels": {"zalo": {"allowFrom": [True]}}},
            "channels.zalo.allowFrom[0]: must be a string or an integer id",
        ),
        ({"channels": {"zalo": []}}, "channels.zalo: must be an object (got list)"),
        (
            {"channels": {"zalouser": {"groups": {"1": {"requireMention": "maybe"}}}}},
            "channels.zalouser.groups.1.requireMention: must be true or false (got string)",
        ),
        (
            {"session": {"identityLinks": {"alice": "zalo:1"}}},
            "session.identityLinks.alice: must be a list (got string)",
        ),
    ],
)
def test_wrong_types_name_the_key_path(data: dict[str, Any], expected: str) -> None:
    assert problems_of(data) == [expected]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"channels": {"zalo": {"dmPolicy": "opne"}}},
            "channels.zalo.dmPolicy: must be 'pairing', 'allowlist', 'open' or 'disabled'",
        ),
        (
            {"channels": {"zalouser": {"groupPolicy": "closed"}}},
            "channels.zalouser.groupPolicy: must be 'open', 'allowlist' or 'disabled'",
        ),
        (
            {"channels": {"defaults": {"groupPolicy": "any"}}},
            "channels.defaults.groupPolicy: must be 'open', 'allowlist' or 'disabled'",
        ),
        (
            {"channels": {"zalo": {"chunkMode": "words"}}},
            "channels.zalo.chunkMode: must be 'length' or 'newline'",
        ),
        (
            {"channels": {"zalo": {"markdown": {"tables": "html"}}}},
            "channels.zalo.markdown.tables: must be 'off', 'bullets' or 'code'",
        ),
        (
            {"session": {"dmScope": "per-user"}},
            "session.dmScope: must be 'main', 'per-peer', 'per-channel-peer' or "
            "'per-account-channel-peer'",
        ),
        (
            {"agent": {"type": "gpt"}},
            "agent.type: must be 'echo', 'openai', 'command', 'http' or 'python'",
        ),
        (
            {"agent": {"openai": {"onError": "ignore"}}},
            "agent.openai.onError: must be 'apology' or 'raise'",
        ),
        (
            {"gateway": {"logLevel": "loud"}},
            "gateway.logLevel: must be 'debug', 'info', 'warning', 'error' or 'critical'",
        ),
    ],
)
def test_enumerations_are_enforced(data: dict[str, Any], expected: str) -> None:
    assert problems_of(data) == [expected]


def test_log_level_is_case_insensitive() -> None:
    assert parse_config({"gateway": {"logLevel": "DEBUG"}}, env={}).gateway.log_level == "debug"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"gateway": {"port": -1}}, "gateway.port: must be >= 0"),
        ({"gateway": {"port": 65536}}, "gateway.port: must be <= 65535"),
        (
            {"channels": {"zalouser": {"historyLimit": -1}}},
            "channels.zalouser.historyLimit: must be >= 0",
        ),
        (
            {"channels": {"zalo": {"historyLimit": 1.5}}},
            "channels.zalo.historyLimit: must be an integer (got number)",
        ),
        ({"channels": {"zalo": {"mediaMaxMb": 0}}}, "channels.zalo.mediaMaxMb: must be > 0"),
        (
            {"channels": {"zalo": {"textChunkLimit": 0}}},
            "channels.zalo.textChunkLimit: must be >= 1",
        ),
        (
            {"channels": {"zalo": {"pollTimeoutSeconds": 0}}},
            "channels.zalo.pollTimeoutSeconds: must be >= 1",
        ),
        (
            {"channels": {"zalouser": {"clientVersion": 0}}},
            "channels.zalouser.clientVersion: must be >= 1",
        ),
        (
            {"messages": {"groupChat": {"historyLimit": -5}}},
            "messages.groupChat.historyLimit: must be >= 0",
        ),
        ({"agent": {"openai": {"temperature": 3}}}, "agent.openai.temperature: must be <= 2"),
        ({"agent": {"openai": {"timeoutSeconds": 0}}}, "agent.openai.timeoutSeconds: must be > 0"),
    ],
)
def test_numeric_bounds(data: dict[str, Any], expected: str) -> None:
    assert problems_of(data) == [expected]


def test_port_bounds_are_inclusive() -> None:
    assert parse_config({"gateway": {"port": 0}}, env={}).gateway.port == 0
    assert parse_config({"gateway": {"port": 65535}}, env={}).gateway.port == 65535


@pytest.mark.parametrize(
    "url", ["http://example.com/hook", "example.com/hook", "https://", "ftp://example.com/"]
)
def test_webhook_url_must_be_https(url: str) -> None:
    problems = problems_of(
        {"channels": {"zalo": {"botToken": "1:x", "webhookUrl": url, "webhookSecret": "12345678"}}}
    )
    assert problems == ["channels.zalo.webhookUrl: must be an https:// URL"]


@pytest.mark.parametrize("secret", ["1234567", "x" * 257])
def test_webhook_secret_length_is_8_to_256(secret: str) -> None:
    problems = problems_of(
        {"channels": {"zalo": {"accounts": {"work": {"webhookSecret": secret}}}}}
    )
    assert problems == ["channels.zalo.accounts.work.webhookSecret: must be 8-256 characters"]
    assert secret not in "\n".join(problems)


@pytest.mark.parametrize("secret", ["12345678", "x" * 256])
def test_webhook_secret_length_bounds_are_inclusive(secret: str) -> None:
    parse_config({"channels": {"zalo": {"webhookSecret": secret}}}, env={})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {"channels": {"zalo": {"webhookPath": "hook"}}},
            'channels.zalo.webhookPath: must start with "/"',
        ),
        (
            {"channels": {"zalo": {"proxy": "proxy.local:8080"}}},
            "channels.zalo.proxy: must be an absolute",
        ),
        (
            {"channels": {"zalo": {"apiBaseUrl": "bot-api"}}},
            "channels.zalo.apiBaseUrl: must be an absolute http:// or https:// URL",
        ),
        (
            {"channels": {"zalouser": {"websocketUrl": "https://x"}}},
            "channels.zalouser.websocketUrl: must be an absolute ws:// or wss:// URL",
        ),
        (
            {"channels": {"zalouser": {"apiHosts": {"id": "id.zalo.me"}}}},
            "channels.zalouser.apiHosts.id: must be an absolute",
        ),
        (
            {"channels": {"zalouser": {"mentionPatterns": ["(unclosed"]}}},
            "channels.zalouser.mentionPatterns: entry 0 is not a valid regular expression",
        ),
        (
            {"messages": {"groupChat": {"mentionPatterns": ["[a-"]}}},
            "messages.groupChat.mentionPatterns: entry 0 is not a valid regular expression",
        ),
        (
            {"agent": {"openai": {"baseUrl": "localhost:11434"}}},
            "agent.openai.baseUrl: must be an absolute",
        ),
    ],
)
def test_value_checks_name_the_key(data: dict[str, Any], expected: str) -> None:
    problems = problems_of(data)
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_empty_proxy_means_direct() -> None:
    config = parse_config({"channels": {"zalo": {"proxy": ""}}}, env={})
    assert config.channels.zalo is not None
    assert config.channels.zalo.proxy == ""


def test_every_problem_is_reported_at_once() -> None:
    problems = problems_of(
        {
            "gateway": {"port": "x", "bogus": True},
            "channels": {
                "zalo": {"dmPolicy": "nope", "webhookSecret": "short"},
                "zalouser": {"historyLimit": -1},
            },
        }
    )
    assert len(problems) == 5
    assert {p.split(":")[0] for p in problems} == {
        "gateway.port",
        "gateway.bogus",
        "channels.zalo.dmPolicy",
        "channels.zalo.webhookSecret",
        "channels.zalouser.historyLimit",
    }


def test_secrets_never_appear_in_errors_or_reprs() -> None:
    token = "9876543210:VerySecretBotToken"
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"channels": {"zalo": {"botToken": token, "webhookSecret": "tiny", "bogus": token}}},
            env={},
        )
    assert token not in str(caught.value)
    assert "tiny" not in str(caught.value)
    config = parse_config({"channels": {"zalo": {"botToken": token}}}, env={})
    assert token not in repr(config)
    assert token not in str(config.model_dump())


def test_third_party_channel_sections_are_kept_raw_for_installed_plugins() -> None:
    config = parse_config(
        {"channels": {"telegram": {"token": "${TG}", "anything": [1, 2]}}},
        env={"TG": "abc"},
        plugin_ids=["telegram"],
    )
    assert config.channels.plugin_section("telegram") == {"token": "abc", "anything": [1, 2]}


def test_unknown_channel_ids_are_errors_with_a_hint() -> None:
    assert problems_of({"channels": {"zaloo": {}}}) == [
        "channels.zaloo: unknown channel (did you mean 'zalo'? known: defaults, zalo, zalouser)"
    ]


def test_plugin_channel_section_must_be_an_object() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": {"tg": "on"}}, env={}, plugin_ids=["tg"])
    assert caught.value.problems == ["channels.tg: must be an object"]


def test_config_is_a_pydantic_model_with_snake_case_attributes() -> None:
    config = ZalogateConfig(gateway={"state_dir": "/tmp/x"})  # type: ignore[arg-type]
    assert config.gateway.state_dir == "/tmp/x"


@pytest.mark.parametrize(
    ("channels", "expected"),
    [
        ({}, {"zalo": False, "zalouser": False}),
        ({"zalo": {}}, {"zalo": True, "zalouser": False}),
        (
            {"zalo": {"enabled": False}, "zalouser": {"enabled": True}},
            {"zalo": False, "zalouser": True},
        ),
    ],
)
def test_gateway_starts_only_the_channels_written_and_enabled(
    channels: dict[str, Any], expected: dict[str, bool]
) -> None:
    config = parse_config({"channels": channels}, env={})
    for channel, configured in expected.items():
        assert _channel_configured(config.channels, channel) is configured


def test_gateway_sees_installed_plugin_sections() -> None:
    config = parse_config({"channels": {"tg": {"enabled": True}}}, env={}, plugin_ids=["tg"])
    assert _channel_configured(config.channels, "tg") is True
    assert _channel_configured(config.channels, "other") is False


def test_an_invalid_trusted_proxy_is_refused_with_the_fix() -> None:
    from zalogate.config import ConfigError, parse_config

    with pytest.raises(ConfigError) as caught:
        parse_config({"gateway": {"trustedProxies": ["10.0.0.0/8", "proxy.local"]}}, env={})
    assert caught.value.problems == [
        "gateway.trustedProxies: 'proxy.local' is not an IP address or CIDR"
        " (e.g. 127.0.0.1 or 10.0.0.0/8)"
    ]
    config = parse_config({"gateway": {"trustedProxies": ["127.0.0.1", "::1"]}}, env={})
    assert config.gateway.trusted_proxies == ["127.0.0.1", "::1"]


def test_http_limits_are_read_and_checked_with_the_fix() -> None:
    from zalogate.config import ConfigError, parse_config
    from zalogate.runtime.http_guard import guard_from

    limits = {"maxConnections": 100, "maxConnectionsPerClient": 10, "headerTimeoutSeconds": 2.5}
    config = parse_config({"gateway": {"http": {**limits, "idleTimeoutSeconds": 3}}}, env={})
    guard = guard_from(config.gateway.http)
    assert (guard.max_connections, guard.max_per_client) == (100, 10)
    assert (guard.head_timeout, guard.idle_timeout) == (2.5, 3)
    default = guard_from(parse_config({}, env={}).gateway.http)
    assert (default.max_connections, default.max_per_client, default.head_timeout) == (768, 256, 8)
    with pytest.raises(ConfigError) as caught:
        parse_config({"gateway": {"http": {"maxConnections": 10}}}, env={})
    assert caught.value.problems == [
        "gateway.http: maxConnectionsPerClient (256) is over maxConnections (10):"
        " lower it or raise maxConnections"
    ]
    with pytest.raises(ConfigError) as caught:
        parse_config({"gateway": {"http": {"headerTimeoutSeconds": 0}}}, env={})
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("gateway.http.headerTimeoutSeconds: ")
    assert "\n" not in caught.value.problems[0]


def test_delivery_limits_are_read_and_checked() -> None:
    from zalogate.config import ConfigError, parse_config

    delivery = parse_config({}, env={}).messages.delivery
    assert (delivery.max_in_flight, delivery.fsync) == (1, False)
    written = {"messages": {"delivery": {"maxInFlight": 8, "fsync": True}}}
    delivery = parse_config(written, env={}).messages.delivery
    assert (delivery.max_in_flight, delivery.fsync) == (8, True)
    with pytest.raises(ConfigError) as caught:
        parse_config({"messages": {"delivery": {"maxInFlight": -1}}}, env={})
    assert caught.value.problems[0].startswith("messages.delivery.maxInFlight: ")


def test_an_account_may_set_its_own_max_in_flight() -> None:
    from zalogate.config import ConfigError, parse_config

    written = {"channels": {"zalo": {"botToken": "1:x", "accounts": {"b": {"maxInFlight": 4}}}}}
    config = parse_config(written, env={})
    assert config.channels.zalo is not None
    assert config.channels.zalo.accounts["b"].max_in_flight == 4
    with pytest.raises(ConfigError) as caught:
        parse_config({"channels": {"zalo": {"botToken": "1:x", "maxInFlight": -2}}}, env={})
    assert caught.value.problems[0].startswith("channels.zalo.maxInFlight: ")
