"""Read and administer the inbox journal without a running inbox (CLI, console, metrics).

Every function takes the open :class:`~zalogate.store.Store` and reads (or, for
:func:`prune_entries` and :func:`requeue_entries`, writes) ``inbox_entries`` and
``inbox_dead_letters`` directly, so it works whether or not a gateway is running. A running
gateway requeues through ``Gateway.retry_inbox`` instead, so that its inbox processes the rows
at once.

States: ``pending`` (to process, retried with backoff), ``done``, ``dead`` (its retry window
ran out, see ``InboxConfig.max_age``) and ``failed`` (an error no retry can fix).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from zalogate.core.journal import Journal

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = [
    "STATES",
    "EntryState",
    "InboxEntryView",
    "dead_letter_count",
    "get_entry",
    "list_entries",
    "prune_entries",
    "requeue_entries",
]

EntryState = Literal["pending", "done", "failed", "dead"]
STATES: tuple[EntryState, ...] = ("pending", "done", "failed", "dead")
_PREVIEW_CHARS = 80

# The payload of a closed row lives in the dead letters (done rows keep none).
_SELECT = (
    "SELECT e.id, e.channel, e.account_id, e.message_id, e.state, e.attempts,"
    " e.admitted_at_ms, e.last_error,"
    " json_extract(COALESCE(e.payload, d.payload), '$.chat_id') AS chat_id,"
    " substr(json_extract(COALESCE(e.payload, d.payload), '$.text'), 1, ?) AS preview"
    " FROM inbox_entries e LEFT JOIN inbox_dead_letters d ON d.entry_id = e.id"
)


@dataclass(frozen=True, slots=True)
class InboxEntryView:
    """One journal row as an operator sees it (no secrets: the text is the user's)."""

    id: int
    channel: str
    account_id: str
    message_id: str
    chat_id: str | None
    state: EntryState
    attempts: int
    admitted_at_ms: int
    last_error: str | None
    text_preview: str | None

    def to_json(self) -> dict[str, object]:
        """The view as ``--json`` output shows it."""
        return {
            "id": self.id,
            "channel": self.channel,
            "accountId": self.account_id,
            "messageId": self.message_id,
            "chatId": self.chat_id,
            "state": self.state,
            "attempts": self.attempts,
            "admittedAt": self.admitted_at_ms,
            "lastError": self.last_error,
            "textPreview": self.text_preview,
        }


def _view(row: sqlite3.Row) -> InboxEntryView:
    chat = row["chat_id"]
    preview = row["preview"]
    return InboxEntryView(
        id=int(row["id"]),
        channel=row["channel"],
        account_id=row["account_id"],
        message_id=row["message_id"],
        chat_id=None if chat is None else str(chat),
        state=cast("EntryState", row["state"]),
        attempts=int(row["attempts"]),
        admitted_at_ms=int(row["admitted_at_ms"]),
        last_error=row["last_error"],
        text_preview=None if preview is None else str(preview),
    )


async def list_entries(
    store: Store,
    *,
    state: str | None = None,
    channel: str | None = None,
    account_id: str | None = None,
    limit: int = 100,
) -> list[InboxEntryView]:
    """The newest journal rows first, optionally of one state, channel and account.

    Raises:
        ValueError: ``state`` is not one of :data:`STATES`.
    """
    if state is not None and state not in STATES:
        raise ValueError(f"unknown inbox state {state!r} (use one of {', '.join(STATES)})")
    rows = await store.fetchall(
        _SELECT + " WHERE (?2 IS NULL OR e.state = ?2) AND (?3 IS NULL OR e.channel = ?3)"
        " AND (?4 IS NULL OR e.account_id = ?4) ORDER BY e.id DESC LIMIT ?5",
        (_PREVIEW_CHARS, state, channel, account_id, max(0, limit)),
    )
    return [_view(row) for row in rows]


async def get_entry(store: Store, entry_id: int) -> InboxEntryView | None:
    """One journal row by id, or None."""
    row = await store.fetchone(_SELECT + " WHERE e.id = ?2", (_PREVIEW_CHARS, int(entry_id)))
    return None if row is None else _view(row)


async def dead_letter_count(
    store: Store, channel: str | None = None, account_id: str | None = None
) -> int:
    """How many rows are ``dead`` (their retry window ran out), of one channel/account."""
    row = await store.fetchone(
        "SELECT COUNT(*) FROM inbox_entries WHERE state = 'dead'"
        " AND (?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR account_id = ?2)",
        (channel, account_id),
    )
    return 0 if row is None else int(row[0])


async def prune_entries(store: Store, older_than_ms: int) -> int:
    """Delete finished rows (done, dead, failed) and their dead letters and delivery records
    older than ``older_than_ms`` (ms since the epoch); return the journal rows removed."""
    cutoff = int(older_than_ms)

    def prune(conn: sqlite3.Connection) -> int:
        conn.execute(
            "DELETE FROM inbox_dead_letters WHERE entry_id IN (SELECT id FROM inbox_entries"
            " WHERE state != 'pending' AND COALESCE(finished_at_ms, admitted_at_ms) < ?)",
            (cutoff,),
        )
        conn.execute("DELETE FROM pipeline_deliveries WHERE created_at_ms < ?", (cutoff,))
        return int(
            conn.execute(
                "DELETE FROM inbox_entries WHERE state != 'pending'"
                " AND COALESCE(finished_at_ms, admitted_at_ms) < ?",
                (cutoff,),
            ).rowcount
        )

    removed: int = await store.write(prune)
    return removed


async def requeue_entries(
    store: Store, ids: Sequence[int] | None = None, *, all_dead: bool = False
) -> int:
    """Make dead or failed rows pending again for the next gateway start; return how many.

    With a gateway running, use its ``retry_inbox`` (the inbox picks the rows up at once).
    """
    now_ms = int(time.time() * 1000)
    return len(await Journal(store).requeue(ids, all_dead=all_dead, now_ms=now_ms))
