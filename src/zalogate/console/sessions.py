"""Console sessions that survive a restart, and the password form's rate limit.

A session is stored under the SHA-256 of its cookie value (table ``console_sessions``,
migration ``0052``): reading the database does not give anyone a usable cookie. Expired rows
are deleted when the sessions are loaded. The rate limit is in memory, per client address:
after ``max_failures`` wrong passwords within ``window_s`` seconds the form answers ``429``
with ``Retry-After`` until the oldest of them is out of the window.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from zalogate.console.auth import Session
    from zalogate.store import Store

__all__ = [
    "LoginThrottle",
    "SessionRecord",
    "SessionStore",
    "SqliteSessionStore",
    "hash_cookie",
]

log = logging.getLogger("zalogate.console")

SessionRecord = tuple[str, str, str, float]
"""(key, csrf, lang, expires_at) of a stored session."""

_MAX_CLIENTS = 4096


def hash_cookie(value: str) -> str:
    """The key a session is stored under (the cookie is 32 random bytes: a plain hash fits)."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class SessionStore(Protocol):
    """Where console sessions are kept between restarts."""

    async def load(self, now: float) -> list[SessionRecord]:
        """The sessions alive at ``now`` (expired ones are forgotten)."""
        ...

    def save(self, session: Session) -> None:
        """Keep ``session`` (queued at once; durable shortly after)."""
        ...

    def delete(self, key: str) -> None:
        """Forget the session stored under ``key``."""
        ...


class SqliteSessionStore:
    """:class:`SessionStore` on the shared store (table ``console_sessions``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def load(self, now: float) -> list[SessionRecord]:
        now_ms = int(now * 1000)
        await self._store.execute(
            "DELETE FROM console_sessions WHERE expires_at_ms <= ?", (now_ms,)
        )
        rows = await self._store.fetchall(
            "SELECT key, csrf, lang, expires_at_ms FROM console_sessions ORDER BY expires_at_ms"
        )
        return [(r["key"], r["csrf"], r["lang"], r["expires_at_ms"] / 1000) for r in rows]

    def save(self, session: Session) -> None:
        params = (session.id, session.csrf, session.lang, int(session.expires_at * 1000))

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO console_sessions (key, csrf, lang, expires_at_ms)"
                " VALUES (?, ?, ?, ?)",
                params,
            )

        self._queue(write)

    def delete(self, key: str) -> None:
        self._queue(lambda conn: conn.execute("DELETE FROM console_sessions WHERE key = ?", (key,)))

    def _queue(self, write: Callable[[sqlite3.Connection], object]) -> None:
        if self._store.closed:
            return
        self._store.submit(write).add_done_callback(_log_failure)


def _log_failure(future: asyncio.Future[object]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.warning("console: could not save a session (%s)", type(future.exception()).__name__)


class LoginThrottle:
    """Wrong operator passwords per client address (see the module docstring).

    Args:
        max_failures: Failures allowed within the window.
        window_s: The window, in seconds.
        clock: A monotonic clock.
    """

    def __init__(
        self,
        *,
        max_failures: int = 5,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_failures
        self._window = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        now = self._clock()
        failures = self._failures.get(client)
        if failures is None:
            return deque()
        while failures and failures[0] <= now - self._window:
            failures.popleft()
        if not failures:
            del self._failures[client]
        return failures

    def retry_after(self, client: str) -> int | None:
        """Seconds ``client`` must wait before trying again, or None."""
        failures = self._recent(client)
        if len(failures) < self._max:
            return None
        return max(1, math.ceil(failures[0] + self._window - self._clock()))

    def failed(self, client: str) -> None:
        """Count one wrong password from ``client``."""
        if client not in self._failures and len(self._failures) >= _MAX_CLIENTS:
            self._failures.pop(next(iter(self._failures)))  # the oldest address goes first
        self._failures.setdefault(client, deque(maxlen=self._max)).append(self._clock())

    def succeeded(self, client: str) -> None:
        """The right password: ``client`` starts afresh."""
        self._failures.pop(client, None)
