"""The agent tool of the personal-account channel: ``zalouser``.

One tool with the actions of OpenClaw's ``zalouser`` tool (``zalo-personal.md`` §5.10);
parameters ``threadId``, ``message``, ``isGroup``, ``profile``, ``query``, ``url`` (no others):

* ``send`` (``threadId``, ``message``) -> ``{"success": true, "messageId": ...}``; the text
  may use Markdown (converted to Zalo styles, as replies are);
* ``image`` (``threadId``, ``url``; ``message`` is the caption), ``link`` (``threadId``,
  ``url``; ``message`` before the link) and ``sticker`` (``threadId``, ``query``: a keyword,
  Zalo's best suggestion is sent, or a sticker id) -> the same shape;
* ``friends`` (``query`` filters by name or id) -> ``{"friends": [{userId, displayName,
  avatar}], "count": n}``; ``groups`` -> ``{"groups": [{groupId, name, memberCount}], ...}``
  (wrapped in an object: tool results are JSON objects);
* ``me`` -> ``{userId, displayName, avatar}`` or ``{"error": "Not authenticated"}``;
* ``profile`` (``threadId``) -> a user's ``{userId, displayName, zaloName, avatar, isFriend}``,
  or for a group ``{groupId, members: [{userId, displayName}], count}``;
* ``status`` -> ``{"authenticated": bool, "output": "authenticated" | "not authenticated"}``.

``threadId`` and ``isGroup`` default to the current conversation when it is a ``zalouser``
one (an explicit ``threadId`` wins, and then ``isGroup`` is not taken from the conversation).
``threadId`` may carry a target prefix (``group:<id>``, ``g-…``, ``zalouser:<id>``).
``profile`` picks the account of this channel with that credential profile. Failures are
``{"error": "..."}`` (plus ``messageIds`` when part of a message went out).

Every action acts through the channel the tool is bound ``via`` (its ``send`` and its
capabilities): the channel itself, or in cluster mode its wrapper, which does them on the
node holding the account's session; only config and the saved-session check are local.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from zalogate.channels.zalouser.traits import CHANNEL_ID
from zalogate.core.agent import AgentTool
from zalogate.core.channel import Channel, ChannelAccount, ToolContext
from zalogate.core.errors import ChannelError, DeliveryError
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.core.targets import TargetError, parse_target
from zalogate.core.tools import ToolAction, ToolCall, ToolError, ToolParam, ToolSpec

if TYPE_CHECKING:
    from zalogate.channels.zalouser.channel import ZalouserChannel

__all__ = ["ZALOUSER_TOOL", "ZalouserToolOwner", "zalouser_tools"]


NOT_AUTHENTICATED = "Not authenticated"

C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class ZalouserToolOwner:
    """What the tool is bound to: the channel (its accounts and saved sessions) and the
    channel it acts ``via`` (sends and capabilities; the channel itself outside a cluster)."""

    channel: ZalouserChannel
    via: Channel


def _needs(capability: C | None, what: str) -> C:
    if capability is None:
        raise ToolError(f"This account cannot {what}")
    return capability


def _current_thread(context: ToolContext, given: Mapping[str, Any]) -> str:
    return context.chat_id


def _current_is_group(context: ToolContext, given: Mapping[str, Any]) -> bool | None:
    # An explicit threadId says nothing about the current conversation's kind.
    return None if given.get("threadId") else context.is_group


def _target(call: ToolCall[ZalouserToolOwner]) -> str:
    raw = (call.string("threadId") or "").strip()
    try:
        parsed = parse_target(raw, CHANNEL_ID)
    except TargetError as exc:
        raise ToolError(str(exc)) from None
    if call.boolean("isGroup") and not parsed.is_group:
        return f"group:{parsed.id}"
    return parsed.canonical


def _account(call: ToolCall[ZalouserToolOwner]) -> ChannelAccount:
    profile = (call.string("profile") or "").strip()
    if not profile:
        return call.account
    channel = call.owner.channel
    if channel.profile_of(call.account).lower() == profile.lower():
        return call.account
    for account in channel.accounts():
        if account.enabled and channel.profile_of(account).lower() == profile.lower():
            return account
    raise ToolError(f"Unknown profile: {profile}")


def _sent(receipt: DeliveryReceipt) -> dict[str, Any]:
    if receipt.error or receipt.partial or not receipt.message_ids:
        details = {"messageIds": list(receipt.message_ids)} if receipt.message_ids else {}
        raise ToolError(receipt.error or "Failed to send Zalo message", details)
    return {"success": True, "messageId": receipt.message_ids[0]}


async def _deliver(call: ToolCall[ZalouserToolOwner], payload: ReplyPayload) -> dict[str, Any]:
    account = _account(call)
    try:
        receipt = await call.owner.via.send(account, _target(call), payload)
    except DeliveryError as exc:
        details = {"messageIds": list(exc.partial_ids)} if exc.partial_ids else {}
        raise ToolError(str(exc), details) from None
    return _sent(receipt)


async def _send(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    return await _deliver(call, ReplyPayload(text=call.string("message") or ""))


async def _image(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    url = (call.string("url") or "").strip()
    return await _deliver(call, ReplyPayload(text=call.string("message") or "", media_urls=(url,)))


async def _link(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    account = _account(call)
    url = (call.string("url") or "").strip()
    links = _needs(call.owner.via.links, "send links")
    try:
        receipt = await links.send_link(account, _target(call), url, call.string("message") or "")
    except DeliveryError as exc:
        raise ToolError(str(exc)) from None
    return _sent(receipt)


async def _sticker(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    account = _account(call)
    wanted = call.string("query") or ""
    stickers = _needs(call.owner.via.stickers, "send stickers")
    try:
        receipt = await stickers.send_sticker(account, _target(call), wanted)
    except DeliveryError as exc:
        raise ToolError(str(exc)) from None
    return _sent(receipt)


async def _friends(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    account = _account(call)
    directory = _needs(call.owner.via.directory, "list friends")
    entries = await directory.directory_peers(account, call.string("query"))
    friends = [{"userId": e.id, "displayName": e.name or "", **_avatar(e.extra)} for e in entries]
    return {"friends": friends, "count": len(friends)}


async def _groups(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    account = _account(call)
    directory = _needs(call.owner.via.directory, "list groups")
    entries = await directory.directory_groups(account, call.string("query"))
    groups = []
    for entry in entries:
        item: dict[str, Any] = {"groupId": entry.extra.get("groupId", entry.id), "name": entry.name}
        if isinstance(entry.extra.get("memberCount"), int):
            item["memberCount"] = entry.extra["memberCount"]
        groups.append(item)
    return {"groups": groups, "count": len(groups)}


async def _me(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    account = _account(call)
    directory = call.owner.via.directory
    if directory is None or not call.owner.channel.has_session(account):
        return {"error": NOT_AUTHENTICATED}
    try:
        me = await directory.directory_self(account)
    except Exception:
        return {"error": NOT_AUTHENTICATED}
    return {"userId": me.id, "displayName": me.name or "", **_avatar(me.extra)}


async def _profile(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    account, target = _account(call), _target(call)
    via = call.owner.via
    if target.startswith("group:"):
        group_members = _needs(via.group_members, "list group members")
        members = await group_members.directory_group_members(account, target)
        listed = [{"userId": m.id, "displayName": m.name or ""} for m in members]
        return {"groupId": target.removeprefix("group:"), "members": listed, "count": len(listed)}
    user = await _needs(via.user_profiles, "show profiles").directory_user(account, target)
    return {"userId": user.id, "displayName": user.name or "", **user.extra}


async def _status(call: ToolCall[ZalouserToolOwner]) -> Mapping[str, Any]:
    account = _account(call)
    authenticated = call.owner.channel.has_session(account)
    if authenticated:
        try:
            result = await call.owner.via.probe(account)
        except ChannelError as exc:  # the node holding the session could not be asked
            raise ToolError(str(exc)) from None
        authenticated = result.ok
    return {
        "authenticated": authenticated,
        "output": "authenticated" if authenticated else "not authenticated",
    }


def _avatar(extra: Mapping[str, Any]) -> dict[str, Any]:
    avatar = extra.get("avatar")
    return {"avatar": avatar} if isinstance(avatar, str) and avatar else {}


ZALOUSER_TOOL: ToolSpec[ZalouserToolOwner] = ToolSpec(
    name="zalouser",
    title="Zalo Personal",
    description=(
        "Act through the personal Zalo account: send a message, an image, a link or a sticker "
        "(by keyword) to a user or a group, list friends and groups, show the account (me), a "
        "user's profile or a group's members (profile) and whether it is logged in (status). "
        "Without threadId a send goes to the current conversation."
    ),
    params=(
        ToolParam(
            "threadId",
            "User id, or group id (with isGroup or as group:<id>). "
            "Default: the current conversation.",
            context_default=_current_thread,
        ),
        ToolParam("message", "Text to send (Markdown allowed); the caption for image/link."),
        ToolParam(
            "isGroup",
            "True when threadId is a group. Default: the current conversation's kind.",
            type="boolean",
            context_default=_current_is_group,
        ),
        ToolParam("profile", "Credential profile of the account to use (default: this one)."),
        ToolParam(
            "query",
            "Filter for friends/groups (name or id, case-insensitive); for sticker, a keyword"
            " (e.g. hello, thanks) or a sticker id.",
        ),
        ToolParam("url", "Image URL (image) or link (link)."),
    ),
    actions=(
        ToolAction("send", _send, requires=("threadId", "message")),
        ToolAction("image", _image, requires=("threadId", "url")),
        ToolAction("link", _link, requires=("threadId", "url")),
        ToolAction("sticker", _sticker, requires=("threadId", "query")),
        ToolAction("friends", _friends),
        ToolAction("groups", _groups),
        ToolAction("me", _me),
        ToolAction("profile", _profile, requires=("threadId",)),
        ToolAction("status", _status),
    ),
    action_description="send | image | link | sticker | friends | groups | me | profile | status",
    channel=CHANNEL_ID,
)
"""The declared ``zalouser`` tool (bound by :func:`zalouser_tools`)."""


def zalouser_tools(
    channel: ZalouserChannel, via: Channel, account: ChannelAccount, context: ToolContext | None
) -> list[AgentTool]:
    """The tools a ``zalouser`` account offers: ``zalouser`` while the account is enabled and
    has a saved session, acting through ``via``."""
    if not account.enabled or not channel.has_session(account):
        return []
    return [ZALOUSER_TOOL.bind(ZalouserToolOwner(channel, via), account, context)]
