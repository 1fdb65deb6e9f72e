"""Inbound: a listener message event -> :class:`~zalogate.core.model.InboundMessage`.

:func:`normalize_message` follows the reference (``zalo-personal.md`` §5.4, §5.6):

* the account's own messages (from its other sessions) are ignored, and so are undo events;
* ``senderId`` is ``uidFrom`` without a trailing ``_<digits>``; the chat is the group, or the
  other user of a DM; timestamps in seconds become milliseconds;
* text messages carry their text; a photo or GIF becomes an ``image`` :class:`MediaRef` with
  its URL and its caption as text; voice, video and files become ``audio``/``video``/``file``
  refs with their URL, name and size (all downloaded later, after access control, within
  ``mediaMaxMb``); stickers, locations and contact cards become a short description
  (``[sticker]``, ``[location: …]``, ``[contact card: …]``), a link its title and URL, any
  other kind ``[unsupported Zalo message: <type>]``; a message with nothing is ignored;
* mention facts: the account's own uid among the mentions (``was_mentioned``), any mention
  (``has_any_mention``), a quote of one of the account's messages (``quoted_bot``); without
  the own uid mentions cannot be detected (``can_detect`` false: gated groups fail closed).
  ``command_text`` is the text with the account's own mention spans cut out
  (``@Bot /new`` -> ``/new``);
* the group name comes from the message, else from a cached group-info lookup (5 min, 500
  groups), together with the first 20 member names.

``raw`` keeps the few fields delivered/seen receipts and reactions need (``eventMessage``).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from zalogate.channels.zalouser.traits import CHANNEL_ID
from zalogate.core.channel import ChannelAccount
from zalogate.core.model import ChatType, InboundMessage, MediaRef, MentionFacts
from zalogate.core.notices import UNSUPPORTED
from zalogate.personal.errors import ZaloPersonalError
from zalogate.personal.events import GroupMessage, Message, Undo, UserMessage
from zalogate.personal.outgoing import Quote

__all__ = [
    "GROUP_MEMBER_NAMES",
    "AnsweredMessages",
    "GroupFacts",
    "GroupInfoCache",
    "GroupLookup",
    "Normalized",
    "command_text_without_own_mentions",
    "event_message",
    "mention_facts",
    "normalize_message",
    "quote_for",
    "quote_of",
    "recall_event",
]

log = logging.getLogger(__name__)

GROUP_MEMBER_NAMES = 20

_SENDER_SUFFIX = re.compile(r"_\d+$")
_IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".heic"})
_EVENT_FIELDS = ("msgId", "cliMsgId", "uidFrom", "idTo", "msgType", "st", "at", "cmd", "ts")
_GROUP_NAME_FIELDS = ("groupName", "gName", "idToName", "threadName", "roomName")
_FILE_KINDS: dict[str, tuple[str, str]] = {
    # msgType -> (MediaRef kind, placeholder); downloaded after access control
    "chat.voice": ("audio", "<media:audio>"),
    "chat.video.msg": ("video", "<media:video>"),
    "share.file": ("file", "<media:document>"),
}
_IMAGE_TYPES = frozenset({"chat.photo", "chat.gif", "chat.doodle"})
_LINK_TYPES = frozenset({"chat.recommended", "chat.link"})
_CONTACT_ACTION = "recommened.user"  # sic: a shared contact card is a "recommended" message
_STICKER_TYPE = "chat.sticker"
_LOCATION_TYPE = "chat.location.new"
"""The placeholder of a message kind the agent cannot use (a poll, a to-do, an unknown type)."""


@dataclass(frozen=True, slots=True)
class GroupFacts:
    """What a group-info lookup tells about a group."""

    name: str | None
    members: tuple[str, ...] = ()
    member_ids: tuple[tuple[str, str], ...] = ()
    """``(display name, uid)`` of the members (for mentions in replies)."""


GroupLookup = Callable[[str], Awaitable[GroupFacts | None]]


class GroupInfoCache:
    """Group facts by group id: at most ``max_size`` groups, each fresh for ``ttl_s``.

    Args:
        fetch: Asks Zalo (``getGroupInfo``) for one group.
        ttl_s: Seconds a lookup stays valid.
        max_size: Groups kept (least recently used dropped first).
        clock: Monotonic seconds.
    """

    def __init__(
        self,
        fetch: GroupLookup,
        *,
        ttl_s: float = 300.0,
        max_size: int = 500,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self.ttl_s = ttl_s
        self.max_size = max_size
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, GroupFacts | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, group_id: str) -> GroupFacts | None:
        """The facts of ``group_id`` (from the cache when fresh); None when unknown.

        A failed lookup is logged, not cached, and answers None.
        """
        now = self._clock()
        hit = self._entries.get(group_id)
        if hit is not None and now - hit[0] < self.ttl_s:
            self._entries.move_to_end(group_id)
            return hit[1]
        try:
            facts = await self._fetch(group_id)
        except Exception as exc:
            log.warning("zalouser group info lookup for %s failed: %s", group_id, exc)
            return hit[1] if hit is not None else None
        self._entries[group_id] = (now, facts)
        self._entries.move_to_end(group_id)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)
        return facts

    def forget(self, group_id: str | None = None) -> None:
        """Drop one group (or all) from the cache."""
        if group_id is None:
            self._entries.clear()
        else:
            self._entries.pop(group_id, None)


@dataclass(frozen=True, slots=True)
class Normalized:
    """The outcome of :func:`normalize_message`: a message to admit, or why there is none."""

    message: InboundMessage | None
    ignored: str | None = None
    """``self``, ``empty``, ``no-sender`` or ``no-id``."""


def event_message(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a raw message that receipts need (only the ones present)."""
    return {key: raw[key] for key in _EVENT_FIELDS if key in raw and raw[key] is not None}


def mention_facts(message: Message, own_uid: str | None) -> MentionFacts:
    """Mention facts of a group message for an account whose uid is ``own_uid``."""
    uids = {m.uid for m in message.mentions}
    quoted = message.quote is not None and bool(own_uid) and message.quote.owner_id == own_uid
    return MentionFacts(
        was_mentioned=bool(own_uid) and own_uid in uids,
        has_any_mention=bool(uids),
        quoted_bot=quoted,
        can_detect=bool(own_uid),
    )


def command_text_without_own_mentions(message: Message, own_uid: str | None) -> str | None:
    """The text with the account's own mention spans removed, whitespace collapsed.

    None when the message does not mention the account (the core then strips a leading
    ``@word`` before a command itself).
    """
    text = message.text
    if not own_uid or not text:
        return None
    spans = sorted((m.pos, m.length) for m in message.mentions if m.uid == own_uid)
    if not spans:
        return None
    units = text.encode("utf-16-le")
    pieces: list[bytes] = []
    cursor = 0
    for pos, length in spans:
        start, end = max(cursor, pos) * 2, min(len(units) // 2, pos + length) * 2
        if start < end:
            pieces.append(units[cursor * 2 : start])
            cursor = end // 2
    pieces.append(units[cursor * 2 :])
    cut = b"".join(pieces).decode("utf-16-le", errors="replace")
    return " ".join(cut.split())


def _timestamp_ms(ts: int) -> int:
    if ts <= 0:
        return int(time.time() * 1000)
    return ts * 1000 if ts < 1_000_000_000_000 else ts


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _is_image_url(url: str) -> bool:
    try:
        suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    except ValueError:
        return False
    return suffix in _IMAGE_EXTENSIONS


def _params(content: Mapping[str, Any]) -> Mapping[str, Any]:
    """The attachment's ``params`` (a JSON string on the wire)."""
    params = content.get("params")
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            return {}
    return params if isinstance(params, Mapping) else {}


def _size(params: Mapping[str, Any]) -> int | None:
    raw = params.get("fileSize")
    return int(raw) if isinstance(raw, str | int) and str(raw).isdigit() else None


def _location(content: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    lat = params.get("latitude", params.get("lat"))
    lng = params.get("longitude", params.get("lng", params.get("lon")))
    where = [_text(content.get("title")), _text(content.get("description"))]
    if isinstance(lat, int | float | str) and isinstance(lng, int | float | str) and str(lat):
        where.append(f"{lat},{lng}")
    where.append(_text(content.get("href")))
    return "[location: " + " ".join(w for w in where if w) + "]"


def _contact(content: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    name = _text(content.get("title")) or "unknown"
    facts = [f"Zalo id {params['contactUid']}" if params.get("contactUid") else ""]
    facts.append(f"phone {params['phone']}" if params.get("phone") else "")
    details = ", ".join(f for f in facts if f)
    return f"[contact card: {name}" + (f" ({details})]" if details else "]")


def quote_of(message: InboundMessage) -> Quote | None:
    """The quote of a processed text message (other kinds are not quoted)."""
    raw = message.raw.get("eventMessage")
    if not isinstance(raw, Mapping) or raw.get("msgType", "webchat") != "webchat":
        return None
    try:
        return Quote.from_message({**raw, "content": message.text})
    except ZaloPersonalError:
        return None


def quote_for(
    answering: InboundMessage | None, reply_to_id: str | None, quotes: Callable[[bool], bool]
) -> Quote | None:
    """The quote of a reply to ``answering``: the agent's ``reply_to_id`` when it names that
    message (another message is not known here: no quote), else ``quoteReplies``."""
    if answering is None:
        return None
    wanted = answering.message_id == reply_to_id if reply_to_id else quotes(answering.is_group)
    return quote_of(answering) if wanted else None


class AnsweredMessages:
    """The message each conversation's next reply answers (``ReplyContexts``): noted when a
    message is prepared, taken by the send that may quote it."""

    def __init__(self) -> None:
        self._by_target: dict[tuple[str, str], InboundMessage] = {}

    def put(self, account: ChannelAccount, target: str, message: InboundMessage) -> None:
        self._by_target[(account.account_id, target)] = message

    def take(self, account: ChannelAccount, target: str) -> InboundMessage | None:
        return self._by_target.pop((account.account_id, target), None)


def recall_event(account_id: str, event: Undo) -> InboundMessage | None:
    """A DM recall as a conversation event (``event="recall"``): the pipeline notes
    "message X was recalled" in the conversation's transcript (None: own or anonymous)."""
    sender = _SENDER_SUFFIX.sub("", event.sender_id.strip())
    if event.is_self or not sender or not event.undone_msg_id:
        return None
    return InboundMessage(
        channel=CHANNEL_ID,
        account_id=account_id,
        chat_type=ChatType.DIRECT,
        chat_id=sender,
        sender_id=sender,
        message_id=f"recall:{event.msg_id or event.undone_msg_id}",
        timestamp_ms=_timestamp_ms(event.ts_ms),
        text=f"(message {event.undone_msg_id} was recalled)",
        event="recall",
    )


def _attachment(message: Message) -> tuple[str, tuple[MediaRef, ...]]:
    """Text and media of an attachment message: a file to download, or a short description."""
    content = message.attachment or {}
    title = _text(content.get("title"))
    description = _text(content.get("description"))
    href = _text(content.get("href"))
    kind = message.msg_type
    params = _params(content)
    if (
        kind in _IMAGE_TYPES
        or _text(content.get("type")) == "photo"
        or (kind not in _LINK_TYPES and kind not in _FILE_KINDS and href and _is_image_url(href))
    ):
        caption = title or description
        if href:
            return caption, (MediaRef(kind="image", url=href, mime_type="image/*"),)
        return caption, (MediaRef(kind="image", placeholder="<media:image>"),)
    if kind in _LINK_TYPES and _text(content.get("action")) == _CONTACT_ACTION:
        return _contact(content, params), ()
    if kind in _LINK_TYPES:
        return "\n".join(p for p in (title, description, href) if p), ()
    if kind == _STICKER_TYPE:
        return "[sticker]", (MediaRef(kind="sticker"),)
    if kind == _LOCATION_TYPE:
        return _location(content, params), ()
    if kind in _FILE_KINDS:
        media_kind, placeholder = _FILE_KINDS[kind]
        ref = MediaRef(
            kind=media_kind,
            url=href or None,
            name=(title or None) if media_kind == "file" else None,
            size=_size(params),
            placeholder=placeholder,
        )
        return (title if media_kind == "file" else ""), (ref,)
    joined = "\n".join(p for p in (title, description, href) if p)
    if joined:
        return joined, ()
    if not content:
        return "", ()
    return f"[unsupported Zalo message: {kind or 'unknown'}]", (
        MediaRef(kind="other", placeholder=UNSUPPORTED),
    )


async def normalize_message(
    event: UserMessage | GroupMessage,
    account_id: str,
    own_uid: str | None,
    *,
    group_lookup: GroupLookup | None = None,
) -> Normalized:
    """Turn one listener message into the message to admit (or say why it is ignored)."""
    if event.is_self:
        return Normalized(None, "self")
    sender = _SENDER_SUFFIX.sub("", event.sender_id.strip())
    if not sender:
        return Normalized(None, "no-sender")
    message_id = event.msg_id or event.cli_msg_id
    if not message_id:
        return Normalized(None, "no-id")
    media: tuple[MediaRef, ...] = ()
    if isinstance(event.content, str):
        text = event.content.strip()
    else:
        text, media = _attachment(event)
    if not text and not media:
        return Normalized(None, "empty")
    is_group = isinstance(event, GroupMessage)
    group_name: str | None = None
    members: tuple[str, ...] = ()
    if is_group:
        for key in _GROUP_NAME_FIELDS:
            value = _text(event.raw.get(key))
            if value:
                group_name = value
                break
        if group_lookup is not None:
            facts = await group_lookup(event.thread_id)
            if facts is not None:
                group_name = group_name or facts.name
                members = facts.members[:GROUP_MEMBER_NAMES]
    quote = event.quote
    raw: dict[str, Any] = {"eventMessage": event_message(event.raw)}
    if event.cli_msg_id:
        raw["cliMsgId"] = event.cli_msg_id
    inbound = InboundMessage(
        channel=CHANNEL_ID,
        account_id=account_id,
        chat_type=ChatType.GROUP if is_group else ChatType.DIRECT,
        chat_id=event.thread_id if is_group else sender,
        sender_id=sender,
        sender_name=event.sender_name.strip() or None,
        message_id=message_id,
        timestamp_ms=_timestamp_ms(event.ts_ms),
        text=text,
        media=media,
        mentions=mention_facts(event, own_uid) if is_group else MentionFacts(),
        group_name=group_name,
        group_members=members,
        reply_to_id=(quote.msg_id or None) if quote else None,
        reply_to_text=(quote.text or None) if quote else None,
        reply_to_sender=(quote.from_name or quote.owner_id or None) if quote else None,
        raw=raw,
        command_text=command_text_without_own_mentions(event, own_uid) if is_group else None,
    )
    return Normalized(inbound)
