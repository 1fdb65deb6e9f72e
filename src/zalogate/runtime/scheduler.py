"""The gateway's scheduler task: sends due scheduled messages through the running accounts.

It polls the schedule store (the CLI writes to it from another process) every
``poll_interval`` seconds. An occurrence that fell before the gateway started is "missed":
sent once on start (``schedules.missed: send``) or skipped (``skip``). An account that is not
running yet leaves its schedules due for the next round; a send refused for good (unknown
account, a rejected target) is recorded and the occurrence is passed. At most one scheduled
send per account every ``min_interval`` seconds (the send limit).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from zalogate.core.errors import describe_error
from zalogate.core.schedules import Schedule, ScheduleStore

__all__ = ["Scheduler", "SendSchedule", "TransientSendError"]

log = logging.getLogger("zalogate.scheduler")

SendSchedule = Callable[[Schedule], Awaitable[Sequence[str]]]
"""Sends one schedule's message; raises :class:`TransientSendError` to try again later."""


class TransientSendError(Exception):
    """The account cannot send yet (not running): keep the occurrence due."""


class Scheduler:
    """Polls and sends (see the module docstring)."""

    def __init__(
        self,
        schedules: ScheduleStore,
        send: SendSchedule,
        *,
        missed: str = "send",
        min_interval: float = 1.0,
        poll_interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.schedules = schedules
        self._send = send
        self._missed = missed
        self._min_interval = min_interval
        self._poll = poll_interval
        self._clock = clock
        self._started_ms = int(clock() * 1000)
        self._last_send: dict[tuple[str, str], float] = {}
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.skipped = 0
        self.failures = 0
        self._next_at_ms: int | None = None
        self._active = 0

    def start(self, *, since_ms: int | None = None) -> None:
        """Run the poll loop in a task; an occurrence before ``since_ms`` (default: now) was
        missed while down."""
        self._started_ms = int(self._clock() * 1000) if since_ms is None else since_ms
        self._task = asyncio.create_task(self._run(), name="zalogate-scheduler")

    async def stop(self) -> None:
        """Stop the loop (a send in progress is cancelled)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def health(self) -> dict[str, Any]:
        """The ``schedules`` section of ``/healthz`` (``sending``: this node runs the loop;
        in a cluster only the scheduler lease holder does)."""
        return {
            "sending": self._task is not None,
            "active": self._active,
            "nextAtMs": self._next_at_ms,
            "sent": self.sent,
            "skipped": self.skipped,
            "failures": self.failures,
        }

    async def _run(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception as exc:  # the store went away, etc.: log and keep polling
                log.warning("scheduler round failed: %s", describe_error(exc))
            await asyncio.sleep(self._poll)

    async def tick(self) -> int:
        """Send what is due now; the number of messages sent."""
        now_ms = int(self._clock() * 1000)
        sent = 0
        for schedule in await self.schedules.due(now_ms):
            missed = (schedule.next_at_ms or 0) < self._started_ms
            if missed and self._missed == "skip":
                if await self.schedules.advance(schedule, sent=False, now_ms=now_ms):
                    self.skipped += 1
                    log.info("schedule %s: skipped an occurrence missed while down", schedule.id)
                continue
            key = (schedule.channel, (schedule.account_id or "").lower())
            if self._clock() - self._last_send.get(key, float("-inf")) < self._min_interval:
                continue  # the send limit: the next round sends it
            sent += await self._deliver(schedule, now_ms)
            self._last_send[key] = self._clock()
        active = await self.schedules.all()
        self._active = len(active)
        self._next_at_ms = min((s.next_at_ms for s in active if s.next_at_ms), default=None)
        return sent

    async def _deliver(self, schedule: Schedule, now_ms: int) -> int:
        try:
            await self._send(schedule)
        except TransientSendError as exc:
            await self.schedules.note_error(schedule.id, str(exc))
            return 0
        except Exception as exc:
            self.failures += 1
            error = describe_error(exc)
            log.warning("schedule %s: sending failed for good: %s", schedule.id, error)
            await self.schedules.advance(schedule, sent=False, now_ms=now_ms, error=error)
            return 0
        await self.schedules.advance(schedule, sent=True, now_ms=now_ms)
        self.sent += 1
        log.info("schedule %s: sent to %s %s", schedule.id, schedule.channel, schedule.target)
        return 1
