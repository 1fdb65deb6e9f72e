"""Child process for test_crash_replay: admit and answer messages with the real Store/Inbox.

Usage: ``python crash_worker.py <state_dir> admit <count> <conversations>`` admits ``count``
messages, prints ``admitted``, then processes until killed (or done);
``python crash_worker.py <state_dir> resume`` replays what is unfinished and exits when idle.

Each answer is written to ``crash_answers`` in the same transaction as the inbox's done mark,
so "answered exactly once" can be counted after any crash.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from pathlib import Path

from zalogate.backoff import BackoffConfig
from zalogate.core.ingress import Inbox, InboxConfig, current_entry
from zalogate.core.model import ChatType, InboundMessage
from zalogate.store import Store


def message(n: int, conversations: int) -> InboundMessage:
    chat = f"c{n % conversations}"
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id=chat,
        sender_id=chat,
        message_id=f"m{n}",
        timestamp_ms=n,
        text=str(n),
    )


async def main(state_dir: Path, mode: str, count: int, conversations: int) -> None:
    store = await Store.open(state_dir)
    await store.write(
        lambda conn: conn.execute(
            "CREATE TABLE IF NOT EXISTS crash_answers ("
            " id INTEGER PRIMARY KEY AUTOINCREMENT, message_id TEXT NOT NULL,"
            " chat_id TEXT NOT NULL, n INTEGER NOT NULL)"
        )
    )

    async def answer(msg: InboundMessage) -> None:
        context = current_entry.get()
        assert context is not None
        await asyncio.sleep(0.002)  # pretend to work, so the kill lands mid-processing

        def record(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO crash_answers (message_id, chat_id, n) VALUES (?, ?, ?)",
                (msg.message_id, msg.chat_id, int(msg.text)),
            )
            if not Inbox.mark_done(conn, context.entry_id):
                raise RuntimeError("entry was not pending: it would be answered twice")

        await store.write(record)
        context.done = True

    inbox = Inbox(
        store,
        answer,
        config=InboxConfig(max_concurrency=8, backoff=BackoffConfig(0.001, 0.002)),
    )
    if mode == "admit":
        # Journal everything first (acknowledged, durable), then start processing.
        await asyncio.gather(*(inbox.admit(message(n, conversations)) for n in range(count)))
        print("admitted", flush=True)
        await inbox.start()
        await inbox.wait_idle()
        print("idle", flush=True)
        await asyncio.Event().wait()  # stay alive until killed
    else:
        await inbox.start()
        await inbox.wait_idle()
        await inbox.stop()
        await store.close()
        print(f"resumed {inbox.counters.replayed}", flush=True)


if __name__ == "__main__":
    state = Path(sys.argv[1])
    run_mode = sys.argv[2]
    total = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    chats = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    asyncio.run(main(state, run_mode, total, chats))
