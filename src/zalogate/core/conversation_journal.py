"""The node's journal of every conversation the console lists: inbound lines and agent replies
of conversations nobody took over, kept in the node's SQLite (``takeover_messages``, with
``is_group`` and ``title`` from migration 0051) for ``gateway.console.transcriptDays``.

Lines are written in batches, at most one transaction a second (:meth:`start`), not once per
message: measured about 2.3 µs of CPU per line batched. A crash loses the lines of the last
interval at most. :class:`ConversationJournalLike` is the seam: in cluster mode the runtime
uses ``zalogate.cluster.conversation_journal.StreamConversationJournal`` instead (a JetStream
stream every node writes and reads), so the console of any node lists every node's
conversations.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from zalogate.core.takeover import ConversationKey, TranscriptLine, stored_lines

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = [
    "BatchWriter",
    "ConversationJournal",
    "ConversationJournalLike",
    "JournalledConversation",
]

log = logging.getLogger(__name__)

_MAX_UNSAVED = 10_000
"""Lines waiting for their batch write (beyond it the oldest are not kept)."""
_PRUNE_EVERY_S = 3600.0
_DAY_MS = 86_400_000
_COLUMNS = "channel, account_id, chat_id, direction, author, text, at_ms, is_group, title"
_Row = tuple[str, str, str, str, str, str, int, int, str | None]


@dataclass(frozen=True, slots=True)
class JournalledConversation:
    """A conversation as the journal last saw it: its latest line and any title it had."""

    key: ConversationKey
    last: TranscriptLine
    title: str | None


class ConversationJournalLike(Protocol):
    """Where the console's conversation lines are kept: :meth:`add` is called on the
    pipeline's path and must not wait for any I/O (lines are written in batches)."""

    def add(self, key: ConversationKey, line: TranscriptLine, title: str | None) -> None:
        """Keep one line for the next batch."""
        ...

    def start(self) -> None:
        """Start writing batches (until :meth:`aclose`)."""
        ...

    async def aclose(self) -> None:
        """Stop the batch writer and write what is left."""
        ...

    async def conversations(self, limit: int) -> list[JournalledConversation]:
        """The ``limit`` most recently active conversations with their latest line."""
        ...

    async def lines(self, key: ConversationKey, limit: int) -> list[TranscriptLine]:
        """The latest ``limit`` lines of ``key``, oldest first."""
        ...


class BatchWriter:
    """Runs :meth:`flush` every ``flush_interval`` seconds after :meth:`start` (and
    :meth:`between_batches` after it), and once more on :meth:`aclose`; a failure is logged
    and the next batch tries again (the journal is a convenience: the gateway goes on)."""

    _flush_interval = 1.0
    _task: asyncio.Task[None] | None = None

    async def flush(self) -> int:
        """Write the lines kept since the last batch; returns how many."""
        raise NotImplementedError

    async def between_batches(self) -> None:
        """Housekeeping after each batch (none by default)."""

    def start(self) -> None:
        """Write the lines in batches until :meth:`aclose`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=type(self).__name__)

    async def aclose(self) -> None:
        """Stop the batch writer and write what is left."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._logged(self.flush)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._flush_interval)
            if await self._logged(self.flush):
                await self._logged(self.between_batches)

    async def _logged(self, step: Callable[[], Awaitable[object]]) -> bool:
        try:
            await step()
        except Exception as exc:
            log.warning("could not save the console's transcripts: %s", type(exc).__name__)
            return False
        return True


class ConversationJournal(BatchWriter):
    """Batched, bounded journal of conversation lines on the node's :class:`Store`.

    Args:
        store: The node's store.
        clock: Seconds since the epoch (prune cut-off).
        keep_days: Days lines are kept.
        flush_interval: Seconds between two batch writes (after :meth:`start`).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        keep_days: float = 30.0,
        flush_interval: float = 1.0,
    ) -> None:
        self.store = store
        self._clock = clock
        self._keep_ms = int(keep_days * _DAY_MS)
        self._flush_interval = flush_interval
        self._unsaved: deque[_Row] = deque(maxlen=_MAX_UNSAVED)
        self._last_prune = -_PRUNE_EVERY_S

    def add(self, key: ConversationKey, line: TranscriptLine, title: str | None) -> None:
        """Keep one line for the next batch."""
        self._unsaved.append(
            (
                key.channel,
                key.account_id,
                key.chat_id,
                line.direction,
                line.author,
                line.text,
                line.at_ms,
                int(key.is_group),
                title or None,
            )
        )

    async def between_batches(self) -> None:
        """Prune old lines once an hour."""
        if time.monotonic() - self._last_prune >= _PRUNE_EVERY_S:
            self._last_prune = time.monotonic()
            await self.prune()

    async def flush(self) -> int:
        """Write the lines kept since the last batch in one transaction; returns how many."""
        if not self._unsaved or self.store.closed:
            return 0
        rows = list(self._unsaved)
        self._unsaved.clear()

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                f"INSERT INTO takeover_messages ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608 (constant columns)
                rows,
            )

        await self.store.write(write)
        return len(rows)

    async def prune(self) -> int:
        """Forget lines older than ``keep_days``; returns how many."""
        cutoff = int(self._clock() * 1000) - self._keep_ms
        # Lines are written in time order (within the batch interval), so the old ones are
        # the lowest ids: walk them by rowid up to the first recent one (no index on at_ms).
        return await self.store.execute(
            "DELETE FROM takeover_messages WHERE id < COALESCE((SELECT id FROM takeover_messages"
            " WHERE at_ms >= ? ORDER BY id LIMIT 1), (SELECT MAX(id) + 1 FROM takeover_messages))",
            (cutoff,),
        )

    async def conversations(self, limit: int) -> list[JournalledConversation]:
        """The ``limit`` most recently written conversations with their latest line."""
        rows = await self.store.fetchall(
            "SELECT m.*, c.title AS any_title FROM (SELECT MAX(id) AS last_id, MAX(title) AS title"
            " FROM takeover_messages GROUP BY channel, account_id, chat_id"
            " ORDER BY last_id DESC LIMIT ?) c JOIN takeover_messages m ON m.id = c.last_id",
            (limit,),
        )
        return [
            JournalledConversation(
                ConversationKey(r["channel"], r["account_id"], r["chat_id"], bool(r["is_group"])),
                TranscriptLine(r["direction"], r["author"], r["text"], r["at_ms"]),
                r["any_title"],
            )
            for r in rows
        ]

    async def lines(self, key: ConversationKey, limit: int) -> list[TranscriptLine]:
        """The latest ``limit`` written lines of ``key``, oldest first (write order)."""
        return await stored_lines(self.store, key, limit)
