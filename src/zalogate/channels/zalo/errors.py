"""Errors the ``zalo`` channel raises to the runtime.

The runtime classifies a monitor failure by duck typing (``runtime.gateway.classify_failure``):
``unauthorized`` marks the account unauthorised (retried slowly), ``fatal`` stops restarts.
Messages never contain the bot token or the webhook secret.
"""

from __future__ import annotations

__all__ = ["ZaloChannelError", "ZaloConfigError", "ZaloUnauthorizedError"]


class ZaloChannelError(Exception):
    """A ``zalo`` monitor or send failed.

    Attributes:
        unauthorized: Zalo refused the token (401/403).
        fatal: Restarting cannot help (the account's config is unusable).
    """

    unauthorized: bool = False
    fatal: bool = False


class ZaloConfigError(ZaloChannelError, ValueError):
    """The account's config cannot run (no token, a bad webhook URL or secret)."""

    fatal = True


class ZaloUnauthorizedError(ZaloChannelError):
    """Zalo answered 401/403: the bot token is invalid or revoked."""

    unauthorized = True
