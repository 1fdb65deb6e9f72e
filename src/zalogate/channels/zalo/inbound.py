"""Inbound: a Bot API update -> :class:`~zalogate.core.model.InboundMessage`.

``normalize_update`` validates an update the way the reference's webhook spool does
(``zalo-bot-api.md`` §1.3) and either returns the message to admit or says why it is ignored:
a sticker whose image Zalo links reaches the agent as ``[sticker]`` with that image; a
sticker without one and an unsupported event (voice, video, file… which the Bot API does not
deliver) are marked unsupported, and the channel answers them with one polite notice per
conversation (``unsupportedReply``, :mod:`zalogate.core.notices`) instead of staying silent
(OpenClaw issue 47550); a text event with only whitespace starts no turn; a malformed event is
dropped as ``invalid-event``.

Images are *not* downloaded here. An image message is admitted with a ``MediaRef`` holding
``photo_url`` only; :class:`~zalogate.channels.media.MediaFetcher` downloads it when the
message is processed, after access control. On any failure the message still goes to the
agent, with the notice ``[zalo image attachment unavailable]`` after the caption.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from zalogate.botapi import EventName, to_epoch_ms
from zalogate.channels.media import IMAGE_UNAVAILABLE
from zalogate.core.model import ChatType, InboundMessage, MediaRef, MentionFacts
from zalogate.core.notices import UNSUPPORTED

__all__ = [
    "STICKER_TEXT",
    "InvalidUpdateError",
    "Normalized",
    "normalize_update",
    "unwrap_update",
]

_KNOWN_EVENTS = frozenset(event.value for event in EventName)
_CHAT_TYPES = {"PRIVATE": ChatType.DIRECT, "GROUP": ChatType.GROUP}
_GROUP_MENTION = MentionFacts(was_mentioned=True, has_any_mention=True)
_NO_MENTION = MentionFacts()  # frozen: one shared instance, not one model per message
# Enum member values read once (an enum attribute lookup is a descriptor call, per use).
_TEXT = EventName.TEXT.value
_IMAGE = EventName.IMAGE.value
_STICKER = EventName.STICKER.value
_UNSUPPORTED = EventName.UNSUPPORTED.value


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


STICKER_TEXT = "[sticker]"


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
    media: tuple[MediaRef, ...] = ()
    sticker = (_text(message.get("sticker")) or "").strip() if event == _STICKER else ""
    if sticker.startswith(("https://", "http://")):
        text = STICKER_TEXT
        media = (MediaRef(kind="image", url=sticker),)
    elif event in (_STICKER, _UNSUPPORTED):
        text = ""
        media = (
            MediaRef(kind="sticker" if event == _STICKER else "other", placeholder=UNSUPPORTED),
        )
    elif event == _TEXT:
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
