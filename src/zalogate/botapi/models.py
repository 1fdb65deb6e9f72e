"""Typed Bot API payloads, with Zalo's own field names.

Ids are strings (Zalo ids exceed 2**53; numbers are turned into strings), unknown fields are
kept (``extra="allow"``) so that a payload survives a parse/dump round trip, and ``date``
values are normalised to epoch milliseconds (Zalo sends ms; older samples use seconds).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "BotInfo",
    "Chat",
    "ChatType",
    "EventName",
    "Message",
    "SentMessage",
    "Update",
    "User",
    "WebhookInfo",
    "to_epoch_ms",
]

# Values at or above this are already milliseconds (1e12 ms is September 2001).
_MS_THRESHOLD = 1_000_000_000_000


def to_epoch_ms(value: float) -> int:
    """Epoch seconds or milliseconds -> epoch milliseconds."""
    if value >= _MS_THRESHOLD:
        return int(value)
    return int(value * 1000)


def _number_to_ms(value: object) -> object:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return to_epoch_ms(value)
    return value


_EpochMs = Annotated[int | None, BeforeValidator(_number_to_ms)]
"""A ``date``: epoch seconds or milliseconds on the wire, milliseconds in the model."""


class _WireModel(BaseModel):
    model_config = ConfigDict(
        extra="allow",
        populate_by_name=True,
        coerce_numbers_to_str=True,
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict with Zalo's field names (``from``, not ``from_``)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ChatType(StrEnum):
    """``chat.chat_type`` values."""

    PRIVATE = "PRIVATE"
    GROUP = "GROUP"


class EventName(StrEnum):
    """Known ``event_name`` values (others are kept as plain strings)."""

    TEXT = "message.text.received"
    IMAGE = "message.image.received"
    STICKER = "message.sticker.received"
    UNSUPPORTED = "message.unsupported.received"


class User(_WireModel):
    """``message.from``: the sender."""

    id: str
    display_name: str | None = None
    name: str | None = None
    avatar: str | None = None
    is_bot: bool | None = None

    @property
    def best_name(self) -> str | None:
        """``display_name`` (real payloads), else ``name``, else the doc sample's ``first_name``."""
        first_name = (self.model_extra or {}).get("first_name")
        for candidate in (self.display_name, self.name, first_name):
            if isinstance(candidate, str) and candidate.strip():
                return candidate.strip()
        return None


class Chat(_WireModel):
    """``message.chat``: where the message was written (reply to ``id``)."""

    id: str
    chat_type: str = ChatType.PRIVATE.value

    @property
    def is_group(self) -> bool:
        """True for a group chat."""
        return self.chat_type == ChatType.GROUP.value


class Message(_WireModel):
    """``update.message``."""

    message_id: str
    from_: User = Field(alias="from")
    chat: Chat
    date: _EpochMs = None
    text: str | None = None
    photo_url: str | None = None
    caption: str | None = None
    sticker: str | None = None
    message_type: str | None = None


class Update(_WireModel):
    """One update: the ``getUpdates`` result or a webhook body.

    ``event_name`` is optional because Zalo's own ``getUpdates`` doc sample has none.
    """

    event_name: str | None = None
    message: Message | None = None

    @property
    def event(self) -> EventName | None:
        """The known event kind (inferred from the message when ``event_name`` is absent)."""
        if self.event_name is not None:
            try:
                return EventName(self.event_name)
            except ValueError:
                return None
        message = self.message
        if message is None:
            return None
        if message.photo_url:
            return EventName.IMAGE
        if message.sticker:
            return EventName.STICKER
        if message.text is not None:
            return EventName.TEXT
        return None


class BotInfo(_WireModel):
    """``getMe`` result."""

    id: str
    account_name: str | None = None
    account_type: str | None = None
    can_join_groups: bool | None = None


class SentMessage(_WireModel):
    """``sendMessage`` / ``sendPhoto`` / ``sendSticker`` result."""

    message_id: str
    date: _EpochMs = None


class WebhookInfo(_WireModel):
    """``setWebhook`` / ``deleteWebhook`` / ``getWebhookInfo`` result; ``url == ""`` = none."""

    url: str = ""
    updated_at: int | None = None
    has_custom_certificate: bool | None = None
