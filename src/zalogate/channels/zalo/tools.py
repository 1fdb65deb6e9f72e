"""The agent tool of the Bot API channel: ``zalo_send``.

``zalo_send`` sends text and/or one image URL to a chat through a ``zalo`` account, using
only :meth:`Channel.send <zalogate.core.channel.Channel.send>`. In a conversation the target
defaults to that conversation; in the MCP server (no conversation) a target is required.

Arguments: ``target`` (chat id, ``zalo:<id>``, ``group:<id>``...), ``message`` (text; the
caption when ``mediaUrl`` is given) and ``mediaUrl``. A long message is split into chunks of
the channel's text limit (the image goes with the first one). Results::

    {"ok": true, "to": "123", "messageId": "m1", "messageIds": ["m1", "m2"]}
    {"ok": false, "error": "No photo URL provided"}
    {"ok": false, "error": "...", "partial": true, "messageIds": ["m1"]}   # some chunks went out
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zalogate.channels.zalo.traits import CHANNEL_ID
from zalogate.core.agent import AgentTool
from zalogate.core.channel import Channel, ChannelAccount, ToolContext
from zalogate.core.chunking import DEFAULT_TEXT_LIMIT, chunk_text
from zalogate.core.errors import DeliveryError
from zalogate.core.model import ReplyPayload
from zalogate.core.targets import TargetError, parse_target
from zalogate.core.tools import ToolCall, ToolError, ToolParam, ToolSpec

__all__ = ["ZALO_SEND", "zalo_tools"]


SEND_FAILED = "Failed to send Zalo message"


def _current_target(context: ToolContext, given: Mapping[str, Any]) -> str:
    return context.target


async def _send(call: ToolCall[Channel]) -> Mapping[str, Any]:
    channel = call.owner
    raw_target = call.string("target") or ""
    text = call.string("message") or ""
    media = call.string("mediaUrl")
    try:
        target = parse_target(raw_target, CHANNEL_ID).canonical
    except TargetError as exc:
        raise ToolError(str(exc), {"ok": False}) from None
    media_urls = (media.strip(),) if media is not None and media.strip() else ()
    if not media_urls and not text.strip():
        if media is not None:
            raise ToolError("No photo URL provided", {"ok": False})
        raise ToolError("message or mediaUrl required", {"ok": False})
    limit = channel.text_limit if channel.text_limit > 1 else DEFAULT_TEXT_LIMIT
    chunks = chunk_text(text, limit) if text.strip() else []
    pieces = [
        ReplyPayload(text=chunk, media_urls=media_urls if i == 0 else ())
        for i, chunk in enumerate(chunks)
    ] or [ReplyPayload(media_urls=media_urls)]
    sent: list[str] = []
    for piece in pieces:
        try:
            receipt = await channel.send(call.account, target, piece)
        except DeliveryError as exc:
            sent.extend(exc.partial_ids)
            raise _failure(str(exc) or SEND_FAILED, sent) from None
        sent.extend(receipt.message_ids)
        if receipt.error or receipt.partial:
            raise _failure(receipt.error or SEND_FAILED, sent)
    if not sent:
        raise _failure(SEND_FAILED, sent)
    return {"ok": True, "to": target, "messageId": sent[0], "messageIds": sent}


def _failure(error: str, sent: list[str]) -> ToolError:
    details: dict[str, Any] = {"ok": False}
    if sent:
        details.update(partial=True, messageIds=list(sent))
    return ToolError(error, details)


ZALO_SEND: ToolSpec[Channel] = ToolSpec(
    name="zalo_send",
    title="Zalo Bot: send",
    description=(
        "Send a message through the Zalo Bot API (official bot account): text, or an image "
        "URL with an optional caption. Without `target` it goes to the current conversation."
    ),
    params=(
        ToolParam(
            "target",
            "Chat to send to: a user chat id, or group:<id> for a group. "
            "Default: the current conversation.",
            context_default=_current_target,
        ),
        ToolParam("message", "Text to send (the caption when mediaUrl is given)."),
        ToolParam("mediaUrl", "HTTP(S) URL of an image to send."),
    ),
    handler=_send,
    requires=("target",),
    missing_error="No chat_id provided: give target (a chat id, or group:<id>)",
    channel=CHANNEL_ID,
)
"""The declared ``zalo_send`` tool (bind it with ``ZALO_SEND.bind(channel, account, ctx)``)."""


def zalo_tools(
    channel: Channel, account: ChannelAccount, context: ToolContext | None
) -> list[AgentTool]:
    """The tools a ``zalo`` account offers: ``zalo_send`` while the account is enabled.

    For ``Channel.agent_tools`` (the :class:`~zalogate.core.channel.Tools` capability).
    """
    if not account.enabled:
        return []
    return [ZALO_SEND.bind(channel, account, context)]
