"""The default wiring offers each message's channel tools (the ``Tools`` capability) to the
agent, bound to that message's conversation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.channels.zalo.tools import zalo_tools
from zalogate.core.agent import AgentTool, Turn
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    ProbeResult,
    ToolContext,
    Tools,
)
from zalogate.core.model import ChatType, DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.runtime.gateway import Gateway

OPEN = {"dmPolicy": "open", "allowFrom": ["*"], "groupPolicy": "open"}


class ToolChannel:
    """A ``zalo``-like channel: admits one group message, offers ``zalo_send``."""

    id = "zalo"
    text_limit = 2000

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self.sent: list[tuple[str, str]] = []
        self.contexts: list[ToolContext | None] = []

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ChannelAccount("zalo", "a", True, OPEN)]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await self.context.inbox.admit(
            InboundMessage(
                channel="zalo",
                account_id="a",
                chat_type=ChatType.GROUP,
                chat_id="g1",
                sender_id="u1",
                message_id="m1",
                timestamp_ms=1_700_000_000_000,
                text="@bot hello",
                mentions={"was_mentioned": True, "has_any_mention": True},
            )
        )
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.sent.append((target, reply.text))
        return DeliveryReceipt(message_ids=(f"out-{len(self.sent)}",))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        self.contexts.append(context)
        return zalo_tools(self, account, context)


class ToolUsingAgent:
    """Calls the first tool it is offered, then answers with the tool's result."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, ...]] = []

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.seen.append(tuple(t.name for t in turn.tools))
        if turn.tools:
            result = await turn.tools[0].call({"message": "from the tool"})
            yield ReplyPayload(text=f"tool said ok={result.get('ok')}")


async def wait_for(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


@pytest.mark.timeout(20)
async def test_channel_tools_reach_the_agent_bound_to_the_conversation(tmp_path: Path) -> None:
    channels: list[ToolChannel] = []

    def create(context: ChannelContext) -> Channel:
        channels.append(ToolChannel(context))
        return channels[0]

    agent = ToolUsingAgent()
    gateway = Gateway(
        SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0)),
        state_dir=tmp_path / "state",
        channels=[ChannelPlugin(id="zalo", label="Zalo", create=create)],
        agent=agent,
        backoff=BackoffConfig(min_delay=0.001, max_delay=0.01, jitter=0.0),
        startup_grace=0.01,
        configure_logs=False,
    )
    async with gateway:
        await wait_for(lambda: bool(channels) and len(channels[0].sent) >= 2)
    channel = channels[0]
    assert isinstance(channel, Tools)
    assert agent.seen == [("zalo_send",)]
    assert channel.contexts == [ToolContext("zalo", "a", "g1", ChatType.GROUP, "u1", "m1")]
    assert channel.sent == [("group:g1", "from the tool"), ("group:g1", "tool said ok=True")]


@pytest.mark.timeout(20)
async def test_channel_without_tools_gives_the_agent_none(tmp_path: Path) -> None:
    class PlainChannel(ToolChannel):
        agent_tools = None  # type: ignore[assignment]

    channels: list[ToolChannel] = []

    def create(context: ChannelContext) -> Channel:
        channels.append(PlainChannel(context))
        return channels[0]

    agent = ToolUsingAgent()
    gateway = Gateway(
        SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0)),
        state_dir=tmp_path / "state",
        channels=[ChannelPlugin(id="zalo", label="Zalo", create=create)],
        agent=agent,
        startup_grace=0.01,
        configure_logs=False,
    )
    async with gateway:
        await wait_for(lambda: bool(agent.seen))
    assert agent.seen == [()]


@pytest.mark.timeout(20)
async def test_failing_tool_provider_does_not_block_the_reply(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class BrokenToolsChannel(ToolChannel):
        def agent_tools(
            self, account: ChannelAccount, context: ToolContext | None
        ) -> Sequence[AgentTool]:
            raise RuntimeError("tool listing broke")

    class Answering(ToolUsingAgent):
        async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
            self.seen.append(tuple(t.name for t in turn.tools))
            yield ReplyPayload(text="still here")

    channels: list[ToolChannel] = []

    def create(context: ChannelContext) -> Channel:
        channels.append(BrokenToolsChannel(context))
        return channels[0]

    agent = Answering()
    gateway = Gateway(
        SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0)),
        state_dir=tmp_path / "state",
        channels=[ChannelPlugin(id="zalo", label="Zalo", create=create)],
        agent=agent,
        startup_grace=0.01,
        configure_logs=False,
    )
    async with gateway:
        await wait_for(lambda: bool(channels) and bool(channels[0].sent))
    assert agent.seen == [()]
    assert channels[0].sent == [("group:g1", "still here")]
    assert "failed to list its agent tools" in caplog.text
