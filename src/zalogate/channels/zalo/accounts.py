"""Accounts of the ``zalo`` channel: which accounts exist, their token and their mode.

Accounts come from ``zalogate.config.resolve_accounts`` (ids normalised, ``accounts.<id>``
overlaid on the top-level keys, default account first, an implicit ``default`` account when a
top-level token or ``ZALO_BOT_TOKEN`` exists — also when no ``channels.zalo`` section is
written, then with every setting at its default); a plain mapping such as
``{"channels": {"zalo": {...}}}`` is validated with ``parse_config`` first.

Token order (``zalo-bot-api.md`` §5.2):

1. the account's own ``botToken`` when the key is written — an explicitly blank value blocks
   every inheritance (top-level values and the environment);
2. the account's own ``tokenFile`` (a symlink is refused);
3. for the default account only, and only when it has no ``botToken`` key of its own: the
   top-level ``botToken``, then the top-level ``tokenFile``;
4. for the default account only: env ``ZALO_BOT_TOKEN`` (trimmed);
5. none.

A token's ``source`` is ``config`` | ``configFile`` | ``env`` | ``none`` and its ``status``
``available`` | ``configured_unavailable`` (a file or reference that cannot be read) |
``missing``. Neither the token nor the webhook secret ever appears in a ``repr``.
"""

from __future__ import annotations

import os
import stat
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from zalogate.channels.media import media_max_bytes
from zalogate.channels.zalo.errors import ZaloConfigError
from zalogate.config import ZalogateConfig, parse_config, resolve_accounts
from zalogate.core.notices import notice_text

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_POLL_TIMEOUT",
    "UNSUPPORTED_REPLY",
    "AccountSource",
    "RedactedSettings",
    "TokenResolution",
    "TokenSource",
    "TokenStatus",
    "ZaloAccount",
    "config_model",
    "resolve_token",
    "resolve_zalo_accounts",
    "webhook_path",
]

UNSUPPORTED_REPLY = (
    "Sorry, I can't read this kind of Zalo message (voice, video, files and some stickers do"
    " not reach me). Please send it as text or a photo."
)

DEFAULT_ACCOUNT_ID = "default"
DEFAULT_POLL_TIMEOUT = 30
_SECRET_KEYS = frozenset(
    {"botToken", "webhookSecret", "bot_token", "webhook_secret", "resolvedBotToken"}
)

TokenSource = Literal["config", "configFile", "env", "none"]
TokenStatus = Literal["available", "configured_unavailable", "missing"]
Mode = Literal["polling", "webhook"]


class AccountSource(Protocol):
    """The shape of ``zalogate.config.ResolvedAccount`` this module reads."""

    @property
    def account_id(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def is_default(self) -> bool: ...
    @property
    def settings(self) -> Mapping[str, Any]: ...
    @property
    def own(self) -> Mapping[str, Any]: ...
    @property
    def base(self) -> Mapping[str, Any]: ...
    @property
    def name(self) -> str | None: ...


class RedactedSettings(dict[str, Any]):
    """An account's merged settings; ``repr`` hides ``botToken`` and ``webhookSecret``."""

    def __repr__(self) -> str:
        shown = {k: ("***" if k in _SECRET_KEYS and v else v) for k, v in self.items()}
        return f"RedactedSettings({shown!r})"

    __str__ = __repr__


@dataclass(frozen=True, slots=True)
class TokenResolution:
    """Where an account's token came from; ``token`` is hidden from ``repr``."""

    token: str | None = field(repr=False)
    source: TokenSource
    status: TokenStatus
    detail: str | None = None

    @property
    def configured(self) -> bool:
        """True when a token was configured somewhere (even if it cannot be read)."""
        return self.status != "missing"


@dataclass(frozen=True, slots=True)
class ZaloAccount:
    """One ``zalo`` account as the channel uses it (no secret in ``repr``)."""

    account_id: str
    enabled: bool
    is_default: bool
    name: str | None
    settings: RedactedSettings = field(repr=False)
    token: TokenResolution
    section_written: bool = True
    """False when no ``channels.zalo`` section exists (the account comes from
    ``$ZALO_BOT_TOKEN`` alone): groups are then fail-closed."""

    def _get(self, key: str) -> Any:
        return _plain(self.settings.get(key))

    @property
    def webhook_url(self) -> str:
        """``webhookUrl`` trimmed ('' when unset): a non-empty value means webhook mode."""
        value = self._get("webhookUrl")
        return value.strip() if isinstance(value, str) else ""

    @property
    def webhook_secret(self) -> str:
        """``webhookSecret`` as written (not trimmed; it is compared byte for byte)."""
        value = self._get("webhookSecret")
        return value if isinstance(value, str) else ""

    @property
    def webhook_path(self) -> str | None:
        """``webhookPath``, else the path of ``webhookUrl``, normalised; None if underivable."""
        return webhook_path(self._get("webhookPath"), self.webhook_url)

    @property
    def mode(self) -> Mode:
        """``webhook`` when a ``webhookUrl`` is configured, else ``polling``."""
        return "webhook" if self.webhook_url else "polling"

    def require_webhook(self) -> tuple[str, str, str]:
        """``(url, secret, path)`` for webhook mode, checked as the reference does at start.

        Raises:
            ZaloConfigError: With the reference's messages (missing URL or secret, not HTTPS,
                a secret outside 8-256 characters, no derivable path).
        """
        url, secret, path = self.webhook_url, self.webhook_secret, self.webhook_path
        if not url or not secret:
            raise ZaloConfigError("Zalo webhookUrl and webhookSecret are required for webhook mode")
        if not url.lower().startswith("https://"):
            raise ZaloConfigError("Zalo webhook URL must use HTTPS")
        if not 8 <= len(secret) <= 256:
            raise ZaloConfigError("Zalo webhook secret must be 8-256 characters")
        if path is None:
            raise ZaloConfigError("Zalo webhookPath could not be derived")
        return url, secret, path

    @property
    def api_base_url(self) -> str | None:
        """``apiBaseUrl`` if written (else the client reads ``ZALO_API_URL``)."""
        value = self._get("apiBaseUrl")
        return value.strip() if isinstance(value, str) and value.strip() else None

    @property
    def proxy(self) -> str | None:
        """``proxy`` trimmed, None for direct connections."""
        value = self._get("proxy")
        return value.strip() if isinstance(value, str) and value.strip() else None

    @property
    def unsupported_reply(self) -> str | None:
        """``unsupportedReply``: the notice for what the agent cannot use (None: silence)."""
        return notice_text(self._get("unsupportedReply"), UNSUPPORTED_REPLY)

    @property
    def media_max_bytes(self) -> int:
        """``mediaMaxMb`` (default 5) in bytes."""
        return media_max_bytes(self._get("mediaMaxMb"))

    @property
    def poll_timeout(self) -> int:
        """``pollTimeoutSeconds`` (default 30): how long Zalo may hold a ``getUpdates``."""
        value = self._get("pollTimeoutSeconds")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return max(1, int(value))
        return DEFAULT_POLL_TIMEOUT

    @property
    def dm_policy(self) -> str:
        """``dmPolicy`` (default ``pairing``)."""
        value = self._get("dmPolicy")
        return value if isinstance(value, str) and value else "pairing"


def webhook_path(explicit: object, url: str | None) -> str | None:
    """The webhook route: ``webhookPath`` (trimmed) wins, else the URL's path.

    Normalisation: empty -> ``/``; a leading ``/`` is added; one trailing ``/`` is removed
    (except for the root). None when neither gives a path (or the URL does not parse).
    """
    raw: str | None = None
    if isinstance(explicit, str) and explicit.strip():
        raw = explicit.strip()
    elif url:
        try:
            parts = urllib.parse.urlsplit(url.strip())
        except ValueError:
            return None
        if not parts.scheme or not parts.netloc:
            return None
        raw = parts.path
    if raw is None:
        return None
    path = raw.strip() or "/"
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1] or "/"
    return path


def _plain(value: Any) -> Any:
    """A secret model value (``SecretStr``) as plain text; anything else unchanged."""
    reveal = getattr(value, "get_secret_value", None)
    return reveal() if callable(reveal) else value


def _read_token_file(raw: object) -> TokenResolution:
    if not isinstance(raw, str) or not raw.strip():
        return TokenResolution(None, "configFile", "configured_unavailable", "tokenFile is blank")
    path = Path(raw.strip()).expanduser()
    try:
        info = path.lstat()
    except OSError as exc:
        detail = f"Zalo token file {path} cannot be read ({exc.strerror or type(exc).__name__})"
        return TokenResolution(None, "configFile", "configured_unavailable", detail)
    if stat.S_ISLNK(info.st_mode):
        detail = f"Zalo token file {path} must not be a symlink"
        return TokenResolution(None, "configFile", "configured_unavailable", detail)
    if not stat.S_ISREG(info.st_mode):
        detail = f"Zalo token file {path} is not a regular file"
        return TokenResolution(None, "configFile", "configured_unavailable", detail)
    try:
        # O_NOFOLLOW: the file must not be swapped for a symlink between lstat and open.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, encoding="utf-8") as handle:
            token = handle.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        detail = f"Zalo token file {path} cannot be read ({type(exc).__name__})"
        return TokenResolution(None, "configFile", "configured_unavailable", detail)
    if not token:
        detail = f"Zalo token file {path} is empty"
        return TokenResolution(None, "configFile", "configured_unavailable", detail)
    return TokenResolution(token, "configFile", "available")


def _inline_token(value: object, env: Mapping[str, str]) -> TokenResolution:
    value = _plain(value)
    if isinstance(value, str):
        token = value.strip()
        if token:
            return TokenResolution(token, "config", "available")
        return TokenResolution(None, "none", "missing", "botToken is blank")
    if isinstance(value, Mapping) and value.get("source") == "env":
        name = value.get("id")
        token = env.get(name, "").strip() if isinstance(name, str) else ""
        if token:
            return TokenResolution(token, "env", "available")
        detail = f"botToken refers to environment variable {name!r}, which is not set"
        return TokenResolution(None, "env", "configured_unavailable", detail)
    if value is None:
        return TokenResolution(None, "none", "missing", "botToken is blank")
    return TokenResolution(None, "config", "configured_unavailable", "botToken is not a string")


def resolve_token(
    own: Mapping[str, Any],
    base: Mapping[str, Any],
    *,
    is_default: bool,
    env: Mapping[str, str] | None = None,
) -> TokenResolution:
    """An account's bot token, following the order in the module docstring."""
    environ = os.environ if env is None else env
    if "botToken" in own:
        found = _inline_token(own["botToken"], environ)
        if found.status != "missing":
            return found
        if own.get("tokenFile") is not None:
            return _read_token_file(own["tokenFile"])
        return TokenResolution(None, "none", "missing", "botToken is blank")
    if own.get("tokenFile") is not None:
        return _read_token_file(own["tokenFile"])
    if is_default:
        if base.get("botToken") is not None:
            found = _inline_token(base["botToken"], environ)
            if found.status != "missing":
                return found
        if base.get("tokenFile") is not None:
            return _read_token_file(base["tokenFile"])
        token = environ.get("ZALO_BOT_TOKEN", "").strip()
        if token:
            return TokenResolution(token, "env", "available")
    return TokenResolution(None, "none", "missing")


# --------------------------------------------------------------------------- resolution


def config_model(config: Any, env: Mapping[str, str]) -> ZalogateConfig | None:
    """The root config as a model: a plain mapping is validated first; ``None`` stays ``None``.

    Raises:
        zalogate.config.ConfigError: A plain mapping that is not a valid config.
    """
    if isinstance(config, Mapping):
        return parse_config(config, env=env, source="<zalo channel config>")
    return cast("ZalogateConfig | None", config)


def _sources(config: Any, env: Mapping[str, str]) -> tuple[list[AccountSource], bool]:
    """The accounts, and whether a ``channels.zalo`` section is written."""
    model = config_model(config, env)
    if model is None:
        return [], False
    return list(resolve_accounts(model, "zalo", env=env)), model.channels.zalo is not None


def resolve_zalo_accounts(
    config: Any, *, env: Mapping[str, str] | None = None
) -> list[ZaloAccount]:
    """Every ``zalo`` account of ``config``, default first.

    Args:
        config: The root config: a ``ZalogateConfig``, or a plain mapping that is validated
            with ``zalogate.config.parse_config`` first.
        env: Environment for ``ZALO_BOT_TOKEN`` and env references (default ``os.environ``).

    Raises:
        zalogate.config.ConfigError: A plain mapping that is not a valid config.
    """
    environ = os.environ if env is None else env
    accounts: list[ZaloAccount] = []
    sources, written = _sources(config, environ)
    for source in sources:
        settings = RedactedSettings({k: _plain(v) for k, v in source.settings.items()})
        accounts.append(
            ZaloAccount(
                account_id=source.account_id,
                enabled=source.enabled,
                is_default=source.is_default,
                name=source.name,
                settings=settings,
                token=resolve_token(
                    source.own, source.base, is_default=source.is_default, env=environ
                ),
                section_written=written,
            )
        )
    return accounts
