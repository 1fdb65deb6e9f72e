"""What the gateway knows about each channel account while it runs (for ``/healthz``, status).

Records hold no secrets: errors are stored already redacted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from zalogate.runtime.logging import redact

__all__ = ["AccountState", "AccountStatus", "StatusBoard", "now_ms"]

_MAX_ERROR_CHARS = 500


def now_ms() -> int:
    """Milliseconds since the epoch (the timestamp unit used everywhere in zalogate)."""
    return time.time_ns() // 1_000_000


class AccountState(StrEnum):
    """Where an account's monitor is in its life."""

    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    """The monitor failed and waits before it is restarted."""
    UNAUTHORIZED = "unauthorized"
    """Zalo refused the credentials; the monitor is retried slowly."""
    FAILED = "failed"
    """The monitor failed in a way a restart cannot fix; it is not restarted."""
    STANDBY = "standby"
    """Cluster mode: another node holds the account's lease; this one takes over if it dies."""
    STOPPED = "stopped"
    """Not running: the gateway stopped, the monitor returned, or it was stopped on request
    (``reason`` says why, e.g. "stopped by channels logout")."""


@dataclass(frozen=True, slots=True)
class AccountStatus:
    """A snapshot of one account's monitor."""

    channel: str
    account: str
    state: AccountState = AccountState.STOPPED
    last_error: str | None = None
    last_inbound_at: int | None = None
    last_outbound_at: int | None = None
    last_start_at: int | None = None
    last_stop_at: int | None = None
    restarts: int = 0
    reason: str | None = None
    """Why the account is in its state when it was put there on request (control endpoint)."""
    degraded_since: int | None = None
    """Since when (ms) the running monitor reports failures (polls, sends); None: healthy."""
    dead_letters: int = 0
    """Messages of this account whose retry window ran out (``zalogate inbox list``)."""
    reconnects: int = 0
    """Connections the running monitor re-established by itself (a listener after a drop);
    ``restarts`` counts the monitor's own restarts."""

    @property
    def shown_state(self) -> str:
        """The state, ``degraded`` for a running monitor that reports failures."""
        live = (AccountState.RUNNING, AccountState.STARTING)
        if self.degraded_since is not None and self.state in live:
            return "degraded"
        return self.state.value

    def to_json(self) -> dict[str, Any]:
        """The record as the ``/healthz`` endpoint and ``--json`` output show it."""
        return {
            "channel": self.channel,
            "account": self.account,
            "state": self.shown_state,
            "degradedSince": self.degraded_since,
            "deadLetters": self.dead_letters,
            "lastError": self.last_error,
            "lastInboundAt": self.last_inbound_at,
            "lastOutboundAt": self.last_outbound_at,
            "lastStartAt": self.last_start_at,
            "lastStopAt": self.last_stop_at,
            "restarts": self.restarts,
            "reconnects": self.reconnects,
            "reason": self.reason,
        }


_FIELDS = frozenset(AccountStatus.__dataclass_fields__)


def _replaced(current: AccountStatus, changes: dict[str, Any]) -> AccountStatus:
    """``dataclasses.replace`` in one constructor call (it runs twice per message)."""
    if not changes.keys() <= _FIELDS:
        return replace(current, **changes)  # raises the usual TypeError
    get = changes.get
    return AccountStatus(
        get("channel", current.channel),
        get("account", current.account),
        get("state", current.state),
        get("last_error", current.last_error),
        get("last_inbound_at", current.last_inbound_at),
        get("last_outbound_at", current.last_outbound_at),
        get("last_start_at", current.last_start_at),
        get("last_stop_at", current.last_stop_at),
        get("restarts", current.restarts),
        get("reason", current.reason),
        get("degraded_since", current.degraded_since),
        get("dead_letters", current.dead_letters),
        get("reconnects", current.reconnects),
    )


class StatusBoard:
    """The live status records, keyed by (channel, account); safe to use from any thread."""

    def __init__(self) -> None:
        self._records: dict[tuple[str, str], AccountStatus] = {}
        self._lock = threading.Lock()
        self._listeners: list[Callable[[AccountStatus], None]] = []
        self._failing: dict[tuple[str, str], dict[str, int]] = {}

    def subscribe(self, listener: Callable[[AccountStatus], None]) -> None:
        """Call ``listener`` with the new record after every change (on the changing thread)."""
        self._listeners.append(listener)

    def register(self, channel: str, account: str) -> AccountStatus:
        """Add an account (state ``stopped``) if it is not known yet; return its record."""
        with self._lock:
            key = (channel, account)
            record = self._records.get(key)
            if record is None:
                record = self._records[key] = AccountStatus(channel, account)
            return record

    def get(self, channel: str, account: str) -> AccountStatus | None:
        """The record of one account, or None."""
        with self._lock:
            return self._records.get((channel, account))

    def update(self, channel: str, account: str, **changes: Any) -> AccountStatus:
        """Change fields of an account's record (registering it first if needed)."""
        for name in ("last_error", "reason"):
            text = changes.get(name)
            if isinstance(text, str):
                changes[name] = redact(text)[:_MAX_ERROR_CHARS]
        with self._lock:
            key = (channel, account)
            current = self._records.get(key) or AccountStatus(channel, account)
            record = self._records[key] = _replaced(current, changes)
        if self._listeners:
            for listener in list(self._listeners):
                listener(record)
        return record

    def report(self, channel: str, account: str, source: str, error: str | None) -> None:
        """A running account's ``source`` (``monitor``, ``send``) failed with ``error``, or
        (None) works again. The account is ``degraded`` while any source fails, since the
        first failure; its last error is the newest one."""
        key = (channel, account)
        failing = self._failing.get(key)
        if error is None and (failing is None or source not in failing):
            return  # the common case: nothing was failing
        with self._lock:
            failing = self._failing.setdefault(key, {})
            if error is None:
                failing.pop(source, None)
            elif source not in failing:
                failing[source] = now_ms()
            since = min(failing.values()) if failing else None
            if not failing:
                del self._failing[key]
        if error is not None:
            self.update(channel, account, degraded_since=since, last_error=error)
        else:
            self.update(channel, account, degraded_since=since)

    def clear_reports(self, channel: str, account: str) -> None:
        """Forget what the account's earlier run reported failing (a restart starts clean);
        the new run reports again what still fails."""
        with self._lock:
            dropped = self._failing.pop((channel, account), None)
        if dropped:
            self.update(channel, account, degraded_since=None)

    def count_reconnect(self, channel: str, account: str) -> None:
        """The account's running monitor reconnected by itself once more."""
        with self._lock:  # read and increment under one lock: two threads may count
            key = (channel, account)
            current = self._records.get(key) or AccountStatus(channel, account)
            record = self._records[key] = replace(current, reconnects=current.reconnects + 1)
        for listener in list(self._listeners):
            listener(record)

    def snapshot(self) -> list[AccountStatus]:
        """Every record, in registration order."""
        with self._lock:
            return list(self._records.values())
