"""The monitor admits listener messages without waiting for each commit: admissions of
different conversations overlap, those of one conversation run one at a time in arrival
order, a failed admission ends the monitor with its error, and none is cancelled or lost when
the listener closes."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from types import SimpleNamespace
from typing import Any, cast

import pytest

from zalogate.channels.zalouser.connection import AccountConnection
from zalogate.channels.zalouser.inbound import GroupInfoCache
from zalogate.channels.zalouser.monitor import (
    AccountMonitor,
    ListenerState,
    MonitorOptions,
    _Admissions,
)
from zalogate.core.model import InboundMessage
from zalogate.personal.event_parsing import parse_event
from zalogate.personal.events import UserMessage
from zalogate.personal.listener import Listener

BOT = "1001"


def dm_event(sender: str, msg_id: str, text: str) -> UserMessage:
    raw = {
        "msgId": msg_id,
        "cliMsgId": f"c{msg_id}",
        "msgType": "webchat",
        "uidFrom": sender,
        "idTo": "0",
        "dName": f"user {sender}",
        "ts": "1700000000000",
        "content": text,
    }
    (event,) = parse_event(501, 0, {"data": {"msgs": [raw]}}, own_uid=BOT)
    assert isinstance(event, UserMessage)
    return event


class GatedAdmit:
    """An ``admit`` that records when each message starts and holds it until released."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.started: list[str] = []
        self.finished: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}
        self.fail_on = fail_on

    def release(self, text: str) -> None:
        self.gates.setdefault(text, asyncio.Event()).set()

    def release_all(self) -> None:
        for text in ("a1", "a2", "a3", "b1", "b2", "c1"):
            self.release(text)

    async def __call__(self, message: InboundMessage) -> None:
        self.started.append(message.text)
        await self.gates.setdefault(message.text, asyncio.Event()).wait()
        if message.text == self.fail_on:
            raise RuntimeError("the journal write failed")
        self.finished.append(message.text)


def monitor(admit: Any, *, limit: int = 256) -> AccountMonitor:
    connection = cast("AccountConnection", SimpleNamespace(account=SimpleNamespace(account_id="a")))

    async def no_lookup(group_id: str) -> None:
        return None

    return AccountMonitor(
        connection,
        admit,
        GroupInfoCache(no_lookup),
        ListenerState(),
        MonitorOptions(max_admitting=limit),
    )


class FakeListener:
    """Yields the given events, then (optionally) waits until ``close`` before ending."""

    def __init__(self, events: Iterable[object], *, stay_open: bool = False) -> None:
        self.events = list(events)
        self.closed = asyncio.Event()
        if not stay_open:
            self.closed.set()

    async def __aiter__(self) -> AsyncIterator[object]:
        for event in self.events:
            yield event
        await self.closed.wait()


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


async def messages(*specs: tuple[str, str, str]) -> list[InboundMessage]:
    mon = monitor(None)
    found = []
    for sender, msg_id, text in specs:
        message = await mon._normalize(dm_event(sender, msg_id, text), BOT)
        assert message is not None
        found.append(message)
    return found


async def test_admissions_of_different_conversations_overlap() -> None:
    admit = GatedAdmit()
    admissions = _Admissions(admit, limit=8)
    for message in await messages(("2001", "1", "a1"), ("2002", "2", "b1"), ("2003", "3", "c1")):
        await admissions.add(message)
    await settle()
    # All three are waiting for their commits at once; none had to wait for another.
    assert sorted(admit.started) == ["a1", "b1", "c1"]
    assert admit.finished == []
    admit.release_all()
    await admissions.drain()
    assert sorted(admit.finished) == ["a1", "b1", "c1"]


async def test_one_conversation_is_admitted_one_at_a_time_in_arrival_order() -> None:
    admit = GatedAdmit()
    admissions = _Admissions(admit, limit=8)
    specs = [("2001", "1", "a1"), ("2002", "2", "b1"), ("2001", "3", "a2"), ("2001", "4", "a3")]
    for message in await messages(*specs):
        await admissions.add(message)
    await settle()
    assert admit.started == ["a1", "b1"]  # a2 waits for a1, a3 for a2
    admit.release("a2")  # released early: a2 still may not start before a1 is admitted
    await settle()
    assert admit.started == ["a1", "b1"]
    admit.release("a1")
    await settle()
    # a1 done, then a2 (already released) ran and finished, and a3 waits at its gate.
    assert admit.started == ["a1", "b1", "a2", "a3"]
    assert admit.finished == ["a1", "a2"]
    admit.release_all()
    await admissions.drain()
    assert sorted(admit.finished) == ["a1", "a2", "a3", "b1"]
    assert [t for t in admit.finished if t.startswith("a")] == ["a1", "a2", "a3"]
    assert [t for t in admit.started if t.startswith("a")] == ["a1", "a2", "a3"]


async def test_the_limit_holds_the_next_message_until_a_place_frees() -> None:
    admit = GatedAdmit()
    admissions = _Admissions(admit, limit=2)
    first, second, third = await messages(
        ("2001", "1", "a1"), ("2002", "2", "b1"), ("2003", "3", "c1")
    )
    await admissions.add(first)
    await admissions.add(second)
    adding = asyncio.create_task(admissions.add(third))
    await settle()
    assert not adding.done()
    admit.release("b1")
    await asyncio.wait_for(adding, 5)
    admit.release_all()
    await admissions.drain()
    assert sorted(admit.finished) == ["a1", "b1", "c1"]


async def test_a_failed_admission_ends_the_consumer_with_its_error() -> None:
    admit = GatedAdmit(fail_on="a1")
    admit.release_all()
    events = [dm_event("2001", "1", "a1"), dm_event("2002", "2", "b1")]
    listener = FakeListener(events, stay_open=True)
    mon = monitor(admit)
    consumer = asyncio.create_task(mon._consume(cast("Listener", listener), BOT))
    await settle()
    listener.events.append(dm_event("2003", "3", "c1"))  # not read: the listener is past it
    listener.closed.set()
    with pytest.raises(RuntimeError, match="journal write failed"):
        await asyncio.wait_for(consumer, 5)
    assert admit.finished == ["b1"]  # the other conversation's message was still admitted


async def test_closing_the_listener_waits_for_admissions_in_flight() -> None:
    admit = GatedAdmit()
    events = [dm_event("2001", "1", "a1"), dm_event("2001", "2", "a2"), dm_event("2002", "3", "b1")]
    listener = FakeListener(events)
    consumer = asyncio.create_task(monitor(admit)._consume(cast("Listener", listener), BOT))
    await settle()
    assert not consumer.done()  # the stream ended, but a1 and b1 are still being admitted
    admit.release_all()
    await asyncio.wait_for(consumer, 5)
    assert admit.finished == ["a1", "a2", "b1"] or sorted(admit.finished) == ["a1", "a2", "b1"]
    assert admit.finished.index("a1") < admit.finished.index("a2")


async def test_cancelling_the_consumer_does_not_cancel_an_admission() -> None:
    admit = GatedAdmit()
    listener = FakeListener([dm_event("2001", "1", "a1")], stay_open=True)
    consumer = asyncio.create_task(monitor(admit)._consume(cast("Listener", listener), BOT))
    await settle()
    assert admit.started == ["a1"]
    consumer.cancel()
    await settle()
    admit.release("a1")
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(consumer, 5)
    await settle()
    assert admit.finished == ["a1"]
