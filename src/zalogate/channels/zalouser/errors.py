"""Errors the ``zalouser`` channel raises to the runtime and to one-off commands.

The runtime classifies a monitor failure by duck typing (``runtime.gateway.classify_failure``):
``unauthorized`` marks the account unauthorised (retried slowly: a ``channels login`` in the
meantime is picked up), ``fatal`` stops restarts. Messages never contain cookies, the session
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


class ZalouserChannelError(Exception):
    """A ``zalouser`` monitor, send or lookup failed.

    Attributes:
        unauthorized: The account has no usable session (a QR login is needed).
        fatal: Restarting cannot help until the user acts.
    """

    unauthorized: bool = False
    fatal: bool = False


class ZalouserConfigError(ZalouserChannelError, ValueError):
    """The account's config cannot run."""

    fatal = True


class NeedsLoginError(ZalouserChannelError):
    """No saved Zalo session for the account's profile, or Zalo no longer accepts it."""

    unauthorized = True

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

    fatal = True


class ProfileInUseError(ZalouserChannelError):
    """Another account of this gateway already listens with the same credential profile."""

    fatal = True


class ListenerStoppedError(ZalouserChannelError):
    """The websocket listener ended (retries exhausted, kicked, ...): restart with backoff."""
