"""``channels.zalouser``: a personal Zalo account (OpenClaw's keys, plus protocol overrides)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from zalogate.config.channel_fields import (
    ChannelAccountFields,
    NoticeFields,
    check_http_url,
    check_patterns,
    check_proxy_url,
)
from zalogate.config.config_model import ConfigModel

__all__ = [
    "ZalouserAccountConfig",
    "ZalouserApiHosts",
    "ZalouserCatchUp",
    "ZalouserConfig",
    "ZalouserGroupConfig",
    "ZalouserLimits",
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


class ZalouserLimits(ConfigModel):
    """``limits``: the send governor (0 turns a limit off; see ``docs/channels/zalouser.md``)."""

    messages_per_minute: Annotated[int | None, Field(ge=0)] = None
    """Messages per minute from the account (default 20)."""
    conversation_messages_per_minute: Annotated[int | None, Field(ge=0)] = None
    """Messages per minute into one conversation (default 10)."""
    strangers_per_day: Annotated[int | None, Field(ge=0)] = None
    """Distinct non-friends messaged in 24 hours (default 30)."""
    new_conversations_per_hour: Annotated[int | None, Field(ge=0)] = None
    """Conversations the account starts in an hour (default 10)."""
    backoff_seconds: Annotated[float | None, Field(gt=0)] = None
    """First pause after a rate-limit answer, doubled on each further one (default 300)."""
    max_backoff_seconds: Annotated[float | None, Field(gt=0)] = None
    """Longest pause (default 3600)."""
    max_wait_seconds: Annotated[float | None, Field(ge=0)] = None
    """How long a send waits for its turn before it fails as retryable (default 60)."""


class ZalouserCatchUp(ConfigModel):
    """``catchUp``: after each (re)connection, fetch the messages missed meanwhile."""

    enabled: bool | None = None
    """Default ``true``."""
    window_minutes: Annotated[float | None, Field(gt=0, le=10080)] = None
    """How far back a missed message is still answered (default 60 minutes)."""
    max_pages: Annotated[int | None, Field(ge=1, le=100)] = None
    """History pages asked for per kind (DMs, groups) and connection (default 10)."""


class ZalouserAccountConfig(ChannelAccountFields, NoticeFields):
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
    limits: ZalouserLimits | None = None
    catch_up: ZalouserCatchUp | None = None
    friend_requests: Literal["ignore", "accept", "pairing"] | None = None
    """Default ``ignore``; ``pairing`` accepts only people the DM policy admits."""
    friend_request_greeting: str | None = None
    """Sent to a requester once the request is accepted."""
    quote_replies: Literal["off", "groups", "all"] | None = None
    """Send the first message of a reply as a quote of the message it answers (text messages;
    default ``off``)."""
    proxy: str | None = None
    """HTTP(S) or SOCKS proxy for the account's API calls and its websocket (Zalo binds a
    session to its IP: keep one proxy per account)."""

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return check_proxy_url(value)

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
