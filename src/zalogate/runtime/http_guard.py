"""Connection limits of the gateway's HTTP server: idle sockets cannot take it down.

Measured before: 1,100 sockets that sent nothing (or half a request head) held one file
descriptor each for as long as the client liked; at an open-file limit of 1,024 the server
could accept nothing more, so the webhook and ``/healthz`` stopped answering. uvicorn starts
no timer until a first request was answered, so this module adds, on its httptools protocol:

* a head deadline: a connection that has not sent a complete request head within
  ``head_timeout`` seconds of opening (or of its last answer) is closed;
* caps: at most ``max_per_client`` connections per client address and ``max_connections`` in
  all. A new connection over a cap first evicts the oldest connection of that address (or of
  anyone, for the total) that has no request in progress; if there is none, the new one is
  closed at once.

Idle keep-alive connections after an answer are closed by uvicorn's ``timeout_keep_alive``
(``idle_timeout``). The gateway takes all four from ``gateway.http`` (:func:`guard_from`).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from zalogate.config.schema import HttpLimitsConfig

__all__ = ["ConnectionGuard", "guard_from", "guarded_protocol"]


@dataclass(slots=True)
class ConnectionGuard:
    """The limits, and the open connections in opening order (shared by all of them)."""

    max_connections: int = 768
    max_per_client: int = 256
    head_timeout: float = 8.0
    idle_timeout: int = 5
    open: OrderedDict[Any, str] = field(default_factory=OrderedDict)
    per_client: dict[str, int] = field(default_factory=dict)
    evicted: int = 0
    refused: int = 0

    def admit(self, conn: _Guarded, client: str) -> bool:
        """Register ``conn``; False when it must be closed (no room could be made)."""
        if self.per_client.get(client, 0) >= self.max_per_client and not self._evict(client):
            self.refused += 1
            return False
        if len(self.open) >= self.max_connections and not self._evict(None):
            self.refused += 1
            return False
        self.open[conn] = client
        self.per_client[client] = self.per_client.get(client, 0) + 1
        return True

    def forget(self, conn: _Guarded) -> None:
        client = self.open.pop(conn, None)
        if client is not None:
            left = self.per_client.get(client, 1) - 1
            if left:
                self.per_client[client] = left
            else:
                self.per_client.pop(client, None)

    def _evict(self, client: str | None) -> bool:
        """Close the oldest connection without a request in progress (of ``client``)."""
        for conn, owner in self.open.items():
            if (client is None or owner == client) and conn.idle:
                self.forget(conn)
                conn.drop()
                self.evicted += 1
                return True
        return False


class _Guarded(HttpToolsProtocol):
    guard: ConnectionGuard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._in_request = False

    @property
    def idle(self) -> bool:
        """No request head complete and unanswered: nothing is lost by closing it."""
        return not self._in_request

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        client = self.client[0] if self.client else "?"
        if not self.guard.admit(self, client):
            self.drop()
            return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self.guard.forget(self)
        super().connection_lost(exc)

    def on_headers_complete(self) -> None:
        self._disarm()
        self._in_request = True
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        self._in_request = False
        super().on_response_complete()
        self._arm()

    def drop(self) -> None:
        """Close at once (no answer: the client sent nothing worth one)."""
        self._disarm()
        self.transport.abort()

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.guard.head_timeout, self._head_expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.drop()


def guarded_protocol(guard: ConnectionGuard) -> type[HttpToolsProtocol]:
    """The httptools protocol class bound to ``guard`` (uvicorn's ``Config(http=...)``)."""
    return type("GuardedHttpToolsProtocol", (_Guarded,), {"guard": guard})


def guard_from(settings: HttpLimitsConfig) -> ConnectionGuard:
    """The limits written under ``gateway.http``."""
    return ConnectionGuard(
        max_connections=settings.max_connections,
        max_per_client=settings.max_connections_per_client,
        head_timeout=settings.header_timeout_seconds,
        idle_timeout=settings.idle_timeout_seconds,
    )
