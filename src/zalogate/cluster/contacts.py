"""Users' last contact times shared by the nodes: the KV bucket ``<prefix>_contacts``.

One key per user of an account, ``c.<channel>.<account>.<user>``, holding ``{"at": epoch
seconds}``; a touch writes only a later time, with compare-and-set, so two nodes recording
interactions of one user keep the latest. Entries not touched for :data:`CONTACT_MAX_AGE_SECONDS`
leave the bucket (a reply window is at most 7 days).
"""

from __future__ import annotations

from typing import Any

from nats.js.kv import KeyValue

from zalogate.cluster.documents import Document, change, read
from zalogate.cluster.layout import kv_key

__all__ = ["CONTACT_MAX_AGE_SECONDS", "KvContactTimes"]

CONTACT_MAX_AGE_SECONDS = 30 * 24 * 3600.0


class KvContactTimes:
    """:class:`~zalogate.core.shared_state.ContactTimes` in a KV bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def touch(self, channel: str, account_id: str, user_id: str, at: float) -> None:
        def later(old: Document | None) -> tuple[Document | None, None]:
            if old is not None and _at(old) >= at:
                return None, None
            return {"at": at}, None

        await change(self._kv, kv_key("c", channel, account_id, user_id), later)

    async def last(self, channel: str, account_id: str, user_id: str) -> float | None:
        document, _ = await read(self._kv, kv_key("c", channel, account_id, user_id))
        if document is None:
            return None
        at = _at(document)
        return at if at > 0 else None


def _at(document: dict[str, Any]) -> float:
    value = document.get("at")
    return float(value) if isinstance(value, int | float) else 0.0
