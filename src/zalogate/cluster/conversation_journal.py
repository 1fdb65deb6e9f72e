"""The console's conversation journal shared by every node (cluster mode): a JetStream stream
``<PREFIX>_CONVERSATIONS`` with one subject per conversation,
``<prefix>.conv.<channel>.<account>.<chat>``, one message per line.

Written as on one node: :meth:`StreamConversationJournal.add` only keeps the line in memory
(the pipeline never waits for NATS); once a second the batch is published, every publish in
flight at once and their acks awaited together. The stream keeps the latest
:data:`KEEP_LINES` lines of each conversation (``max_msgs_per_subject``) for
``gateway.console.transcriptDays`` (``max_age``), so it needs no pruning. Reads go to the
stream: the list is the last message of every subject (a consumer delivering the last per
subject), a transcript the messages of one subject. Every line carries the conversation's
title as the writing node last saw it, so the list needs no second read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict, deque
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)

from zalogate.cluster.connection import ClusterUnavailableError, settle
from zalogate.cluster.layout import kv_key
from zalogate.core.conversation_journal import BatchWriter, JournalledConversation
from zalogate.core.takeover import ConversationKey, TranscriptLine

__all__ = ["KEEP_LINES", "StreamConversationJournal", "open_conversation_journal"]

log = logging.getLogger("zalogate.cluster")

KEEP_LINES = 200
"""Lines kept per conversation (the console shows the latest 100)."""
_MAX_UNSAVED = 10_000
_MAX_TITLES = 5_000
_FETCH = 256
_DAY_S = 86_400.0

_Row = tuple[ConversationKey, TranscriptLine, str | None]


class StreamConversationJournal(BatchWriter):
    """:class:`~zalogate.core.conversation_journal.ConversationJournalLike` on the cluster's stream.

    Args:
        js: The node's JetStream context.
        stream: The stream's name.
        subject_prefix: ``<prefix>.conv`` (a conversation's subject follows).
        flush_interval: Seconds between two batches (after :meth:`start`).
    """

    def __init__(
        self, js: JetStreamContext, stream: str, subject_prefix: str, *, flush_interval: float = 1.0
    ) -> None:
        self._js = js
        self._stream = stream
        self._prefix = subject_prefix
        self._flush_interval = flush_interval
        self._unsaved: deque[_Row] = deque(maxlen=_MAX_UNSAVED)
        self._titles: OrderedDict[ConversationKey, str] = OrderedDict()

    def subject(self, key: ConversationKey) -> str:
        """The subject of ``key``'s lines."""
        return f"{self._prefix}.{kv_key(key.channel, key.account_id, key.chat_id)}"

    def add(self, key: ConversationKey, line: TranscriptLine, title: str | None) -> None:
        if title:
            self._titles[key] = title
            self._titles.move_to_end(key)
            while len(self._titles) > _MAX_TITLES:
                self._titles.popitem(last=False)
        self._unsaved.append((key, line, title or self._titles.get(key)))

    async def flush(self) -> int:
        """Publish the lines kept since the last batch (all in flight at once, in order);
        returns how many were stored."""
        if not self._unsaved:
            return 0
        rows = list(self._unsaved)
        self._unsaved.clear()
        stored = 0
        for start in range(0, len(rows), _FETCH):
            chunk = rows[start : start + _FETCH]
            sent = [self._js.publish(self.subject(k), _encode(k, ln, t)) for k, ln, t in chunk]
            answers = await asyncio.gather(*sent, return_exceptions=True)
            stored += sum(not isinstance(a, BaseException) for a in answers)
        if stored < len(rows):
            log.warning("cluster: %d console transcript lines not saved", len(rows) - stored)
        return stored

    async def prune(self) -> int:
        """Nothing to do: the stream forgets old lines itself (``max_age``)."""
        return 0

    async def conversations(self, limit: int) -> list[JournalledConversation]:
        found = []
        for doc in await self._read(f"{self._prefix}.>", DeliverPolicy.LAST_PER_SUBJECT):
            key, line, title = _decode(doc)
            found.append(JournalledConversation(key, line, title))
        found.sort(key=lambda c: c.last.at_ms, reverse=True)
        return found[:limit]

    async def lines(self, key: ConversationKey, limit: int) -> list[TranscriptLine]:
        if limit <= 0:
            return []
        docs = await self._read(self.subject(key), DeliverPolicy.ALL)
        return [_decode(doc)[1] for doc in docs[-limit:]]

    async def _read(self, subject: str, deliver: DeliverPolicy) -> list[dict[str, Any]]:
        """The messages an ephemeral consumer on ``subject`` has for it when created."""
        config = ConsumerConfig(
            deliver_policy=deliver,
            ack_policy=AckPolicy.NONE,
            filter_subject=subject,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        reader = await self._js.pull_subscribe(subject, stream=self._stream, config=config)
        try:
            pending = (await reader.consumer_info()).num_pending or 0
            docs: list[dict[str, Any]] = []
            fetched = 0
            while fetched < pending:
                batch = await reader.fetch(min(_FETCH, pending - fetched), timeout=5.0)
                fetched += len(batch)
                docs.extend(d for d in map(_parse, batch) if d is not None)
            return docs
        finally:
            with contextlib.suppress(Exception):
                await reader.unsubscribe()


def _encode(key: ConversationKey, line: TranscriptLine, title: str | None) -> bytes:
    doc = {
        "channel": key.channel,
        "account": key.account_id,
        "chat": key.chat_id,
        "group": key.is_group,
        "dir": line.direction,
        "author": line.author,
        "text": line.text,
        "at": line.at_ms,
        "title": title,
    }
    return json.dumps(doc, ensure_ascii=False).encode()


def _parse(msg: Any) -> dict[str, Any] | None:
    try:
        doc = json.loads(msg.data)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def _decode(doc: dict[str, Any]) -> tuple[ConversationKey, TranscriptLine, str | None]:
    key = ConversationKey(doc["channel"], doc["account"], doc["chat"], bool(doc["group"]))
    line = TranscriptLine(doc["dir"], doc["author"], doc["text"], int(doc["at"]))
    return key, line, doc.get("title") or None


async def open_conversation_journal(
    js: JetStreamContext, prefix: str, replicas: int, keep_days: float
) -> StreamConversationJournal:
    """Create (or update) the stream and return the journal on it."""
    name = f"{prefix.upper()}_CONVERSATIONS"
    config = StreamConfig(
        name=name,
        subjects=[f"{prefix}.conv.>"],
        storage=StorageType.FILE,
        num_replicas=replicas,
        max_msgs_per_subject=KEEP_LINES,
        max_age=keep_days * _DAY_S,
        discard=DiscardPolicy.OLD,
    )

    async def ensure() -> None:
        try:
            await js.add_stream(config)
        except Exception:  # exists with other limits (transcriptDays changed): take the new
            await js.update_stream(config)

    try:
        await settle(ensure)
    except Exception as exc:
        raise ClusterUnavailableError(
            f"NATS refused the conversation journal's stream {name} ({type(exc).__name__})"
        ) from None
    return StreamConversationJournal(js, name, f"{prefix}.conv")
