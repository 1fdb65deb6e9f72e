"""Human takeover: a durable pause per conversation that the pipeline honours (messages are
recorded, not answered), the operator's replies in the transcript, the agent's replies in the
recent lines, unauthorised senders never recorded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.core.access import AccountPolicy
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
