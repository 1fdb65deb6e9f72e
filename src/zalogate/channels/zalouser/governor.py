"""The send governor: how fast, and to whom, one personal account may send.

Zalo has no published limits for personal accounts; accounts that message many strangers get
blocked (users report blocks after ~100 strangers an hour, zca-js issues 336, 146, 114), and
Zalo answers error 221 "too many requests" when an account sends too fast. The governor makes
every outgoing message of an account ask first (:meth:`SendGovernor.admit`):

* pacing: at most ``messagesPerMinute`` per account and ``conversationMessagesPerMinute`` per
  conversation (sliding one-minute windows); a send waits for its turn, up to
  ``maxWaitSeconds``, then fails as retryable (:class:`SendPausedError`);
* caps: at most ``strangersPerDay`` distinct non-friends messaged in 24 hours, and at most
  ``newConversationsPerHour`` conversations the account starts (no message came from there)
  in an hour; a send beyond a cap is refused (:class:`SendLimitError`, not retried);
* back-off: a rate-limit answer (:func:`~zalogate.personal.errors.is_rate_limited`) pauses the
  account's sends for ``backoffSeconds``, doubled on each further one up to
  ``maxBackoffSeconds``, reset by a successful send. It is never retried at once.

A limit set to 0 is off. :meth:`SendGovernor.status` is what status and metrics read.

With a journal (:mod:`.governor_store`) the caps' counters and the pause survive a restart:
the governor reads them back before its first send and reports every change.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from zalogate.channels.zalouser.errors import ZalouserChannelError
from zalogate.channels.zalouser.governor_store import GovernorJournal, JournalRow
from zalogate.core.channel import AccountCounter
from zalogate.core.errors import FailureKind

__all__ = [
    "FriendIds",
    "GovernorStatus",
    "SendGovernor",
    "SendLimitError",
    "SendLimits",
    "SendPausedError",
]

log = logging.getLogger(__name__)

_MINUTE = 60.0
_HOUR = 3600.0
_DAY = 86400.0
#: A known conversation's saved time is refreshed at most this often (fewer writes).
_KNOWN_REFRESH_S = 3600.0


class SendPausedError(ZalouserChannelError):
    """The account's sends are paused (Zalo said "too many requests") or paced beyond the
    wait a send may take; the send is worth retrying later."""

    kind = FailureKind.RETRYABLE


class SendLimitError(ZalouserChannelError):
    """A daily or hourly cap of the account is reached; the send is refused."""

    kind = FailureKind.FATAL


_KEYS = {
    "messagesPerMinute": "messages_per_minute",
    "conversationMessagesPerMinute": "conversation_messages_per_minute",
    "strangersPerDay": "strangers_per_day",
    "newConversationsPerHour": "new_conversations_per_hour",
    "backoffSeconds": "backoff_s",
    "maxBackoffSeconds": "max_backoff_s",
    "maxWaitSeconds": "max_wait_s",
}


@dataclass(frozen=True, slots=True)
class SendLimits:
    """``channels.zalouser.limits`` (see ``docs/channels/zalouser.md`` for the reasoning)."""

    messages_per_minute: int = 20
    conversation_messages_per_minute: int = 10
    strangers_per_day: int = 30
    new_conversations_per_hour: int = 10
    backoff_s: float = 300.0
    max_backoff_s: float = 3600.0
    max_wait_s: float = 60.0

    @classmethod
    def from_settings(cls, value: Any) -> SendLimits:
        """Limits from a camelCase ``limits`` mapping; missing keys keep their defaults."""
        if not isinstance(value, Mapping):
            return cls()
        given = {
            field: value[key]
            for key, field in _KEYS.items()
            if isinstance(value.get(key), int | float) and not isinstance(value.get(key), bool)
        }
        return cls(**given)

    def to_json(self) -> dict[str, float]:
        """The limits under their config names."""
        values = asdict(self)
        return {key: values[field] for key, field in _KEYS.items()}


@dataclass(frozen=True, slots=True)
class GovernorStatus:
    """Counters and state of one account's governor (status, metrics).

    Attributes:
        sent: Messages admitted and sent.
        paced: Sends that waited for their turn.
        paced_seconds: Total time sends waited.
        refused: Sends refused by a cap.
        rate_limited: Rate-limit answers from Zalo.
        paused_for_s: Seconds the account's sends stay paused (0: not paused).
        strangers_today: Distinct non-friends messaged in the last 24 hours.
        new_conversations_last_hour: Conversations started in the last hour.
        limits: The limits in effect.
    """

    sent: int
    paced: int
    paced_seconds: float
    refused: int
    rate_limited: int
    paused_for_s: float
    strangers_today: int
    new_conversations_last_hour: int
    limits: SendLimits

    def to_json(self) -> dict[str, Any]:
        """camelCase for ``channels status --json``."""
        return {
            "sent": self.sent,
            "paced": self.paced,
            "pacedSeconds": round(self.paced_seconds, 3),
            "refused": self.refused,
            "rateLimited": self.rate_limited,
            "pausedForSeconds": round(self.paused_for_s, 1),
            "strangersToday": self.strangers_today,
            "newConversationsLastHour": self.new_conversations_last_hour,
            "limits": self.limits.to_json(),
        }

    def counters(self) -> list[AccountCounter]:
        """The numbers ``/metrics`` serves (``zalogate_channel_send_*``)."""
        return [
            AccountCounter("send_sent", self.sent, help="messages the send governor let out"),
            AccountCounter("send_paced", self.paced, help="sends that waited for their turn"),
            AccountCounter("send_paced_seconds", self.paced_seconds, help="time sends waited"),
            AccountCounter("send_refused", self.refused, help="sends refused by a cap"),
            AccountCounter("send_rate_limited", self.rate_limited, help="rate limits from Zalo"),
            AccountCounter(
                "send_paused_seconds",
                self.paused_for_s,
                "gauge",
                help="seconds the account's sends stay paused (0: not paused)",
            ),
            AccountCounter(
                "send_strangers_today",
                self.strangers_today,
                "gauge",
                help="distinct non-friends messaged in the last 24 hours",
            ),
            AccountCounter(
                "send_new_conversations_last_hour",
                self.new_conversations_last_hour,
                "gauge",
                help="conversations started in the last hour",
            ),
        ]


class _Window:
    """Times of sends (some reserved in the near future) within a sliding window."""

    __slots__ = ("_times", "limit", "span")

    def __init__(self, limit: int, span: float) -> None:
        self.limit = limit
        self.span = span
        self._times: list[float] = []

    def _trim(self, now: float) -> None:
        cut = bisect.bisect_right(self._times, now - self.span)
        if cut:
            del self._times[:cut]

    def free_at(self, now: float) -> float:
        """The earliest time from ``now`` on with room for one more send."""
        self._trim(now)
        if self.limit <= 0 or len(self._times) < self.limit:
            return now
        return max(now, self._times[-self.limit] + self.span)

    def add(self, at: float) -> None:
        bisect.insort(self._times, at)

    def count(self, now: float) -> int:
        """Sends within the window ending ``now`` (reservations included)."""
        self._trim(now)
        return len(self._times)


class FriendIds:
    """The account's friend ids, loaded on first use and again after ``ttl_s``.

    Args:
        load: Fetches the friend ids (raises on failure: then nobody counts as a friend,
            the conservative answer, until the next try).
        ttl_s: Seconds a loaded list is trusted.
    """

    def __init__(
        self,
        load: Callable[[], Awaitable[frozenset[str]]],
        *,
        ttl_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl_s = ttl_s
        self._clock = clock
        self._ids: frozenset[str] = frozenset()
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    async def contains(self, user_id: str) -> bool:
        """True when ``user_id`` is a friend (as far as the last successful load knows)."""
        async with self._lock:
            now = self._clock()
            if self._loaded_at is None or now - self._loaded_at > self._ttl_s:
                self._loaded_at = now  # a failed load is not retried on every send
                try:
                    self._ids = await self._load()
                except Exception:  # a failed lookup must not stop sending
                    self._loaded_at = now - self._ttl_s + 60.0
        return user_id in self._ids


class SendGovernor:
    """Paces and caps one account's sends (see the module docstring).

    Args:
        account_id: For messages.
        limits: The limits in effect.
        clock: Monotonic seconds (tests inject a fake clock).
        sleep: Awaitable sleep.
        journal: Keeps the caps' counters and the pause across restarts (None: memory only).
    """

    def __init__(
        self,
        account_id: str,
        limits: SendLimits,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        journal: GovernorJournal | None = None,
    ) -> None:
        self.account_id = account_id
        self._journal = journal
        self._loading: asyncio.Future[None] | None = None
        self._restored = journal is None
        self.limits = limits
        self._clock = clock
        self._sleep = sleep
        self._account = _Window(limits.messages_per_minute, _MINUTE)
        self._conversations: dict[str, _Window] = {}
        self._new_conversations = _Window(limits.new_conversations_per_hour, _HOUR)
        self._strangers: dict[str, float] = {}
        self._known: dict[str, float] = {}
        self._paused_until = 0.0
        self._backoff_step = 0
        self._sent = self._paced = self._refused = self._rate_limited = 0
        self._paced_s = 0.0

    def note_inbound(self, thread_id: str) -> None:
        """A message came from ``thread_id``: answering there starts no new conversation."""
        self._know(thread_id, self._clock())

    def _know(self, thread_id: str, at: float) -> None:
        before = self._known.get(thread_id)
        self._known[thread_id] = at
        if before is None or at - before >= _KNOWN_REFRESH_S:
            self._save("known", thread_id, at)

    def _save(self, kind: Literal["stranger", "started", "known"], thread: str, at: float) -> None:
        if self._journal is not None:
            self._journal.record(JournalRow(kind, thread, self._clock() - at))

    def _save_pause(self) -> None:
        if self._journal is not None:
            remaining = self._paused_until - self._clock()
            self._journal.record(JournalRow("pause", "", -remaining, self._backoff_step))

    async def restore(self) -> None:
        """Read the saved state back (once; the first send does it too), merged with what
        this process already noted; a failed read leaves the memory state alone."""
        if self._journal is None:
            self._restored = True
            return
        if self._loading is None:
            self._loading = asyncio.ensure_future(self._load(self._journal))
        try:
            await asyncio.shield(self._loading)
        except Exception as exc:  # an unreadable store must not stop sending
            log.warning("[%s] saved send governor state unreadable: %s", self.account_id, exc)
        self._restored = True

    async def _load(self, journal: GovernorJournal) -> None:
        rows = await journal.load()
        now = self._clock()
        for row in rows:
            at = now - row.age_s
            if row.kind == "stranger":
                self._strangers[row.thread_id] = max(self._strangers.get(row.thread_id, at), at)
            elif row.kind == "known":
                self._known[row.thread_id] = max(self._known.get(row.thread_id, at), at)
            elif row.kind == "started":
                self._new_conversations.add(at)
            else:
                self._paused_until = max(self._paused_until, at)
                self._backoff_step = max(self._backoff_step, row.step)

    def _is_known(self, thread_id: str, now: float) -> bool:
        seen = self._known.get(thread_id)
        return seen is not None and now - seen < _DAY

    def _conversation(self, thread_id: str, now: float) -> _Window:
        window = self._conversations.get(thread_id)
        if window is None:
            if len(self._conversations) > 1024:  # forget idle conversations
                for key in [k for k, w in self._conversations.items() if not w.count(now)]:
                    del self._conversations[key]
            window = self._conversations[thread_id] = _Window(
                self.limits.conversation_messages_per_minute, _MINUTE
            )
        return window

    def _refuse(self, what: str, limit: int, key: str) -> SendLimitError:
        self._refused += 1
        return SendLimitError(
            f"[{self.account_id}] send refused: {what} ({limit}) reached; Zalo blocks"
            f" accounts that message many strangers. Wait, or raise"
            f" channels.zalouser.limits.{key} if you accept the risk"
        )

    async def admit(self, thread_id: str, *, stranger: bool) -> None:
        """Wait for this message's turn in ``thread_id`` (``stranger``: a DM to a non-friend).

        Raises:
            SendPausedError: Paused after a rate-limit answer, or the turn is further away
                than ``maxWaitSeconds`` (retryable).
            SendLimitError: A cap is reached (not retryable).
        """
        if not self._restored:
            await self.restore()
        limits = self.limits
        now = self._clock()
        if self._paused_until > now:
            raise SendPausedError(
                f"[{self.account_id}] sends paused for {self._paused_until - now:.0f} s more:"
                " Zalo answered 'too many requests'; they resume by themselves"
            )
        new = not self._is_known(thread_id, now)
        if new and self._new_conversations.free_at(now) > now:
            raise self._refuse(
                "new conversations per hour", limits.new_conversations_per_hour,
                "newConversationsPerHour",
            )  # fmt: skip
        first_time_today = stranger and now - self._strangers.get(thread_id, -_DAY) >= _DAY
        if first_time_today and limits.strangers_per_day > 0:
            self._strangers = {k: t for k, t in self._strangers.items() if now - t < _DAY}
            if len(self._strangers) >= limits.strangers_per_day:
                raise self._refuse("strangers per day", limits.strangers_per_day, "strangersPerDay")
        conversation = self._conversation(thread_id, now)
        turn = max(self._account.free_at(now), conversation.free_at(now))
        wait = turn - now
        if wait > limits.max_wait_s:
            raise SendPausedError(
                f"[{self.account_id}] send paced: the next turn is {wait:.0f} s away"
                f" (more than maxWaitSeconds {limits.max_wait_s:g}); try again later"
            )
        # Reserve the turn before waiting, so that concurrent sends queue behind it.
        self._account.add(turn)
        conversation.add(turn)
        if new:
            self._new_conversations.add(now)
            self._save("started", thread_id, now)
        self._know(thread_id, turn)
        if first_time_today:
            self._strangers[thread_id] = now
            self._save("stranger", thread_id, now)
        if wait > 0:
            self._paced += 1
            self._paced_s += wait
            await self._sleep(wait)

    def sent(self) -> None:
        """A message went out: the back-off starts again from its first step."""
        self._sent += 1
        if self._backoff_step:
            self._backoff_step = 0
            self._save_pause()

    def rate_limited(self) -> float:
        """Zalo answered with a rate limit: pause the account; returns the pause in seconds."""
        self._rate_limited += 1
        pause = min(self.limits.backoff_s * 2.0**self._backoff_step, self.limits.max_backoff_s)
        self._backoff_step += 1
        self._paused_until = max(self._paused_until, self._clock() + pause)
        self._save_pause()
        return pause

    async def flush(self) -> None:
        """Wait until the reported changes are saved (before the store closes)."""
        if self._journal is not None:
            await self._journal.flush()

    def status(self) -> GovernorStatus:
        """The counters and state (no network)."""
        now = self._clock()
        return GovernorStatus(
            sent=self._sent,
            paced=self._paced,
            paced_seconds=self._paced_s,
            refused=self._refused,
            rate_limited=self._rate_limited,
            paused_for_s=max(0.0, self._paused_until - now),
            strangers_today=sum(1 for t in self._strangers.values() if now - t < _DAY),
            new_conversations_last_hour=self._new_conversations.count(now),
            limits=self.limits,
        )
