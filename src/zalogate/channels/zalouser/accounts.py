"""``channels.zalouser`` accounts: merged settings, credential profile, hosts, limits.

Each account logs in with the credentials of one *profile* (a file in the state dir, see
:mod:`.credentials`). The profile is, in order: the account's ``profile`` key,
``$ZALOUSER_PROFILE``, ``$ZCA_PROFILE``, the account id (for accounts other than
``default``), else ``default``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from zalogate.channels.media import media_max_bytes
from zalogate.channels.zalouser.catch_up import CatchUpOptions
from zalogate.channels.zalouser.governor import SendLimits
from zalogate.config import ZalogateConfig, resolve_accounts
from zalogate.config.accounts import plain_section
from zalogate.core.notices import notice_text
from zalogate.personal.session import DEFAULT_CLIENT_VERSION, Endpoints

__all__ = [
    "DEFAULT_PROFILE",
    "PROFILE_ENV_VARS",
    "UNSUPPORTED_REPLY",
    "ZalouserAccount",
    "resolve_profile",
    "resolve_zalouser_accounts",
]

DEFAULT_PROFILE = "default"
UNSUPPORTED_REPLY = (
    "Sorry, I can't read this kind of Zalo message yet. Please send it as text, a photo or a file."
)
PROFILE_ENV_VARS = ("ZALOUSER_PROFILE", "ZCA_PROFILE")


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def resolve_profile(
    account_id: str, settings: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[str, str]:
    """The credential profile of an account and where it came from.

    Returns:
        ``(profile, source)``; source is ``config``, ``ZALOUSER_PROFILE``, ``ZCA_PROFILE``,
        ``accountId`` or ``default``.
    """
    configured = _text(settings.get("profile"))
    if configured:
        return configured, "config"
    for name in PROFILE_ENV_VARS:
        value = _text(env.get(name))
        if value:
            return value, name
    if account_id != DEFAULT_PROFILE:
        return account_id, "accountId"
    return DEFAULT_PROFILE, "default"


@dataclass(frozen=True, slots=True)
class ZalouserAccount:
    """One ``zalouser`` account as the channel sees it.

    ``settings`` is the merged camelCase account config (no secrets live there: the session is
    in the credentials file).
    """

    account_id: str
    enabled: bool
    is_default: bool
    name: str | None
    settings: dict[str, Any] = field(repr=False)
    profile: str
    profile_source: str
    endpoints: Endpoints
    client_version: int

    @property
    def dm_policy(self) -> str:
        """``dmPolicy`` (default ``pairing``)."""
        return _text(self.settings.get("dmPolicy")) or "pairing"

    @property
    def media_max_bytes(self) -> int:
        """``mediaMaxMb`` (default 5) in bytes: the cap for inbound photos and outbound media."""
        return media_max_bytes(self.settings.get("mediaMaxMb"))

    @property
    def text_limit(self) -> int:
        """``textChunkLimit`` (default 2000 UTF-16 units), never above Zalo's 2000."""
        value = self.settings.get("textChunkLimit")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 2:
            return min(value, 2000)
        return 2000

    @property
    def chunk_mode(self) -> str:
        """``chunkMode`` (``length`` or ``newline``; default ``length``)."""
        streaming = self.settings.get("streaming")
        mode = streaming.get("chunkMode") if isinstance(streaming, Mapping) else None
        mode = mode or self.settings.get("chunkMode")
        return mode if mode in ("length", "newline") else "length"

    @property
    def limits(self) -> SendLimits:
        """``limits``: the send governor's limits (key by key over the top-level ones)."""
        return SendLimits.from_settings(self.settings.get("limits"))

    @property
    def catch_up(self) -> CatchUpOptions:
        """``catchUp``: fetching the messages missed while disconnected."""
        return CatchUpOptions.from_settings(self.settings.get("catchUp"))

    def quotes(self, is_group: bool) -> bool:
        """``quoteReplies`` (``off``, ``groups``, ``all``) applies to this kind of chat."""
        mode = self.settings.get("quoteReplies")
        return mode == "all" or (mode == "groups" and is_group)

    @property
    def unsupported_reply(self) -> str | None:
        """``unsupportedReply``: the notice for kinds the agent cannot use (None: silence)."""
        return notice_text(self.settings.get("unsupportedReply"), UNSUPPORTED_REPLY)

    @property
    def proxy(self) -> str | None:
        """``proxy`` (HTTP and websocket), None for direct connections."""
        return _text(self.settings.get("proxy"))

    @property
    def mention_patterns(self) -> tuple[str, ...]:
        """``mentionPatterns`` of the account (regular expressions)."""
        value = self.settings.get("mentionPatterns")
        if isinstance(value, list | tuple):
            return tuple(str(p) for p in value if isinstance(p, str) and p)
        return ()


def _endpoints(settings: Mapping[str, Any]) -> Endpoints:
    hosts = settings.get("apiHosts")
    hosts = hosts if isinstance(hosts, Mapping) else {}
    defaults = Endpoints()
    return Endpoints(
        id_base=(_text(hosts.get("id")) or defaults.id_base).rstrip("/"),
        wpa_base=(_text(hosts.get("wpa")) or defaults.wpa_base).rstrip("/"),
        jr_base=(_text(hosts.get("jr")) or defaults.jr_base).rstrip("/"),
        ws_url_override=_text(settings.get("websocketUrl")),
    )


def resolve_zalouser_accounts(
    config: ZalogateConfig, *, env: Mapping[str, str] | None = None
) -> list[ZalouserAccount]:
    """Every ``zalouser`` account of ``config`` (default first); ``[]`` without the section."""
    environ = os.environ if env is None else env
    accounts: list[ZalouserAccount] = []
    section = plain_section(config.channels.zalouser) if config.channels.zalouser else None
    top_limits = section.get("limits") if isinstance(section, Mapping) else None
    for resolved in resolve_accounts(config, "zalouser", env=environ):
        settings = dict(resolved.settings)
        if isinstance(top_limits, Mapping) and isinstance(settings.get("limits"), Mapping):
            settings["limits"] = {**top_limits, **settings["limits"]}
        profile, source = resolve_profile(resolved.account_id, settings, environ)
        version = settings.get("clientVersion")
        accounts.append(
            ZalouserAccount(
                account_id=resolved.account_id,
                enabled=resolved.enabled,
                is_default=resolved.is_default,
                name=resolved.name,
                settings=settings,
                profile=profile,
                profile_source=source,
                endpoints=_endpoints(settings),
                client_version=version
                if isinstance(version, int) and not isinstance(version, bool)
                else DEFAULT_CLIENT_VERSION,
            )
        )
    return accounts
