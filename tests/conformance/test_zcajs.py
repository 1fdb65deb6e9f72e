"""Conformance: the reference client zca-js speaks to FakeZaloPersonal without complaint.

If zca-js and the simulator disagree, the simulator is wrong: these tests are the evidence
that the fake (and therefore our own client, tested against it) speaks Zalo's protocol.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from zalogate.testing import FakeZaloPersonal

from .conftest import ALICE, BOT, CAROL, GROUP, GROUP_THREAD, UA, USER

pytestmark = [pytest.mark.node, pytest.mark.slow]


async def _qr_login(js: Any, fake: FakeZaloPersonal) -> dict[str, Any]:
    login = asyncio.create_task(js.call("login_qr", userAgent=UA))
    await fake.qr.wait_generated()
    await js.event("qr_generated")
    fake.qr.scan(BOT)
    scanned = await js.event("qr_scanned")
    assert scanned["data"]["display_name"] == "Bot"
    fake.qr.confirm()
    result = await login
    assert result == {"uid": BOT}
    return (await js.event("got_login_info"))["data"]


async def test_zcajs_full_session_against_the_fake(
    fake: FakeZaloPersonal, start_zcajs: Any
) -> None:
    async with start_zcajs(fake.base_url) as js:
        creds = await _qr_login(js, fake)
        assert creds["imei"].endswith("-a69b52f9d7f760edf3fd052bcda2542f")
        assert {c["key"] for c in creds["cookie"]} >= {"zpw_sek"}

        await js.call("listen")
        await fake.wait_for_listener(BOT)

        # DM out: zca-js -> fake -> recorded (and pushed to Alice if she listened).
        sent = await js.call("send", message="xin chào", threadId=ALICE, threadType=USER)
        record = await fake.wait_for_sent(kind="text", thread_id=ALICE)
        assert record.text == "xin chào"
        assert str(sent["message"]["msgId"]) == record.msg_id

        # DM in: a scripted user writes, zca-js's listener decodes the encrypted 501.
        msg = await fake.user(ALICE).says_to(BOT, "chào bot 👋")
        got = await js.event("message", lambda e: e["type"] == USER)
        assert got["threadId"] == ALICE
        assert got["data"]["content"] == "chào bot 👋"
        assert got["data"]["msgId"] == msg["msgId"]
        assert got["isSelf"] is False

        # Group out with a mention.
        text = "@Alice hello team"
        await js.call(
            "send",
            message={"msg": text, "mentions": [{"pos": 0, "uid": ALICE, "len": 6}]},
            threadId=GROUP,
            threadType=GROUP_THREAD,
        )
        grec = await fake.wait_for_sent(kind="text", thread_id=GROUP)
        assert grec.text == text
        assert grec.endpoint.endswith("/group/mention")
        assert grec.mentions[0]["uid"] == ALICE

        # Group in with a mention of the bot (521 fan-out).
        await fake.group(GROUP).user(CAROL).says("@Bot ping", mentions=[BOT])
        gin = await js.event("message", lambda e: e["type"] == GROUP_THREAD)
        assert gin["threadId"] == GROUP
        assert gin["data"]["uidFrom"] == CAROL
        assert gin["data"]["mentions"] == [{"uid": BOT, "pos": 0, "len": 4, "type": 0}]

        # Reaction on the received DM.
        await js.call(
            "react",
            icon="/-heart",
            msgId=got["data"]["msgId"],
            cliMsgId=got["data"]["cliMsgId"],
            threadId=ALICE,
            threadType=USER,
        )
        react = await fake.wait_for_sent(kind="reaction")
        assert react.msg_id == msg["msgId"]
        assert react.params["reaction"]["rType"] == 5

        # Directory calls decode the inner envelope.
        friends = await js.call("call", name="getAllFriends")
        assert [f["userId"] for f in friends] == [ALICE]
        groups = await js.call("call", name="getAllGroups")
        assert list(groups["gridVerMap"]) == [GROUP]
        info = await js.call("call", name="getGroupInfo", args=[GROUP])
        assert info["gridInfoMap"][GROUP]["name"] == "Team"
        me = await js.call("call", name="fetchAccountInfo")
        assert me["profile"]["userId"] == BOT

        # Cookie login with the saved credentials from a second process: the first listener
        # is told about the duplicate connection and closes itself with 3000.
        async with start_zcajs(fake.base_url) as js2:
            result = await js2.call("login_cookie", credentials=creds)
            assert result == {"uid": BOT}
            await js2.call("listen")
            closed = await js.event("closed")
            assert closed["code"] == 3000
            await fake.user(ALICE).says_to(BOT, "again")
            again = await js2.event("message")
            assert again["data"]["content"] == "again"


async def test_zcajs_sees_declined_qr(fake: FakeZaloPersonal, start_zcajs: Any) -> None:
    async with start_zcajs(fake.base_url) as js:
        login = asyncio.create_task(js.call_raw("login_qr", userAgent=UA))
        await fake.qr.wait_generated()
        fake.qr.scan(BOT)
        await js.event("qr_scanned")
        fake.qr.decline()
        declined = await js.event("qr_declined")
        assert declined["data"]["code"] == fake.qr.sessions[-1].code
        reply = await login
        assert not reply["ok"]


async def send_notes(js: Any, thread: str, kind: int) -> None:
    """zca-js sends ``notes.txt`` (an async file: upload, ``file_done``, then the send)."""
    await js.call(
        "send_attachment",
        base64="aGVsbG8gd29ybGQ=",
        filename="notes.txt",
        threadId=thread,
        threadType=kind,
    )


async def test_zcajs_receives_file_done_and_sends_file(
    fake: FakeZaloPersonal, start_zcajs: Any
) -> None:
    creds = fake.credentials(BOT, user_agent=UA)
    async with start_zcajs(fake.base_url) as js:
        await js.call("login_cookie", credentials=creds)
        await js.call("listen")
        await send_notes(js, ALICE, USER)
        record = await fake.wait_for_sent(kind="file", thread_id=ALICE)
        assert record.text == "notes.txt"
        done = await js.event("upload_attachment")
        assert done["data"]["fileUrl"].endswith(".txt")

        # Faults as the reference client sees them.
        await fake.kick(BOT)
        assert (await js.event("closed"))["code"] == 3003
        await js.call("listen")
        await fake.drop(BOT)
        assert (await js.event("closed"))["code"] == 1006
        await js.call("listen")
        fake.tamper_next_event(BOT)
        await fake.user(ALICE).says_to(BOT, "garbled")
        await js.event("error")
        await fake.user(ALICE).says_to(BOT, "clean")
        assert (await js.event("message"))["data"]["content"] == "clean"


async def test_zcajs_photo_link_typing_receipts_undo_and_lookups(
    fake: FakeZaloPersonal, start_zcajs: Any
) -> None:
    creds = fake.credentials(BOT, user_agent=UA)
    async with start_zcajs(fake.base_url) as js:
        await js.call("login_cookie", credentials=creds)
        await js.call("listen")

        png = (
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJ"
            "RU5ErkJggg=="
        )
        await js.call(
            "send_attachment",
            base64=png,
            filename="dot.png",
            text="a dot",
            threadId=GROUP,
            threadType=GROUP_THREAD,
        )
        photo = await fake.wait_for_sent(kind="photo", thread_id=GROUP)
        assert photo.text == "a dot"

        await js.call(
            "call", name="sendLink", args=[{"link": "https://example.org/x"}, ALICE, USER]
        )
        link = await fake.wait_for_sent(kind="link", thread_id=ALICE)
        assert "https://example.org/x" in (link.text or "")

        await js.call("call", name="sendTypingEvent", args=[ALICE, USER])
        await fake.wait_for_sent(kind="typing", thread_id=ALICE)

        await fake.user(ALICE).says_to(BOT, "read me")
        inbound = (await js.event("message"))["data"]
        await js.call("call", name="sendDeliveredEvent", args=[True, [inbound], USER])
        await js.call("call", name="sendSeenEvent", args=[[inbound], USER])
        delivered = await fake.wait_for_sent(kind="delivered", thread_id=ALICE)
        seen = await fake.wait_for_sent(kind="seen", thread_id=ALICE)
        assert delivered.msg_id == seen.msg_id == inbound["msgId"]

        sent = await js.call("send", message="oops", threadId=ALICE, threadType=USER)
        record = await fake.wait_for_sent(kind="text", text="oops")
        await js.call(
            "call",
            name="undo",
            args=[
                {"msgId": str(sent["message"]["msgId"]), "cliMsgId": record.cli_msg_id},
                ALICE,
                USER,
            ],
        )
        own = fake.messages[str(sent["message"]["msgId"])]
        await fake.user(ALICE).reacts_to(own, "/-strong", 3)
        reaction = await js.event("reaction")
        assert (reaction["threadId"], reaction["data"]["content"]["rIcon"]) == (ALICE, "/-strong")
        await fake.user(ALICE).types_to(BOT)
        assert (await js.event("typing"))["threadId"] == ALICE
        await fake.user(ALICE).sees(own)
        seen_event = await js.event("seen")
        assert seen_event["items"][0]["data"]["msgId"] == record.msg_id
        undo = await fake.wait_for_sent(kind="undo")
        assert undo.msg_id == record.msg_id

        found = await js.call("call", name="findUser", args=["0900000002"])
        assert found["uid"] == ALICE
        alive = await js.call("call", name="keepAlive")
        assert alive == {"config_vesion": 1}

        fake.fail("message/sms", 114, "simulated limit")
        reply = await js.call_raw("send", message="x", threadId=ALICE, threadType=USER)
        assert not reply["ok"]
        assert "simulated limit" in reply["error"]


async def test_zcajs_group_calls_and_quotes_pass_the_strict_checks(
    fake: FakeZaloPersonal, start_zcajs: Any
) -> None:
    """The calls the other tests leave out, so the strict fake is shown not to refuse them."""
    creds = fake.credentials(BOT, user_agent=UA)
    async with start_zcajs(fake.base_url) as js:
        await js.call("login_cookie", credentials=creds)
        await js.call("listen")
        await fake.group(GROUP).user(CAROL).says("hello team")
        gin = (await js.event("message", lambda e: e["type"] == GROUP_THREAD))["data"]
        await fake.user(ALICE).says_to(BOT, "quote me")
        din = (await js.event("message", lambda e: e["type"] == USER))["data"]

        for quote, thread, kind in ((gin, GROUP, GROUP_THREAD), (din, ALICE, USER)):
            await js.call(
                "send", message={"msg": "re", "quote": quote}, threadId=thread, threadType=kind
            )
            record = await fake.wait_for_sent(kind="text", thread_id=thread)
            assert record.endpoint.endswith("/quote")

        await js.call("call", name="sendTypingEvent", args=[GROUP, GROUP_THREAD])
        await fake.wait_for_sent(kind="typing", thread_id=GROUP)
        await js.call(
            "react",
            icon="/-heart",
            msgId=gin["msgId"],
            cliMsgId=gin["cliMsgId"],
            threadId=GROUP,
            threadType=GROUP_THREAD,
        )
        await fake.wait_for_sent(kind="reaction", thread_id=GROUP)
        await js.call("call", name="sendDeliveredEvent", args=[False, [gin], GROUP_THREAD])
        await js.call("call", name="sendSeenEvent", args=[[gin], GROUP_THREAD])
        await fake.wait_for_sent(kind="delivered", thread_id=GROUP)
        await fake.wait_for_sent(kind="seen", thread_id=GROUP)

        sent = await js.call("send", message="oops", threadId=GROUP, threadType=GROUP_THREAD)
        record = await fake.wait_for_sent(kind="text", text="oops")
        ref = {"msgId": str(sent["message"]["msgId"]), "cliMsgId": record.cli_msg_id}
        await js.call("call", name="undo", args=[ref, GROUP, GROUP_THREAD])
        assert (await fake.wait_for_sent(kind="undo")).thread_id == GROUP

        await send_notes(js, GROUP, GROUP_THREAD)
        assert (await fake.wait_for_sent(kind="file", thread_id=GROUP)).text == "notes.txt"

        for thread, kind, message in ((ALICE, USER, din), (GROUP, GROUP_THREAD, gin)):
            dest = {"threadId": thread, "type": kind, "data": message}
            await js.call("call", name="deleteMessage", args=[dest, True])
            assert (await fake.wait_for_sent(kind="delete", thread_id=thread)).msg_id == (
                message["msgId"]
            )

        users = await js.call("call", name="getUserInfo", args=[ALICE])
        assert ALICE in users["changed_profiles"]
        members = await js.call("call", name="getGroupMembersInfo", args=[[CAROL]])
        assert members["profiles"][CAROL]["displayName"] == "Carol"
        await fake.user("2999").sends_friend_request_to(BOT, "hi")
        await js.call("call", name="acceptFriendRequest", args=["2999"])
        assert "2999" in fake.accounts[BOT].friends


async def test_zcajs_request_old_messages_pages_dms_and_groups(
    fake: FakeZaloPersonal, start_zcajs: Any
) -> None:
    """``requestOldMessages`` (510/511, sub 1): the fake accepts zca-js's exact request, pages
    back with ``lastId``, and answers in the shape zca-js turns into ``old_messages``."""
    creds = fake.credentials(BOT, user_agent=UA)
    fake.history_page_size = 2
    sent = [await fake.user(ALICE).says_to(BOT, f"dm {n}") for n in range(3)]
    await fake.group(GROUP).user(CAROL).says("in the group")
    async with start_zcajs(fake.base_url) as js:
        await js.call("login_cookie", credentials=creds)
        await js.call("listen")
        await js.call("send", message="mine", threadId=ALICE, threadType=USER)
        await fake.wait_for_sent(kind="text", thread_id=ALICE)

        await js.call("request_old_messages", threadType=USER)
        page = await js.event("old_messages", lambda e: e["type"] == USER)
        assert [m["data"]["content"] for m in page["messages"]] == ["dm 2", "mine"]
        assert [m["isSelf"] for m in page["messages"]] == [False, True]
        assert page["messages"][0]["threadId"] == ALICE

        oldest = page["messages"][0]["data"]["msgId"]
        await js.call("request_old_messages", threadType=USER, lastId=oldest)
        page = await js.event("old_messages", lambda e: e["type"] == USER)
        assert [m["data"]["msgId"] for m in page["messages"]] == [
            sent[0]["msgId"],
            sent[1]["msgId"],
        ]

        await js.call("request_old_messages", threadType=GROUP_THREAD)
        groups = await js.event("old_messages", lambda e: e["type"] == GROUP_THREAD)
        assert [(m["threadId"], m["data"]["content"]) for m in groups["messages"]] == [
            (GROUP, "in the group")
        ]
    assert [(cmd, last) for _, cmd, last in fake.history_requests] == [
        (510, None),
        (510, oldest),
        (511, None),
    ]
    assert fake.ws_refusals == []
