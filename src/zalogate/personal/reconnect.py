"""Reconnecting the listener: the server's rules and the decision after each close.

`ReconnectPolicy` is read from ``settings.features.socket`` of ``getServerInfo``: which close
codes are retried (``close_and_retry_codes``), how often and after how long (``retries``), and
which rotate to the next websocket URL (``rotate_error_codes``). `Reconnector` applies it, with
retry budgets and a backoff for failures the rules do not describe. (Retrying a failed
outbound call is another concept: the gateway's ``core.retry.RetryPolicy``.)
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from zalogate.backoff import Backoff
from zalogate.personal.listener_lifecycle import CloseReason

__all__ = ["ReconnectPolicy", "ReconnectRule", "Reconnector"]


@dataclass(frozen=True, slots=True)
class ReconnectRule:
    """``settings.features.socket.retries[code]``: at most ``max`` retries after ``times_ms``."""

    max: int
    times_ms: tuple[int, ...]

    def delay_s(self, attempt: int) -> float:
        """Delay before retry number ``attempt`` (1-based); the last value repeats."""
        if not self.times_ms:
            return 0.0
        return self.times_ms[min(attempt, len(self.times_ms)) - 1] / 1000.0


# Used when the server's settings lack them (the values the web client has been seen to get).
_DEFAULT_RULES: Final = {
    1006: ReconnectRule(5, (1000, 2000, 5000)),
    3003: ReconnectRule(1, (5000,)),
}
_DEFAULT_RETRY_CODES: Final = frozenset({1006, 3003})
_DEFAULT_ROTATE_CODES: Final = frozenset({1006})


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """The server's reconnect rules (``settings.features.socket``)."""

    rules: Mapping[int, ReconnectRule] = field(default_factory=lambda: dict(_DEFAULT_RULES))
    retry_codes: frozenset[int] = _DEFAULT_RETRY_CODES
    rotate_codes: frozenset[int] = _DEFAULT_ROTATE_CODES

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> ReconnectPolicy:
        """Read ``features.socket`` of ``getServerInfo`` settings; defaults for missing parts."""
        features = settings.get("features")
        socket = features.get("socket") if isinstance(features, Mapping) else None
        if not isinstance(socket, Mapping):
            return cls()
        rules: dict[int, ReconnectRule] = {}
        raw_rules = socket.get("retries")
        if isinstance(raw_rules, Mapping):
            for code, rule in raw_rules.items():
                parsed = _rule(code, rule)
                if parsed is not None:
                    rules[parsed[0]] = parsed[1]
        else:
            rules = dict(_DEFAULT_RULES)
        return cls(
            rules=rules,
            retry_codes=_codes(socket.get("close_and_retry_codes"), _DEFAULT_RETRY_CODES),
            rotate_codes=_codes(socket.get("rotate_error_codes"), _DEFAULT_ROTATE_CODES),
        )


def _rule(code: Any, rule: Any) -> tuple[int, ReconnectRule] | None:
    try:
        number = int(code)
    except (TypeError, ValueError):
        return None
    if not isinstance(rule, Mapping):
        return None
    times = rule.get("times")
    raw_times = [times] if isinstance(times, int | float) else times
    if not isinstance(raw_times, list):
        raw_times = []
    parsed = tuple(int(t) for t in raw_times if isinstance(t, int | float) and t >= 0)
    max_retries = rule.get("max")
    return number, ReconnectRule(int(max_retries) if isinstance(max_retries, int) else 0, parsed)


def _codes(value: Any, default: frozenset[int]) -> frozenset[int]:
    if not isinstance(value, list):
        return default
    return frozenset(int(v) for v in value if isinstance(v, int) and not isinstance(v, bool))


class Reconnector:
    """Decides after each close whether, when and where the listener connects again.

    Close codes the policy names use their retry budgets (reset once a connection stayed up
    ``stable_after_s``); failures it does not describe back off with ``backoff``.

    Args:
        policy: the server's rules, or ``None`` to never reconnect.
        backoff: delays for failures the rules do not cover.
        rng: jitter source for the rules' delays.
        stable_after_s: a connection this old resets the retry budgets.
    """

    def __init__(
        self,
        policy: ReconnectPolicy | None,
        backoff: Backoff,
        rng: random.Random,
        *,
        stable_after_s: float,
    ) -> None:
        self.policy = policy
        self._backoff = backoff
        self._rng = rng
        self._stable_after_s = stable_after_s
        self._counts: dict[int, int] = {}

    def plan(
        self, reason: CloseReason, code: int | None, up_for: float | None
    ) -> tuple[bool, float, bool]:
        """(retry?, delay_s, rotate?) after a connection ended."""
        if up_for is not None and up_for >= self._stable_after_s:
            self._counts.clear()
            self._backoff.reset()
        if reason in (
            CloseReason.MANUAL,
            CloseReason.DUPLICATE_CONNECTION,
            CloseReason.REJECTED,
        ):
            return False, 0.0, False
        policy = self.policy
        if policy is None:
            return False, 0.0, False
        server_closed = reason in (
            CloseReason.ABNORMAL,
            CloseReason.KICKED,
            CloseReason.NORMAL,
            CloseReason.OTHER,
        )
        if server_closed and code is not None and code in policy.retry_codes:
            rule = policy.rules.get(code)
            count = self._counts.get(code, 0) + 1
            if rule is None or count > rule.max:
                return False, 0.0, False
            self._counts[code] = count
            return True, self._jitter(rule.delay_s(count)), code in policy.rotate_codes
        if reason is CloseReason.KICKED:
            return False, 0.0, False  # not a retry code: do not fight the server
        if reason is CloseReason.HOST_SLEEP:
            return True, 0.0, False  # the network is back as we run again: reconnect now
        rotate = reason in (CloseReason.CONNECT_FAILED, CloseReason.STALE)
        return True, self._backoff.next_delay(), rotate

    def _jitter(self, delay: float) -> float:
        jitter = self._backoff.config.jitter
        return max(0.0, delay * (1 + self._rng.uniform(-jitter, jitter))) if jitter else delay
