"""The ``zalouser`` agent tool (P32, P40): actions, defaults from the current conversation,
result and error shapes, and the tool offered to an agent by the running gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from zalogate.channels.zalouser.channel import ZalouserChannel
from zalogate.channels.zalouser.tools import ZALOUSER_TOOL
from zalogate.core.agent import Turn
from zalogate.core.channel import ToolContext
from zalogate.core.model import ChatType, ReplyPayload
from zalogate.mcp.server import ChannelToolbox
from zalogate.testing.fake_botapi import make_png

from .conftest import World


def tool_for(channel: ZalouserChannel, context: ToolContext | None = None) -> Any:
    (tool,) = channel.agent_tools(channel.accounts()[0], context)
    return tool


def group_context(world: World) -> ToolContext:
    return ToolContext("zalouser", "default", world.GROUP, ChatType.GROUP, world.ALICE, "m1")


def test_schema_has_exactly_the_reference_parameters() -> None:
    schema = ZALOUSER_TOOL.schema()
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {
        "action",
        "threadId",
        "message",
        "isGroup",
        "profile",
        "query",
        "url",
    }
    assert schema["properties"]["action"]["enum"] == [
        "send",
        "image",
        "link",
        "sticker",
        "friends",
        "groups",
        "me",
        "profile",
        "status",
    ]


async def test_send_needs_thread_and_message(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        result = await tool_for(channel).call({"action": "send"})
    assert result == {"error": "threadId and message required for send action"}


async def test_send_defaults_to_the_current_conversation(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        result = await tool_for(channel, group_context(world)).call(
            {"action": "send", "message": "**hi** team"}
        )
    (record,) = world.records("text")
    assert (record.thread_id, record.thread_type, record.text) == (world.GROUP, "group", "hi team")
    assert result == {"success": True, "messageId": record.msg_id}


async def test_explicit_thread_wins_over_the_conversation(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        await tool_for(channel, group_context(world)).call(
            {"action": "send", "threadId": world.ALICE, "message": "psst"}
        )
        await tool_for(channel).call(
            {"action": "send", "threadId": world.GROUP, "isGroup": True, "message": "all"}
        )
        await tool_for(channel).call(
            {"action": "send", "threadId": f"zalouser:group:{world.GROUP}", "message": "too"}
        )
    first, second, third = world.records("text")
    assert (first.thread_id, first.thread_type) == (world.ALICE, "user")
    assert (second.thread_id, second.thread_type) == (world.GROUP, "group")
    assert (third.thread_id, third.thread_type) == (world.GROUP, "group")


async def test_a_foreign_conversation_is_ignored(world: World) -> None:
    world.save_session()
    foreign = ToolContext("zalo", "default", "123", ChatType.DIRECT)
    async with world.channel(world.config()) as channel:
        result = await tool_for(channel, foreign).call({"action": "send", "message": "x"})
    assert result == {"error": "threadId and message required for send action"}
    assert world.records("text") == []


async def test_send_failure_is_an_error_result(world: World) -> None:
    world.save_session()
    world.fake.fail("api/message/sms", 102, "blocked", times=None)
    async with world.channel(world.config()) as channel:
        result = await tool_for(channel).call(
            {"action": "send", "threadId": world.ALICE, "message": "x"}
        )
    assert set(result) == {"error"}
    assert "blocked" in result["error"]


async def test_image_and_link(world: World) -> None:
    world.save_session()
    url = world.fake._store_media(make_png(3, 3), ".png")
    async with world.channel(world.config()) as channel:
        tool = tool_for(channel)
        image = await tool.call(
            {"action": "image", "threadId": world.ALICE, "url": url, "message": "a pic"}
        )
        link = await tool.call(
            {"action": "link", "threadId": world.ALICE, "url": "https://example.com/x"}
        )
        missing = await tool.call({"action": "image", "threadId": world.ALICE})
    (photo,) = world.records("photo")
    (sent_link,) = world.records("link")
    assert image == {"success": True, "messageId": photo.msg_id}
    assert photo.text == "a pic"
    assert link == {"success": True, "messageId": sent_link.msg_id}
    assert missing == {"error": "threadId and url required for image action"}


async def test_friends_groups_me_status(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        tool = tool_for(channel)
        friends = await tool.call({"action": "friends"})
        carol = await tool.call({"action": "friends", "query": "car"})
        groups = await tool.call({"action": "groups"})
        me = await tool.call({"action": "me"})
        status = await tool.call({"action": "status"})
    assert [f["userId"] for f in friends["friends"]] == [world.ALICE, world.CAROL]
    assert friends["friends"][0]["displayName"] == "Alice"
    assert friends["friends"][0]["avatar"].startswith("https://")
    assert carol == {
        "friends": [
            {
                "userId": world.CAROL,
                "displayName": "Carol",
                "avatar": f"https://avatar.local/{world.CAROL}",
            }
        ],
        "count": 1,
    }
    assert {(g["groupId"], g["name"], g["memberCount"]) for g in groups["groups"]} == {
        (world.GROUP, "Team", 4),
        (world.GROUP2, "Other", 2),
    }
    assert (me["userId"], me["displayName"]) == (world.BOT, "Bot")
    assert status == {"authenticated": True, "output": "authenticated"}


async def test_profile_of_a_user_and_members_of_a_group(world: World) -> None:
    """``profile``: getUserInfo for a user (the current DM by default), the member list for
    a group."""
    world.save_session()
    async with world.channel(world.config()) as channel:
        dm = tool_for(channel, ToolContext("zalouser", "default", world.DAVE, ChatType.DIRECT))
        dave = await dm.call({"action": "profile"})
        team = await tool_for(channel, group_context(world)).call({"action": "profile"})
    assert (dave["userId"], dave["displayName"]) == (world.DAVE, "Dave")
    assert dave["avatar"].startswith("https://")
    assert team["groupId"] == world.GROUP
    assert {(m["userId"], m["displayName"]) for m in team["members"]} >= {
        (world.ALICE, "Alice"),
        (world.CAROL, "Carol"),
    }
    assert team["count"] == 4


async def test_me_and_status_without_a_session(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        tool = tool_for(channel)
        channel.credentials.delete("default")
        assert await tool.call({"action": "me"}) == {"error": "Not authenticated"}
        assert await tool.call({"action": "status"}) == {
            "authenticated": False,
            "output": "not authenticated",
        }
        # Without a session the account offers no tool at all.
        assert channel.agent_tools(channel.accounts()[0], None) == []


async def test_profile_chooses_the_account(world: World) -> None:
    world.save_session(world.BOT)
    world.save_session(world.BOT2, profile="second")
    config = world.config(accounts={"default": {}, "second": {}})
    async with world.channel(config) as channel:
        tool = tool_for(channel)
        await tool.call(
            {"action": "send", "threadId": world.ALICE, "message": "x", "profile": "second"}
        )
        unknown = await tool.call({"action": "me", "profile": "nobody"})
    (record,) = world.records("text")
    assert record.sender == world.BOT2
    assert unknown == {"error": "Unknown profile: nobody"}


async def test_arguments_are_data_not_command_line(world: World) -> None:
    """P40 (CLI era): nothing is passed to a subprocess, so values starting with ``-`` are
    plain data: a query ``-h`` matches nobody, a message ``-- hello`` is sent."""
    world.save_session()
    async with world.channel(world.config()) as channel:
        tool = tool_for(channel)
        assert await tool.call({"action": "friends", "query": "-h"}) == {"friends": [], "count": 0}
        result = await tool.call({"action": "send", "threadId": world.ALICE, "message": "-- hi"})
        unknown = await tool.call({"action": "send", "to": "x"})
    assert result["success"] is True
    assert world.records("text")[0].text == "-- hi"
    assert unknown["error"].startswith("unknown parameter 'to'")


class ToolUsingAgent:
    """Calls the ``zalouser`` tool (send to the current conversation), then answers."""

    def __init__(self) -> None:
        self.tools: list[tuple[str, ...]] = []

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.tools.append(tuple(t.name for t in turn.tools))
        result = await turn.tools[0].call({"action": "send", "message": "from the tool"})
        yield ReplyPayload(text=f"tool success={result.get('success')}")


@pytest.mark.timeout(30)
async def test_the_gateway_offers_the_tool_bound_to_the_conversation(world: World) -> None:
    world.save_session()
    agent = ToolUsingAgent()
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "use your tool")
        await world.sent(kind="text", thread_id=world.ALICE, count=2)
    assert agent.tools == [("zalouser",)]
    assert [r.text for r in world.records("text", world.ALICE)] == [
        "from the tool",
        "tool success=True",
    ]


async def test_the_mcp_toolbox_offers_the_tool_with_an_account_argument(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        toolbox = ChannelToolbox([channel])
        (listed,) = toolbox.list_tools()
        assert (listed.name, listed.channel, listed.accounts) == (
            "zalouser",
            "zalouser",
            ("default",),
        )
        assert "accountId" in listed.input_schema["properties"]
        result = await toolbox.call(
            "zalouser", {"action": "send", "threadId": world.ALICE, "message": "via mcp"}
        )
    (record,) = world.records("text")
    assert result == {"success": True, "messageId": record.msg_id}


async def test_sticker_by_keyword_or_id(world: World) -> None:
    """``sticker``: Zalo's first suggestion for the keyword (getStickers, then its detail),
    or the id given; a keyword with no sticker is an error result."""
    world.save_session()
    async with world.channel(world.config()) as channel:
        tool = tool_for(channel)
        by_word = await tool.call({"action": "sticker", "threadId": world.ALICE, "query": "thanks"})
        by_id = await tool.call(
            {"action": "sticker", "threadId": world.GROUP, "isGroup": True, "query": "23311"}
        )
        none = await tool.call({"action": "sticker", "threadId": world.ALICE, "query": "zzz"})
    dm, group = world.records("sticker")
    assert by_word == {"success": True, "messageId": dm.msg_id}
    assert (dm.thread_id, dm.params["stickerId"], dm.params["cateId"]) == (
        world.ALICE,
        21980,
        10399,
    )
    assert by_id == {"success": True, "messageId": group.msg_id}
    assert (group.thread_type, group.params["stickerId"]) == ("group", 23311)
    assert none == {"error": "Zalo has no sticker for 'zzz'"}
