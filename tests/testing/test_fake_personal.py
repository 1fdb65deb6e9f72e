"""FakeZaloPersonal at the protocol level: raw HTTP (httpx2) and websockets, real crypto."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from zalogate.testing import FakeZaloPersonal
from zalogate.testing.fake_personal import wire
from zalogate.testing.fake_personal.server import ERR_NOT_FOUND, ERR_QR_EXPIRED, ERR_SESSION

from ..personal.vectors import VECTOR_PAYLOAD

UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
IMEI = "0f8fad5b-d9cb-469f-a165-70867728950e-a69b52f9d7f760edf3fd052bcda2542f"
BOT, ALICE, CAROL, GROUP = "1001", "2001", "2002", "9001"


# ---------------------------------------------------------------- reference vectors (§2.8)

VEC_ZCID = (
    "591A63B878019D47FD491E58A2409354A72A7FD37703E24D810BC824E5CB406F715DBD46261550A6D92EB691C3E8"
    "F7C8301DB7280165139195CD1151275EAE105BEBA029D8D2F754AF7C7C93DE41E36E15BE48C5094D68C1B9B4E76B"
    "AB24D71F"
)
VEC_PARAMS = (
    "kN50sOiCvBaMoQbdEM4eu5sNarcxhTXSMYULpzEQLmNoDfhgWu4UNV+VBfv6H5UWd6oTo+NYLsayGs2Ycz2ztz/4J7+1"
    "Je6Z1IH1oZledp1YEUq4ejg9hSmTrADbnID4246pfTBatgLnEchTzim/FkWzEl36xTvlsHiV44T6VQVPL8ixfGQOSSf1"
    "R28zzmMa"
)
VEC_SESSION_KEY = "AAECAwQFBgcICQoLDA0ODw=="


def test_login_key_is_rederived_from_zcid_and_zcid_ext() -> None:
    zcid = wire.cbc_encrypt(wire.ZCID_KEY.encode(), f"30,{IMEI},1700000000000".encode())
    assert zcid.hex().upper() == VEC_ZCID
    assert wire.derive_login_key(VEC_ZCID, "a1b2c3d4e5") == "C3A3B143516B7094F415F74BB74918D9"


def test_login_params_and_signkeys_match_reference_vectors() -> None:
    key = "C3A3B143516B7094F415F74BB74918D9"
    plain = {"computer_name": "Web", "imei": IMEI, "language": "vi", "ts": 1700000000000}
    sealed = base64.b64encode(wire.cbc_encrypt(key.encode(), wire.dumps(plain).encode())).decode()
    assert sealed == VEC_PARAMS
    assert wire.open_login_params(key, VEC_PARAMS) == plain
    signed = {
        "zcid": VEC_ZCID,
        "zcid_ext": "a1b2c3d4e5",
        "enc_ver": "v2",
        "params": VEC_PARAMS,
        "type": 30,
        "client_version": 671,
    }
    assert wire.sign_key("getlogininfo", signed) == "547f81cc8d723fb88e6661958c8f390b"
    server = {"imei": IMEI, "type": 30, "client_version": 671, "computer_name": "Web"}
    assert wire.sign_key("getserverinfo", server) == "1ddf5d432e27df913e38cc5899f23cb1"


def test_login_response_matches_reference_vector() -> None:
    inner = {
        "error_code": 0,
        "error_message": "",
        "data": {
            "uid": "1234567890123456789",
            "zpw_enk": VEC_SESSION_KEY,
            "zpw_ws": ["wss://ws1.chat.zalo.me/ws/v2"],
            "zpw_service_map_v3": {"chat": ["https://tt-chat2-wpa.chat.zalo.me"]},
        },
    }
    sealed = wire.seal_login_payload("C3A3B143516B7094F415F74BB74918D9", inner)
    assert sealed.startswith("V4FaM/f8Qdb3SZcB0koUqNc8ACvhDnPwe9yuKRV39F1VcaKGxLAb")
    assert sealed.endswith("Nwj+pgeM3ca31VNoeYU=")


def test_session_payloads_match_reference_vectors() -> None:
    params = {
        "message": "xin chào",
        "clientId": 1700000000000,
        "imei": IMEI,
        "ttl": 0,
        "toid": "2000000000000000001",
    }
    sealed = wire.seal_session_payload(VEC_SESSION_KEY, params)
    assert sealed.startswith("uiX9qv8Q+Z1SHUrO+B06tKlGV3D8NcFBhmOhqHCjibw9Y")
    assert sealed.endswith("V+oKC2l00=")
    inner = {"error_code": 0, "error_message": "Successful.", "data": {"msgId": 7000000000001}}
    assert wire.seal_session_payload(VEC_SESSION_KEY, inner) == (
        "xM8stAIW28htiNwUylMQII+ZEcy5PtoJNUEwlHjMVSjutauKPhispl7C2vGZCv5VOwCwOiAjrc5dM605ysyvFPt1"
        "Nxsi3rLtJC/jwf1RFeQ="
    )


def test_frames_match_reference_vectors() -> None:
    assert wire.encode_frame(2, 1, {"eventId": 1700000000000}).hex() == (
        "010200017b226576656e744964223a313730303030303030303030307d"
    )
    assert wire.encode_frame(501, 0, {})[:4].hex() == "01f50100"
    assert wire.encode_frame(521, 0, {})[:4].hex() == "01090200"
    assert wire.encode_frame(3000, 0, {})[:4].hex() == "01b80b00"
    assert wire.decode_frame(bytes.fromhex("01f50100"))[:3] == (1, 501, 0)


def test_encrypted_event_matches_reference_vector() -> None:
    key = bytes(range(0x20, 0x40))
    obj = VECTOR_PAYLOAD
    env = wire.encode_event(
        obj, encrypt=2, key=key, iv=bytes(range(16)), aad=bytes(range(0x80, 0x90))
    )
    assert env["data"].startswith("AAECAwQFBgcICQoLDA0OD4CBgoOEhYaHiImKi4yNjo8UkMbf0qaN7k9W")
    assert env["data"].endswith("VcRi1UffFWw%3D")
    assert wire.decode_event(env, key) == obj


@settings(max_examples=60, deadline=None)
@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ),
    encrypt=st.integers(0, 3),
)
def test_event_envelopes_round_trip_in_every_encrypt_mode(payload: Any, encrypt: int) -> None:
    key = bytes(32)
    assert wire.decode_event(wire.encode_event(payload, encrypt=encrypt, key=key), key) == payload


def test_tampered_tag_is_rejected() -> None:
    env = wire.encode_event({"a": 1}, encrypt=2, key=bytes(32))
    raw = bytearray(base64.b64decode(wire.unquote_data(env["data"])))
    raw[-1] ^= 1
    env["data"] = wire.quote_data(base64.b64encode(bytes(raw)).decode())
    with pytest.raises(wire.WireError):
        wire.decode_event(env, bytes(32))


# ---------------------------------------------------------------- a minimal raw client


class RawClient:
    """What a web client does, written out by hand against the fake's loopback URLs."""

    opened: ClassVar[list[RawClient]] = []

    def __init__(self, fake: FakeZaloPersonal, user_agent: str = UA) -> None:
        RawClient.opened.append(self)
        self.listeners: list[ClientConnection] = []
        self.fake = fake
        self.ua = user_agent
        self.http = httpx2.AsyncClient(base_url=fake.base_url, headers={"User-Agent": user_agent})
        self.imei = f"{uuid.uuid4()}-{wire.md5_hex(user_agent)}"
        self.key = ""
        self.info: dict[str, Any] = {}

    def use_credentials(self, creds: dict[str, Any]) -> None:
        for cookie in creds["cookie"]:
            self.http.cookies.set(cookie["key"], cookie["value"])
        self.imei = creds["imei"]

    async def login(self, *, signkey: str | None = None) -> httpx2.Response:
        zcid = wire.cbc_encrypt(
            wire.ZCID_KEY.encode(), f"30,{self.imei},{int(time.time() * 1000)}".encode()
        )
        zcid_hex = zcid.hex().upper()
        login_key = wire.derive_login_key(zcid_hex, "beef01")
        plain = {"computer_name": "Web", "imei": self.imei, "language": "vi", "ts": 1}
        params = base64.b64encode(
            wire.cbc_encrypt(login_key.encode(), wire.dumps(plain).encode())
        ).decode()
        query: dict[str, Any] = {
            "zcid": zcid_hex,
            "zcid_ext": "beef01",
            "enc_ver": "v2",
            "params": params,
            "type": 30,
            "client_version": 685,
        }
        query["signkey"] = signkey or wire.sign_key("getlogininfo", query)
        query.update(nretry=0, zpw_ver=685, zpw_type=30)
        resp = await self.http.get("/api/login/getLoginInfo", params=query)
        body = resp.json()
        if body["error_code"] == 0:
            decrypted = wire.open_login_params(login_key, body["data"])
            self.info = decrypted["data"]
            self.key = self.info["zpw_enk"]
        return resp

    async def call(
        self, path: str, params: dict[str, Any] | None = None, *, method: str = "POST"
    ) -> dict[str, Any]:
        """Return the decrypted inner envelope (or the outer one if it carries an error)."""
        sealed = wire.seal_session_payload(self.key, params) if params is not None else None
        if method == "GET":
            query = {"params": sealed} if sealed else {}
            resp = await self.http.get(path, params={**query, "zpw_ver": 685, "zpw_type": 30})
        else:
            resp = await self.http.post(
                path, params={"zpw_ver": 685, "zpw_type": 30}, data={"params": sealed or ""}
            )
        outer = resp.json()
        if outer["error_code"] != 0 or path == "/keepalive":
            return dict(outer)
        return wire.open_session_payload(self.key, outer["data"])

    async def aclose(self) -> None:
        for conn in self.listeners:
            await conn.close()
        await self.http.aclose()

    def cookie_header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())

    async def listen(self) -> Listener:
        conn = await connect(
            self.info["zpw_ws"][0], additional_headers={"Cookie": self.cookie_header()}
        )
        self.listeners.append(conn)
        first = await conn.recv()
        assert isinstance(first, bytes)
        version, cmd, sub, body = wire.decode_frame(first)
        assert (version, cmd, sub) == (1, 1, 1)
        return Listener(conn, base64.b64decode(body["key"]))


class Listener:
    def __init__(self, conn: ClientConnection, key: bytes) -> None:
        self.conn = conn
        self.key = key

    async def event(self, timeout_s: float = 5.0) -> tuple[int, Any]:
        async with asyncio.timeout(timeout_s):
            frame = await self.conn.recv()
        assert isinstance(frame, bytes)
        _, cmd, _, body = wire.decode_frame(frame)
        if cmd == 3000:
            return cmd, body
        return cmd, wire.decode_event(body, self.key)["data"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloPersonal]:
    async with FakeZaloPersonal(long_poll_s=0.2, single_listener=False) as fake:
        fake.add_account(BOT, "Bot", phone="0900000001", friends=(ALICE,))
        fake.add_account(ALICE, "Alice", phone="0900000002")
        fake.add_account(CAROL, "Carol")
        fake.add_group(GROUP, "Team", [BOT, ALICE, CAROL])
        yield fake
        await close_clients()


async def close_clients() -> None:
    while RawClient.opened:
        await RawClient.opened.pop().aclose()


async def logged_in(fake: FakeZaloPersonal, uid: str) -> RawClient:
    client = RawClient(fake)
    client.use_credentials(fake.credentials(uid, user_agent=UA, domain="127.0.0.1"))
    resp = await client.login()
    assert resp.json()["error_code"] == 0
    return client


# ---------------------------------------------------------------- login


async def test_qr_login_issues_session_cookies_after_scan_and_confirm(
    fake: FakeZaloPersonal,
) -> None:
    async with httpx2.AsyncClient(base_url=fake.base_url) as http:
        page = await http.get("/account", params={"continue": "https://chat.zalo.me/"})
        assert "https://stc-zlogin.zdn.vn/main-" in page.text
        gen = (await http.post("/account/authen/qr/generate", data={"v": "1"})).json()
        code = gen["data"]["code"]
        assert gen["data"]["image"].startswith("data:image/png;base64,")
        waiting = await http.post("/account/authen/qr/waiting-scan", data={"code": code})
        assert waiting.json()["error_code"] == 8
        fake.qr.scan(BOT)
        scanned = (await http.post("/account/authen/qr/waiting-scan", data={"code": code})).json()
        assert scanned["data"]["display_name"] == "Bot"
        fake.qr.confirm()
        confirmed = await http.post("/account/authen/qr/waiting-confirm", data={"code": code})
        assert confirmed.json()["error_code"] == 0
        check = await http.get("/account/checksession")
        assert check.status_code == 302
        assert "zpw_sek" in http.cookies
        info = (await http.get("/jr/userinfo")).json()
        assert info["data"]["logged"] is True
        assert info["data"]["info"]["name"] == "Bot"


async def test_qr_decline_answers_minus_13_and_expiry_ends_the_poll(
    fake: FakeZaloPersonal,
) -> None:
    async with httpx2.AsyncClient(base_url=fake.base_url) as http:
        code = (await http.post("/account/authen/qr/generate")).json()["data"]["code"]
        fake.qr.scan(CAROL)
        fake.qr.decline()
        declined = await http.post("/account/authen/qr/waiting-confirm", data={"code": code})
        assert declined.json()["error_code"] == -13
        assert (await http.get("/jr/userinfo")).json()["data"]["logged"] is False

        code2 = (await http.post("/account/authen/qr/generate")).json()["data"]["code"]
        poll = asyncio.create_task(
            http.post("/account/authen/qr/waiting-scan", data={"code": code2})
        )
        await asyncio.sleep(0)
        fake.qr.expire()
        assert (await poll).json()["error_code"] == ERR_QR_EXPIRED


async def test_auto_approve_confirms_every_generated_qr(fake: FakeZaloPersonal) -> None:
    fake.qr.auto_approve = ALICE
    async with httpx2.AsyncClient(base_url=fake.base_url) as http:
        code = (await http.post("/account/authen/qr/generate")).json()["data"]["code"]
        scan = (await http.post("/account/authen/qr/waiting-scan", data={"code": code})).json()
        assert scan["data"]["display_name"] == "Alice"
        confirm = await http.post("/account/authen/qr/waiting-confirm", data={"code": code})
        assert confirm.json()["error_code"] == 0


async def test_cookie_login_returns_encrypted_login_info_pointing_at_the_fake(
    fake: FakeZaloPersonal,
) -> None:
    client = await logged_in(fake, BOT)
    assert client.info["uid"] == BOT
    assert len(base64.b64decode(client.info["zpw_enk"])) == 32
    assert client.info["zpw_ws"][0] == fake.ws_url
    assert client.info["zpw_service_map_v3"]["chat"] == [fake.base_url]
    q: dict[str, Any] = {
        "imei": client.imei,
        "type": 30,
        "client_version": 685,
        "computer_name": "Web",
    }
    q["signkey"] = wire.sign_key("getserverinfo", q)
    server = (await client.http.get("/api/login/getServerInfo", params=q)).json()
    socket_settings = server["data"]["setttings"]["features"]["socket"]
    assert socket_settings["ping_interval"] > 0
    await client.http.aclose()


async def test_cookie_login_rejects_bad_signkey_foreign_user_agent_and_missing_cookie(
    fake: FakeZaloPersonal,
) -> None:
    client = await logged_in(fake, BOT)
    assert (await client.login(signkey="0" * 32)).json()["error_code"] != 0
    stranger = RawClient(fake, user_agent="Other/1.0")
    stranger.use_credentials(fake.credentials(BOT, user_agent=UA, domain="127.0.0.1"))
    assert (await stranger.login()).json()["error_code"] != 0
    anonymous = RawClient(fake)
    assert (await anonymous.login()).json()["error_code"] == ERR_SESSION
    for c in (client, stranger, anonymous):
        await c.http.aclose()


# ---------------------------------------------------------------- session API + websocket


async def test_dm_is_delivered_as_encrypted_501_and_echoed_to_other_sessions(
    fake: FakeZaloPersonal,
) -> None:
    bot, bot_phone, alice = (
        await logged_in(fake, BOT),
        await logged_in(fake, BOT),
        await logged_in(fake, ALICE),
    )
    alice_ws, phone_ws = await alice.listen(), await bot_phone.listen()
    result = await bot.call(
        "/api/message/sms",
        {
            "message": "xin chào",
            "clientId": 1700000000123,
            "imei": bot.imei,
            "ttl": 0,
            "toid": ALICE,
        },
    )
    assert result["error_code"] == 0
    msg_id = str(result["data"]["msgId"])
    cmd, data = await alice_ws.event()
    assert cmd == 501
    inbound = data["msgs"][0]
    assert (inbound["uidFrom"], inbound["idTo"], inbound["content"]) == (BOT, "0", "xin chào")
    assert (inbound["msgId"], inbound["cliMsgId"]) == (msg_id, "1700000000123")
    cmd, data = await phone_ws.event()
    assert (cmd, data["msgs"][0]["uidFrom"], data["msgs"][0]["idTo"]) == (501, "0", ALICE)
    record = await fake.wait_for_sent(kind="text")
    assert (record.sender, record.thread_id, record.msg_id) == (BOT, ALICE, msg_id)
    await alice_ws.conn.close()
    await phone_ws.conn.close()


async def test_group_messages_fan_out_as_521_with_mentions(fake: FakeZaloPersonal) -> None:
    bot, carol = await logged_in(fake, BOT), await logged_in(fake, CAROL)
    bot_ws, carol_ws = await bot.listen(), await carol.listen()
    await fake.group(GROUP).user(ALICE).says("@Bot hi", mentions=[BOT])
    for ws in (bot_ws, carol_ws):
        cmd, data = await ws.event()
        assert cmd == 521
        msg = data["groupMsgs"][0]
        assert (msg["idTo"], msg["uidFrom"], msg["content"]) == (GROUP, ALICE, "@Bot hi")
        assert msg["mentions"] == [{"uid": BOT, "pos": 0, "len": 4, "type": 0}]
    mention = wire.dumps([{"pos": 0, "uid": CAROL, "len": 6, "type": 0}])
    sent = await bot.call(
        "/api/group/mention",
        {
            "message": "@Carol yo",
            "clientId": 1,
            "mentionInfo": mention,
            "ttl": 0,
            "visibility": 0,
            "grid": GROUP,
        },
    )
    assert sent["error_code"] == 0
    cmd, data = await carol_ws.event()
    assert data["groupMsgs"][0]["mentions"][0]["uid"] == CAROL
    record = await fake.wait_for_sent(kind="text", thread_id=GROUP)
    assert record.mentions[0]["uid"] == CAROL
    await bot_ws.conn.close()
    await carol_ws.conn.close()


async def test_reaction_typing_receipts_and_undo_are_recorded_and_pushed(
    fake: FakeZaloPersonal,
) -> None:
    bot = await logged_in(fake, BOT)
    alice = await logged_in(fake, ALICE)
    alice_ws = await alice.listen()
    sent = await bot.call(
        "/api/message/sms",
        {"message": "x", "clientId": 5, "imei": bot.imei, "ttl": 0, "toid": ALICE},
    )
    msg_id = str(sent["data"]["msgId"])
    await alice_ws.event()
    body = wire.dumps(
        {
            "rMsg": [{"gMsgID": int(msg_id), "cMsgID": 5, "msgType": 1}],
            "rIcon": "/-strong",
            "rType": 3,
            "source": 6,
        }
    )
    react = await bot.call(
        "/api/message/reaction", {"react_list": [{"message": body, "clientId": 9}], "toid": ALICE}
    )
    assert json.loads(react["data"]["msgIds"])
    cmd, data = await alice_ws.event()
    assert cmd == 612
    assert data["reactGroups"] == []
    assert json.loads(data["reacts"][0]["content"])["rIcon"] == "/-strong"
    await bot.call("/api/message/typing", {"toid": ALICE, "destType": 3, "imei": bot.imei})
    cmd, data = await alice_ws.event()
    assert cmd == 602
    assert json.loads("{" + data["actions"][0]["data"] + "}")["uid"] == BOT
    infos = {"data": [receipt_entry("5", msg_id, BOT)], "senderId": BOT}
    seen = await alice.call("/api/message/seenv2", {"msgInfos": wire.dumps(infos)})
    assert seen["error_code"] == 0
    assert (await fake.wait_for_sent(kind="seen")).thread_id == BOT
    undo = await bot.call(
        "/api/message/undo", {"msgId": msg_id, "clientId": 6, "cliMsgIdUndo": "5", "toid": ALICE}
    )
    assert undo["error_code"] == 0
    cmd, data = await alice_ws.event()
    assert data["msgs"][0]["content"]["deleteMsg"] == 1
    kinds = [r.kind for r in fake.sent]
    assert kinds == ["text", "reaction", "typing", "seen", "undo"]
    await alice_ws.conn.close()


async def test_directory_endpoints_answer_with_inner_envelopes(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    friends = await bot.call(
        "/api/social/friend/getfriends",
        {
            "incInvalid": 1,
            "page": 1,
            "count": 20000,
            "avatar_size": 120,
            "actiontime": 0,
            "imei": bot.imei,
        },
        method="GET",
    )
    assert [f["userId"] for f in friends["data"]] == [ALICE]
    ids = await bot.call("/api/group/getlg/v4", method="GET")
    assert list(ids["data"]["gridVerMap"]) == [GROUP]
    info = await bot.call("/api/group/getmg-v2", {"gridVerMap": wire.dumps({GROUP: 0})})
    assert info["data"]["gridInfoMap"][GROUP]["memberIds"] == [BOT, ALICE, CAROL]
    members = await bot.call(
        "/api/social/group/members", {"friend_pversion_map": [f"{CAROL}_0"]}, method="GET"
    )
    assert members["data"]["profiles"][CAROL]["displayName"] == "Carol"
    me = await bot.call("/api/social/profile/me-v2", method="GET")
    assert me["data"]["profile"]["displayName"] == "Bot"
    lookup = {"avatar_size": 240, "language": "vi", "imei": bot.imei, "reqSrc": 40}
    found = await bot.call(
        "/api/friend/profile/get", {"phone": "84900000002", **lookup}, method="GET"
    )
    assert found["data"]["uid"] == ALICE
    missing = await bot.call("/api/friend/profile/get", {"phone": "84111", **lookup}, method="GET")
    assert missing["error_code"] == ERR_NOT_FOUND
    link = await bot.call(
        "/api/message/parselink",
        {"link": "https://example.org/a", "version": 1, "imei": bot.imei},
        method="GET",
    )
    assert link["data"]["data"]["href"] == "https://example.org/a"
    alive = await bot.call("/keepalive", {"imei": bot.imei}, method="GET")
    assert alive["data"] == {"config_vesion": 1}


def receipt_entry(cli_msg_id: str, msg_id: str, sender: str) -> dict[str, Any]:
    """One ``msgInfos.data`` entry as sendSeenEvent.js / sendDeliveredEvent.js write it."""
    fields = {"cmi": cli_msg_id, "gmi": msg_id, "si": sender, "di": "0", "mt": "webchat"}
    return {**fields, "st": 0, "at": 0, "cmd": 0, "ts": 0}


def upload_params(client: RawClient) -> dict[str, Any]:
    """One 5-byte chunk of ``a.txt`` to Alice, with every field uploadAttachment.js sends."""
    return {
        "toid": ALICE,
        "totalChunk": 1,
        "fileName": "a.txt",
        "clientId": 77,
        "totalSize": 5,
        "imei": client.imei,
        "isE2EE": 0,
        "jxl": 0,
        "chunkId": 1,
    }


async def test_async_file_upload_is_followed_by_file_done(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    ws = await bot.listen()
    params = upload_params(bot)
    resp = await bot.http.post(
        "/api/message/asyncfile/upload",
        params={
            "type": 2,
            "params": wire.seal_session_payload(bot.key, params),
            "zpw_ver": 685,
            "zpw_type": 30,
        },
        files={"chunkContent": ("a.txt", b"hello", "application/octet-stream")},
    )
    upload = wire.open_session_payload(bot.key, resp.json()["data"])["data"]
    cmd, data = await ws.event()
    assert cmd == 601
    control = data["controls"][0]["content"]
    assert (control["act_type"], control["fileId"]) == ("file_done", upload["fileId"])
    assert (await bot.http.get(control["data"]["url"])).content == b"hello"
    await ws.conn.close()


async def test_session_calls_need_the_session_cookie(fake: FakeZaloPersonal) -> None:
    async with httpx2.AsyncClient(base_url=fake.base_url) as http:
        body = (await http.post("/api/message/sms", data={"params": "x"})).json()
        assert body["error_code"] == ERR_SESSION
    with pytest.raises(InvalidStatus):
        async with connect(fake.ws_url):
            pass


# ---------------------------------------------------------------- faults


async def test_injected_errors_surface_in_inner_or_outer_envelope(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    fake.fail("message/sms", 114, "rate limited")
    params = {"message": "x", "clientId": 1, "imei": bot.imei, "ttl": 0, "toid": ALICE}
    failed = await bot.call("/api/message/sms", params)
    assert (failed["error_code"], failed["error_message"]) == (114, "rate limited")
    assert (await bot.call("/api/message/sms", params))["error_code"] == 0
    fake.fail("message/sms", 600, "session", outer=True, times=None)
    assert (await bot.call("/api/message/sms", params))["error_code"] == 600
    assert (await bot.call("/api/message/sms", params))["error_code"] == 600
    fake.clear_faults()
    fake.slow("message/sms", 0.01)
    assert (await bot.call("/api/message/sms", params))["error_code"] == 0


async def test_duplicate_connection_kick_drop_and_tamper(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    ws = await bot.listen()
    await fake.duplicate_connection(BOT)
    cmd, _ = await ws.event()
    assert cmd == 3000
    with pytest.raises(ConnectionClosed) as closed:
        await ws.event()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 3000

    ws = await bot.listen()
    await fake.kick(BOT)
    with pytest.raises(ConnectionClosed) as kicked:
        await ws.event()
    assert kicked.value.rcvd is not None
    assert kicked.value.rcvd.code == 3003

    ws = await bot.listen()
    await fake.drop(BOT)
    with pytest.raises(ConnectionClosed) as dropped:
        await ws.event()
    assert dropped.value.rcvd is None  # no close frame: the client reports 1006

    ws = await bot.listen()
    fake.tamper_next_event(BOT)
    await fake.user(ALICE).says_to(BOT, "a")
    await fake.user(ALICE).says_to(BOT, "b")
    with pytest.raises(wire.WireError):
        await ws.event()
    _, data = await ws.event()
    assert data["msgs"][0]["content"] == "b"
    await ws.conn.close()


async def test_single_listener_mode_pushes_3000_to_the_older_socket() -> None:
    async with FakeZaloPersonal() as fake:
        fake.add_account(BOT, "Bot")
        first = await logged_in(fake, BOT)
        second = await logged_in(fake, BOT)
        old = await first.listen()
        new = await second.listen()
        cmd, _ = await old.event()
        assert cmd == 3000
        await fake.user(ALICE).says_to(BOT, "to the new one")
        _, data = await new.event()
        assert data["msgs"][0]["content"] == "to the new one"
        await close_clients()


def test_thread_mode_serves_synchronous_callers() -> None:
    fake = FakeZaloPersonal(auto_approve_qr=BOT)
    fake.start_in_thread()
    try:
        fake.run(lambda: fake.add_account(BOT, "Bot"))
        with httpx2.Client(base_url=fake.base_url) as http:
            code = http.post("/account/authen/qr/generate").json()["data"]["code"]
            scan = http.post("/account/authen/qr/waiting-scan", data={"code": code}).json()
            assert scan["data"]["display_name"] == "Bot"
        message = fake.run(fake.user(ALICE).says_to(BOT, "hello"))
        assert message["content"] == "hello"
    finally:
        fake.stop_thread()


async def test_old_message_requests_are_answered_from_history(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    ws = await bot.listen()
    await fake.user(ALICE).says_to(BOT, "first")
    await ws.event()
    await ws.conn.send(
        wire.encode_frame(510, 1, {"first": True, "lastId": None, "preIds": [], "req_id": "req_0"})
    )
    cmd, data = await ws.event()
    assert cmd == 510
    assert [(m["uidFrom"], m["idTo"], m["content"]) for m in data["msgs"]] == [
        (ALICE, "0", "first")
    ]
