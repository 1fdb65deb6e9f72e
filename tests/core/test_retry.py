"""call_with_retry: retryable errors are retried with backoff delays, others propagate."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.core.retry import RetryPolicy, call_with_retry

POLICY = RetryPolicy(attempts=3, backoff=BackoffConfig(min_delay=1.0, max_delay=4.0, jitter=0))


class FlakyError(Exception):
    pass


class FatalError(Exception):
    pass


def script(*outcomes: Exception | str) -> tuple[list[int], Callable[[], Awaitable[str]]]:
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return calls, call


async def test_a_retryable_error_is_retried_after_the_backoff_delays() -> None:
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)

    calls, call = script(FlakyError(), FlakyError(), "ok")
    result = await call_with_retry(
        call,
        POLICY,
        retryable=lambda exc: isinstance(exc, FlakyError),
        label="test",
        sleep=sleep,
    )
    assert (result, len(calls), waits) == ("ok", 3, [1.0, 2.0])


async def test_the_last_error_propagates_after_the_attempts() -> None:
    async def sleep(delay: float) -> None:
        pass

    calls, call = script(FlakyError("1"), FlakyError("2"), FlakyError("3"), "never")
    with pytest.raises(FlakyError, match="3"):
        await call_with_retry(
            call,
            POLICY,
            retryable=lambda exc: True,
            label="test",
            sleep=sleep,
        )
    assert len(calls) == 3


async def test_an_error_that_is_not_retryable_propagates_at_once() -> None:
    calls, call = script(FatalError(), "never")
    with pytest.raises(FatalError):
        await call_with_retry(
            call,
            POLICY,
            retryable=lambda exc: isinstance(exc, FlakyError),
            label="test",
        )
    assert len(calls) == 1


async def test_delay_of_stretches_the_wait() -> None:
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)

    _, call = script(FlakyError(), "ok")
    await call_with_retry(
        call,
        POLICY,
        retryable=lambda exc: True,
        label="test",
        sleep=sleep,
        delay_of=lambda exc, delay: delay + 2.5,
    )
    assert waits == [3.5]
