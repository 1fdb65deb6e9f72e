"""Per-session chat transcripts in the store (table ``agent_transcripts``)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = ["TranscriptStore"]


class TranscriptStore:
    """Chat messages (OpenAI message dicts) per session key, oldest first."""

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
        messages: list[dict[str, Any]] = [json.loads(row["content"]) for row in reversed(rows)]
        # A window must not start with an assistant answer whose question was cut off.
        while messages and messages[0].get("role") != "user":
            messages.pop(0)
        return messages

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

    async def clear(self, session_key: str) -> int:
        """Forget a session; return how many messages were removed."""
        return await self.store.execute(
            "DELETE FROM agent_transcripts WHERE session_key = ?", (session_key,)
        )
