"""The OpenAI-compatible agent against the fake Chat Completions server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from zalogate.agents import (
    AgentAuthError,
    AgentError,
    FunctionTool,
    OpenAIAgent,
    OpenAIAgentOptions,
    create_agent,
)
from zalogate.agents.base import Turn
from zalogate.core.errors import is_retryable
from zalogate.store import Store
from zalogate.testing import FakeLLMServer

TurnFactory = Callable[..., Turn]


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def make_agent(llm: FakeLLMServer, store: Store | None = None, **options: Any) -> OpenAIAgent:
    values: dict[str, Any] = {
        "base_url": llm.base_url,
        "api_key": "sk-test-secret",
        "model": "test-model",
        "max_retries": 0,
        "timeout_seconds": 5,
    }
    values.update(options)
    return OpenAIAgent(OpenAIAgentOptions(**values), store=store)


async def answer(agent: OpenAIAgent, turn: Turn) -> list[str]:
    return [r.text async for r in agent.respond(turn)]


async def test_reply_uses_model_system_prompt_and_body(
    llm: FakeLLMServer, make_turn: TurnFactory
) -> None:
    llm.reply("Chào bạn!")
    agent = make_agent(llm, system_prompt="Be brief.", temperature=0.2)
    assert await answer(agent, make_turn("hi", body="[history]\nhi")) == ["Chào bạn!"]
    [request] = llm.completions
    assert request.json["model"] == "test-model"
    assert request.json["temperature"] == 0.2
    assert request.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "[history]\nhi"},
    ]
    assert "tools" not in request.json
    await agent.aclose()


async def test_transcript_is_kept_per_session_within_the_window(
    llm: FakeLLMServer, store: Store, make_turn: TurnFactory
) -> None:
    agent = make_agent(llm, store, history_window=2)
    await answer(agent, make_turn("one"))
    await answer(agent, make_turn("two"))
    await answer(agent, make_turn("other", session="agent:main:zalo:direct:u2"))
    await answer(agent, make_turn("three"))
    last = llm.completions[-1].json["messages"]
    assert last == [
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": "three"},
    ]
    other = llm.completions[2].json["messages"]
    assert other == [{"role": "user", "content": "other"}]
    await agent.aclose()


async def test_tool_calls_are_run_and_fed_back(llm: FakeLLMServer, make_turn: TurnFactory) -> None:
    calls: list[dict[str, Any]] = []

    async def lookup(args: dict[str, Any]) -> dict[str, Any]:
        calls.append(args)
        return {"temperature": 31}

    tool = FunctionTool(
        name="weather",
        description="Weather in a city",
        parameters={"type": "object", "properties": {"city": {"type": "string"}}},
        function=lookup,
    )
    llm.reply_tool_call("weather", {"city": "Hà Nội"}, call_id="call_w")
    llm.reply("31 độ")
    agent = make_agent(llm)
    assert await answer(agent, make_turn("weather?", tools=(tool,))) == ["31 độ"]
    assert calls == [{"city": "Hà Nội"}]
    first, second = (r.json for r in llm.completions)
    assert first["tools"][0]["function"]["name"] == "weather"
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool"
    assert tool_message["tool_call_id"] == "call_w"
    assert json.loads(tool_message["content"]) == {"temperature": 31}
    await agent.aclose()


async def test_tool_rounds_are_capped_and_last_round_offers_no_tools(
    llm: FakeLLMServer, make_turn: TurnFactory
) -> None:
    async def noop(args: dict[str, Any]) -> dict[str, Any]:
        return {}

    tool = FunctionTool("noop", "does nothing", {"type": "object"}, noop)
    for _ in range(5):
        llm.reply_tool_call("noop", {})
    llm.responder = lambda body: "final"
    agent = make_agent(llm, max_tool_rounds=2)
    replies = await answer(agent, make_turn("x", tools=(tool,)))
    requests = llm.completions
    assert len(requests) == 3
    assert "tools" not in requests[-1].json
    # The third scripted tool call came back without tools offered: it is not run.
    assert replies == []
    await agent.aclose()


async def test_unknown_tool_gets_an_error_result(
    llm: FakeLLMServer, make_turn: TurnFactory
) -> None:
    async def noop(args: dict[str, Any]) -> dict[str, Any]:
        return {}

    llm.reply_tool_call("missing", {})
    llm.reply("ok")
    agent = make_agent(llm)
    tool = FunctionTool("noop", "does nothing", {"type": "object"}, noop)
    assert await answer(agent, make_turn("x", tools=(tool,))) == ["ok"]
    result = json.loads(llm.completions[1].json["messages"][-1]["content"])
    assert "unknown tool" in result["error"]
    await agent.aclose()


async def test_endpoint_failure_gives_an_apology_and_keeps_secrets_out_of_logs(
    llm: FakeLLMServer, caplog: pytest.LogCaptureFixture, make_turn: TurnFactory
) -> None:
    llm.fail(500)
    agent = make_agent(llm, apology_text="Xin lỗi!")
    assert await answer(agent, make_turn()) == ["Xin lỗi!"]
    assert "HTTP 500" in caplog.text
    assert "sk-test-secret" not in caplog.text
    await agent.aclose()


async def test_hanging_endpoint_times_out_into_an_apology(
    llm: FakeLLMServer, make_turn: TurnFactory
) -> None:
    llm.hang()
    agent = make_agent(llm, timeout_seconds=0.3, apology_text="later")
    assert await answer(agent, make_turn()) == ["later"]
    await agent.aclose()


async def test_raise_mode_lets_the_inbox_retry(llm: FakeLLMServer, make_turn: TurnFactory) -> None:
    llm.fail(503)
    agent = make_agent(llm, on_error="raise")
    with pytest.raises(AgentError) as caught:
        await answer(agent, make_turn())
    assert is_retryable(caught.value)
    await agent.aclose()


async def test_rejected_credentials_are_not_retried(
    llm: FakeLLMServer, make_turn: TurnFactory
) -> None:
    llm.fail(401)
    agent = make_agent(llm, on_error="raise")
    with pytest.raises(AgentAuthError) as caught:
        await answer(agent, make_turn())
    assert not is_retryable(caught.value)
    assert "sk-test-secret" not in str(caught.value)
    await agent.aclose()


async def test_options_repr_hides_the_api_key() -> None:
    assert "sk-hidden" not in repr(OpenAIAgentOptions(api_key="sk-hidden"))


async def test_create_agent_reads_the_config_section(llm: FakeLLMServer, store: Store) -> None:
    config = {
        "agent": {
            "type": "openai",
            "openai": {"base_url": llm.base_url, "model": "m2", "history_window": 0},
        }
    }
    agent = create_agent(config, store)
    assert isinstance(agent, OpenAIAgent)
    assert agent.options.model == "m2"
    assert agent.options.history_window == 0
    await agent.aclose()


def test_create_agent_defaults_to_echo_and_rejects_unknown_types() -> None:
    from zalogate.agents import CommandAgent, EchoAgent

    assert isinstance(create_agent(object()), EchoAgent)
    command = create_agent({"agent": {"type": "command", "command": {"argv": ["prog"]}}})
    assert isinstance(command, CommandAgent)
    with pytest.raises(ValueError, match="unknown agent type"):
        create_agent({"agent": {"type": "magic"}})


PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


async def test_the_sdk_runs_on_the_lean_pool_unless_a_proxy_is_set(
    llm: FakeLLMServer, make_turn: TurnFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from zalogate.net.transport import LeanTransport

    for name in PROXY_VARS:
        monkeypatch.delenv(name, raising=False)
    agent = make_agent(llm)
    llm.reply("over the lean pool")
    assert [r.text async for r in agent.respond(make_turn())] == ["over the lean pool"]
    assert isinstance(agent._client._client._transport, LeanTransport)
    await agent.aclose()
    # The lean pool speaks no proxy: with one in the environment the SDK's own client is
    # kept (and honours it).
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    proxied = make_agent(llm)
    assert not isinstance(proxied._client._client._transport, LeanTransport)
    await proxied.aclose()
