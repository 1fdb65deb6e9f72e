"""`FileDoneRegistry`: uploads waiting for the websocket's ``file_done`` control."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict

__all__ = ["FileDoneRegistry"]


class FileDoneRegistry:
    """Pending ``file_done`` waits by file id; results that arrive early are kept a while.

    The websocket may deliver ``file_done`` before the upload answer has been read, so a
    resolution without a waiter is buffered (bounded, ``keep_s`` seconds).
    """

    def __init__(self, *, keep_s: float = 300.0, max_early: int = 256) -> None:
        self._waiters: dict[str, asyncio.Future[str]] = {}
        self._early: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._keep_s = keep_s
        self._max_early = max_early

    def waiter(self, file_id: str) -> asyncio.Future[str]:
        """A future resolved with the file URL when ``file_done`` for ``file_id`` arrives."""
        fut = self._waiters.get(file_id)
        if fut is not None and not fut.done():
            return fut
        fut = asyncio.get_running_loop().create_future()
        early = self._early.pop(file_id, None)
        if early is not None and time.monotonic() - early[1] <= self._keep_s:
            fut.set_result(early[0])
        else:
            self._waiters[file_id] = fut
            fut.add_done_callback(lambda _f: self._forget(file_id, _f))
        return fut

    def _forget(self, file_id: str, fut: asyncio.Future[str]) -> None:
        if self._waiters.get(file_id) is fut:
            del self._waiters[file_id]

    def resolve(self, file_id: str, url: str) -> bool:
        """Deliver ``url`` for ``file_id``; return whether someone was waiting."""
        fut = self._waiters.pop(str(file_id), None)
        if fut is not None and not fut.done():
            fut.set_result(url)
            return True
        now = time.monotonic()
        self._early[str(file_id)] = (url, now)
        while len(self._early) > self._max_early:
            self._early.popitem(last=False)
        return False

    def pending(self) -> int:
        """Number of uploads waiting for their ``file_done``."""
        return len(self._waiters)
