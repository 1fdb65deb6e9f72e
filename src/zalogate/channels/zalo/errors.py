"""Errors the ``zalo`` channel raises to the runtime.

Each carries its :class:`~zalogate.core.errors.FailureKind` (``core.errors.classify``):
``UNAUTHORIZED`` marks the account unauthorised (retried slowly), ``FATAL`` stops restarts.
Messages never contain the bot token or the webhook secret.
"""

from __future__ import annotations

from zalogate.core.errors import ChannelError, FailureKind

__all__ = ["ZaloChannelError", "ZaloConfigError", "ZaloUnauthorizedError"]


class ZaloChannelError(ChannelError):
    """A ``zalo`` monitor or send failed (transient unless a subclass says otherwise)."""


class ZaloConfigError(ZaloChannelError, ValueError):
    """The account's config cannot run (no token, a bad webhook URL or secret)."""

    kind = FailureKind.FATAL


class ZaloUnauthorizedError(ZaloChannelError):
    """Zalo answered 401/403: the bot token is invalid or revoked."""

    kind = FailureKind.UNAUTHORIZED
