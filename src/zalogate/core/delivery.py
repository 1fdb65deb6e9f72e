"""Delivery of one reply: each chunk sent once, in order, with its outcome noted.

:class:`Deliverer` is the pipeline's sending half. Each send holds one of its account's
in-flight slots (``Pipeline.send_slot``, ``maxInFlight``) until Zalo answered and the outcome
is a line in the outbox log (:mod:`zalogate.core.outbox`; before the send, its intent too on
a retry or replay), then it is recorded in ``pipeline_deliveries``. A retry or a replay reads
those statuses back: a confirmed chunk is skipped; one whose outcome is unknown (the process
died during the call, or the call's answer was lost: :attr:`FailureKind.DELIVERY_UNKNOWN`) is
sent once more, or never with ``resend_unknown=False``; a resend is never resent. A store
record that fails after a confirmed send is logged and counted, never raised.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING

from zalogate.core.errors import DeliveryError, FailureKind, classify, describe_error
from zalogate.core.model import InboundMessage, ReplyPayload
from zalogate.core.outbox import ChunkKey, next_step

if TYPE_CHECKING:
    from zalogate.core.channel import Channel, ChannelAccount
    from zalogate.core.pipeline import Pipeline
    from zalogate.store import Store

__all__ = ["Deliverer", "SendSlot", "record_delivery", "reply_target"]

log = logging.getLogger(__name__)


def reply_target(message: InboundMessage) -> str:
    """Where replies to ``message`` go: ``group:<id>`` for groups, else the chat id."""
    return f"group:{message.chat_id}" if message.is_group else message.chat_id


def _json_ids(ids: Sequence[str]) -> str:
    """``json.dumps(list(ids))`` without building an encoder per call (a hot path)."""
    return "[" + ", ".join(map(encode_basestring_ascii, ids)) + "]"


class SendSlot:
    """An account's in-flight sends (``maxInFlight``): a counting semaphore whose free case
    is a plain call. ``asyncio.Semaphore`` costs three coroutines per ``async with`` even when
    free, measurable on a path taken once per reply chunk."""

    __slots__ = ("_waiters", "free")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take(self) -> bool:
        """Take a slot if one is free and nobody queues for it (then :meth:`wait`)."""
        if self.free > 0 and not self._waiters:
            self.free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Wait for a slot, in turn; it is then held (give it back with :meth:`give`)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.give()  # handed over just as it was cancelled: pass it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def give(self) -> None:
        """Give a slot back: to the first waiter still waiting, else to the free ones."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class Deliverer:
    """Sends chunks in order, noting each one's outcome (see :mod:`.outbox`);
    skips chunks that went out before and resends an ambiguous one at most once."""

    def __init__(
        self,
        pipeline: Pipeline,
        message: InboundMessage,
        channel: Channel,
        account: ChannelAccount,
        statuses: Mapping[int, str],
        *,
        intents: bool = True,
    ) -> None:
        self.pipeline = pipeline
        self.message = message
        self.channel = channel
        self.account = account
        self.target = reply_target(message)
        self._message_key = (message.channel, message.account_id, message.message_id)
        self.statuses = statuses
        self.intents = intents
        """Note ``sending`` before each first send (see :mod:`.outbox` for when it is not)."""
        self.seq = 0
        self.message_ids: list[str] = []
        self.unrecorded = False
        """A store record failed: the outbox keeps this message's statuses for retries."""

    async def send(self, reply: ReplyPayload) -> None:
        seq = self.seq
        self.seq += 1
        pipeline = self.pipeline
        counters = pipeline.counters
        step = next_step(self.statuses.get(seq), resend_unknown=pipeline.resend_unknown)
        if step == "skip":
            counters.chunks_already_sent += 1
            return
        if step == "abandon":  # may have gone out: sending it again may duplicate it
            counters.abandoned += 1
            pipeline.outbox.note(self.key(seq), "abandoned")
            await self.record(seq, "abandoned", (), "delivery unknown; not resent")
            return
        resend = step == "resend"
        if resend:
            counters.resends += 1
        key = self.key(seq)
        outbox = pipeline.outbox
        # The send and the note of its outcome hold one of the account's in-flight slots:
        # a kill cuts off at most that many sends, the only ones a replay may duplicate.
        slot = pipeline.send_slot(self.message)
        if slot is not None and not slot.take():
            await slot.wait()
        try:
            if resend or self.intents:
                outbox.note(key, "resending" if resend else "sending")
                if outbox.flush_intents:  # kept elsewhere: there before the send starts
                    await outbox.flush(self._message_key)
            try:
                receipt = await self.channel.send(self.account, self.target, reply)
            except Exception as exc:
                failure: Exception | None = exc
                partial = exc.partial_ids if isinstance(exc, DeliveryError) else ()
                unknown = classify(exc) is FailureKind.DELIVERY_UNKNOWN and not partial
                if unknown:  # never a resend of a resend: a resend unknown again is given up
                    status = "abandoned" if resend else "unknown"
                else:
                    status = "partial" if partial else "failed"
                ids = tuple(partial)
            else:
                failure = None
                ids = tuple(receipt.message_ids)
                status = "partial" if receipt.partial else "sent"
            outbox.note(key, status, ids)  # first: nothing may come between send and note
            if outbox.fsync:  # kept before the account's next send
                await outbox.flush(self._message_key)
        finally:
            if slot is not None:
                slot.give()
        if failure is not None:
            await self._failed(seq, failure, status, ids, resend)
            return
        self.message_ids.extend(ids)
        delivered = pipeline.on_delivered
        if ids and delivered is not None:
            delivered(self.message.channel, self.account.account_id)
        if receipt.partial:
            counters.delivery_failures += 1
            error = receipt.error or "partial delivery"
            await self.record(seq, "partial", ids, error)
            raise DeliveryError(error, retryable=True, partial_ids=ids)
        await self.record(seq, "sent", ids, None)
        counters.chunks_sent += 1

    async def _failed(
        self, seq: int, exc: Exception, status: str, ids: tuple[str, ...], resend: bool
    ) -> None:
        """Count and record a failed send; raise it again unless it is given up."""
        counters = self.pipeline.counters
        counters.delivery_failures += 1
        failed = self.pipeline.on_send_failed
        if failed is not None:
            failed(self.message.channel, self.account.account_id, describe_error(exc))
        await self.record(seq, status, ids, describe_error(exc))
        if status in ("unknown", "abandoned"):
            counters.ambiguous += 1
        if status == "abandoned":  # counted as delivered: it may have gone out
            counters.abandoned += 1
            log.warning(
                "%s: resend of a reply chunk to %s ended unknown again; not resent: %s",
                self.message.channel,
                self.target,
                describe_error(exc),
            )
            return
        raise exc

    def key(self, seq: int) -> ChunkKey:
        return (*self._message_key, seq)

    async def record(self, seq: int, status: str, ids: Sequence[str], error: str | None) -> None:
        """Record ``status`` (already in the outbox log) in the store; a failing store write
        is logged, never raised (raising after a confirmed send would make the inbox send it
        again)."""
        key = self.key(seq)
        at_ms = int(self.pipeline.clock() * 1000)
        try:  # the store's future awaited directly: no coroutine of its own per chunk
            await self.pipeline.store.submit(
                _row_writer((*key, self.target, status, _json_ids(ids), error, at_ms))
            )
        except Exception as exc:
            self.unrecorded = True
            self.pipeline.counters.unrecorded += 1
            log.error(
                "%s: could not record the delivery of chunk %d of message %s: %s",
                key[0],
                seq,
                key[2],
                describe_error(exc),
            )

    def finish(self) -> None:
        """The message is handled: its records are in the store, the outbox may forget it."""
        if not self.unrecorded:
            self.pipeline.outbox.finish(self._message_key)


async def record_delivery(
    store: Store,
    key: tuple[str, str, str, int],
    target: str,
    status: str,
    ids: Sequence[str],
    error: str | None,
    *,
    at_ms: int,
) -> None:
    """Write (or replace) one ``pipeline_deliveries`` row.

    Args:
        store: The shared store.
        key: ``(channel, account_id, message_id, seq)``: which chunk of which message.
        target: Where it was sent.
        status: ``sent``, ``partial`` or ``failed``.
        ids: The message ids Zalo gave back.
        error: What went wrong (already redacted), or None.
        at_ms: When, in ms since the epoch.
    """
    await store.write(_row_writer((*key, target, status, _json_ids(ids), error, at_ms)))


def _row_writer(params: tuple[object, ...]) -> Callable[[sqlite3.Connection], None]:
    """The store write of one ``pipeline_deliveries`` row with ``params``."""

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO pipeline_deliveries (channel, account_id, message_id,"
            " seq, target, status, message_ids, error, created_at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params,
        )

    return write
