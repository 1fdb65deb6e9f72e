"""Inbound voice, video and files: downloaded after access control, within ``mediaMaxMb``.

Photos go through the shared :class:`~zalogate.channels.media.MediaFetcher`; this module
fetches the other kinds a personal account receives (``audio``, ``video``, ``file`` refs
with a URL) into ``<state_dir>/media/zalouser/<account>/`` (files 0600, ids hashed), with the
same SSRF guard and timeouts. The agent then gets the path, MIME type and size; a file over
the cap, or one that cannot be fetched, keeps a placeholder saying so (the message still
reaches the agent).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import urllib.parse
from pathlib import Path, PurePosixPath

from zalogate.channels.media import MediaFetcher
from zalogate.core.model import InboundMessage, MediaRef
from zalogate.net.download import DownloadError
from zalogate.net.urlguard import UnsafeUrlError
from zalogate.store import write_private_file

__all__ = ["FETCHED_KINDS", "AttachmentFetcher"]

log = logging.getLogger(__name__)

FETCHED_KINDS = frozenset({"audio", "video", "file"})
_DEFAULT_MIME = {"audio": "audio/mp4", "video": "video/mp4", "file": "application/octet-stream"}
_MIB = 1024 * 1024


def _hashed(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _mime(kind: str, content_type: str | None, name: str) -> str:
    main = (content_type or "").split(";", 1)[0].strip().lower()
    if main and main != "application/octet-stream":
        return main
    guessed, _ = mimetypes.guess_type(name)
    return guessed or _DEFAULT_MIME[kind]


class AttachmentFetcher(MediaFetcher):
    """The shared image fetcher (:meth:`resolve`), plus voice, video and file attachments
    (:meth:`resolve_files`) into the same directory with the same guard and timeouts."""

    async def resolve_files(
        self, message: InboundMessage, *, max_bytes: int, proxy: str | None = None
    ) -> InboundMessage:
        """``message`` with its voice, video and file attachments downloaded (or explained)."""
        if not any(m.kind in FETCHED_KINDS and m.url and m.path is None for m in message.media):
            return message
        refs: list[MediaRef] = []
        for index, ref in enumerate(message.media):
            if ref.kind not in FETCHED_KINDS or not ref.url or ref.path is not None:
                refs.append(ref)
                continue
            if ref.size is not None and ref.size > max_bytes:
                note = (
                    f"[zalo {ref.kind} of {ref.size / _MIB:.1f} MB not downloaded: over"
                    f" mediaMaxMb ({max_bytes / _MIB:g} MB)]"
                )
                refs.append(ref.model_copy(update={"placeholder": note}))
                continue
            target = (
                self.media_dir
                / _hashed(message.account_id)
                / f"{_hashed(message.message_id)}-{index}"
            )
            try:
                refs.append(await self._fetch_file(ref, target, max_bytes, proxy))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "[%s] Zalo %s from %s unavailable: %s",
                    message.account_id,
                    ref.kind,
                    message.sender_id,
                    exc if isinstance(exc, DownloadError | UnsafeUrlError) else type(exc).__name__,
                )
                note = f"[zalo {ref.kind} attachment unavailable]"
                refs.append(ref.model_copy(update={"placeholder": note}))
        return message.model_copy(update={"media": tuple(refs)})

    async def _fetch_file(
        self, ref: MediaRef, target: Path, max_bytes: int, proxy: str | None
    ) -> MediaRef:
        assert ref.url is not None
        download = await self._downloader.fetch(
            ref.url,
            max_bytes=max_bytes,
            what=f"Zalo {ref.kind} URL",
            proxy=proxy,
            header_timeout=self.header_timeout,
            idle_timeout=self.idle_timeout,
        )
        name = ref.name or PurePosixPath(urllib.parse.urlsplit(download.url).path).name
        mime = _mime(ref.kind, download.content_type, name)
        suffix = PurePosixPath(name).suffix or mimetypes.guess_extension(mime) or ".bin"
        path = target.with_suffix(suffix[:12])
        await asyncio.to_thread(write_private_file, path, download.data)
        return ref.model_copy(
            update={"path": str(path), "mime_type": mime, "size": len(download.data)}
        )
