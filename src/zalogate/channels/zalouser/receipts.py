"""Delivered + seen receipts, batched (best effort).

Every message that passed access control is acknowledged to Zalo as delivered and seen, as
Zalo Web does when a chat is open. Under load one pair of calls per message would double the
traffic, so the receipts of one conversation are collected for a short moment (``delay_s``)
and sent together (Zalo takes up to 50 per call, per sender in DMs and per group).
Failures are logged, never raised: a receipt is a courtesy, not a delivery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from zalogate.core.model import InboundMessage
from zalogate.personal.api import PersonalApi
from zalogate.personal.api_receipts import MAX_RECEIPTS_PER_CALL
from zalogate.personal.outgoing import MessageRef
from zalogate.personal.session import ThreadType

__all__ = ["ReceiptBatcher"]

log = logging.getLogger(__name__)

Caller = Callable[[Callable[[PersonalApi], Awaitable[Any]]], Awaitable[Any]]
"""Runs an action with the account's API (``AccountConnection.call``)."""


class ReceiptBatcher:
    """Collects receipts per conversation and sends them in batches.

    Args:
        call: Runs an action with the account's API.
        account_id: For log lines.
        delay_s: How long a receipt may wait for others of its conversation.
        timeout_s: Deadline of one batch's calls.
    """

    def __init__(
        self, call: Caller, account_id: str, *, delay_s: float = 0.2, timeout_s: float = 12.0
    ) -> None:
        self._call = call
        self.account_id = account_id
        self.delay_s = delay_s
        self.timeout_s = timeout_s
        self._pending: dict[tuple[ThreadType, str], list[MessageRef]] = {}
        # One timer per waiting conversation (a task + sleep per DM costs more).
        self._waiting: dict[tuple[ThreadType, str], asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add_message(self, message: InboundMessage) -> None:
        """Queue the receipts of ``message`` (nothing for one without a Zalo message id)."""
        raw = message.raw.get("eventMessage")
        if isinstance(raw, Mapping) and raw.get("msgId"):
            thread_type = ThreadType.GROUP if message.is_group else ThreadType.USER
            self.add(MessageRef.from_message(raw), thread_type)

    def add(self, ref: MessageRef, thread_type: ThreadType) -> None:
        """Queue the receipts of one message (sent within ``delay_s``)."""
        key = (thread_type, ref.thread_id if thread_type == ThreadType.GROUP else ref.sender_id)
        batch = self._pending.setdefault(key, [])
        batch.append(ref)
        if len(batch) >= MAX_RECEIPTS_PER_CALL:
            self._spawn(self._send(thread_type, self._pending.pop(key)))
        elif key not in self._waiting:
            loop = asyncio.get_running_loop()
            self._waiting[key] = loop.call_later(self.delay_s, self._due, key)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _due(self, key: tuple[ThreadType, str]) -> None:
        self._waiting.pop(key, None)
        batch = self._pending.pop(key, None)
        if batch:
            self._spawn(self._send(key[0], batch))

    async def _send(self, thread_type: ThreadType, refs: list[MessageRef]) -> None:
        async def acknowledge(api: PersonalApi) -> None:
            await api.send_delivered(refs, thread_type=thread_type, seen=True)
            await api.send_seen(refs, thread_type=thread_type)

        try:
            async with asyncio.timeout(self.timeout_s):
                await self._call(acknowledge)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # best effort: never let a receipt fail a message
            log.debug(
                "[%s] zalouser receipts for %d message(s) failed: %s",
                self.account_id,
                len(refs),
                type(exc).__name__,
            )

    async def flush(self) -> None:
        """Send everything queued now and wait for the batches in flight (on shutdown)."""
        waiting, self._waiting = list(self._waiting.values()), {}
        for timer in waiting:
            timer.cancel()  # their batches are still in _pending: sent below
        pending, self._pending = self._pending, {}
        for (thread_type, _), refs in pending.items():
            self._spawn(self._send(thread_type, refs))
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=self.timeout_s)
        for task in list(self._tasks):
            task.cancel()
