"""The durable inbox: journal every inbound message, then process it in conversation lanes.

``Inbox.admit`` writes the message to the ``inbox_entries`` journal through the store's group
commit and returns only once the row is durable, so a webhook may answer 200 right after it.
The key (channel, account id, message id) is unique: a redelivered message is acknowledged as
a duplicate and never processed again, also after it was processed (done rows are kept as
tombstones for 30 days, at most 20,000 per account).

Processing runs in lanes: messages of one conversation (``InboundMessage.conversation_key``)
one after another in admission order, different conversations in parallel, at most
``max_concurrency`` at a time. A handler that raises a transient error is retried with jittered
backoff capped at a minute (the lane waits, later messages of that conversation stay behind
it) for ``max_age`` (an hour) after admission, then it becomes a dead letter (state ``dead``);
a non-retryable error (:mod:`zalogate.core.errors`) makes it ``failed`` at once. ``retry``
(``zalogate inbox retry``) puts either back. Rows still pending when the process stops or
crashes are replayed by the next ``start()``, in their original order per conversation.

Guarantee: the done mark is written after the handler returned, so a crash between the two
replays the message (at-least-once). The lane moves on without waiting for that commit (it
only matters to a replay); done marks are gathered for up to ``InboxConfig.done_delay``
(50 ms) and written together, one statement list in one commit, so that a moderate rate does
not pay an fsync per mark; ``wait_idle`` and ``stop`` write them at once and wait for them.
A handler that needs exactly-once writes its own effect and :meth:`Inbox.mark_done` in one
``store.write`` transaction (see ``current_entry``).

This module holds the lanes and their workers; the rows and their SQL are
:mod:`zalogate.core.journal`, the batching of done marks :mod:`zalogate.core.done_marks`.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
import sqlite3
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from zalogate.backoff import Backoff, BackoffConfig
from zalogate.core.channel import Admission
from zalogate.core.done_marks import DoneMarks, report_unmarked
from zalogate.core.errors import InvalidPayloadError, describe_error, is_retryable
from zalogate.core.journal import DeadLetter, Journal
from zalogate.core.model import InboundMessage

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = [
    "DeadLetter",
    "EntryContext",
    "Handler",
    "Inbox",
    "InboxConfig",
    "InboxCounters",
    "current_entry",
]

Handler = Callable[[InboundMessage], Awaitable[None]]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EntryContext:
    """What a running handler may know about its journal entry (see ``current_entry``)."""

    entry_id: int
    attempt: int
    """1 for the first try, 2 for the first retry, ..."""
    replayed: bool
    """The entry was loaded from the journal (after a restart) or an earlier attempt was cut
    off by ``stop()``: part of its effects may have happened already."""
    done: bool = False
    """Set by a handler that wrote :meth:`Inbox.mark_done` in its own transaction."""

    @property
    def fresh(self) -> bool:
        """True on the first attempt of a message admitted in this run (nothing happened yet)."""
        return self.attempt == 1 and not self.replayed


current_entry: ContextVar[EntryContext | None] = ContextVar("zalogate_inbox_entry", default=None)
"""The entry the running handler is processing (None outside inbox handlers)."""


@dataclass(frozen=True, slots=True)
class InboxConfig:
    """Tuning of the inbox; the defaults follow the reference's webhook spool."""

    max_concurrency: int = 256
    """How many messages (of different conversations) are processed at the same time.

    Most of that time is spent waiting for the agent (an LLM answers in seconds), and an idle
    worker costs one parked task, so this is set for 100+ conversations waiting on a slow
    agent at once (``bench/zalo_slow_agent.py``), not for the CPU."""
    max_attempts: int | None = None
    """Attempts per message before a transient failure is dead-lettered (None: no limit,
    only ``max_age`` counts)."""
    max_age: float = 3600.0
    """Seconds since admission during which a transient failure is retried; a message
    still failing after that becomes a dead letter (``zalogate inbox retry`` requeues it).
    An hour waits out an outage of Zalo or of the network."""
    backoff: BackoffConfig = field(
        default_factory=lambda: BackoffConfig(min_delay=1.0, max_delay=60.0)
    )
    tombstone_days: float = 30.0
    tombstone_limit: int = 20_000
    """Done rows kept per (channel, account); the older ones are pruned first."""
    dead_letter_days: float = 30.0
    dead_letter_limit: int = 5_000
    prune_interval: float = 3600.0
    """Seconds between background prunes (one also runs at start)."""
    done_delay: float = 0.05
    """Seconds a done mark may wait for others before it is written (0: at once).

    A done mark only decides whether a restart replays its row (replay is safe), so it need
    not be durable at once; at a moderate rate each mark written alone cost a commit (an
    fsync) of its own, which admissions then queued behind. ``wait_idle`` and ``stop``
    write the marks at once."""

    def __post_init__(self) -> None:
        if self.max_concurrency < 1 or (self.max_attempts is not None and self.max_attempts < 1):
            raise ValueError("max_concurrency and max_attempts must be at least 1")
        if self.max_age <= 0:
            raise ValueError("max_age must be positive")
        if self.done_delay < 0:
            raise ValueError("done_delay must not be negative")


@dataclass(slots=True)
class InboxCounters:
    """Running totals since the inbox object was created."""

    admitted: int = 0
    duplicates: int = 0
    processed: int = 0
    retried: int = 0
    """Automatic retries after a transient failure."""
    dead_lettered: int = 0
    """Messages that ran out of retries (``dead``) or failed for good (``failed``)."""
    failed: int = 0
    """Of ``dead_lettered``: the ones no retry could fix (``failed``)."""
    requeued: int = 0
    """Dead or failed messages put back by :meth:`Inbox.retry` (``zalogate inbox retry``)."""
    replayed: int = 0


@dataclass(slots=True)
class _Entry:
    id: int
    lane: str
    message: InboundMessage | None
    payload: str | None
    attempts: int = 0
    backoff: Backoff | None = None
    replayed: bool = False
    admitted_ms: int | None = None


def _entry_id(entry: _Entry) -> int:
    return entry.id


class Inbox:
    """Durable, idempotent journal of inbound messages with per-conversation lanes.

    Args:
        store: The open store (migration ``0030_inbox`` creates the tables).
        handler: Called once per message (the pipeline's ``process``); may be set later with
            :meth:`set_handler`, before :meth:`start`.
        config: Concurrency, retry and retention settings.
        clock: Seconds since the epoch (injectable for tests).
        rng: Random source for backoff jitter.
    """

    def __init__(
        self,
        store: Store,
        handler: Handler | None = None,
        *,
        config: InboxConfig | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.store = store
        self.config = config or InboxConfig()
        self._journal = Journal(store)
        self.counters = InboxCounters()
        self._handler = handler
        self._clock = clock
        self._rng = rng or random.Random()
        self._lanes: dict[str, list[_Entry]] = {}
        self._queued: set[int] = set()
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._workers: set[asyncio.Task[None]] = set()
        self._busy: set[asyncio.Task[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._prune_task: asyncio.Task[None] | None = None
        self._running = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._done = DoneMarks(store, self.config.done_delay, self._check_idle)
        self._idle_waiters = 0
        self.dead_counts: dict[tuple[str, str], int] = {}
        """(channel, account id) -> dead letters (state ``dead``), for status output."""

    # ------------------------------------------------------------------ admission
    def set_handler(self, handler: Handler) -> None:
        """Set the per-message handler (before ``start``)."""
        self._handler = handler

    @property
    def running(self) -> bool:
        """True between ``start()`` and ``stop()``."""
        return self._running

    @property
    def pending(self) -> int:
        """Messages admitted (or replayed) and not yet done or dead-lettered."""
        return len(self._queued)

    def stats(self) -> dict[str, int]:
        """The counters and the pending count, for status output and benchmarks."""
        c = self.counters
        return {
            "admitted": c.admitted,
            "duplicates": c.duplicates,
            "processed": c.processed,
            "retried": c.retried,
            "dead_lettered": c.dead_lettered,
            "failed": c.failed,
            "requeued": c.requeued,
            "replayed": c.replayed,
            "pending": self.pending,
        }

    async def admit(self, message: InboundMessage) -> Admission:
        """Journal ``message`` durably and queue it; return after the commit.

        A message whose (channel, account id, message id) was admitted before is not written
        or processed again: the answer is ``Admission(entry_id, duplicate=True)``.
        """
        payload = message.model_dump_json()
        lane = message.conversation_key
        now_ms = int(self._clock() * 1000)
        entry_id, duplicate = await self._journal.insert(message, lane, payload, now_ms)
        if duplicate:
            self.counters.duplicates += 1
            return Admission(entry_id, duplicate=True)
        self.counters.admitted += 1
        self._enqueue(_Entry(entry_id, lane, message, None, admitted_ms=now_ms))
        return Admission(entry_id)

    def _enqueue_rows(self, rows: list[sqlite3.Row]) -> int:
        """Queue journal rows (a replay or a requeue); return how many were new."""
        added = 0
        for row in rows:
            if row["id"] not in self._queued:
                added += 1
                entry = _Entry(row["id"], row["lane"], None, row["payload"], row["attempts"])
                entry.replayed, entry.admitted_ms = True, row["admitted_at_ms"]
                self._enqueue(entry)
        return added

    async def retry(self, ids: Sequence[int] | None = None, *, all_dead: bool = False) -> int:
        """Put dead or failed messages back in the queue (``ids``, or every dead one).

        Each gets a new retry window; a running inbox processes it at once, a stopped one
        at its next ``start()``. Returns how many were requeued.
        """
        now_ms = int(self._clock() * 1000)
        requeued = await self._journal.requeue(ids, all_dead=all_dead, now_ms=now_ms)
        self.counters.requeued += len(requeued)
        self.dead_counts = await self._journal.dead_counts()
        if requeued and self._running:
            self._enqueue_rows(await self._journal.pending(requeued))
        return len(requeued)

    def _enqueue(self, entry: _Entry) -> None:
        if entry.id in self._queued:
            return
        self._queued.add(entry.id)
        self._idle.clear()
        lane = self._lanes.get(entry.lane)
        if lane is None:
            self._lanes[entry.lane] = [entry]
            self._ready.put_nowait(entry.lane)
        elif lane[-1].id < entry.id:
            lane.append(entry)
        else:
            # Out of order (a replayed row meeting a live admit): keep the lane sorted, but
            # never in front of a head that a worker may be processing.
            bisect.insort(lane, entry, lo=1 if self._running else 0, key=_entry_id)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Prune, replay unfinished rows in their original order, then start the workers."""
        if self._running:
            return
        if self._handler is None:
            raise RuntimeError("Inbox.start() needs a handler (set_handler)")
        await self.prune()
        self.dead_counts = await self._journal.dead_counts()
        replayed = self._enqueue_rows(await self._journal.pending())
        self.counters.replayed += replayed
        if replayed:
            log.info("inbox: replaying %d unfinished message(s)", replayed)
        self._ready = asyncio.Queue()
        for key in self._lanes:
            self._ready.put_nowait(key)
        self._running = True
        for _ in range(self.config.max_concurrency):
            task = asyncio.create_task(self._worker(), name="zalogate-inbox-worker")
            self._workers.add(task)
        self._prune_task = asyncio.create_task(self._prune_loop(), name="zalogate-inbox-prune")

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 (a grace period)
        """Stop taking work and wait up to ``timeout`` seconds for running handlers.

        Handlers still running after the timeout are cancelled; their rows stay pending and
        are replayed by the next ``start()``.
        """
        if not self._running:
            return
        self._running = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._prune_task is not None:
            self._prune_task.cancel()
        idle = self._workers - self._busy
        for task in idle:
            task.cancel()
        busy = set(self._busy)
        if busy:
            _done, still = await asyncio.wait(busy, timeout=timeout)
            if still:
                log.warning("inbox: cancelling %d handler(s) still running at stop", len(still))
        for task in self._workers:
            task.cancel()
        tasks = [*self._workers]
        if self._prune_task is not None:
            tasks.append(self._prune_task)
        await asyncio.gather(*tasks, return_exceptions=True)
        self._done.flush()
        # Done marks already queued: let them commit, so a clean stop replays nothing.
        await self._done.settle(timeout)
        self._workers.clear()
        self._busy.clear()
        self._prune_task = None

    async def __aenter__(self) -> Inbox:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def wait_idle(self) -> None:
        """Wait until nothing is pending (every queued message is done or dead-lettered, and
        every done mark is committed)."""
        self._idle_waiters += 1  # while someone waits, done marks are written at once
        try:
            self._done.flush()
            await self._idle.wait()
        finally:
            self._idle_waiters -= 1

    def _check_idle(self) -> None:
        if not self._queued and not self._done.settling:
            self._idle.set()

    # ------------------------------------------------------------------ processing
    async def _worker(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while self._running:
            key = await self._ready.get()
            self._busy.add(task)
            try:
                await self._run_lane_head(key)
            except Exception:  # a bug or a dead store must not kill the worker
                log.exception("inbox: unexpected error in lane processing")
            finally:
                self._busy.discard(task)

    async def _run_lane_head(self, key: str) -> None:
        lane = self._lanes.get(key)
        if not lane:
            self._lanes.pop(key, None)
            return
        entry = lane[0]
        finished = await self._attempt(entry)
        if not finished:
            return  # a retry timer re-queues the lane
        lane.pop(0)
        self._queued.discard(entry.id)
        if lane:
            self._ready.put_nowait(key)
        else:
            del self._lanes[key]
        self._check_idle()

    async def _attempt(self, entry: _Entry) -> bool:
        """Run the handler once; True when the entry is finished (done or dead)."""
        handler = self._handler
        assert handler is not None
        context = EntryContext(entry.id, entry.attempts + 1, entry.replayed)
        token = current_entry.set(context)
        try:
            message = entry.message
            if message is None:
                message = self._parse(entry)
                entry.message = message
            await handler(message)
        except asyncio.CancelledError:
            entry.replayed = True  # cut off mid-way: the next attempt must not assume a clean slate
            raise
        except Exception as exc:
            attempts = entry.attempts + 1
            if not is_retryable(exc):
                await self._dead_letter(entry, attempts, exc, state="failed")
                return True
            if self._expired(entry, attempts):
                await self._dead_letter(entry, attempts, exc, state="dead")
                return True
            await self._schedule_retry(entry, attempts, exc)
            return False
        finally:
            current_entry.reset(token)
        self.counters.processed += 1
        if context.done:
            return True
        # The lane goes on without waiting for this commit: the done mark only decides
        # whether a restart replays the row, and a replay of a handled message is safe (the
        # pipeline skips what it recorded as sent). Waiting would add one commit latency to
        # every message of the conversation.
        try:
            defer = self._running and not self._idle_waiters
            self._done.add(entry.id, int(self._clock() * 1000), defer=defer)
        except Exception as exc:
            report_unmarked(entry.id, exc)
        return True

    @staticmethod
    def _parse(entry: _Entry) -> InboundMessage:
        if entry.payload is None:
            raise InvalidPayloadError("the journal row has no payload")
        try:
            return InboundMessage.model_validate_json(entry.payload)
        except ValidationError as exc:
            raise InvalidPayloadError(
                f"journalled message does not parse ({exc.error_count()} error(s))"
            ) from None

    @staticmethod
    def mark_done(conn: sqlite3.Connection, entry_id: int, *, now_ms: int | None = None) -> bool:
        """Mark a journal row done inside the caller's transaction; True if it was pending.

        A handler that wants exactly-once effects calls this in the same ``store.write`` as
        the effect, with ``current_entry.get().entry_id``, then sets ``done`` on the context so
        that the inbox skips its own (redundant) write.
        """
        stamp = int(time.time() * 1000) if now_ms is None else now_ms
        return Journal.mark_done(conn, entry_id, stamp)

    async def _schedule_retry(self, entry: _Entry, attempts: int, exc: Exception) -> None:
        entry.attempts = attempts
        error = describe_error(exc)
        log.warning(
            "inbox: entry %d failed (attempt %d), will retry: %s",
            entry.id,
            attempts,
            error,
        )
        with contextlib.suppress(Exception):
            await self._journal.record_attempt(entry.id, attempts, error)
        self.counters.retried += 1
        if entry.backoff is None:
            entry.backoff = Backoff(self.config.backoff, rng=self._rng)
        delay = entry.backoff.next_delay()
        if not self._running:
            return
        loop = asyncio.get_running_loop()
        queue = self._ready
        timer: asyncio.TimerHandle

        def wake() -> None:
            self._timers.discard(timer)
            queue.put_nowait(entry.lane)

        timer = loop.call_later(delay, wake)
        self._timers.add(timer)

    def _expired(self, entry: _Entry, attempts: int) -> bool:
        """True when a transient failure is not retried any more (attempts or age)."""
        cfg = self.config
        if cfg.max_attempts is not None and attempts >= cfg.max_attempts:
            return True
        if entry.admitted_ms is None:
            entry.admitted_ms = int(self._clock() * 1000)
        return self._clock() * 1000 - entry.admitted_ms >= cfg.max_age * 1000

    async def _dead_letter(
        self, entry: _Entry, attempts: int, exc: Exception, *, state: str
    ) -> None:
        error = describe_error(exc)
        log.error(
            "inbox: entry %d %s after %d attempt(s): %s",
            entry.id,
            "dead-lettered" if state == "dead" else "failed for good",
            attempts,
            error,
        )
        payload = entry.payload
        if payload is None and entry.message is not None:
            payload = entry.message.model_dump_json()
        now_ms = int(self._clock() * 1000)
        try:
            await self._journal.dead_letter(entry.id, attempts, error, payload, now_ms, state=state)
        except Exception as err:
            log.error("inbox: could not dead-letter entry %d: %s", entry.id, describe_error(err))
        self.counters.dead_lettered += 1
        if state == "failed":
            self.counters.failed += 1
        elif entry.message is not None:
            key = (entry.message.channel, entry.message.account_id)
            self.dead_counts[key] = self.dead_counts.get(key, 0) + 1

    # ------------------------------------------------------------------ maintenance
    async def prune(self) -> int:
        """Drop old tombstones and dead letters; return how many rows were removed.

        Done (and dead) journal rows are kept ``tombstone_days`` and at most
        ``tombstone_limit`` per (channel, account), whichever keeps fewer; dead letters
        ``dead_letter_days`` / ``dead_letter_limit``; the pipeline's delivery records
        ``tombstone_days``.
        """
        cfg = self.config
        removed = await self._journal.prune(
            int(self._clock() * 1000),
            tombstone_days=cfg.tombstone_days,
            tombstone_limit=cfg.tombstone_limit,
            dead_letter_days=cfg.dead_letter_days,
            dead_letter_limit=cfg.dead_letter_limit,
        )
        if removed:
            log.debug("inbox: pruned %d row(s)", removed)
        return removed

    async def _prune_loop(self) -> None:
        while self._running:
            await asyncio.sleep(self.config.prune_interval)
            try:
                await self.prune()
            except Exception as exc:
                log.warning("inbox: prune failed: %s", describe_error(exc))

    async def dead_letters(
        self, *, channel: str | None = None, account_id: str | None = None, limit: int = 100
    ) -> list[DeadLetter]:
        """The newest dead letters, optionally of one channel (and account)."""
        return await self._journal.dead_letters(channel=channel, account_id=account_id, limit=limit)
