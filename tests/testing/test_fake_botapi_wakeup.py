"""The fake's wake-up signal: a notify that comes before a waiting task starts is not lost.

``getUpdates`` waits for new updates in a task (``ensure_future(signal.wait(...))``); an update
pushed before that task ran its first step used to be missed, and the long-poll was held for
its full timeout with the update pending (seen as a 30 s outlier in bench/zalo_polling.py).
"""

from __future__ import annotations

import asyncio

from zalogate.testing.fake_botapi.models import Signal as _Signal


async def test_a_notify_before_the_waiting_task_starts_wakes_it() -> None:
    signal = _Signal()
    waiting = asyncio.ensure_future(signal.wait(5.0))
    signal.notify()  # the task has not run yet
    await asyncio.wait_for(waiting, 1.0)


async def test_a_wait_without_notify_ends_at_its_limit() -> None:
    signal = _Signal()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await signal.wait(0.05)
    assert loop.time() - started >= 0.04
