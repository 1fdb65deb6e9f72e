"""Declared tools: schema from the declaration, argument checks, conversation defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from zalogate.core.agent import AgentTool
from zalogate.core.channel import ChannelAccount, ToolContext
from zalogate.core.model import ChatType
from zalogate.core.tools import ToolAction, ToolCall, ToolError, ToolParam, ToolSpec

ACCOUNT = ChannelAccount("zalouser", "default", True, {})


class Owner:
    """Records what the handlers were asked to do."""

    def __init__(self) -> None:
        self.calls: list[ToolCall[Owner]] = []
        self.fail_with: str | None = None


async def _send(call: ToolCall[Owner]) -> Mapping[str, Any]:
    call.owner.calls.append(call)
    if call.owner.fail_with:
        raise ToolError(call.owner.fail_with)
    return {"success": True, "messageId": "m1"}


async def _me(call: ToolCall[Owner]) -> Mapping[str, Any]:
    call.owner.calls.append(call)
    raise RuntimeError("boom")


def _ambient_thread(context: ToolContext, given: Mapping[str, Any]) -> str:
    return context.chat_id


def _ambient_group(context: ToolContext, given: Mapping[str, Any]) -> bool | None:
    # The conversation decides isGroup only when it also chose the thread.
    return context.is_group if "threadId" not in given else None


SPEC: ToolSpec[Owner] = ToolSpec(
    name="zalouser",
    description="Zalo personal account",
    params=(
        ToolParam("threadId", "Thread", context_default=_ambient_thread),
        ToolParam("message", "Text"),
        ToolParam("isGroup", "Group?", type="boolean", context_default=_ambient_group),
        ToolParam("limit", "How many", type="integer"),
    ),
    actions=(
        ToolAction("send", _send, requires=("threadId", "message")),
        ToolAction("me", _me),
    ),
    channel="zalouser",
)


def context(channel: str = "zalouser", chat_id: str = "g-ambient") -> ToolContext:
    return ToolContext(channel, "default", chat_id, ChatType.GROUP, "u1", "m0")


def test_schema_lists_the_action_enum_and_forbids_other_properties() -> None:
    schema = SPEC.schema()
    assert schema["type"] == "object"
    assert schema["required"] == ["action"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["action"]["enum"] == ["send", "me"]
    assert schema["properties"]["isGroup"] == {"type": "boolean", "description": "Group?"}
    assert list(schema["properties"]) == ["action", "threadId", "message", "isGroup", "limit"]


def test_bound_tool_is_an_agent_tool_with_the_declared_schema() -> None:
    tool = SPEC.bind(Owner(), ACCOUNT)
    assert isinstance(tool, AgentTool)
    assert tool.name == "zalouser"
    assert tool.parameters == SPEC.schema()


async def test_send_without_fields_names_what_is_missing() -> None:
    owner = Owner()
    result = await SPEC.bind(owner, ACCOUNT).call({"action": "send"})
    assert result == {"error": "threadId and message required for send action"}
    assert owner.calls == []


async def test_ambient_conversation_of_the_same_channel_fills_the_thread_and_group_flag() -> None:
    owner = Owner()
    tool = SPEC.bind(owner, ACCOUNT, context())
    assert await tool.call({"action": "send", "message": "hi"}) == {
        "success": True,
        "messageId": "m1",
    }
    [call] = owner.calls
    assert call.string("threadId") == "g-ambient"
    assert call.boolean("isGroup") is True
    assert call.action == "send"


async def test_explicit_thread_wins_over_the_ambient_conversation() -> None:
    owner = Owner()
    tool = SPEC.bind(owner, ACCOUNT, context())
    await tool.call({"action": "send", "threadId": "u-explicit", "message": "hi"})
    [call] = owner.calls
    assert call.string("threadId") == "u-explicit"
    assert "isGroup" not in call.args


async def test_conversation_of_another_channel_is_ignored() -> None:
    owner = Owner()
    tool = SPEC.bind(owner, ACCOUNT, context(channel="slack"))
    result = await tool.call({"action": "send", "message": "hi"})
    assert result == {"error": "threadId and message required for send action"}


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ({"action": "send", "foo": 1}, "unknown parameter 'foo'"),
        ({"action": "send", "isGroup": "yes"}, "isGroup must be a boolean"),
        ({"action": "send", "limit": True}, "limit must be an integer"),
        ({"action": "send", "threadId": 5}, "threadId must be a string"),
        ({"action": "fly"}, "Unknown action: fly"),
        ({}, "action required (one of: send, me)"),
    ],
)
async def test_bad_arguments_come_back_as_errors(args: dict[str, Any], error: str) -> None:
    owner = Owner()
    result = await SPEC.bind(owner, ACCOUNT).call(args)
    assert list(result) == ["error"]
    assert result["error"].startswith(error)
    assert owner.calls == []


async def test_null_counts_as_not_given() -> None:
    owner = Owner()
    tool = SPEC.bind(owner, ACCOUNT, context())
    await tool.call({"action": "send", "threadId": None, "message": "hi", "limit": None})
    [call] = owner.calls
    assert call.string("threadId") == "g-ambient"
    assert call.integer("limit") is None


async def test_empty_required_string_counts_as_missing() -> None:
    result = await SPEC.bind(Owner(), ACCOUNT).call(
        {"action": "send", "threadId": "t", "message": ""}
    )
    assert result == {"error": "threadId and message required for send action"}


async def test_handler_errors_become_error_results() -> None:
    owner = Owner()
    owner.fail_with = "blocked"
    tool = SPEC.bind(owner, ACCOUNT)
    assert await tool.call({"action": "send", "threadId": "t", "message": "x"}) == {
        "error": "blocked"
    }
    assert await tool.call({"action": "me"}) == {"error": "RuntimeError: boom"}


def test_tool_error_details_never_override_the_error() -> None:
    error = ToolError("blocked", {"ok": False, "error": "other", "messageIds": ["1"]})
    assert error.to_result() == {"ok": False, "error": "blocked", "messageIds": ["1"]}


async def test_single_handler_tool_checks_its_requires() -> None:
    owner = Owner()
    spec: ToolSpec[Owner] = ToolSpec(
        name="send",
        description="send",
        params=(ToolParam("to"), ToolParam("text", required=True)),
        handler=_send,
        requires=("to",),
    )
    schema = spec.schema()
    assert schema["required"] == ["text"]
    assert "action" not in schema["properties"]
    tool = spec.bind(owner, ACCOUNT)
    assert await tool.call({}) == {"error": "text and to required"}
    assert await tool.call({"to": "1", "text": "x"}) == {"success": True, "messageId": "m1"}
    assert owner.calls[0].action is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"handler": _send, "actions": (ToolAction("me", _me),)},
        {"handler": _send, "requires": ("nope",)},
        {"actions": (ToolAction("me", _me),), "params": (ToolParam("action"),)},
        {"handler": _send, "params": (ToolParam("a"), ToolParam("a"))},
    ],
)
def test_inconsistent_declarations_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="tool 'bad'"):
        ToolSpec(name="bad", description="", **kwargs)
