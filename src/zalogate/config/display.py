"""The effective config as plain data for display, with every secret replaced by ``***``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import SecretBytes, SecretStr

from zalogate.config.accounts import resolve_accounts
from zalogate.config.loading import installed_channel_ids
from zalogate.config.schema import ZalogateConfig
from zalogate.config.urls import hide_userinfo

if TYPE_CHECKING:
    from zalogate.core.access_overlay import AccessOverlay

__all__ = ["REDACTED", "effective_accounts", "redacted_config"]

REDACTED = "***"
# Keys whose string values are secrets even in raw (plugin) sections and env maps.
_SECRET_KEY = re.compile(r"(token|secret|password|passwd|apikey|cookies?|zpwenk|zpwsek)$", re.I)


def redacted_config(config: ZalogateConfig) -> dict[str, Any]:
    """``config`` with defaults filled in, camelCase keys, unset values left out, secrets
    shown as ``***``."""
    data = config.model_dump(by_alias=True, exclude_none=True)
    result = _redact(data, "")
    assert isinstance(result, dict)
    return result


def effective_accounts(
    config: ZalogateConfig, overlays: Mapping[tuple[str, str], AccessOverlay] | None = None
) -> dict[str, dict[str, Any]]:
    """Per channel and account, the access settings that apply (defaults and inheritance
    resolved, the console's allowlist edits ``overlays`` merged in), secrets left out: what
    ``config show`` adds under ``accounts``."""
    from zalogate.core.access import (
        EMPTY_OVERLAY,
        LISTS,
        effective_group_policy,
        policy_from_settings,
    )
    from zalogate.core.pairing import normalize_account_id

    shown: dict[str, dict[str, Any]] = {}
    defaults = config.channels.defaults.group_policy
    for channel in sorted(installed_channel_ids()):
        try:
            accounts = resolve_accounts(config, channel)
        except Exception:  # noqa: S112 - a plugin's own section problem: validate says it
            continue
        for account in accounts:
            key = (channel, normalize_account_id(account.account_id))
            overlay = (overlays or {}).get(key, EMPTY_OVERLAY)
            try:
                policy = policy_from_settings(
                    channel, account.settings, defaults_group_policy=defaults, overlay=overlay
                )
            except ValueError:
                continue
            shown.setdefault(channel, {})[account.account_id] = {
                "enabled": account.enabled,
                "default": account.is_default,
                "dmPolicy": policy.dm_policy,
                "allowFrom": sorted(policy.allow_from),
                "groupPolicy": effective_group_policy(policy),
                "groupAllowFrom": (
                    None if policy.group_allow_from is None else sorted(policy.group_allow_from)
                ),
                "groups": sorted(policy.groups),
                "historyLimit": policy.history_limit,
            }
            if overlay.entries:
                shown[channel][account.account_id]["console"] = {
                    name: {
                        "added": sorted(overlay.added(name)),
                        "removed": sorted(overlay.blocked(name)),
                    }
                    for name in LISTS
                    if overlay.added(name) or overlay.blocked(name)
                }
    return shown


def _redact(value: Any, key: str) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return REDACTED
    if isinstance(value, Mapping):
        return {str(k): _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact(v, key) for v in value]
    if isinstance(value, str) and key and _SECRET_KEY.search(key.replace("_", "").replace("-", "")):
        return REDACTED
    if isinstance(value, str):
        return hide_userinfo(value)  # a NATS server or proxy URL with user:password@
    return value
