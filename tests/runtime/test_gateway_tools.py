"""The default wiring: each message's channel tools (the ``agent_tools`` hook) reach the agent,
bound to that message's conversation; ``messages.*`` settings reach the policy."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.channels.zalo.tools import zalo_tools
from zalogate.config import parse_config
from zalogate.core.agent import AgentTool, Turn
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    ProbeResult,
    ToolContext,
)
from zalogate.core.model import ChatType, DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.runtime.gateway import Gateway

OPEN = {"dmPolicy": "open", "allowFrom": ["*"], "groupPolicy": "open"}


def group_message(n: int, text: str, *, mentioned: bool = True) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="a",
        chat_type=ChatType.GROUP,
        chat_id="g1",
        sender_id="u1",
        sender_name="An",
        message_id=f"m{n}",
        timestamp_ms=1_700_000_000_000 + n,
        text=text,
        mentions={"was_mentioned": mentioned, "has_any_mention": mentioned},
    )


class ToolChannel(Channel):
    """A ``zalo``-like channel: admits its ``script`` of group messages, offers ``zalo_send``."""

    id = "zalo"
    text_limit = 2000
    settings: ClassVar[dict[str, Any]] = OPEN
    script: ClassVar[tuple[InboundMessage, ...]] = (group_message(1, "@bot hello"),)

    def __init__(self, context: ChannelContext) -> None:
        self.context = context
        self.sent: list[tuple[str, str]] = []
        self.contexts: list[ToolContext | None] = []

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ChannelAccount("zalo", "a", True, self.settings)]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        for inbound in self.script:
            await self.context.inbox.admit(inbound)
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


class Answering(ToolUsingAgent):
    """Answers every turn with ``still here``, recording the tools and the prompt body."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: list[str] = []

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.seen.append(tuple(t.name for t in turn.tools))
        self.bodies.append(turn.body)
        yield ReplyPayload(text="still here")


def tool_gateway(
    tmp_path: Path,
    channel_type: type[ToolChannel],
    agent: ToolUsingAgent,
    config: Any = None,
    **options: Any,
) -> tuple[Gateway, list[ToolChannel]]:
    """A gateway with the default handler around one ``channel_type`` channel."""
    channels: list[ToolChannel] = []

    def create(context: ChannelContext) -> Channel:
        channels.append(channel_type(context))
        return channels[0]

    gateway = Gateway(
        config or SimpleNamespace(gateway=SimpleNamespace(host="127.0.0.1", port=0)),
        state_dir=tmp_path / "state",
        channels=[ChannelPlugin(id="zalo", label="Zalo", create=create)],
        agent=agent,
        startup_grace=0.01,
        configure_logs=False,
        **options,
    )
    return gateway, channels


async def wait_for(predicate: Callable[[], bool]) -> None:
    while not predicate():
        await asyncio.sleep(0.005)


@pytest.mark.timeout(20)
async def test_channel_tools_reach_the_agent_bound_to_the_conversation(tmp_path: Path) -> None:
    agent = ToolUsingAgent()
    gateway, channels = tool_gateway(
        tmp_path,
        ToolChannel,
        agent,
        backoff=BackoffConfig(min_delay=0.001, max_delay=0.01, jitter=0.0),
    )
    async with gateway:
        await wait_for(lambda: bool(channels) and len(channels[0].sent) >= 2)
    channel = channels[0]
    assert agent.seen == [("zalo_send",)]
    assert channel.contexts == [ToolContext("zalo", "a", "g1", ChatType.GROUP, "u1", "m1")]
    assert channel.sent == [("group:g1", "from the tool"), ("group:g1", "tool said ok=True")]


@pytest.mark.timeout(20)
async def test_channel_without_tools_gives_the_agent_none(tmp_path: Path) -> None:
    class PlainChannel(ToolChannel):
        agent_tools = None  # type: ignore[assignment]

    agent = ToolUsingAgent()
    gateway, _ = tool_gateway(tmp_path, PlainChannel, agent)
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

    agent = Answering()
    gateway, channels = tool_gateway(tmp_path, BrokenToolsChannel, agent)
    async with gateway:
        await wait_for(lambda: bool(channels) and bool(channels[0].sent))
    assert agent.seen == [()]
    assert channels[0].sent == [("group:g1", "still here")]
    assert "failed to list its agent tools" in caplog.text


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("account_prefix", "expected"),
    [(None, "[bot] still here"), ("[acct]", "[acct] still here"), ("", "still here")],
)
async def test_messages_response_prefix_applies_unless_the_account_sets_its_own(
    tmp_path: Path, account_prefix: str | None, expected: str
) -> None:
    class PrefixChannel(ToolChannel):
        settings: ClassVar[dict[str, Any]] = (
            OPEN if account_prefix is None else {**OPEN, "responsePrefix": account_prefix}
        )
        agent_tools = None  # type: ignore[assignment]

    config = parse_config({"gateway": {"port": 0}, "messages": {"responsePrefix": "[bot]"}}, env={})
    gateway, channels = tool_gateway(tmp_path, PrefixChannel, Answering(), config)
    async with gateway:
        await wait_for(lambda: bool(channels) and bool(channels[0].sent))
    assert channels[0].sent == [("group:g1", expected)]


@pytest.mark.timeout(20)
async def test_messages_group_chat_history_limit_bounds_the_pending_history(
    tmp_path: Path,
) -> None:
    class GatedChannel(ToolChannel):
        settings: ClassVar[dict[str, Any]] = {**OPEN, "groups": {"*": {"requireMention": True}}}
        script = (
            group_message(1, "first skipped", mentioned=False),
            group_message(2, "second skipped", mentioned=False),
            group_message(3, "third skipped", mentioned=False),
            group_message(4, "@bot now answer"),
        )
        agent_tools = None  # type: ignore[assignment]

    config = parse_config(
        {"gateway": {"port": 0}, "messages": {"groupChat": {"historyLimit": 2}}}, env={}
    )
    agent = Answering()
    gateway, channels = tool_gateway(tmp_path, GatedChannel, agent, config)
    async with gateway:
        await wait_for(lambda: bool(channels) and bool(channels[0].sent))
    [body] = agent.bodies
    assert "second skipped" in body
    assert "third skipped" in body
    assert "first skipped" not in body
    assert "@bot now answer" in body
