"""Human takeover: an operator pauses the agent for one conversation and answers by hand.

The paused set and the recorded lines live behind :class:`TakeoverState`: on one node
:class:`SqliteTakeoverState` (tables ``takeover_pauses`` and ``takeover_messages``, the paused
set held in memory, so the pipeline's check is one set look-up per message); in cluster mode
``zalogate.cluster.shared.KvTakeoverState``, so a pause on one node holds on every node.
While a conversation is paused its messages are recorded and not answered by the agent; the
operator's replies are recorded too. Every message the
pipeline lets through access control is also kept in a small in-memory ring and, with a
:class:`~zalogate.core.conversation_journal.ConversationJournalLike`, in batches (the node's
SQLite, or the cluster's stream), so the console lists conversations of earlier runs (and,
in a cluster, of every node) too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from zalogate.core.model import ChatType

if TYPE_CHECKING:
    from zalogate.core.agent import Turn
    from zalogate.core.conversation_journal import ConversationJournalLike
    from zalogate.core.model import InboundMessage
    from zalogate.store import Store

__all__ = [
    "Conversation",
    "ConversationKey",
    "SqliteTakeoverState",
    "Takeover",
    "TakeoverState",
    "TranscriptLine",
]

_RING_LINES = 50
"""Lines of recent activity kept in memory per conversation."""
_RING_CONVERSATIONS = 500
"""Conversations kept in memory (the least recently active are forgotten first)."""


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


class TakeoverState(Protocol):
    """Which conversations an operator holds, and what was said in them meanwhile."""

    async def is_paused(self, key: ConversationKey) -> bool:
        """Whether the agent is paused for ``key`` (the pipeline asks once per message)."""
        ...

    async def paused_keys(self) -> list[ConversationKey]:
        """Every paused conversation."""
        ...

    async def pause(self, key: ConversationKey, at_ms: int) -> None:
        """Pause the agent for ``key`` (idempotent)."""
        ...

    async def resume(self, key: ConversationKey) -> bool:
        """Give ``key`` back to the agent; True if it was paused."""
        ...

    async def record(self, key: ConversationKey, line: TranscriptLine) -> None:
        """Keep one line said while paused (inbound, or an operator's reply)."""
        ...

    async def recorded(self, key: ConversationKey, limit: int) -> list[TranscriptLine]:
        """The latest ``limit`` recorded lines of ``key``, oldest first."""
        ...


class SqliteTakeoverState:
    """:class:`TakeoverState` on the node's SQLite :class:`Store`; the paused set is loaded
    once and then kept in memory (this process is its only writer)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._paused: dict[tuple[str, str, str], ConversationKey] | None = None
        self._load_lock = asyncio.Lock()

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

    async def is_paused(self, key: ConversationKey) -> bool:
        return key_of(key) in await self._paused_map()

    async def paused_keys(self) -> list[ConversationKey]:
        return list((await self._paused_map()).values())

    async def pause(self, key: ConversationKey, at_ms: int) -> None:
        paused = await self._paused_map()
        params = (key.channel, key.account_id, key.chat_id, int(key.is_group), at_ms)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO takeover_pauses"
                " (channel, account_id, chat_id, is_group, paused_at_ms) VALUES (?, ?, ?, ?, ?)",
                params,
            )

        await self.store.write(write)
        paused[key_of(key)] = key

    async def resume(self, key: ConversationKey) -> bool:
        paused = await self._paused_map()
        params = key_of(key)

        def write(conn: sqlite3.Connection) -> int:
            cursor = conn.execute(
                "DELETE FROM takeover_pauses WHERE channel = ? AND account_id = ? AND chat_id = ?",
                params,
            )
            return cursor.rowcount

        removed = await self.store.write(write)
        paused.pop(params, None)
        return bool(removed)

    async def record(self, key: ConversationKey, line: TranscriptLine) -> None:
        params = (*key_of(key), line.direction, line.author, line.text, line.at_ms)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO takeover_messages (channel, account_id, chat_id, direction, author,"
                " text, at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
                params,
            )

        await self.store.write(write)

    async def recorded(self, key: ConversationKey, limit: int) -> list[TranscriptLine]:
        return await stored_lines(self.store, key, limit)


class Takeover:
    """The paused conversations (in ``state``) and the recent activity of this node (in
    memory, and in ``journal`` when given)."""

    def __init__(
        self,
        state: TakeoverState,
        *,
        journal: ConversationJournalLike | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.journal = journal
        self._clock = clock
        self._recent: OrderedDict[ConversationKey, deque[TranscriptLine]] = OrderedDict()
        self._titles: dict[ConversationKey, str] = {}

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
        paused = await self.state.is_paused(key)
        if paused:
            await self.state.record(key, line)
        elif self.journal is not None:
            self.journal.add(key, line, title)
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
        if self.journal is not None:
            self.journal.add(key, line, None)
        self._remember(key, line, None)

    async def is_paused(self, key: ConversationKey) -> bool:
        """Whether the agent is paused for ``key``."""
        return await self.state.is_paused(key)

    async def pause(self, key: ConversationKey) -> None:
        """Pause the agent for ``key`` (durable; idempotent)."""
        await self.state.pause(key, self._now_ms())

    async def resume(self, key: ConversationKey) -> bool:
        """Give ``key`` back to the agent; True if it was paused."""
        return await self.state.resume(key)

    async def paused_keys(self) -> list[ConversationKey]:
        """Every paused conversation."""
        return await self.state.paused_keys()

    async def record_reply(self, key: ConversationKey, text: str, author: str) -> None:
        """Record an operator's reply that went out."""
        line = TranscriptLine("out", author, text, self._now_ms())
        await self.state.record(key, line)
        self._remember(key, line, None)

    async def conversations(self) -> list[Conversation]:
        """Recent and paused conversations, most recently active first (with a journal, those
        of earlier runs too)."""
        paused = {key_of(key): key for key in await self.state.paused_keys()}
        found: dict[tuple[str, str, str], Conversation] = {}
        if self.journal is not None:
            for seen in await self.journal.conversations(_RING_CONVERSATIONS):
                if seen.title:
                    self._titles.setdefault(seen.key, seen.title)
                found[key_of(seen.key)] = Conversation(
                    seen.key, self.title(seen.key), seen.last, key_of(seen.key) in paused
                )
        for key, ring in self._recent.items():
            last = ring[-1] if ring else None
            known = found.get(key_of(key))
            if known is not None and known.last is not None and last is not None:
                # The journal may be newer: in a cluster another node had the next message.
                last = max(known.last, last, key=lambda line: line.at_ms)
            found[key_of(key)] = Conversation(key, self.title(key), last, key_of(key) in paused)
        for ident, key in paused.items():
            if ident not in found:
                found[ident] = Conversation(key, self.title(key), None, True)
        return sorted(found.values(), key=lambda c: c.last.at_ms if c.last else -1, reverse=True)

    async def transcript(self, key: ConversationKey, limit: int = 100) -> list[TranscriptLine]:
        """The conversation's lines, oldest first: the journal's, the recorded ones and the
        recent ones (each line once; lines of one millisecond keep their order)."""
        written = await self.journal.lines(key, limit) if self.journal is not None else []
        recorded = await self.state.recorded(key, limit)
        lines = dict.fromkeys([*written, *recorded, *self._recent.get(key, ())])
        return sorted(lines, key=lambda line: line.at_ms)[-limit:]


def key_of(key: ConversationKey) -> tuple[str, str, str]:
    """The identity of a conversation (``is_group`` follows from the chat)."""
    return (key.channel, key.account_id, key.chat_id)


async def stored_lines(store: Store, key: ConversationKey, limit: int) -> list[TranscriptLine]:
    """The latest ``limit`` lines of ``key`` in ``takeover_messages``, oldest first (write
    order); the table the single-node state and the conversation journal share."""
    rows = await store.fetchall(
        "SELECT direction, author, text, at_ms FROM takeover_messages"
        " WHERE channel = ? AND account_id = ? AND chat_id = ? ORDER BY id DESC LIMIT ?",
        (*key_of(key), limit),
    )
    return [
        TranscriptLine(r["direction"], r["author"], r["text"], r["at_ms"]) for r in reversed(rows)
    ]
