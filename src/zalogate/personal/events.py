"""Typed events of the personal-account websocket, parsed from decoded event payloads.

:func:`parse_event` turns the decoded payload of one event frame (``{"data": {...}}``) into a
list of events. It never raises: anything it does not understand becomes an
:class:`UnknownEvent` carrying the raw data and the reason.

Conventions (reference §3.5-§3.7):

* Every id is a ``str`` (Zalo ids exceed 2**53); timestamps are ``ts_ms`` integers.
* ``uidFrom == "0"`` means the account itself sent it from another session: ``is_self`` is
  true and ``sender_id`` is the account's own uid. ``idTo == "0"`` likewise means "me".
* ``thread_id`` is the conversation: the other user of a DM (whoever sent it) or the group.
* Mention ``pos``/``length`` are UTF-16 code units (JavaScript string indices); use
  :func:`zalogate.text.utf16_slice` to cut them out of a Python ``str``.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from zalogate.text import utf16_slice

__all__ = [
    "Delivered",
    "Event",
    "FileDone",
    "FriendEvent",
    "GroupEvent",
    "GroupMessage",
    "Mention",
    "Message",
    "OldMessages",
    "OldReactions",
    "Quote",
    "Reaction",
    "ReactionTarget",
    "Seen",
    "ThreadType",
    "Typing",
    "Undo",
    "UnknownEvent",
    "UserMessage",
    "parse_event",
]

ThreadType = Literal["user", "group"]


def _s(value: Any) -> str:
    """An id as a string ("" when absent)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _i(value: Any, default: int = 0) -> int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def _obj(value: Any, what: str) -> dict[str, Any]:
    """A JSON object that may arrive as a JSON string."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not an object")
    return value


def _ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(_s(v) for v in value)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class Mention:
    """``@`` mention in a group message; ``pos``/``length`` in UTF-16 units."""

    uid: str
    pos: int
    length: int
    type: int = 0

    @property
    def is_all(self) -> bool:
        """An ``@All`` mention (``type`` 1, uid ``"-1"``)."""
        return self.type == 1 or self.uid == "-1"

    def text_in(self, text: str) -> str:
        """The mentioned span of ``text`` (e.g. ``"@Bot"``)."""
        return utf16_slice(text, self.pos, self.length)


@dataclass(frozen=True, slots=True)
class Quote:
    """The message a reply quotes."""

    owner_id: str
    msg_id: str
    cli_msg_id: str
    msg_type: int
    ts_ms: int
    text: str
    attach: str = ""
    from_name: str = ""
    ttl: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A message in a DM (:class:`UserMessage`) or a group (:class:`GroupMessage`).

    ``content`` is the text for ``msg_type == "webchat"``, else the attachment object
    (``{title, description, href, thumb, params, ...}``). ``raw`` is the message as received
    (``uidFrom``/``idTo`` not rewritten); do not mutate it.
    """

    thread_type: ClassVar[ThreadType]

    thread_id: str
    msg_id: str
    cli_msg_id: str
    sender_id: str
    sender_name: str
    to_id: str
    msg_type: str
    content: str | Mapping[str, Any]
    ts_ms: int
    is_self: bool
    ttl: int = 0
    real_msg_id: str = ""
    mentions: tuple[Mention, ...] = ()
    quote: Quote | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The text (``""`` for attachments)."""
        return self.content if isinstance(self.content, str) else ""

    @property
    def attachment(self) -> Mapping[str, Any] | None:
        """The attachment object, or ``None`` for text."""
        return None if isinstance(self.content, str) else self.content

    def receipt_entry(self) -> dict[str, Any]:
        """One ``msgInfos.data`` item for delivered/seen calls, as zca-js builds it (§4.5).

        ``st``/``at``/``cmd``/``ts`` are ``0`` when the message has the field and ``-1`` when
        not (zca-js's operator-precedence quirk, kept for byte-compatibility).
        """
        raw = self.raw
        # di: "0" when the message was sent to this account, else the group / other user.
        to_me = self.thread_type == "user" and not self.is_self
        return {
            "cmi": self.cli_msg_id,
            "gmi": self.msg_id,
            "si": self.sender_id,
            "di": "0" if to_me else self.to_id,
            "mt": self.msg_type,
            "st": 0 if "st" in raw else -1,
            "at": 0 if "at" in raw else -1,
            "cmd": 0 if "cmd" in raw else -1,
            "ts": 0 if "ts" in raw else -1,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMessage(Message):
    """A direct message; ``thread_id`` is the other user."""

    thread_type: ClassVar[ThreadType] = "user"


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMessage(Message):
    """A group message; ``thread_id`` is the group id."""

    thread_type: ClassVar[ThreadType] = "group"


@dataclass(frozen=True, slots=True, kw_only=True)
class Undo:
    """A message was recalled; ``undone_msg_id`` names it."""

    thread_id: str
    thread_type: ThreadType
    sender_id: str
    is_self: bool
    msg_id: str
    cli_msg_id: str
    undone_msg_id: str
    undone_cli_msg_id: str
    ts_ms: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ReactionTarget:
    """A message a reaction applies to."""

    msg_id: str
    cli_msg_id: str
    msg_type: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Reaction:
    """A reaction was added (or removed: :attr:`removed`) to one or more messages."""

    thread_id: str
    thread_type: ThreadType
    sender_id: str
    sender_name: str
    is_self: bool
    icon: str
    r_type: int
    source: int
    targets: tuple[ReactionTarget, ...]
    msg_id: str
    cli_msg_id: str
    ts_ms: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def removed(self) -> bool:
        """The reaction was taken back (``rType -1`` / empty icon)."""
        return self.r_type == -1 or not self.icon


@dataclass(frozen=True, slots=True, kw_only=True)
class Typing:
    """Someone is typing in a DM or a group."""

    thread_id: str
    thread_type: ThreadType
    user_id: str
    ts_ms: int
    is_pc: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """A message reached the devices of ``delivered_uids``."""

    thread_id: str
    thread_type: ThreadType
    msg_id: str
    real_msg_id: str
    delivered_uids: tuple[str, ...]
    seen_uids: tuple[str, ...]
    seen: bool
    ts_ms: int
    is_self: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """A message was read by ``seen_uids``."""

    thread_id: str
    thread_type: ThreadType
    msg_id: str
    real_msg_id: str
    seen_uids: tuple[str, ...]
    is_self: bool


@dataclass(frozen=True, slots=True)
class FileDone:
    """Control 601 ``file_done``: an async upload (``file_id``) is stored at ``url``."""

    file_id: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupEvent:
    """Control 601 ``group``: membership, settings, admins, pins, boards, reminders, avatar.

    ``kind`` is the ``act`` when known (``join``, ``leave``, ``remove_member``, ``add_admin``,
    ``update``...) else ``"unknown"``; ``act`` is always the raw value.
    """

    kind: str
    act: str
    group_id: str
    is_self: bool
    data: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FriendEvent:
    """Control 601 ``fr``: friend added/removed, requests, blocks, pins.

    ``kind`` is one of ``add remove request undo_request reject_request seen_request block
    unblock block_call unblock_call pin_unpin pin_create unknown``.
    """

    kind: str
    act: str
    thread_id: str
    is_self: bool
    data: Any = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class OldMessages:
    """Answer to a 510/511 history request."""

    thread_type: ThreadType
    messages: tuple[UserMessage | GroupMessage | Undo, ...]
    req_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OldReactions:
    """Answer to a 610/611 request."""

    thread_type: ThreadType
    reactions: tuple[Reaction, ...]
    req_id: str = ""


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """Anything not (or not correctly) understood; ``data`` is the raw item."""

    cmd: int
    sub_cmd: int
    reason: str
    data: Any = field(default=None, repr=False, compare=False)


Event = (
    UserMessage
    | GroupMessage
    | Undo
    | Reaction
    | Typing
    | Delivered
    | Seen
    | FileDone
    | GroupEvent
    | FriendEvent
    | OldMessages
    | OldReactions
    | UnknownEvent
)


# --------------------------------------------------------------------------- parsers


class _Ctx:
    __slots__ = ("cmd", "own_uid", "sub_cmd")

    def __init__(self, cmd: int, sub_cmd: int, own_uid: str) -> None:
        self.cmd = cmd
        self.sub_cmd = sub_cmd
        self.own_uid = own_uid

    def me(self, uid: str) -> bool:
        return uid == "0" or (bool(self.own_uid) and uid == self.own_uid)

    def unknown(self, reason: str, data: Any) -> UnknownEvent:
        return UnknownEvent(self.cmd, self.sub_cmd, reason, data)


def _mentions(value: Any) -> tuple[Mention, ...]:
    if not isinstance(value, list):
        return ()
    out: list[Mention] = []
    for item in value:
        if isinstance(item, dict):
            pos, length = _i(item.get("pos"), -1), _i(item.get("len"), 0)
            uid = _s(item.get("uid"))
            if pos >= 0 and length > 0 and uid:
                out.append(Mention(uid, pos, length, _i(item.get("type"))))
    return tuple(out)


def _quote(value: Any) -> Quote | None:
    if not isinstance(value, dict):
        return None
    return Quote(
        owner_id=_s(value.get("ownerId")),
        msg_id=_s(value.get("globalMsgId")),
        cli_msg_id=_s(value.get("cliMsgId", value.get("cliId"))),
        msg_type=_i(value.get("cliMsgType")),
        ts_ms=_i(value.get("ts")),
        text=value["msg"] if isinstance(value.get("msg"), str) else "",
        attach=value["attach"] if isinstance(value.get("attach"), str) else "",
        from_name=_s(value.get("fromD")),
        ttl=_i(value.get("ttl")),
    )


def _message_or_undo(
    ctx: _Ctx, m: Any, group: bool
) -> UserMessage | GroupMessage | Undo | UnknownEvent:
    if not isinstance(m, dict):
        return ctx.unknown("message is not an object", m)
    uid_from, id_to = _s(m.get("uidFrom")), _s(m.get("idTo"))
    is_self = ctx.me(uid_from)
    sender = ctx.own_uid if is_self and ctx.own_uid else uid_from
    to = ctx.own_uid if id_to == "0" and ctx.own_uid else id_to
    thread = to if group or is_self else sender
    content = m.get("content")
    if isinstance(content, dict) and "deleteMsg" in content:
        return Undo(
            thread_id=thread,
            thread_type="group" if group else "user",
            sender_id=sender,
            is_self=is_self,
            msg_id=_s(m.get("msgId")),
            cli_msg_id=_s(m.get("cliMsgId")),
            undone_msg_id=_s(content.get("globalMsgId")),
            undone_cli_msg_id=_s(content.get("cliMsgId")),
            ts_ms=_i(m.get("ts")),
            raw=m,
        )
    if not isinstance(content, str | dict):
        content = "" if content is None else _s(content)
    cls = GroupMessage if group else UserMessage
    return cls(
        thread_id=thread,
        msg_id=_s(m.get("msgId")),
        cli_msg_id=_s(m.get("cliMsgId")),
        sender_id=sender,
        sender_name=_s(m.get("dName")),
        to_id=to,
        msg_type=_s(m.get("msgType")),
        content=content,
        ts_ms=_i(m.get("ts")),
        is_self=is_self,
        ttl=_i(m.get("ttl")),
        real_msg_id=_s(m.get("realMsgId")),
        mentions=_mentions(m.get("mentions")) if group else (),
        quote=_quote(m.get("quote")),
        raw=m,
    )


def _reaction(ctx: _Ctx, r: Any, group: bool) -> Reaction | UnknownEvent:
    if not isinstance(r, dict):
        return ctx.unknown("reaction is not an object", r)
    content = _obj(r.get("content"), "reaction content")
    uid_from, id_to = _s(r.get("uidFrom")), _s(r.get("idTo"))
    is_self = ctx.me(uid_from)
    sender = ctx.own_uid if is_self and ctx.own_uid else uid_from
    to = ctx.own_uid if id_to == "0" and ctx.own_uid else id_to
    targets = tuple(
        ReactionTarget(_s(t.get("gMsgID")), _s(t.get("cMsgID")), _i(t.get("msgType"), 1))
        for t in content.get("rMsg") or ()
        if isinstance(t, dict)
    )
    icon = content.get("rIcon")
    return Reaction(
        thread_id=to if group or is_self else sender,
        thread_type="group" if group else "user",
        sender_id=sender,
        sender_name=_s(r.get("dName")),
        is_self=is_self,
        icon=icon if isinstance(icon, str) else "",
        r_type=_i(content.get("rType"), -1),
        source=_i(content.get("source")),
        targets=targets,
        msg_id=_s(r.get("msgId")),
        cli_msg_id=_s(r.get("cliMsgId")),
        ts_ms=_i(r.get("ts")),
        raw=r,
    )


def _each(
    ctx: _Ctx, items: Any, what: str, parse: Callable[[Any], Event | None]
) -> Iterable[Event]:
    if items is None:
        return
    if not isinstance(items, list):
        yield ctx.unknown(f"{what} is not a list", items)
        return
    for item in items:
        try:
            event = parse(item)
        except Exception as exc:  # one bad item never hides the others
            yield ctx.unknown(f"bad {what} item: {type(exc).__name__}: {exc}", item)
        else:
            if event is not None:
                yield event


def _messages(ctx: _Ctx, data: dict[str, Any], group: bool) -> list[Event]:
    key = "groupMsgs" if group else "msgs"
    return list(_each(ctx, data.get(key), key, lambda m: _message_or_undo(ctx, m, group)))


def _reactions(ctx: _Ctx, data: dict[str, Any]) -> list[Event]:
    out = list(_each(ctx, data.get("reacts"), "reacts", lambda r: _reaction(ctx, r, False)))
    out += _each(ctx, data.get("reactGroups"), "reactGroups", lambda r: _reaction(ctx, r, True))
    return out


def _typing(ctx: _Ctx, action: Any) -> Typing | UnknownEvent:
    if not isinstance(action, dict) or action.get("act_type") != "typing":
        return ctx.unknown("not a typing action", action)
    raw = action.get("data")
    data = _obj("{" + raw + "}" if isinstance(raw, str) else raw, "typing data")
    act = action.get("act")
    if act == "typing":
        uid = _s(data.get("uid"))
        return Typing(
            thread_id=uid,
            thread_type="user",
            user_id=uid,
            ts_ms=_i(data.get("ts")),
            is_pc=bool(_i(data.get("isPC"))),
        )
    if act == "gtyping":
        return Typing(
            thread_id=_s(data.get("gid")),
            thread_type="group",
            user_id=_s(data.get("uid")),
            ts_ms=_i(data.get("ts")),
            is_pc=bool(_i(data.get("isPC"))),
        )
    return ctx.unknown(f"unknown typing act {act!r}", action)


def _receipts(ctx: _Ctx, data: dict[str, Any], group: bool) -> list[Event]:
    thread_type: ThreadType = "group" if group else "user"
    me = ctx.own_uid

    def delivered(d: Any) -> Delivered:
        d = _obj(d, "delivered")
        uids = _ids(d.get("deliveredUids"))
        thread = _s(d.get("groupId")) if group else (uids[0] if uids else "")
        return Delivered(
            thread_id=thread,
            thread_type=thread_type,
            msg_id=_s(d.get("msgId")),
            real_msg_id=_s(d.get("realMsgId")),
            delivered_uids=uids,
            seen_uids=_ids(d.get("seenUids")),
            seen=bool(_i(d.get("seen"))),
            ts_ms=_i(d.get("mSTs")),
            is_self=group and bool(me) and me in uids,
        )

    def seen(s: Any) -> Seen:
        s = _obj(s, "seen")
        if group:
            uids = _ids(s.get("seenUids"))
            return Seen(
                thread_id=_s(s.get("groupId")),
                thread_type="group",
                msg_id=_s(s.get("msgId")),
                real_msg_id=_s(s.get("realMsgId")),
                seen_uids=uids,
                is_self=bool(me) and me in uids,
            )
        reader = _s(s.get("idTo"))
        return Seen(
            thread_id=reader,
            thread_type="user",
            msg_id=_s(s.get("msgId")),
            real_msg_id=_s(s.get("realMsgId")),
            seen_uids=(reader,) if reader else (),
            is_self=False,
        )

    out = list(_each(ctx, data.get("delivereds"), "delivereds", delivered))
    out += _each(ctx, data.get("groupSeens" if group else "seens"), "seens", seen)
    return out


_GROUP_ACTS = frozenset(
    {
        "join_request",
        "join",
        "leave",
        "remove_member",
        "block_member",
        "update_setting",
        "update",
        "new_link",
        "add_admin",
        "remove_admin",
        "new_pin_topic",
        "update_pin_topic",
        "reorder_pin_topic",
        "update_board",
        "remove_board",
        "update_topic",
        "unpin_topic",
        "remove_topic",
        "accept_remind",
        "reject_remind",
        "remind_topic",
        "update_avatar",
    }
)

_FRIEND_KINDS = {
    "add": "add",
    "remove": "remove",
    "block": "block",
    "unblock": "unblock",
    "block_call": "block_call",
    "unblock_call": "unblock_call",
    "req_v2": "request",
    "reject": "reject_request",
    "undo_req": "undo_request",
    "seen_fr_req": "seen_request",
    "pin_unpin": "pin_unpin",
    "pin_create": "pin_create",
}


def _group_event(ctx: _Ctx, act: str, raw: Any) -> GroupEvent:
    data = _obj(raw, "group event data")
    kind = act if act in _GROUP_ACTS else "unknown"
    me = ctx.own_uid
    if kind == "join_request":
        is_self = False
    elif kind in ("new_pin_topic", "unpin_topic", "update_pin_topic", "reorder_pin_topic"):
        is_self = _s(data.get("actorId")) == me
    elif kind in ("update_board", "remove_board"):
        is_self = _s(data.get("sourceId")) == me
    elif kind in ("accept_remind", "reject_remind"):
        is_self = me in _ids(data.get("updateMembers"))
    elif kind == "remind_topic":
        is_self = _s(data.get("creatorId")) == me
    else:
        members = data.get("updateMembers")
        ids = [_s(m.get("id")) for m in members if isinstance(m, dict)] if members else []
        is_self = me in ids or _s(data.get("sourceId")) == me
    return GroupEvent(
        kind=kind,
        act=act,
        group_id=_s(data.get("group_id", data.get("groupId"))),
        is_self=bool(me) and is_self,
        data=data,
    )


def _friend_event(ctx: _Ctx, act: str, raw: Any) -> FriendEvent:
    data: Any = raw
    if isinstance(raw, str):
        try:
            data = json.loads(raw)
        except ValueError:
            data = raw
        if isinstance(data, int | float):
            data = raw  # a bare uid: keep the exact digits
    kind = _FRIEND_KINDS.get(act, "unknown")
    me = ctx.own_uid
    thread, is_self = "", False
    if kind in ("add", "remove", "block", "unblock", "block_call", "unblock_call"):
        thread, is_self = _s(data), kind not in ("add", "remove")
    elif kind in ("request", "reject_request", "undo_request"):
        obj = _obj(data, "friend event data")
        thread, is_self = _s(obj.get("toUid")), _s(obj.get("fromUid")) == me
    elif kind == "seen_request":
        thread, is_self = me, True
    elif kind in ("pin_create", "pin_unpin"):
        obj = _obj(data, "friend event data")
        topic = obj.get("topic")
        if isinstance(topic, dict) and isinstance(topic.get("params"), str):
            with contextlib.suppress(ValueError):
                obj = {**obj, "topic": {**topic, "params": json.loads(topic["params"])}}
        data = obj
        thread, is_self = _s(obj.get("conversationId")), _s(obj.get("actorId")) == me
    return FriendEvent(kind=kind, act=act, thread_id=thread, is_self=is_self, data=data)


def _controls(ctx: _Ctx, data: dict[str, Any]) -> list[Event]:
    def control(item: Any) -> Event | None:
        content = _obj(item, "control").get("content")
        content = _obj(content, "control content")
        act_type, act = content.get("act_type"), _s(content.get("act"))
        if act_type == "file_done":
            url = _obj(content.get("data"), "file_done data").get("url")
            if not isinstance(url, str) or not url:
                raise ValueError("file_done without a url")
            return FileDone(_s(content.get("fileId")), url)
        if act_type == "group":
            # Zalo sends join_reject together with join when an admin approves requests.
            return None if act == "join_reject" else _group_event(ctx, act, content.get("data"))
        if act_type == "fr":
            # "req" duplicates "req_v2".
            return None if act == "req" else _friend_event(ctx, act, content.get("data"))
        return ctx.unknown(f"unknown control act_type {act_type!r}", item)

    return list(_each(ctx, data.get("controls"), "controls", control))


def _req_id(payload: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    return _s(payload.get("req_id", data.get("req_id")))


def parse_event(cmd: int, sub_cmd: int, payload: Any, *, own_uid: str) -> list[Event]:
    """The events in one decoded event payload (``{"data": {...}}``); never raises.

    Args:
        cmd: frame ``cmd`` (501 DM, 521 group, 502/522 receipts, 601 controls, 602 typing,
            612 reactions, 510/511 and 610/611 history answers).
        sub_cmd: frame ``sub_cmd``.
        payload: the decoded envelope value (see ``frames.decode_event``).
        own_uid: the account's uid, to resolve ``"0"`` and flag ``is_self``.
    """
    ctx = _Ctx(cmd, sub_cmd, own_uid)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return [ctx.unknown("payload has no 'data' object", payload)]
    try:
        if cmd == 501 and sub_cmd == 0:
            return _messages(ctx, data, group=False)
        if cmd == 521 and sub_cmd == 0:
            return _messages(ctx, data, group=True)
        if cmd in (502, 522) and sub_cmd == 0:
            return _receipts(ctx, data, group=cmd == 522)
        if cmd == 601 and sub_cmd == 0:
            return _controls(ctx, data)
        if cmd == 602 and sub_cmd == 0:
            return list(_each(ctx, data.get("actions"), "actions", lambda a: _typing(ctx, a)))
        if cmd == 612:
            return _reactions(ctx, data)
        if cmd in (510, 511) and sub_cmd == 1:
            group = cmd == 511
            msgs = tuple(
                e
                for e in _messages(ctx, data, group)
                if isinstance(e, UserMessage | GroupMessage | Undo)
            )
            thread_type: ThreadType = "group" if group else "user"
            return [
                OldMessages(thread_type=thread_type, messages=msgs, req_id=_req_id(payload, data))
            ]
        if cmd in (610, 611):
            group = cmd == 611
            key = "reactGroups" if group else "reacts"
            reactions = tuple(
                e
                for e in _each(ctx, data.get(key), key, lambda r: _reaction(ctx, r, group))
                if isinstance(e, Reaction)
            )
            return [
                OldReactions(
                    thread_type="group" if group else "user",
                    reactions=reactions,
                    req_id=_req_id(payload, data),
                )
            ]
    except Exception as exc:  # a parser bug must not take the listener down
        return [ctx.unknown(f"parse failed: {type(exc).__name__}: {exc}", payload)]
    return [ctx.unknown("unhandled event", data)]
