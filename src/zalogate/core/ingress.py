"""The durable inbox: journal every inbound message, then process it in conversation lanes.

``Inbox.admit`` writes the message to the ``inbox_entries`` journal through the store's group
commit and returns only once the row is durable, so a webhook may answer 200 right after it.
The key (channel, account id, message id) is unique: a redelivered message is acknowledged as
a duplicate and never processed again, also after it was processed (done rows are kept as
tombstones for 30 days, at most 20,000 per account).

Processing runs in lanes: messages of one conversation (``InboundMessage.conversation_key``)
one after another in admission order, different conversations in parallel, at most
``max_concurrency`` at a time. A handler that raises a transient error is retried with jittered
backoff (the lane waits, later messages of that conversation stay behind it); after
``max_attempts`` or on a non-retryable error (:mod:`zalogate.core.errors`) the message goes to
the dead letters. Rows still pending when the process stops or crashes are replayed by the next
``start()``, in their original order per conversation.

Guarantee: the done mark is written after the handler returned, so a crash between the two
replays the message (at-least-once). The lane moves on without waiting for that commit (it
only matters to a replay); done marks are gathered for up to ``InboxConfig.done_delay``
(50 ms) and written together, one statement list in one commit, so that a moderate rate does
not pay an fsync per mark; ``wait_idle`` and ``stop`` write them at once and wait for them.
A handler that needs exactly-once writes its own effect and :meth:`Inbox.mark_done` in one
``store.write`` transaction (see ``current_entry``).
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from zalogate.backoff import Backoff, BackoffConfig
from zalogate.core.channel import Admission
from zalogate.core.errors import InvalidPayloadError, describe_error, is_retryable
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

_DAY_MS = 86_400_000

_ADMIT_SQL = (
    "INSERT INTO inbox_entries"
    " (channel, account_id, message_id, lane, payload, admitted_at_ms)"
    " VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (channel, account_id, message_id) DO NOTHING"
)
_EXISTING_SQL = (
    "SELECT id FROM inbox_entries WHERE channel = ? AND account_id = ? AND message_id = ?"
)
_DONE_SQL = (
    "UPDATE inbox_entries SET state = 'done', payload = NULL, finished_at_ms = ?"
    " WHERE id = ? AND state = 'pending'"
)


@dataclass(frozen=True, slots=True)
class InboxConfig:
    """Tuning of the inbox; the defaults follow the reference's webhook spool."""

    max_concurrency: int = 256
    """How many messages (of different conversations) are processed at the same time.

    Most of that time is spent waiting for the agent (an LLM answers in seconds), and an idle
    worker costs one parked task, so this is set for 100+ conversations waiting on a slow
    agent at once (``bench/zalo_slow_agent.py``), not for the CPU."""
    max_attempts: int = 8
    """Attempts per message before a transient failure is dead-lettered."""
    backoff: BackoffConfig = field(
        default_factory=lambda: BackoffConfig(min_delay=1.0, max_delay=180.0)
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
        if self.max_concurrency < 1 or self.max_attempts < 1:
            raise ValueError("max_concurrency and max_attempts must be at least 1")
        if self.done_delay < 0:
            raise ValueError("done_delay must not be negative")


@dataclass(slots=True)
class InboxCounters:
    """Running totals since the inbox object was created."""

    admitted: int = 0
    duplicates: int = 0
    processed: int = 0
    retried: int = 0
    dead_lettered: int = 0
    replayed: int = 0


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that failed for good."""

    entry_id: int
    channel: str
    account_id: str
    message_id: str
    lane: str
    attempts: int
    error: str
    dead_at_ms: int
    payload: str | None

    @property
    def message(self) -> InboundMessage | None:
        """The journalled message, if its payload still parses."""
        if self.payload is None:
            return None
        try:
            return InboundMessage.model_validate_json(self.payload)
        except ValidationError:
            return None


@dataclass(slots=True)
class _DoneBatch:
    """Done marks that go to the store as one write (``executemany``), not one write each.

    The lane appends to the open batch until the writer thread takes it (``closed``); the
    lock makes "append" and "take" exclusive, so a mark is either in the write or in a
    later batch, never lost.
    """

    waiter: asyncio.Future[None]
    """Resolved once the batch's write settled (committed or failed): ``wait_idle`` waits."""
    marks: list[tuple[int, int]] = field(default_factory=list)
    """(finished_at_ms, entry id) pairs, in the order the entries finished."""
    closed: bool = False
    timer: asyncio.TimerHandle | None = None
    """The pending ``done_delay`` before the batch goes to the store (None once queued)."""


@dataclass(slots=True)
class _Entry:
    id: int
    lane: str
    message: InboundMessage | None
    payload: str | None
    attempts: int = 0
    backoff: Backoff | None = None
    replayed: bool = False


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
        self._done_writes: set[asyncio.Future[None]] = set()
        self._done_batch: _DoneBatch | None = None
        self._done_lock = threading.Lock()
        self._idle_waiters = 0

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
        params = (
            message.channel,
            message.account_id,
            message.message_id,
            lane,
            payload,
            int(self._clock() * 1000),
        )

        def insert(conn: sqlite3.Connection) -> tuple[int, bool]:
            cursor = conn.execute(_ADMIT_SQL, params)
            if cursor.rowcount == 1 and cursor.lastrowid is not None:
                return cursor.lastrowid, False
            row = conn.execute(_EXISTING_SQL, params[:3]).fetchone()
            return int(row[0]), True

        entry_id, duplicate = await self.store.write(insert)
        if duplicate:
            self.counters.duplicates += 1
            return Admission(entry_id, duplicate=True)
        self.counters.admitted += 1
        self._enqueue(_Entry(entry_id, lane, message, None))
        return Admission(entry_id)

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
        rows = await self.store.read(
            lambda conn: conn.execute(
                "SELECT id, lane, payload, attempts FROM inbox_entries"
                " WHERE state = 'pending' ORDER BY id"
            ).fetchall()
        )
        replayed = 0
        for row in rows:
            if row["id"] not in self._queued:
                replayed += 1
                self._enqueue(
                    _Entry(
                        row["id"], row["lane"], None, row["payload"], row["attempts"], replayed=True
                    )
                )
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
        self._flush_done()
        if self._done_writes:
            # Done marks already queued: let them commit, so a clean stop replays nothing.
            await asyncio.wait(set(self._done_writes), timeout=timeout)
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
            self._flush_done()
            await self._idle.wait()
        finally:
            self._idle_waiters -= 1

    def _check_idle(self) -> None:
        if not self._queued and not self._done_writes:
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
            if not is_retryable(exc) or attempts >= self.config.max_attempts:
                await self._dead_letter(entry, attempts, exc)
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
            self._queue_done(entry.id, int(self._clock() * 1000))
        except Exception as exc:
            self._done_failed(entry.id, exc)
        return True

    def _queue_done(self, entry_id: int, now_ms: int) -> None:
        """Add a done mark to the open batch, or open one (written after ``done_delay``)."""
        with self._done_lock:
            batch = self._done_batch
            if batch is not None and not batch.closed:
                batch.marks.append((now_ms, entry_id))
                return
            loop = asyncio.get_running_loop()
            batch = self._done_batch = _DoneBatch(loop.create_future(), [(now_ms, entry_id)])
        self._done_writes.add(batch.waiter)
        delay = self.config.done_delay
        if delay > 0 and self._running and not self._idle_waiters:
            batch.timer = loop.call_later(delay, self._submit_done, batch)
        else:
            self._submit_done(batch)

    def _flush_done(self) -> None:
        """Write the open batch now instead of after its delay."""
        batch = self._done_batch
        if batch is not None and batch.timer is not None:
            batch.timer.cancel()
            self._submit_done(batch)

    def _submit_done(self, batch: _DoneBatch) -> None:
        batch.timer = None
        lock = self._done_lock

        def write(conn: sqlite3.Connection) -> None:
            with lock:  # from now on new marks open the next batch
                batch.closed = True
            conn.executemany(_DONE_SQL, batch.marks)

        try:
            future = self.store.submit(write)
        except Exception as exc:  # the store is closed: the rows stay pending
            with lock:
                batch.closed = True
            self._done_settled(batch, exc)
            return
        future.add_done_callback(lambda done: self._done_committed(batch, done))

    def _done_committed(self, batch: _DoneBatch, future: asyncio.Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        self._done_settled(batch, error)

    def _done_settled(self, batch: _DoneBatch, error: BaseException | None) -> None:
        with self._done_lock:  # a batch whose write never ran (the commit failed first)
            batch.closed = True
        if error is not None:
            for _stamp, entry_id in batch.marks:
                self._done_failed(entry_id, error)
        if not batch.waiter.done():
            batch.waiter.set_result(None)
        self._done_writes.discard(batch.waiter)
        self._check_idle()

    @staticmethod
    def _done_failed(entry_id: int, exc: BaseException) -> None:
        # The effect happened; the row stays pending and is replayed after a restart.
        log.error("inbox: could not mark entry %d done: %s", entry_id, describe_error(exc))

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
        return conn.execute(_DONE_SQL, (stamp, entry_id)).rowcount == 1

    async def _schedule_retry(self, entry: _Entry, attempts: int, exc: Exception) -> None:
        entry.attempts = attempts
        error = describe_error(exc)
        log.warning(
            "inbox: entry %d failed (attempt %d/%d), will retry: %s",
            entry.id,
            attempts,
            self.config.max_attempts,
            error,
        )
        with contextlib.suppress(Exception):
            await self.store.write(
                lambda conn: conn.execute(
                    "UPDATE inbox_entries SET attempts = ?, last_error = ? WHERE id = ?",
                    (attempts, error, entry.id),
                )
            )
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

    async def _dead_letter(self, entry: _Entry, attempts: int, exc: Exception) -> None:
        error = describe_error(exc)
        log.error(
            "inbox: entry %d dead-lettered after %d attempt(s): %s", entry.id, attempts, error
        )
        payload = entry.payload
        if payload is None and entry.message is not None:
            payload = entry.message.model_dump_json()
        now_ms = int(self._clock() * 1000)

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO inbox_dead_letters"
                " (entry_id, channel, account_id, message_id, lane, attempts, error, payload,"
                "  dead_at_ms)"
                " SELECT id, channel, account_id, message_id, lane, ?, ?, ?, ?"
                " FROM inbox_entries WHERE id = ?",
                (attempts, error, payload, now_ms, entry.id),
            )
            conn.execute(
                "UPDATE inbox_entries SET state = 'dead', payload = NULL, attempts = ?,"
                " last_error = ?, finished_at_ms = ? WHERE id = ?",
                (attempts, error, now_ms, entry.id),
            )

        try:
            await self.store.write(write)
        except Exception as err:
            log.error("inbox: could not dead-letter entry %d: %s", entry.id, describe_error(err))
        self.counters.dead_lettered += 1

    # ------------------------------------------------------------------ maintenance
    async def prune(self) -> int:
        """Drop old tombstones and dead letters; return how many rows were removed.

        Done (and dead) journal rows are kept ``tombstone_days`` and at most
        ``tombstone_limit`` per (channel, account), whichever keeps fewer; dead letters
        ``dead_letter_days`` / ``dead_letter_limit``; the pipeline's delivery records
        ``tombstone_days``.
        """
        cfg = self.config
        now_ms = int(self._clock() * 1000)
        tomb_cutoff = now_ms - int(cfg.tombstone_days * _DAY_MS)
        dead_cutoff = now_ms - int(cfg.dead_letter_days * _DAY_MS)

        def prune(conn: sqlite3.Connection) -> int:
            removed = conn.execute(
                "DELETE FROM inbox_entries WHERE state != 'pending' AND finished_at_ms < ?",
                (tomb_cutoff,),
            ).rowcount
            accounts = conn.execute(
                "SELECT DISTINCT channel, account_id FROM inbox_entries WHERE state != 'pending'"
            ).fetchall()
            for channel, account_id in accounts:
                removed += conn.execute(
                    "DELETE FROM inbox_entries WHERE id IN ("
                    " SELECT id FROM inbox_entries"
                    " WHERE channel = ? AND account_id = ? AND state != 'pending'"
                    " ORDER BY finished_at_ms DESC, id DESC LIMIT -1 OFFSET ?)",
                    (channel, account_id, cfg.tombstone_limit),
                ).rowcount
            removed += conn.execute(
                "DELETE FROM inbox_dead_letters WHERE dead_at_ms < ?", (dead_cutoff,)
            ).rowcount
            # The pipeline's per-chunk delivery records only matter while a message may be
            # replayed; they follow the tombstones' age limit.
            removed += conn.execute(
                "DELETE FROM pipeline_deliveries WHERE created_at_ms < ?", (tomb_cutoff,)
            ).rowcount
            for channel, account_id in conn.execute(
                "SELECT DISTINCT channel, account_id FROM inbox_dead_letters"
            ).fetchall():
                removed += conn.execute(
                    "DELETE FROM inbox_dead_letters WHERE entry_id IN ("
                    " SELECT entry_id FROM inbox_dead_letters"
                    " WHERE channel = ? AND account_id = ?"
                    " ORDER BY dead_at_ms DESC, entry_id DESC LIMIT -1 OFFSET ?)",
                    (channel, account_id, cfg.dead_letter_limit),
                ).rowcount
            return removed

        removed: int = await self.store.write(prune)
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
        rows = await self.store.fetchall(
            "SELECT entry_id, channel, account_id, message_id, lane, attempts, error,"
            " dead_at_ms, payload FROM inbox_dead_letters"
            " WHERE (?1 IS NULL OR channel = ?1) AND (?2 IS NULL OR account_id = ?2)"
            " ORDER BY dead_at_ms DESC, entry_id DESC LIMIT ?3",
            (channel, account_id, limit),
        )
        return [
            DeadLetter(
                entry_id=row["entry_id"],
                channel=row["channel"],
                account_id=row["account_id"],
                message_id=row["message_id"],
                lane=row["lane"],
                attempts=row["attempts"],
                error=row["error"],
                dead_at_ms=row["dead_at_ms"],
                payload=row["payload"],
            )
            for row in rows
        ]
