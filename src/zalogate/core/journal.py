"""The inbox's durable journal: its rows in ``inbox_entries`` and ``inbox_dead_letters``.

Every statement the inbox runs against the store is here: the admission insert (unique on
channel, account id, message id), the pending rows a restart replays, attempts, done marks,
dead letters and their pruning. :mod:`zalogate.core.ingress` decides when; this module says
what is written.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import ValidationError

from zalogate.core.model import InboundMessage

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = ["DONE_SQL", "DeadLetter", "Journal"]

_DAY_MS = 86_400_000

_ADMIT_SQL = (
    "INSERT INTO inbox_entries"
    " (channel, account_id, message_id, lane, payload, admitted_at_ms)"
    " VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (channel, account_id, message_id) DO NOTHING"
)
_EXISTING_SQL = (
    "SELECT id FROM inbox_entries WHERE channel = ? AND account_id = ? AND message_id = ?"
)
DONE_SQL = (
    "UPDATE inbox_entries SET state = 'done', payload = NULL, finished_at_ms = ?"
    " WHERE id = ? AND state = 'pending'"
)
"""Marks one pending row done; parameters ``(finished_at_ms, entry id)``."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that failed for good."""

    entry_id: int
    channel: str
    account_id: str
    message_id: str
    lane: str
    attempts: int
    error: str
    dead_at_ms: int
    payload: str | None

    @property
    def message(self) -> InboundMessage | None:
        """The journalled message, if its payload still parses."""
        if self.payload is None:
            return None
        try:
            return InboundMessage.model_validate_json(self.payload)
        except ValidationError:
            return None


class Journal:
    """The journal's reads and writes, each one store transaction.

    Args:
        store: The open store (migration ``0030_inbox`` creates the tables).
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    @staticmethod
    def mark_done(conn: sqlite3.Connection, entry_id: int, now_ms: int) -> bool:
        """Mark a row done inside the caller's transaction; True if it was pending."""
        return conn.execute(DONE_SQL, (now_ms, entry_id)).rowcount == 1

    async def insert(
        self, message: InboundMessage, lane: str, payload: str, now_ms: int
    ) -> tuple[int, bool]:
        """Write ``message``'s row; return its id and whether it was there already."""
        params = (message.channel, message.account_id, message.message_id, lane, payload, now_ms)

        def insert(conn: sqlite3.Connection) -> tuple[int, bool]:
            cursor = conn.execute(_ADMIT_SQL, params)
            if cursor.rowcount == 1 and cursor.lastrowid is not None:
                return cursor.lastrowid, False
            row = conn.execute(_EXISTING_SQL, params[:3]).fetchone()
            return int(row[0]), True

        return await self.store.write(insert)

    async def pending(self, ids: Sequence[int] | None = None) -> list[sqlite3.Row]:
        """The rows not yet done or dead (of ``ids``, or all), oldest first (id, lane,
        payload, attempts, admitted_at_ms)."""
        wanted = None if ids is None else json.dumps([int(i) for i in ids])
        return await self.store.read(
            lambda conn: conn.execute(
                "SELECT id, lane, payload, attempts, admitted_at_ms FROM inbox_entries"
                " WHERE state = 'pending'"
                " AND (?1 IS NULL OR id IN (SELECT value FROM json_each(?1))) ORDER BY id",
                (wanted,),
            ).fetchall()
        )

    async def requeue(self, ids: Sequence[int] | None, *, all_dead: bool, now_ms: int) -> list[int]:
        """Make dead or failed rows pending again (their payload back from the dead letters,
        attempts and age restarted); return the ids that were requeued."""
        wanted = json.dumps([int(i) for i in ids or ()])

        def write(conn: sqlite3.Connection) -> list[int]:
            if all_dead:
                rows = conn.execute(
                    "SELECT id FROM inbox_entries WHERE state = 'dead' ORDER BY id"
                ).fetchall()
            else:
                rows = conn.execute(
                    "SELECT id FROM inbox_entries WHERE state IN ('dead', 'failed')"
                    " AND id IN (SELECT value FROM json_each(?)) ORDER BY id",
                    (wanted,),
                ).fetchall()
            done: list[int] = []
            for (entry_id,) in rows:
                payload = conn.execute(
                    "SELECT payload FROM inbox_dead_letters WHERE entry_id = ?", (entry_id,)
                ).fetchone()
                if payload is None or payload[0] is None:
                    continue  # pruned: nothing left to process
                conn.execute(
                    "UPDATE inbox_entries SET state = 'pending', payload = ?, attempts = 0,"
                    " admitted_at_ms = ?, finished_at_ms = NULL WHERE id = ?",
                    (payload[0], now_ms, entry_id),
                )
                conn.execute("DELETE FROM inbox_dead_letters WHERE entry_id = ?", (entry_id,))
                done.append(int(entry_id))
            return done

        result: list[int] = await self.store.write(write)
        return result

    async def dead_counts(self) -> dict[tuple[str, str], int]:
        """(channel, account id) -> rows in state ``dead``."""
        rows = await self.store.fetchall(
            "SELECT channel, account_id, COUNT(*) AS n FROM inbox_entries"
            " WHERE state = 'dead' GROUP BY channel, account_id"
        )
        return {(row["channel"], row["account_id"]): int(row["n"]) for row in rows}

    async def record_attempt(self, entry_id: int, attempts: int, error: str) -> None:
        """Note a failed attempt on a row that will be retried."""
        await self.store.write(
            lambda conn: conn.execute(
                "UPDATE inbox_entries SET attempts = ?, last_error = ? WHERE id = ?",
                (attempts, error, entry_id),
            )
        )

    async def dead_letter(
        self,
        entry_id: int,
        attempts: int,
        error: str,
        payload: str | None,
        now_ms: int,
        *,
        state: str = "dead",
    ) -> None:
        """Copy a row to the dead letters and close it, in one transaction.

        ``state`` is ``dead`` (its retry window ran out) or ``failed`` (an error that no
        retry can fix)."""

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO inbox_dead_letters"
                " (entry_id, channel, account_id, message_id, lane, attempts, error, payload,"
                "  dead_at_ms)"
                " SELECT id, channel, account_id, message_id, lane, ?, ?, ?, ?"
                " FROM inbox_entries WHERE id = ?",
                (attempts, error, payload, now_ms, entry_id),
            )
            conn.execute(
                "UPDATE inbox_entries SET state = ?, payload = NULL, attempts = ?,"
                " last_error = ?, finished_at_ms = ? WHERE id = ?",
                (state, attempts, error, now_ms, entry_id),
            )

        await self.store.write(write)

    async def prune(
        self,
        now_ms: int,
        *,
        tombstone_days: float,
        tombstone_limit: int,
        dead_letter_days: float,
        dead_letter_limit: int,
    ) -> int:
        """Drop old tombstones, dead letters and delivery records; return the rows removed.

        Done (and dead) rows are kept ``tombstone_days`` and at most ``tombstone_limit`` per
        (channel, account), whichever keeps fewer; dead letters likewise; the pipeline's
        delivery records ``tombstone_days``.
        """
        tomb_cutoff = now_ms - int(tombstone_days * _DAY_MS)
        dead_cutoff = now_ms - int(dead_letter_days * _DAY_MS)

        def prune(conn: sqlite3.Connection) -> int:
            removed = conn.execute(
                "DELETE FROM inbox_entries WHERE state != 'pending' AND finished_at_ms < ?",
                (tomb_cutoff,),
            ).rowcount
            accounts = conn.execute(
                "SELECT DISTINCT channel, account_id FROM inbox_entries WHERE state != 'pending'"
            ).fetchall()
            for channel, account_id in accounts:
                removed += conn.execute(
                    "DELETE FROM inbox_entries WHERE id IN ("
                    " SELECT id FROM inbox_entries"
                    " WHERE channel = ? AND account_id = ? AND state != 'pending'"
                    " ORDER BY finished_at_ms DESC, id DESC LIMIT -1 OFFSET ?)",
                    (channel, account_id, tombstone_limit),
                ).rowcount
            removed += conn.execute(
                "DELETE FROM inbox_dead_letters WHERE dead_at_ms < ?", (dead_cutoff,)
            ).rowcount
            # The pipeline's per-chunk delivery records only matter while a message may be
            # replayed; they follow the tombstones' age limit.
            removed += conn.execute(
                "DELETE FROM pipeline_deliveries WHERE created_at_ms < ?", (tomb_cutoff,)
            ).rowcount
            for channel, account_id in conn.execute(
                "SELECT DISTINCT channel, account_id FROM inbox_dead_letters"
            ).fetchall():
                removed += conn.execute(
                    "DELETE FROM inbox_dead_letters WHERE entry_id IN ("
                    " SELECT entry_id FROM inbox_dead_letters"
                    " WHERE channel = ? AND account_id = ?"
                    " ORDER BY dead_at_ms DESC, entry_id DESC LIMIT -1 OFFSET ?)",
                    (channel, account_id, dead_letter_limit),
                ).rowcount
            return removed

        removed: int = await self.store.write(prune)
        return removed

    async def dead_letters(
        self, *, channel: str | None, account_id: str | None, limit: int
    ) -> list[DeadLetter]:
        """The newest dead letters, optionally of one channel (and account)."""
        rows = await self.store.fetchall(
            "SELECT entry_id, channel, account_id, message_id, lane, attempts, error,"
            " dead_at_ms, payload FROM inbox_dead_letters"
            " WHERE (?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR account_id = ?2)"
            " ORDER BY dead_at_ms DESC, entry_id DESC LIMIT ?3",
            (channel, account_id, limit),
        )
        return [
            DeadLetter(
                entry_id=row["entry_id"],
                channel=row["channel"],
                account_id=row["account_id"],
                message_id=row["message_id"],
                lane=row["lane"],
                attempts=row["attempts"],
                error=row["error"],
                dead_at_ms=row["dead_at_ms"],
                payload=row["payload"],
            )
            for row in rows
        ]
