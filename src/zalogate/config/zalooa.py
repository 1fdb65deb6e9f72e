"""``channels.zalooa``: Zalo Official Accounts (one Zalo app, one or more OAs)."""

from __future__ import annotations

from pydantic import SecretStr, field_validator

from zalogate.config.channel_fields import ChannelAccountFields, check_http_url

__all__ = ["ZalooaAccountConfig", "ZalooaConfig"]


class ZalooaAccountConfig(ChannelAccountFields):
    """One OA (``channels.zalooa`` and ``channels.zalooa.accounts.<id>``)."""

    app_id: str | None = None
    """The Zalo app id (developer console)."""
    secret_key: SecretStr | None = None
    """The app's Secret Key (sent only in the ``secret_key`` header of the token endpoint)."""
    oa_secret_key: SecretStr | None = None
    """The OA's webhook signing key ("OA Secret Key"); unset: events are acknowledged and
    dropped (bootstrap mode, while the console's URL check runs)."""
    oa_id: str | None = None
    """The OA id; learned at login when unset."""
    webhook_path: str | None = None
    """Default ``/zalooa/<account>/webhook``."""
    redirect_uri: str | None = None
    """The console's "Official Account Callback URL"; default the gateway's
    ``/zalooa/<account>/oauth`` (must then be reachable at that public URL)."""
    paid_sends: bool | None = None
    """Allow billed consultation replies (48 h to 7 days after the user's last interaction).
    Default ``false``: such replies are dead-lettered with the reason."""
    pkce: bool | None = None
    """Add a PKCE challenge to the consent link (default ``true``)."""
    api_url: str | None = None
    """Default ``https://openapi.zalo.me`` (fakes)."""
    oauth_url: str | None = None
    """Default ``https://oauth.zaloapp.com`` (fakes)."""

    @field_validator("app_id")
    @classmethod
    def _app_id(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().isdigit():
            raise ValueError("must be the numeric app id from the Zalo developer console")
        return value

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("api_url", "oauth_url", "redirect_uri")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        check_http_url(value)
        return value


class ZalooaConfig(ZalooaAccountConfig):
    """``channels.zalooa``: account defaults plus ``accounts`` and ``defaultAccount``."""

    accounts: dict[str, ZalooaAccountConfig] | None = None
    default_account: str | None = None
