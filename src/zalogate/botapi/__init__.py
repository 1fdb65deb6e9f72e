"""A standalone async client for the official Zalo Bot API.

    from zalogate.botapi import ZaloBot

    async with ZaloBot(token) as bot:
        update = await bot.get_updates(timeout=30)
        if update and update.message and update.message.text:
            await bot.send_message(update.message.chat.id, "xin chào")

This package imports nothing else from zalogate but the ``net`` plumbing (its HTTP transport
and ``UrlGuard``, re-exported here as the type of ``ZaloBot(photo_guard=...)``); errors are
described in ``errors``.
"""

from zalogate.botapi.client import (
    CAPTION_LIMIT,
    DEFAULT_BASE_URL,
    DEFAULT_TIMEOUT,
    POLL_GRACE,
    SEND_PHOTO_TIMEOUT,
    ZaloBot,
    check_response,
    resolve_base_url,
)
from zalogate.botapi.errors import (
    ApiError,
    ApiTimeoutError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnsafeUrlError,
    ZaloBotError,
)
from zalogate.botapi.models import (
    BotInfo,
    Chat,
    ChatType,
    EventName,
    Message,
    SentMessage,
    Update,
    User,
    WebhookInfo,
    to_epoch_ms,
)
from zalogate.botapi.redaction import mask_token, redact
from zalogate.net.urlguard import UrlGuard
from zalogate.text import truncate_utf16

__all__ = [
    "CAPTION_LIMIT",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "POLL_GRACE",
    "SEND_PHOTO_TIMEOUT",
    "ApiError",
    "ApiTimeoutError",
    "BadRequestError",
    "BotInfo",
    "Chat",
    "ChatType",
    "ConfigurationError",
    "ConflictError",
    "EventName",
    "InvalidRequestError",
    "MalformedResponseError",
    "Message",
    "NetworkError",
    "NotFoundError",
    "RateLimitedError",
    "RequestTimeoutError",
    "SentMessage",
    "ServerError",
    "TransportError",
    "UnauthorizedError",
    "UnsafeUrlError",
    "Update",
    "UrlGuard",
    "User",
    "WebhookInfo",
    "ZaloBot",
    "ZaloBotError",
    "check_response",
    "mask_token",
    "redact",
    "resolve_base_url",
    "to_epoch_ms",
    "truncate_utf16",
]
