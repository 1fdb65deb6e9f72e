"""What the ``zalo`` config says without building the channel (``channels status``, ``doctor``).

Where an account's bot token comes from (its ``botToken``, a ``tokenFile``, or
``ZALO_BOT_TOKEN`` for the default account), the webhook settings that keep it from starting,
and the fail-closed group policy of an account that only ``ZALO_BOT_TOKEN`` gives (no
``channels.zalo`` section). Imported with the plugin: core and the standard library only.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zalogate.core.inspection import (
    ConfigFinding,
    ConfigInspector,
    policy_findings,
    setting_path,
    setting_text,
)

if TYPE_CHECKING:
    from zalogate.config import ResolvedAccount, ZalogateConfig

__all__ = ["BOT_ENV_VAR", "INSPECTOR", "ZaloConfigInspector", "credential_origin"]

BOT_ENV_VAR = "ZALO_BOT_TOKEN"


def credential_origin(account: ResolvedAccount, env: Mapping[str, str]) -> str:
    """Where a zalo account's token comes from: ``config``, ``configFile``, ``env`` or ``none``.

    The order of issue 4 (and of the channel): the account's ``botToken`` (a blank one blocks
    inheritance), its ``tokenFile``, then for the default account only the top-level
    ``botToken`` and ``tokenFile`` (unless it has a ``botToken`` key of its own) and
    ``ZALO_BOT_TOKEN``.
    """
    own, base = account.own, account.base
    if "botToken" in own:
        if _present(own.get("botToken")):
            return "config"
        return "configFile" if setting_text(own.get("tokenFile")) else "none"
    if setting_text(own.get("tokenFile")):
        return "configFile"
    if not account.is_default:
        return "none"
    if _present(base.get("botToken")):
        return "config"
    if setting_text(base.get("tokenFile")):
        return "configFile"
    return "env" if env.get(BOT_ENV_VAR, "").strip() else "none"


def _present(value: Any) -> bool:
    """A secret value (string, SecretStr or a secret reference) that is not blank."""
    reveal = getattr(value, "get_secret_value", None)
    if callable(reveal):
        value = reveal()
    if isinstance(value, str):
        return bool(value.strip())
    return isinstance(value, Mapping) and bool(value)


def _env_only(config: ZalogateConfig) -> bool:
    """No ``channels.zalo`` section: the account's token is ``ZALO_BOT_TOKEN``."""
    return config.channels.zalo is None


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


class ZaloConfigInspector(ConfigInspector):
    """The ``zalo`` plugin's :class:`~zalogate.core.inspection.ConfigInspector`."""

    def account_facts(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> dict[str, Any]:
        """Token source, polling or webhook, and the fail-closed group policy of an
        env-only account."""
        origin = credential_origin(account, env)
        facts: dict[str, Any] = {
            "configured": origin != "none",
            "mode": "webhook" if setting_text(account.settings.get("webhookUrl")) else "polling",
            "tokenSource": origin,
        }
        if _env_only(config) and not setting_text(account.settings.get("groupPolicy")):
            facts["groupPolicy"] = "allowlist"  # channels.defaults.groupPolicy does not apply
        return facts

    def account_warnings(
        self,
        config: ZalogateConfig,
        account: ResolvedAccount,
        env: Mapping[str, str],
        *,
        origin: str | None,
        policies: bool,
        token_file: bool,
    ) -> list[str]:
        """The env-only group warning, webhook settings, a missing token or token file."""
        settings = account.settings
        warnings: list[str] = []
        if policies and _env_only(config):
            warnings.append(
                f"channels.zalo is not in the config (token from {BOT_ENV_VAR}): group"
                " messages are dropped until you write channels.zalo.groupPolicy"
            )
        url = setting_text(settings.get("webhookUrl"))
        if url and not _present(settings.get("webhookSecret")):
            warnings.append(
                f"{setting_path(account, 'webhookUrl')} is set without webhookSecret: the"
                " webhook cannot start (8-256 characters)"
            )
        if url and not url.lower().startswith("https://"):
            warnings.append(f"{setting_path(account, 'webhookUrl')} must be an https:// URL")
        file_name = setting_text(account.own.get("tokenFile")) or setting_text(
            account.base.get("tokenFile")
        )
        if token_file and origin == "configFile" and file_name:
            where = setting_path(account, "tokenFile")
            file = Path(file_name).expanduser()
            if file.is_symlink():
                warnings.append(f"{where} {file_name} is a symlink and is refused")
            elif not file.is_file():
                warnings.append(f"{where} {file_name} does not exist")
        if origin == "none":
            warnings.append(
                f"no bot token for account {account.account_id} (set botToken or tokenFile"
                f" in channels.{account.channel}, or {BOT_ENV_VAR} for the default account)"
            )
        return warnings

    def doctor_findings(
        self, config: ZalogateConfig, account: ResolvedAccount, env: Mapping[str, str]
    ) -> list[ConfigFinding]:
        """The policy checks and the token check; an env-only account is fail-closed."""
        if _env_only(config):
            # Only ZALO_BOT_TOKEN: groups are fail-closed whatever the global default says.
            return [
                ConfigFinding(
                    "ok",
                    f"token from {BOT_ENV_VAR} and no channels.zalo section: group"
                    " messages are dropped (allowlist) until you write channels.zalo.groupPolicy",
                )
            ]
        return [*policy_findings(config, account), *_token_findings(account, env)]

    def login_refusal(self, channel_id: str) -> str:
        """A bot token is configured, never logged in to."""
        return (
            f"the {channel_id} channel (Zalo Bot API) uses a bot token, there is nothing to log"
            f" in to: set channels.{channel_id}.botToken or tokenFile (or {BOT_ENV_VAR}),"
            f" then check it with `zalogate channels status --channel {channel_id} --probe`"
        )


def _token_findings(account: ResolvedAccount, env: Mapping[str, str]) -> list[ConfigFinding]:
    settings, own, is_default = account.settings, account.own, account.is_default
    token = settings.get("botToken")
    if isinstance(token, str) and token.strip():
        return []
    token_file = own.get("tokenFile") if "botToken" in own else settings.get("tokenFile")
    if token_file:
        return _token_file_findings(token_file)
    if is_default and "botToken" not in own and env.get(BOT_ENV_VAR, "").strip():
        return []
    return [
        ConfigFinding(
            "warning",
            "no bot token (set botToken or tokenFile"
            + (f", or ${BOT_ENV_VAR}" if is_default else "")
            + ")",
        )
    ]


def _token_file_findings(raw: Any) -> list[ConfigFinding]:
    path = Path(str(raw)).expanduser()
    if path.is_symlink():
        return [ConfigFinding("error", f"tokenFile {path} is a symlink (refused)")]
    if not path.is_file():
        return [ConfigFinding("error", f"tokenFile {path} does not exist")]
    if _mode(path) & 0o077:
        return [
            ConfigFinding(
                "warning",
                f"tokenFile {path} is readable by other users (mode {_mode(path):04o}); "
                f"run: chmod 600 {path}",
            )
        ]
    return []


INSPECTOR = ZaloConfigInspector()
