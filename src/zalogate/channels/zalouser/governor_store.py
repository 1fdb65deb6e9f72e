"""`GovernorJournal`: the send governor's caps and pause, kept in SQLite across restarts.

A restart must not reset the day's count of strangers, the hour's new conversations or a
rate-limit pause (else restarting would be a way around the caps). The governor reports each
change (:meth:`GovernorJournal.record`) and reads the rows back before its first send
(:meth:`GovernorJournal.load`). Times are stored as wall-clock milliseconds and exchanged with
the governor as *ages* (seconds before now), so the governor keeps its monotonic clock.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from zalogate.store import Store

__all__ = ["GovernorJournal", "JournalRow", "RowKind"]

log = logging.getLogger(__name__)

RowKind = Literal["stranger", "started", "known", "pause"]

#: Rows older than this are of no use to any cap (the longest window is a day).
_KEEP_S: Final = 86400.0
_UPSERT: Final = (
    "INSERT INTO zalouser_send_governor(account_id, kind, thread_id, at_ms, step)"
    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(account_id, kind, thread_id)"
    " DO UPDATE SET at_ms = excluded.at_ms, step = excluded.step"
)


@dataclass(frozen=True, slots=True)
class JournalRow:
    """One remembered fact: ``age_s`` seconds ago (negative: in the future, a pause's end)."""

    kind: RowKind
    thread_id: str
    age_s: float
    step: int = 0


def _upsert(conn: sqlite3.Connection, values: tuple[str, str, str, int, int]) -> None:
    conn.execute(_UPSERT, values)


class GovernorJournal:
    """The saved governor state of one account.

    Args:
        store: The gateway's SQLite store.
        account_id: The account.
        wall: Wall-clock seconds (tests inject one).
    """

    def __init__(
        self, store: Store, account_id: str, *, wall: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.account_id = account_id
        self._wall = wall
        self._pending: set[asyncio.Future[None]] = set()

    async def load(self) -> list[JournalRow]:
        """The rows still of use (older ones are deleted first)."""
        now_ms = int(self._wall() * 1000)
        cut = now_ms - int(_KEEP_S * 1000)
        account = self.account_id

        def prune_and_read(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            conn.execute(
                "DELETE FROM zalouser_send_governor WHERE account_id = ? AND at_ms < ?"
                " AND NOT (kind = 'pause' AND step > 0)",
                (account, cut),
            )
            return conn.execute(
                "SELECT kind, thread_id, at_ms, step FROM zalouser_send_governor"
                " WHERE account_id = ?",
                (account,),
            ).fetchall()

        rows = await self.store.write(prune_and_read)
        return [JournalRow(row[0], row[1], (now_ms - row[2]) / 1000.0, int(row[3])) for row in rows]

    def record(self, row: JournalRow) -> None:
        """Queue ``row`` for the next group commit (a failure is logged, never raised)."""
        at_ms = int((self._wall() - row.age_s) * 1000)
        values = (self.account_id, row.kind, row.thread_id, at_ms, row.step)
        try:
            future = self.store.submit(lambda conn: _upsert(conn, values))
        except Exception as exc:  # a closed store: the in-memory state still applies
            log.debug("[%s] send governor state not saved: %s", self.account_id, exc)
            return
        self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[None]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            log.warning(
                "[%s] send governor state not saved: %s", self.account_id, future.exception()
            )

    async def flush(self) -> None:
        """Wait until every recorded row is durable."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
