"""The console's one-line notices after an action ("allowed ✓") in a cluster: kept under the
session (``n.<session key>`` in the sessions bucket) between the action's redirect and the
next page, so the page shows them whichever node serves it."""

from __future__ import annotations

import contextlib
import json

from nats.js.errors import KeyNotFoundError
from nats.js.kv import KeyValue

__all__ = ["KvNotices"]


class KvNotices:
    """:class:`~zalogate.console.auth.SharedNotices` in the sessions bucket."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def keep(self, session_key: str, notices: list[str]) -> None:
        await self._kv.put(f"n.{session_key}", json.dumps(notices, ensure_ascii=False).encode())

    async def take(self, session_key: str) -> list[str]:
        name = f"n.{session_key}"
        try:
            entry = await self._kv.get(name)
        except KeyNotFoundError:
            return []
        with contextlib.suppress(KeyNotFoundError):
            await self._kv.delete(name)
        try:
            found = json.loads(entry.value or b"[]")
        except ValueError:
            return []
        return [str(n) for n in found] if isinstance(found, list) else []
