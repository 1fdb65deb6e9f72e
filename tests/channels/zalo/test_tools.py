"""``zalo_send``: defaults from the conversation, target rules, chunks, failures, and the
openai agent calling it through the fake LLM against the fake Bot API."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from zalogate.agents import create_agent
from zalogate.agents.openai import OpenAIAgent
from zalogate.channels.zalo.channel import create_channel
from zalogate.channels.zalo.tools import ZALO_SEND, zalo_tools
from zalogate.config import parse_config
from zalogate.core.channel import Channel, ChannelAccount, ChannelPlugin, ProbeResult, ToolContext
from zalogate.core.errors import DeliveryError
from zalogate.core.model import ChatType, DeliveryReceipt, ReplyPayload
from zalogate.runtime.gateway import Gateway
from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.fake_llm import FakeLLMServer

from .conftest import fast_options

ACCOUNT = ChannelAccount("zalo", "default", True, {})
DM = ToolContext("zalo", "default", "u1", ChatType.DIRECT, "u1", "m1")
GROUP = ToolContext("zalo", "default", "g7", ChatType.GROUP, "u1", "m2")


class RecordingChannel(Channel):
    """A channel that records sends; scripted receipts or errors answer them."""

    id = "zalo"
    text_limit = 10

    def __init__(self) -> None:
        self.sent: list[tuple[str, ReplyPayload]] = []
        self.answers: list[DeliveryReceipt | Exception] = []

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ACCOUNT]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.sent.append((target, reply))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return DeliveryReceipt(message_ids=(f"out-{len(self.sent)}",))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)


@pytest.fixture
def channel() -> RecordingChannel:
    return RecordingChannel()


async def send(channel: Channel, args: dict[str, Any], context: ToolContext | None = DM) -> Any:
    [tool] = zalo_tools(channel, ACCOUNT, context)
    return await tool.call(args)


async def test_target_defaults_to_the_current_direct_chat(channel: RecordingChannel) -> None:
    result = await send(channel, {"message": "hi"})
    assert result == {"ok": True, "to": "u1", "messageId": "out-1", "messageIds": ["out-1"]}
    assert channel.sent == [("u1", ReplyPayload(text="hi"))]


async def test_target_defaults_to_the_current_group(channel: RecordingChannel) -> None:
    await send(channel, {"message": "hi"}, GROUP)
    assert channel.sent[0][0] == "group:g7"


async def test_explicit_target_is_normalised_and_wins(channel: RecordingChannel) -> None:
    result = await send(channel, {"target": "zl:group:55", "message": "hi"}, GROUP)
    assert result["to"] == "group:55"
    assert channel.sent[0][0] == "group:55"


async def test_without_a_conversation_the_target_is_required(channel: RecordingChannel) -> None:
    result = await send(channel, {"message": "hi"}, None)
    assert result["error"].startswith("No chat_id provided")
    assert channel.sent == []


async def test_target_of_another_channel_is_refused(channel: RecordingChannel) -> None:
    result = await send(channel, {"target": "zalouser:123", "message": "hi"})
    assert result["ok"] is False
    assert "does not match channel 'zalo'" in result["error"]
    assert channel.sent == []


async def test_media_url_goes_with_the_first_chunk_of_a_long_message(
    channel: RecordingChannel,
) -> None:
    text = "abcdefghij" * 2 + "xyz"
    result = await send(channel, {"message": text, "mediaUrl": " https://x.test/a.png "})
    assert result["messageIds"] == ["out-1", "out-2", "out-3"]
    assert [r.text for _, r in channel.sent] == ["abcdefghij", "abcdefghij", "xyz"]
    assert [r.media_urls for _, r in channel.sent] == [("https://x.test/a.png",), (), ()]


async def test_image_without_text_is_sent_alone(channel: RecordingChannel) -> None:
    await send(channel, {"mediaUrl": "https://x.test/a.png"})
    assert channel.sent == [("u1", ReplyPayload(media_urls=("https://x.test/a.png",)))]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"mediaUrl": "  "}, "No photo URL provided"),
        ({"message": "  "}, "message or mediaUrl required"),
        ({}, "message or mediaUrl required"),
        ({"message": "hi", "media": "x"}, "unknown parameter 'media'"),
    ],
)
async def test_nothing_to_send_is_an_error(
    channel: RecordingChannel, args: dict[str, Any], error: str
) -> None:
    result = await send(channel, args)
    assert result["error"].startswith(error)
    assert channel.sent == []


async def test_blank_media_url_with_text_sends_the_text(channel: RecordingChannel) -> None:
    await send(channel, {"message": "hi", "mediaUrl": ""})
    assert channel.sent == [("u1", ReplyPayload(text="hi"))]


async def test_failed_chunk_reports_what_went_out(channel: RecordingChannel) -> None:
    channel.answers = [
        DeliveryReceipt(message_ids=("a",)),
        DeliveryError("Zalo API error 500", retryable=True),
    ]
    result = await send(channel, {"message": "x" * 25})
    assert result == {
        "ok": False,
        "partial": True,
        "messageIds": ["a"],
        "error": "Zalo API error 500",
    }
    assert len(channel.sent) == 2  # the third chunk was not tried


async def test_failed_receipt_is_an_error(channel: RecordingChannel) -> None:
    channel.answers = [DeliveryReceipt(error="blocked")]
    assert await send(channel, {"message": "hi"}) == {"ok": False, "error": "blocked"}


async def test_unexpected_exception_is_an_error_result(channel: RecordingChannel) -> None:
    channel.answers = [ConnectionError("refused")]
    assert await send(channel, {"message": "hi"}) == {"error": "ConnectionError: refused"}


def test_disabled_account_offers_no_tool(channel: RecordingChannel) -> None:
    disabled = ChannelAccount("zalo", "off", False, {})
    assert zalo_tools(channel, disabled, None) == []


def test_schema_names_the_three_arguments() -> None:
    schema = ZALO_SEND.schema()
    assert set(schema["properties"]) == {"target", "message", "mediaUrl"}
    assert "required" not in schema
    assert schema["additionalProperties"] is False


@pytest.mark.timeout(30)
async def test_gateway_openai_agent_sends_through_zalo_send(tmp_path: Path) -> None:
    """Fake user -> real zalo channel (polling) -> gateway -> openai agent (fake LLM) calls
    ``zalo_send`` -> the fake Bot API records the tool's message, then the agent's answer."""
    async with FakeZaloBotApi() as fake, FakeLLMServer() as llm:
        llm.reply_tool_call("zalo_send", {"message": "Đã gửi"}, call_id="call_1")
        llm.reply("I told them.")
        config = parse_config(
            {
                "agent": {
                    "type": "openai",
                    "openai": {"baseUrl": llm.base_url, "apiKey": "sk-test", "model": "m"},
                },
                "channels": {
                    "zalo": {
                        "botToken": fake.token,
                        "apiBaseUrl": fake.base_url,
                        "dmPolicy": "open",
                        "allowFrom": ["*"],
                    }
                },
            },
            env={},
        )
        plugin = ChannelPlugin(
            id="zalo", label="Zalo", create=lambda ctx: create_channel(ctx, fast_options())
        )
        # The gateway does not close an agent it was given; this test closes its client.
        agent = create_agent(config)
        assert isinstance(agent, OpenAIAgent)
        gateway = Gateway(
            config,
            state_dir=tmp_path / "state",
            channels=[plugin],
            agent=agent,
            http_port=0,
            startup_grace=0.01,
            configure_logs=False,
        )
        try:
            async with gateway:
                fake.user("u1", name="An").says("tell me when it is sent")
                sent = await fake.wait_for_sent(count=2, chat_id="u1", timeout=15)
        finally:
            await agent.aclose()
        first, second = llm.completions
    assert [s.text for s in sent] == ["Đã gửi", "I told them."]
    assert first.json["tools"][0]["function"]["name"] == "zalo_send"
    assert first.json["tools"][0]["function"]["parameters"] == ZALO_SEND.schema()
    tool_message = second.json["messages"][-1]
    assert tool_message["tool_call_id"] == "call_1"
    assert json.loads(tool_message["content"]) == {
        "ok": True,
        "to": "u1",
        "messageId": sent[0].message_id,
        "messageIds": [sent[0].message_id],
    }
