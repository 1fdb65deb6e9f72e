"""Per-session chat transcripts behind :class:`TranscriptStore`: on one node
:class:`SqliteTranscriptStore` (table ``agent_transcripts``); in cluster mode
``zalogate.cluster.transcripts.KvTranscriptStore``, so a conversation that moves to another
node keeps its history."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = ["SqliteTranscriptStore", "TranscriptStore", "user_first"]


class TranscriptStore(Protocol):
    """Chat messages (OpenAI message dicts) per session key, oldest first."""

    async def recent(self, session_key: str, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` messages of ``session_key``, oldest first, starting with the
        user's (see :func:`user_first`)."""
        ...

    async def append(self, session_key: str, messages: Sequence[dict[str, Any]]) -> None:
        """Append ``messages`` to the session, all or none."""
        ...

    async def existing(self, session_keys: Sequence[str]) -> set[str]:
        """The keys among ``session_keys`` that have at least one stored message."""
        ...

    async def clear(self, session_key: str) -> int:
        """Forget a session; return how many messages were removed."""
        ...


def user_first(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``messages`` without leading non-user ones: a window must not start with an assistant
    answer whose question was cut off."""
    start = 0
    while start < len(messages) and messages[start].get("role") != "user":
        start += 1
    return messages[start:]


class SqliteTranscriptStore:
    """:class:`TranscriptStore` in the node's SQLite :class:`Store`."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self._clock = clock

    async def recent(self, session_key: str, limit: int) -> list[dict[str, Any]]:
        """The last ``limit`` messages of ``session_key``, oldest first."""
        if limit <= 0:
            return []
        rows = await self.store.fetchall(
            "SELECT content FROM agent_transcripts WHERE session_key = ? ORDER BY id DESC LIMIT ?",
            (session_key, limit),
        )
        return user_first([json.loads(row["content"]) for row in reversed(rows)])

    async def append(self, session_key: str, messages: Sequence[dict[str, Any]]) -> None:
        """Append ``messages`` to the session in one transaction."""
        now_ms = int(self._clock() * 1000)
        rows = [(session_key, json.dumps(m, ensure_ascii=False), now_ms) for m in messages]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO agent_transcripts (session_key, content, created_at_ms)"
                " VALUES (?, ?, ?)",
                rows,
            )

        await self.store.write(write)

    async def existing(self, session_keys: Sequence[str]) -> set[str]:
        """The keys among ``session_keys`` that have at least one stored message."""
        keys = list(dict.fromkeys(session_keys))
        if not keys:
            return set()
        marks = ", ".join("?" * len(keys))
        rows = await self.store.fetchall(
            f"SELECT DISTINCT session_key FROM agent_transcripts WHERE session_key IN ({marks})",  # noqa: S608 (placeholders only)
            tuple(keys),
        )
        return {str(row["session_key"]) for row in rows}

    async def session_keys(self) -> list[str]:
        """Every session with stored messages (what a move into a cluster carries over)."""
        rows = await self.store.fetchall(
            "SELECT DISTINCT session_key FROM agent_transcripts ORDER BY session_key"
        )
        return [str(row["session_key"]) for row in rows]

    async def clear(self, session_key: str) -> int:
        """Forget a session; return how many messages were removed."""
        return await self.store.execute(
            "DELETE FROM agent_transcripts WHERE session_key = ?", (session_key,)
        )
