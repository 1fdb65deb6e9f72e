"""Conformance: zalogate.personal runs the zca-js scenario against the same simulator.

``test_zcajs.py`` drives the reference client; here our own client plays the same scenario:
QR login, DM and group sends with a mention, receiving both through our listener, a
reaction, directory calls, cookie login from saved credentials and the 3000 hand-over.

Like zca-js it reaches the fake as if it were the real domains: a transport sends
``https://*.zalo.me`` to the fake with the original host in ``X-Zalo-Host``, so the service
map names ``*.zalo.me`` hosts and the session cookies are ``Domain=zalo.me; Secure``; our
cookie jar must select them by the original URL, as tough-cookie does.

The interop test then puts both clients in one world: what we send is decoded by zca-js's
own listener.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import pytest

from zalogate.personal import (
    Credentials,
    GroupMessage,
    ListenerEvent,
    ListenerReplacedError,
    Mention,
    QrEvent,
    QrGenerated,
    QrScanned,
    ThreadType,
    UserMessage,
    ZaloPersonal,
)
from zalogate.personal.listener import Listener
from zalogate.testing import FakeZaloPersonal

from .conftest import ALICE, BOT, CAROL, GROUP, GROUP_THREAD, UA, USER

pytestmark = [pytest.mark.slow]


class ZaloHostsTransport(httpx2.AsyncBaseTransport):
    """What driver.mjs's fetch polyfill does, as an httpx2 transport."""

    def __init__(self, base_url: str) -> None:
        self.base = httpx2.URL(base_url)
        self.inner = httpx2.AsyncHTTPTransport()
        self.hosts: list[str] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        host = request.url.host
        if not host.endswith("zalo.me"):
            raise httpx2.ConnectError(f"conformance transport refuses {host}", request=request)
        self.hosts.append(host)
        target = request.url.copy_with(scheme="http", host=self.base.host, port=self.base.port)
        headers = request.headers.copy()
        headers["x-zalo-host"] = host
        headers["host"] = f"{self.base.host}:{self.base.port}"
        body = await request.aread()
        return await self.inner.handle_async_request(
            httpx2.Request(request.method, target, headers=headers, content=body)
        )

    async def aclose(self) -> None:
        await self.inner.aclose()


async def next_of(listener: Listener, kind: type[ListenerEvent]) -> Any:
    """The next event of type ``kind`` (others skipped), within a bounded wait."""
    async with asyncio.timeout(10):
        async for event in listener:
            if isinstance(event, kind):
                return event
    raise AssertionError(f"listener ended before a {kind.__name__}")


def client(fake: FakeZaloPersonal, transport: ZaloHostsTransport | None = None) -> ZaloPersonal:
    return ZaloPersonal(user_agent=UA, transport=transport or ZaloHostsTransport(fake.base_url))


async def _qr_login(zp: ZaloPersonal, fake: FakeZaloPersonal) -> None:
    def on_event(event: QrEvent) -> None:
        if isinstance(event, QrGenerated):
            fake.qr.scan(BOT)
        elif isinstance(event, QrScanned):
            assert event.display_name == "Bot"
            fake.qr.confirm()

    session = await zp.login_qr(on_event)
    assert session.uid == BOT


async def test_personal_client_full_session_against_the_fake(fake: FakeZaloPersonal) -> None:
    transport = ZaloHostsTransport(fake.base_url)
    async with client(fake, transport) as zp:
        await _qr_login(zp, fake)
        creds = zp.credentials()
        assert creds.imei.endswith("-a69b52f9d7f760edf3fd052bcda2542f")
        assert {c["key"] for c in creds.cookies} >= {"zpw_sek"}
        assert {c["domain"] for c in creds.cookies if c["key"] == "zpw_sek"} == {"zalo.me"}
        # Real Zalo hostnames throughout: login hosts, then the service map.
        assert {"id.zalo.me", "wpa.chat.zalo.me", "jr.chat.zalo.me", "chat.zalo.me"} <= set(
            transport.hosts
        )
        assert zp.session.service_url("chat") == "https://tt-chat1-wpa.chat.zalo.me"
        assert "zpw_sek=" in zp.http.websocket_cookie_header(zp.session.ws_urls[0])
        listener = zp.listener(self_listen=False)
        await listener.wait_connected(timeout_s=10)
        await fake.wait_for_listener(BOT)

        # DM out.
        sent = await zp.api.send_text(ALICE, "xin chào")
        record = await fake.wait_for_sent(kind="text", thread_id=ALICE)
        assert record.text == "xin chào"
        assert sent.msg_id == record.msg_id
        assert "tt-chat1-wpa.chat.zalo.me" in transport.hosts

        # Group out with a mention.
        text = "@Alice hello team"
        await zp.api.send_text(
            GROUP, text, thread_type=ThreadType.GROUP, mentions=[Mention.of(text, "@Alice", ALICE)]
        )
        grec = await fake.wait_for_sent(kind="text", thread_id=GROUP)
        assert grec.text == text
        assert grec.endpoint.endswith("/group/mention")
        assert grec.mentions[0] == {"pos": 0, "uid": ALICE, "len": 6, "type": 0}

        # DM in: the listener decodes the encrypted 501.
        msg = await fake.user(ALICE).says_to(BOT, "chào bot 👋")
        got = await next_of(listener, UserMessage)
        assert (got.thread_id, got.text, got.msg_id) == (ALICE, "chào bot 👋", msg["msgId"])
        assert got.is_self is False

        # Group in with a mention of the bot (521 fan-out).
        await fake.group(GROUP).user(CAROL).says("@Bot ping", mentions=[BOT])
        gin = await next_of(listener, GroupMessage)
        assert (gin.thread_id, gin.sender_id) == (GROUP, CAROL)
        assert [(m.uid, m.pos, m.length) for m in gin.mentions] == [(BOT, 0, 4)]

        # Reaction on the received DM.
        await zp.api.add_reaction(
            "/-heart", thread_id=got.thread_id, msg_id=got.msg_id, cli_msg_id=got.cli_msg_id
        )
        react = await fake.wait_for_sent(kind="reaction")
        assert react.msg_id == msg["msgId"]
        assert react.params["reaction"]["rType"] == 5

        # Directory calls decode the inner envelope.
        assert [f.uid for f in await zp.api.friends()] == [ALICE]
        assert await zp.api.group_ids() == [GROUP]
        info = await zp.api.groups_info([GROUP])
        assert info[GROUP].name == "Team"
        assert (await zp.api.own_profile()).uid == BOT
        profiles = await zp.api.user_info([ALICE, CAROL])
        assert (profiles[ALICE].display_name, profiles[CAROL].uid) == ("Alice", CAROL)

        # A friend request accepted (the strict acceptFriendRequest rule).
        await fake.user("2999").sends_friend_request_to(BOT)
        await zp.api.accept_friend_request("2999")
        assert "2999" in fake.accounts[BOT].friends

        # Cookie login with the saved credentials from a second client: the first listener
        # is told about the duplicate connection and stops (rather than fight) with 3000.
        saved = Credentials.from_json(creds.to_json())
        async with client(fake) as zp2:
            assert (await zp2.login_cookie(saved)).uid == BOT
            async with zp2.listener(self_listen=False) as listener2:
                with pytest.raises(ListenerReplacedError):
                    await next_of(listener, UserMessage)
                await listener2.wait_connected(timeout_s=10)
                await fake.user(ALICE).says_to(BOT, "again")
                again = await next_of(listener2, UserMessage)
                assert again.text == "again"
            await zp2.api.send_text(ALICE, "sent by the second client")
            record2 = await fake.wait_for_sent(kind="text", text="sent by the second client")
            assert record2.sender == BOT
        await listener.close()


@pytest.mark.node
async def test_zcajs_receives_what_the_personal_client_sends(
    fake: FakeZaloPersonal, start_zcajs: Any
) -> None:
    alice = fake.credentials(ALICE, user_agent=UA)
    async with start_zcajs(fake.base_url) as js, client(fake) as zp:
        await js.call("login_cookie", credentials=alice)
        await js.call("listen")
        await fake.wait_for_listener(ALICE)
        await _qr_login(zp, fake)

        sent = await zp.api.send_text(ALICE, "chào Alice 👋")
        got = await js.event("message", lambda e: e["type"] == USER)
        assert (got["threadId"], got["isSelf"]) == (BOT, False)
        assert got["data"]["content"] == "chào Alice 👋"
        assert got["data"]["msgId"] == sent.msg_id
        assert got["data"]["cliMsgId"] == sent.cli_msg_id

        text = "hi 🎉 @Alice"
        await zp.api.send_text(
            GROUP, text, thread_type=ThreadType.GROUP, mentions=[Mention.of(text, "@Alice", ALICE)]
        )
        gin = await js.event("message", lambda e: e["type"] == GROUP_THREAD)
        assert gin["threadId"] == GROUP
        assert gin["data"]["mentions"] == [{"pos": 6, "uid": ALICE, "len": 6, "type": 0}]
        # The mention covers "@Alice" in JavaScript's own string indexing.
        content = gin["data"]["content"]
        assert content.encode("utf-16-le")[12:24].decode("utf-16-le") == "@Alice"

        await zp.api.send_typing(ALICE)
        assert (await js.event("typing"))["threadId"] == BOT

        # zca-js reacts to our message; the fake records it against our msgId.
        await js.call(
            "react",
            icon="/-strong",
            msgId=sent.msg_id,
            cliMsgId=sent.cli_msg_id,
            threadId=BOT,
            threadType=USER,
        )
        react = await fake.wait_for_sent(kind="reaction")
        assert (react.sender, react.msg_id) == (ALICE, sent.msg_id)

        await zp.api.undo(ALICE, msg_id=sent.msg_id, cli_msg_id=sent.cli_msg_id)
        undo = await js.event("undo")
        assert undo["data"]["content"]["globalMsgId"] == sent.msg_id


@pytest.mark.node
async def test_zcajs_logs_in_with_credentials_our_qr_login_saved(
    fake: FakeZaloPersonal, start_zcajs: Any
) -> None:
    async with client(fake) as zp:
        await _qr_login(zp, fake)
        saved = zp.credentials().to_zca_json()
    # tough-cookie must accept our cookie dicts (domains, expiry format, flags) as is.
    async with start_zcajs(fake.base_url) as js:
        assert await js.call("login_cookie", credentials=saved) == {"uid": BOT}
        await js.call(
            "send", message="from zca-js with our cookies", threadId=ALICE, threadType=USER
        )
        record = await fake.wait_for_sent(kind="text", text="from zca-js with our cookies")
        assert record.sender == BOT
