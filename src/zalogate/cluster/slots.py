"""Processing slots handed out by priority: the waiter with the lowest key goes first."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import AsyncIterator

__all__ = ["PrioritySlots"]


class PrioritySlots:
    """At most ``size`` holders at a time; a freed slot goes to the waiting holder with the
    lowest key (ties: the first to ask), not simply to the first to ask."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: list[tuple[object, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    @contextlib.asynccontextmanager
    async def hold(self, key: object) -> AsyncIterator[None]:
        """Hold a slot for the block; ``key`` orders this holder among the waiting ones."""
        if self._free > 0:  # then nobody waits: a freed slot goes to a waiter first
            self._free -= 1
        else:
            turn = asyncio.get_running_loop().create_future()
            heapq.heappush(self._waiters, (key, next(self._order), turn))
            try:
                await turn
            except asyncio.CancelledError:
                if turn.done() and not turn.cancelled():  # handed a slot just as cancelled
                    self._release()
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        while self._waiters:
            _, _, turn = heapq.heappop(self._waiters)
            if not turn.done():
                turn.set_result(None)
                return
        self._free += 1
