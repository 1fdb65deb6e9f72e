"""Human takeover: a durable pause per conversation that the pipeline honours (messages are
recorded, not answered), the operator's replies in the transcript, the agent's replies in the
recent lines, unauthorised senders never recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.core.access import AccountPolicy
from zalogate.core.conversation_journal import ConversationJournal
from zalogate.core.takeover import ConversationKey, SqliteTakeoverState, Takeover
from zalogate.runtime.metrics import GatewayMetrics
from zalogate.runtime.status import StatusBoard
from zalogate.store import Store

from .test_pipeline import MemoryChannel, ScriptedAgent, dm, make_pipeline

KEY = ConversationKey("zalo", "default", "u1")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path, synchronous="NORMAL") as opened:
        yield opened


async def test_a_paused_conversation_is_recorded_not_answered(store: Store) -> None:
    channel, agent = MemoryChannel(), ScriptedAgent()
    takeover = Takeover(SqliteTakeoverState(store))
    watched = GatewayMetrics(StatusBoard()).timed_agent(agent, on_reply=takeover.agent_said)
    pipeline = make_pipeline(store, channel, watched, paused=takeover.paused)
    await pipeline.handle(dm(1))
    assert channel.texts == ["hello 1"]

    await takeover.pause(KEY)
    outcome = await pipeline.handle(dm(2))
    assert (outcome.action, outcome.reason) == ("skipped", "taken_over")
    assert channel.texts == ["hello 1"]
    assert len(agent.turns) == 1
    other = await pipeline.handle(dm(3, sender="u2"))  # another conversation is unaffected
    assert other.action == "replied"

    await takeover.record_reply(KEY, "a human here", "operator")
    lines = [(line.direction, line.author, line.text) for line in await takeover.transcript(KEY)]
    assert lines == [
        ("in", "An", "hello 1"),
        ("out", "agent", "hello 1"),
        ("in", "An", "hello 2"),
        ("out", "operator", "a human here"),
    ]
    assert await takeover.resume(KEY)
    assert (await pipeline.handle(dm(4))).action == "replied"


async def test_the_pause_survives_a_restart_and_only_recorded_lines_remain(
    tmp_path: Path,
) -> None:
    async with await Store.open(tmp_path) as store:
        takeover = Takeover(SqliteTakeoverState(store))
        await takeover.pause(KEY)
        assert await takeover.paused(dm(1))
    async with await Store.open(tmp_path) as store:
        again = Takeover(SqliteTakeoverState(store))
        assert await again.is_paused(KEY)
        assert [c.key for c in await again.conversations()] == [KEY]
        assert [line.text for line in await again.transcript(KEY)] == ["hello 1"]


async def test_a_dropped_sender_is_neither_answered_nor_recorded(store: Store) -> None:
    channel, agent = MemoryChannel(), ScriptedAgent()
    takeover = Takeover(SqliteTakeoverState(store))
    closed = AccountPolicy(channel="zalo", dm_policy="allowlist", allow_from=frozenset({"u9"}))
    pipeline = make_pipeline(store, channel, agent, closed, paused=takeover.paused)
    assert (await pipeline.handle(dm(1))).action == "dropped"
    assert await takeover.conversations() == []


async def test_every_transcript_is_kept_across_a_restart_then_pruned(tmp_path: Path) -> None:
    now = [1_700_000_000.0]

    def takeover_on(store: Store, **options: float) -> Takeover:
        journal = ConversationJournal(store, clock=lambda: now[0], keep_days=2, **options)
        return Takeover(SqliteTakeoverState(store), journal=journal, clock=lambda: now[0])

    async with await Store.open(tmp_path) as store:
        channel, agent = MemoryChannel(), ScriptedAgent()
        takeover = takeover_on(store, flush_interval=0.01)
        assert takeover.journal is not None
        takeover.journal.start()
        watched = GatewayMetrics(StatusBoard()).timed_agent(agent, on_reply=takeover.agent_said)
        pipeline = make_pipeline(store, channel, watched, paused=takeover.paused)
        await pipeline.handle(dm(1))
        now[0] += 1
        await pipeline.handle(dm(2, sender="u2"))
        await takeover.journal.aclose()  # never taken over: written in a batch, not per message
    async with await Store.open(tmp_path) as store:
        again = takeover_on(store)
        listed = await again.conversations()
        assert [(c.key.chat_id, c.title, c.paused) for c in listed] == [
            ("u2", "An", False),
            ("u1", "An", False),
        ]
        lines = [(line.direction, line.text) for line in await again.transcript(KEY)]
        assert lines == [("in", "hello 1"), ("out", "hello 1")]
        assert again.title(KEY) == "An"
        now[0] += 2 * 86_400 - 0.5  # u1's lines are older than 2 days, u2's are not yet
        assert again.journal is not None
        assert await again.journal.prune() == 2
        assert [c.key.chat_id for c in await again.conversations()] == ["u2"]


async def test_lines_of_one_millisecond_keep_their_order(store: Store) -> None:
    """A paused message and the operator's answer stamped in the same millisecond stay in the
    order they were said (the transcript used to sort a set)."""
    journal = ConversationJournal(store)
    takeover = Takeover(SqliteTakeoverState(store), journal=journal, clock=lambda: 1_700_000_000.0)
    await takeover.pause(KEY)
    for n in range(1, 6):
        assert await takeover.paused(dm(n))
        await takeover.record_reply(KEY, f"answer {n}", "operator")
    expected = [text for n in range(1, 6) for text in (f"hello {n}", f"answer {n}")]
    assert [line.text for line in await takeover.transcript(KEY)] == expected
