"""The closed set of requests one node may ask of the node holding an account's session.

Each op is a pydantic model (its ``op`` field tags it on the wire); :func:`parse_request`
refuses an unknown op or a malformed request with one line. :attr:`RoutedOp.sends` says
whether the op acts on Zalo (a send: an unanswered request may have gone out) or only reads.
Results travel as JSON and are validated back into the capability's return type
(:data:`RECEIPT`, :data:`ENTRY`, :data:`ENTRIES`, :data:`PROBE`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from zalogate.core.channel import DirectoryEntry, ProbeResult
from zalogate.core.model import DeliveryReceipt, InboundMessage, ReplyPayload

__all__ = [
    "ENTRIES",
    "ENTRY",
    "PROBE",
    "RECEIPT",
    "ROUTED_OPS",
    "Groups",
    "Link",
    "Members",
    "Peers",
    "Probe",
    "React",
    "Receipt",
    "RoutedOp",
    "RoutedRequest",
    "Self",
    "Send",
    "Sticker",
    "Typing",
    "UnknownOpError",
    "User",
    "parse_request",
]


class RoutedOp(BaseModel):
    """One request for the holder; subclasses name their ``op``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sends: ClassVar[bool] = False
    """True: the op acts on Zalo (no answer in time: it may have been done)."""


class Send(RoutedOp):
    sends: ClassVar[bool] = True
    op: Literal["send"] = "send"
    target: str
    reply: ReplyPayload
    answering: InboundMessage | None = None
    """The message the reply answers, as the asking node prepared it (its quote)."""


class Link(RoutedOp):
    sends: ClassVar[bool] = True
    op: Literal["link"] = "link"
    target: str
    url: str
    caption: str


class Sticker(RoutedOp):
    sends: ClassVar[bool] = True
    op: Literal["sticker"] = "sticker"
    target: str
    sticker: str


class React(RoutedOp):
    sends: ClassVar[bool] = True
    op: Literal["react"] = "react"
    target: str
    message_id: str
    reaction: str


class Typing(RoutedOp):
    sends: ClassVar[bool] = True
    op: Literal["typing"] = "typing"
    target: str


class Receipt(RoutedOp):
    """Delivered + seen for a message: queued by the holder (a courtesy, never a delivery)."""

    op: Literal["receipt"] = "receipt"
    message: InboundMessage


class Self(RoutedOp):
    op: Literal["directory_self"] = "directory_self"


class Peers(RoutedOp):
    op: Literal["directory_peers"] = "directory_peers"
    query: str | None = None
    limit: int | None = None


class Groups(RoutedOp):
    op: Literal["directory_groups"] = "directory_groups"
    query: str | None = None
    limit: int | None = None


class User(RoutedOp):
    op: Literal["directory_user"] = "directory_user"
    user_id: str


class Members(RoutedOp):
    op: Literal["directory_group_members"] = "directory_group_members"
    group_id: str


class Probe(RoutedOp):
    op: Literal["probe"] = "probe"


_OPS = (Send, Link, Sticker, React, Typing, Receipt, Self, Peers, Groups, User, Members, Probe)
RoutedRequest = Annotated[
    Send
    | Link
    | Sticker
    | React
    | Typing
    | Receipt
    | Self
    | Peers
    | Groups
    | User
    | Members
    | Probe,
    Field(discriminator="op"),
]
_REQUEST: TypeAdapter[RoutedRequest] = TypeAdapter(RoutedRequest)

ROUTED_OPS: tuple[str, ...] = tuple(str(m.model_fields["op"].default) for m in _OPS)
"""Every op a holder answers (the wire tags of :data:`RoutedRequest`)."""

RECEIPT: TypeAdapter[DeliveryReceipt] = TypeAdapter(DeliveryReceipt)
ENTRY: TypeAdapter[DirectoryEntry] = TypeAdapter(DirectoryEntry)
ENTRIES: TypeAdapter[Sequence[DirectoryEntry]] = TypeAdapter(Sequence[DirectoryEntry])
PROBE: TypeAdapter[ProbeResult] = TypeAdapter(ProbeResult)


class UnknownOpError(ValueError):
    """A routed request that is not one of :data:`ROUTED_OPS`, or not well formed."""


def parse_request(data: bytes) -> RoutedRequest:
    """The request in ``data``.

    Raises:
        UnknownOpError: Not JSON, an unknown op, or fields the op does not take.
    """
    try:
        raw: Any = json.loads(data)
    except ValueError:
        raise UnknownOpError("a routed request is not JSON") from None
    op = raw.get("op") if isinstance(raw, dict) else None
    if op not in ROUTED_OPS:
        known = ", ".join(ROUTED_OPS)
        raise UnknownOpError(f"unknown routed op {op!r} (a node answers: {known})")
    try:
        return _REQUEST.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"][1:]) or "request"
        raise UnknownOpError(
            f"a routed {op} request is malformed: {where}: {first['msg']}"
        ) from None
