"""The echo agent answers with exactly the inbound text."""

from __future__ import annotations

from collections.abc import Callable

from zalogate.agents import Agent, EchoAgent
from zalogate.agents.base import Turn

TurnFactory = Callable[..., Turn]


async def test_echo_replies_with_the_inbound_text(make_turn: TurnFactory) -> None:
    agent = EchoAgent()
    replies = [r async for r in agent.respond(make_turn("Xin chào 👋"))]
    assert [r.text for r in replies] == ["Xin chào 👋"]
    assert isinstance(agent, Agent)


async def test_echo_is_silent_for_messages_without_text(make_turn: TurnFactory) -> None:
    assert [r async for r in EchoAgent().respond(make_turn(""))] == []
