"""Account resolution and credential profiles (P38)."""

from __future__ import annotations

from typing import Any

from zalogate.channels.zalouser.accounts import resolve_profile, resolve_zalouser_accounts
from zalogate.config import parse_config


def accounts(section: dict[str, Any], env: dict[str, str] | None = None) -> list[Any]:
    config = parse_config({"channels": {"zalouser": section}}, env={})
    return resolve_zalouser_accounts(config, env=env or {})


def test_no_accounts_map_gives_the_default_account() -> None:
    (only,) = accounts({})
    assert (only.account_id, only.profile, only.profile_source) == ("default", "default", "default")


def test_accounts_are_sorted_with_the_default_account_first() -> None:
    found = accounts({"defaultAccount": "work", "accounts": {"zeta": {}, "work": {}, "alpha": {}}})
    assert [a.account_id for a in found] == ["work", "alpha", "zeta"]
    assert found[0].is_default


def test_missing_default_account_falls_back_to_the_first_sorted() -> None:
    found = accounts({"accounts": {"zeta": {}, "beta": {}}})
    assert [a.account_id for a in found] == ["beta", "zeta"]


def test_profile_precedence() -> None:
    settings = {"profile": "cfg"}
    assert resolve_profile("work", settings, {"ZALOUSER_PROFILE": "env"}) == ("cfg", "config")
    env = {"ZALOUSER_PROFILE": "zp", "ZCA_PROFILE": "zca"}
    assert resolve_profile("work", {}, env) == ("zp", "ZALOUSER_PROFILE")
    assert resolve_profile("work", {}, {"ZCA_PROFILE": "zca"}) == ("zca", "ZCA_PROFILE")
    assert resolve_profile("work", {}, {}) == ("work", "accountId")
    assert resolve_profile("default", {}, {}) == ("default", "default")


def test_account_settings_merge_hosts_and_limits() -> None:
    found = accounts(
        {
            "dmPolicy": "allowlist",
            "allowFrom": ["1"],
            "apiHosts": {"id": "http://127.0.0.1:1/"},
            "websocketUrl": "ws://127.0.0.1:2/ws",
            "clientVersion": 671,
            "accounts": {"work": {"textChunkLimit": 5000, "mediaMaxMb": 1}},
        }
    )
    (work,) = found
    assert work.dm_policy == "allowlist"
    assert work.endpoints.id_base == "http://127.0.0.1:1"
    assert work.endpoints.wpa_base == "https://wpa.chat.zalo.me"
    assert work.endpoints.ws_url_override == "ws://127.0.0.1:2/ws"
    assert work.client_version == 671
    assert work.text_limit == 2000  # never above Zalo's limit
    assert work.media_max_bytes == 1024 * 1024
