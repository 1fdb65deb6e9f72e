"""The typing indicator: shown while the agent works, renewed until it answers.

The indicator starts once the agent has been working for ``TYPING_GRACE`` seconds (0.25),
not the moment it starts: an answer that is ready sooner would arrive together with its own
"typing…", which nobody sees, at the cost of one more API call per message (half the
outbound calls of a Bot API reply). Any agent that calls a model shows typing as before.

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
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

__all__ = [
    "DEFAULT_TYPING_INTERVAL",
    "TYPING_GRACE",
    "Presence",
    "TypingCallback",
    "typing_keepalive",
]

log = logging.getLogger(__name__)

DEFAULT_TYPING_INTERVAL = 5.0
TYPING_GRACE = 0.25
"""Seconds of agent work before "typing…" is shown (a faster answer shows no indicator)."""
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


def _cancel_timer(timer: asyncio.TimerHandle, _: object) -> None:
    timer.cancel()


class Presence:
    """The typing indicator of one turn (what `typing_keepalive` yields).

    Before typing has started, the grace counts agent silence only: `sending` stops the
    clock while replies go out and starts it again afterwards, so a busy HTTP pool or a
    streamed first block never turns into a late "typing…".
    """

    def __init__(self, start: Callable[[], None], grace: float) -> None:
        self._start = start
        self._grace = grace
        self._timer: asyncio.TimerHandle | None = None
        self.started = False

    def _fire(self) -> None:
        self._timer = None
        self.started = True
        self._start()

    def _arm(self) -> None:
        if self.started:
            return
        if self._grace <= 0:
            self._fire()
        else:
            self._timer = asyncio.get_running_loop().call_later(self._grace, self._fire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Hold the grace clock while a reply is delivered (no effect once typing shows)."""
        self._disarm()
        try:
            yield
        finally:
            self._arm()


@contextlib.asynccontextmanager
async def typing_keepalive(
    callback: TypingCallback | None,
    interval: float = DEFAULT_TYPING_INTERVAL,
    *,
    grace: float | None = None,
) -> AsyncIterator[Presence]:
    """Call ``callback`` after ``grace`` seconds and every ``interval`` s until the block ends.

    A block that ends within ``grace`` (default `TYPING_GRACE`, read at each call) calls
    nothing; ``grace=0`` calls at once. ``callback`` None (the channel cannot show typing)
    makes this a no-op.
    """
    if grace is None:
        grace = TYPING_GRACE
    done = asyncio.Event()
    started: list[asyncio.Task[None]] = []
    enabled = callback is not None and interval > 0

    def start() -> None:
        if enabled:
            assert callback is not None
            started.append(
                asyncio.create_task(_keepalive(callback, interval, done), name="zalogate-typing")
            )

    # A timer, not a sleeping task: a fast answer costs one cancelled TimerHandle.
    presence = Presence(start, grace)
    if enabled:
        presence._arm()
    else:  # nothing to show: no timer per block and per `sending`
        presence.started = True
    try:
        yield presence
    finally:
        presence.started = True  # no timer may start typing after the block
        presence._disarm()
        # The task ends by itself: at once when it waits for the next renewal, after its
        # call when one is in flight (not awaited: the reply must not wait for "typing…").
        done.set()
        for task in started:
            if not task.done():
                _in_flight.add(task)
                task.add_done_callback(_in_flight.discard)
                cap = asyncio.get_running_loop().call_later(_FINISH_LIMIT, task.cancel)
                task.add_done_callback(functools.partial(_cancel_timer, cap))
