"""`UploadApi`: images and files, uploaded in chunks (reference §4).

Non-image files need the websocket: Zalo answers the upload with a ``fileId`` and later
pushes a ``file_done`` control with the file URL. The listener hands those to
`UploadApi.resolve_file_done`; `UploadApi.send_file` waits for it with a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from zalogate.personal.api_base import NO_RETRY, ApiBase
from zalogate.personal.errors import ConfigurationError, FileDoneTimeoutError, ProtocolError
from zalogate.personal.image_size import image_size
from zalogate.personal.outgoing import SentMessage
from zalogate.personal.session import ThreadType

__all__ = ["AlbumImage", "UploadApi"]

_DEFAULT_CHUNK: Final = 3 * 1024 * 1024
#: Chunks of one file uploaded at the same time (the web client sends all at once).
_PARALLEL_CHUNKS: Final = 4


@dataclass(frozen=True, slots=True)
class AlbumImage:
    """One image to send: its bytes, a file name and (when known) its width and height."""

    data: bytes = field(repr=False)
    filename: str = "image.jpg"
    size: tuple[int, int] | None = None


class UploadApi(ApiBase):
    """Uploading and sending images and files."""

    def file_done_waiter(self, file_id: str) -> asyncio.Future[str]:
        """A future resolved with the URL of ``file_id`` when its ``file_done`` arrives."""
        return self.file_done.waiter(str(file_id))

    def resolve_file_done(self, file_id: str, url: str) -> bool:
        """Called by the listener for each ``file_done`` control; True if someone waited."""
        return self.file_done.resolve(str(file_id), url)

    def _check_file(self, data: bytes, filename: str) -> None:
        sharefile = self._sharefile()
        limit_mb = sharefile.get("max_size_share_file_v3")
        if isinstance(limit_mb, int | float) and len(data) > limit_mb * 1024 * 1024:
            raise ConfigurationError(
                f"{filename}: {len(data)} bytes exceed the {limit_mb} MB limit"
            )
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        restricted = sharefile.get("restricted_ext_file") or []
        if ext and ext in {str(e).lower() for e in restricted}:
            raise ConfigurationError(f"{filename}: .{ext} files are not allowed by Zalo")
        if not data:
            raise ConfigurationError(f"{filename}: the file is empty")

    async def _upload(
        self, kind: str, thread_id: str, group: bool, data: bytes, filename: str
    ) -> tuple[Mapping[str, Any], int]:
        """Upload ``data`` in parallel chunks; return the final chunk answer and clientId."""
        raw_chunk = self._sharefile().get("chunk_size_file")
        chunk = int(raw_chunk) if isinstance(raw_chunk, int | float) and raw_chunk > 0 else 0
        chunk = chunk or _DEFAULT_CHUNK
        total = max(1, math.ceil(len(data) / chunk))
        client_id = self._client_id()
        scope = "group" if group else "message"
        url = self._url("file", f"/api/{scope}/{kind}/upload")
        type_query = (("type", "11" if group else "2"),)

        gate = asyncio.Semaphore(_PARALLEL_CHUNKS)

        async def one(index: int) -> Any:
            params = {
                "toid": None if group else thread_id,
                "grid": thread_id if group else None,
                "totalChunk": total,
                "fileName": filename,
                "clientId": client_id,
                "totalSize": len(data),
                "imei": self.session.imei,
                "isE2EE": 0,
                "jxl": 0,
                "chunkId": index + 1,
            }
            body = data[index * chunk : (index + 1) * chunk]
            files = {"chunkContent": (filename, body, "application/octet-stream")}
            async with gate:
                return await self.http.call("POST", url, params, query=type_query, files=files)

        answers = await asyncio.gather(*(one(i) for i in range(total)))
        key = "photoId" if kind == "photo_original" else "fileId"
        for answer in answers:
            if isinstance(answer, Mapping) and str(answer.get(key, "-1")) not in ("-1", "", "0"):
                return answer, client_id
        raise ProtocolError(f"upload of {filename} finished without a {key}")

    async def send_image(
        self,
        thread_id: str,
        data: bytes,
        *,
        filename: str = "image.jpg",
        thread_type: ThreadType | str = ThreadType.USER,
        caption: str = "",
        width: int | None = None,
        height: int | None = None,
        ttl_ms: int = 0,
    ) -> SentMessage:
        """Upload an image (chunked, in parallel) and send it with an optional caption.

        Raises:
            ConfigurationError: too large, restricted, or size unknown (pass width/height).
        """
        size = (width, height) if width is not None and height is not None else None
        image = AlbumImage(data, filename, size)
        group = self._is_group(thread_type)
        uploaded = await self._upload_image(thread_id, group, image)
        return await self._send_photo(thread_id, group, image, uploaded, caption, ttl_ms, None)

    async def send_album(
        self,
        thread_id: str,
        images: Sequence[AlbumImage],
        *,
        thread_type: ThreadType | str = ThreadType.USER,
        ttl_ms: int = 0,
    ) -> list[SentMessage]:
        """Send several images as one album (Zalo shows them as a grid).

        As zca-js ``sendMessage`` with several attachments: every image is uploaded first,
        then each is sent with the same ``groupLayoutId``, its index and the total; an album
        carries no caption (send the text as its own message).

        Raises:
            ConfigurationError: fewer than two images, or one is too large / unreadable.
        """
        if len(images) < 2:
            raise ConfigurationError("an album needs at least two images")
        group = self._is_group(thread_type)
        uploads = [await self._upload_image(thread_id, group, image) for image in images]
        layout_id = str(self._client_id())
        sent: list[SentMessage] = []
        for index, (image, uploaded) in enumerate(zip(images, uploads, strict=True)):
            layout = {
                "groupLayoutId": layout_id,
                "isGroupLayout": 1,
                "idInGroup": index,
                "totalItemInGroup": len(images),
                "extMsgProp": f'{{"groupMediaMsg":{{"groupLayoutId":"{layout_id}"}}}}',
            }
            sent.append(
                await self._send_photo(thread_id, group, image, uploaded, "", ttl_ms, layout)
            )
        return sent

    async def _upload_image(
        self, thread_id: str, group: bool, image: AlbumImage
    ) -> tuple[Mapping[str, Any], tuple[int, int]]:
        """Check and upload one image; return the upload answer and the image's size."""
        self._check_file(image.data, image.filename)
        size = image.size or image_size(image.data)
        if size is None:
            raise ConfigurationError(
                f"{image.filename}: cannot read the image size; pass width= and height="
            )
        uploaded, _ = await self._upload(
            "photo_original", thread_id, group, image.data, image.filename
        )
        return uploaded, size

    async def _send_photo(
        self,
        thread_id: str,
        group: bool,
        image: AlbumImage,
        upload: tuple[Mapping[str, Any], tuple[int, int]],
        caption: str,
        ttl_ms: int,
        layout: Mapping[str, Any] | None,
    ) -> SentMessage:
        uploaded, (width, height) = upload
        client_id = self._client_id()
        normal = uploaded.get("normalUrl")
        params = {
            "photoId": uploaded.get("photoId"),
            "clientId": str(client_id),
            "desc": caption,
            "width": width,
            "height": height,
            "toid": None if group else thread_id,
            "grid": thread_id if group else None,
            "rawUrl": normal,
            "hdUrl": uploaded.get("hdUrl"),
            "thumbUrl": uploaded.get("thumbUrl"),
            "oriUrl": normal if group else None,
            "normalUrl": None if group else normal,
            "hdSize": str(len(image.data)),
            "zsource": -1,
            "ttl": ttl_ms,
            "jcp": '{"convertible":"jxl"}',
            **(layout or {}),
        }
        scope = "group" if group else "message"
        path = f"/api/{scope}/photo_original/send"
        result = await self.http.call("POST", self._url("file", path), params, query=NO_RETRY)
        return self._sent(result, client_id, path)

    async def send_file(
        self,
        thread_id: str,
        data: bytes,
        filename: str,
        *,
        thread_type: ThreadType | str = ThreadType.USER,
        timeout_s: float = 60.0,
        ttl_ms: int = 0,
    ) -> SentMessage:
        """Upload a file, wait for its websocket ``file_done``, then send it.

        The listener must be running and feed `resolve_file_done`.

        Raises:
            FileDoneTimeoutError: no ``file_done`` within ``timeout_s``.
            ConfigurationError: too large or a restricted extension.
        """
        self._check_file(data, filename)
        group = self._is_group(thread_type)
        uploaded, upload_client_id = await self._upload(
            "asyncfile", thread_id, group, data, filename
        )
        file_id = str(uploaded["fileId"])
        waiter = self.file_done_waiter(file_id)
        try:
            async with asyncio.timeout(timeout_s):
                file_url = await waiter
        except TimeoutError:
            raise FileDoneTimeoutError(file_id, timeout_s) from None
        finally:
            waiter.cancel()
        ext = filename.rsplit(".", 1)[-1] if "." in filename else ""
        client_id = uploaded.get("clientFileId") or upload_client_id
        params = {
            "fileId": file_id,
            "checksum": hashlib.md5(data, usedforsecurity=False).hexdigest(),
            "checksumSha": "",
            "extention": ext,
            "totalSize": len(data),
            "fileName": filename,
            "clientId": client_id,
            "fType": 1,
            "fileCount": 0,
            "fdata": "{}",
            "toid": None if group else thread_id,
            "grid": thread_id if group else None,
            "fileUrl": file_url,
            "zsource": -1,
            "ttl": ttl_ms,
        }
        scope = "group" if group else "message"
        path = f"/api/{scope}/asyncfile/msg"
        result = await self.http.call("POST", self._url("file", path), params, query=NO_RETRY)
        return self._sent(result, client_id, path)
