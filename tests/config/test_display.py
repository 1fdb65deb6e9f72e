"""``config show`` data and the ``config init`` starter file."""

from __future__ import annotations

import json

import json5

from zalogate.config import parse_config, resolve_accounts
from zalogate.config.display import REDACTED, redacted_config
from zalogate.config.starter import STARTER_CONFIG


def test_redacted_config_hides_every_secret_and_shows_defaults() -> None:
    config = parse_config(
        {
            "agent": {"openai": {"apiKey": "sk-SECRET"}, "command": {"env": {"MY_TOKEN": "t0k"}}},
            "gateway": {"console": {"password": "SECRET-console"}},
            "channels": {
                "zalo": {
                    "botToken": "1:SECRET",
                    "accounts": {"w": {"botToken": "2:SECRET", "webhookSecret": "SECRET-hook"}},
                },
                "tg": {"apiToken": "SECRET-tg"},
            },
        },
        env={},
        plugin_ids=["tg"],
    )
    data = redacted_config(config)
    text = json.dumps(data)
    assert "SECRET" not in text
    assert "t0k" not in text
    assert data["channels"]["zalo"]["botToken"] == REDACTED
    assert data["channels"]["zalo"]["accounts"]["w"]["webhookSecret"] == REDACTED
    assert data["channels"]["tg"]["apiToken"] == REDACTED
    assert data["gateway"] == {
        "host": "127.0.0.1",
        "port": 18789,
        "logLevel": "info",
        "trustedProxies": [],
        "console": {"enabled": True, "password": REDACTED, "transcriptDays": 30},
        "http": {
            "maxConnections": 768,
            "maxConnectionsPerClient": 256,
            "headerTimeoutSeconds": 8.0,
            "idleTimeoutSeconds": 5,
        },
    }


def test_starter_config_is_valid_and_starts_no_channel() -> None:
    config = parse_config(json5.loads(STARTER_CONFIG), env={})
    assert config.channels.zalo is not None
    assert config.channels.zalouser is not None
    assert [a.enabled for a in resolve_accounts(config, "zalo")] == [False]
    assert [a.enabled for a in resolve_accounts(config, "zalouser")] == [False]
    assert config.channels.defaults.group_policy == "allowlist"
    assert "//" in STARTER_CONFIG  # commented for the reader


def test_a_password_in_a_url_is_neither_shown_nor_logged() -> None:
    from zalogate.runtime.secrets import collect_secrets

    config = parse_config(
        {
            "gateway": {
                "cluster": {
                    "nats": {"servers": ["nats://ops:n4ts-pw@10.0.0.1:4222", "nats://b:4222"]}
                }
            },
            "channels": {"zalouser": {"proxy": "http://me:pr0xy-pw@proxy.local:3128"}},
        },
        env={},
    )
    shown = json.dumps(redacted_config(config))
    assert "n4ts-pw" not in shown
    assert "pr0xy-pw" not in shown
    assert "nats://***@10.0.0.1:4222" in shown
    assert "nats://b:4222" in shown  # a URL without a login stays as it is
    found = collect_secrets(config)
    assert {"n4ts-pw", "pr0xy-pw"} <= found
    assert "ops" not in found  # a user name alone is no secret


def test_hide_userinfo_leaves_text_that_is_no_url_alone() -> None:
    from zalogate.config.urls import hide_userinfo, url_password

    assert hide_userinfo("write to ops@example.com") == "write to ops@example.com"
    assert hide_userinfo("tls://u:p@h:1/x@y") == "tls://***@h:1/x@y"
    assert url_password("nats://user@h:4222") is None
    assert url_password("nats://user:secret@h:4222") == "secret"
