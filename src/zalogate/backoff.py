"""A small jittered exponential backoff, shared by every layer (it imports nothing of ours).

Usage::

    backoff = Backoff(BackoffConfig(min_delay=1, max_delay=30))
    while not stop.is_set():
        try:
            await poll()
            backoff.reset()
        except TransientError:
            if await backoff.sleep(stop):  # True when stop was set while waiting
                break
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass

__all__ = ["Backoff", "BackoffConfig"]


@dataclass(frozen=True, slots=True)
class BackoffConfig:
    """Delays grow from ``min_delay`` by ``factor`` up to ``max_delay``, each +/- ``jitter``."""

    min_delay: float = 1.0
    max_delay: float = 30.0
    factor: float = 2.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.min_delay < 0 or self.max_delay < self.min_delay:
            raise ValueError("need 0 <= min_delay <= max_delay")
        if self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError("need factor >= 1 and 0 <= jitter < 1")


class Backoff:
    """Iterator of delays with ``reset()``; ``sleep(stop)`` waits but wakes at once on stop."""

    def __init__(self, config: BackoffConfig | None = None, *, rng: random.Random | None = None):
        self.config = config or BackoffConfig()
        self._rng = rng or random.Random()
        self._attempt = 0

    @property
    def attempt(self) -> int:
        """How many delays were taken since the last reset."""
        return self._attempt

    def reset(self) -> None:
        """Start again from ``min_delay`` (call after a success)."""
        self._attempt = 0

    def next_delay(self) -> float:
        """The next delay in seconds; advances the attempt counter."""
        cfg = self.config
        base = min(cfg.max_delay, cfg.min_delay * (cfg.factor**self._attempt))
        self._attempt += 1
        if cfg.jitter:
            base *= 1 + self._rng.uniform(-cfg.jitter, cfg.jitter)
        return max(0.0, min(base, cfg.max_delay))

    def __iter__(self) -> Backoff:
        return self

    def __next__(self) -> float:
        return self.next_delay()

    async def sleep(self, stop: asyncio.Event | None = None) -> bool:
        """Wait the next delay; return True if ``stop`` was set before or during the wait."""
        delay = self.next_delay()
        if stop is None:
            await asyncio.sleep(delay)
            return False
        if stop.is_set():
            return True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        return stop.is_set()
