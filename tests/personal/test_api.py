"""Every PersonalApi call against FakeZaloPersonal (decrypted request params and answers)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from websockets.asyncio.client import connect

from zalogate.personal import (
    REACTIONS,
    ConfigurationError,
    CustomReaction,
    FileDoneTimeoutError,
    Mention,
    MessageRef,
    PersonalApi,
    Quote,
    Style,
    TextStyle,
    ThreadType,
    Urgency,
    ZaloPersonal,
)
from zalogate.personal.file_done import FileDoneRegistry
from zalogate.personal.image_size import image_size
from zalogate.testing import FakeZaloPersonal
from zalogate.testing.fake_personal import wire

BOT, ALICE, CAROL, GROUP = "1001", "2001", "2002", "9001"
GROUP_T = ThreadType.GROUP
PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJRU5ErkJggg=="
)


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Counts requests by path on their way to the real fake."""

    def __init__(self) -> None:
        self.inner = httpx2.AsyncHTTPTransport()
        self.paths: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        self.paths.append(request.url.path)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def bot(logged_in: Any) -> ZaloPersonal:
    zp: ZaloPersonal = await logged_in(BOT)
    return zp


@pytest.fixture
async def recorded(
    fake: FakeZaloPersonal, endpoints: Any, credentials_of: Any
) -> AsyncIterator[tuple[ZaloPersonal, RecordingTransport]]:
    transport = RecordingTransport()
    async with ZaloPersonal(endpoints=endpoints, transport=transport) as zp:
        await zp.login_cookie(credentials_of(BOT))
        yield zp, transport


# ---------------------------------------------------------------- text


async def test_dm_text_sends_the_reference_params(
    fake: FakeZaloPersonal, bot: ZaloPersonal
) -> None:
    sent = await bot.api.send_text(ALICE, "xin chào")
    record = await fake.wait_for_sent(kind="text")
    assert record.endpoint == "/api/message/sms"
    assert list(record.params) == ["message", "clientId", "imei", "ttl", "toid"]
    assert record.params["imei"] == bot.session.imei
    assert (record.thread_id, record.text, record.msg_id) == (ALICE, "xin chào", sent.msg_id)
    assert record.cli_msg_id == sent.cli_msg_id
    again = await bot.api.send_text(ALICE, "again")
    assert int(again.cli_msg_id) > int(sent.cli_msg_id)


async def test_group_text_mentions_use_utf16_positions(
    fake: FakeZaloPersonal, bot: ZaloPersonal
) -> None:
    text = "👋 @Alice and @Carol"
    mentions = [Mention.of(text, "@Alice", ALICE), Mention.of(text, "@Carol", CAROL)]
    assert [(m.pos, m.length) for m in mentions] == [(3, 6), (14, 6)]
    await bot.api.send_text(GROUP, text, thread_type=GROUP_T, mentions=mentions)
    record = await fake.wait_for_sent(kind="text", thread_id=GROUP)
    assert record.endpoint == "/api/group/mention"
    assert list(record.mentions) == [
        {"pos": 3, "uid": ALICE, "len": 6, "type": 0},
        {"pos": 14, "uid": CAROL, "len": 6, "type": 0},
    ]
    await bot.api.send_text(GROUP, "@All hi", thread_type=GROUP_T, mentions=[Mention("-1", 0, 4)])
    everyone = await fake.wait_for_sent(kind="text", text="@All hi")
    assert everyone.mentions[0]["type"] == 1


async def test_group_text_without_mentions_uses_sendmsg(
    fake: FakeZaloPersonal, bot: ZaloPersonal
) -> None:
    await bot.api.send_text(GROUP, "plain", thread_type=GROUP_T)
    record = await fake.wait_for_sent(kind="text", thread_id=GROUP)
    assert record.endpoint == "/api/group/sendmsg"
    assert record.params["visibility"] == 0
    assert "mentionInfo" not in record.params


async def test_dm_ignores_mentions_like_the_web_client(
    fake: FakeZaloPersonal, bot: ZaloPersonal
) -> None:
    await bot.api.send_text(ALICE, "@Alice", mentions=[Mention(ALICE, 0, 6)])
    record = await fake.wait_for_sent(kind="text")
    assert record.endpoint == "/api/message/sms"
    assert "mentionInfo" not in record.params


async def test_styles_urgency_and_ttl_are_sent(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    text = "chào bold red"
    styles = [
        TextStyle.of(text, "bold", Style.BOLD),
        TextStyle.of(text, "red", Style.RED),
        TextStyle(0, 4, Style.indent(2)),
    ]
    await bot.api.send_text(ALICE, text, styles=styles, urgency=Urgency.URGENT, ttl_ms=60_000)
    record = await fake.wait_for_sent(kind="text")
    props = json.loads(record.params["textProperties"])
    assert props == {
        "styles": [
            {"start": 5, "len": 4, "st": "b"},
            {"start": 10, "len": 3, "st": "c_db342e"},
            {"start": 0, "len": 4, "st": "ind_20"},
        ],
        "ver": 0,
    }
    assert record.params["metaData"] == {"urgency": 2}
    assert record.params["ttl"] == 60_000


async def test_quote_reply_in_dm_and_group(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    incoming = await fake.user(ALICE).says_to(BOT, "question?")
    await bot.api.send_text(ALICE, "answer", quote=Quote.from_message(incoming))
    record = await fake.wait_for_sent(kind="text")
    assert record.endpoint == "/api/message/quote"
    p = record.params
    assert (p["qmsgOwner"], p["qmsgId"], p["qmsgCliId"]) == (
        ALICE,
        incoming["msgId"],
        incoming["cliMsgId"],
    )
    assert (p["qmsg"], p["qmsgType"], p["toid"]) == ("question?", 1, ALICE)
    said = await fake.group(GROUP).user(CAROL).says("group q")
    await bot.api.send_text(GROUP, "group a", thread_type=GROUP_T, quote=Quote.from_message(said))
    grec = await fake.wait_for_sent(kind="text", thread_id=GROUP)
    assert grec.endpoint == "/api/group/quote"
    assert grec.params["grid"] == GROUP
    assert json.loads(grec.params["qmsgAttach"]) == {}


async def test_quoting_an_own_message_names_the_real_owner(
    fake: FakeZaloPersonal, bot: ZaloPersonal
) -> None:
    mine = {"msgId": "7", "cliMsgId": "8", "uidFrom": "0", "msgType": "webchat", "content": "x"}
    await bot.api.send_text(ALICE, "follow-up", quote=Quote.from_message(mine))
    record = await fake.wait_for_sent(kind="text")
    assert record.params["qmsgOwner"] == BOT


@pytest.mark.parametrize(
    ("text", "mentions", "styles", "fragment"),
    [
        ("", (), (), "empty"),
        ("@A", (Mention(ALICE, 0, 5),), (), "outside the text"),
        ("abc", (), (TextStyle(2, 5, "b"),), "outside the text"),
    ],
)
async def test_invalid_text_is_refused_before_sending(
    fake: FakeZaloPersonal,
    bot: ZaloPersonal,
    text: str,
    mentions: tuple[Mention, ...],
    styles: tuple[TextStyle, ...],
    fragment: str,
) -> None:
    with pytest.raises(ConfigurationError, match=fragment):
        await bot.api.send_text(GROUP, text, thread_type=GROUP_T, mentions=mentions, styles=styles)
    assert fake.sent == []


def test_quote_rules_follow_the_web_client() -> None:
    with pytest.raises(ConfigurationError):
        Quote.from_message({"msgType": "group.poll", "content": "x"})
    with pytest.raises(ConfigurationError):
        Quote.from_message({"msgType": "webchat", "content": {"title": "x"}})
    photo = Quote.from_message(
        {"msgType": "chat.photo", "content": {"href": "h", "thumb": "t"}, "uidFrom": "5"}
    )
    assert photo.attach == {
        "href": "h",
        "thumb": "t",
        "thumbUrl": "t",
        "oriUrl": "h",
        "normalUrl": "h",
    }
    with pytest.raises(ConfigurationError, match="not in the message"):
        Mention.of("hello", "@Bob", "1")


# ---------------------------------------------------------------- attachments


async def test_image_is_uploaded_in_chunks_then_sent(
    fake: FakeZaloPersonal, recorded: tuple[ZaloPersonal, RecordingTransport]
) -> None:
    zp, transport = recorded
    settings = dict(zp.session.settings)
    settings["features"] = {
        **settings["features"],
        "sharefile": {**settings["features"]["sharefile"], "chunk_size_file": 30},
    }
    api = PersonalApi(dataclasses.replace(zp.session, settings=settings), zp.http)
    sent = await api.send_image(
        GROUP, PNG_1PX, filename="dot.png", thread_type=GROUP_T, caption="a dot"
    )
    record = await fake.wait_for_sent(kind="photo", thread_id=GROUP)
    assert record.msg_id == sent.msg_id
    assert record.text == "a dot"
    assert (record.params["width"], record.params["height"]) == (1, 1)
    assert record.params["oriUrl"] == record.params["rawUrl"]
    chunks = math_ceil(len(PNG_1PX), 30)
    assert transport.paths.count("/api/group/photo_original/upload") == chunks
    assert chunks > 1
    media = await zp.http.request("GET", record.params["rawUrl"])
    assert media.content == PNG_1PX


def math_ceil(n: int, d: int) -> int:
    return -(-n // d)


async def test_image_size_needs_a_known_format(bot: ZaloPersonal) -> None:
    assert image_size(PNG_1PX) == (1, 1)
    with pytest.raises(ConfigurationError, match="width"):
        await bot.api.send_image(ALICE, b"not an image", filename="x.jpg")
    await bot.api.send_image(ALICE, b"raw", filename="x.jpg", width=3, height=4)


async def test_restricted_and_oversized_files_are_refused(bot: ZaloPersonal) -> None:
    with pytest.raises(ConfigurationError, match=r"\.exe"):
        await bot.api.send_file(ALICE, b"MZ", "setup.exe")
    with pytest.raises(ConfigurationError, match="empty"):
        await bot.api.send_file(ALICE, b"", "a.txt")


async def _forward_file_done(zp: ZaloPersonal, fake: FakeZaloPersonal) -> None:
    """A minimal stand-in listener: forwards file_done controls to the API."""
    ws_url = zp.session.ws_urls[0]
    async with connect(ws_url, additional_headers={"Cookie": zp.http.cookie_header(ws_url)}) as ws:
        _, _, _, hello = wire.decode_frame(await ws.recv())  # type: ignore[arg-type]
        key = base64.b64decode(hello["key"])
        async for frame in ws:
            assert isinstance(frame, bytes)
            _, cmd, _, body = wire.decode_frame(frame)
            if cmd != 601:
                continue
            for control in wire.decode_event(body, key)["data"]["controls"]:
                content = control["content"]
                if content["act_type"] == "file_done":
                    zp.api.resolve_file_done(content["fileId"], content["data"]["url"])
                    return


async def test_file_waits_for_file_done_then_sends(
    fake: FakeZaloPersonal, bot: ZaloPersonal
) -> None:
    forwarder = asyncio.create_task(_forward_file_done(bot, fake))
    await fake.wait_for_listener(BOT)
    data = b"hello world"
    sent = await bot.api.send_file(ALICE, data, "notes.txt", timeout_s=5)
    await forwarder
    record = await fake.wait_for_sent(kind="file")
    assert (record.msg_id, record.text) == (sent.msg_id, "notes.txt")
    assert record.params["checksum"] == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert record.params["extention"] == "txt"
    assert record.params["fileUrl"].endswith(".txt")
    assert bot.api.file_done.pending() == 0


async def test_facade_listener_resolves_file_done_for_send_file(
    fake: FakeZaloPersonal, bot: ZaloPersonal
) -> None:
    relayed: list[str] = []
    async with bot.listener(on_file_done=lambda f, u: relayed.append(f)) as listener:
        await listener.wait_connected(timeout_s=5)
        sent = await bot.api.send_file(GROUP, b"group file", "report.pdf", thread_type=GROUP_T)
    record = await fake.wait_for_sent(kind="file", thread_id=GROUP)
    assert record.msg_id == sent.msg_id
    assert record.endpoint == "/api/group/asyncfile/msg"
    assert relayed == [record.params["fileId"]]


async def test_file_without_file_done_times_out(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    with pytest.raises(FileDoneTimeoutError) as caught:
        await bot.api.send_file(ALICE, b"abc", "a.txt", timeout_s=0.2)
    assert caught.value.retryable
    assert "listener" in str(caught.value)
    assert bot.api.file_done.pending() == 0
    assert not [r for r in fake.sent if r.kind == "file"]


async def test_file_done_arriving_before_the_wait_is_kept() -> None:
    registry = FileDoneRegistry()
    assert registry.resolve("42", "https://f/42") is False
    assert await registry.waiter("42") == "https://f/42"
    fut = registry.waiter("43")
    assert registry.resolve("43", "https://f/43") is True
    assert await fut == "https://f/43"
    assert registry.pending() == 0


# ---------------------------------------------------------------- link, reaction, typing


async def test_link_is_parsed_then_sent(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    await bot.api.send_link(ALICE, "https://example.org/a", text="look")
    record = await fake.wait_for_sent(kind="link")
    assert record.endpoint == "/api/message/link"
    assert record.text == "look https://example.org/a"
    assert record.params["title"] == "Title of https://example.org/a"
    assert record.params["toId"] == ALICE
    await bot.api.send_link(GROUP, "https://example.org/b", thread_type=GROUP_T)
    grec = await fake.wait_for_sent(kind="link", thread_id=GROUP)
    assert grec.endpoint == "/api/group/sendlink"
    assert grec.text == "https://example.org/b"


async def test_reaction_add_and_remove(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    msg = await fake.user(ALICE).says_to(BOT, "react to me")
    ids = {"thread_id": ALICE, "msg_id": msg["msgId"], "cli_msg_id": msg["cliMsgId"]}
    await bot.api.add_reaction("/-heart", **ids)
    first = await fake.wait_for_sent(kind="reaction")
    assert first.params["reaction"]["rType"] == REACTIONS["/-heart"] == 5
    assert first.params["reaction"]["rMsg"][0]["gMsgID"] == int(msg["msgId"])
    await bot.api.remove_reaction(**ids)
    removed = await fake.wait_for_sent(kind="reaction", count=2)
    assert (removed.params["reaction"]["rType"], removed.text) == (-1, "")
    await bot.api.add_reaction(CustomReaction(r_type=200, icon="/-custom"), **ids)
    custom = await fake.wait_for_sent(kind="reaction", count=3)
    assert custom.params["reaction"]["rType"] == 200
    with pytest.raises(ConfigurationError, match="unknown reaction"):
        await bot.api.add_reaction("nope", **ids)


async def test_group_reaction_uses_grid(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    said = await fake.group(GROUP).user(ALICE).says("hi all")
    await bot.api.add_reaction(
        ":>",
        thread_id=GROUP,
        msg_id=said["msgId"],
        cli_msg_id=said["cliMsgId"],
        thread_type=GROUP_T,
    )
    record = await fake.wait_for_sent(kind="reaction")
    assert record.endpoint == "/api/group/reaction"
    assert record.params["grid"] == GROUP


async def test_typing_in_dm_and_group(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    await bot.api.send_typing(ALICE)
    dm = await fake.wait_for_sent(kind="typing")
    assert (dm.thread_id, dm.params["destType"]) == (ALICE, 3)
    await bot.api.send_typing(GROUP, thread_type=GROUP_T)
    group = await fake.wait_for_sent(kind="typing", thread_id=GROUP)
    assert group.endpoint == "/api/group/typing"


# ---------------------------------------------------------------- receipts, undo


async def test_receipts_go_in_batches_of_fifty(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    messages = [await fake.user(ALICE).says_to(BOT, f"m{i}") for i in range(120)]
    assert await bot.api.send_delivered(messages) == 3
    assert await bot.api.send_seen(messages) == 3
    delivered = [r for r in fake.sent if r.kind == "delivered"]
    seen = [r for r in fake.sent if r.kind == "seen"]
    assert [len(r.params["msgInfos"]["data"]) for r in delivered] == [50, 50, 20]
    assert [len(r.params["msgInfos"]["data"]) for r in seen] == [50, 50, 20]
    entry = delivered[0].params["msgInfos"]["data"][0]
    assert entry == {
        "cmi": messages[0]["cliMsgId"],
        "gmi": messages[0]["msgId"],
        "si": ALICE,
        "di": "0",
        "mt": "webchat",
        "st": 0,
        "at": 0,
        "cmd": 0,
        "ts": 0,
    }
    assert seen[0].params["msgInfos"]["senderId"] == ALICE
    assert {r.thread_id for r in seen} == {ALICE}


async def test_group_receipts_carry_grid_and_imei(
    fake: FakeZaloPersonal, bot: ZaloPersonal
) -> None:
    said = await fake.group(GROUP).user(ALICE).says("read me")
    ref = MessageRef.from_message(said)
    await bot.api.send_delivered([ref], thread_type=GROUP_T, seen=True)
    await bot.api.send_seen([ref], thread_type=GROUP_T)
    delivered = await fake.wait_for_sent(kind="delivered", thread_id=GROUP)
    seen = await fake.wait_for_sent(kind="seen", thread_id=GROUP)
    assert delivered.params["msgInfos"]["seen"] == 1
    assert delivered.params["imei"] == seen.params["imei"] == bot.session.imei
    assert seen.params["msgInfos"]["grid"] == GROUP


async def test_undo_dm_and_group(fake: FakeZaloPersonal, bot: ZaloPersonal) -> None:
    sent = await bot.api.send_text(ALICE, "oops")
    await bot.api.undo(ALICE, msg_id=sent.msg_id, cli_msg_id=sent.cli_msg_id)
    undo = await fake.wait_for_sent(kind="undo")
    assert (undo.msg_id, str(undo.params["cliMsgIdUndo"])) == (sent.msg_id, sent.cli_msg_id)
    gsent = await bot.api.send_text(GROUP, "oops all", thread_type=GROUP_T)
    await bot.api.undo(GROUP, msg_id=gsent.msg_id, cli_msg_id=gsent.cli_msg_id, thread_type=GROUP_T)
    gundo = await fake.wait_for_sent(kind="undo", thread_id=GROUP)
    assert gundo.endpoint == "/api/group/undomsg"


# ---------------------------------------------------------------- directory


async def test_friends_profile_and_phone_lookup(bot: ZaloPersonal) -> None:
    friends = await bot.api.friends()
    assert [(f.uid, f.display_name) for f in friends] == [(ALICE, "Alice")]
    me = await bot.api.own_profile()
    assert (me.uid, me.display_name) == (BOT, "Bot")
    found = await bot.api.find_user("0900 000 002")
    assert found is not None
    assert found.uid == ALICE
    assert await bot.api.find_user("0123456") is None
    with pytest.raises(ConfigurationError):
        await bot.api.find_user("no digits")
    assert await bot.api.keepalive() == {"config_vesion": 1}


async def test_group_info_is_fetched_in_chunks_of_80(
    fake: FakeZaloPersonal, recorded: tuple[ZaloPersonal, RecordingTransport]
) -> None:
    zp, transport = recorded
    for i in range(90):
        fake.add_group(f"8{i:03d}", f"G{i}", [BOT, ALICE])
    ids = await zp.api.group_ids()
    assert len(ids) == 91
    groups = await zp.api.groups_info(ids)
    assert transport.paths.count("/api/group/getmg-v2") == 2
    assert groups[GROUP].name == "Team"
    assert groups[GROUP].member_ids == (BOT, ALICE, CAROL)
    assert groups[GROUP].admin_ids == (BOT,)
    members = await zp.api.group_members(groups[GROUP].member_ids)
    assert {m.uid: m.display_name for m in members.values()} == {
        BOT: "Bot",
        ALICE: "Alice",
        CAROL: "Carol",
    }
    assert set(await zp.api.groups_info(["nope"])) == set()


# ---------------------------------------------------------------- errors from the fake


async def test_simulated_failures_map_to_typed_errors(
    fake: FakeZaloPersonal, endpoints: Any, credentials_of: Any
) -> None:
    from zalogate.personal import ApiError, RequestTimeoutError, SessionExpiredError

    async with ZaloPersonal(endpoints=endpoints, timeout_s=0.5) as zp:
        await zp.login_cookie(credentials_of(BOT))
        fake.fail("message/sms", 114, "rate limited")
        with pytest.raises(ApiError) as inner:
            await zp.api.send_text(ALICE, "x")
        assert (inner.value.code, inner.value.outer, inner.value.message) == (
            114,
            False,
            "rate limited",
        )
        assert inner.value.path == "/api/message/sms"
        fake.fail("group/getlg/v4", 600, "zpw_sek bị thiếu", outer=True)
        with pytest.raises(SessionExpiredError) as outer:
            await zp.api.group_ids()
        assert outer.value.outer
        fake.slow("social/profile/me-v2", 1.0)
        with pytest.raises(RequestTimeoutError):
            await zp.api.own_profile()
        fake.clear_faults()
        assert (await zp.api.own_profile()).uid == BOT


async def test_cookies_refreshed_by_any_answer_are_persisted(
    fake: FakeZaloPersonal, endpoints: Any, credentials_of: Any
) -> None:
    class Refreshing(httpx2.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx2.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            response = await self.inner.handle_async_request(request)
            if request.url.path != "/api/message/sms":
                return response
            body = await response.aread()
            headers = [*response.headers.multi_items(), ("set-cookie", "zpsid=refreshed; Path=/")]
            return httpx2.Response(response.status_code, headers=headers, content=body)

        async def aclose(self) -> None:
            await self.inner.aclose()

    async with ZaloPersonal(endpoints=endpoints, transport=Refreshing()) as zp:
        await zp.login_cookie(credentials_of(BOT))
        before = {c["key"]: c["value"] for c in zp.credentials().cookies}
        await zp.api.send_text(ALICE, "refresh please")
        after = {c["key"]: c["value"] for c in zp.credentials().cookies}
    assert before["zpsid"] != "refreshed"
    assert after["zpsid"] == "refreshed"
    assert after["zpw_sek"] == before["zpw_sek"]
