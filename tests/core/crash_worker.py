"""Child process for test_crash_replay: admit and answer messages with the real Store/Inbox.

Usage: ``python crash_worker.py <state_dir> <how> admit <count> <conversations>`` admits
``count`` messages, prints ``admitted``, then processes until killed (or done);
``python crash_worker.py <state_dir> <how> resume`` replays what is unfinished and exits when
idle, printing ``resumed <replayed>``.

``how`` is the handler:

* ``handler``: each answer is written to ``crash_answers`` in the same transaction as the
  inbox's done mark (the exactly-once recipe of ``core.ingress``), so "answered exactly once"
  holds after any crash.
* ``pipeline``: the real :class:`~zalogate.core.pipeline.Pipeline` with the echo agent and a
  channel whose ``send`` appends to ``crash_answers`` (its own commit, like Zalo accepting a
  message); the pipeline records each delivery afterwards. A second answer is then possible
  only for a message whose delivery record was not yet committed when the process died.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from zalogate.agents.echo import EchoAgent
from zalogate.backoff import BackoffConfig
from zalogate.core.access import AccountPolicy
from zalogate.core.channel import Channel, ChannelAccount, ProbeResult
from zalogate.core.ingress import Handler, Inbox, InboxConfig, current_entry
from zalogate.core.model import ChatType, DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.core.pipeline import Pipeline
from zalogate.store import Store

ACCOUNT = ChannelAccount(channel="zalo", account_id="default", enabled=True, settings={})


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


class AnswerChannel(Channel):
    """A channel whose sends land in ``crash_answers`` (one commit per send)."""

    id = "zalo"
    text_limit = 2000

    def __init__(self, store: Store) -> None:
        self.store = store

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ACCOUNT]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        await asyncio.sleep(0.002)  # the network round trip, so the kill lands mid-processing
        n = int(reply.text)
        row_id = await self.store.write(
            lambda conn: (
                conn.execute(
                    "INSERT INTO crash_answers (message_id, chat_id, n) VALUES (?, ?, ?)",
                    (f"m{n}", target, n),
                ).lastrowid
            )
        )
        return DeliveryReceipt(message_ids=(str(row_id),))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)


async def main(state_dir: Path, how: str, mode: str, count: int, conversations: int) -> None:
    # SIGKILL loses nothing the OS already has, so fsync (synchronous=FULL) adds only time
    # here; a commit is still a commit (WAL).
    store = await Store.open(state_dir, synchronous="NORMAL")
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

    handler: Handler = answer
    if how == "pipeline":
        policy = AccountPolicy(channel="zalo", dm_policy="open", allow_from=frozenset({"*"}))
        pipeline = Pipeline(
            store=store,
            channels={"zalo": AnswerChannel(store)},
            policy_for=lambda m: policy,
            agent=EchoAgent(),
        )
        handler = pipeline.process
    inbox = Inbox(
        store,
        handler,
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
    handler_kind = sys.argv[2]
    run_mode = sys.argv[3]
    total = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    chats = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    asyncio.run(main(state, handler_kind, run_mode, total, chats))
