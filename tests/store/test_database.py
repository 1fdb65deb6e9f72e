"""The SQLite store: private files, migrations, group commit, failure isolation, crash safety."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from zalogate.store import Migration, Store, StoreClosedError, StoreError, load_migrations

TEST_TABLE = Migration(9001, "test_items", "CREATE TABLE items (k TEXT PRIMARY KEY, v INTEGER);")


async def open_with_items(state_dir: Path) -> Store:
    return await Store.open(state_dir, migrations=[*load_migrations(), TEST_TABLE])


async def test_state_dir_is_0700_and_database_0600(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    async with await Store.open(state_dir) as store:
        await store.execute("INSERT INTO meta(key, value) VALUES ('x', 'y')")
        assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700
        assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
        wal = store.path.with_name(store.path.name + "-wal")
        assert not wal.exists() or stat.S_IMODE(os.stat(wal).st_mode) == 0o600


async def test_existing_loose_state_dir_is_tightened(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o755)
    os.chmod(state_dir, 0o755)
    async with await Store.open(state_dir):
        assert stat.S_IMODE(os.stat(state_dir).st_mode) == 0o700


async def test_database_runs_in_wal_mode(tmp_path: Path) -> None:
    async with await Store.open(tmp_path) as store:
        row = await store.fetchone("PRAGMA journal_mode")
        assert row is not None
        assert row[0] == "wal"


async def test_migrations_apply_once_in_order_and_are_recorded(tmp_path: Path) -> None:
    first = Migration(9001, "a", "CREATE TABLE a (x INTEGER);\nINSERT INTO a VALUES (1);")
    second = Migration(9002, "b", "-- comment only line\nALTER TABLE a ADD COLUMN y TEXT;")
    async with await Store.open(tmp_path, migrations=[first]) as store:
        assert [tuple(r) for r in await store.fetchall("SELECT x FROM a")] == [(1,)]
    async with await Store.open(tmp_path, migrations=[first, second]) as store:
        rows = await store.fetchall("SELECT version, name FROM schema_migrations ORDER BY version")
        assert [tuple(r) for r in rows] == [(9001, "a"), (9002, "b")]
        # the first migration did not run twice
        assert [tuple(r) for r in await store.fetchall("SELECT x, y FROM a")] == [(1, None)]


async def test_failing_migration_is_rolled_back_and_named(tmp_path: Path) -> None:
    broken = Migration(9001, "broken", "CREATE TABLE ok_table (x);\nTHIS IS NOT SQL;")
    with pytest.raises(StoreError, match="9001_broken"):
        await Store.open(tmp_path, migrations=[broken])
    async with await Store.open(tmp_path, migrations=[]) as store:
        tables = {r[0] for r in await store.fetchall("SELECT name FROM sqlite_master")}
        assert "ok_table" not in tables


def test_packaged_migrations_are_numbered_uniquely() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions == sorted(set(versions))
    assert versions[0] == 1


async def test_concurrent_writers_are_batched_into_few_commits(tmp_path: Path) -> None:
    async with await open_with_items(tmp_path) as store:
        before = store.commits
        await asyncio.gather(
            *(
                store.execute("INSERT INTO items(k, v) VALUES (?, ?)", (f"k{i}", i))
                for i in range(500)
            )
        )
        row = await store.fetchone("SELECT count(*), sum(v) FROM items")
        assert row is not None
        assert tuple(row) == (500, sum(range(500)))
        # group commit: far fewer transactions than writes
        assert store.commits - before < 500


async def test_failing_write_rolls_back_alone_and_raises_to_its_caller(tmp_path: Path) -> None:
    async with await open_with_items(tmp_path) as store:

        def good(i: int) -> object:
            return lambda conn: conn.execute("INSERT INTO items VALUES (?, ?)", (f"g{i}", i))

        def bad(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT INTO items VALUES ('bad', 1)")
            raise ValueError("boom")

        results = await asyncio.gather(
            *(store.write(good(i)) for i in range(5)),  # type: ignore[arg-type]
            store.write(bad),
            *(store.write(good(i)) for i in range(5, 10)),  # type: ignore[arg-type]
            return_exceptions=True,
        )
        errors = [r for r in results if isinstance(r, BaseException)]
        assert len(errors) == 1
        assert isinstance(errors[0], ValueError)
        keys = {r[0] for r in await store.fetchall("SELECT k FROM items")}
        assert keys == {f"g{i}" for i in range(10)}


async def test_write_returns_the_functions_result(tmp_path: Path) -> None:
    async with await open_with_items(tmp_path) as store:
        changed = await store.execute("INSERT INTO items VALUES ('a', 1), ('b', 2)")
        assert changed == 2
        total = await store.write(lambda c: c.execute("SELECT sum(v) FROM items").fetchone()[0])
        assert total == 3


async def test_readers_see_committed_writes_and_cannot_write(tmp_path: Path) -> None:
    async with await open_with_items(tmp_path) as store:
        await store.execute("INSERT INTO items VALUES ('a', 1)")
        assert await store.fetchone("SELECT v FROM items WHERE k = 'a'") is not None
        with pytest.raises(sqlite3.OperationalError):
            await store.read(lambda c: c.execute("INSERT INTO items VALUES ('z', 0)"))


async def test_closed_store_refuses_work(tmp_path: Path) -> None:
    store = await Store.open(tmp_path)
    await store.close()
    await store.close()  # twice is fine
    with pytest.raises(StoreClosedError):
        await store.execute("SELECT 1")
    with pytest.raises(StoreClosedError):
        await store.fetchall("SELECT 1")


async def test_close_finishes_queued_writes(tmp_path: Path) -> None:
    store = await open_with_items(tmp_path)
    pending = [
        asyncio.ensure_future(store.execute("INSERT INTO items VALUES (?, ?)", (f"k{i}", i)))
        for i in range(50)
    ]
    await asyncio.sleep(0)
    await store.close()
    await asyncio.gather(*pending)
    async with await open_with_items(tmp_path) as reopened:
        row = await reopened.fetchone("SELECT count(*) FROM items")
        assert row is not None
        assert row[0] == 50


async def test_submit_queues_at_once_and_close_commits_it(tmp_path: Path) -> None:
    """``submit`` puts the write in the queue before returning, so a ``close()`` right after
    it still commits the write; the future carries the result."""
    store = await open_with_items(tmp_path)

    def insert(i: int) -> Callable[[sqlite3.Connection], int]:
        return lambda conn: conn.execute("INSERT INTO items VALUES (?, ?)", (f"s{i}", i)).rowcount

    futures = [store.submit(insert(i)) for i in range(5)]
    await store.close()
    assert await asyncio.gather(*futures) == [1] * 5
    with pytest.raises(StoreClosedError):
        store.submit(lambda conn: None)
    async with await open_with_items(tmp_path) as reopened:
        row = await reopened.fetchone("SELECT count(*) FROM items")
        assert row is not None
        assert row[0] == 5


CHILD = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from pathlib import Path
    from zalogate.store import Migration, Store, load_migrations

    async def main() -> None:
        table = Migration(9001, "test_items", "CREATE TABLE items (k TEXT PRIMARY KEY, v INTEGER);")
        store = await Store.open(Path(sys.argv[1]), migrations=[*load_migrations(), table])
        for batch in range(20):
            await asyncio.gather(*(
                store.execute("INSERT INTO items VALUES (?, ?)", (f"k{batch}-{i}", i))
                for i in range(50)
            ))
            # every acknowledged write so far is reported to the parent
            print(f"acked {(batch + 1) * 50}", flush=True)
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


async def test_reopen_after_unclean_close_keeps_every_acknowledged_write(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(state_dir), stdout=subprocess.PIPE
    )
    out, _ = await proc.communicate()
    assert proc.returncode == -9
    acked = max(int(line.split()[1]) for line in out.decode().splitlines())
    async with await open_with_items(state_dir) as store:
        row = await store.fetchone("SELECT count(*) FROM items")
        assert row is not None
        assert row[0] >= acked == 1000
        check = await store.fetchone("PRAGMA integrity_check")
        assert check is not None
        assert check[0] == "ok"
