"""What outgoing calls carry besides text ranges: urgency, quotes, receipt references, ids.

`Quote` and `MessageRef` are built from a received message: a listener `Message` event or
its raw dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from zalogate.personal.errors import ConfigurationError
from zalogate.personal.events import Message

__all__ = ["MessageRef", "Quote", "Received", "SentMessage", "Urgency", "raw_message"]

#: A received message: its raw dict or the listener event carrying it.
Received = Mapping[str, Any] | Message


def raw_message(message: Received) -> Mapping[str, Any]:
    """The raw message object of a listener event (``.raw``) or a mapping as is."""
    if isinstance(message, Mapping):
        return message
    if isinstance(message, Message):
        return message.raw
    raise ConfigurationError(f"expected a message mapping or event, got {type(message).__name__}")


class Urgency(IntEnum):
    """Message urgency (``metaData.urgency``)."""

    DEFAULT = 0
    IMPORTANT = 1
    URGENT = 2


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
    def from_message(cls, message: Received) -> Quote:
        """Quote a received message: a listener event (``UserMessage``...) or its raw dict.

        Raises:
            ConfigurationError: the message kind cannot be quoted (web client rules).
        """
        message = raw_message(message)
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
    def from_message(cls, message: Received) -> MessageRef:
        """A reference to a received message (a listener event or its raw dict)."""
        message = raw_message(message)
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
class SentMessage:
    """Ids of a sent message (``msg_id`` is Zalo's global id)."""

    msg_id: str
    cli_msg_id: str
