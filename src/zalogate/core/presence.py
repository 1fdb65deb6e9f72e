"""The typing indicator: shown before the agent runs and renewed while it works.

Channels that can show "typing…" implement ``async typing(account, target)`` (Bot API
``sendChatAction``, zalouser typing event). Failures are logged at debug level and never
affect the reply.

When the block ends while a typing call is still in flight (a fast agent answers before
``sendChatAction`` returns), the call is left to finish in the background instead of being
cancelled: cancelling an HTTP request half way makes the client drop its pooled connection,
so every fast reply would cost a new TCP connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["DEFAULT_TYPING_INTERVAL", "TypingCallback", "typing_keepalive"]

log = logging.getLogger(__name__)

DEFAULT_TYPING_INTERVAL = 5.0
_FINISH_LIMIT = 10.0
"""Seconds a typing call still in flight when its block ended may take before it is cancelled."""

TypingCallback = Callable[[], Awaitable[object]]


async def _send_typing(callback: TypingCallback) -> None:
    try:
        await callback()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # typing is decoration: never fatal
        log.debug("typing indicator failed: %s", type(exc).__name__)


_in_flight: set[asyncio.Task[None]] = set()
"""Keep-alive tasks finishing their last typing call after their block ended (strong refs)."""


async def _keepalive(callback: TypingCallback, interval: float, done: asyncio.Event) -> None:
    while not done.is_set():
        await _send_typing(callback)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), interval)


@contextlib.asynccontextmanager
async def typing_keepalive(
    callback: TypingCallback | None, interval: float = DEFAULT_TYPING_INTERVAL
) -> AsyncIterator[None]:
    """Call ``callback`` now and every ``interval`` seconds until the block ends.

    ``callback`` None (the channel cannot show typing) makes this a no-op.
    """
    if callback is None or interval <= 0:
        yield
        return
    done = asyncio.Event()
    task = asyncio.create_task(_keepalive(callback, interval, done), name="zalogate-typing")
    try:
        yield
    finally:
        # The task ends by itself: at once when it waits for the next renewal, after its
        # call when one is in flight (not awaited: the reply must not wait for "typing…").
        done.set()
        if not task.done():
            _in_flight.add(task)
            task.add_done_callback(_in_flight.discard)
            cap = asyncio.get_running_loop().call_later(_FINISH_LIMIT, task.cancel)
            task.add_done_callback(lambda _: cap.cancel())
