"""Read and tidy the inbox for operators (the console's Inbox page).

A minimal version written alongside the console; issue 12 (delivery) owns this module.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = ["InboxEntryView", "dead_letter_count", "get_entry", "list_entries", "prune_entries"]

_PREVIEW_CHARS = 80
_SELECT = (
    "SELECT e.id, e.channel, e.account_id, e.message_id, e.state, e.attempts,"
    " e.admitted_at_ms, COALESCE(e.last_error, d.error) AS last_error,"
    " COALESCE(e.payload, d.payload) AS payload"
    " FROM inbox_entries e LEFT JOIN inbox_dead_letters d ON d.entry_id = e.id"
)


@dataclass(frozen=True, slots=True)
class InboxEntryView:
    """One inbox entry as an operator sees it."""

    id: int
    channel: str
    account_id: str
    message_id: str
    chat_id: str | None
    state: str
    attempts: int
    admitted_at_ms: int
    last_error: str | None
    text_preview: str


def _view(row: sqlite3.Row) -> InboxEntryView:
    data: Any = None
    if row["payload"]:
        try:
            data = json.loads(row["payload"])
        except ValueError:
            data = None
    data = data if isinstance(data, dict) else {}
    text = str(data.get("text") or "")
    preview = text if len(text) <= _PREVIEW_CHARS else text[: _PREVIEW_CHARS - 1] + "…"
    chat = data.get("chat_id")
    return InboxEntryView(
        id=int(row["id"]),
        channel=row["channel"],
        account_id=row["account_id"],
        message_id=row["message_id"],
        chat_id=str(chat) if chat is not None else None,
        state=row["state"],
        attempts=int(row["attempts"]),
        admitted_at_ms=int(row["admitted_at_ms"]),
        last_error=row["last_error"],
        text_preview=preview,
    )


async def list_entries(
    store: Store,
    *,
    state: str | None = None,
    channel: str | None = None,
    account_id: str | None = None,
    limit: int = 100,
) -> list[InboxEntryView]:
    """The newest entries, optionally of one state, channel and account."""
    rows = await store.fetchall(
        _SELECT + " WHERE (?1 IS NULL OR e.state = ?1) AND (?2 IS NULL OR e.channel = ?2)"
        " AND (?3 IS NULL OR e.account_id = ?3) ORDER BY e.id DESC LIMIT ?4",
        (state, channel, account_id, limit),
    )
    return [_view(row) for row in rows]


async def get_entry(store: Store, entry_id: int) -> InboxEntryView | None:
    """One entry by id."""
    row = await store.fetchone(_SELECT + " WHERE e.id = ?", (entry_id,))
    return _view(row) if row is not None else None


async def dead_letter_count(
    store: Store, channel: str | None = None, account_id: str | None = None
) -> int:
    """How many dead letters there are (of one channel and account)."""
    row = await store.fetchone(
        "SELECT COUNT(*) AS n FROM inbox_dead_letters"
        " WHERE (?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR account_id = ?2)",
        (channel, account_id),
    )
    return int(row["n"]) if row is not None else 0


async def prune_entries(store: Store, older_than_ms: int) -> int:
    """Delete finished entries and dead letters older than ``older_than_ms``; how many."""

    def write(conn: sqlite3.Connection) -> int:
        dead = conn.execute(
            "DELETE FROM inbox_dead_letters WHERE dead_at_ms < ?", (older_than_ms,)
        ).rowcount
        done = conn.execute(
            "DELETE FROM inbox_entries WHERE state IN ('done', 'dead') AND admitted_at_ms < ?",
            (older_than_ms,),
        ).rowcount
        return int(dead) + int(done)

    return await store.write(write)


async def take_dead_letters(
    store: Store, ids: list[int] | None, *, all_dead: bool = False
) -> list[str]:
    """Remove dead letters (and their journal rows) for a retry; their payloads."""
    if not ids and not all_dead:
        return []

    def write(conn: sqlite3.Connection) -> list[str]:
        if all_dead:
            rows = conn.execute("SELECT entry_id, payload FROM inbox_dead_letters").fetchall()
        else:
            marks = ", ".join("?" * len(ids or []))
            rows = conn.execute(
                f"SELECT entry_id, payload FROM inbox_dead_letters WHERE entry_id IN ({marks})",  # noqa: S608 (placeholders only)
                tuple(ids or []),
            ).fetchall()
        payloads: list[str] = []
        for row in rows:
            if row["payload"] is None:
                continue
            conn.execute("DELETE FROM inbox_dead_letters WHERE entry_id = ?", (row["entry_id"],))
            conn.execute("DELETE FROM inbox_entries WHERE id = ?", (row["entry_id"],))
            payloads.append(str(row["payload"]))
        return payloads

    return await store.write(write)
