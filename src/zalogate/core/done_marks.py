"""Done marks of the inbox, gathered and written to the journal together.

A done mark only decides whether a restart replays its row (a replay is safe), so it need
not be durable at once: marks are gathered for up to ``delay`` seconds and written as one
statement list in one commit, so that a moderate rate does not pay an fsync per mark.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from zalogate.core.errors import describe_error
from zalogate.core.journal import DONE_SQL

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = ["DoneMarks", "report_unmarked"]

log = logging.getLogger(__name__)


def report_unmarked(entry_id: int, exc: BaseException) -> None:
    """Log a done mark that could not be written."""
    # The effect happened; the row stays pending and is replayed after a restart.
    log.error("inbox: could not mark entry %d done: %s", entry_id, describe_error(exc))


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
    """The pending ``delay`` before the batch goes to the store (None once queued)."""


class DoneMarks:
    """The open batch of done marks and the writes still settling.

    Args:
        store: Where the marks go (through ``store.submit``, the group commit).
        delay: Seconds a mark may wait for others before it is written (0: at once).
        on_settled: Called after each batch's write settled (the inbox checks for idle).
    """

    def __init__(self, store: Store, delay: float, on_settled: Callable[[], None]) -> None:
        self.store = store
        self.delay = delay
        self._on_settled = on_settled
        self._writes: set[asyncio.Future[None]] = set()
        self._batch: _DoneBatch | None = None
        self._lock = threading.Lock()

    @property
    def settling(self) -> bool:
        """True while a batch is open or its write has not settled."""
        return bool(self._writes)

    def add(self, entry_id: int, now_ms: int, *, defer: bool) -> None:
        """Add a mark to the open batch, or open one (written after ``delay`` if ``defer``)."""
        with self._lock:
            batch = self._batch
            if batch is not None and not batch.closed:
                batch.marks.append((now_ms, entry_id))
                return
            loop = asyncio.get_running_loop()
            batch = self._batch = _DoneBatch(loop.create_future(), [(now_ms, entry_id)])
        self._writes.add(batch.waiter)
        if self.delay > 0 and defer:
            batch.timer = loop.call_later(self.delay, self._submit, batch)
        else:
            self._submit(batch)

    def flush(self) -> None:
        """Write the open batch now instead of after its delay."""
        batch = self._batch
        if batch is not None and batch.timer is not None:
            batch.timer.cancel()
            self._submit(batch)

    async def settle(self, timeout: float) -> None:  # noqa: ASYNC109 (a grace period)
        """Wait up to ``timeout`` seconds for the writes already queued to commit."""
        if self._writes:
            await asyncio.wait(set(self._writes), timeout=timeout)

    def _submit(self, batch: _DoneBatch) -> None:
        batch.timer = None
        lock = self._lock

        def write(conn: sqlite3.Connection) -> None:
            with lock:  # from now on new marks open the next batch
                batch.closed = True
            conn.executemany(DONE_SQL, batch.marks)

        try:
            future = self.store.submit(write)
        except Exception as exc:  # the store is closed: the rows stay pending
            with lock:
                batch.closed = True
            self._settled(batch, exc)
            return
        future.add_done_callback(lambda done: self._committed(batch, done))

    def _committed(self, batch: _DoneBatch, future: asyncio.Future[None]) -> None:
        error = None if future.cancelled() else future.exception()
        self._settled(batch, error)

    def _settled(self, batch: _DoneBatch, error: BaseException | None) -> None:
        with self._lock:  # a batch whose write never ran (the commit failed first)
            batch.closed = True
        if error is not None:
            for _stamp, entry_id in batch.marks:
                report_unmarked(entry_id, error)
        if not batch.waiter.done():
            batch.waiter.set_result(None)
        self._writes.discard(batch.waiter)
        self._on_settled()
