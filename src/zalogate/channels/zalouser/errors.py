"""Errors the ``zalouser`` channel raises to the runtime and to one-off commands.

Each carries its :class:`~zalogate.core.errors.FailureKind` (``core.errors.classify``):
``UNAUTHORIZED`` marks the account unauthorised (retried slowly: a ``channels login`` in the
meantime is picked up), ``FATAL`` stops restarts. Messages never contain cookies, the session
key or the imei.

::

    ZalouserChannelError
    ├── ZalouserConfigError (fatal)            the account's config cannot run
    ├── NeedsLoginError (unauthorized)         no saved session, or Zalo refused it
    ├── DuplicateConnectionError (fatal)       Zalo Web opened elsewhere (close 3000)
    ├── ProfileInUseError (fatal)              two accounts share one credential profile
    └── ListenerStoppedError                   the listener ended; restart with backoff
"""

from __future__ import annotations

from zalogate.core.errors import ChannelError, FailureKind

__all__ = [
    "LOGIN_HINT",
    "DuplicateConnectionError",
    "ListenerStoppedError",
    "NeedsLoginError",
    "ProfileInUseError",
    "ZalouserChannelError",
    "ZalouserConfigError",
]

LOGIN_HINT = "run: zalogate channels login --channel zalouser"


class ZalouserChannelError(ChannelError):
    """A ``zalouser`` monitor, send or lookup failed (transient unless a subclass says so)."""


class ZalouserConfigError(ZalouserChannelError, ValueError):
    """The account's config cannot run."""

    kind = FailureKind.FATAL


class NeedsLoginError(ZalouserChannelError):
    """No saved Zalo session for the account's profile, or Zalo no longer accepts it."""

    kind = FailureKind.UNAUTHORIZED

    def __init__(
        self, account_id: str, profile: str, reason: str = "no saved Zalo session"
    ) -> None:
        hint = LOGIN_HINT if account_id == "default" else f"{LOGIN_HINT} --account {account_id}"
        super().__init__(f"[{account_id}] needs QR login ({reason}; profile {profile!r}): {hint}")
        self.account_id = account_id
        self.profile = profile


class DuplicateConnectionError(ZalouserChannelError):
    """Zalo closed the listener with 3000: the account was opened in Zalo Web elsewhere.

    The account stops instead of fighting the other session for the one web listener.
    """

    kind = FailureKind.FATAL


class ProfileInUseError(ZalouserChannelError):
    """Another account of this gateway already listens with the same credential profile."""

    kind = FailureKind.FATAL


class ListenerStoppedError(ZalouserChannelError):
    """The websocket listener ended (retries exhausted, kicked, ...): restart with backoff."""
