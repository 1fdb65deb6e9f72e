"""`PersonalApi`: the session endpoints of a logged-in personal account (reference §4).

Every call goes through `PersonalHttp.call` (the one encrypted seam). Positions and lengths
of mentions and text styles are JavaScript string indices (UTF-16 code units): use
`Mention.of` / `TextStyle.of` to compute them from Python strings.

Non-image files need the websocket: Zalo answers the upload with a ``fileId`` and later
pushes a ``file_done`` control with the file URL. The listener hands those to
`PersonalApi.resolve_file_done`; `PersonalApi.send_file` waits for it with a timeout.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import math
import struct
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final, Protocol

from zalogate.personal.crypto import compact_json
from zalogate.personal.errors import (
    ConfigurationError,
    FileDoneTimeoutError,
    NotFoundError,
    ProtocolError,
)
from zalogate.personal.http import PersonalHttp
from zalogate.personal.session import Session, ThreadType
from zalogate.text import utf16_len

__all__ = [
    "MAX_RECEIPTS_PER_CALL",
    "REACTIONS",
    "CustomReaction",
    "FileDoneRegistry",
    "GroupInfo",
    "GroupMember",
    "Mention",
    "MentionLike",
    "MessageRef",
    "PersonalApi",
    "Quote",
    "SentMessage",
    "Style",
    "TextStyle",
    "Urgency",
    "UserProfile",
    "image_size",
]

#: Zalo accepts 1 to 50 messages per delivered/seen call.
MAX_RECEIPTS_PER_CALL: Final = 50
#: Group ids per ``getmg-v2`` call.
GROUP_INFO_CHUNK: Final = 80
_NRETRY = (("nretry", "0"),)
_DEFAULT_CHUNK = 3 * 1024 * 1024
#: Chunks of one file uploaded at the same time (the web client sends all at once).
_PARALLEL_CHUNKS = 4

#: Built-in reaction icons and their ``rType`` (``source`` is 6 for all of them).
REACTIONS: Final[Mapping[str, int]] = {
    ":>": 0,
    "--b": 1,
    ":-((": 2,
    "/-strong": 3,
    "/-weak": 4,
    "/-heart": 5,
    ":')": 7,
    ":-*": 8,
    ":((": 16,
    ":-h": 20,
    "x-)": 21,
    "8-)": 22,
    ";-d": 23,
    "b-)": 26,
    ";xx": 29,
    ":--|": 30,
    ":o": 32,
    "p-(": 35,
    ":-bye": 36,
    "|-)": 38,
    ":wipe": 39,
    ":-dig": 42,
    "&-(": 44,
    ";-)": 45,
    ":handclap": 46,
    ">-|": 47,
    ":-f": 48,
    ":-l": 49,
    ":-r": 50,
    ";-/": 51,
    ";-x": 52,
    ":-o": 53,
    ";-s": 54,
    ";-a": 60,
    ":-<": 61,
    ":))": 62,
    "$-)": 63,
    "/-break": 65,
    "/-shit": 66,
    "/-li": 67,
    "/-ok": 68,
    "/-v": 69,
    "/-thanks": 70,
    "/-punch": 71,
    "/-share": 72,
    "_()_": 73,
    "/-beer": 99,
    "/-rose": 120,
    "/-fade": 121,
    "/-bd": 126,
    "/-bome": 127,
    "/-no": 131,
    "/-bad": 132,
    "/-loveu": 133,
}
_REACTION_SOURCE = 6

# msgType string -> the numeric type quotes carry (zca-js getClientMessageType).
_CLIENT_MSG_TYPES: Final[Mapping[str, int]] = {
    "webchat": 1,
    "chat.voice": 31,
    "chat.photo": 32,
    "chat.sticker": 36,
    "chat.doodle": 37,
    "chat.recommended": 38,
    "chat.link": 38,
    "chat.location.new": 43,
    "chat.video.msg": 44,
    "share.file": 46,
    "chat.gif": 49,
}


class MentionLike(Protocol):
    """Anything with ``uid``/``pos``/``length`` (`Mention`, or a received event's mention)."""

    @property
    def uid(self) -> str: ...
    @property
    def pos(self) -> int: ...
    @property
    def length(self) -> int: ...


class _ReceivedEvent(Protocol):
    """A listener event that carries the message as received (``UserMessage``...)."""

    @property
    def raw(self) -> Mapping[str, Any]: ...


#: A received message: its raw dict or the listener event carrying it.
_Received = Mapping[str, Any] | _ReceivedEvent


def _raw_message(message: _Received) -> Mapping[str, Any]:
    """The raw message object of a websocket event (``.raw``) or a mapping as is."""
    if isinstance(message, Mapping):
        return message
    raw = getattr(message, "raw", None)
    if isinstance(raw, Mapping):
        return raw
    raise ConfigurationError(f"expected a message mapping or event, got {type(message).__name__}")


def _utf16_span(text: str, part: str, start: int, what: str) -> tuple[int, int]:
    """UTF-16 offset and length of the first ``part`` in ``text`` from ``start``."""
    at = text.find(part, start)
    if at < 0:
        raise ConfigurationError(f"{what} {part!r} is not in the message")
    return utf16_len(text[:at]), utf16_len(part)


class Urgency(IntEnum):
    """Message urgency (``metaData.urgency``)."""

    DEFAULT = 0
    IMPORTANT = 1
    URGENT = 2


class Style:
    """Text style codes for `TextStyle.style`."""

    BOLD: Final = "b"
    ITALIC: Final = "i"
    UNDERLINE: Final = "u"
    STRIKE: Final = "s"
    RED: Final = "c_db342e"
    ORANGE: Final = "c_f27806"
    YELLOW: Final = "c_f7b503"
    GREEN: Final = "c_15a85f"
    SMALL: Final = "f_13"
    BIG: Final = "f_18"
    BULLET_LIST: Final = "lst_1"
    NUMBERED_LIST: Final = "lst_2"

    @staticmethod
    def indent(size: int = 1) -> str:
        """Indentation code (``ind_10`` for one level, ``ind_20`` for two, ...)."""
        return f"ind_{size}0"


@dataclass(frozen=True, slots=True)
class Mention:
    """A mention in a group message; ``pos``/``length`` in UTF-16 units.

    ``uid == "-1"`` mentions everyone (@all).
    """

    uid: str
    pos: int
    length: int

    @classmethod
    def of(cls, text: str, needle: str, uid: str, *, start: int = 0) -> Mention:
        """The mention of ``needle`` (e.g. ``"@Alice"``) found in ``text`` from ``start``.

        Raises:
            ConfigurationError: ``needle`` does not occur in ``text``.
        """
        pos, length = _utf16_span(text, needle, start, "mention text")
        return cls(uid=uid, pos=pos, length=length)


@dataclass(frozen=True, slots=True)
class TextStyle:
    """A styled range of a message; ``start``/``length`` in UTF-16 units."""

    start: int
    length: int
    style: str

    @classmethod
    def of(cls, text: str, part: str, style: str, *, start: int = 0) -> TextStyle:
        """The style ``style`` applied to the first ``part`` found in ``text``.

        Raises:
            ConfigurationError: ``part`` does not occur in ``text``.
        """
        at, length = _utf16_span(text, part, start, "styled text")
        return cls(start=at, length=length, style=style)


@dataclass(frozen=True, slots=True)
class Quote:
    """The message a reply quotes (build it with `Quote.from_message`)."""

    owner_id: str
    msg_id: str
    cli_msg_id: str
    msg_type: str
    ts: str
    text: str
    ttl: int = 0
    attach: Mapping[str, Any] | None = None

    @classmethod
    def from_message(cls, message: _Received) -> Quote:
        """Quote a received message: a listener event (``UserMessage``...) or its raw dict.

        Raises:
            ConfigurationError: the message kind cannot be quoted (web client rules).
        """
        message = _raw_message(message)
        msg_type = str(message.get("msgType") or "webchat")
        content = message.get("content")
        if msg_type == "group.poll":
            raise ConfigurationError("a group.poll message cannot be quoted")
        if msg_type == "webchat" and not isinstance(content, str):
            raise ConfigurationError("this kind of webchat message cannot be quoted")
        if isinstance(content, str):
            text = content
            prop = message.get("propertyExt")
            attach: Mapping[str, Any] | None = prop if isinstance(prop, Mapping) else None
        else:
            text = ""
            body = dict(content) if isinstance(content, Mapping) else {}
            attach = {
                **body,
                "thumbUrl": body.get("thumb"),
                "oriUrl": body.get("href"),
                "normalUrl": body.get("href"),
            }
        return cls(
            owner_id=str(message.get("uidFrom") or ""),
            msg_id=str(message.get("msgId") or ""),
            cli_msg_id=str(message.get("cliMsgId") or ""),
            msg_type=msg_type,
            ts=str(message.get("ts") or "0"),
            text=text,
            ttl=int(message.get("ttl") or 0),
            attach=attach,
        )


@dataclass(frozen=True, slots=True)
class MessageRef:
    """What delivered/seen receipts need to know about a received message."""

    msg_id: str
    cli_msg_id: str
    sender_id: str
    thread_id: str
    msg_type: str = "webchat"
    has_st: bool = True
    has_at: bool = True
    has_cmd: bool = True
    has_ts: bool = True

    @classmethod
    def from_message(cls, message: _Received) -> MessageRef:
        """A reference to a received message (a listener event or its raw dict)."""
        message = _raw_message(message)
        return cls(
            msg_id=str(message.get("msgId") or ""),
            cli_msg_id=str(message.get("cliMsgId") or ""),
            sender_id=str(message.get("uidFrom") or ""),
            thread_id=str(message.get("idTo") or ""),
            msg_type=str(message.get("msgType") or "webchat"),
            has_st=message.get("st") is not None,
            has_at=message.get("at") is not None,
            has_cmd=message.get("cmd") is not None,
            has_ts=message.get("ts") is not None,
        )


@dataclass(frozen=True, slots=True)
class CustomReaction:
    """A reaction not in `REACTIONS`."""

    r_type: int
    icon: str
    source: int = _REACTION_SOURCE


@dataclass(frozen=True, slots=True)
class SentMessage:
    """Ids of a sent message (``msg_id`` is Zalo's global id)."""

    msg_id: str
    cli_msg_id: str


@dataclass(frozen=True, slots=True)
class UserProfile:
    """A Zalo user (friend list, own profile, phone lookup)."""

    uid: str
    display_name: str
    zalo_name: str
    avatar: str
    phone: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UserProfile:
        """Parse a ``User`` or ``UserBasic`` object (both key styles)."""
        return cls(
            uid=str(data.get("userId") or data.get("uid") or data.get("id") or ""),
            display_name=str(data.get("displayName") or data.get("display_name") or ""),
            zalo_name=str(data.get("zaloName") or data.get("zalo_name") or ""),
            avatar=str(data.get("avatar") or ""),
            phone=str(data.get("phoneNumber") or ""),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class GroupInfo:
    """A group's name and membership (``getmg-v2``)."""

    group_id: str
    name: str
    member_ids: tuple[str, ...]
    admin_ids: tuple[str, ...]
    creator_id: str
    total_members: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, group_id: str, data: Mapping[str, Any]) -> GroupInfo:
        """Parse one ``gridInfoMap`` entry."""
        members = data.get("memberIds") or [m.get("id") for m in data.get("currentMems") or []]
        return cls(
            group_id=str(data.get("groupId") or group_id),
            name=str(data.get("name") or ""),
            member_ids=tuple(str(m) for m in members if m),
            admin_ids=tuple(str(a) for a in data.get("adminIds") or []),
            creator_id=str(data.get("creatorId") or ""),
            total_members=int(data.get("totalMember") or len(members)),
            raw=dict(data),
        )


@dataclass(frozen=True, slots=True)
class GroupMember:
    """A member profile from ``social/group/members``."""

    uid: str
    display_name: str
    zalo_name: str
    avatar: str
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


class FileDoneRegistry:
    """Pending ``file_done`` waits by file id; results that arrive early are kept a while.

    The websocket may deliver ``file_done`` before the upload answer has been read, so a
    resolution without a waiter is buffered (bounded, ``keep_s`` seconds).
    """

    def __init__(self, *, keep_s: float = 300.0, max_early: int = 256) -> None:
        self._waiters: dict[str, asyncio.Future[str]] = {}
        self._early: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._keep_s = keep_s
        self._max_early = max_early

    def waiter(self, file_id: str) -> asyncio.Future[str]:
        """A future resolved with the file URL when ``file_done`` for ``file_id`` arrives."""
        fut = self._waiters.get(file_id)
        if fut is not None and not fut.done():
            return fut
        fut = asyncio.get_running_loop().create_future()
        early = self._early.pop(file_id, None)
        if early is not None and time.monotonic() - early[1] <= self._keep_s:
            fut.set_result(early[0])
        else:
            self._waiters[file_id] = fut
            fut.add_done_callback(lambda _f: self._forget(file_id, _f))
        return fut

    def _forget(self, file_id: str, fut: asyncio.Future[str]) -> None:
        if self._waiters.get(file_id) is fut:
            del self._waiters[file_id]

    def resolve(self, file_id: str, url: str) -> bool:
        """Deliver ``url`` for ``file_id``; return whether someone was waiting."""
        fut = self._waiters.pop(str(file_id), None)
        if fut is not None and not fut.done():
            fut.set_result(url)
            return True
        now = time.monotonic()
        self._early[str(file_id)] = (url, now)
        while len(self._early) > self._max_early:
            self._early.popitem(last=False)
        return False

    def pending(self) -> int:
        """Number of uploads waiting for their ``file_done``."""
        return len(self._waiters)


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, JPEG, GIF or WebP image, or ``None`` if unknown."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            return (
                1 + int.from_bytes(data[24:27], "little"),
                1 + int.from_bytes(data[27:30], "little"),
            )
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return int(w) & 0x3FFF, int(h) & 0x3FFF
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 9 < len(data):
            if data[pos] != 0xFF:
                pos += 1
                continue
            marker = data[pos + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                pos += 2
                continue
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[pos + 5 : pos + 9])
                return int(width), int(height)
            pos += 2 + length
    return None


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _int_id(value: str, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{what} must be a numeric id, got {value!r}") from None


class PersonalApi:
    """Session endpoints of a logged-in account.

    Args:
        session: the logged-in session (service map, key, imei).
        http: the HTTP layer with ``session`` attached.
    """

    def __init__(self, session: Session, http: PersonalHttp) -> None:
        self.session = session
        self.http = http
        self.file_done = FileDoneRegistry()
        self._last_client_id = 0
        self._upload_ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"PersonalApi(uid={self.session.uid!r})"

    # ---------------------------------------------------------------- helpers

    def _client_id(self) -> int:
        """``Date.now()``-like ids, strictly increasing so two sends never share one."""
        now = int(time.time() * 1000)
        self._last_client_id = max(now, self._last_client_id + 1)
        return self._last_client_id

    def _url(self, service: str, path: str) -> str:
        return self.session.service_url(service) + path

    def _sharefile(self) -> Mapping[str, Any]:
        features = self.session.settings.get("features")
        sharefile = features.get("sharefile") if isinstance(features, Mapping) else None
        return sharefile if isinstance(sharefile, Mapping) else {}

    @staticmethod
    def _is_group(thread_type: ThreadType | str) -> bool:
        if thread_type is ThreadType.USER:  # the usual values: no enum lookup
            return False
        if thread_type is ThreadType.GROUP:
            return True
        try:
            return ThreadType(thread_type) == ThreadType.GROUP
        except ValueError:
            raise ConfigurationError(
                f"thread_type must be 'user' or 'group', got {thread_type!r}"
            ) from None

    @staticmethod
    def _sent(result: Any, client_id: int | str, path: str) -> SentMessage:
        if not isinstance(result, Mapping) or result.get("msgId") is None:
            raise ProtocolError(f"send answer lacks msgId ({path})")
        return SentMessage(msg_id=str(result["msgId"]), cli_msg_id=str(client_id))

    # ---------------------------------------------------------------- file_done hook

    def file_done_waiter(self, file_id: str) -> asyncio.Future[str]:
        """A future resolved with the URL of ``file_id`` when its ``file_done`` arrives."""
        return self.file_done.waiter(str(file_id))

    def resolve_file_done(self, file_id: str, url: str) -> bool:
        """Called by the listener for each ``file_done`` control; True if someone waited."""
        return self.file_done.resolve(str(file_id), url)

    # ---------------------------------------------------------------- text

    async def send_text(
        self,
        thread_id: str,
        text: str,
        *,
        thread_type: ThreadType | str = ThreadType.USER,
        mentions: Sequence[MentionLike] = (),
        styles: Sequence[TextStyle] = (),
        quote: Quote | None = None,
        urgency: Urgency = Urgency.DEFAULT,
        ttl_ms: int = 0,
    ) -> SentMessage:
        """Send a text message to a user or a group.

        Args:
            thread_id: user id or group id.
            text: the message (must contain the ``@Name`` text of each mention).
            thread_type: `ThreadType.USER` or `ThreadType.GROUP`.
            mentions: group mentions (ignored for users, as by the web client).
            styles: bold/italic/colour/... ranges.
            quote: the message this one replies to.
            urgency: important / urgent marker.
            ttl_ms: self-destruct after this many milliseconds (0 = never).

        Raises:
            ConfigurationError: empty text or mentions outside the text.
            ApiError: Zalo refused the message.
        """
        if not text:
            raise ConfigurationError("Missing message content: text is empty")
        if ttl_ms < 0:
            raise ConfigurationError("ttl_ms must not be negative")
        group = self._is_group(thread_type)
        text_len = utf16_len(text)
        mention_info = None
        if group and mentions:
            valid = [m for m in mentions if m.pos >= 0 and m.uid and m.length > 0]
            for m in valid:
                if m.pos + m.length > text_len:
                    raise ConfigurationError(
                        f"mention of {m.uid} at {m.pos}+{m.length} is outside the text "
                        f"({text_len} UTF-16 units)"
                    )
            if sum(m.length for m in valid) > text_len:
                raise ConfigurationError("mentions are longer than the text")
            if valid:
                mention_info = compact_json(
                    [
                        {
                            "pos": m.pos,
                            "uid": m.uid,
                            "len": m.length,
                            "type": 1 if m.uid == "-1" else 0,
                        }
                        for m in valid
                    ]
                )
        for s in styles:
            if s.start < 0 or s.length <= 0 or s.start + s.length > text_len:
                raise ConfigurationError(
                    f"style {s.style!r} at {s.start}+{s.length} is outside the text"
                )
        client_id = self._client_id()
        params: dict[str, Any]
        if quote is not None:
            params = {
                "toid": None if group else thread_id,
                "grid": thread_id if group else None,
                "message": text,
                "clientId": client_id,
                "mentionInfo": mention_info,
                # "0" means "me" on the wire; the server wants the real uid.
                "qmsgOwner": self.session.uid if quote.owner_id == "0" else quote.owner_id,
                "qmsgId": quote.msg_id,
                "qmsgCliId": quote.cli_msg_id,
                "qmsgType": _CLIENT_MSG_TYPES.get(quote.msg_type, 1),
                "qmsgTs": quote.ts,
                "qmsg": quote.text,
                "imei": None if group else self.session.imei,
                "visibility": 0 if group else None,
                "qmsgAttach": compact_json(dict(quote.attach or {})) if group else None,
                "qmsgTTL": quote.ttl,
                "ttl": ttl_ms,
            }
        elif group:
            params = {
                "message": text,
                "clientId": client_id,
                "mentionInfo": mention_info,
                "ttl": ttl_ms,
                "visibility": 0,
                "grid": thread_id,
            }
        else:
            # Key order matches the reference vector (§2.8).
            params = {
                "message": text,
                "clientId": client_id,
                "imei": self.session.imei,
                "ttl": ttl_ms,
                "toid": thread_id,
            }
        if styles:
            params["textProperties"] = compact_json(
                {
                    "styles": [{"start": s.start, "len": s.length, "st": s.style} for s in styles],
                    "ver": 0,
                }
            )
        if urgency != Urgency.DEFAULT:
            params["metaData"] = {"urgency": int(urgency)}
        if group:
            path = (
                "/api/group/quote"
                if quote
                else ("/api/group/mention" if mention_info else "/api/group/sendmsg")
            )
            url = self._url("group", path)
        else:
            path = "/api/message/quote" if quote else "/api/message/sms"
            url = self._url("chat", path)
        result = await self.http.call("POST", url, params, query=_NRETRY)
        return self._sent(result, client_id, path)

    # ---------------------------------------------------------------- attachments

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
        self._check_file(data, filename)
        if width is None or height is None:
            size = image_size(data)
            if size is None:
                raise ConfigurationError(
                    f"{filename}: cannot read the image size; pass width= and height="
                )
            width, height = size
        group = self._is_group(thread_type)
        uploaded, _ = await self._upload("photo_original", thread_id, group, data, filename)
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
            "hdSize": str(len(data)),
            "zsource": -1,
            "ttl": ttl_ms,
            "jcp": '{"convertible":"jxl"}',
        }
        scope = "group" if group else "message"
        path = f"/api/{scope}/photo_original/send"
        result = await self.http.call("POST", self._url("file", path), params, query=_NRETRY)
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
        result = await self.http.call("POST", self._url("file", path), params, query=_NRETRY)
        return self._sent(result, client_id, path)

    # ---------------------------------------------------------------- links

    async def parse_link(self, link: str) -> Mapping[str, Any]:
        """Preview data of ``link`` (``thumb``, ``title``, ``desc``, ``src``, ``href``, ...)."""
        params = {"link": link, "version": 1, "imei": self.session.imei}
        result = await self.http.call("GET", self._url("file", "/api/message/parselink"), params)
        data = result.get("data") if isinstance(result, Mapping) else None
        if not isinstance(data, Mapping):
            raise ProtocolError("parselink answer lacks data")
        return data

    async def send_link(
        self,
        thread_id: str,
        link: str,
        *,
        text: str = "",
        thread_type: ThreadType | str = ThreadType.USER,
        ttl_ms: int = 0,
    ) -> SentMessage:
        """Send a link with its preview (``parselink`` first); the link is appended to text."""
        if not link:
            raise ConfigurationError("link must not be empty")
        preview = await self.parse_link(link)
        group = self._is_group(thread_type)
        message = text if link in text else f"{text} {link}".strip()
        client_id = self._client_id()
        params: dict[str, Any] = {
            "msg": message,
            "href": preview.get("href") or link,
            "src": preview.get("src") or "",
            "title": preview.get("title") or "",
            "desc": preview.get("desc") or "",
            "thumb": preview.get("thumb") or "",
            "type": 2,
            "media": compact_json(preview.get("media") or {}),
            "ttl": ttl_ms,
            "clientId": client_id,
        }
        if group:
            params.update(grid=thread_id, imei=self.session.imei)
            path = "/api/group/sendlink"
            url = self._url("group", path)
        else:
            params.update(toId=thread_id, mentionInfo="")
            path = "/api/message/link"
            url = self._url("chat", path)
        result = await self.http.call("POST", url, params, query=_NRETRY)
        return self._sent(result, client_id, path)

    # ---------------------------------------------------------------- reactions, typing

    async def add_reaction(
        self,
        icon: str | CustomReaction,
        *,
        thread_id: str,
        msg_id: str,
        cli_msg_id: str,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> Any:
        """React to a message with a built-in icon (see `REACTIONS`) or a `CustomReaction`.

        Raises:
            ConfigurationError: an unknown icon string.
        """
        if isinstance(icon, CustomReaction):
            r_type, source, icon_text = icon.r_type, icon.source, icon.icon
        else:
            if icon not in REACTIONS:
                raise ConfigurationError(f"unknown reaction icon {icon!r}; see REACTIONS")
            r_type, source, icon_text = REACTIONS[icon], _REACTION_SOURCE, icon
        return await self._react(
            thread_id, msg_id, cli_msg_id, thread_type, r_type, source, icon_text
        )

    async def remove_reaction(
        self,
        *,
        thread_id: str,
        msg_id: str,
        cli_msg_id: str,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> Any:
        """Remove this account's reaction from a message (``rType -1``, empty icon)."""
        return await self._react(thread_id, msg_id, cli_msg_id, thread_type, -1, 6, "")

    async def _react(
        self,
        thread_id: str,
        msg_id: str,
        cli_msg_id: str,
        thread_type: ThreadType | str,
        r_type: int,
        source: int,
        icon: str,
    ) -> Any:
        group = self._is_group(thread_type)
        body = compact_json(
            {
                "rMsg": [
                    {
                        "gMsgID": _int_id(msg_id, "msg_id"),
                        "cMsgID": _int_id(cli_msg_id, "cli_msg_id"),
                        "msgType": 1,
                    }
                ],
                "rIcon": icon,
                "rType": r_type,
                "source": source,
            }
        )
        params: dict[str, Any] = {"react_list": [{"message": body, "clientId": self._client_id()}]}
        if group:
            params.update(grid=thread_id, imei=self.session.imei)
        else:
            params["toid"] = thread_id
        scope = "group" if group else "message"
        return await self.http.call("POST", self._url("reaction", f"/api/{scope}/reaction"), params)

    async def send_typing(
        self, thread_id: str, *, thread_type: ThreadType | str = ThreadType.USER
    ) -> Any:
        """Show "typing..." in a conversation."""
        if self._is_group(thread_type):
            params: dict[str, Any] = {"grid": thread_id, "imei": self.session.imei}
            url = self._url("group", "/api/group/typing")
        else:
            params = {"toid": thread_id, "destType": 3, "imei": self.session.imei}
            url = self._url("chat", "/api/message/typing")
        return await self.http.call("POST", url, params)

    # ---------------------------------------------------------------- receipts

    def _receipt_entries(self, refs: Sequence[MessageRef]) -> list[dict[str, Any]]:
        # Like the web client: 0 when the field is present, -1 when absent.
        return [
            {
                "cmi": r.cli_msg_id,
                "gmi": r.msg_id,
                "si": r.sender_id,
                "di": "0" if r.thread_id == self.session.uid else r.thread_id,
                "mt": r.msg_type,
                "st": 0 if r.has_st else -1,
                "at": 0 if r.has_at else -1,
                "cmd": 0 if r.has_cmd else -1,
                "ts": 0 if r.has_ts else -1,
            }
            for r in refs
        ]

    def _batches(
        self, messages: Sequence[MessageRef | _Received], group: bool
    ) -> list[list[MessageRef]]:
        refs = [m if isinstance(m, MessageRef) else MessageRef.from_message(m) for m in messages]
        # Group batches must share the group (idTo); user batches must share the sender.
        by_thread: dict[str, list[MessageRef]] = {}
        for ref in refs:
            by_thread.setdefault(ref.thread_id if group else ref.sender_id, []).append(ref)
        return [
            list(batch)
            for same in by_thread.values()
            for batch in _chunks(same, MAX_RECEIPTS_PER_CALL)
        ]

    async def send_delivered(
        self,
        messages: Sequence[MessageRef | _Received],
        *,
        thread_type: ThreadType | str = ThreadType.USER,
        seen: bool = False,
    ) -> int:
        """Report messages as delivered, in batches of at most 50; return the call count."""
        group = self._is_group(thread_type)
        calls = 0
        for batch in self._batches(messages, group):
            infos: dict[str, Any] = {"seen": 1 if seen else 0, "data": self._receipt_entries(batch)}
            params: dict[str, Any] = {}
            if group:
                infos["grid"] = batch[0].thread_id
                params["imei"] = self.session.imei
            scope, service = ("group", "group") if group else ("message", "chat")
            await self.http.call(
                "POST",
                self._url(service, f"/api/{scope}/deliveredv2"),
                {"msgInfos": compact_json(infos), **params},
            )
            calls += 1
        return calls

    async def send_seen(
        self,
        messages: Sequence[MessageRef | _Received],
        *,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> int:
        """Mark messages as seen, in batches of at most 50; return the call count."""
        group = self._is_group(thread_type)
        calls = 0
        for batch in self._batches(messages, group):
            infos: dict[str, Any] = {"data": self._receipt_entries(batch)}
            params: dict[str, Any] = {}
            if group:
                infos["grid"] = batch[0].thread_id
                params["imei"] = self.session.imei
            else:
                infos["senderId"] = batch[0].sender_id
            scope, service = ("group", "group") if group else ("message", "chat")
            await self.http.call(
                "POST",
                self._url(service, f"/api/{scope}/seenv2"),
                {"msgInfos": compact_json(infos), **params},
                query=_NRETRY,
            )
            calls += 1
        return calls

    # ---------------------------------------------------------------- undo

    async def undo(
        self,
        thread_id: str,
        *,
        msg_id: str,
        cli_msg_id: str,
        thread_type: ThreadType | str = ThreadType.USER,
    ) -> Any:
        """Recall (undo) a message this account sent."""
        params: dict[str, Any] = {
            "msgId": msg_id,
            "clientId": self._client_id(),
            "cliMsgIdUndo": cli_msg_id,
        }
        if self._is_group(thread_type):
            params.update(grid=thread_id, visibility=0, imei=self.session.imei)
            url = self._url("group", "/api/group/undomsg")
        else:
            params["toid"] = thread_id
            url = self._url("chat", "/api/message/undo")
        return await self.http.call("POST", url, params)

    # ---------------------------------------------------------------- directory

    async def friends(self) -> list[UserProfile]:
        """Every friend of this account."""
        params = {
            "incInvalid": 1,
            "page": 1,
            "count": 20000,
            "avatar_size": 120,
            "actiontime": 0,
            "imei": self.session.imei,
        }
        result = await self.http.call(
            "GET", self._url("profile", "/api/social/friend/getfriends"), params
        )
        if not isinstance(result, list):
            raise ProtocolError("getfriends answer is not a list")
        return [UserProfile.from_json(u) for u in result if isinstance(u, Mapping)]

    async def group_ids(self) -> list[str]:
        """Ids of every group this account is in."""
        result = await self.http.call("GET", self._url("group_poll", "/api/group/getlg/v4"))
        grid = result.get("gridVerMap") if isinstance(result, Mapping) else None
        if not isinstance(grid, Mapping):
            raise ProtocolError("getlg/v4 answer lacks gridVerMap")
        return [str(g) for g in grid]

    async def groups_info(self, group_ids: Sequence[str]) -> dict[str, GroupInfo]:
        """Info of the given groups (asked in chunks of 80); unknown ids are left out."""
        out: dict[str, GroupInfo] = {}
        for chunk in _chunks(list(group_ids), GROUP_INFO_CHUNK):
            params = {"gridVerMap": compact_json({str(g): 0 for g in chunk})}
            result = await self.http.call("POST", self._url("group", "/api/group/getmg-v2"), params)
            infos = result.get("gridInfoMap") if isinstance(result, Mapping) else None
            if not isinstance(infos, Mapping):
                raise ProtocolError("getmg-v2 answer lacks gridInfoMap")
            for gid, info in infos.items():
                if isinstance(info, Mapping):
                    out[str(gid)] = GroupInfo.from_json(str(gid), info)
        return out

    async def all_groups(self) -> dict[str, GroupInfo]:
        """`group_ids` then `groups_info`."""
        return await self.groups_info(await self.group_ids())

    async def group_members(self, member_ids: Sequence[str]) -> dict[str, GroupMember]:
        """Profiles of group members (ids from `GroupInfo.member_ids`)."""
        out: dict[str, GroupMember] = {}
        for chunk in _chunks(list(member_ids), GROUP_INFO_CHUNK):
            params = {"friend_pversion_map": [f"{uid}_0" for uid in chunk]}
            result = await self.http.call(
                "GET", self._url("profile", "/api/social/group/members"), params
            )
            profiles = result.get("profiles") if isinstance(result, Mapping) else None
            if not isinstance(profiles, Mapping):
                raise ProtocolError("group members answer lacks profiles")
            for uid, p in profiles.items():
                if isinstance(p, Mapping):
                    out[str(uid)] = GroupMember(
                        uid=str(p.get("id") or uid),
                        display_name=str(p.get("displayName") or ""),
                        zalo_name=str(p.get("zaloName") or ""),
                        avatar=str(p.get("avatar") or ""),
                        raw=dict(p),
                    )
        return out

    async def own_profile(self) -> UserProfile:
        """This account's profile."""
        result = await self.http.call("GET", self._url("profile", "/api/social/profile/me-v2"))
        profile = result.get("profile") if isinstance(result, Mapping) else None
        if not isinstance(profile, Mapping):
            raise ProtocolError("me-v2 answer lacks profile")
        return UserProfile.from_json(profile)

    async def find_user(self, phone: str) -> UserProfile | None:
        """The user with this phone number, or ``None`` (code 216).

        A leading ``0`` becomes the ``84`` country code when the language is ``vi``.
        """
        digits = "".join(c for c in phone if c.isdigit())
        if not digits:
            raise ConfigurationError(f"not a phone number: {phone!r}")
        if digits.startswith("0") and self.session.language == "vi":
            digits = "84" + digits[1:]
        params = {
            "phone": digits,
            "avatar_size": 240,
            "language": self.session.language,
            "imei": self.session.imei,
            "reqSrc": 40,
        }
        try:
            result = await self.http.call(
                "GET", self._url("friend", "/api/friend/profile/get"), params
            )
        except NotFoundError:
            return None
        if not isinstance(result, Mapping):
            raise ProtocolError("profile/get answer is not an object")
        return UserProfile.from_json(result)

    async def keepalive(self) -> Mapping[str, Any]:
        """The HTTP keep-alive call (plain answer, e.g. ``{"config_vesion": 1}``)."""
        result = await self.http.call(
            "GET",
            self._url("chat", "/keepalive"),
            {"imei": self.session.imei},
            encrypted_response=False,
        )
        return result if isinstance(result, Mapping) else {}
