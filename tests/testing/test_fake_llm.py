"""The fake OpenAI-compatible server speaks Chat Completions well enough for the real SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import openai
import pytest
from openai import AsyncOpenAI

from zalogate.testing import FakeLLMServer


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def client(llm: FakeLLMServer) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(
        base_url=llm.base_url, api_key="test-key", max_retries=0, timeout=5
    ) as c:
        yield c


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


async def test_scripted_text_reply_is_returned_and_request_recorded(
    llm: FakeLLMServer, client: AsyncOpenAI
) -> None:
    llm.reply("Xin chào!")
    result = await client.chat.completions.create(model="m1", messages=user("hi"))  # type: ignore[arg-type]
    assert result.choices[0].message.content == "Xin chào!"
    [request] = llm.completions
    assert request.json["model"] == "m1"
    assert request.json["messages"] == user("hi")
    assert request.headers["authorization"] == "Bearer test-key"


async def test_default_responder_answers_with_last_user_text(
    llm: FakeLLMServer, client: AsyncOpenAI
) -> None:
    result = await client.chat.completions.create(model="m", messages=user("ping 42"))  # type: ignore[arg-type]
    assert result.choices[0].message.content == "ping 42"


async def test_custom_responder_sees_the_request(llm: FakeLLMServer, client: AsyncOpenAI) -> None:
    llm.responder = lambda body: f"{len(body['messages'])} messages"
    result = await client.chat.completions.create(model="m", messages=user("x"))  # type: ignore[arg-type]
    assert result.choices[0].message.content == "1 messages"


async def test_tool_call_reply(llm: FakeLLMServer, client: AsyncOpenAI) -> None:
    llm.reply_tool_call("lookup", {"q": "weather"}, call_id="call_1")
    result = await client.chat.completions.create(model="m", messages=user("x"))  # type: ignore[arg-type]
    choice = result.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.id == "call_1"
    assert call.function.name == "lookup"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"q": "weather"}  # type: ignore[union-attr]


async def test_streaming_reply_reassembles(llm: FakeLLMServer, client: AsyncOpenAI) -> None:
    text = "a fairly long answer that spans several streamed chunks"
    llm.reply(text)
    stream = await client.chat.completions.create(
        model="m",
        messages=user("x"),  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces: list[str] = []
    usage_seen = False
    async for chunk in stream:
        if chunk.usage is not None:
            usage_seen = True
        for choice in chunk.choices:
            pieces.append(choice.delta.content or "")
    assert "".join(pieces) == text
    assert usage_seen


async def test_streaming_tool_call(llm: FakeLLMServer, client: AsyncOpenAI) -> None:
    llm.reply_tool_call("lookup", {"q": 1})
    stream = await client.chat.completions.create(model="m", messages=user("x"), stream=True)  # type: ignore[arg-type]
    names = [
        call.function.name
        async for chunk in stream
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
        if call.function is not None
    ]
    assert names == ["lookup"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, openai.InternalServerError),
        (429, openai.RateLimitError),
        (401, openai.AuthenticationError),
    ],
)
async def test_injected_http_errors(
    llm: FakeLLMServer, client: AsyncOpenAI, status: int, error: type[Exception]
) -> None:
    llm.fail(status)
    with pytest.raises(error):
        await client.chat.completions.create(model="m", messages=user("x"))  # type: ignore[arg-type]
    # The fault is used once; the next request is answered.
    result = await client.chat.completions.create(model="m", messages=user("ok"))  # type: ignore[arg-type]
    assert result.choices[0].message.content == "ok"


async def test_hang_makes_the_client_time_out(llm: FakeLLMServer) -> None:
    llm.hang()
    async with AsyncOpenAI(base_url=llm.base_url, api_key="k", max_retries=0, timeout=0.3) as c:
        with pytest.raises(openai.APITimeoutError):
            await c.chat.completions.create(model="m", messages=user("x"))  # type: ignore[arg-type]


async def test_dropped_connection_is_a_connection_error(
    llm: FakeLLMServer, client: AsyncOpenAI
) -> None:
    llm.drop()
    with pytest.raises(openai.APIConnectionError):
        await client.chat.completions.create(model="m", messages=user("x"))  # type: ignore[arg-type]


async def test_delayed_answers_are_served_concurrently(llm: FakeLLMServer) -> None:
    llm.delay = 0.3
    async with AsyncOpenAI(base_url=llm.base_url, api_key="k", max_retries=0, timeout=30) as c:
        results = await asyncio.gather(
            *(
                c.chat.completions.create(model="m", messages=user(str(i)))  # type: ignore[arg-type]
                for i in range(30)
            )
        )
    assert sorted(int(r.choices[0].message.content or "") for r in results) == list(range(30))
    assert llm.peak_active == 30


async def test_models_endpoint_lists_the_model(llm: FakeLLMServer, client: AsyncOpenAI) -> None:
    models = await client.models.list()
    assert [m.id for m in models.data] == ["fake-model"]


def test_server_can_be_used_without_an_event_loop() -> None:
    with FakeLLMServer() as llm:
        assert llm.base_url.startswith("http://127.0.0.1:")
    assert llm.port != 0
