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
