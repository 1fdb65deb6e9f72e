"""The typing keep-alive: shown at once, renewed, and a call in flight is never cut off."""

from __future__ import annotations

import asyncio

from zalogate.core.presence import typing_keepalive


async def test_typing_is_shown_at_once_and_renewed_while_the_block_runs() -> None:
    calls: list[float] = []

    async def typing() -> None:
        calls.append(asyncio.get_running_loop().time())

    async with typing_keepalive(typing, interval=0.02):
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

    async with typing_keepalive(typing, interval=5.0):
        await started.wait()
    assert outcome == []  # the block did not wait for the call
    release.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert outcome == ["finished"]


async def test_no_callback_is_a_no_op() -> None:
    async with typing_keepalive(None):
        pass
