"""Outbound: a :class:`~zalogate.core.model.ReplyPayload` -> personal-account API calls.

* Text: Markdown is converted to Zalo text styles first (:mod:`.markdown_styles`; plain text
  stays as it is), then split into chunks of at most the account's ``textChunkLimit`` (2000
  UTF-16 units) with the styles re-based per chunk (:mod:`.styled_chunks`); one message per
  chunk, in order.
* Media: each item is loaded (local file or URL, within ``mediaMaxMb``); images go out as
  photos, the first one with the text as its caption (plain: Zalo photo captions have no
  styles); two images or more go out as one album, after the text (as zca-js sends them); a
  video from an http(s) URL goes out as a video message (Zalo's apps play it from that URL),
  anything else as a file (which needs the running listener for Zalo's ``file_done``).
  Caption text beyond one chunk follows as text messages.
* Links: ``send_link`` (Zalo fetches a preview); stickers: ``send_sticker`` (an id, or a
  keyword Zalo suggests stickers for).
* Every message first asks the account's send governor (:mod:`.governor`) for its turn.
* Every call is retried on 5xx, timeouts and connection errors with a jittered backoff, never
  on other errors; a rate-limit answer (221, HTTP 429) pauses the account's sends instead.
  A failure after something went out gives a *partial* receipt with the ids that did go out;
  a failure before raises :class:`~zalogate.core.errors.DeliveryError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, TypeVar

from zalogate.channels.zalouser.connection import AccountConnection
from zalogate.channels.zalouser.governor import (
    FriendIds,
    SendGovernor,
    SendLimits,
    SendPausedError,
)
from zalogate.channels.zalouser.markdown_styles import StyledText, markdown_to_styled
from zalogate.channels.zalouser.media import (
    LoadedMedia,
    MediaLoader,
    MediaLoadError,
    local_media_path,
)
from zalogate.channels.zalouser.mentions import find_mentions
from zalogate.channels.zalouser.styled_chunks import chunk_styled
from zalogate.core.errors import ChannelError, DeliveryError, FailureKind, describe_error
from zalogate.core.model import DeliveryReceipt, ReplyPayload
from zalogate.core.retry import RetryPolicy, call_with_retry
from zalogate.core.targets import Target, TargetError, parse_target
from zalogate.personal.api import PersonalApi
from zalogate.personal.api_stickers import Sticker
from zalogate.personal.api_uploads import AlbumImage
from zalogate.personal.api_video import HostedVideo
from zalogate.personal.errors import (
    ConfigurationError,
    TransportError,
    ZaloPersonalError,
    is_rate_limited,
)
from zalogate.personal.outgoing import Quote, SentMessage
from zalogate.personal.session import ThreadType
from zalogate.personal.spans import Mention

__all__ = ["SendRetry", "ZalouserSender", "is_retryable_send_error", "thread_of"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
ChunkMode = Literal["length", "newline"]


SendRetry = RetryPolicy
"""How often and how patiently one API call of a send is retried (the core policy)."""


def is_retryable_send_error(exc: BaseException) -> bool:
    """5xx, timeouts and connection errors (``retryable`` personal errors); never a rate limit
    (that pauses the account's sends instead), never a failure after the request was written
    (``maybe_sent``: the message may be out; the pipeline decides on a resend)."""
    if isinstance(exc, TransportError) and exc.maybe_sent:
        return False
    return isinstance(exc, ZaloPersonalError) and exc.retryable and not is_rate_limited(exc)


def thread_of(target: str) -> tuple[str, ThreadType]:
    """The thread id and type of a target (``group:<id>``, ``g-…``, ``user:<id>``, ``<id>``).

    Raises:
        DeliveryError: Empty target or another channel's prefix (not retryable).
    """
    try:
        parsed: Target = parse_target(target, "zalouser")
    except TargetError as exc:
        raise DeliveryError(str(exc), retryable=False) from None
    return parsed.id, ThreadType.GROUP if parsed.is_group else ThreadType.USER


class _SendFailedError(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


class ZalouserSender:
    """Delivers replies for one account through its :class:`AccountConnection`.

    Args:
        connection: The account's client.
        media: Loads outbound media.
        retry: Retry policy per call.
        listening: True while this process runs the account's listener (file sends need it:
            Zalo confirms a file upload over the websocket).
        sleep: Awaitable sleep (tests inject a fast one).
        governor: Paces and caps the account's sends (default: the default limits).
        members: ``(display name, uid)`` of a group's members: ``@Name`` in a group reply
            becomes a real mention.
        friends: The account's friends (a DM to anyone else counts against
            ``strangersPerDay``); None: nobody is a stranger.
    """

    def __init__(
        self,
        connection: AccountConnection,
        media: MediaLoader,
        *,
        retry: SendRetry | None = None,
        listening: Callable[[], bool] = lambda: True,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        governor: SendGovernor | None = None,
        friends: FriendIds | None = None,
        members: Callable[[str], Awaitable[Sequence[tuple[str, str]]]] | None = None,
    ) -> None:
        self._members = members
        self.connection = connection
        self.governor = governor or SendGovernor(connection.account.account_id, SendLimits())
        self._friends = friends
        self.media = media
        self.retry = retry or SendRetry()
        self._listening = listening
        self._sleep = sleep

    @property
    def account_id(self) -> str:
        """The account this sender works for."""
        return self.connection.account.account_id

    async def _call(
        self,
        thread_id: str,
        thread_type: ThreadType,
        action: Callable[[PersonalApi], Awaitable[_T]],
        messages: int = 1,
    ) -> _T:
        """``messages`` messages in one call (an album: one per photo): the governor's turn
        for each, then the call (retried while worth it)."""
        try:
            stranger = thread_type is ThreadType.USER and (
                self._friends is not None and not await self._friends.contains(thread_id)
            )
            for _ in range(messages):
                await self.governor.admit(thread_id, stranger=stranger)
            result = await call_with_retry(
                lambda: self.connection.call(action),
                self.retry,
                retryable=is_retryable_send_error,
                label=f"[{self.account_id}] zalouser send",
                sleep=self._sleep,
            )
        except ZaloPersonalError as exc:
            if not is_rate_limited(exc):
                raise _SendFailedError(exc) from exc
            pause = self.governor.rate_limited()
            log.warning(
                "[%s] Zalo rate-limited a send (%s): sends paused for %.0f s",
                self.account_id,
                exc,
                pause,
            )
            paused = SendPausedError(
                f"[{self.account_id}] Zalo answered 'too many requests': sends paused for"
                f" {pause:.0f} s"
            )
            raise _SendFailedError(paused) from exc
        except ChannelError as exc:  # NeedsLoginError, the governor's refusals
            raise _SendFailedError(exc) from exc
        for _ in range(messages):
            self.governor.sent()
        return result

    # ------------------------------------------------------------------ replies

    async def send(
        self,
        target: str,
        reply: ReplyPayload,
        *,
        limit: int = 2000,
        mode: ChunkMode = "length",
        markdown: bool = True,
        max_media_bytes: int = 5 * 1024 * 1024,
        quote: Quote | None = None,
    ) -> DeliveryReceipt:
        """Send ``reply`` to ``target`` (see the module docstring); ``quote``: the first text
        message quotes that message (a reply with media quotes nothing).

        Raises:
            DeliveryError: Nothing went out (``retryable`` says whether a retry may help).
        """
        thread_id, thread_type = thread_of(target)
        media = [ref.strip() for ref in reply.media_urls if ref.strip()]
        styled = markdown_to_styled(reply.text) if markdown else StyledText(reply.text)
        if not media and not styled.text.strip():
            raise DeliveryError(
                "Nothing to send: the reply has no text and no media", retryable=False
            )
        sent: list[str] = []
        try:
            chunks = chunk_styled(styled, limit, mode) if styled.text.strip() else []
            loaded = [(ref, await self._load(ref, max_media_bytes)) for ref in media]
            album = [item for _, item in loaded if item.is_image]
            if len(album) >= 2:
                # As zca-js: the text goes first on its own (Zalo would repeat a caption on
                # every photo), then the images as one album, then anything else.
                await self._send_chunks(thread_id, thread_type, chunks, quote, sent)
                chunks = []
                sent.extend(await self._send_album(thread_id, thread_type, album))
                loaded = [(ref, item) for ref, item in loaded if not item.is_image]
            caption = chunks[0].text if chunks else ""
            for index, (ref, item) in enumerate(loaded):
                first = caption if index == 0 else ""
                result = await self._send_media(thread_id, thread_type, ref, item, first)
                sent.append(result.msg_id)
                if index == 0 and first and item.is_image:
                    chunks = chunks[1:]
            await self._send_chunks(thread_id, thread_type, chunks, None if media else quote, sent)
        except _SendFailedError as failure:
            return self._failed(reply.kind.value, failure.cause, sent)
        return DeliveryReceipt(message_ids=tuple(sent))

    async def _send_chunks(
        self,
        thread_id: str,
        thread_type: ThreadType,
        chunks: Sequence[StyledText],
        quote: Quote | None,
        sent: list[str],
    ) -> None:
        """The text chunks in order, the first quoting ``quote``; ids appended to ``sent``."""
        members = await self._mentionable(thread_id, thread_type, chunks)
        for index, chunk in enumerate(chunks):
            quoted = quote if index == 0 else None
            mentions = find_mentions(chunk.text, members)
            result = await self._send_chunk(thread_id, thread_type, chunk, quoted, mentions)
            sent.append(result.msg_id)

    async def _send_album(
        self, thread_id: str, thread_type: ThreadType, images: Sequence[LoadedMedia]
    ) -> list[str]:
        items = [AlbumImage(image.data, image.filename) for image in images]
        result = await self._call(
            thread_id,
            thread_type,
            lambda api: api.send_album(thread_id, items, thread_type=thread_type),
            messages=len(items),
        )
        return [message.msg_id for message in result]

    async def _mentionable(
        self, thread_id: str, thread_type: ThreadType, chunks: Sequence[StyledText]
    ) -> Sequence[tuple[str, str]]:
        """The group's members when a chunk may mention one (best effort: none on failure)."""
        if self._members is None or thread_type is not ThreadType.GROUP:
            return ()
        if not any("@" in chunk.text for chunk in chunks):
            return ()
        try:
            return await self._members(thread_id)
        except Exception as exc:  # a failed lookup sends plain text, never nothing
            log.debug("[%s] group members for mentions: %s", self.account_id, exc)
            return ()

    async def _send_chunk(
        self,
        thread_id: str,
        thread_type: ThreadType,
        chunk: StyledText,
        quote: Quote | None = None,
        mentions: Sequence[Mention] = (),
    ) -> SentMessage:
        return await self._call(
            thread_id,
            thread_type,
            lambda api: api.send_text(
                thread_id,
                chunk.text,
                thread_type=thread_type,
                styles=chunk.styles,
                quote=quote,
                mentions=mentions,
            ),
        )

    async def _send_media(
        self,
        thread_id: str,
        thread_type: ThreadType,
        ref: str,
        media: LoadedMedia,
        caption: str,
    ) -> SentMessage:
        if media.mime_type.startswith("video/") and local_media_path(ref) is None:
            # Zalo shows a video message from a public URL (its recipients fetch it); the
            # download above checked the size and gave the byte count the message carries.
            video = HostedVideo(ref, len(media.data))
            return await self._call(
                thread_id,
                thread_type,
                lambda api: api.send_video(thread_id, video, thread_type=thread_type),
            )
        if media.is_image:

            async def photo(api: PersonalApi) -> SentMessage:
                return await api.send_image(
                    thread_id,
                    media.data,
                    filename=media.filename,
                    thread_type=thread_type,
                    caption=caption,
                )

            return await self._call(thread_id, thread_type, photo)
        if not self._listening():
            raise _SendFailedError(
                ConfigurationError(
                    f"cannot send the file {media.filename}: Zalo confirms file uploads over the"
                    " websocket listener, which is not running in this process: start the"
                    " gateway (zalogate gateway run) and send again, `message send` then goes"
                    " through it (or send a link instead)"
                )
            )

        async def document(api: PersonalApi) -> SentMessage:
            return await api.send_file(
                thread_id, media.data, media.filename, thread_type=thread_type
            )

        return await self._call(thread_id, thread_type, document)

    async def _load(self, ref: str, max_bytes: int) -> LoadedMedia:
        try:
            return await self.media.load(ref, max_bytes=max_bytes)
        except MediaLoadError as exc:
            raise _SendFailedError(exc) from exc

    async def send_link(self, target: str, url: str, caption: str = "") -> DeliveryReceipt:
        """Send ``url`` with Zalo's link preview (``caption`` before it).

        Raises:
            DeliveryError: The link did not go out.
        """
        thread_id, thread_type = thread_of(target)
        if not url.strip():
            raise DeliveryError("No link URL provided", retryable=False)
        try:
            result = await self._call(
                thread_id,
                thread_type,
                lambda api: api.send_link(
                    thread_id, url.strip(), text=caption, thread_type=thread_type
                ),
            )
        except _SendFailedError as failure:
            return self._failed("link", failure.cause, [])
        return DeliveryReceipt(message_ids=(result.msg_id,))

    async def send_sticker(self, target: str, sticker: str) -> DeliveryReceipt:
        """Send a sticker: ``sticker`` is its id, or a keyword (Zalo's best suggestion).

        Raises:
            DeliveryError: No sticker for the keyword, or it did not go out.
        """
        thread_id, thread_type = thread_of(target)
        wanted = sticker.strip()
        if not wanted:
            raise DeliveryError("No sticker keyword or id provided", retryable=False)

        async def lookup(api: PersonalApi) -> Sticker | None:
            ids = [int(wanted)] if wanted.isdigit() else await api.search_stickers(wanted)
            return await api.sticker_detail(ids[0]) if ids else None

        try:
            found = await self.connection.call(lookup)
        except ZaloPersonalError as exc:
            raise DeliveryError(f"sticker lookup failed: {exc}", retryable=exc.retryable) from exc
        if found is None:
            raise DeliveryError(f"Zalo has no sticker for {wanted!r}", retryable=False)
        try:
            result = await self._call(
                thread_id,
                thread_type,
                lambda api: api.send_sticker(thread_id, found, thread_type=thread_type),
            )
        except _SendFailedError as failure:
            return self._failed("sticker", failure.cause, [])
        return DeliveryReceipt(message_ids=(result.msg_id,))

    async def send_texts(self, target: str, chunks: Sequence[StyledText]) -> DeliveryReceipt:
        """Send already formatted chunks in order (partial receipt on a later failure)."""
        thread_id, thread_type = thread_of(target)
        sent: list[str] = []
        try:
            for chunk in chunks:
                sent.append((await self._send_chunk(thread_id, thread_type, chunk)).msg_id)
        except _SendFailedError as failure:
            return self._failed("text", failure.cause, sent)
        return DeliveryReceipt(message_ids=tuple(sent))

    def _failed(self, what: str, cause: BaseException, sent: list[str]) -> DeliveryReceipt:
        error = describe_error(cause)
        log.warning("[%s] zalouser %s send failed: %s", self.account_id, what, error)
        if sent:
            return DeliveryReceipt(message_ids=tuple(sent), partial=True, error=error)
        if isinstance(cause, TransportError) and cause.maybe_sent:
            raise DeliveryError(error, kind=FailureKind.DELIVERY_UNKNOWN) from cause
        retryable = is_retryable_send_error(cause) or (
            isinstance(cause, ChannelError) and not cause.fatal
        )
        raise DeliveryError(error, retryable=retryable) from cause
