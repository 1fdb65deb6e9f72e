"""Inbound: a Bot API update -> :class:`~zalogate.core.model.InboundMessage`, and images.

``normalize_update`` validates an update the way the reference's webhook spool does
(``zalo-bot-api.md`` §1.3) and either returns the message to admit or says why it is ignored:
stickers and unsupported events are logged and never reach the agent; a text event with only
whitespace starts no turn; a malformed event is dropped as ``invalid-event``.

Images are *not* downloaded here. An image message is admitted with a ``MediaRef`` holding
``photo_url`` only; :class:`MediaFetcher` downloads it when the message is processed, after
access control (the pipeline calls the channel's ``prepare_inbound``), so that an unauthorised
sender never makes the gateway fetch anything. The download is capped at ``mediaMaxMb``,
guarded against SSRF (private and loopback hosts are refused unless explicitly allowed, also
after redirects) and bounded in time (120 s for the headers, 30 s without data). On any failure
the message still goes to the agent, with the notice ``[zalo image attachment unavailable]``
after the caption.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import mimetypes
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

import httpx2

from zalogate.botapi import EventName, UnsafeUrlError, UrlGuard, to_epoch_ms
from zalogate.botapi.client import shared_ssl_context
from zalogate.core.model import ChatType, InboundMessage, MediaRef, MentionFacts
from zalogate.store import write_private_file

__all__ = [
    "IMAGE_UNAVAILABLE",
    "InvalidUpdateError",
    "MediaFetcher",
    "Normalized",
    "normalize_update",
    "unwrap_update",
]

log = logging.getLogger(__name__)

IMAGE_UNAVAILABLE = "[zalo image attachment unavailable]"
_KNOWN_EVENTS = frozenset(event.value for event in EventName)
_CHAT_TYPES = {"PRIVATE": ChatType.DIRECT, "GROUP": ChatType.GROUP}
_GROUP_MENTION = MentionFacts(was_mentioned=True, has_any_mention=True)
_NO_MENTION = MentionFacts()  # frozen: one shared instance, not one model per message
# Enum member values read once (an enum attribute lookup is a descriptor call, per use).
_TEXT = EventName.TEXT.value
_IMAGE = EventName.IMAGE.value
_STICKER = EventName.STICKER.value
_UNSUPPORTED = EventName.UNSUPPORTED.value
_MAX_REDIRECTS = 3
_CHUNK = 64 * 1024


class InvalidUpdateError(ValueError):
    """An update without ``message.message_id`` or ``message.chat.id`` (webhook: HTTP 400)."""


@dataclass(frozen=True, slots=True)
class Normalized:
    """The outcome of :func:`normalize_update`: a message to admit, or why there is none."""

    message: InboundMessage | None
    ignored: str | None = None
    """``sticker``, ``unsupported``, ``empty-text`` or ``invalid-event: <detail>``."""
    sender_id: str | None = None


def unwrap_update(payload: object) -> dict[str, Any]:
    """The update object of a webhook body (a bare update or an ``{ok, result}`` envelope).

    Raises:
        InvalidUpdateError: Not an object, or no ``message.message_id`` / ``message.chat.id``.
    """
    if not isinstance(payload, dict):
        raise InvalidUpdateError("Zalo webhook payload must be a JSON object.")
    update: dict[str, Any] = payload
    result = update.get("result")
    if "message" not in update and "ok" in update and isinstance(result, dict):
        update = result
    message = update.get("message")
    if not isinstance(message, dict):
        raise InvalidUpdateError("Zalo webhook payload is missing message.message_id.")
    message_id = message.get("message_id")
    if not _nonempty(message_id):
        raise InvalidUpdateError("Zalo webhook payload is missing message.message_id.")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not _nonempty(chat.get("id")):
        raise InvalidUpdateError("Zalo webhook payload is missing message.chat.id.")
    return update


def _nonempty(value: object) -> bool:
    kind = type(value)
    if kind is str:  # the usual case first (exact types: no isinstance chain)
        return bool(value.strip())  # type: ignore[attr-defined]
    if kind is int:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, str) and bool(value.strip())


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    # JSON gives plain dicts; the ABC check (slow) is only for other mappings.
    return type(value) is dict or isinstance(value, Mapping)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _infer_event(message: Mapping[str, Any]) -> str | None:
    if _text(message.get("photo_url")):
        return _IMAGE
    if _text(message.get("sticker")):
        return _STICKER
    if isinstance(message.get("text"), str):
        return _TEXT
    return None


def normalize_update(
    update: Mapping[str, Any], account_id: str, *, now_ms: int | None = None
) -> Normalized:
    """Turn one update into the message to admit (or the reason it is ignored).

    Args:
        update: The update object (``getUpdates`` result or unwrapped webhook body).
        account_id: The receiving account.
        now_ms: Timestamp used when the update carries no ``date``.
    """
    message = update.get("message")
    if not _is_mapping(message):
        return Normalized(None, "invalid-event: no message")
    event = update.get("event_name")
    if event is None:
        event = _infer_event(message)  # Zalo's own getUpdates sample has no event_name
    if not isinstance(event, str) or event not in _KNOWN_EVENTS:
        return Normalized(None, "invalid-event: Zalo webhook event_name is unsupported.")
    message_id = message.get("message_id")
    sender = message.get("from")
    chat = message.get("chat")
    if not _nonempty(message_id):
        return Normalized(None, "invalid-event: missing message.message_id")
    if not _is_mapping(sender) or not _nonempty(sender.get("id")):
        return Normalized(None, "invalid-event: Zalo webhook message is missing message.from.id.")
    sender_id = str(sender["id"]).strip()
    if not _is_mapping(chat) or not _nonempty(chat.get("id")):
        return Normalized(None, "invalid-event: missing message.chat.id", sender_id)
    chat_type = _CHAT_TYPES.get(str(chat.get("chat_type", "PRIVATE")))
    if chat_type is None:
        return Normalized(
            None, "invalid-event: Zalo webhook message has an invalid chat type.", sender_id
        )
    date = message.get("date")
    if date is None:
        timestamp = int(time.time() * 1000) if now_ms is None else now_ms
    elif (
        (type(date) is int or (isinstance(date, int | float) and not isinstance(date, bool)))
        and math.isfinite(date)
        and date >= 0
    ):
        timestamp = to_epoch_ms(date)
    else:
        return Normalized(
            None, "invalid-event: Zalo webhook message has an invalid date.", sender_id
        )
    if event == _STICKER:
        return Normalized(None, "sticker", sender_id)
    if event == _UNSUPPORTED:
        return Normalized(None, "unsupported", sender_id)
    media: tuple[MediaRef, ...] = ()
    if event == _TEXT:
        raw_text = message.get("text")
        if not isinstance(raw_text, str):
            return Normalized(
                None, "invalid-event: Zalo text event is missing message.text.", sender_id
            )
        text = raw_text.strip()
        if not text:
            return Normalized(None, "empty-text", sender_id)
    else:
        text = (_text(message.get("caption")) or "").strip()
        photo_url = (_text(message.get("photo_url")) or "").strip()
        if photo_url:
            media = (MediaRef(kind="image", url=photo_url),)
        else:
            media = (MediaRef(kind="image", placeholder=IMAGE_UNAVAILABLE),)
    name = _text(sender.get("display_name")) or _text(sender.get("name"))
    if not (name and name.strip()):
        name = _text(sender.get("first_name"))
    is_group = chat_type is ChatType.GROUP
    inbound = InboundMessage(
        channel="zalo",
        account_id=account_id,
        chat_type=chat_type,
        chat_id=str(chat["id"]).strip(),
        sender_id=sender_id,
        sender_name=name.strip() if name and name.strip() else None,
        message_id=str(message_id).strip(),
        timestamp_ms=timestamp,
        text=text,
        media=media,
        # The Bot API delivers group messages only when they mention or quote the bot.
        mentions=_GROUP_MENTION if is_group else _NO_MENTION,
        raw={"event_name": event},
    )
    return Normalized(inbound, None, sender_id)


# --------------------------------------------------------------------------- images


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
    """Downloads inbound images into ``<state_dir>/media/zalo/<account>/`` (files 0600).

    Args:
        media_dir: Root directory for downloads.
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
