"""``channels.zalo``: the official Zalo Bot API channel (OpenClaw's keys, plus a few)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from zalogate.config.channel_fields import (
    ChannelAccountFields,
    NoticeFields,
    check_http_url,
    check_proxy_url,
    check_webhook_secret,
    check_webhook_url,
)

__all__ = ["ZaloAccountConfig", "ZaloConfig"]


class ZaloAccountConfig(ChannelAccountFields, NoticeFields):
    """One Bot API account (``channels.zalo`` top level and ``channels.zalo.accounts.<id>``)."""

    bot_token: SecretStr | None = None
    """Inline token or a SecretInput ref (resolved at load). A blank value blocks inheritance."""
    token_file: str | None = None
    """Path to a regular file holding the token; symlinks are refused."""
    webhook_url: str | None = None
    """Enables webhook mode; must be ``https://``."""
    webhook_secret: SecretStr | None = None
    """8-256 characters; required with ``webhookUrl``."""
    webhook_path: str | None = None
    """Local path the webhook is served on; default: the path of ``webhookUrl``."""
    proxy: str | None = None
    api_base_url: str | None = None
    """Default ``$ZALO_API_URL`` or ``https://bot-api.zaloplatforms.com``."""
    poll_timeout_seconds: Annotated[int | None, Field(ge=1, le=300)] = None
    """Long-poll ``timeout`` for ``getUpdates`` (default 30)."""

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return check_webhook_url(value)

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        return check_webhook_secret(value)

    @field_validator("webhook_path")
    @classmethod
    def _webhook_path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError('must start with "/"')
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        return check_proxy_url(value)

    @field_validator("api_base_url")
    @classmethod
    def _api_base_url(cls, value: str | None) -> str | None:
        check_http_url(value)
        return value


class ZaloConfig(ZaloAccountConfig):
    """``channels.zalo``: account defaults plus ``accounts`` and ``defaultAccount``."""

    accounts: dict[str, ZaloAccountConfig] | None = None
    default_account: str | None = None
