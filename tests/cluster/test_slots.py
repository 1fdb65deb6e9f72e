"""Processing slots handed out by priority."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from zalogate.cluster.slots import PrioritySlots


def _holder(
    slots: PrioritySlots, release: asyncio.Event, ran: list[str]
) -> Callable[[str, int], Awaitable[None]]:
    """A holder that records its turn; ``first`` keeps its slot until ``release``."""

    async def holder(name: str, key: int) -> None:
        async with slots.hold(key):
            ran.append(name)
            if name == "first":
                await release.wait()

    return holder


async def test_a_freed_slot_goes_to_the_waiter_with_the_lowest_key() -> None:
    slots = PrioritySlots(1)
    order: list[str] = []
    release = asyncio.Event()
    holder = _holder(slots, release, order)
    first = asyncio.create_task(holder("first", 0))
    await asyncio.sleep(0)
    waiters = [asyncio.create_task(holder(name, key)) for name, key in (("c", 3), ("a", 1))]
    waiters.append(asyncio.create_task(holder("b", 1)))  # same key as "a": after it
    for _ in range(3):
        await asyncio.sleep(0)
    release.set()
    await asyncio.gather(first, *waiters)
    assert order == ["first", "a", "b", "c"]


async def test_a_cancelled_waiter_gives_its_turn_on() -> None:
    slots = PrioritySlots(1)
    release = asyncio.Event()
    ran: list[str] = []
    holder = _holder(slots, release, ran)
    first = asyncio.create_task(holder("first", 0))
    await asyncio.sleep(0)
    gone = asyncio.create_task(holder("gone", 1))
    later = asyncio.create_task(holder("later", 2))
    await asyncio.sleep(0)
    gone.cancel()
    release.set()
    await asyncio.gather(first, later)
    assert ran == ["first", "later"]
    async with slots.hold(0):  # the slot came back: nothing leaked
        pass
