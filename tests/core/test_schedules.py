"""Schedules: time parsing, cron in a time zone, once per occurrence, the send limit, a
transient refusal, and the ``schedule`` agent tool."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from zalogate.config import ZalogateConfig, parse_config
from zalogate.core.model import ChatType, InboundMessage
from zalogate.core.schedules import (
    Schedule,
    ScheduleError,
    SqliteScheduleStore,
    next_occurrence,
    parse_at,
)
from zalogate.runtime.scheduler import Scheduler, TransientSendError
from zalogate.runtime.scheduling import schedule_tools
from zalogate.store import Store

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
# 2026-12-07 09:00 in Ho Chi Minh City (UTC+7)
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=HCM).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path, synchronous="NORMAL") as opened:
        yield opened


def local(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, HCM).strftime("%Y-%m-%d %H:%M")


def test_parse_at_forms() -> None:
    tz = "Asia/Ho_Chi_Minh"
    assert parse_at("+10m", tz, NOW) == int((NOW + 600) * 1000)
    assert parse_at("in 2h", tz, NOW) == int((NOW + 7200) * 1000)
    assert local(parse_at("18:30", tz, NOW)) == "2026-12-07 18:30"
    assert local(parse_at("08:00", tz, NOW)) == "2026-12-08 08:00"  # already past today
    assert local(parse_at("2026-12-24T18:30", tz, NOW)) == "2026-12-24 18:30"
    assert local(parse_at("2026-12-24T18:30+00:00", tz, NOW)) == "2026-12-25 01:30"
    with pytest.raises(ScheduleError, match="in the past"):
        parse_at("2026-12-01T10:00", tz, NOW)
    with pytest.raises(ScheduleError, match="not a time of day"):
        parse_at("24:10", tz, NOW)


def test_cron_occurrences_are_in_the_schedules_time_zone() -> None:
    first = next_occurrence("0 8 * * *", "Asia/Ho_Chi_Minh", int(NOW * 1000))
    assert local(first) == "2026-12-08 08:00"
    utc = next_occurrence("0 8 * * *", "UTC", int(NOW * 1000))
    assert local(utc) == "2026-12-07 15:00"


class Outbox:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.refuse: type[Exception] | None = None

    async def __call__(self, schedule: Schedule) -> Sequence[str]:
        if self.refuse is not None:
            raise self.refuse("account not running")
        self.sent.append(schedule.text)
        return [f"m{len(self.sent)}"]


async def test_each_occurrence_goes_out_once(store: Store) -> None:
    clock = Clock(NOW)
    schedules = SqliteScheduleStore(store, clock=clock)
    outbox = Outbox()
    scheduler = Scheduler(schedules, outbox, min_interval=0, clock=clock)
    await schedules.add("zalo", "u1", "every minute", cron="* * * * *")
    assert await scheduler.tick() == 0
    clock.now += 60
    assert await scheduler.tick() == 1
    assert await scheduler.tick() == 0  # same minute: nothing new
    clock.now += 60
    assert await scheduler.tick() == 1
    # A second scheduler on the same store (another gateway) finds nothing left to send.
    other = Scheduler(SqliteScheduleStore(store, clock=clock), outbox, min_interval=0, clock=clock)
    assert await other.tick() == 0
    assert outbox.sent == ["every minute", "every minute"]


async def test_a_transient_refusal_keeps_the_occurrence_due(store: Store) -> None:
    clock = Clock(NOW)
    schedules = SqliteScheduleStore(store, clock=clock)
    outbox = Outbox()
    scheduler = Scheduler(schedules, outbox, min_interval=0, clock=clock)
    added = await schedules.add("zalo", "u1", "later", at_ms=int((NOW + 1) * 1000))
    clock.now += 2
    outbox.refuse = TransientSendError
    assert await scheduler.tick() == 0
    kept = await schedules.get(added.id)
    assert kept is not None
    assert (kept.status, kept.last_error) == ("active", "account not running")
    outbox.refuse = None
    assert await scheduler.tick() == 1
    done = await schedules.get(added.id)
    assert done is not None
    assert (done.status, done.sent_count) == ("done", 1)


async def test_a_permanent_failure_passes_the_occurrence(store: Store) -> None:
    clock = Clock(NOW)
    schedules = SqliteScheduleStore(store, clock=clock)
    outbox = Outbox()
    outbox.refuse = LookupError
    scheduler = Scheduler(schedules, outbox, min_interval=0, clock=clock)
    added = await schedules.add("zalo", "u1", "x", at_ms=int((NOW + 1) * 1000))
    clock.now += 2
    assert await scheduler.tick() == 0
    missed = await schedules.get(added.id)
    assert missed is not None
    assert missed.status == "missed"
    assert scheduler.health()["failures"] == 1


async def test_the_send_limit_spaces_sends_of_one_account(store: Store) -> None:
    clock = Clock(NOW)
    schedules = SqliteScheduleStore(store, clock=clock)
    outbox = Outbox()
    scheduler = Scheduler(schedules, outbox, min_interval=5, clock=clock)
    for text in ("a", "b", "c"):
        await schedules.add("zalo", "u1", text, at_ms=int((NOW + 1) * 1000))
    clock.now += 2
    assert await scheduler.tick() == 1
    assert await scheduler.tick() == 0
    clock.now += 5
    assert await scheduler.tick() == 1
    assert outbox.sent == ["a", "b"]


async def test_the_schedule_tool_sets_a_reminder_for_this_conversation(store: Store) -> None:
    clock = Clock(NOW)
    schedules = SqliteScheduleStore(store, clock=clock)
    message = InboundMessage(
        channel="zalouser",
        account_id="work",
        chat_type=ChatType.GROUP,
        chat_id="g7",
        sender_id="u1",
        message_id="m1",
        timestamp_ms=1,
        text="nhắc tôi",
    )
    assert schedule_tools(ZalogateConfig(), schedules)(message) == ()  # off by default
    config = parse_config({"schedules": {"agentTool": True}}, env={})
    [tool] = schedule_tools(config, schedules)(message)
    assert tool.name == "schedule"
    result = await tool.call({"message": "Đến giờ họp", "at": "+15m"})
    [added] = await schedules.all()
    assert result == {"scheduled": added.id, "nextAtMs": int((NOW + 900) * 1000)}
    assert (added.channel, added.account_id, added.target, added.created_by) == (
        "zalouser",
        "work",
        "group:g7",
        "agent",
    )
    assert await tool.call({"message": "x", "cron": "nope"}) == {
        "error": "invalid cron expression 'nope' (e.g. '0 8 * * 1-5')"
    }
