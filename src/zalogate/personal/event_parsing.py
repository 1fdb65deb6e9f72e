"""Parsing decoded websocket event payloads into the typed events of `events`.

:func:`parse_event` turns the decoded payload of one event frame (``{"data": {...}}``) into a
list of events. It never raises: anything it does not understand becomes an
:class:`~zalogate.personal.events.UnknownEvent` carrying the raw data and the reason.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from zalogate.personal.events import (
    Delivered,
    Event,
    FileDone,
    FriendEvent,
    GroupEvent,
    GroupMessage,
    OldMessages,
    OldReactions,
    QuotedMessage,
    Reaction,
    ReactionTarget,
    Seen,
    Typing,
    Undo,
    UnknownEvent,
    UserMessage,
)
from zalogate.personal.session import ThreadType
from zalogate.personal.spans import Mention

__all__ = ["parse_event"]


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


def _quote(value: Any) -> QuotedMessage | None:
    if not isinstance(value, dict):
        return None
    return QuotedMessage(
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
            thread_type=ThreadType.GROUP if group else ThreadType.USER,
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
        thread_type=ThreadType.GROUP if group else ThreadType.USER,
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
            thread_type=ThreadType.USER,
            user_id=uid,
            ts_ms=_i(data.get("ts")),
            is_pc=bool(_i(data.get("isPC"))),
        )
    if act == "gtyping":
        return Typing(
            thread_id=_s(data.get("gid")),
            thread_type=ThreadType.GROUP,
            user_id=_s(data.get("uid")),
            ts_ms=_i(data.get("ts")),
            is_pc=bool(_i(data.get("isPC"))),
        )
    return ctx.unknown(f"unknown typing act {act!r}", action)


def _receipts(ctx: _Ctx, data: dict[str, Any], group: bool) -> list[Event]:
    thread_type: ThreadType = ThreadType.GROUP if group else ThreadType.USER
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
                thread_type=ThreadType.GROUP,
                msg_id=_s(s.get("msgId")),
                real_msg_id=_s(s.get("realMsgId")),
                seen_uids=uids,
                is_self=bool(me) and me in uids,
            )
        reader = _s(s.get("idTo"))
        return Seen(
            thread_id=reader,
            thread_type=ThreadType.USER,
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
            thread_type: ThreadType = ThreadType.GROUP if group else ThreadType.USER
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
                    thread_type=ThreadType.GROUP if group else ThreadType.USER,
                    reactions=reactions,
                    req_id=_req_id(payload, data),
                )
            ]
    except Exception as exc:  # a parser bug must not take the listener down
        return [ctx.unknown(f"parse failed: {type(exc).__name__}: {exc}", payload)]
    return [ctx.unknown("unhandled event", data)]
