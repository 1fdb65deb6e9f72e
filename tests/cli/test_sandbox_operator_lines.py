"""The sandbox prints what the gateway only logs: why the agent failed, why a group message
got no answer (its log is in a temporary folder that is gone afterwards)."""

from __future__ import annotations

import asyncio

import pytest

from zalogate.sandbox import Sandbox

from .conftest import free_port


async def wait_for(lines: list[str], needle: str) -> str:
    async with asyncio.timeout(10):
        while not any(needle in line for line in lines):
            await asyncio.sleep(0.05)
    return next(line for line in lines if needle in line)


@pytest.mark.usefixtures("clean_env")
async def test_an_unreachable_llm_gets_an_operator_line_with_the_cause() -> None:
    lines: list[str] = []
    agent = {
        "type": "openai",
        "openai": {"baseUrl": f"http://127.0.0.1:{free_port()}/v1", "model": "m"},
    }
    config = {"agent": agent, "channels": {"zalo": {"dmPolicy": "open", "allowFrom": ["*"]}}}
    async with Sandbox(user_config=config, info=lines.append) as sandbox:
        await sandbox.say("xin chào")
        reply = await sandbox.next_reply(timeout=30)
        line = await wait_for(lines, "sandbox: the agent failed")
    assert reply is not None  # the user sees the apology
    assert "127.0.0.1" in line


@pytest.mark.usefixtures("clean_env")
async def test_a_group_message_dropped_by_group_policy_gets_an_operator_line() -> None:
    lines: list[str] = []
    config = {"channels": {"zalo": {"groupPolicy": "disabled"}}}
    async with Sandbox(user_config=config, info=lines.append) as sandbox:
        await sandbox.say_in_group("xin chào cả nhóm", mention=True)
        line = await wait_for(lines, "dropped the group message")
    assert "group_policy_disabled" in line
