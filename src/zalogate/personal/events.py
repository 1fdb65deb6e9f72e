"""Typed events of the personal-account websocket (`event_parsing.parse_event` builds them).

Conventions (reference §3.5-§3.7):

* Every id is a ``str`` (Zalo ids exceed 2**53); timestamps are ``ts_ms`` integers.
* ``uidFrom == "0"`` means the account itself sent it from another session: ``is_self`` is
  true and ``sender_id`` is the account's own uid. ``idTo == "0"`` likewise means "me".
* ``thread_id`` is the conversation: the other user of a DM (whoever sent it) or the group;
  ``thread_type`` is a `ThreadType`.
* Mention ``pos``/``length`` are UTF-16 code units (JavaScript string indices); use
  `Mention.text_in` to cut them out of a Python ``str``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from zalogate.personal.session import ThreadType
from zalogate.personal.spans import Mention

__all__ = [
    "Delivered",
    "Event",
    "FileDone",
    "FriendEvent",
    "GroupEvent",
    "GroupMessage",
    "Message",
    "OldMessages",
    "OldReactions",
    "QuotedMessage",
    "Reaction",
    "ReactionTarget",
    "Seen",
    "Typing",
    "Undo",
    "UnknownEvent",
    "UserMessage",
]


@dataclass(frozen=True, slots=True)
class QuotedMessage:
    """The message a received reply quotes (``Message.quote``); `Quote` builds an outgoing one."""

    owner_id: str
    msg_id: str
    cli_msg_id: str
    msg_type: int
    ts_ms: int
    text: str
    attach: str = ""
    from_name: str = ""
    ttl: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A message in a DM (:class:`UserMessage`) or a group (:class:`GroupMessage`).

    ``content`` is the text for ``msg_type == "webchat"``, else the attachment object
    (``{title, description, href, thumb, params, ...}``). ``raw`` is the message as received
    (``uidFrom``/``idTo`` not rewritten); do not mutate it.
    """

    thread_type: ClassVar[ThreadType]

    thread_id: str
    msg_id: str
    cli_msg_id: str
    sender_id: str
    sender_name: str
    to_id: str
    msg_type: str
    content: str | Mapping[str, Any]
    ts_ms: int
    is_self: bool
    ttl: int = 0
    real_msg_id: str = ""
    mentions: tuple[Mention, ...] = ()
    quote: QuotedMessage | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def text(self) -> str:
        """The text (``""`` for attachments)."""
        return self.content if isinstance(self.content, str) else ""

    @property
    def attachment(self) -> Mapping[str, Any] | None:
        """The attachment object, or ``None`` for text."""
        return None if isinstance(self.content, str) else self.content

    def receipt_entry(self) -> dict[str, Any]:
        """One ``msgInfos.data`` item for delivered/seen calls, as zca-js builds it (§4.5).

        ``st``/``at``/``cmd``/``ts`` are ``0`` when the message has the field and ``-1`` when
        not (zca-js's operator-precedence quirk, kept for byte-compatibility).
        """
        raw = self.raw
        # di: "0" when the message was sent to this account, else the group / other user.
        to_me = self.thread_type is ThreadType.USER and not self.is_self
        return {
            "cmi": self.cli_msg_id,
            "gmi": self.msg_id,
            "si": self.sender_id,
            "di": "0" if to_me else self.to_id,
            "mt": self.msg_type,
            "st": 0 if "st" in raw else -1,
            "at": 0 if "at" in raw else -1,
            "cmd": 0 if "cmd" in raw else -1,
            "ts": 0 if "ts" in raw else -1,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class UserMessage(Message):
    """A direct message; ``thread_id`` is the other user."""

    thread_type: ClassVar[ThreadType] = ThreadType.USER


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupMessage(Message):
    """A group message; ``thread_id`` is the group id."""

    thread_type: ClassVar[ThreadType] = ThreadType.GROUP


@dataclass(frozen=True, slots=True, kw_only=True)
class Undo:
    """A message was recalled; ``undone_msg_id`` names it."""

    thread_id: str
    thread_type: ThreadType
    sender_id: str
    is_self: bool
    msg_id: str
    cli_msg_id: str
    undone_msg_id: str
    undone_cli_msg_id: str
    ts_ms: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class ReactionTarget:
    """A message a reaction applies to."""

    msg_id: str
    cli_msg_id: str
    msg_type: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Reaction:
    """A reaction was added (or removed: :attr:`removed`) to one or more messages."""

    thread_id: str
    thread_type: ThreadType
    sender_id: str
    sender_name: str
    is_self: bool
    icon: str
    r_type: int
    source: int
    targets: tuple[ReactionTarget, ...]
    msg_id: str
    cli_msg_id: str
    ts_ms: int
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def removed(self) -> bool:
        """The reaction was taken back (``rType -1`` / empty icon)."""
        return self.r_type == -1 or not self.icon


@dataclass(frozen=True, slots=True, kw_only=True)
class Typing:
    """Someone is typing in a DM or a group."""

    thread_id: str
    thread_type: ThreadType
    user_id: str
    ts_ms: int
    is_pc: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Delivered:
    """A message reached the devices of ``delivered_uids``."""

    thread_id: str
    thread_type: ThreadType
    msg_id: str
    real_msg_id: str
    delivered_uids: tuple[str, ...]
    seen_uids: tuple[str, ...]
    seen: bool
    ts_ms: int
    is_self: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Seen:
    """A message was read by ``seen_uids``."""

    thread_id: str
    thread_type: ThreadType
    msg_id: str
    real_msg_id: str
    seen_uids: tuple[str, ...]
    is_self: bool


@dataclass(frozen=True, slots=True)
class FileDone:
    """Control 601 ``file_done``: an async upload (``file_id``) is stored at ``url``."""

    file_id: str
    url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class GroupEvent:
    """Control 601 ``group``: membership, settings, admins, pins, boards, reminders, avatar.

    ``kind`` is the ``act`` when known (``join``, ``leave``, ``remove_member``, ``add_admin``,
    ``update``...) else ``"unknown"``; ``act`` is always the raw value.
    """

    kind: str
    act: str
    group_id: str
    is_self: bool
    data: Mapping[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class FriendEvent:
    """Control 601 ``fr``: friend added/removed, requests, blocks, pins.

    ``kind`` is one of ``add remove request undo_request reject_request seen_request block
    unblock block_call unblock_call pin_unpin pin_create unknown``.
    """

    kind: str
    act: str
    thread_id: str
    is_self: bool
    data: Any = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class OldMessages:
    """Answer to a 510/511 history request."""

    thread_type: ThreadType
    messages: tuple[UserMessage | GroupMessage | Undo, ...]
    req_id: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class OldReactions:
    """Answer to a 610/611 request."""

    thread_type: ThreadType
    reactions: tuple[Reaction, ...]
    req_id: str = ""


@dataclass(frozen=True, slots=True)
class UnknownEvent:
    """Anything not (or not correctly) understood; ``data`` is the raw item."""

    cmd: int
    sub_cmd: int
    reason: str
    data: Any = field(default=None, repr=False, compare=False)


Event = (
    UserMessage
    | GroupMessage
    | Undo
    | Reaction
    | Typing
    | Delivered
    | Seen
    | FileDone
    | GroupEvent
    | FriendEvent
    | OldMessages
    | OldReactions
    | UnknownEvent
)
