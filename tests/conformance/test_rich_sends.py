"""Conformance of stickers, albums and hosted videos: zca-js 2.2.0 (``getStickers``,
``getStickersDetail``, ``sendSticker``, ``sendMessage`` with several images, ``sendVideo``)
passes the strict fake, and our client sends the same fields for each operation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from zalogate.personal import ThreadType
from zalogate.personal.api_base import NO_RETRY
from zalogate.personal.api_stickers import Sticker
from zalogate.personal.api_uploads import AlbumImage
from zalogate.personal.api_video import HostedVideo
from zalogate.testing import FakeZaloPersonal

from .conftest import ALICE, BOT, GROUP, GROUP_THREAD, UA, USER
from .test_personal_client import client

pytestmark = [pytest.mark.node, pytest.mark.slow]

PNG = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGP4z8DwHwAFAAH/iZk9HQAAAABJ"
    "RU5ErkJggg=="
)
_LAYOUT = ("groupLayoutId", "isGroupLayout", "idInGroup", "totalItemInGroup", "extMsgProp")


def _video_url(fake: FakeZaloPersonal, data: bytes) -> str:
    """A video the fake serves, on a zalo.me host (the driver fetches nothing else)."""
    local = fake._store_media(data, ".mp4")
    return "https://tt-files-wpa.chat.zalo.me" + local[len(fake.base_url) :]


def _keys(params: Mapping[str, Any]) -> dict[str, str]:
    """Each parameter's name and JSON type (an int where zca-js sends a number, …)."""
    return {name: type(value).__name__ for name, value in params.items()}


async def test_stickers_albums_and_videos_match_zcajs(
    fake: FakeZaloPersonal, start_zcajs: Any
) -> None:
    creds = fake.credentials(BOT, user_agent=UA)
    video = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100
    url = _video_url(fake, video)
    js_params: dict[tuple[str, str], Mapping[str, Any]] = {}
    async with start_zcajs(fake.base_url) as js:
        await js.call("login_cookie", credentials=creds)
        await js.call("listen")

        ids = await js.call("call", name="getStickers", args=["hello"])
        assert ids == [21979, 23311]
        details = await js.call("call", name="getStickersDetail", args=[ids[:1]])
        assert (details[0]["id"], details[0]["cateId"], details[0]["type"]) == (21979, 10399, 7)
        for thread, kind in ((ALICE, USER), (GROUP, GROUP_THREAD)):
            await js.call("call", name="sendSticker", args=[details[0], thread, kind])
            record = await fake.wait_for_sent(kind="sticker", thread_id=thread)
            js_params[("sticker", thread)] = record.params

            files = [{"base64": PNG, "filename": f"p{i}.png"} for i in range(3)]
            await js.call(
                "send_album", files=files, text="our trip", threadId=thread, threadType=kind
            )
            photos = [
                await fake.wait_for_sent(kind="photo", thread_id=thread, count=i) for i in (1, 2, 3)
            ]
            caption = await fake.wait_for_sent(kind="text", thread_id=thread, text="our trip")
            assert caption.msg_id < photos[0].msg_id  # the text goes first, on its own
            assert [p.params["idInGroup"] for p in photos] == [0, 1, 2]
            assert {p.params["groupLayoutId"] for p in photos} == {
                photos[0].params["groupLayoutId"]
            }
            assert {p.params["totalItemInGroup"] for p in photos} == {3}
            assert {p.params["desc"] for p in photos} == {""}
            js_params[("album", thread)] = photos[0].params

            options = {
                "videoUrl": url,
                "thumbnailUrl": url + ".jpg",
                "duration": 3000,
                "width": 640,
                "height": 360,
                "msg": "clip",
            }
            await js.call("call", name="sendVideo", args=[options, thread, kind])
            record = await fake.wait_for_sent(kind="video", thread_id=thread)
            assert record.text == "clip"
            js_params[("video", thread)] = record.params
    sent_before = len(fake.sent)

    async with client(fake) as zp:
        await zp.login_cookie(_credentials(creds))
        ids = await zp.api.search_stickers("hello")
        assert ids == [21979, 23311]
        sticker = await zp.api.sticker_detail(ids[0])
        assert sticker == Sticker(21979, 10399, 7, "hello wave hi", sticker.url)
        png = __import__("base64").b64decode(PNG)
        images = [AlbumImage(png, f"p{i}.png") for i in range(3)]
        hosted = HostedVideo(url, len(video), url + ".jpg", 3000, 640, 360, "clip")
        for thread, kind in ((ALICE, ThreadType.USER), (GROUP, ThreadType.GROUP)):
            await zp.api.send_sticker(thread, sticker, thread_type=kind)
            await zp.api.send_album(thread, images, thread_type=kind)
            await zp.api.send_video(thread, hosted, thread_type=kind)
    ours = fake.sent[sent_before:]
    for thread in (ALICE, GROUP):
        mine = {r.kind: r for r in ours if r.thread_id == thread and r.kind != "photo"}
        photos = [r for r in ours if r.thread_id == thread and r.kind == "photo"]
        assert _keys(mine["sticker"].params) == _keys(js_params[("sticker", thread)])
        assert _keys(mine["video"].params) == _keys(js_params[("video", thread)])
        assert _keys(photos[0].params) == _keys(js_params[("album", thread)])
        assert [p.params["idInGroup"] for p in photos] == [0, 1, 2]
        for name in ("stickerId", "cateId", "type", "zsource"):
            assert mine["sticker"].params[name] == js_params[("sticker", thread)][name]
        assert mine["video"].params["msgInfo"] == js_params[("video", thread)]["msgInfo"]


def _credentials(creds: Mapping[str, Any]) -> Any:
    from zalogate.personal import Credentials

    return Credentials.from_json(dict(creds))


async def test_strict_fake_refuses_half_an_album_and_a_video_without_url(
    fake: FakeZaloPersonal,
) -> None:
    """What zca-js never sends: one layout field alone, a video message without a URL, a
    sticker of type 0, a sticker send without ``nretry=0``."""
    from zalogate.personal import ApiError

    async with client(fake) as zp:
        await zp.login_cookie(_credentials(fake.credentials(BOT, user_agent=UA)))
        api = zp.api
        with pytest.raises(ApiError, match="album photos need all of"):
            await api._send_photo(
                ALICE,
                False,
                AlbumImage(b"x", "x.png", (1, 1)),
                ({"photoId": "1", "normalUrl": "u"}, (1, 1)),
                "",
                0,
                {"groupLayoutId": "123"},
            )
        with pytest.raises(ApiError, match="videoUrl"):
            await api.http.call(
                "POST",
                api._url("file", "/api/message/forward"),
                {
                    "toId": ALICE,
                    "clientId": "1",
                    "ttl": 0,
                    "zsource": 704,
                    "msgType": 5,
                    "msgInfo": "{}",
                    "imei": zp.session.imei,
                },
            )
        zero_type = Sticker(21979, 10399, 0)
        with pytest.raises(ApiError, match="type must be a non-zero number"):
            await api.http.call(
                "POST",
                api._url("chat", "/api/message/sticker"),
                {
                    "stickerId": zero_type.id,
                    "cateId": zero_type.cate_id,
                    "type": zero_type.type,
                    "clientId": 1,
                    "imei": zp.session.imei,
                    "zsource": 101,
                    "toid": ALICE,
                },
                query=NO_RETRY,
            )
        with pytest.raises(ApiError, match="nretry"):
            await api.http.call(
                "POST",
                api._url("chat", "/api/message/sticker"),
                {
                    "stickerId": 21979,
                    "cateId": 10399,
                    "type": 7,
                    "clientId": 1,
                    "imei": zp.session.imei,
                    "zsource": 101,
                    "toid": ALICE,
                },
            )
