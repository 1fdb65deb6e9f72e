"""Inbound media shared by the channel adapters: the size cap and the image downloader.

Both ``zalo`` (Bot API) and ``zalouser`` (personal account) admit an image message with a
``MediaRef`` holding the photo URL only; :class:`MediaFetcher` downloads it when the message
is processed, after access control (the pipeline calls the channel's ``prepare_inbound``), so
that an unauthorised sender never makes the gateway fetch anything. The download is capped at
``mediaMaxMb`` (:func:`media_max_bytes`), guarded against SSRF (private and loopback hosts are
refused unless explicitly allowed, also after redirects) and bounded in time (120 s for the
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

from zalogate.botapi.client import shared_ssl_context
from zalogate.botapi.urlguard import UnsafeUrlError, UrlGuard
from zalogate.core.model import InboundMessage, MediaRef
from zalogate.store import write_private_file

__all__ = ["DEFAULT_MEDIA_MAX_MB", "IMAGE_UNAVAILABLE", "MediaFetcher", "media_max_bytes"]

log = logging.getLogger(__name__)

DEFAULT_MEDIA_MAX_MB = 5.0
IMAGE_UNAVAILABLE = "[zalo image attachment unavailable]"
_MIB = 1024 * 1024
_MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


def media_max_bytes(value: object) -> int:
    """``mediaMaxMb`` in bytes: non-positive or non-numbers give 5 MiB; fractions are floored."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        value = DEFAULT_MEDIA_MAX_MB
    if not math.isfinite(value):
        value = DEFAULT_MEDIA_MAX_MB
    return int(value * _MIB)


class _DownloadError(Exception):
    pass


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
        self._clients: dict[str | None, httpx2.AsyncClient] = {}

    def _client(self, proxy: str | None) -> httpx2.AsyncClient:
        client = self._clients.get(proxy)
        if client is None:
            client = httpx2.AsyncClient(
                proxy=proxy,
                verify=shared_ssl_context(),
                follow_redirects=False,
                trust_env=False,
                timeout=httpx2.Timeout(self.header_timeout, connect=min(30.0, self.header_timeout)),
            )
            self._clients[proxy] = client
        return client

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
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

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
                    exc if isinstance(exc, _DownloadError | UnsafeUrlError) else type(exc).__name__,
                )
                refs.append(MediaRef(kind="image", url=ref.url, placeholder=IMAGE_UNAVAILABLE))
        return message.model_copy(update={"media": tuple(refs)})

    async def _fetch(self, url: str, target: Path, max_bytes: int, proxy: str | None) -> MediaRef:
        client = self._client(proxy)
        current = url
        for _ in range(_MAX_REDIRECTS + 1):
            current = await self.guard.check(current, what="Zalo image URL")
            request = client.build_request("GET", current)
            try:
                async with asyncio.timeout(self.header_timeout):
                    response = await client.send(request, stream=True)
            except TimeoutError:
                raise _DownloadError(
                    f"no response headers within {self.header_timeout:g} s"
                ) from None
            except httpx2.HTTPError as exc:
                raise _DownloadError(type(exc).__name__) from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise _DownloadError(f"HTTP {response.status_code} without a Location")
                    current = urllib.parse.urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise _DownloadError(f"HTTP {response.status_code}")
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise _DownloadError(f"larger than {max_bytes} bytes")
                body = await self._read(response, max_bytes)
                mime = _mime_type(response.headers.get("content-type"), current)
            finally:
                await response.aclose()
            extension = mimetypes.guess_extension(mime) or ".img"
            path = target.with_suffix(extension)
            await asyncio.to_thread(write_private_file, path, body)
            return MediaRef(kind="image", url=url, path=str(path), mime_type=mime, size=len(body))
        raise _DownloadError("too many redirects")

    async def _read(self, response: httpx2.Response, max_bytes: int) -> bytes:
        chunks: list[bytes] = []
        size = 0
        iterator = response.aiter_bytes(_CHUNK)
        while True:
            try:
                async with asyncio.timeout(self.idle_timeout):
                    chunk = await anext(iterator)
            except StopAsyncIteration:
                break
            except TimeoutError:
                raise _DownloadError(f"no data for {self.idle_timeout:g} s") from None
            except httpx2.HTTPError as exc:
                raise _DownloadError(type(exc).__name__) from None
            size += len(chunk)
            if size > max_bytes:
                raise _DownloadError(f"larger than {max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
