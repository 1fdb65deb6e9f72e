"""Keys both Zalo channels share, per account: access policy, delivery, markdown."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, PlainValidator, SecretStr

from zalogate.config.config_model import ConfigModel

__all__ = [
    "AllowEntry",
    "ChannelAccountFields",
    "ChunkMode",
    "DmPolicy",
    "GroupPolicy",
    "MarkdownConfig",
    "NoticeFields",
    "check_http_url",
    "check_patterns",
    "check_proxy_url",
    "check_webhook_secret",
    "check_webhook_url",
]

DmPolicy = Literal["pairing", "allowlist", "open", "disabled"]
GroupPolicy = Literal["open", "allowlist", "disabled"]
ChunkMode = Literal["length", "newline"]


def _allow_entry(value: object) -> str | int:
    # Zalo ids exceed 2**53, so numbers are kept as Python ints (exact), never floats.
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError("must be a string or an integer id")
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


AllowEntry = Annotated[str | int, PlainValidator(_allow_entry)]
"""An ``allowFrom`` entry: a user id (string or integer), a prefixed id, ``"*"`` or a name."""


def check_http_url(value: str | None, *, schemes: tuple[str, ...] = ("http", "https")) -> None:
    """Raise ``ValueError`` unless ``value`` is an absolute URL with one of ``schemes``."""
    if value is None:
        return
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in schemes or not parts.netloc:
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"must be an absolute {wanted} URL")


def check_patterns(value: list[str] | None) -> list[str] | None:
    """Every entry of a ``mentionPatterns`` list must be a valid regular expression."""
    for index, pattern in enumerate(value or ()):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"entry {index} is not a valid regular expression: {exc}") from exc
    return value


def check_webhook_url(value: str | None) -> str | None:
    """``webhookUrl`` must be ``https://`` (Zalo only calls https webhooks)."""
    if value is not None:
        parts = urlsplit(value.strip())
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise ValueError("must be an https:// URL")
    return value


def check_webhook_secret(value: SecretStr | None) -> SecretStr | None:
    """``webhookSecret`` is 8 to 256 characters."""
    if value is not None and not 8 <= len(value.get_secret_value()) <= 256:
        raise ValueError("must be 8-256 characters")
    return value


def check_proxy_url(value: str | None) -> str | None:
    """``proxy`` is empty (direct) or an http(s)/socks URL."""
    if value is not None and value.strip():
        check_http_url(value, schemes=("http", "https", "socks4", "socks5", "socks5h"))
    return value


class MarkdownConfig(ConfigModel):
    """``markdown``: how Markdown tables are rendered for Zalo (which shows plain text)."""

    tables: Literal["off", "bullets", "code"] | None = None


class NoticeFields(ConfigModel):
    """``unsupportedReply`` of the channels that answer what the agent cannot read."""

    unsupported_reply: str | Literal[False] | None = None
    """Said once per conversation for a message kind the agent cannot use; ``false``: say
    nothing (default: a short English notice)."""


class ChannelAccountFields(ConfigModel):
    """Keys allowed at a channel's top level and under ``accounts.<id>`` in both channels.

    Every field is optional and ``None`` means "not written": an account inherits the
    top-level value, and the runtime applies the documented default.
    """

    name: str | None = None
    enabled: bool | None = None
    config_writes: bool | None = None
    markdown: MarkdownConfig | None = None
    dm_policy: DmPolicy | None = None
    """Default ``pairing``. ``open`` requires ``"*"`` in ``allowFrom``."""
    allow_from: list[AllowEntry] | None = None
    group_policy: GroupPolicy | None = None
    """Unset: ``channels.defaults.groupPolicy``, else ``open``."""
    group_allow_from: list[AllowEntry] | None = None
    history_limit: Annotated[int | None, Field(ge=0)] = None
    """Pending group history kept per group (default ``messages.groupChat.historyLimit`` or 50)."""
    media_max_mb: Annotated[float | None, Field(gt=0)] = None
    response_prefix: str | None = None
    text_chunk_limit: Annotated[int | None, Field(ge=1)] = None
    """Default 2000 (UTF-16 code units, as Zalo counts)."""
    chunk_mode: ChunkMode | None = None
    max_in_flight: Annotated[int | None, Field(ge=0)] = None
    """This account's ``messages.delivery.maxInFlight`` (sends awaiting Zalo's answer)."""
