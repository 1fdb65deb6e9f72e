"""The MCP tool catalogue: channel tools across accounts, ``accountId``, error results."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import pytest

from zalogate.channels.zalo.tools import zalo_tools
from zalogate.core.agent import AgentTool, FunctionTool
from zalogate.core.channel import (
    Channel,
    ChannelAccount,
    ChannelContext,
    ChannelPlugin,
    ProbeResult,
    ToolContext,
)
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.mcp.server import ACCOUNT_ARGUMENT, ChannelToolbox, open_channels
from zalogate.runtime.logging import clear_registered_secrets, register_secret

SECRET = "plain-secret-value-9f8e7d"  # matches no built-in token pattern


class ZaloLike(Channel):
    """Accounts ``default`` (disabled), ``work`` and ``home``; sends are recorded."""

    id = "zalo"
    text_limit = 2000

    def __init__(self, *, default_enabled: bool = False) -> None:
        self._accounts = [
            ChannelAccount("zalo", "default", default_enabled, {"botToken": SECRET}),
            ChannelAccount("zalo", "work", True, {}),
            ChannelAccount("zalo", "home", True, {}),
        ]
        self.sent: list[tuple[str, str, str]] = []
        self.closed = False

    def accounts(self) -> Sequence[ChannelAccount]:
        return self._accounts

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.sent.append((account.account_id, target, reply.text))
        if reply.text == "leak":
            return DeliveryReceipt(error=f"bad token {SECRET}")
        return DeliveryReceipt(message_ids=(f"m{len(self.sent)}",))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        return zalo_tools(self, account, context)

    async def aclose(self) -> None:
        self.closed = True


class Other(ZaloLike):
    """Another channel that also offers a ``zalo_send`` (and an ``other_ping``)."""

    id = "other"

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        async def ping(args: dict[str, object]) -> dict[str, object]:
            return {"pong": account.account_id}

        return [
            *zalo_tools(self, account, context),
            FunctionTool("other_ping", "ping", {"type": "object"}, ping),
        ]


class NoTools(ZaloLike):
    id = "plain"

    def agent_tools(
        self, account: ChannelAccount, context: ToolContext | None
    ) -> Sequence[AgentTool]:
        return ()


def test_tools_are_listed_once_with_the_accounts_that_offer_them() -> None:
    toolbox = ChannelToolbox([ZaloLike(), Other(), NoTools()])
    tools = {t.name: t for t in toolbox.list_tools()}
    assert list(tools) == ["zalo_send", "other_ping"]
    send = tools["zalo_send"]
    assert send.channel == "zalo"
    assert send.accounts == ("work", "home")  # the disabled default account offers nothing
    assert send.title == "Zalo Bot: send"
    account_arg = send.input_schema["properties"][ACCOUNT_ARGUMENT]
    assert account_arg["type"] == "string"
    assert "'work'" in account_arg["description"]
    assert send.input_schema["additionalProperties"] is False
    assert list(tools["other_ping"].input_schema["properties"]) == [ACCOUNT_ARGUMENT]


async def test_call_uses_the_first_enabled_account_by_default() -> None:
    channel = ZaloLike()
    result = await ChannelToolbox([channel]).call("zalo_send", {"target": "u1", "message": "hi"})
    assert result == {"ok": True, "to": "u1", "messageId": "m1", "messageIds": ["m1"]}
    assert channel.sent == [("work", "u1", "hi")]


async def test_account_id_selects_the_account_case_insensitively() -> None:
    channel = ZaloLike(default_enabled=True)
    toolbox = ChannelToolbox([channel])
    await toolbox.call("zalo_send", {"target": "u1", "message": "a"})
    await toolbox.call("zalo_send", {"target": "u1", "message": "b", ACCOUNT_ARGUMENT: " Home "})
    assert [s[0] for s in channel.sent] == ["default", "home"]


async def test_unknown_or_disabled_accounts_and_tools_are_error_results() -> None:
    channel = ZaloLike()
    toolbox = ChannelToolbox([channel])
    args = {"target": "u1", "message": "x"}
    unknown = await toolbox.call("zalo_send", {**args, ACCOUNT_ARGUMENT: "nope"})
    assert unknown == {"error": "unknown zalo account 'nope' (accounts: work, home)"}
    disabled = await toolbox.call("zalo_send", {**args, ACCOUNT_ARGUMENT: "default"})
    assert disabled == {"error": "zalo account 'default' is disabled"}
    wrong_type = await toolbox.call("zalo_send", {**args, ACCOUNT_ARGUMENT: 3})
    assert wrong_type == {"error": "accountId must be a string"}
    missing = await toolbox.call("zalo_sned", args)
    assert missing == {"error": "unknown tool 'zalo_sned' (tools: zalo_send)"}
    assert channel.sent == []


async def test_tool_argument_errors_pass_through_in_the_tools_shape() -> None:
    result = await ChannelToolbox([ZaloLike()]).call("zalo_send", {"message": "hi"})
    assert result["error"].startswith("No chat_id provided")


async def test_open_channels_creates_channels_without_an_inbox_and_closes_them(
    tmp_path: Path,
) -> None:
    created: list[ZaloLike] = []
    contexts: list[ChannelContext] = []

    def create(context: ChannelContext) -> Channel:
        contexts.append(context)
        created.append(ZaloLike())
        return created[-1]

    plugin = ChannelPlugin(id="zalo", label="Zalo", create=create)
    config = SimpleNamespace(channels=None)
    try:
        async with open_channels(config, tmp_path / "state", plugins=[plugin]) as channels:
            assert channels == created
            assert contexts[0].routes is None
            assert contexts[0].state_dir == tmp_path / "state"
            with pytest.raises(RuntimeError, match="does not receive messages"):
                await contexts[0].inbox.admit(None)  # type: ignore[arg-type]
        assert created[0].closed
    finally:
        clear_registered_secrets()


async def test_registered_secrets_are_redacted_from_results() -> None:
    register_secret(SECRET)
    try:
        result = await ChannelToolbox([ZaloLike()]).call(
            "zalo_send", {"target": "u1", "message": "leak"}
        )
    finally:
        clear_registered_secrets()
    assert result["ok"] is False
    assert SECRET not in result["error"]
    assert result["error"].startswith("bad token ")
