"""The channel-agnostic message model: what channels hand the core and what the core hands back.

Ids are strings everywhere (Zalo ids exceed 2**53); timestamps are milliseconds since the epoch.
The models are frozen pydantic models so that the inbox can journal them as JSON and replay them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ChatType",
    "DeliveryReceipt",
    "InboundMessage",
    "MediaRef",
    "MentionFacts",
    "ReplyKind",
    "ReplyPayload",
]


class ChatType(StrEnum):
    """Whether a conversation is a one-to-one chat or a group."""

    DIRECT = "direct"
    GROUP = "group"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MediaRef(_Frozen):
    """An attachment of an inbound message.

    ``url`` is where the channel found it; ``path`` is set once it was downloaded into the
    state dir; ``placeholder`` is what the agent sees when there is no file (``<media:file>``).
    """

    kind: str = Field(description="image | sticker | file | video | audio | link | other")
    url: str | None = None
    path: str | None = None
    mime_type: str | None = None
    name: str | None = None
    size: int | None = None
    placeholder: str | None = None


class MentionFacts(_Frozen):
    """What the channel could tell about mentions in a group message.

    ``can_detect`` is False when the channel has no way to know (then mention-gated groups
    fail closed).
    """

    was_mentioned: bool = False
    """The bot account itself was explicitly mentioned (by id or by a mention pattern)."""
    has_any_mention: bool = False
    """The message mentions somebody (anybody)."""
    quoted_bot: bool = False
    """The message quotes (replies to) one of the bot's own messages."""
    can_detect: bool = True


class InboundMessage(_Frozen):
    """One message from Zalo, normalised by a channel."""

    channel: str
    account_id: str
    chat_type: ChatType
    chat_id: str
    sender_id: str
    sender_name: str | None = None
    message_id: str
    timestamp_ms: int
    text: str = ""
    media: tuple[MediaRef, ...] = ()
    mentions: MentionFacts = MentionFacts()
    group_name: str | None = None
    group_members: tuple[str, ...] = ()
    reply_to_id: str | None = None
    reply_to_text: str | None = None
    reply_to_sender: str | None = None
    raw: dict[str, Any] = Field(default_factory=dict)
    event: str | None = None
    """A conversation event (``"recall"``), not a message: after access control its ``text``
    is noted in the conversation's transcript and no agent turn starts."""
    command_text: str | None = None
    """The text as command parsing sees it, when the channel knows better than ``text``
    (zalouser cuts the bot's own mention spans out: ``@Bot /new`` → ``/new``). None: the
    core derives it from ``text`` (see ``core.access.command_body``)."""

    @property
    def is_group(self) -> bool:
        """True for group conversations."""
        return self.chat_type is ChatType.GROUP

    @property
    def conversation_key(self) -> str:
        """The lane key: messages with the same key are processed one after another."""
        return f"{self.channel}:{self.account_id}:{self.chat_type.value}:{self.chat_id}"


class ReplyKind(StrEnum):
    """Where a reply payload sits in an agent's answer."""

    TOOL = "tool"
    BLOCK = "block"
    FINAL = "final"


class ReplyPayload(_Frozen):
    """One piece of an agent's answer, for a channel to deliver."""

    text: str = ""
    media_urls: tuple[str, ...] = ()
    kind: ReplyKind = ReplyKind.FINAL
    reply_to_id: str | None = None


class DeliveryReceipt(_Frozen):
    """What a channel's ``send`` delivered.

    ``partial`` is True when some pieces went out and a later one failed: ``message_ids``
    then holds the ids that did go out, and ``error`` says what failed.
    """

    message_ids: tuple[str, ...] = ()
    partial: bool = False
    error: str | None = None
