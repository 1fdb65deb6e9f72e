"""Scheduled messages: the :class:`ScheduleStore` interface and its single-node ``schedules``
table, occurrence arithmetic (``croniter``) and the time parsing of ``message schedule --at``.

A schedule's ``next_at_ms`` is the next occurrence still to send. It moves forward only after
the occurrence went out, in a compare-and-set on its old value, so one occurrence is sent once
(twice only if the process dies between Zalo accepting the message and that one commit).
"""

from __future__ import annotations

import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from zalogate.store import Store

__all__ = [
    "Schedule",
    "ScheduleError",
    "ScheduleStore",
    "SqliteScheduleStore",
    "check_cron",
    "first_occurrence",
    "new_schedule_id",
    "next_occurrence",
    "parse_at",
    "passed",
    "zone",
]


class ScheduleError(ValueError):
    """Bad schedule input (one line, naming the fix)."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``.

    Raises:
        ScheduleError: An unknown zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ScheduleError(
            f"unknown time zone {name!r} (use an IANA name such as Asia/Ho_Chi_Minh)"
        ) from exc


def check_cron(expression: str) -> str:
    """``expression`` when croniter accepts it (5 fields, or 6 with seconds).

    Raises:
        ScheduleError: It does not.
    """
    text = " ".join(expression.split())
    if not croniter.is_valid(text):
        raise ScheduleError(f"invalid cron expression {expression!r} (e.g. '0 8 * * 1-5')")
    return text


def next_occurrence(expression: str, tz: str, after_ms: int) -> int:
    """The first occurrence of ``expression`` (in ``tz``) strictly after ``after_ms``."""
    start = datetime.fromtimestamp(after_ms / 1000, zone(tz))
    following: datetime = croniter(expression, start).get_next(datetime)
    return int(following.timestamp() * 1000)


_RELATIVE = re.compile(r"^\+?(?:in\s+)?(\d+)\s*(s|sec|m|min|h|d)$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_at(text: str, tz: str, now: float) -> int:
    """``--at``: ``+10m`` / ``in 2h``, ``HH:MM`` (next such time), or an ISO date-time (in
    ``tz`` unless it carries an offset); ms since the epoch.

    Raises:
        ScheduleError: Unreadable, or in the past.
    """
    value = text.strip()
    relative = _RELATIVE.match(value)
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2).lower()
        return int((now + amount * _UNITS[unit]) * 1000)
    local = zone(tz)
    current = datetime.fromtimestamp(now, local)
    if re.fullmatch(r"\d{1,2}:\d{2}", value):
        hour, minute = (int(p) for p in value.split(":"))
        if hour > 23 or minute > 59:
            raise ScheduleError(f"--at {text!r}: not a time of day")
        moment = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if moment <= current:
            moment += timedelta(days=1)
        return int(moment.timestamp() * 1000)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ScheduleError(
            f"--at {text!r}: expected +10m, 18:30 or 2026-12-24T18:30 (ISO date-time)"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local)
    if moment <= current:
        raise ScheduleError(f"--at {text!r} is in the past")
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One row of ``schedules``."""

    id: str
    channel: str
    account_id: str | None
    target: str
    text: str
    cron: str | None
    tz: str
    next_at_ms: int | None
    status: str
    created_by: str
    sent_count: int
    last_sent_at_ms: int | None
    last_error: str | None
    created_at_ms: int

    def to_json(self) -> dict[str, Any]:
        """A JSON view (camelCase)."""
        data = asdict(self)
        return {_camel(k): v for k, v in data.items()}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest).replace("Ms", "Ms")


_SELECT = (
    "SELECT id, channel, account_id, target, text, cron, tz, next_at_ms, status, created_by,"
    " sent_count, last_sent_at_ms, last_error, created_at_ms FROM schedules"
)


def _row(row: sqlite3.Row) -> Schedule:
    return Schedule(**{key: row[key] for key in row.keys()})  # noqa: SIM118 (sqlite3.Row)


def first_occurrence(
    text: str, *, at_ms: int | None, cron: str | None, tz: str, now_ms: int
) -> tuple[str | None, int]:
    """A new schedule's checked cron expression and first occurrence (exactly one of
    ``at_ms`` / ``cron``).

    Raises:
        ScheduleError: Bad input.
    """
    if (at_ms is None) == (cron is None):
        raise ScheduleError("give exactly one of --at or --cron")
    if not text.strip():
        raise ScheduleError("the message is empty (give --message)")
    zone(tz)
    if cron is not None:
        cron = check_cron(cron)
        return cron, next_occurrence(cron, tz, now_ms)
    assert at_ms is not None
    return None, at_ms


def new_schedule_id() -> str:
    """A fresh schedule id (``s_`` + 8 hex digits)."""
    return "s_" + secrets.token_hex(4)


def passed(schedule: Schedule, *, sent: bool, now_ms: int) -> tuple[int | None, str]:
    """Where ``schedule`` goes once its current occurrence was sent (or skipped): the next
    occurrence and status.

    The next occurrence is the first after both the old one and ``now_ms`` (a schedule that
    was down for a day sends once, not once per missed occurrence); a one-shot schedule
    becomes ``done`` (or ``missed``).
    """
    occurrence = schedule.next_at_ms
    if schedule.cron is not None and occurrence is not None:
        return next_occurrence(schedule.cron, schedule.tz, max(occurrence, now_ms)), "active"
    return None, "done" if sent else "missed"


class ScheduleStore(Protocol):
    """Where schedules live: this process's SQLite table, or the cluster's KV bucket."""

    clock: Callable[[], float]

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
        """Store a new schedule (exactly one of ``at_ms`` / ``cron``).

        Raises:
            ScheduleError: Bad input.
        """
        ...

    async def get(self, schedule_id: str) -> Schedule | None:
        """One schedule by id."""
        ...

    async def all(self, *, include_done: bool = False) -> list[Schedule]:
        """Schedules by next occurrence (active ones only unless ``include_done``)."""
        ...

    async def cancel(self, schedule_id: str) -> bool:
        """Cancel an active schedule; False when there is none with that id."""
        ...

    async def due(self, now_ms: int) -> list[Schedule]:
        """Active schedules whose next occurrence is at or before ``now_ms``."""
        ...

    async def advance(
        self, schedule: Schedule, *, sent: bool, now_ms: int, error: str | None = None
    ) -> bool:
        """Move past ``schedule``'s current occurrence (see :func:`passed`), only if it is
        still that occurrence (compare-and-set); False when another scheduler moved it first."""
        ...

    async def note_error(self, schedule_id: str, error: str) -> None:
        """Remember why the last attempt failed (the schedule stays due)."""
        ...


class SqliteScheduleStore:
    """:class:`ScheduleStore` on the ``schedules`` table (one process)."""

    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
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
        """Store a new schedule (exactly one of ``at_ms`` / ``cron``).

        Raises:
            ScheduleError: Bad input.
        """
        now_ms = int(self.clock() * 1000)
        cron, first = first_occurrence(text, at_ms=at_ms, cron=cron, tz=tz, now_ms=now_ms)
        schedule_id = new_schedule_id()
        await self.store.execute(
            "INSERT INTO schedules (id, channel, account_id, target, text, cron, tz, next_at_ms,"
            " status, created_by, sent_count, last_sent_at_ms, last_error, created_at_ms)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, 0, NULL, NULL, ?)",
            (schedule_id, channel, account_id, target, text, cron, tz, first, created_by, now_ms),
        )
        found = await self.get(schedule_id)
        assert found is not None
        return found

    async def get(self, schedule_id: str) -> Schedule | None:
        """One schedule by id."""
        row = await self.store.fetchone(_SELECT + " WHERE id = ?", (schedule_id,))
        return None if row is None else _row(row)

    async def all(self, *, include_done: bool = False) -> list[Schedule]:
        """Schedules by next occurrence (active ones only unless ``include_done``)."""
        where = "" if include_done else " WHERE status = 'active'"
        order = " ORDER BY next_at_ms IS NULL, next_at_ms, rowid"
        rows = await self.store.fetchall(_SELECT + where + order)
        return [_row(r) for r in rows]

    async def cancel(self, schedule_id: str) -> bool:
        """Cancel an active schedule; False when there is none with that id."""
        changed = await self.store.execute(
            "UPDATE schedules SET status = 'cancelled', next_at_ms = NULL"
            " WHERE id = ? AND status = 'active'",
            (schedule_id,),
        )
        return changed > 0

    async def due(self, now_ms: int) -> list[Schedule]:
        """Active schedules whose next occurrence is at or before ``now_ms``."""
        rows = await self.store.fetchall(
            _SELECT + " WHERE status = 'active' AND next_at_ms IS NOT NULL"
            " AND next_at_ms <= ? ORDER BY next_at_ms, rowid",
            (now_ms,),
        )
        return [_row(r) for r in rows]

    async def advance(
        self, schedule: Schedule, *, sent: bool, now_ms: int, error: str | None = None
    ) -> bool:
        """Move past ``schedule``'s current occurrence (after it was sent, or skipped).
        False when another process moved it first."""
        occurrence = schedule.next_at_ms
        following, status = passed(schedule, sent=sent, now_ms=now_ms)
        changed = await self.store.execute(
            "UPDATE schedules SET next_at_ms = ?, status = ?,"
            " sent_count = sent_count + ?, last_sent_at_ms = CASE WHEN ? THEN ?"
            " ELSE last_sent_at_ms END, last_error = ? WHERE id = ? AND next_at_ms = ?"
            " AND status = 'active'",
            (following, status, int(sent), int(sent), now_ms, error, schedule.id, occurrence),
        )
        return changed > 0

    async def note_error(self, schedule_id: str, error: str) -> None:
        """Remember why the last attempt failed (the schedule stays due)."""
        await self.store.execute(
            "UPDATE schedules SET last_error = ? WHERE id = ?", (error, schedule_id)
        )
