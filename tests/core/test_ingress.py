"""The durable inbox: dedupe, lanes, retries, dead letters, replay and tombstones."""

from __future__ import annotations

import asyncio
import tempfile
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zalogate.backoff import BackoffConfig
from zalogate.core.errors import DeliveryError, NonRetryableError
from zalogate.core.ingress import EntryContext, Inbox, InboxConfig, current_entry
from zalogate.core.model import ChatType, InboundMessage
from zalogate.store import Store

FAST = BackoffConfig(min_delay=0.001, max_delay=0.002, jitter=0.1)


def make_message(chat: str, n: int, *, account: str = "default") -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id=account,
        chat_type=ChatType.DIRECT,
        chat_id=chat,
        sender_id=chat,
        message_id=f"{chat}-{n}",
        timestamp_ms=1_700_000_000_000 + n,
        text=f"hello {n}",
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path, synchronous="NORMAL") as opened:
        yield opened


def config(**overrides: object) -> InboxConfig:
    values: dict[str, object] = {"backoff": FAST, "max_concurrency": 8}
    values.update(overrides)
    return InboxConfig(**values)  # type: ignore[arg-type]


async def run_until_idle(inbox: Inbox) -> None:
    await asyncio.wait_for(inbox.wait_idle(), timeout=10)


async def test_duplicate_message_is_acknowledged_but_processed_once(store: Store) -> None:
    seen: list[str] = []

    async def handler(message: InboundMessage) -> None:
        seen.append(message.message_id)

    inbox = Inbox(store, handler, config=config())
    async with inbox:
        first = await inbox.admit(make_message("a", 1))
        again = await inbox.admit(make_message("a", 1))
        await run_until_idle(inbox)
        after_done = await inbox.admit(make_message("a", 1))
        await run_until_idle(inbox)
    assert not first.duplicate
    assert again.duplicate
    assert after_done.duplicate
    assert again.entry_id == first.entry_id == after_done.entry_id
    assert seen == ["a-1"]
    assert inbox.counters.duplicates == 2
    assert inbox.counters.processed == 1


async def test_concurrent_duplicates_in_one_commit_are_detected(store: Store) -> None:
    inbox = Inbox(store, config=config())
    results = await asyncio.gather(*(inbox.admit(make_message("a", 1)) for _ in range(20)))
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.entry_id for r in results}) == 1


async def test_messages_of_one_conversation_run_serially_in_admission_order(
    store: Store,
) -> None:
    active: dict[str, int] = defaultdict(int)
    overlap: list[str] = []
    order: dict[str, list[int]] = defaultdict(list)

    async def handler(message: InboundMessage) -> None:
        active[message.chat_id] += 1
        if active[message.chat_id] > 1:
            overlap.append(message.message_id)
        for _ in range(3):
            await asyncio.sleep(0)
        order[message.chat_id].append(int(message.message_id.split("-")[1]))
        active[message.chat_id] -= 1

    inbox = Inbox(store, handler, config=config(max_concurrency=4))
    async with inbox:
        await asyncio.gather(
            *(inbox.admit(make_message(chat, n)) for n in range(30) for chat in ("a", "b", "c"))
        )
        await run_until_idle(inbox)
    assert overlap == []
    # Admissions of one chat raced each other; the lane follows the journal order.
    ids = await store.fetchall(
        "SELECT message_id FROM inbox_entries WHERE lane LIKE '%:a' ORDER BY id"
    )
    assert [f"a-{n}" for n in order["a"]] == [row["message_id"] for row in ids]
    assert sorted(order["b"]) == list(range(30))


async def test_different_conversations_are_processed_in_parallel(store: Store) -> None:
    a_started = asyncio.Event()
    b_started = asyncio.Event()

    async def handler(message: InboundMessage) -> None:
        mine, other = (a_started, b_started) if message.chat_id == "a" else (b_started, a_started)
        mine.set()
        # Each handler waits for the other to be running at the same time.
        await other.wait()

    inbox = Inbox(store, handler, config=config(max_concurrency=2))
    async with inbox:
        await inbox.admit(make_message("a", 1))
        await inbox.admit(make_message("b", 1))
        await run_until_idle(inbox)
    assert inbox.counters.processed == 2


async def test_concurrency_is_bounded(store: Store) -> None:
    running = 0
    peak = 0
    release = asyncio.Event()

    async def handler(message: InboundMessage) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1

    inbox = Inbox(store, handler, config=config(max_concurrency=3))
    async with inbox:
        for chat in "abcdefg":
            await inbox.admit(make_message(chat, 1))
        for _ in range(20):
            await asyncio.sleep(0)
        release.set()
        await run_until_idle(inbox)
    assert peak == 3


async def test_transient_failure_is_retried_until_success(store: Store) -> None:
    calls: list[str] = []

    async def handler(message: InboundMessage) -> None:
        calls.append(message.message_id)
        if len(calls) < 3:
            raise ConnectionError("zalo unreachable")

    inbox = Inbox(store, handler, config=config())
    async with inbox:
        await inbox.admit(make_message("a", 1))
        await inbox.admit(make_message("a", 2))
        await run_until_idle(inbox)
    # The failing message holds its lane: the second message waits behind it.
    assert calls == ["a-1", "a-1", "a-1", "a-2"]
    assert inbox.counters.retried == 2
    assert inbox.counters.processed == 2
    assert await inbox.dead_letters() == []


@pytest.mark.parametrize(
    "error",
    [
        NonRetryableError("invalid event"),
        DeliveryError("zalo said 403", retryable=False),
    ],
)
async def test_non_retryable_failure_is_dead_lettered_at_once(
    store: Store, error: Exception
) -> None:
    calls = 0

    async def handler(message: InboundMessage) -> None:
        nonlocal calls
        calls += 1
        raise error

    inbox = Inbox(store, handler, config=config())
    async with inbox:
        await inbox.admit(make_message("a", 1))
        await run_until_idle(inbox)
        duplicate = await inbox.admit(make_message("a", 1))
    assert calls == 1
    assert duplicate.duplicate
    [letter] = await inbox.dead_letters()
    assert letter.message_id == "a-1"
    assert letter.attempts == 1
    assert str(error) in letter.error
    assert letter.message == make_message("a", 1)
    assert inbox.counters.dead_lettered == 1


async def test_authentication_status_in_cause_chain_is_not_retried(store: Store) -> None:
    class ApiError(Exception):
        status_code = 401

    async def handler(message: InboundMessage) -> None:
        try:
            raise ApiError("unauthorised")
        except ApiError as exc:
            raise RuntimeError("send failed") from exc

    inbox = Inbox(store, handler, config=config())
    async with inbox:
        await inbox.admit(make_message("a", 1))
        await run_until_idle(inbox)
    assert [d.attempts for d in await inbox.dead_letters()] == [1]


async def test_transient_failure_is_dead_lettered_after_max_attempts(store: Store) -> None:
    async def handler(message: InboundMessage) -> None:
        raise TimeoutError("slow")

    inbox = Inbox(store, handler, config=config(max_attempts=3))
    async with inbox:
        await inbox.admit(make_message("a", 1))
        await run_until_idle(inbox)
    [letter] = await inbox.dead_letters(channel="zalo", account_id="default")
    assert letter.attempts == 3
    assert "TimeoutError" in letter.error
    assert await inbox.dead_letters(channel="zalouser") == []


async def test_unparseable_journal_row_is_dead_lettered(store: Store) -> None:
    await store.execute(
        "INSERT INTO inbox_entries (channel, account_id, message_id, lane, payload,"
        " admitted_at_ms) VALUES ('zalo', 'default', 'x', 'zalo:default:direct:x', '{}', 0)"
    )
    calls = 0

    async def handler(message: InboundMessage) -> None:
        nonlocal calls
        calls += 1

    inbox = Inbox(store, handler, config=config())
    async with inbox:
        await run_until_idle(inbox)
    assert calls == 0
    [letter] = await inbox.dead_letters()
    assert "InvalidPayloadError" in letter.error


async def test_unfinished_messages_are_replayed_in_order_after_restart(tmp_path: Path) -> None:
    blocked = asyncio.Event()

    async def stuck(message: InboundMessage) -> None:
        blocked.set()
        await asyncio.Event().wait()

    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        inbox = Inbox(store, stuck, config=config())
        await inbox.start()
        for n in range(5):
            await inbox.admit(make_message("a", n))
        await inbox.admit(make_message("b", 0))
        await blocked.wait()
        await inbox.stop(timeout=0.01)

    replayed: list[str] = []

    async def handler(message: InboundMessage) -> None:
        replayed.append(message.message_id)

    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        inbox = Inbox(store, handler, config=config())
        async with inbox:
            await run_until_idle(inbox)
        assert inbox.counters.replayed == 6
    assert [m for m in replayed if m.startswith("a")] == [f"a-{n}" for n in range(5)]
    assert "b-0" in replayed


async def test_messages_admitted_before_start_are_processed_once(store: Store) -> None:
    seen: list[str] = []

    async def handler(message: InboundMessage) -> None:
        seen.append(message.message_id)

    inbox = Inbox(store, handler, config=config())
    await inbox.admit(make_message("a", 1))
    await inbox.admit(make_message("a", 2))
    async with inbox:
        await run_until_idle(inbox)
    assert seen == ["a-1", "a-2"]


async def test_stop_waits_for_running_handler(store: Store) -> None:
    finished: list[str] = []
    started = asyncio.Event()

    async def handler(message: InboundMessage) -> None:
        started.set()
        for _ in range(5):
            await asyncio.sleep(0)
        finished.append(message.message_id)

    inbox = Inbox(store, handler, config=config())
    await inbox.start()
    await inbox.admit(make_message("a", 1))
    await started.wait()
    await inbox.stop(timeout=5)
    assert finished == ["a-1"]
    row = await store.fetchone("SELECT state, payload FROM inbox_entries")
    assert row is not None
    assert (row["state"], row["payload"]) == ("done", None)


async def test_handler_sees_its_entry_id_and_can_mark_done_itself(store: Store) -> None:
    contexts: list[EntryContext] = []

    async def handler(message: InboundMessage) -> None:
        context = current_entry.get()
        assert context is not None
        contexts.append(context)
        assert await store.write(lambda conn: Inbox.mark_done(conn, context.entry_id))
        context.done = True

    inbox = Inbox(store, handler, config=config())
    async with inbox:
        admission = await inbox.admit(make_message("a", 1))
        await run_until_idle(inbox)
    assert [c.entry_id for c in contexts] == [admission.entry_id]
    assert contexts[0].fresh
    assert current_entry.get() is None
    row = await store.fetchone("SELECT state FROM inbox_entries")
    assert row is not None
    assert row["state"] == "done"


async def test_tombstones_are_pruned_by_count_and_age(store: Store) -> None:
    now = [1_700_000_000.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731

    async def handler(message: InboundMessage) -> None:
        now[0] += 1

    inbox = Inbox(store, handler, config=config(tombstone_limit=3), clock=clock)
    async with inbox:
        for n in range(5):
            await inbox.admit(make_message("a", n))
        await inbox.admit(make_message("z", 0, account="other"))
        await run_until_idle(inbox)
        assert await inbox.prune() == 2
        # The newest tombstones still reject redeliveries; pruned ones are admitted anew.
        assert (await inbox.admit(make_message("a", 4))).duplicate
        assert not (await inbox.admit(make_message("a", 0))).duplicate
        await run_until_idle(inbox)
        await store.execute(
            "INSERT INTO pipeline_deliveries (channel, account_id, message_id, seq, target,"
            " status, created_at_ms) VALUES ('zalo', 'default', 'a-1', 0, 'a', 'sent', ?)",
            (int(now[0] * 1000),),
        )
        now[0] += 31 * 86_400
        await inbox.prune()
    assert await store.fetchall("SELECT message_id FROM inbox_entries") == []
    assert await store.fetchall("SELECT seq FROM pipeline_deliveries") == []


async def test_pending_count_reports_unfinished_messages(store: Store) -> None:
    inbox = Inbox(store, config=config())
    await inbox.admit(make_message("a", 1))
    await inbox.admit(make_message("b", 1))
    assert inbox.pending == 2
    assert inbox.stats()["admitted"] == 2


async def test_attempt_cut_off_by_stop_is_not_fresh_after_restart_in_process(
    store: Store,
) -> None:
    contexts: list[EntryContext] = []
    hang = True

    async def handler(message: InboundMessage) -> None:
        context = current_entry.get()
        assert context is not None
        contexts.append(context)
        if hang:
            await asyncio.Event().wait()

    inbox = Inbox(store, handler, config=config())
    await inbox.start()
    await inbox.admit(make_message("a", 1))
    while not contexts:
        await asyncio.sleep(0)
    await inbox.stop(timeout=0.01)
    hang = False
    async with inbox:
        await run_until_idle(inbox)
    assert [c.fresh for c in contexts] == [True, False]
    assert inbox.counters.processed == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan=st.lists(
        st.tuples(st.sampled_from("abcd"), st.integers(min_value=0, max_value=2)),
        min_size=1,
        max_size=40,
    ),
    concurrency=st.integers(min_value=1, max_value=4),
)
def test_any_admission_plan_is_processed_once_in_order_per_conversation(
    plan: list[tuple[str, int]], concurrency: int
) -> None:
    """Whatever the mix of conversations and transient failures: once each, in order."""

    async def scenario(state_dir: Path) -> None:
        failures_left: dict[str, int] = {}
        done: dict[str, list[int]] = defaultdict(list)

        async def handler(message: InboundMessage) -> None:
            if failures_left.get(message.message_id, 0) > 0:
                failures_left[message.message_id] -= 1
                raise ConnectionError("transient")
            await asyncio.sleep(0)
            done[message.chat_id].append(int(message.message_id.split("-")[1]))

        async with await Store.open(state_dir, synchronous="OFF") as store:
            inbox = Inbox(store, handler, config=config(max_concurrency=concurrency))
            async with inbox:
                messages = [make_message(chat, n) for n, (chat, _) in enumerate(plan)]
                for message, (_, fails) in zip(messages, plan, strict=True):
                    failures_left[message.message_id] = fails
                await asyncio.gather(*(inbox.admit(m) for m in messages))
                await run_until_idle(inbox)
        for chat in {chat for chat, _ in plan}:
            expected = [n for n, (c, _) in enumerate(plan) if c == chat]
            assert done[chat] == expected

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(scenario(Path(tmp)))


async def test_done_marks_are_committed_by_wait_idle_and_stop(tmp_path: Path) -> None:
    """The lane does not wait for a done mark's commit, but ``wait_idle`` and ``stop`` do."""
    seen: list[str] = []

    async def handler(message: InboundMessage) -> None:
        seen.append(message.message_id)

    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        inbox = Inbox(store, handler, config=config())
        async with inbox:
            for n in range(20):
                await inbox.admit(make_message(f"c{n % 3}", n))
            await run_until_idle(inbox)
            rows = await store.fetchall("SELECT state FROM inbox_entries")
            assert [row["state"] for row in rows] == ["done"] * 20
            for n in range(20, 30):
                await inbox.admit(make_message("c0", n))
            await run_until_idle(inbox)
    async with await Store.open(tmp_path, synchronous="NORMAL") as store:
        replay = Inbox(store, handler, config=config())
        async with replay:
            await run_until_idle(replay)
        assert replay.counters.replayed == 0
    assert len(seen) == 30
