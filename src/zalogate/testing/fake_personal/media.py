"""Uploads (chunked photos and files, ``file_done``), photo/album/file/link sends,
``parselink``, sticker search and sends, hosted-video sends."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from zalogate.testing.fake_personal.messages import Messaging
from zalogate.testing.fake_personal.state import (
    ERR_BAD_PARAMS,
    ERR_NOT_FOUND,
    ApiError,
    Call,
    Upload,
    attachment,
)


class Media(Messaging):
    """Uploads and the attachment and link sends."""

    async def _parselink(self, call: Call) -> Any:
        link = str(call.params.get("link", ""))
        if not link:
            raise ApiError(ERR_BAD_PARAMS, "missing link")
        data = {
            "thumb": f"{self.base_url}/media/link-thumb.jpg",
            "title": f"Title of {link}",
            "desc": "A page",
            "src": link.split("/")[2] if "//" in link else link,
            "href": link,
            "media": {
                "type": 0,
                "count": 0,
                "mediaTitle": "",
                "artist": "",
                "streamUrl": "",
                "stream_icon": "",
            },
            "stream_icon": "",
        }
        return {"data": data, "error_maps": {}}

    async def _send_link(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        href = str(call.params.get("href", ""))
        text = str(call.params.get("msg", href))
        content = attachment(
            call.params.get("title", ""),
            href,
            call.params.get("thumb", ""),
            {"mediaTitle": "", "src": call.params.get("src", "")},
            description=call.params.get("desc", ""),
            action="recommened.link",
        )
        return await self._send(call, thread, kind, "link", "chat.recommended", content, text)

    async def _upload(self, call: Call) -> Any:
        if not call.files:
            raise ApiError(ERR_BAD_PARAMS, "missing chunkContent")
        is_photo = "photo_original" in call.path
        client_id = str(call.params.get("clientId", ""))
        total = int(call.params.get("totalChunk", 1) or 1)
        chunk_id = int(call.params.get("chunkId", 1) or 1)
        slot = (call.account.uid, client_id)
        upload = self._uploads.setdefault(
            slot,
            Upload("photo" if is_photo else "file", total, str(call.params.get("fileName", ""))),
        )
        upload.chunks[chunk_id] = call.files[0][1]
        if len(upload.chunks) < upload.total:
            return {
                "fileId": "-1",
                "photoId": "-1",
                "finished": 0,
                "chunkId": chunk_id,
                "clientFileId": client_id,
            }
        del self._uploads[slot]
        data = b"".join(upload.chunks[i] for i in sorted(upload.chunks))
        suffix = "." + upload.name.rsplit(".", 1)[-1] if "." in upload.name else ""
        url = self._store_media(data, suffix)
        if is_photo:
            photo_id = str(next(self._ids))
            return {
                "normalUrl": url,
                "photoId": photo_id,
                "finished": 1,
                "hdUrl": url,
                "thumbUrl": url,
                "clientFileId": client_id,
                "chunkId": chunk_id,
            }
        file_id = str(next(self._ids))
        self._spawn(self._file_done_later(call.account.uid, file_id, url))
        return {"fileId": file_id, "clientFileId": client_id, "chunkId": chunk_id, "finished": 1}

    async def _file_done_later(self, uid: str, file_id: str, url: str) -> None:
        # zca-js registers its file_done callback only after reading the upload answer.
        await asyncio.sleep(self.file_done_delay_s)
        control = {
            "content": {"act_type": "file_done", "act": "", "fileId": file_id, "data": {"url": url}}
        }
        for lst in self._listeners_of(uid):
            await self._send_event(lst, 601, 0, {"data": {"controls": [control]}})

    async def _send_photo(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        url = str(
            call.params.get("rawUrl")
            or call.params.get("normalUrl")
            or call.params.get("oriUrl")
            or ""
        )
        desc = str(call.params.get("desc", ""))
        content = attachment(
            desc,
            url,
            str(call.params.get("thumbUrl") or url),
            {"width": call.params.get("width"), "height": call.params.get("height"), "hd": url},
        )
        mentions = self._mentions(call) if kind == "group" else []
        return await self._send(
            call, thread, kind, "photo", "chat.photo", content, desc or None, mentions
        )

    async def _send_file(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        name = str(call.params.get("fileName", ""))
        url = str(call.params.get("fileUrl", ""))
        content = attachment(
            name,
            url,
            "",
            {
                "fileSize": str(call.params.get("totalSize", "")),
                "checksum": call.params.get("checksum", ""),
                "fileExt": call.params.get("extention", ""),
            },
        )
        return await self._send(call, thread, kind, "file", "share.file", content, name)

    # ------------------------------------------------------------------ stickers, video

    async def _sticker_suggest(self, call: Call) -> Any:
        """getStickers.js: ``{sugg_sticker: [{sticker_id}], sugg_gif, sugg_guggy}``."""
        keyword = str(call.params.get("keyword", "")).strip().lower()
        found = [
            {"sticker_id": sticker["id"], "cate_id": sticker["cateId"], "type": sticker["type"]}
            for sticker in STICKERS.values()
            if keyword and keyword in sticker["text"].lower()
        ]
        return {"sugg_sticker": found, "sugg_gif": [], "sugg_guggy": []}

    async def _sticker_detail(self, call: Call) -> Any:
        sticker = STICKERS.get(call.params.get("sid"))  # type: ignore[arg-type]
        if sticker is None:
            raise ApiError(ERR_NOT_FOUND, "sticker not found")
        return {**sticker, "stickerUrl": f"{self.base_url}/media/sticker-{sticker['id']}.webp"}

    async def _send_sticker(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        sticker_id = call.params["stickerId"]
        known = STICKERS.get(sticker_id)
        if known is None or known["cateId"] != call.params["cateId"]:
            raise ApiError(ERR_BAD_PARAMS, "unknown sticker or category")
        content = {"id": sticker_id, "catId": call.params["cateId"], "type": call.params["type"]}
        return await self._send(call, thread, kind, "sticker", "chat.sticker", content, None)

    async def _send_video(self, call: Call) -> Any:
        thread, kind = self._thread(call)
        info = json.loads(str(call.params["msgInfo"]))
        params = {
            "duration": info["duration"],
            "video_width": info["width"],
            "video_height": info["height"],
            "fileSize": info["fileSize"],
        }
        content = attachment(info["title"], info["videoUrl"], info.get("thumbUrl", ""), params)
        text = info["title"] or None
        return await self._send(call, thread, kind, "video", "chat.video.msg", content, text)


#: The fake's sticker catalogue: id -> ``sticker_detail`` (``text`` is what a search matches).
STICKERS: dict[int, dict[str, Any]] = {
    21979: {"id": 21979, "cateId": 10399, "type": 7, "text": "hello wave hi"},
    21980: {"id": 21980, "cateId": 10399, "type": 7, "text": "thanks thank you"},
    23311: {"id": 23311, "cateId": 10425, "type": 7, "text": "love heart hello"},
}
