"""Inbound media shared by the channel adapters: the size cap and the image downloader.

Both ``zalo`` (Bot API) and ``zalouser`` (personal account) admit an image message with a
``MediaRef`` holding the photo URL only; :class:`MediaFetcher` downloads it when the message
is processed, after access control (the pipeline calls the channel's ``prepare_inbound``), so
that an unauthorised sender never makes the gateway fetch anything. The download is capped at
``mediaMaxMb`` (:func:`media_max_bytes`), guarded against SSRF (private and loopback hosts are
refused unless explicitly allowed, also after redirects, and the connection goes to the
vetted address: :mod:`zalogate.net.download`) and bounded in time (120 s for the
headers, 30 s without data). On any failure the message still goes to the agent, with the
notice :data:`IMAGE_UNAVAILABLE` after the caption.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import mimetypes
import time
import urllib.parse
from pathlib import Path

import httpx2

from zalogate.core.model import InboundMessage, MediaRef
from zalogate.net.download import Downloader, DownloadError
from zalogate.net.urlguard import UnsafeUrlError, UrlGuard
from zalogate.store import write_private_file

__all__ = ["DEFAULT_MEDIA_MAX_MB", "IMAGE_UNAVAILABLE", "MediaFetcher", "media_max_bytes"]

log = logging.getLogger(__name__)

DEFAULT_MEDIA_MAX_MB = 5.0
IMAGE_UNAVAILABLE = "[zalo image attachment unavailable]"
_MIB = 1024 * 1024


def media_max_bytes(value: object) -> int:
    """``mediaMaxMb`` in bytes: non-positive or non-numbers give 5 MiB; fractions are floored."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        value = DEFAULT_MEDIA_MAX_MB
    if not math.isfinite(value):
        value = DEFAULT_MEDIA_MAX_MB
    return int(value * _MIB)


def _safe_name(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _mime_type(content_type: str | None, url: str) -> str:
    if content_type:
        main = content_type.split(";", 1)[0].strip().lower()
        if main.startswith("image/"):
            return main
    guessed, _ = mimetypes.guess_type(urllib.parse.urlsplit(url).path)
    return guessed if guessed and guessed.startswith("image/") else "image/jpeg"


class MediaFetcher:
    """Downloads inbound images into ``media_dir/<account>/`` (files 0600).

    Each channel gives its own directory (``<state_dir>/media/<channel>``); the account and
    message ids in file names are hashed, so no id ever becomes a path.

    Args:
        media_dir: Root directory for the channel's downloads.
        guard: SSRF guard for the photo URL and every redirect target.
        header_timeout: Seconds to wait for the response headers.
        idle_timeout: Seconds without body data before giving up.
    """

    def __init__(
        self,
        media_dir: Path,
        *,
        guard: UrlGuard,
        header_timeout: float = 120.0,
        idle_timeout: float = 30.0,
    ) -> None:
        self.media_dir = media_dir
        self.guard = guard
        self.header_timeout = header_timeout
        self.idle_timeout = idle_timeout
        self._downloader = Downloader(
            guard, timeout=httpx2.Timeout(header_timeout, connect=min(30.0, header_timeout))
        )

    def prune(self, max_age: float, *, now: float | None = None) -> int:
        """Delete downloads older than ``max_age`` seconds; return how many went.

        Blocking (file system): run it in a thread.
        """
        cutoff = (time.time() if now is None else now) - max_age
        removed = 0
        if not self.media_dir.is_dir():
            return 0
        for path in self.media_dir.rglob("*"):
            try:
                if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:
                continue
        return removed

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        await self._downloader.aclose()

    async def resolve(
        self,
        message: InboundMessage,
        *,
        max_bytes: int,
        proxy: str | None = None,
    ) -> InboundMessage:
        """``message`` with its images downloaded (or marked unavailable)."""
        if not any(m.kind == "image" and m.url and m.path is None for m in message.media):
            return message
        refs: list[MediaRef] = []
        for index, ref in enumerate(message.media):
            if ref.kind != "image" or not ref.url or ref.path is not None:
                refs.append(ref)
                continue
            target = (
                self.media_dir
                / _safe_name(message.account_id)
                / f"{_safe_name(message.message_id)}-{index}"
            )
            try:
                refs.append(await self._fetch(ref.url, target, max_bytes, proxy))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The URL may carry a signature: log the reason only.
                log.warning(
                    "[%s] Zalo image from %s unavailable: %s",
                    message.account_id,
                    message.sender_id,
                    exc if isinstance(exc, DownloadError | UnsafeUrlError) else type(exc).__name__,
                )
                refs.append(MediaRef(kind="image", url=ref.url, placeholder=IMAGE_UNAVAILABLE))
        return message.model_copy(update={"media": tuple(refs)})

    async def _fetch(self, url: str, target: Path, max_bytes: int, proxy: str | None) -> MediaRef:
        download = await self._downloader.fetch(
            url,
            max_bytes=max_bytes,
            what="Zalo image URL",
            proxy=proxy,
            header_timeout=self.header_timeout,
            idle_timeout=self.idle_timeout,
        )
        body = download.data
        mime = _mime_type(download.content_type, download.url)
        extension = mimetypes.guess_extension(mime) or ".img"
        path = target.with_suffix(extension)
        await asyncio.to_thread(write_private_file, path, body)
        return MediaRef(kind="image", url=url, path=str(path), mime_type=mime, size=len(body))
