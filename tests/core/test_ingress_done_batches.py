"""Done marks: many finished messages share one store write; a failed write replays them."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from zalogate.core.ingress import Inbox, InboxConfig
from zalogate.core.model import ChatType, InboundMessage
from zalogate.store import Store


def make_message(chat: str, n: int) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id=chat,
        sender_id=chat,
        message_id=f"{chat}-{n}",
        timestamp_ms=1_700_000_000_000 + n,
        text=f"hello {n}",
    )


def count_submits(store: Store) -> list[int]:
    """Count the writes queued through ``store.submit`` (the inbox's done marks use it)."""
    calls = [0]
    original = store.submit

    def submit(fn: Callable[[sqlite3.Connection], Any]) -> asyncio.Future[Any]:
        calls[0] += 1
        return original(fn)

    store.submit = submit  # type: ignore[method-assign]
    return calls


async def test_done_marks_of_concurrent_messages_share_writes(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def handler(message: InboundMessage) -> None:
        await release.wait()  # nothing finishes before every message is admitted

    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        inbox = Inbox(store, handler, config=InboxConfig(max_concurrency=64))
        messages = [make_message(f"c{n % 50}", n) for n in range(200)]
        async with inbox:
            await asyncio.gather(*(inbox.admit(m) for m in messages))
            submits = count_submits(store)
            release.set()
            await asyncio.wait_for(inbox.wait_idle(), timeout=10)
            rows = await store.fetchall("SELECT state, finished_at_ms FROM inbox_entries")
        assert [row["state"] for row in rows] == ["done"] * 200
        assert all(row["finished_at_ms"] for row in rows)
        # 200 done marks, far fewer writes (each write takes every mark queued before it ran).
        assert 1 <= submits[0] < 100
        assert inbox.counters.processed == 200


async def test_a_failed_done_write_leaves_the_rows_to_replay(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[str] = []

    async def handler(message: InboundMessage) -> None:
        seen.append(message.message_id)

    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        await store.execute(
            "CREATE TRIGGER refuse_done BEFORE UPDATE OF state ON inbox_entries"
            " WHEN NEW.state = 'done' BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
        )
        inbox = Inbox(store, handler, config=InboxConfig(max_concurrency=8))
        async with inbox:
            for n in range(6):
                await inbox.admit(make_message(f"c{n % 2}", n))
            await asyncio.wait_for(inbox.wait_idle(), timeout=10)
        rows = await store.fetchall("SELECT state FROM inbox_entries")
        assert [row["state"] for row in rows] == ["pending"] * 6
        failed = [r for r in caplog.records if "could not mark entry" in r.getMessage()]
        assert len(failed) == 6  # one line per entry, whatever the batching
        await store.execute("DROP TRIGGER refuse_done")
    assert len(seen) == 6
    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        replay = Inbox(store, handler, config=InboxConfig(max_concurrency=8))
        async with replay:
            await asyncio.wait_for(replay.wait_idle(), timeout=10)
        assert replay.counters.replayed == 6
        rows = await store.fetchall("SELECT state FROM inbox_entries")
        assert [row["state"] for row in rows] == ["done"] * 6
    assert sorted(seen) == sorted([f"c{n % 2}-{n}" for n in range(6)] * 2)


async def states(store: Store) -> list[str]:
    rows = await store.fetchall("SELECT state FROM inbox_entries ORDER BY id")
    return [row["state"] for row in rows]


async def test_done_marks_wait_for_the_delay_unless_someone_waits_for_idle(
    tmp_path: Path,
) -> None:
    async def handler(message: InboundMessage) -> None:
        return None

    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        inbox = Inbox(store, handler, config=InboxConfig(done_delay=1.0))
        async with inbox:
            await inbox.admit(make_message("c", 1))
            await inbox.admit(make_message("c", 2))
            for _ in range(100):  # processed almost at once, the marks come later
                if inbox.counters.processed == 2:
                    break
                await asyncio.sleep(0.005)
            assert await states(store) == ["pending", "pending"]
            for _ in range(400):
                if await states(store) == ["done", "done"]:
                    break
                await asyncio.sleep(0.01)
            assert await states(store) == ["done", "done"]

        slow = Inbox(store, handler, config=InboxConfig(done_delay=60.0))
        async with slow:
            await slow.admit(make_message("d", 1))
            await asyncio.wait_for(slow.wait_idle(), timeout=5)  # flushes, not 60 s
            assert (await states(store))[-1] == "done"
            await slow.admit(make_message("d", 2))
            for _ in range(100):
                if slow.counters.processed == 2:
                    break
                await asyncio.sleep(0.005)
        # stop() writes the pending mark too: nothing is replayed after a clean stop.
        assert await states(store) == ["done"] * 4
        again = Inbox(store, handler, config=InboxConfig())
        async with again:
            await asyncio.wait_for(again.wait_idle(), timeout=5)
        assert again.counters.replayed == 0


def test_a_negative_done_delay_is_refused() -> None:
    with pytest.raises(ValueError, match="done_delay"):
        InboxConfig(done_delay=-1)
