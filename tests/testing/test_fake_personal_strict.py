"""The strict personal fake: each rule refuses a request zca-js 2.2.0 would never send.

Every case starts from the request zca-js sends (accepted, checked first) and breaks one
thing; the answer must be Zalo's plain error envelope with HTTP 200, never an HTTP error.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import pytest

from zalogate.testing import FakeZaloPersonal
from zalogate.testing.fake_personal import wire
from zalogate.testing.fake_personal.checks import ERR_BAD_PARAMS, ERR_SESSION, RULES

from .test_fake_personal import (
    ALICE,
    BOT,
    CAROL,
    GROUP,
    UA,
    RawClient,
    close_clients,
    logged_in,
    receipt_entry,
    upload_params,
)

OUTSIDER = "2003"
VERSION = {"zpw_ver": "685", "zpw_type": "30"}


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloPersonal]:
    async with FakeZaloPersonal(single_listener=False) as fake:
        fake.add_account(BOT, "Bot", phone="0900000001", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")
        fake.add_account(OUTSIDER, "Outsider")
        fake.add_group(GROUP, "Team", [BOT, ALICE, CAROL])
        yield fake
        await close_clients()


@dataclass
class Req:
    """One session request as raw HTTP: path, method, ``params`` and query extras."""

    path: str
    params: dict[str, Any]
    method: str = "POST"
    query: dict[str, str] = field(default_factory=lambda: dict(VERSION))
    headers: dict[str, str] = field(default_factory=dict)


async def send(client: RawClient, req: Req) -> httpx2.Response:
    sealed = wire.seal_session_payload(client.key, req.params)
    if req.method == "GET":
        return await client.http.get(
            req.path, params={"params": sealed, **req.query}, headers=req.headers
        )
    return await client.http.request(
        req.method, req.path, params=req.query, data={"params": sealed}, headers=req.headers
    )


async def refused(client: RawClient, req: Req, code: int, words: str) -> None:
    resp = await send(client, req)
    assert resp.status_code == 200
    body = resp.json()
    assert body["error_code"] == code, body
    assert words in body["error_message"]
    assert body["data"] is None


async def accepted(client: RawClient, req: Req) -> dict[str, Any]:
    resp = await send(client, req)
    assert resp.status_code == 200
    outer = resp.json()
    assert outer["error_code"] == 0, outer
    return wire.open_session_payload(client.key, outer["data"])


def sms(bot: RawClient, **changes: Any) -> Req:
    # sendMessage.js, text to a user: {message, clientId: Date.now(), imei, ttl, toid}.
    params = {"message": "hi", "clientId": 1700000000000, "imei": bot.imei, "ttl": 0}
    return Req("/api/message/sms", {**params, "toid": ALICE, **changes})


def group_text(**changes: Any) -> Req:
    # sendMessage.js, text to a group: no imei, visibility 0, grid.
    params = {"message": "@Alice hi", "clientId": 1700000000000, "ttl": 0, "visibility": 0}
    return Req("/api/group/sendmsg", {**params, "grid": GROUP, **changes})


def mention(pos: int, length: int, uid: str = ALICE) -> Req:
    req = group_text(mentionInfo=wire.dumps([{"pos": pos, "uid": uid, "len": length, "type": 0}]))
    req.path = "/api/group/mention"
    return req


def without(req: Req, name: str) -> Req:
    return Req(req.path, {k: v for k, v in req.params.items() if k != name}, req.method, req.query)


async def test_the_requests_zcajs_sends_are_accepted(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    assert (await accepted(bot, sms(bot)))["error_code"] == 0
    assert (await accepted(bot, group_text()))["error_code"] == 0
    assert (await accepted(bot, mention(0, 6)))["error_code"] == 0
    assert (await accepted(bot, mention(0, 2, uid="-1")))["error_code"] == 0


# ---------------------------------------------------------------- every call


async def test_a_call_without_the_session_cookie_is_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    bot.http.cookies.clear()
    await refused(bot, sms(bot), ERR_SESSION, "zpw_sek")


@pytest.mark.parametrize("name", ["zpw_ver", "zpw_type"])
async def test_a_call_without_the_version_query_is_refused(
    fake: FakeZaloPersonal, name: str
) -> None:
    # utils.js makeURL adds zpw_ver and zpw_type to every session URL.
    bot = await logged_in(fake, BOT)
    req = sms(bot)
    del req.query[name]
    await refused(bot, req, ERR_BAD_PARAMS, name)
    req.query[name] = "latest"
    await refused(bot, req, ERR_BAD_PARAMS, name)


async def test_another_user_agent_than_the_login_one_is_refused(fake: FakeZaloPersonal) -> None:
    # getDefaultHeaders sends ctx.userAgent (the one the imei was derived from) every time.
    bot = await logged_in(fake, BOT)
    assert bot.ua == UA
    req = sms(bot)
    req.headers["User-Agent"] = "curl/8.0"
    await refused(bot, req, ERR_SESSION, "User-Agent")


async def test_a_missing_or_foreign_imei_is_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    await refused(bot, without(sms(bot), "imei"), ERR_BAD_PARAMS, "missing imei")
    await refused(bot, sms(bot, imei="someone-else"), ERR_BAD_PARAMS, "imei is not the imei")


async def test_a_send_over_get_is_refused(fake: FakeZaloPersonal) -> None:
    # Every send of zca-js is a POST (form body); reads like getfriends are GETs.
    bot = await logged_in(fake, BOT)
    req = sms(bot)
    req.method = "GET"
    await refused(bot, req, ERR_BAD_PARAMS, "must be a POST")
    me = Req("/api/social/profile/me-v2", {}, method="POST")
    await refused(bot, me, ERR_BAD_PARAMS, "must be a GET")


# ---------------------------------------------------------------- field shapes


@pytest.mark.parametrize("value", [None, "soon", 1.5])
async def test_a_missing_or_non_numeric_client_id_is_refused(
    fake: FakeZaloPersonal, value: Any
) -> None:
    bot = await logged_in(fake, BOT)
    req = without(sms(bot), "clientId") if value is None else sms(bot, clientId=value)
    await refused(bot, req, ERR_BAD_PARAMS, "clientId")


async def test_ids_sent_as_numbers_are_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    await refused(bot, sms(bot, toid=int(ALICE)), ERR_BAD_PARAMS, "toid must be a non-empty")
    await refused(bot, group_text(grid=int(GROUP)), ERR_BAD_PARAMS, "grid must be a non-empty")
    await refused(bot, sms(bot, toid=""), ERR_BAD_PARAMS, "toid")


async def test_a_group_send_without_visibility_is_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    await refused(bot, without(group_text(), "visibility"), ERR_BAD_PARAMS, "missing visibility")
    undo = Req(
        "/api/group/undomsg",
        {
            "msgId": "1",
            "clientId": 1,
            "cliMsgIdUndo": "2",
            "grid": GROUP,
            "imei": bot.imei,
        },
    )
    await refused(bot, undo, ERR_BAD_PARAMS, "missing visibility")


async def test_typing_without_dest_type_is_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    typing = Req("/api/message/typing", {"toid": ALICE, "destType": 3, "imei": bot.imei})
    assert (await accepted(bot, typing))["error_code"] == 0
    await refused(bot, without(typing, "destType"), ERR_BAD_PARAMS, "missing destType")


# ---------------------------------------------------------------- mentions


@pytest.mark.parametrize(("pos", "length"), [(0, 10), (8, 2), (-1, 3), (0, 0)])
async def test_a_mention_outside_the_text_is_refused(
    fake: FakeZaloPersonal, pos: int, length: int
) -> None:
    # "@Alice hi" is 9 UTF-16 units long.
    bot = await logged_in(fake, BOT)
    await refused(bot, mention(pos, length), ERR_BAD_PARAMS, "outside the text")


async def test_mention_length_counts_utf16_units(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    req = mention(0, 3)
    req.params["message"] = "@😀"  # 1 + 2 UTF-16 units (JS String.length)
    assert (await accepted(bot, req))["error_code"] == 0
    req.params["mentionInfo"] = wire.dumps([{"pos": 0, "uid": ALICE, "len": 4, "type": 0}])
    await refused(bot, req, ERR_BAD_PARAMS, "outside the text")


async def test_a_mention_of_a_non_member_is_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    await refused(bot, mention(0, 6, uid=OUTSIDER), ERR_BAD_PARAMS, "not a member")


async def test_malformed_mention_info_is_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    req = mention(0, 6)
    for bad in ("not json", wire.dumps({"pos": 0}), wire.dumps([{"pos": "0", "uid": ALICE}])):
        req.params["mentionInfo"] = bad
        await refused(bot, req, ERR_BAD_PARAMS, "mentionInfo")


# ---------------------------------------------------------------- msgInfos, reactions, undo


def seen(bot: RawClient, entry: dict[str, Any] | None = None, **infos: Any) -> Req:
    # sendSeenEvent.js: msgInfos = JSON {data: [{cmi, gmi, si, di, mt, st, at, cmd, ts}],
    # senderId}.
    base = receipt_entry("5", "7000000000001", ALICE)
    data = {"data": [entry if entry is not None else base], "senderId": ALICE, **infos}
    return Req("/api/message/seenv2", {"msgInfos": wire.dumps(data)})


async def test_malformed_msg_infos_are_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    assert (await accepted(bot, seen(bot)))["error_code"] == 0
    await refused(bot, seen(bot, data=[]), ERR_BAD_PARAMS, "1 to 50")
    await refused(bot, seen(bot, senderId=int(ALICE)), ERR_BAD_PARAMS, "senderId")
    await refused(bot, seen(bot, {"gmi": "1"}), ERR_BAD_PARAMS, "lack cmi")
    infos = seen(bot)
    infos.params["msgInfos"] = json.loads(infos.params["msgInfos"])  # an object, not JSON text
    await refused(bot, infos, ERR_BAD_PARAMS, "msgInfos must be a JSON object")
    delivered = seen(bot)
    delivered.path = "/api/message/deliveredv2"  # needs "seen" (sendDeliveredEvent.js)
    await refused(bot, delivered, ERR_BAD_PARAMS, "seen must be a number")


def react(icon_ref: dict[str, Any], **item: Any) -> Req:
    body = {"rMsg": [icon_ref], "rIcon": "/-heart", "rType": 5, "source": 6}
    entry = {"message": wire.dumps(body), "clientId": 1700000000000, **item}
    return Req("/api/message/reaction", {"react_list": [entry], "toid": ALICE})


async def test_malformed_reactions_are_refused(fake: FakeZaloPersonal) -> None:
    # addReaction.js: gMsgID and cMsgID are parseInt-ed numbers inside a JSON string.
    bot = await logged_in(fake, BOT)
    sent = await accepted(bot, sms(bot))
    ref = {"gMsgID": sent["data"]["msgId"], "cMsgID": 1700000000000, "msgType": 1}
    assert (await accepted(bot, react(ref)))["error_code"] == 0
    await refused(bot, react({**ref, "gMsgID": str(ref["gMsgID"])}), ERR_BAD_PARAMS, "gMsgID")
    await refused(bot, react(ref, clientId=None), ERR_BAD_PARAMS, "clientId")
    await refused(bot, react(ref, message={"rMsg": []}), ERR_BAD_PARAMS, "JSON object")


async def test_malformed_undo_is_refused(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    sent = await accepted(bot, sms(bot))
    undo = {"msgId": str(sent["data"]["msgId"]), "clientId": 2, "cliMsgIdUndo": "1700000000000"}
    await refused(
        bot, Req("/api/message/undo", {**undo, "msgId": 7, "toid": ALICE}), ERR_BAD_PARAMS, "msgId"
    )
    bad = Req("/api/message/undo", {**undo, "cliMsgIdUndo": 1700000000000, "toid": ALICE})
    await refused(bot, bad, ERR_BAD_PARAMS, "cliMsgIdUndo")
    assert (await accepted(bot, Req("/api/message/undo", {**undo, "toid": ALICE})))[
        "error_code"
    ] == 0


async def test_malformed_deletes_are_refused(fake: FakeZaloPersonal) -> None:
    # deleteMessage.js: {toid | grid, cliMsgId, msgs: [{cliMsgId, globalMsgId, ownerId,
    # destId}], onlyMe} (+ imei to a user); everyone-deletes only in groups.
    bot = await logged_in(fake, BOT)
    inbound = await fake.user(ALICE).says_to(BOT, "delete me")
    ref = {
        "cliMsgId": inbound["cliMsgId"],
        "globalMsgId": inbound["msgId"],
        "ownerId": ALICE,
        "destId": ALICE,
    }
    base = {"toid": ALICE, "cliMsgId": 1700000000000, "msgs": [ref], "onlyMe": 1}
    delete = Req("/api/message/delete", {**base, "imei": bot.imei})
    assert (await accepted(bot, delete))["error_code"] == 0
    assert (await fake.wait_for_sent(kind="delete")).msg_id == inbound["msgId"]
    everyone = Req("/api/message/delete", {**delete.params, "onlyMe": 0})
    await refused(bot, everyone, ERR_BAD_PARAMS, "onlyMe must be 1 in a private chat")
    numeric = Req("/api/message/delete", {**delete.params, "msgs": [{**ref, "globalMsgId": 7}]})
    await refused(bot, numeric, ERR_BAD_PARAMS, "globalMsgId")
    await refused(bot, without(delete, "msgs"), ERR_BAD_PARAMS, "missing msgs")


async def test_an_upload_with_the_wrong_type_query_is_refused(fake: FakeZaloPersonal) -> None:
    # uploadAttachment.js: type=2 to a user, 11 to a group, in the query.
    bot = await logged_in(fake, BOT)
    params = upload_params(bot)
    sealed = wire.seal_session_payload(bot.key, params)
    resp = await bot.http.post(
        "/api/message/asyncfile/upload",
        params={"type": "11", "params": sealed, **VERSION},
        files={"chunkContent": ("a.txt", b"hello", "application/octet-stream")},
    )
    assert resp.status_code == 200
    assert (resp.json()["error_code"], resp.json()["data"]) == (ERR_BAD_PARAMS, None)


def test_every_session_route_has_a_rule(fake: FakeZaloPersonal) -> None:
    assert set(fake._routes) <= set(RULES)


HISTORY = {"first": True, "lastId": None, "preIds": [], "req_id": "req_0"}
"""What zca-js's ``requestOldMessages`` sends (listen.js), ``sendWs`` adding ``req_id``."""


@pytest.mark.parametrize(
    ("header", "body", "words"),
    [
        ((1, 510, 1), HISTORY, None),
        ((1, 511, 1), {**HISTORY, "lastId": "7000000000001"}, None),
        ((1, 610, 1), HISTORY, None),
        ((1, 510, 0), HISTORY, "sub 1"),
        ((2, 510, 1), HISTORY, "version 1"),
        ((1, 510, 1), {k: v for k, v in HISTORY.items() if k != "preIds"}, "exactly"),
        ((1, 510, 1), {**HISTORY, "count": 50}, "exactly"),
        ((1, 510, 1), {**HISTORY, "first": False}, "first must be true"),
        ((1, 510, 1), {**HISTORY, "lastId": 7000000000001}, "lastId"),
        ((1, 510, 1), {**HISTORY, "lastId": ""}, "lastId"),
        ((1, 510, 1), {**HISTORY, "preIds": ["1"]}, "preIds"),
        ((1, 510, 1), {**HISTORY, "req_id": 0}, "req_id"),
        ((1, 510, 1), None, "exactly"),
        ((1, 2, 1), {"eventId": 1}, None),  # a ping: not a history request
    ],
)
def test_websocket_history_requests_follow_zcajs(
    header: tuple[int, int, int], body: Any, words: str | None
) -> None:
    from zalogate.testing.fake_personal.checks import ws_refusal

    problem = ws_refusal(*header, body)
    if words is None:
        assert problem is None
    else:
        assert problem is not None
        assert words in problem
