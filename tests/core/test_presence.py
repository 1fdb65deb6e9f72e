"""The typing keep-alive: shown after a grace, renewed, and a call in flight is never cut off."""

from __future__ import annotations

import asyncio

import pytest

from zalogate.core import presence
from zalogate.core.presence import typing_keepalive


async def test_typing_is_shown_at_once_and_renewed_while_the_block_runs() -> None:
    calls: list[float] = []

    async def typing() -> None:
        calls.append(asyncio.get_running_loop().time())

    async with typing_keepalive(typing, interval=0.02, grace=0):
        await asyncio.sleep(0.07)
    count = len(calls)
    assert count >= 3
    await asyncio.sleep(0.05)
    assert len(calls) == count  # no renewal after the block ended


async def test_a_typing_call_in_flight_finishes_after_a_fast_reply() -> None:
    # A fast agent ends the block while sendChatAction is still waiting for its answer:
    # cancelling it would make the HTTP client drop a pooled connection.
    started = asyncio.Event()
    release = asyncio.Event()
    outcome: list[str] = []

    async def typing() -> None:
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            outcome.append("cancelled")
            raise
        outcome.append("finished")

    async with typing_keepalive(typing, interval=5.0, grace=0):
        await started.wait()
    assert outcome == []  # the block did not wait for the call
    release.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert outcome == ["finished"]


async def test_no_callback_is_a_no_op() -> None:
    async with typing_keepalive(None):
        pass


async def test_an_answer_within_the_grace_shows_no_typing() -> None:
    calls: list[str] = []

    async def typing() -> None:
        calls.append("typing")

    async with typing_keepalive(typing, interval=0.01, grace=0.05):
        await asyncio.sleep(0)
    await asyncio.sleep(0.08)
    assert calls == []


async def test_typing_starts_once_the_agent_outlasts_the_grace() -> None:
    loop = asyncio.get_running_loop()
    calls: list[float] = []

    async def typing() -> None:
        calls.append(loop.time())

    began = loop.time()
    async with typing_keepalive(typing, interval=5.0, grace=0.03):
        await asyncio.sleep(0.1)
    assert len(calls) == 1
    assert calls[0] - began >= 0.03


async def test_the_default_grace_is_read_at_each_call(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    async def typing() -> None:
        calls.append("typing")

    monkeypatch.setattr(presence, "TYPING_GRACE", 0.0)
    async with typing_keepalive(typing):
        await asyncio.sleep(0.01)
    assert calls == ["typing"]


async def test_time_spent_sending_does_not_count_towards_the_grace() -> None:
    calls: list[str] = []

    async def typing() -> None:
        calls.append("typing")

    async with typing_keepalive(typing, interval=5.0, grace=0.03) as presence:
        with presence.sending():
            await asyncio.sleep(0.08)  # a reply stuck in a busy HTTP pool
        assert calls == []
        await asyncio.sleep(0.06)  # then the agent goes quiet: now typing shows
        assert calls == ["typing"]
        with presence.sending():
            await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert calls == ["typing"]
