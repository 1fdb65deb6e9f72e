"""Loading outbound media: a local file or an HTTP(S) URL -> bytes, within a size cap.

Zalo wants the bytes uploaded (unlike the Bot API, which fetches a URL itself), so a remote
URL is downloaded first (:mod:`zalogate.net.download`): guarded against SSRF (private
and loopback hosts refused unless allowed, also after redirects; the connection goes to the
vetted address), capped at ``mediaMaxMb`` and bounded in time.
"""

from __future__ import annotations

import asyncio
import mimetypes
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import httpx2

from zalogate.net.download import Downloader, DownloadError
from zalogate.net.urlguard import UnsafeUrlError, UrlGuard

__all__ = ["LoadedMedia", "MediaLoadError", "MediaLoader", "local_media_path"]

_LOAD_MESSAGES: dict[str, str] = {
    "status": "media download failed: HTTP {status}",
    "no-location": "HTTP {status} without Location",
    "too-large": "media is larger than {limit} bytes",
    "transport": "media download failed: {detail}",
    "redirects": "media download: too many redirects",
}
_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
)


class MediaLoadError(Exception):
    """A media reference could not be loaded (the message never quotes a URL's query)."""


@dataclass(frozen=True, slots=True)
class LoadedMedia:
    """Bytes of one media item, with a file name and a MIME type."""

    data: bytes = field(repr=False)
    filename: str
    mime_type: str

    @property
    def is_image(self) -> bool:
        """True for JPEG, PNG, GIF and WebP."""
        return self.mime_type in ("image/jpeg", "image/png", "image/gif", "image/webp")


def local_media_path(ref: str) -> Path | None:
    """The file a media reference names (a path or ``file://``), or None for a URL."""
    text = ref.strip()
    if text.lower().startswith("file://"):
        return Path(urllib.parse.unquote(urllib.parse.urlsplit(text).path))
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return None
    if len(scheme) > 1:
        return None
    return Path(text).expanduser()


def _sniff(data: bytes, name: str) -> tuple[str, str]:
    """(MIME type, file name) from the content first, then the name."""
    for magic, mime, ext in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime, name if "." in name else name + ext
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", name if "." in name else name + ".webp"
    guessed, _ = mimetypes.guess_type(name)
    if "." not in name:
        name += ".bin"
    return guessed or "application/octet-stream", name


def _name_from_url(url: str) -> str:
    path = urllib.parse.unquote(urllib.parse.urlsplit(url).path)
    name = PurePosixPath(path).name
    return name or "upload"


class MediaLoader:
    """Loads outbound media for the ``zalouser`` channel.

    Args:
        guard: SSRF guard for URLs and every redirect.
        timeout_s: Deadline of one download.
    """

    def __init__(self, guard: UrlGuard, *, timeout_s: float = 60.0) -> None:
        self.guard = guard
        self.timeout_s = timeout_s
        self._downloader = Downloader(guard, timeout=httpx2.Timeout(timeout_s))

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._downloader.aclose()

    async def load(self, ref: str, *, max_bytes: int) -> LoadedMedia:
        """Read ``ref`` (path, ``file://`` or http(s) URL) into memory.

        Raises:
            MediaLoadError: Missing file, refused URL, HTTP error, or larger than ``max_bytes``.
        """
        path = local_media_path(ref)
        if path is not None:
            return await asyncio.to_thread(self._read_file, path, max_bytes)
        try:
            async with asyncio.timeout(self.timeout_s):
                data, final_url = await self._download(ref.strip(), max_bytes)
        except TimeoutError:
            raise MediaLoadError(f"media download timed out after {self.timeout_s:g} s") from None
        mime, name = _sniff(data, _name_from_url(final_url))
        return LoadedMedia(data, name, mime)

    @staticmethod
    def _read_file(path: Path, max_bytes: int) -> LoadedMedia:
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise MediaLoadError(f"cannot read media file {path}: {exc.strerror}") from None
        if not path.is_file():
            raise MediaLoadError(f"media path {path} is not a file")
        if size > max_bytes:
            raise MediaLoadError(f"media file {path.name} is larger than {max_bytes} bytes")
        data = path.read_bytes()
        mime, name = _sniff(data, path.name)
        return LoadedMedia(data, name, mime)

    async def _download(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        try:
            download = await self._downloader.fetch(url, max_bytes=max_bytes, what="media URL")
        except UnsafeUrlError as exc:
            raise MediaLoadError(str(exc)) from None
        except DownloadError as exc:
            message = _LOAD_MESSAGES.get(exc.reason, "media download failed: {reason}")
            raise MediaLoadError(
                message.format(
                    status=exc.status, detail=exc.detail, limit=max_bytes, reason=str(exc)
                )
            ) from None
        return download.data, download.url
