"""Outbound: a :class:`~zalogate.core.model.ReplyPayload` -> Bot API calls.

* Text only: one ``sendMessage`` per chunk of at most 2000 UTF-16 units (the pipeline has
  usually chunked already; a longer text from ``message send`` is chunked here).
* With media: one ``sendPhoto`` per image, the text as the caption of the first one; caption
  text beyond 2000 units follows as ``sendMessage`` chunks after the photos.
* A remote image URL is passed to Zalo as it is (after the SSRF check of the client); a local
  file (a path or ``file://``) is hosted at ``<webhookPath>/media/<id>?token=...`` when the
  account has a webhook URL and its monitor runs, and refused otherwise.
* Each call is retried on 429, 5xx, timeouts and connection errors (jittered backoff,
  ``Retry-After`` honoured up to the cap), never on other 4xx.
* If a later piece fails after earlier ones went out, the receipt is partial: it carries the
  message ids that went out and the error. A failure before anything went out raises
  :class:`~zalogate.core.errors.DeliveryError` (retryable or not, from the cause).
"""

from __future__ import annotations

import asyncio
import logging
import urllib.parse
from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TypeVar

from zalogate.botapi import (
    ApiError,
    InvalidRequestError,
    RateLimitedError,
    SentMessage,
    TransportError,
    ZaloBot,
    ZaloBotError,
)
from zalogate.channels.zalo.media_host import HostedMedia, MediaHostError
from zalogate.core.chunking import chunk_text
from zalogate.core.errors import DeliveryError, FailureKind, describe_error
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.core.retry import RetryPolicy, call_with_retry
from zalogate.core.targets import TargetError, parse_target
from zalogate.text import utf16_len

__all__ = ["TEXT_LIMIT", "RetryPolicy", "ZaloSender", "chat_id_of", "is_retryable_send_error"]

log = logging.getLogger(__name__)

TEXT_LIMIT = 2000
_T = TypeVar("_T")


def is_retryable_send_error(exc: BaseException) -> bool:
    """429, 5xx (and Zalo's 408), failures to connect; nothing else.

    A transport failure after the request was written (``maybe_sent``: a reset, a read
    timeout) is not retried here: the message may have gone out, and the pipeline decides
    whether it is sent once more (``DELIVERY_UNKNOWN``)."""
    if isinstance(exc, TransportError):
        return not exc.maybe_sent
    if isinstance(exc, ApiError):
        return exc.retryable
    return False


def chat_id_of(target: str) -> str:
    """The ``chat_id`` of a target (``zalo:123``, ``zl:user:123``, ``group:456``, ``123``).

    Raises:
        DeliveryError: The target is empty or names another channel.
    """
    try:
        return parse_target(target, "zalo").id
    except TargetError as exc:
        raise DeliveryError(str(exc), retryable=False) from None


def _local_path(url: str) -> Path | None:
    """The file a media reference names, or None for a remote URL."""
    text = url.strip()
    if text.lower().startswith("file://"):
        parts = urllib.parse.urlsplit(text)
        return Path(urllib.parse.unquote(parts.path))
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return None
    if text.startswith(("/", "./", "../", "~")) or (not scheme and Path(text).suffix):
        return Path(text).expanduser()
    return None


MEDIA_REFUSED_NOTE = "(An attachment of this reply could not be sent.)"
_REFUSED_MEDIA = (InvalidRequestError, MediaHostError)
"""A media URL the SSRF guard refuses, a local file that is not an image: not retryable,
and no reason to drop the reply's text."""


def _text_chunks(text: str) -> list[str]:
    if not text.strip():
        return []
    return chunk_text(text, TEXT_LIMIT) if utf16_len(text) > TEXT_LIMIT else [text]


class _SendFailedError(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class ZaloSender:
    """Delivers replies for one account through its :class:`ZaloBot`.

    Args:
        account_id: For log lines.
        retry: Retry policy per call.
        sleep: Awaitable sleep (tests inject a fast one).
    """

    def __init__(
        self,
        account_id: str,
        *,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.account_id = account_id
        self.retry = retry or RetryPolicy()
        self._sleep = sleep

    async def _call(self, call: Callable[[], Awaitable[_T]]) -> _T:
        try:
            return await call_with_retry(
                call,
                self.retry,
                retryable=is_retryable_send_error,
                label=f"[{self.account_id}] Zalo send",
                sleep=self._sleep,
                delay_of=self._retry_after,
            )
        except ZaloBotError as exc:
            raise _SendFailedError(exc) from exc

    def _retry_after(self, exc: Exception, delay: float) -> float:
        """A 429's ``retry_after`` stretches the backoff delay (up to its maximum)."""
        if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
            return min(max(delay, exc.retry_after), self.retry.backoff.max_delay)
        return delay

    async def send(
        self,
        bot: ZaloBot,
        target: str,
        reply: ReplyPayload,
        *,
        host: HostedMedia | None = None,
        max_media_bytes: int = 5 * 1024 * 1024,
    ) -> DeliveryReceipt:
        """Send ``reply`` to ``target``; see the module docstring for the rules.

        Raises:
            DeliveryError: Nothing went out (``retryable`` says whether a retry may help).
        """
        chat_id = chat_id_of(target)
        text = reply.text
        media_given = bool(reply.media_urls)
        media = [url.strip() for url in reply.media_urls if url.strip()]
        if media_given and not media and not text.strip():
            raise DeliveryError("No photo URL provided", retryable=False)
        if not media and not text.strip():
            raise DeliveryError(
                "Nothing to send: the reply has no text and no media", retryable=False
            )
        sent: list[str] = []
        try:
            if media:
                caption, overflow = _split_caption(text)
                captioned = 0
                refused: list[_SendFailedError] = []
                for url in media:
                    first = caption if caption and not captioned else None
                    try:
                        photo, hosted = self._photo_url(url, host, max_media_bytes)
                        send = partial(bot.send_photo, chat_id, photo, first, trusted_url=hosted)
                        result = await self._call(send)
                    except _SendFailedError as failure:
                        if not isinstance(failure.cause, _REFUSED_MEDIA) or not text.strip():
                            raise  # a reply that is only media fails as a whole
                        # The URL guard or the type check said no: the text still goes out.
                        log.warning(
                            "[%s] Zalo reply media refused, sending the text without it: %s",
                            self.account_id,
                            describe_error(failure.cause),
                        )
                        refused.append(failure)
                        continue
                    captioned += first is not None
                    sent.append(_message_id(result))
                chunks = overflow if captioned else _text_chunks(text)
                if refused:
                    chunks = [*chunks, MEDIA_REFUSED_NOTE]
            else:
                chunks = _text_chunks(text)
            for chunk in chunks:
                result = await self._call(partial(bot.send_message, chat_id, chunk))
                sent.append(_message_id(result))
        except _SendFailedError as failure:
            return self._failed(reply, failure.cause, sent)
        return DeliveryReceipt(message_ids=tuple(sent))

    def _photo_url(self, url: str, host: HostedMedia | None, max_bytes: int) -> tuple[str, bool]:
        """The URL Zalo gets, and whether we host it ourselves."""
        path = _local_path(url)
        if path is None:
            return url, False
        if host is None:
            raise _SendFailedError(
                InvalidRequestError(
                    "a local image can only be sent while a webhook URL is configured and the"
                    " account's monitor runs (Zalo fetches photos by URL)"
                )
            )
        try:
            return host.add_file(path, max_bytes=max_bytes), True
        except MediaHostError as exc:
            raise _SendFailedError(exc) from exc

    def _failed(
        self, reply: ReplyPayload, cause: BaseException, sent: list[str]
    ) -> DeliveryReceipt:
        error = describe_error(cause)
        log.warning("[%s] Zalo %s reply failed: %s", self.account_id, reply.kind.value, error)
        if sent:
            return DeliveryReceipt(message_ids=tuple(sent), partial=True, error=error)
        if isinstance(cause, TransportError) and cause.maybe_sent:
            raise DeliveryError(error, kind=FailureKind.DELIVERY_UNKNOWN) from cause
        raise DeliveryError(error, retryable=is_retryable_send_error(cause)) from cause


def _split_caption(text: str) -> tuple[str, list[str]]:
    """The caption of the first photo and the overflow chunks sent after the photos."""
    if not text.strip():
        return "", []
    if utf16_len(text) <= TEXT_LIMIT:
        return text, []
    chunks = chunk_text(text, TEXT_LIMIT)
    return (chunks[0], chunks[1:]) if chunks else ("", [])


def _message_id(result: SentMessage) -> str:
    return result.message_id
