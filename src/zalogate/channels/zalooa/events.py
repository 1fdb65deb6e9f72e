"""Webhook events → inbound messages (ids and timestamps stay strings until used)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zalogate.core.model import ChatType, InboundMessage, MediaRef

__all__ = ["inbound_from_event", "message_id_of", "user_of"]

_MEDIA_KINDS = {"image": "image", "gif": "image", "sticker": "sticker", "file": "file"}
_MEDIA_KINDS.update({"audio": "audio", "video": "video", "link": "link"})


def message_id_of(event: Mapping[str, Any]) -> str | None:
    """``message.msg_id`` (or ``message_id``, which one implementation reads)."""
    message = event.get("message")
    if not isinstance(message, dict):
        return None
    value = message.get("msg_id") or message.get("message_id")
    return str(value) if value else None


def user_of(event: Mapping[str, Any]) -> str | None:
    """The user an event is about: ``sender.id``, ``follower.id`` or ``user_id``."""
    for key in ("sender", "follower"):
        part = event.get(key)
        if isinstance(part, dict) and part.get("id"):
            return str(part["id"])
    value = event.get("user_id")
    return str(value) if value else None


def _location(payload: Mapping[str, Any]) -> str:
    coordinates = payload.get("coordinates")
    if isinstance(coordinates, dict):
        lat, lon = coordinates.get("latitude"), coordinates.get("longitude")
        return f"[location: {lat}, {lon}]"
    return "[location]"


def inbound_from_event(
    channel: str, account_id: str, event: Mapping[str, Any]
) -> InboundMessage | None:
    """The inbound message of a ``user_send_*`` event (``None`` for anything else)."""
    name = str(event.get("event_name", ""))
    sender, message_id = user_of(event), message_id_of(event)
    message = event.get("message")
    if not name.startswith("user_send_") or not sender or not message_id:
        return None
    assert isinstance(message, dict)
    text = str(message.get("text") or "")
    media: list[MediaRef] = []
    for attachment in message.get("attachments") or ():
        if not isinstance(attachment, dict):
            continue
        kind = str(attachment.get("type", ""))
        payload = attachment.get("payload") if isinstance(attachment.get("payload"), dict) else {}
        assert isinstance(payload, dict)
        if kind == "location":
            text = f"{text}\n{_location(payload)}".strip()
            continue
        url = payload.get("url")
        media.append(
            MediaRef(
                kind=_MEDIA_KINDS.get(kind, "other"),
                url=str(url) if url else None,
                name=str(payload["name"]) if payload.get("name") else None,
            )
        )
    timestamp = str(event.get("timestamp", "0"))
    quote = message.get("quote_msg_id")
    return InboundMessage(
        channel=channel,
        account_id=account_id,
        chat_type=ChatType.DIRECT,
        chat_id=sender,
        sender_id=sender,
        message_id=message_id,
        timestamp_ms=int(timestamp) if timestamp.isdigit() else 0,
        text=text,
        media=tuple(media),
        reply_to_id=str(quote) if quote else None,
        raw={"event_name": name},
    )
