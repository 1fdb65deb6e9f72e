"""Scheduled messages in a JetStream KV bucket (cluster mode), and the lease that picks the
one node whose scheduler sends them.

One document per schedule (``sched.<id>``, the :class:`~zalogate.core.schedules.Schedule`
fields). ``advance`` and ``cancel`` are compare-and-set on the document, so an occurrence
moves on once however many writers race, and a cancel on one node holds on every node.

Only the node holding the ``("scheduler", "all")`` lease runs its scheduler
(:func:`run_scheduler`): the send happens before the advance, so a scheduler on every node
reading one shared store would send each occurrence once per node. The lease (its own
:class:`~zalogate.cluster.leases.AccountLeases`, outside the account spreading) moves to
another node within its TTL when the holder dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, Protocol

from nats.js.kv import KeyValue

from zalogate.cluster.documents import Bucket, Document, change, read
from zalogate.cluster.layout import kv_key
from zalogate.cluster.leases import AccountLeases
from zalogate.core.schedules import (
    Schedule,
    first_occurrence,
    new_schedule_id,
    passed,
)
from zalogate.core.state_transfer import Outcome

__all__ = ["SCHEDULER_LEASE", "SCHEDULER_LEASE_KEY", "KvScheduleStore", "run_scheduler"]

SCHEDULER_LEASE = ("scheduler", "all")
"""The lease whose holder runs the cluster's scheduler (key ``role.scheduler.all``)."""
SCHEDULER_LEASE_KEY = kv_key("role", *SCHEDULER_LEASE)


class Startable(Protocol):
    """What :func:`run_scheduler` runs (``runtime.scheduler.Scheduler``)."""

    def start(self, *, since_ms: int | None = None) -> None: ...

    async def stop(self) -> None: ...


_FIELDS = tuple(Schedule.__dataclass_fields__)


def _decode(doc: Document | None) -> Schedule | None:
    if doc is None or any(name not in doc for name in _FIELDS):
        return None
    return Schedule(**{name: doc[name] for name in _FIELDS})


def _encode(schedule: Schedule) -> Document:
    return {name: getattr(schedule, name) for name in _FIELDS}


def _key(schedule_id: str) -> str:
    return kv_key("sched", schedule_id)


class KvScheduleStore:
    """:class:`~zalogate.core.schedules.ScheduleStore` on a KV bucket shared by every node."""

    def __init__(self, bucket: Bucket, *, clock: Callable[[], float] = time.time) -> None:
        self._bucket = bucket
        self._kv: KeyValue = bucket.kv
        self.clock = clock

    async def add(
        self,
        channel: str,
        target: str,
        text: str,
        *,
        at_ms: int | None = None,
        cron: str | None = None,
        tz: str = "UTC",
        account_id: str | None = None,
        created_by: str = "cli",
    ) -> Schedule:
        now_ms = int(self.clock() * 1000)
        cron, first = first_occurrence(text, at_ms=at_ms, cron=cron, tz=tz, now_ms=now_ms)
        schedule = Schedule(
            id=new_schedule_id(),
            channel=channel,
            account_id=account_id,
            target=target,
            text=text,
            cron=cron,
            tz=tz,
            next_at_ms=first,
            status="active",
            created_by=created_by,
            sent_count=0,
            last_sent_at_ms=None,
            last_error=None,
            created_at_ms=now_ms,
        )

        def compute(old: Document | None) -> tuple[Document | None, None]:
            if old is not None:  # 32 random bits collided: refuse rather than overwrite
                raise ConnectionError(f"schedule id {schedule.id} is taken, try again")
            return _encode(schedule), None

        await change(self._kv, _key(schedule.id), compute)
        return schedule

    async def get(self, schedule_id: str) -> Schedule | None:
        doc, _ = await read(self._kv, _key(schedule_id))
        return _decode(doc)

    async def all(self, *, include_done: bool = False) -> list[Schedule]:
        found = []
        for key in await self._bucket.keys("sched."):
            schedule = _decode((await read(self._kv, key))[0])
            if schedule is not None and (include_done or schedule.status == "active"):
                found.append(schedule)
        found.sort(key=lambda s: (s.next_at_ms is None, s.next_at_ms or 0, s.created_at_ms))
        return found

    async def cancel(self, schedule_id: str) -> bool:
        def compute(old: Document | None) -> tuple[Document | None, bool]:
            schedule = _decode(old)
            if schedule is None or schedule.status != "active":
                return None, False
            return _encode(replace(schedule, status="cancelled", next_at_ms=None)), True

        return await change(self._kv, _key(schedule_id), compute)

    async def due(self, now_ms: int) -> list[Schedule]:
        return [s for s in await self.all() if s.next_at_ms is not None and s.next_at_ms <= now_ms]

    async def advance(
        self, schedule: Schedule, *, sent: bool, now_ms: int, error: str | None = None
    ) -> bool:
        following, status = passed(schedule, sent=sent, now_ms=now_ms)

        def compute(old: Document | None) -> tuple[Document | None, bool]:
            current = _decode(old)
            if (
                current is None
                or current.status != "active"
                or current.next_at_ms != schedule.next_at_ms
            ):
                return None, False
            moved = replace(
                current,
                next_at_ms=following,
                status=status,
                sent_count=current.sent_count + int(sent),
                last_sent_at_ms=now_ms if sent else current.last_sent_at_ms,
                last_error=error,
            )
            return _encode(moved), True

        return await change(self._kv, _key(schedule.id), compute)

    async def note_error(self, schedule_id: str, error: str) -> None:
        def compute(old: Document | None) -> tuple[Document | None, None]:
            current = _decode(old)
            return (None if current is None else _encode(replace(current, last_error=error))), None

        await change(self._kv, _key(schedule_id), compute)

    async def adopt_schedule(self, schedule: Schedule, *, dry_run: bool) -> Outcome:
        """Create a moved schedule under its id (present when the id holds it, in any later
        state: the cluster may have sent it since)."""

        def compute(old: Document | None) -> tuple[Document | None, Outcome]:
            if old is None:
                return (None if dry_run else _encode(schedule)), Outcome.MOVED
            current = _decode(old)
            same = current is not None and all(
                getattr(current, name) == getattr(schedule, name) for name in _IDENTITY
            )
            return None, (Outcome.PRESENT if same else Outcome.CONFLICT)

        return await change(self._kv, _key(schedule.id), compute)


_IDENTITY = ("channel", "account_id", "target", "text", "cron", "tz", "created_at_ms")
"""What makes two schedule documents the same schedule (the rest moves as it runs)."""


async def run_scheduler(
    leases: AccountLeases, scheduler: Startable, stop: asyncio.Event, *, since_ms: int
) -> None:
    """Run ``scheduler`` while this node holds :data:`SCHEDULER_LEASE`, until ``stop``.

    ``since_ms`` (this node's start) is where "missed while down" ends: an occurrence that
    fell due while another node held the lease and died is sent by the next holder.
    """
    while not stop.is_set():
        async with leases.hold(SCHEDULER_LEASE, stop, kind="role") as lost:
            if lost is None:
                return
            scheduler.start(since_ms=since_ms)
            try:
                waiters: list[asyncio.Task[Any]] = [
                    asyncio.create_task(lost.wait()),
                    asyncio.create_task(stop.wait()),
                ]
                try:
                    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for waiter in waiters:
                        waiter.cancel()
            finally:
                await scheduler.stop()
        with contextlib.suppress(TimeoutError):  # lost: ask again after a pause
            await asyncio.wait_for(stop.wait(), timeout=leases.ttl / 2)
