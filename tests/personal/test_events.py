"""Typed events parsed from decoded websocket payloads (reference §3.5-§3.7)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zalogate.personal.event_parsing import parse_event
from zalogate.personal.events import (
    Delivered,
    FileDone,
    FriendEvent,
    GroupEvent,
    GroupMessage,
    OldMessages,
    OldReactions,
    Reaction,
    ReactionTarget,
    Seen,
    Typing,
    Undo,
    UnknownEvent,
    UserMessage,
)
from zalogate.personal.spans import Mention
from zalogate.text import utf16_len, utf16_slice

from .vectors import vector_message

ME, ALICE, CAROL, GROUP = "1001", "2000000000000000001", "2002", "9001"


def message(**over: Any) -> dict[str, Any]:
    return vector_message(**{"uidFrom": ALICE, **over})


def parse(cmd: int, data: Any, sub_cmd: int = 0, **payload: Any) -> list[Any]:
    return parse_event(cmd, sub_cmd, {"data": data, **payload}, own_uid=ME)


def test_inbound_dm_is_a_user_message_from_the_sender() -> None:
    (event,) = parse(501, {"msgs": [message()]})
    assert isinstance(event, UserMessage)
    assert event.thread_type == "user"
    assert (event.thread_id, event.sender_id, event.to_id) == (ALICE, ALICE, ME)
    assert (event.msg_id, event.cli_msg_id, event.ts_ms) == (
        "7000000000002",
        "1700000000123",
        1700000000123,
    )
    assert event.text == "hello"
    assert event.attachment is None
    assert event.is_self is False
    assert event.sender_name == "Alice"


def test_dm_sent_from_another_session_is_a_self_message_in_the_recipients_thread() -> None:
    (event,) = parse(501, {"msgs": [message(uidFrom="0", idTo=ALICE)]})
    assert isinstance(event, UserMessage)
    assert event.is_self is True
    assert (event.thread_id, event.sender_id, event.to_id) == (ALICE, ME, ALICE)


def test_numeric_ids_become_exact_strings() -> None:
    (event,) = parse(501, {"msgs": [message(msgId=2**60 + 1, uidFrom=int(ALICE), ts=17)]})
    assert event.msg_id == str(2**60 + 1)
    assert event.sender_id == ALICE
    assert event.ts_ms == 17


def test_group_message_keeps_utf16_mentions_and_all_mentions() -> None:
    text = "👋 @Bot và @All xem"
    at_bot = utf16_len("👋 ")
    at_all = utf16_len("👋 @Bot và ")
    mentions = [
        {"uid": ME, "pos": at_bot, "len": 4, "type": 0},
        {"uid": "-1", "pos": at_all, "len": 4, "type": 1},
        {"uid": "", "pos": 0, "len": 3, "type": 0},  # dropped: no uid
        {"uid": CAROL, "pos": -1, "len": 3, "type": 0},  # dropped: negative position
    ]
    raw = message(idTo=GROUP, cmd=521, content=text, mentions=mentions)
    (event,) = parse(521, {"groupMsgs": [raw]})
    assert isinstance(event, GroupMessage)
    assert event.thread_type == "group"
    assert event.thread_id == GROUP
    assert event.mentions == (Mention(ME, at_bot, 4, 0), Mention("-1", at_all, 4, 1))
    assert [m.text_in(text) for m in event.mentions] == ["@Bot", "@All"]
    assert event.mentions[1].is_all
    assert not event.mentions[0].is_all


def test_own_group_message_from_another_session_is_self() -> None:
    (event,) = parse(521, {"groupMsgs": [message(uidFrom="0", idTo=GROUP)]})
    assert isinstance(event, GroupMessage)
    assert event.is_self
    assert event.sender_id == ME
    assert event.thread_id == GROUP


def test_reply_carries_the_quote() -> None:
    quote = {
        "ownerId": 2000000000000000001,
        "cliMsgId": "1699999999000",
        "globalMsgId": "6999999999999",
        "cliMsgType": 1,
        "ts": "1699999999000",
        "msg": "original",
        "attach": "",
        "fromD": "Bot",
        "ttl": 0,
    }
    (event,) = parse(501, {"msgs": [message(quote=quote)]})
    assert event.quote is not None
    assert event.quote.owner_id == ALICE
    assert (event.quote.msg_id, event.quote.cli_msg_id) == ("6999999999999", "1699999999000")
    assert event.quote.text == "original"
    assert event.quote.from_name == "Bot"


def test_attachment_content_is_kept_as_an_object() -> None:
    photo = {"title": "", "href": "https://photo/x.jpg", "thumb": "t", "width": 4, "height": 3}
    (event,) = parse(501, {"msgs": [message(msgType="chat.photo", content=photo)]})
    assert event.attachment == photo
    assert event.text == ""


def test_undo_in_dm_and_group() -> None:
    undo = {"deleteMsg": 1, "globalMsgId": "7000000000002", "cliMsgId": "17", "srcId": ALICE}
    (dm,) = parse(501, {"msgs": [message(msgType="chat.undo", content=undo, msgId="8")]})
    assert isinstance(dm, Undo)
    assert (dm.thread_type, dm.thread_id, dm.undone_msg_id, dm.undone_cli_msg_id) == (
        "user",
        ALICE,
        "7000000000002",
        "17",
    )
    (grp,) = parse(521, {"groupMsgs": [message(idTo=GROUP, uidFrom="0", content=undo)]})
    assert isinstance(grp, Undo)
    assert grp.thread_id == GROUP
    assert grp.is_self
    assert grp.sender_id == ME


def reaction(icon: str, r_type: int, **over: Any) -> dict[str, Any]:
    content = {
        "rMsg": [{"gMsgID": "7000000000002", "cMsgID": "1700000000123", "msgType": 1}],
        "rIcon": icon,
        "rType": r_type,
        "source": 6,
    }
    base = {
        "actionId": "5",
        "msgId": "7000000000009",
        "cliMsgId": "1700000000999",
        "msgType": "chat.reaction",
        "uidFrom": ALICE,
        "idTo": "0",
        "dName": "Alice",
        "content": json.dumps(content),
        "ts": "1700000000999",
        "ttl": 0,
    }
    base.update(over)
    return base


def test_reactions_in_dms_and_groups_with_json_string_content() -> None:
    events = parse(
        612,
        {
            "reacts": [reaction("/-heart", 5)],
            "reactGroups": [reaction("", -1, idTo=GROUP, uidFrom="0")],
        },
    )
    dm, grp = events
    assert isinstance(dm, Reaction)
    assert isinstance(grp, Reaction)
    assert (dm.thread_type, dm.thread_id, dm.icon, dm.r_type, dm.removed) == (
        "user",
        ALICE,
        "/-heart",
        5,
        False,
    )
    assert dm.targets == (ReactionTarget("7000000000002", "1700000000123", 1),)
    assert (grp.thread_type, grp.thread_id, grp.is_self, grp.removed) == (
        "group",
        GROUP,
        True,
        True,
    )


def test_reactions_with_one_array_missing_still_parse() -> None:
    (event,) = parse(612, {"reacts": [reaction(":>", 0)]}, sub_cmd=3)
    assert isinstance(event, Reaction)
    assert event.icon == ":>"


def test_typing_in_dm_and_group() -> None:
    actions = [
        {"act_type": "typing", "act": "typing", "data": f'"uid":"{ALICE}","ts":"17","isPC":1'},
        {
            "act_type": "typing",
            "act": "gtyping",
            "data": f'"uid":"{CAROL}","gid":"{GROUP}","ts":"18","isPC":0',
        },
    ]
    dm, grp = parse(602, {"actions": actions})
    assert dm == Typing(thread_id=ALICE, thread_type="user", user_id=ALICE, ts_ms=17, is_pc=True)
    assert grp == Typing(thread_id=GROUP, thread_type="group", user_id=CAROL, ts_ms=18)


def test_receipts_for_dms_and_groups() -> None:
    delivered = {
        "msgId": "70",
        "seen": 0,
        "deliveredUids": [ALICE],
        "seenUids": [],
        "realMsgId": "70",
        "mSTs": 1700,
    }
    d, s = parse(502, {"delivereds": [delivered], "seens": [{"idTo": ALICE, "msgId": "70"}]})
    assert d == Delivered(
        thread_id=ALICE,
        thread_type="user",
        msg_id="70",
        real_msg_id="70",
        delivered_uids=(ALICE,),
        seen_uids=(),
        seen=False,
        ts_ms=1700,
        is_self=False,
    )
    assert isinstance(s, Seen)
    assert (s.thread_id, s.msg_id, s.seen_uids) == (ALICE, "70", (ALICE,))
    gd, gs = parse(
        522,
        {
            "delivereds": [{**delivered, "groupId": GROUP, "deliveredUids": [ME]}],
            "groupSeens": [{"msgId": "70", "groupId": GROUP, "seenUids": [CAROL]}],
        },
    )
    assert isinstance(gd, Delivered)
    assert gd.thread_id == GROUP
    assert gd.is_self
    assert isinstance(gs, Seen)
    assert gs.thread_id == GROUP
    assert not gs.is_self
    assert gs.seen_uids == (CAROL,)


def control(act_type: str, act: str = "", data: Any = None, **extra: Any) -> dict[str, Any]:
    return {"content": {"act_type": act_type, "act": act, "data": data, **extra}}


def test_file_done_control() -> None:
    (event,) = parse(
        601, {"controls": [control("file_done", data={"url": "https://f/x"}, fileId=77)]}
    )
    assert event == FileDone("77", "https://f/x")


def test_group_events_with_string_data_and_ignored_join_reject() -> None:
    join = {"groupId": GROUP, "sourceId": CAROL, "updateMembers": [{"id": ME, "dName": "Bot"}]}
    pin = {"groupId": GROUP, "actorId": ME, "topic": {}}
    events = parse(
        601,
        {
            "controls": [
                control("group", "join", json.dumps(join)),
                control("group", "join_reject", json.dumps(join)),
                control("group", "new_pin_topic", pin),
                control("group", "brand_new_act", {"groupId": GROUP}),
            ]
        },
    )
    assert [type(e) for e in events] == [GroupEvent, GroupEvent, GroupEvent]
    first, second, third = events
    assert (first.kind, first.group_id, first.is_self) == ("join", GROUP, True)
    assert first.data["sourceId"] == CAROL
    assert (second.kind, second.is_self) == ("new_pin_topic", True)
    assert (third.kind, third.act, third.is_self) == ("unknown", "brand_new_act", False)


def test_friend_events() -> None:
    request = {"toUid": ME, "fromUid": ALICE, "src": 1, "message": "hi"}
    pin = {
        "topic": {"params": json.dumps({"title": "t"})},
        "actorId": ME,
        "conversationId": ALICE,
    }
    events = parse(
        601,
        {
            "controls": [
                control("fr", "add", ALICE),
                control("fr", "req", json.dumps(request)),  # duplicate of req_v2: ignored
                control("fr", "req_v2", json.dumps(request)),
                control("fr", "block", ALICE),
                control("fr", "pin_create", json.dumps(pin)),
                control("fr", "whatever", "x"),
            ]
        },
    )
    assert all(isinstance(e, FriendEvent) for e in events)
    assert [(e.kind, e.thread_id, e.is_self) for e in events] == [
        ("add", ALICE, False),
        ("request", ME, False),
        ("block", ALICE, True),
        ("pin_create", ALICE, True),
        ("unknown", "", False),
    ]
    assert events[0].data == ALICE  # a bare uid keeps its digits (not a float)
    assert events[3].data["topic"]["params"] == {"title": "t"}


def test_history_answers() -> None:
    (old,) = parse(
        510, {"msgs": [message(), message(uidFrom="0", idTo=ALICE)]}, sub_cmd=1, req_id="req_3"
    )
    assert isinstance(old, OldMessages)
    assert old.thread_type == "user"
    assert old.req_id == "req_3"
    assert [m.is_self for m in old.messages] == [False, True]
    (reacts,) = parse(611, {"reactGroups": [reaction(":o", 32, idTo=GROUP)]}, sub_cmd=1)
    assert isinstance(reacts, OldReactions)
    assert reacts.reactions[0].thread_id == GROUP


def test_bad_items_become_unknown_events_beside_the_good_ones() -> None:
    events = parse(501, {"msgs": [message(), "junk", message(msgId="9")]})
    assert [type(e) for e in events] == [UserMessage, UnknownEvent, UserMessage]
    assert events[1].data == "junk"
    events = parse(612, {"reacts": [reaction(":>", 0, content="{not json")], "reactGroups": []})
    assert isinstance(events[0], UnknownEvent)
    assert "JSONDecodeError" in events[0].reason
    (typing,) = parse(602, {"actions": [{"act_type": "typing", "act": "typing", "data": "{{"}]})
    assert isinstance(typing, UnknownEvent)


def test_unknown_commands_and_shapes_are_unknown_events() -> None:
    assert parse_event(777, 0, {"data": {"x": 1}}, own_uid=ME) == [
        UnknownEvent(777, 0, "unhandled event")
    ]
    assert parse_event(501, 0, [1, 2], own_uid=ME) == [
        UnknownEvent(501, 0, "payload has no 'data' object")
    ]
    (bad,) = parse(501, {"msgs": {"not": "a list"}})
    assert isinstance(bad, UnknownEvent)
    assert "not a list" in bad.reason


def test_receipt_entry_follows_zcajs() -> None:
    (dm,) = parse(501, {"msgs": [message()]})
    assert dm.receipt_entry() == {
        "cmi": "1700000000123",
        "gmi": "7000000000002",
        "si": ALICE,
        "di": "0",
        "mt": "webchat",
        "st": 0,
        "at": 0,
        "cmd": 0,
        "ts": 0,
    }
    raw = message(idTo=GROUP)
    del raw["at"]
    (grp,) = parse(521, {"groupMsgs": [raw]})
    entry = grp.receipt_entry()
    assert (entry["di"], entry["at"], entry["st"]) == (GROUP, -1, 0)


def test_utf16_helpers() -> None:
    assert utf16_len("a👋b") == 4
    assert utf16_slice("a👋b@Bot", 4, 4) == "@Bot"
    assert utf16_slice("hello", 1, 3) == "ell"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=6,
)
shaped = st.fixed_dictionaries(
    {},
    optional={
        "msgs": st.lists(
            st.dictionaries(st.sampled_from(list(message())), json_values), max_size=3
        ),
        "groupMsgs": json_values,
        "controls": st.lists(st.fixed_dictionaries({"content": json_values}), max_size=3),
        "actions": json_values,
        "reacts": json_values,
        "reactGroups": json_values,
        "delivereds": json_values,
        "seens": json_values,
        "groupSeens": json_values,
    },
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cmd=st.sampled_from([501, 502, 510, 511, 521, 522, 601, 602, 610, 611, 612, 9]),
    sub_cmd=st.sampled_from([0, 1]),
    data=shaped | json_values,
)
def test_parse_event_never_raises(cmd: int, sub_cmd: int, data: Any) -> None:
    events = parse_event(cmd, sub_cmd, {"data": data}, own_uid=ME)
    assert isinstance(events, list)
