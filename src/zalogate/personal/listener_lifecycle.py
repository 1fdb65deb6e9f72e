"""What the listener reports about its connection: lifecycle events and the errors that end it.

`Connected` and `Disconnected` (with a `CloseReason`) come out of the listener among the
typed events; `ListenerClosedError` ends it for good, `ListenerReplacedError` when Zalo Web
was opened elsewhere (close 3000).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from zalogate.personal.errors import ListenerError
from zalogate.personal.events import Event

__all__ = [
    "CloseReason",
    "Connected",
    "Disconnected",
    "ListenerClosedError",
    "ListenerEvent",
    "ListenerReplacedError",
]


class CloseReason(enum.Enum):
    """Why a connection ended (``Disconnected.code`` has the websocket code, if any)."""

    MANUAL = "manual"  # 1000: close() was called
    NORMAL = "normal"  # 1000/1001 sent by the server
    ABNORMAL = "abnormal"  # 1006: the socket died without a close handshake
    DUPLICATE_CONNECTION = "duplicate_connection"  # 3000: Zalo Web opened elsewhere
    KICKED = "kicked"  # 3003: the server kicked this connection
    STALE = "stale"  # watchdog: no frame and no pong
    HOST_SLEEP = "host_sleep"  # watchdog: the host slept; the socket is presumed dead
    CONNECT_FAILED = "connect_failed"  # no websocket could be opened
    REJECTED = "rejected"  # the upgrade was refused with 401/403 (cookies no longer valid)
    OTHER = "other"  # any other close code

    @classmethod
    def from_code(cls, code: int | None) -> CloseReason:
        """The reason a close code sent by the server stands for."""
        if code in (1000, 1001):
            return cls.NORMAL
        if code is None or code == 1006:
            return cls.ABNORMAL
        if code == 3000:
            return cls.DUPLICATE_CONNECTION
        if code == 3003:
            return cls.KICKED
        return cls.OTHER


@dataclass(frozen=True, slots=True)
class Connected:
    """Lifecycle event: a websocket is open and its cipher key arrived."""

    url: str
    connection: int  # 1 for the first connection, 2 after the first reconnect, ...


@dataclass(frozen=True, slots=True)
class Disconnected:
    """Lifecycle event: a connection ended; ``will_retry`` says whether another follows."""

    reason: CloseReason
    code: int | None
    detail: str
    will_retry: bool
    retry_in_s: float | None = None


ListenerEvent = Event | Connected | Disconnected


class ListenerClosedError(ListenerError):
    """The listener stopped for good (not by :meth:`Listener.close`)."""

    def __init__(self, disconnected: Disconnected) -> None:
        code = f" (code {disconnected.code})" if disconnected.code is not None else ""
        detail = f": {disconnected.detail}" if disconnected.detail else ""
        super().__init__(f"listener closed, {disconnected.reason.value}{code}{detail}")
        self.disconnected = disconnected

    @property
    def reason(self) -> CloseReason:
        """Why the last connection ended."""
        return self.disconnected.reason


class ListenerReplacedError(ListenerClosedError):
    """Close 3000: another Zalo Web session replaced this listener, which stopped instead of
    fighting over the account's one web listener.

    Close the other session (browser tab) and start a new listener to take it back.
    """
