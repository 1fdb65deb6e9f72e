"""The typing indicator: shown before the agent runs and renewed while it works.

Channels that can show "typing…" implement ``async typing(account, target)`` (Bot API
``sendChatAction``, zalouser typing event). Failures are logged at debug level and never
affect the reply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["DEFAULT_TYPING_INTERVAL", "TypingCallback", "typing_keepalive"]

log = logging.getLogger(__name__)

DEFAULT_TYPING_INTERVAL = 5.0

TypingCallback = Callable[[], Awaitable[object]]


async def _send_typing(callback: TypingCallback) -> None:
    try:
        await callback()
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # typing is decoration: never fatal
        log.debug("typing indicator failed: %s", type(exc).__name__)


async def _keepalive(callback: TypingCallback, interval: float) -> None:
    while True:
        await _send_typing(callback)
        await asyncio.sleep(interval)


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
    task = asyncio.create_task(_keepalive(callback, interval), name="zalogate-typing")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
