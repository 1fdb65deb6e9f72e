"""Simulated accounts, groups, login devices and the record of everything clients sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["FakeAccount", "FakeGroup", "QrSession", "SentRecord", "ThreadKind"]

ThreadKind = Literal["user", "group"]


@dataclass
class FakeAccount:
    """A simulated Zalo user; it can log in (QR or cookies) or be scripted by the test."""

    uid: str
    name: str
    phone: str | None = None
    avatar: str = ""
    friends: set[str] = field(default_factory=set)
    friend_requests: set[str] = field(default_factory=set)
    """Uids whose friend request to this account waits for an answer."""

    def profile(self) -> dict[str, Any]:
        """The ``User`` object shape of friend lists and ``me-v2``."""
        return {
            "userId": self.uid,
            "username": "",
            "displayName": self.name,
            "zaloName": self.name,
            "avatar": self.avatar,
            "bgavatar": "",
            "cover": "",
            "gender": 0,
            "dob": 0,
            "sdob": "",
            "status": "",
            "phoneNumber": self.phone or "",
            "isFr": 1,
            "isBlocked": 0,
            "lastActionTime": 0,
            "lastUpdateTime": 0,
            "isActive": 1,
            "key": 0,
            "type": 1,
            "isActivePC": 0,
            "isActiveWeb": 1,
            "isValid": 1,
            "userKey": "",
            "accountStatus": 0,
            "oaInfo": None,
            "user_mode": 0,
            "globalId": "G" + self.uid,
            "bizPkg": {"label": None, "pkgId": 0},
            "createdTs": 0,
            "oa_status": None,
        }


@dataclass
class FakeGroup:
    """A simulated group chat."""

    group_id: str
    name: str
    members: list[str]
    admins: list[str] = field(default_factory=list)
    creator: str = ""
    version: str = "1"


@dataclass(frozen=True)
class SentRecord:
    """One call a logged-in client made that changes the world (send, react, ack, ...).

    ``kind`` is one of ``text``, ``photo``, ``file``, ``link``, ``reaction``, ``typing``,
    ``delivered``, ``seen``, ``undo``. ``params`` holds the decrypted request parameters
    (plus ``reaction``: the parsed reaction body, and ``msgInfos`` parsed, for receipts).
    """

    kind: str
    endpoint: str
    sender: str
    thread_id: str
    thread_type: ThreadKind
    text: str | None = None
    msg_id: str | None = None
    cli_msg_id: str | None = None
    mentions: tuple[dict[str, Any], ...] = ()
    params: dict[str, Any] = field(default_factory=dict, compare=False)


QrState = Literal["generated", "scanned", "confirmed", "declined", "expired"]


@dataclass
class QrSession:
    """One generated login QR code and where the simulated phone is with it."""

    code: str
    state: QrState = "generated"
    account: FakeAccount | None = None
    changed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    used: bool = False

    def move(self, state: QrState) -> None:
        """Change state and wake the long-polls waiting on it."""
        self.state = state
        self.changed.set()
