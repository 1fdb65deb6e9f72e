"""What ``FakeZaloOA`` remembers: grants, users, messages, uploads; and Zalo's error envelope."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "FREE_WINDOW",
    "MAX_WINDOW",
    "ApiCall",
    "Code",
    "Delivery",
    "Grant",
    "OAUser",
    "RefusalError",
    "SentMessage",
    "SignatureVariant",
    "Upload",
    "envelope",
    "new_id",
]

FREE_WINDOW = 48 * 3600.0
"""Replies within this many seconds of the user's last interaction are free."""
MAX_WINDOW = 7 * 24 * 3600.0
"""After this many seconds without an interaction, consultation messages are refused (-230)."""


def new_id(length: int = 20) -> str:
    """A Zalo-looking hex message/attachment id."""
    return secrets.token_hex(length // 2)


def envelope(error: int, message: str, data: Any = None) -> bytes:
    """Zalo's OpenAPI body: ``{"error", "message"[, "data"]}``."""
    body: dict[str, Any] = {"error": error, "message": message}
    if data is not None:
        body["data"] = data
    return json.dumps(body, ensure_ascii=False).encode()


class RefusalError(Exception):
    """A request the fake refuses the way Zalo would: an ``error`` code, usually with HTTP 200."""

    def __init__(self, error: int, message: str, *, status: int = 200) -> None:
        super().__init__(message)
        self.error = error
        self.message = message
        self.status = status


@dataclass(slots=True)
class Grant:
    """The tokens the fake issued to the OA; refresh tokens are single-use."""

    access: dict[str, float] = field(default_factory=dict)
    """Access token → expiry (epoch seconds)."""
    refresh: set[str] = field(default_factory=set)
    """Refresh tokens not yet used."""
    burned: set[str] = field(default_factory=set)
    """Refresh tokens already used once."""
    paired: dict[str, str] = field(default_factory=dict)
    """Refresh token → the access token issued with it."""


@dataclass(slots=True)
class OAUser:
    """A Zalo user the OA knows (a follower or someone who wrote)."""

    user_id: str
    name: str
    follower: bool = True
    last_interaction: float | None = None
    """Epoch seconds of the last message, follow or button tap; ``None``: never."""
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class SentMessage:
    """One message the OA sent through ``/v3.0/oa/message/cs``."""

    message_id: str
    user_id: str
    text: str | None
    quote: str | None
    attachment: dict[str, Any] | None
    billed: bool
    """Sent 48 h to 7 days after the user's last interaction."""
    at: float


@dataclass(frozen=True, slots=True)
class Upload:
    """One uploaded image, gif or file."""

    kind: str
    filename: str
    size: int
    at: float


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the fake received (``headers`` lower-case; the body as sent)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


SignatureVariant = Literal["mac=app_id", "bare=app_id", "mac=oa_id"]
"""How deliveries are signed: the ``mac=`` prefix or none; ``app_id`` or ``oa_id`` first."""


@dataclass(frozen=True, slots=True)
class Code:
    """An authorisation code handed to the callback (single use, 10 minutes)."""

    redirect_uri: str
    challenge: str | None
    issued: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event as POSTed (the exact body bytes and the signature header)."""

    body: bytes
    signature: str
    status: int | None
    """The webhook's answer (``None``: no answer)."""
