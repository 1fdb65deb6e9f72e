"""Human takeover: an operator pauses the agent for one conversation and answers by hand.

The paused set is durable (table ``takeover_pauses``) and held in memory by the running
gateway, so the pipeline's check (:meth:`Takeover.paused`) is one set look-up per message.
While a conversation is paused its messages are not answered by the agent.

Transcripts (table ``takeover_messages``): every message the pipeline lets through access
control, the agent's replies and the operator's. The operator's replies and what arrives while
paused are written at once; the rest is kept in a small in-memory ring per conversation and
written in batches (one transaction per second at most, :meth:`Takeover.flush`), so the message
path never waits for a write; a crash loses at most the last second of those lines. Lines older
than ``keep_days`` (``gateway.console.transcriptDays``) are pruned every hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from zalogate.core.model import ChatType

if TYPE_CHECKING:
    from zalogate.core.agent import Turn
    from zalogate.core.model import InboundMessage
    from zalogate.store import Store

__all__ = ["Conversation", "ConversationKey", "Takeover", "TranscriptLine"]

log = logging.getLogger(__name__)

_RING_LINES = 50
"""Lines of recent activity kept in memory per conversation."""
_RING_CONVERSATIONS = 500
"""Conversations kept in memory (the least recently active are forgotten first)."""
_MAX_UNSAVED = 10_000
"""Lines waiting for their batch write (beyond it the oldest are not kept)."""
_PRUNE_EVERY_S = 3600.0
_DAY_MS = 86_400_000
_COLUMNS = "channel, account_id, chat_id, direction, author, text, at_ms, is_group, title"
_Row = tuple[str, str, str, str, str, str, int, int, str | None]


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """One conversation: a direct chat or a group of one channel account."""

    channel: str
    account_id: str
    chat_id: str
    is_group: bool = False

    @property
    def target(self) -> str:
        """Where a reply goes (``group:<id>`` for groups)."""
        return f"group:{self.chat_id}" if self.is_group else self.chat_id

    @classmethod
    def of(cls, message: InboundMessage) -> ConversationKey:
        """The conversation ``message`` belongs to."""
        return cls(message.channel, message.account_id, message.chat_id, message.is_group)


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One message of a conversation as the console shows it."""

    direction: Literal["in", "out"]
    author: str
    text: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class Conversation:
    """A conversation with its latest line and whether an operator has taken it over."""

    key: ConversationKey
    title: str
    last: TranscriptLine | None
    paused: bool


def _line_of(message: InboundMessage, now_ms: int) -> TranscriptLine:
    """The line of an inbound message, stamped with the gateway's clock (as replies are, so
    the transcript's order does not depend on the phone's clock)."""
    text = message.text or " ".join(f"<{m.kind}>" for m in message.media)
    author = (message.sender_name or "").strip() or message.sender_id
    return TranscriptLine("in", author, text, now_ms)


def _row(key: ConversationKey, line: TranscriptLine, title: str | None) -> _Row:
    return (
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


class Takeover:
    """The paused conversations and their transcripts, on the shared :class:`Store`.

    Args:
        store: The shared store.
        clock: Seconds since the epoch.
        keep_days: Days transcript lines are kept.
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
        self._task: asyncio.Task[None] | None = None
        self._paused: dict[tuple[str, str, str], ConversationKey] | None = None
        self._load_lock = asyncio.Lock()
        self._recent: OrderedDict[ConversationKey, deque[TranscriptLine]] = OrderedDict()
        self._titles: dict[ConversationKey, str] = {}

    def start(self) -> None:
        """Write the transcripts in batches and prune old lines until :meth:`aclose`."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="takeover transcripts")

    async def aclose(self) -> None:
        """Stop the batch writer and write what is left."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush()

    async def _run(self) -> None:
        last_prune = -_PRUNE_EVERY_S
        while True:
            await asyncio.sleep(self._flush_interval)
            try:
                await self.flush()
                if time.monotonic() - last_prune >= _PRUNE_EVERY_S:
                    last_prune = time.monotonic()
                    await self.prune()
            except Exception as exc:  # the transcript is a convenience: keep the gateway going
                log.warning("could not save the console's transcripts: %s", type(exc).__name__)

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
        """Forget transcript lines older than ``keep_days``; returns how many."""
        cutoff = self._now_ms() - self._keep_ms
        # Lines are written in time order (within the batch interval), so the old ones are
        # the lowest ids: walk them by rowid up to the first recent one (no index on at_ms).
        return await self.store.execute(
            "DELETE FROM takeover_messages WHERE id < COALESCE((SELECT id FROM takeover_messages"
            " WHERE at_ms >= ? ORDER BY id LIMIT 1), (SELECT MAX(id) + 1 FROM takeover_messages))",
            (cutoff,),
        )

    async def _paused_map(self) -> dict[tuple[str, str, str], ConversationKey]:
        paused = self._paused
        if paused is not None:
            return paused
        async with self._load_lock:
            if self._paused is None:
                rows = await self.store.fetchall(
                    "SELECT channel, account_id, chat_id, is_group FROM takeover_pauses"
                )
                self._paused = {
                    (r["channel"], r["account_id"], r["chat_id"]): ConversationKey(
                        r["channel"], r["account_id"], r["chat_id"], bool(r["is_group"])
                    )
                    for r in rows
                }
            return self._paused

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _remember(self, key: ConversationKey, line: TranscriptLine, title: str | None) -> None:
        ring = self._recent.get(key)
        if ring is None:
            ring = self._recent[key] = deque(maxlen=_RING_LINES)
            while len(self._recent) > _RING_CONVERSATIONS:
                old, _ = self._recent.popitem(last=False)
                self._titles.pop(old, None)
        else:
            self._recent.move_to_end(key)
        ring.append(line)
        if title:
            self._titles[key] = title

    async def paused(self, message: InboundMessage) -> bool:
        """The pipeline's check: True when an operator has this conversation (the message is
        then recorded and must not be answered by the agent)."""
        key = ConversationKey.of(message)
        line = _line_of(message, self._now_ms())
        title = message.group_name if message.is_group else message.sender_name
        paused = key_of(key) in await self._paused_map()
        if paused:
            await self._record(key, line, title)
        else:
            self._unsaved.append(_row(key, line, title))
        self._remember(key, line, title)
        return paused

    def title(self, key: ConversationKey) -> str:
        """The sender's or group's name when a message showed it, else the chat id."""
        return self._titles.get(key) or key.chat_id

    def agent_said(self, turn: Turn, text: str) -> None:
        """Keep one agent reply among the conversation's recent lines (memory only; the
        gateway's agent wrapper, :meth:`GatewayMetrics.timed_agent`, calls it)."""
        key = ConversationKey(
            turn.channel, turn.account_id, turn.chat_id, turn.chat_type is ChatType.GROUP
        )
        line = TranscriptLine("out", "agent", text, self._now_ms())
        self._unsaved.append(_row(key, line, None))
        self._remember(key, line, None)

    async def is_paused(self, key: ConversationKey) -> bool:
        """Whether the agent is paused for ``key``."""
        return (key.channel, key.account_id, key.chat_id) in await self._paused_map()

    async def pause(self, key: ConversationKey) -> None:
        """Pause the agent for ``key`` (durable; idempotent)."""
        paused = await self._paused_map()
        params = (key.channel, key.account_id, key.chat_id, int(key.is_group), self._now_ms())

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO takeover_pauses"
                " (channel, account_id, chat_id, is_group, paused_at_ms) VALUES (?, ?, ?, ?, ?)",
                params,
            )

        await self.store.write(write)
        paused[(key.channel, key.account_id, key.chat_id)] = key

    async def resume(self, key: ConversationKey) -> bool:
        """Give ``key`` back to the agent; True if it was paused."""
        paused = await self._paused_map()
        params = (key.channel, key.account_id, key.chat_id)

        def write(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM takeover_pauses WHERE channel = ? AND account_id = ? AND chat_id = ?",
                params,
            )
            return cursor.rowcount

        removed = await self.store.write(write)
        paused.pop(params, None)
        return bool(removed)

    async def paused_keys(self) -> list[ConversationKey]:
        """Every paused conversation."""
        return list((await self._paused_map()).values())

    async def record_reply(self, key: ConversationKey, text: str, author: str) -> None:
        """Record an operator's reply that went out."""
        line = TranscriptLine("out", author, text, self._now_ms())
        await self._record(key, line, None)
        self._remember(key, line, None)

    async def _record(self, key: ConversationKey, line: TranscriptLine, title: str | None) -> None:
        self._unsaved.append(_row(key, line, title))
        await self.flush()

    async def conversations(self) -> list[Conversation]:
        """Recent and paused conversations, most recently active first (those of earlier runs
        from the store)."""
        paused = await self._paused_map()
        found: dict[tuple[str, str, str], Conversation] = {}
        for r in await self.store.fetchall(
            f"SELECT m.*, c.title AS any_title FROM (SELECT MAX(id) AS last_id, MAX(title) AS title"  # noqa: S608 (a constant)
            " FROM takeover_messages GROUP BY channel, account_id, chat_id"
            f" ORDER BY last_id DESC LIMIT {_RING_CONVERSATIONS}) c"
            " JOIN takeover_messages m ON m.id = c.last_id"
        ):
            key = ConversationKey(r["channel"], r["account_id"], r["chat_id"], bool(r["is_group"]))
            line = TranscriptLine(r["direction"], r["author"], r["text"], r["at_ms"])
            if r["any_title"]:
                self._titles.setdefault(key, r["any_title"])
            title = self._titles.get(key) or key.chat_id
            found[key_of(key)] = Conversation(key, title, line, key_of(key) in paused)
        for key, ring in self._recent.items():
            title = self._titles.get(key) or key.chat_id
            last = ring[-1] if ring else None
            found[key_of(key)] = Conversation(key, title, last, key_of(key) in paused)
        for key in paused.values():
            if key_of(key) not in found:
                title = self._titles.get(key) or key.chat_id
                found[key_of(key)] = Conversation(key, title, None, True)
        return sorted(found.values(), key=lambda c: c.last.at_ms if c.last else -1, reverse=True)

    async def transcript(self, key: ConversationKey, limit: int = 100) -> list[TranscriptLine]:
        """The conversation's lines, oldest first: the recorded ones and the recent ones."""
        rows = await self.store.fetchall(
            "SELECT direction, author, text, at_ms FROM takeover_messages"
            " WHERE channel = ? AND account_id = ? AND chat_id = ? ORDER BY id DESC LIMIT ?",
            (key.channel, key.account_id, key.chat_id, limit),
        )
        stored = (TranscriptLine(r["direction"], r["author"], r["text"], r["at_ms"]) for r in rows)
        # In write order (a reply stamped in the same millisecond stays after its question),
        # the lines not written yet after them.
        lines = dict.fromkeys([*reversed(list(stored)), *self._recent.get(key, ())])
        return sorted(lines, key=lambda line: line.at_ms)[-limit:]


def key_of(key: ConversationKey) -> tuple[str, str, str]:
    """The identity of a conversation (``is_group`` follows from the chat)."""
    return (key.channel, key.account_id, key.chat_id)
