"""``channels.zalouser``: a personal Zalo account (OpenClaw's keys, plus protocol overrides)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from zalogate.config.channel_fields import ChannelAccountFields, check_http_url, check_patterns
from zalogate.config.config_model import ConfigModel

__all__ = [
    "ZalouserAccountConfig",
    "ZalouserApiHosts",
    "ZalouserConfig",
    "ZalouserGroupConfig",
    "ZalouserToolPolicy",
]


class ZalouserToolPolicy(ConfigModel):
    """``groups.<key>.tools``: which agent tools a group may use."""

    allow: list[str] | None = None
    deny: list[str] | None = None


class ZalouserGroupConfig(ConfigModel):
    """``groups.<key>`` (key: group id, ``group:<id>``, ``"*"`` or a name)."""

    enabled: bool | None = None
    allow: bool | None = None
    """Legacy spelling of ``enabled``."""
    require_mention: bool | None = None
    """Unset: ``true``."""
    tools: ZalouserToolPolicy | None = None


class ZalouserApiHosts(ConfigModel):
    """Base URLs of the personal protocol's fixed hosts (for fakes and protocol drift)."""

    id: str | None = None
    """Default ``https://id.zalo.me`` (QR login)."""
    wpa: str | None = None
    """Default ``https://wpa.chat.zalo.me`` (login info, server info)."""
    jr: str | None = None
    """Default ``https://jr.chat.zalo.me`` (user info after login)."""

    @field_validator("id", "wpa", "jr")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        check_http_url(value)
        return value


class ZalouserAccountConfig(ChannelAccountFields):
    """One personal account (``channels.zalouser`` and ``channels.zalouser.accounts.<id>``)."""

    profile: str | None = None
    """Credential profile; default ``$ZALOUSER_PROFILE``, ``$ZCA_PROFILE``, the account id."""
    groups: dict[str, ZalouserGroupConfig] | None = None
    dangerously_allow_name_matching: bool | None = None
    message_prefix: str | None = None
    """Prepended to the inbound body handed to the agent."""
    mention_patterns: list[str] | None = None
    """Extra regular expressions that count as a mention of the account."""
    api_hosts: ZalouserApiHosts | None = None
    websocket_url: str | None = None
    """Overrides the listener URL the login returns (``zpw_ws``)."""
    client_version: Annotated[int | None, Field(ge=1)] = None
    """The web client's API version sent with requests (default 685)."""

    @field_validator("mention_patterns")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        return check_patterns(value)

    @field_validator("websocket_url")
    @classmethod
    def _websocket_url(cls, value: str | None) -> str | None:
        check_http_url(value, schemes=("ws", "wss"))
        return value


class ZalouserConfig(ZalouserAccountConfig):
    """``channels.zalouser``: account defaults plus ``accounts`` and ``defaultAccount``."""

    accounts: dict[str, ZalouserAccountConfig] | None = None
    default_account: str | None = None
