"""The pending group history in a JetStream KV bucket (cluster mode).

One document per history key (``hist.<key>``, the key hex-encoded), changed with
compare-and-set: a skipped message appended on one node is in the list the next answered
message takes on another node, and a ``take`` clears exactly what it returned. The bucket's
age limit forgets a group whose history was not touched for :data:`HISTORY_MAX_AGE_SECONDS`
(the single-node store bounds the number of keys instead).
"""

from __future__ import annotations

from typing import Any

from nats.js.kv import KeyValue

from zalogate.cluster.documents import Document, change, read
from zalogate.cluster.layout import kv_key
from zalogate.core.history import HistoryEntry

__all__ = ["HISTORY_MAX_AGE_SECONDS", "KvGroupHistory"]

HISTORY_MAX_AGE_SECONDS = 30 * 86400.0


def _encode(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "sender": entry.sender,
        "body": entry.body,
        "at": entry.timestamp_ms,
        "id": entry.message_id,
        "senderId": entry.sender_id,
        "media": list(entry.media[:4]),
    }


def _decode(raw: dict[str, Any]) -> HistoryEntry:
    return HistoryEntry(
        sender=str(raw["sender"]),
        body=str(raw["body"]),
        timestamp_ms=int(raw["at"]),
        message_id=raw.get("id"),
        sender_id=raw.get("senderId"),
        media=tuple(str(m) for m in raw.get("media") or ()),
    )


class KvGroupHistory:
    """:class:`~zalogate.core.history.GroupHistory` on a KV bucket shared by every node.

    Image paths in an entry are the skipping node's local files: another node that takes the
    history gets the text, and the images only where those files exist.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def append(self, history_key: str, entry: HistoryEntry, limit: int) -> None:
        keep = max(0, int(limit))
        item = _encode(entry)

        def compute(old: Document | None) -> tuple[Document | None, None]:
            entries = list((old or {}).get("entries") or [])
            entries.append(item)
            return {"entries": entries[-keep:] if keep else []}, None

        await change(self._kv, kv_key("hist", history_key), compute)

    async def peek(self, history_key: str) -> list[HistoryEntry]:
        doc, _ = await read(self._kv, kv_key("hist", history_key))
        return [_decode(raw) for raw in (doc or {}).get("entries") or ()]

    async def take(self, history_key: str) -> list[HistoryEntry]:
        def compute(old: Document | None) -> tuple[Document | None, list[HistoryEntry]]:
            entries = [_decode(raw) for raw in (old or {}).get("entries") or ()]
            return ({"entries": []} if entries else None), entries

        return await change(self._kv, kv_key("hist", history_key), compute)

    async def clear(self, history_key: str) -> None:
        def compute(old: Document | None) -> tuple[Document | None, None]:
            return ({"entries": []} if (old or {}).get("entries") else None), None

        await change(self._kv, kv_key("hist", history_key), compute)
