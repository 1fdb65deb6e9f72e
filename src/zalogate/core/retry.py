"""Retrying one outbound API call: a few attempts, a jittered backoff between them.

Channel-agnostic: the channel says which of its errors may succeed on a second try
(``retryable``) and, optionally, how an error stretches the wait (e.g. a 429's
``Retry-After``). Whatever is not retried, and the last error, propagate unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from zalogate.backoff import Backoff, BackoffConfig

__all__ = ["RetryPolicy", "call_with_retry"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently one outbound API call is retried."""

    attempts: int = 3
    backoff: BackoffConfig = field(
        default_factory=lambda: BackoffConfig(min_delay=0.5, max_delay=8.0)
    )


async def call_with_retry(
    call: Callable[[], Awaitable[_T]],
    policy: RetryPolicy,
    *,
    retryable: Callable[[Exception], bool],
    label: str,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    delay_of: Callable[[Exception, float], float] | None = None,
) -> _T:
    """``await call()``, again after a backoff delay while it fails with a retryable error.

    Args:
        call: The API call (a new awaitable each time).
        policy: Attempts and backoff.
        retryable: Whether an error may go away on another attempt.
        label: What the debug line of a retry names (e.g. ``"[default] zalo send"``).
        sleep: The wait (tests pass a recorder).
        delay_of: ``(error, backoff delay) -> delay`` for errors that say how long to wait.

    Raises:
        Exception: The first error that is not retryable, or the last one.
    """
    backoff: Backoff | None = None  # made on the first retry: seeding an RNG per call costs
    attempt = 1
    while True:
        try:
            return await call()
        except Exception as exc:
            if attempt >= policy.attempts or not retryable(exc):
                raise
            backoff = backoff or Backoff(policy.backoff)
            delay = backoff.next_delay()
            if delay_of is not None:
                delay = delay_of(exc, delay)
            log.debug(
                "%s attempt %d failed (%s); retrying in %.2fs",
                label,
                attempt,
                type(exc).__name__,
                delay,
            )
            await sleep(delay)
            attempt += 1
