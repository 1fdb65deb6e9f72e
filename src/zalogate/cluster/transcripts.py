"""Agent transcripts in a JetStream KV bucket (cluster mode): the node that answers a
conversation's next message, whichever it is, sends the agent the same history.

One document per session key (``tx.<key>``, hex-encoded), appended with compare-and-set. A
document keeps the latest :data:`KEEP_MESSAGES` messages and stays under
:data:`KEEP_BYTES` (a NATS message is at most 1 MB by default): older messages are dropped,
where the single-node store keeps everything. The window an agent asks for (``historyWindow``,
20 by default) is far below either bound.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nats.js.kv import KeyValue

from zalogate.agents.transcripts import user_first
from zalogate.cluster.documents import Document, change, read
from zalogate.cluster.layout import kv_key
from zalogate.core.state_transfer import Outcome, SessionTranscript

__all__ = ["KEEP_BYTES", "KEEP_MESSAGES", "KvTranscriptStore"]

KEEP_MESSAGES = 200
KEEP_BYTES = 512 * 1024


def _bounded(messages: list[Any]) -> list[Any]:
    kept = messages[-KEEP_MESSAGES:]
    size = sum(len(json.dumps(m, ensure_ascii=False)) for m in kept)
    while len(kept) > 1 and size > KEEP_BYTES:
        size -= len(json.dumps(kept.pop(0), ensure_ascii=False))
    return kept


class KvTranscriptStore:
    """:class:`~zalogate.agents.transcripts.TranscriptStore` on a KV bucket shared by every
    node."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def recent(self, session_key: str, limit: int) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        doc, _ = await read(self._kv, kv_key("tx", session_key))
        messages = [m for m in (doc or {}).get("messages") or () if isinstance(m, dict)]
        return user_first(messages[-limit:])

    async def append(self, session_key: str, messages: Sequence[dict[str, Any]]) -> None:
        added = list(messages)

        def compute(old: Document | None) -> tuple[Document | None, None]:
            return {"messages": _bounded([*((old or {}).get("messages") or ()), *added])}, None

        await change(self._kv, kv_key("tx", session_key), compute)

    async def existing(self, session_keys: Sequence[str]) -> set[str]:
        found = set()
        for key in dict.fromkeys(session_keys):
            doc, _ = await read(self._kv, kv_key("tx", key))
            if doc is not None and doc.get("messages"):
                found.add(key)
        return found

    async def clear(self, session_key: str) -> int:
        def compute(old: Document | None) -> tuple[Document | None, int]:
            count = len((old or {}).get("messages") or ())
            return ({"messages": []} if count else None), count

        return await change(self._kv, kv_key("tx", session_key), compute)

    async def adopt_transcript(self, transcript: SessionTranscript, *, dry_run: bool) -> Outcome:
        """Write a moved session unless the key exists (a session cleared in the cluster
        stays cleared); present when the cluster's copy starts with the moved messages."""
        moved = _bounded(list(transcript.messages))

        def compute(old: Document | None) -> tuple[Document | None, Outcome]:
            if old is None:
                return (None if dry_run else {"messages": moved}), Outcome.MOVED
            held = list(old.get("messages") or ())
            same = bool(moved) and held[: len(moved)] == moved
            return None, (Outcome.PRESENT if same else Outcome.CONFLICT)

        return await change(self._kv, kv_key("tx", transcript.session_key), compute)
