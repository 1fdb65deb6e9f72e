"""Human takeover in a JetStream KV bucket (cluster mode): a pause set on one node's console
holds on the node that happens to process the conversation's next message.

Keys: ``pause.<channel>.<account>.<chat>`` (present while paused) and
``lines.<channel>.<account>.<chat>`` (the lines said while paused, the latest
:data:`KEEP_LINES`, appended with compare-and-set). The pipeline's check is one ``get`` per
message: no cache, so a pause takes effect on the very next message on every node.
"""

from __future__ import annotations

import json

from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

from zalogate.cluster.documents import Bucket, Document, change, read
from zalogate.cluster.layout import kv_key
from zalogate.core.state_transfer import Outcome, PausedConversation
from zalogate.core.takeover import ConversationKey, TranscriptLine, key_of

__all__ = ["KEEP_LINES", "KvTakeoverState"]

KEEP_LINES = 200
"""Recorded lines kept per conversation (the console shows the latest 100)."""


class KvTakeoverState:
    """:class:`~zalogate.core.takeover.TakeoverState` on a KV bucket shared by every node."""

    def __init__(self, bucket: Bucket) -> None:
        self._bucket = bucket
        self._kv = bucket.kv

    async def is_paused(self, key: ConversationKey) -> bool:
        try:
            await self._kv.get(kv_key("pause", *key_of(key)))
        except KeyNotFoundError:
            return False
        return True

    async def paused_keys(self) -> list[ConversationKey]:
        found = []
        for name in await self._bucket.keys("pause."):
            doc, _ = await read(self._kv, name)
            if doc is not None:
                found.append(
                    ConversationKey(doc["channel"], doc["account"], doc["chat"], doc["group"])
                )
        return found

    async def pause(self, key: ConversationKey, at_ms: int) -> None:
        await self._kv.put(kv_key("pause", *key_of(key)), _pause_doc(key, at_ms))

    async def resume(self, key: ConversationKey) -> bool:
        name = kv_key("pause", *key_of(key))
        try:
            await self._kv.get(name)
        except KeyNotFoundError:
            return False
        await self._kv.delete(name)
        return True

    async def record(self, key: ConversationKey, line: TranscriptLine) -> None:
        item = [line.direction, line.author, line.text, line.at_ms]

        def compute(old: Document | None) -> tuple[Document | None, None]:
            lines = list((old or {}).get("lines") or [])
            lines.append(item)
            return {"lines": lines[-KEEP_LINES:]}, None

        await change(self._kv, kv_key("lines", *key_of(key)), compute)

    async def recorded(self, key: ConversationKey, limit: int) -> list[TranscriptLine]:
        doc, _ = await read(self._kv, kv_key("lines", *key_of(key)))
        lines = list((doc or {}).get("lines") or [])[-limit:] if limit > 0 else []
        return [TranscriptLine(d, a, t, int(at)) for d, a, t, at in lines]

    async def adopt_pause(self, paused: PausedConversation, *, dry_run: bool) -> Outcome:
        """Pause a moved conversation unless it is paused; its lines go along unless the
        cluster recorded lines for it already (those are kept)."""
        key = paused.key
        if await self.is_paused(key):
            return Outcome.PRESENT
        if dry_run:
            return Outcome.MOVED
        lines = [[x.direction, x.author, x.text, x.at_ms] for x in paused.lines[-KEEP_LINES:]]

        def compute(old: Document | None) -> tuple[Document | None, None]:
            return (None if old is not None or not lines else {"lines": lines}), None

        await change(self._kv, kv_key("lines", *key_of(key)), compute)
        try:
            await self._kv.create(kv_key("pause", *key_of(key)), _pause_doc(key, paused.at_ms))
        except (KeyWrongLastSequenceError, KeyNotFoundError):  # paused by a node meanwhile
            # (nats-py's create reads the key back after losing; a replica that lags behind
            # the winner's write answers "not found")
            return Outcome.PRESENT
        return Outcome.MOVED


def _pause_doc(key: ConversationKey, at_ms: int) -> bytes:
    doc = {
        "channel": key.channel,
        "account": key.account_id,
        "chat": key.chat_id,
        "group": key.is_group,
        "at": at_ms,
    }
    return json.dumps(doc).encode()
