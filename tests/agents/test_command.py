"""The command agent: JSON turn on stdin, replies on stdout, timeouts kill the program."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from zalogate.agents import AgentError, CommandAgent, CommandAgentOptions
from zalogate.agents.base import Turn
from zalogate.agents.command import parse_command_output

JSON_REPLIER = """
import json, sys
turn = json.load(sys.stdin)
print(json.dumps({"replies": [
    {"text": "you said " + turn["text"], "mediaUrls": ["https://example.test/a.png"]},
    {"text": turn["sessionKey"]},
]}))
"""

TurnFactory = Callable[..., Turn]


def python(code: str, **options: object) -> CommandAgent:
    return CommandAgent(CommandAgentOptions(argv=(sys.executable, "-c", code), **options))  # type: ignore[arg-type]


async def test_json_replies_carry_text_and_media(make_turn: TurnFactory) -> None:
    replies = [r async for r in python(JSON_REPLIER).respond(make_turn("hi"))]
    assert [r.text for r in replies] == ["you said hi", "agent:main:main"]
    assert replies[0].media_urls == ("https://example.test/a.png",)


async def test_plain_text_output_is_one_reply(make_turn: TurnFactory) -> None:
    agent = python("import sys; sys.stdin.read(); print('line one'); print('line two')")
    replies = [r async for r in agent.respond(make_turn())]
    assert [r.text for r in replies] == ["line one\nline two"]


async def test_empty_output_means_no_reply(make_turn: TurnFactory) -> None:
    assert [r async for r in python("pass").respond(make_turn())] == []


async def test_configured_env_reaches_the_program(make_turn: TurnFactory) -> None:
    agent = python("import os; print(os.environ['GREETING'])", env={"GREETING": "chào"})
    assert [r.text async for r in agent.respond(make_turn())] == ["chào"]


async def test_failing_program_raises_agent_error(make_turn: TurnFactory) -> None:
    agent = python("import sys; sys.stderr.write('boom'); sys.exit(3)")
    with pytest.raises(AgentError, match="status 3"):
        [r async for r in agent.respond(make_turn())]


async def test_slow_program_is_killed_at_the_timeout(make_turn: TurnFactory) -> None:
    agent = python("import time; time.sleep(30)", timeout_seconds=0.2)
    with pytest.raises(AgentError, match="timed out"):
        [r async for r in agent.respond(make_turn())]


async def test_missing_program_raises_agent_error(make_turn: TurnFactory) -> None:
    agent = CommandAgent(CommandAgentOptions(argv=("/nonexistent/zalogate-agent",)))
    with pytest.raises(AgentError, match="could not start"):
        [r async for r in agent.respond(make_turn())]


def test_string_replies_and_single_media_url_are_accepted() -> None:
    replies = parse_command_output(
        '{"replies": ["plain", {"mediaUrl": "https://x.test/1.jpg", "text": ""}]}'
    )
    assert [(r.text, r.media_urls) for r in replies] == [
        ("plain", ()),
        ("", ("https://x.test/1.jpg",)),
    ]


def test_json_without_replies_key_is_plain_text() -> None:
    assert [r.text for r in parse_command_output('{"answer": 1}')] == ['{"answer": 1}']
