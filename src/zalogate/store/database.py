"""The SQLite store: migrations, a reader pool and a group-committing writer.

Every write is a plain function ``fn(conn) -> T`` that runs on the writer thread inside a
transaction shared with the other writes queued at the same moment. Each function gets its
own savepoint, so one failing write is rolled back alone and its caller gets the exception,
while the others commit. ``await store.write(fn)`` returns only after the commit that holds
``fn``'s changes is durable, which is what lets the inbox acknowledge a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal, TypeVar

from zalogate.store.paths import ensure_private_dir, touch_private_file

__all__ = [
    "DATABASE_FILENAME",
    "Migration",
    "Store",
    "StoreClosedError",
    "StoreError",
    "load_migrations",
    "state_dir_problem",
]

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], T]
Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]

DATABASE_FILENAME = "zalogate.db"
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_MAX_BATCH = 1024

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store could not be opened or migrated."""


def state_dir_problem(state_dir: Path, exc: OSError) -> str:
    """Why ``state_dir`` cannot be created, and the fix, in one line."""
    blocker = next((p for p in (state_dir, *state_dir.parents) if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        why = f"{blocker} is a file, not a folder"
    else:
        why = exc.strerror or str(exc)
    return (
        f"cannot create the state dir {state_dir}: {why}; set gateway.stateDir or"
        " $ZALOGATE_STATE_DIR to a folder you can write"
    )


class StoreClosedError(StoreError):
    """The store was used after ``close()``."""


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered SQL script from ``zalogate/store/migrations``."""

    version: int
    name: str
    sql: str


def load_migrations() -> list[Migration]:
    """Return the packaged migrations in version order; duplicate numbers are an error."""
    found: dict[int, Migration] = {}
    for entry in resources.files("zalogate.store.migrations").iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if not match:
            continue
        version = int(match.group(1))
        if version in found:
            raise StoreError(f"two migrations share number {version:04d}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


@dataclass(slots=True)
class _WriteRequest:
    fn: Callable[[sqlite3.Connection], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


_STOP = object()


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _settle_all(outcomes: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in outcomes:
        _settle(future, result, error)


class Store:
    """One SQLite database in WAL mode with an async access layer.

    Use ``async with await Store.open(state_dir) as store`` or call ``close()``.
    """

    def __init__(
        self,
        path: Path,
        *,
        readers: int = 2,
        synchronous: Synchronous = "FULL",
        migrations: Iterable[Migration] | None = None,
    ) -> None:
        self.path = path
        self._synchronous = synchronous
        self._migrations = list(load_migrations() if migrations is None else migrations)
        self._queue: queue.SimpleQueue[_WriteRequest | object] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._reader_pool = ThreadPoolExecutor(
            max_workers=max(1, readers), thread_name_prefix="zalogate-store-read"
        )
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._closed = False
        self.commits = 0
        """How many transactions the writer committed (a measure of batching)."""

    # ------------------------------------------------------------------ lifecycle
    @classmethod
    async def open(
        cls,
        state_dir: Path,
        *,
        filename: str = DATABASE_FILENAME,
        readers: int = 2,
        synchronous: Synchronous = "FULL",
        migrations: Iterable[Migration] | None = None,
    ) -> Store:
        """Open (creating if needed) ``state_dir/filename`` and apply pending migrations.

        Raises:
            StoreError: The state dir cannot be created (the message names the fix).
        """
        try:
            ensure_private_dir(state_dir)
        except OSError as exc:
            raise StoreError(state_dir_problem(state_dir, exc)) from exc
        store = cls(
            state_dir / filename, readers=readers, synchronous=synchronous, migrations=migrations
        )
        await asyncio.to_thread(store._prepare)
        store._start_writer()
        return store

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        return conn

    def _prepare(self) -> None:
        touch_private_file(self.path)
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"could not switch {self.path.name} to WAL mode (got {mode})")
            self._migrate(conn)
        finally:
            conn.close()
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.chmod(0o600)

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_ms INTEGER NOT NULL)"
        )
        applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for migration in self._migrations:
            if migration.version in applied:
                continue
            log.debug("applying migration %04d_%s", migration.version, migration.name)
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(migration.sql):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations(version, name, applied_at_ms) VALUES (?, ?, ?)",
                    (migration.version, migration.name, int(time.time() * 1000)),
                )
                conn.execute("COMMIT")
            except Exception as exc:
                conn.execute("ROLLBACK")
                raise StoreError(
                    f"migration {migration.version:04d}_{migration.name} failed: {exc}"
                ) from exc

    def _start_writer(self) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                conn = self._connect()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            self._writer_loop(conn)

        self._writer = threading.Thread(target=run, name="zalogate-store-write", daemon=True)
        self._writer.start()
        ready.wait()
        if failure:
            raise StoreError(f"could not open the writer connection: {failure[0]}")

    async def close(self) -> None:
        """Finish queued writes, then close every connection. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        if self._writer is not None:
            await asyncio.to_thread(self._writer.join)
        await asyncio.to_thread(self._reader_pool.shutdown, wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._closed

    # ------------------------------------------------------------------ reads
    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._reader_local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            self._reader_local.conn = conn
            with self._reader_lock:
                self._reader_conns.append(conn)
        return conn

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` on a reader thread and return its result.

        The reader sees the last committed state; it never blocks the writer (WAL).
        """
        if self._closed:
            raise StoreClosedError("the store is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, lambda: fn(self._reader_conn()))

    # ------------------------------------------------------------------ writes
    def write(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run ``fn(conn)`` inside the next group commit; awaited, return once it is durable.

        If ``fn`` raises, only its own changes are rolled back and the exception is re-raised
        here. If the commit itself fails, every write of that batch gets the error. (The
        store's future itself, not a coroutine around it: one fewer per write, a hot path.)
        """
        return self.submit(fn)

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue ``fn(conn)`` for the next group commit now; the future resolves once durable.

        Like :meth:`write`, for a caller that must not wait for the commit but wants the
        write queued at once (before a later ``close()``). Call it from the event loop.

        Raises:
            StoreClosedError: The store is closed.
        """
        if self._closed:
            raise StoreClosedError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_WriteRequest(fn, loop, future))
        return future

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Write shortcut: run one statement, return the number of changed rows."""
        values = tuple(params)
        return await self.write(lambda conn: conn.execute(sql, values).rowcount)

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Read shortcut: run one query, return every row."""
        values = tuple(params)
        return await self.read(lambda conn: conn.execute(sql, values).fetchall())

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        """Read shortcut: run one query, return the first row or ``None``."""
        values = tuple(params)
        row: sqlite3.Row | None = await self.read(lambda conn: conn.execute(sql, values).fetchone())
        return row

    def _writer_loop(self, conn: sqlite3.Connection) -> None:
        try:
            stopping = False
            while not stopping:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch: list[_WriteRequest] = [first]  # type: ignore[list-item]
                while len(batch) < _MAX_BATCH:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is _STOP:
                        stopping = True
                        break
                    batch.append(nxt)  # type: ignore[arg-type]
                self._commit_batch(conn, batch)
        finally:
            conn.close()

    def _commit_batch(self, conn: sqlite3.Connection, batch: list[_WriteRequest]) -> None:
        outcomes: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for request in batch:
                conn.execute("SAVEPOINT w")
                try:
                    result = request.fn(conn)
                except BaseException as exc:
                    conn.execute("ROLLBACK TO w")
                    conn.execute("RELEASE w")
                    outcomes.append((None, exc))
                else:
                    conn.execute("RELEASE w")
                    outcomes.append((result, None))
            conn.execute("COMMIT")
            self.commits += 1
        except BaseException as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            log.error("store commit failed: %s", exc)
            failure: BaseException = StoreError(f"commit failed: {exc}")
            outcomes = [(None, failure)] * len(batch)
        # One wake-up per event loop and batch, not one per write: waking a loop costs a
        # self-pipe write and a loop iteration, which dominated small writes.
        by_loop: dict[
            asyncio.AbstractEventLoop,
            list[tuple[asyncio.Future[Any], Any, BaseException | None]],
        ] = {}
        for request, (result, error) in zip(batch, outcomes, strict=True):
            by_loop.setdefault(request.loop, []).append((request.future, result, error))
        for loop, settled in by_loop.items():
            with contextlib.suppress(RuntimeError):  # the caller's loop may be gone
                loop.call_soon_threadsafe(_settle_all, settled)


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements, dropping comment-only pieces."""
    statements: list[str] = []
    buffer = ""
    for line in script.splitlines(keepends=True):
        if not buffer and line.strip().startswith("--"):
            continue
        buffer += line
        if sqlite3.complete_statement(buffer):
            statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        statements.append(buffer.strip())
    return statements
