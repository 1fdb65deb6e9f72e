"""Mention gating and the pending group history.

A group message that must mention the bot but does not is *skipped*: it is stored in the
group's pending history instead of reaching the agent. The next processed message of that
group takes the history (and clears it), and the agent sees it above the current message::

    [Chat messages since your last reply - for context]
    Alice: first line [id:123]

    [Current message - respond to this]
    <current message>

The history is persisted behind :class:`GroupHistory`: on one node :class:`SqliteGroupHistory`
(migration ``0012_group_history``), so a restart loses nothing; in cluster mode
``zalogate.cluster.history.KvGroupHistory``, so the node that processes a group's next message
sees what another node skipped.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from zalogate.core.access import GroupDecision, mentioned_by_pattern
from zalogate.core.model import MentionFacts
from zalogate.store import Store

__all__ = [
    "CURRENT_MESSAGE_MARKER",
    "DEFAULT_HISTORY_LIMIT",
    "HISTORY_MARKER",
    "GroupHistory",
    "HistoryEntry",
    "MentionGateResult",
    "SqliteGroupHistory",
    "format_history_entry",
    "format_with_history",
    "group_history_key",
    "mention_gate",
    "mention_gate_detail",
]

log = logging.getLogger(__name__)

HISTORY_MARKER = "[Chat messages since your last reply - for context]"
CURRENT_MESSAGE_MARKER = "[Current message - respond to this]"
DEFAULT_HISTORY_LIMIT = 50

GateAction = Literal["process", "skip", "drop"]


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One skipped group message."""

    sender: str
    """The sender's display name, or their id when the name is unknown."""
    body: str
    timestamp_ms: int
    message_id: str | None = None
    sender_id: str | None = None
    media: tuple[str, ...] = ()
    """Local paths of (at most 4) images that came with the message."""


def group_history_key(channel: str, account_id: str, group_id: str) -> str:
    """The default history key: ``<channel>:<account>:group:<group id>``."""
    return f"{channel}:{account_id}:group:{group_id}"


def format_history_entry(entry: HistoryEntry) -> str:
    """``Alice: hi [id:123]``: the plain form used when no envelope formatter is given."""
    line = f"{entry.sender}: {entry.body}"
    return f"{line} [id:{entry.message_id}]" if entry.message_id else line


def format_with_history(
    entries: Sequence[HistoryEntry],
    body: str,
    *,
    format_entry: Callable[[HistoryEntry], str] = format_history_entry,
) -> str:
    """Prepend the pending history to ``body``; ``body`` alone when there is none."""
    if not entries:
        return body
    lines = "\n".join(format_entry(entry) for entry in entries)
    return f"{HISTORY_MARKER}\n{lines}\n\n{CURRENT_MESSAGE_MARKER}\n{body}"


class GroupHistory(Protocol):
    """The pending history of skipped group messages, one bounded list per history key."""

    async def append(self, history_key: str, entry: HistoryEntry, limit: int) -> None:
        """Add ``entry`` and keep only the newest ``limit`` entries (0 keeps nothing)."""
        ...

    async def peek(self, history_key: str) -> list[HistoryEntry]:
        """The entries of ``history_key``, oldest first, without clearing them."""
        ...

    async def take(self, history_key: str) -> list[HistoryEntry]:
        """Return the entries of ``history_key`` (oldest first) and clear them."""
        ...

    async def clear(self, history_key: str) -> None:
        """Forget the entries of ``history_key``."""
        ...


class SqliteGroupHistory:
    """:class:`GroupHistory` in the node's SQLite :class:`Store`.

    At most ``max_keys`` keys are kept; when a new key would exceed that, the keys whose last
    entry is oldest are forgotten.
    """

    def __init__(self, store: Store, *, max_keys: int = 1000) -> None:
        self._store = store
        self._max_keys = max(1, max_keys)

    async def append(self, history_key: str, entry: HistoryEntry, limit: int) -> None:
        """Add ``entry`` and keep only the newest ``limit`` entries (0 keeps nothing)."""
        keep = max(0, int(limit))

        def add(conn: sqlite3.Connection) -> None:
            if keep == 0:
                conn.execute("DELETE FROM group_history WHERE history_key = ?", (history_key,))
                return
            known = conn.execute(
                "SELECT 1 FROM group_history WHERE history_key = ? LIMIT 1", (history_key,)
            ).fetchone()
            conn.execute(
                "INSERT INTO group_history(history_key, sender, sender_id, body, timestamp_ms,"
                " message_id, media_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    history_key,
                    entry.sender,
                    entry.sender_id,
                    entry.body,
                    entry.timestamp_ms,
                    entry.message_id,
                    json.dumps(list(entry.media[:4])),
                ),
            )
            conn.execute(
                "DELETE FROM group_history WHERE history_key = ? AND seq NOT IN ("
                " SELECT seq FROM group_history WHERE history_key = ?"
                " ORDER BY seq DESC LIMIT ?)",
                (history_key, history_key, keep),
            )
            if known is None:
                self._evict_keys(conn)

        await self._store.write(add)

    def _evict_keys(self, conn: sqlite3.Connection) -> None:
        count = conn.execute("SELECT COUNT(DISTINCT history_key) FROM group_history").fetchone()[0]
        if count <= self._max_keys:
            return
        conn.execute(
            "DELETE FROM group_history WHERE history_key IN ("
            " SELECT history_key FROM group_history GROUP BY history_key"
            " ORDER BY MAX(seq) LIMIT ?)",
            (count - self._max_keys,),
        )

    async def peek(self, history_key: str) -> list[HistoryEntry]:
        """The entries of ``history_key``, oldest first, without clearing them."""
        rows = await self._store.fetchall(
            "SELECT * FROM group_history WHERE history_key = ? ORDER BY seq", (history_key,)
        )
        return [_row_to_entry(row) for row in rows]

    async def take(self, history_key: str) -> list[HistoryEntry]:
        """Return the entries of ``history_key`` (oldest first) and clear them."""

        def pop(conn: sqlite3.Connection) -> list[HistoryEntry]:
            rows = conn.execute(
                "SELECT * FROM group_history WHERE history_key = ? ORDER BY seq", (history_key,)
            ).fetchall()
            conn.execute("DELETE FROM group_history WHERE history_key = ?", (history_key,))
            return [_row_to_entry(row) for row in rows]

        return await self._store.write(pop)

    async def clear(self, history_key: str) -> None:
        """Forget the entries of ``history_key``."""
        await self._store.execute("DELETE FROM group_history WHERE history_key = ?", (history_key,))


def _row_to_entry(row: sqlite3.Row) -> HistoryEntry:
    try:
        media = tuple(str(item) for item in json.loads(row["media_json"]))
    except (ValueError, TypeError):
        media = ()
    return HistoryEntry(
        sender=row["sender"],
        body=row["body"],
        timestamp_ms=int(row["timestamp_ms"]),
        message_id=row["message_id"],
        sender_id=row["sender_id"],
        media=media,
    )


@dataclass(frozen=True, slots=True)
class MentionGateResult:
    """The outcome of mention gating.

    ``action``: ``process`` (hand to the agent), ``skip`` (record in the pending history) or
    ``drop`` (ignore). ``was_mentioned`` is the effective mention flag for the agent's context
    (explicit, pattern, quoted bot, or an authorised command bypass).
    """

    action: GateAction
    reason: str
    was_mentioned: bool


def mention_gate_detail(
    decision: GroupDecision,
    mentions: MentionFacts,
    *,
    text: str = "",
    patterns: Sequence[str] = (),
    is_command: bool = False,
    command_authorized: bool = False,
    text_commands: bool = True,
    quoted_bot_counts: bool = True,
) -> MentionGateResult:
    """Gate a group message on mentions (see :func:`mention_gate`), with reason and flag."""
    if not decision.allowed:
        return MentionGateResult("drop", decision.reason, False)
    explicit = mentions.was_mentioned or mentioned_by_pattern(text, patterns)
    if not decision.require_mention:
        return MentionGateResult("process", "mention_not_required", explicit)
    if not mentions.can_detect and not patterns:
        log.error(
            "mention required but detection unavailable (no bot id and no mention patterns);"
            " dropping group message"
        )
        return MentionGateResult("drop", "mention_detection_unavailable", False)
    if explicit:
        return MentionGateResult("process", "mentioned", True)
    if quoted_bot_counts and mentions.quoted_bot:
        return MentionGateResult("process", "quoted_bot", True)
    if is_command and command_authorized and text_commands and not mentions.has_any_mention:
        return MentionGateResult("process", "command_bypass", True)
    return MentionGateResult("skip", "mention_required", False)


def mention_gate(
    decision: GroupDecision,
    mentions: MentionFacts,
    *,
    text: str = "",
    patterns: Sequence[str] = (),
    is_command: bool = False,
    command_authorized: bool = False,
    text_commands: bool = True,
    quoted_bot_counts: bool = True,
) -> GateAction:
    """Decide what to do with a group message that passed :func:`~core.access.decide_group`.

    ``drop`` when the group decision refused it, or when a mention is required but cannot be
    detected at all (no bot id and no patterns: fail closed, logged as an error). ``process``
    when no mention is required, or the bot was mentioned (natively or by a pattern), or the
    message quotes the bot (unless ``quoted_bot_counts`` is off), or it is an authorised control
    command that mentions nobody. ``skip`` otherwise (record it in the pending history).
    """
    return mention_gate_detail(
        decision,
        mentions,
        text=text,
        patterns=patterns,
        is_command=is_command,
        command_authorized=command_authorized,
        text_commands=text_commands,
        quoted_bot_counts=quoted_bot_counts,
    ).action
