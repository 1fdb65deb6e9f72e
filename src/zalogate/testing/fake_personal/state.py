"""The fake's shared state: devices, listeners, calls, faults, and the world helpers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConnectionClosed

from zalogate.testing.fake_personal import checks, wire
from zalogate.testing.fake_personal.model import (
    FakeAccount,
    FakeGroup,
    SentRecord,
    ThreadKind,
)
from zalogate.testing.fake_personal.qr import QrControl
from zalogate.testing.http_server import HttpServer

# Error codes. 600 (zpw_sek invalid), 216 (not found), 8 (long-poll again) and -13 (QR
# declined) are seen in the wild; the others are the fake's own choice (real values unknown).
ERR_SESSION = checks.ERR_SESSION
ERR_NOT_FOUND = 216
ERR_BAD_PARAMS = checks.ERR_BAD_PARAMS
ERR_LOGIN = 1
ERR_QR_EXPIRED = -1001

COOKIE_SESSION = "zpw_sek"

Handler = Callable[["Call"], Awaitable[Any]]


class ApiError(Exception):
    """A session call answered with an error in the inner (encrypted) envelope."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Device:
    """A logged-in browser: one ``zpw_sek`` cookie, its imei and the session keys issued."""

    sek: str
    uid: str
    imei: str | None = None
    user_agent: str | None = None  # of its getLoginInfo; every session call must repeat it
    keys: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    """Its logins and session calls (paths), in order: which client asked what."""


@dataclass
class Listener:
    """One open websocket of a device, with its event key."""

    conn: ServerConnection
    uid: str
    device: Device
    key: bytes
    tamper_next: bool = False


@dataclass
class Call:
    """One decrypted session call, as its handler sees it."""

    path: str
    account: FakeAccount
    device: Device
    key: str
    params: dict[str, Any]
    files: list[tuple[str, bytes]]


@dataclass
class Fault:
    """An injected delay or error for the calls whose path ends with a suffix."""

    delay: float = 0.0
    error: tuple[int, str, bool] | None = None  # (code, message, outer)
    times: int | None = None
    drop_after: bool = False
    """Carry the call out, then close the connection without the answer."""


@dataclass
class Upload:
    """The chunks of one upload received so far."""

    kind: str
    total: int
    name: str
    chunks: dict[int, bytes] = field(default_factory=dict)
    file_id: str = ""


class FakeState:
    """The fake's world and plumbing shared by its parts (each part is a mixin over this)."""

    host: str
    long_poll_s: float
    ping_interval_ms: int
    event_encrypt: int
    single_listener: bool
    strict_user_agent: bool
    file_done_delay_s: float
    accounts: dict[str, FakeAccount]
    groups: dict[str, FakeGroup]
    sent: list[SentRecord]
    pings: dict[str, int]
    ws_refusals: list[str]
    """Websocket requests zca-js would not send (``checks.ws_refusal``), never answered."""
    history_requests: list[tuple[str, int, str | None]]
    """``(uid, cmd, lastId)`` of each 510/511 history request answered."""
    history_page_size: int
    """Messages per history answer (Zalo's real page size is not known; 50 here)."""
    qr: QrControl
    messages: dict[str, dict[str, Any]]
    media: dict[str, bytes]
    http_port: int
    ws_port: int
    _bg_thread: threading.Thread | None
    _loop: asyncio.AbstractEventLoop | None
    _devices: dict[str, Device]
    _listeners: list[Listener]
    _faults: dict[str, Fault]
    _uploads: dict[tuple[str, str], Upload]
    _sent_waiters: set[asyncio.Future[None]]
    _sent_callbacks: list[Callable[[SentRecord], None]]
    _listeners_changed: asyncio.Condition
    _ids: itertools.count[int]
    _action_ids: itertools.count[int]
    _http: HttpServer | None
    _ws: Server | None
    _tasks: set[asyncio.Task[Any]]
    _routes: dict[str, Handler]

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the HTTP side (every login and service host)."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port/`` of the listener endpoint (the first ``zpw_ws`` entry)."""
        return f"ws://{self.host}:{self.ws_port}/ws"

    def add_account(
        self,
        uid: str,
        name: str,
        *,
        phone: str | None = None,
        avatar: str = "",
        friends: tuple[str, ...] = (),
    ) -> FakeAccount:
        """Register a simulated user; ``friends`` are made mutual friends."""
        account = FakeAccount(
            uid, name, phone=phone, avatar=avatar or f"https://avatar.local/{uid}"
        )
        self.accounts[uid] = account
        for other in friends:
            self.befriend(uid, other)
        return account

    def befriend(self, a: str, b: str) -> None:
        """Make two accounts friends of each other (creating unknown ones)."""
        self._account_or_new(a).friends.add(b)
        self._account_or_new(b).friends.add(a)

    def add_group(
        self,
        group_id: str,
        name: str,
        members: list[str] | tuple[str, ...],
        *,
        admins: tuple[str, ...] = (),
    ) -> FakeGroup:
        """Create a group; unknown member uids become accounts named after their uid."""
        for uid in members:
            self._account_or_new(uid)
        group = FakeGroup(
            group_id,
            name,
            list(members),
            admins=list(admins),
            creator=members[0] if members else "",
        )
        self.groups[group_id] = group
        return group

    def _uid(self, account: FakeAccount | str) -> str:
        return account if isinstance(account, str) else account.uid

    def _account_or_new(self, uid: str) -> FakeAccount:
        account = self.accounts.get(uid)
        if account is None:
            account = self.add_account(uid, f"User {uid}")
        return account

    def _new_device(self, account: FakeAccount) -> Device:
        device = Device(sek=secrets.token_hex(24), uid=account.uid)
        self._devices[device.sek] = device
        return device

    def _session_cookies(self, device: Device) -> dict[str, str]:
        return {COOKIE_SESSION: device.sek, "zpsid": "zps" + device.sek[:16]}

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_later(self, conn: ServerConnection, code: int, reason: str) -> None:
        await asyncio.sleep(0.2)
        await conn.close(code, reason)

    def _listeners_of(self, uid: str) -> list[Listener]:
        return [lst for lst in self._listeners if lst.uid == uid]

    def _store_media(self, data: bytes, suffix: str) -> str:
        media_id = hashlib.sha256(data).hexdigest()[:24] + suffix
        self.media[media_id] = data
        return f"{self.base_url}/media/{media_id}"

    def _message(
        self,
        cmd: int,
        sender: str,
        msg_type: str,
        content: Any,
        cli_msg_id: str | None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        now = int(time.time() * 1000)
        msg: dict[str, Any] = {
            "actionId": str(next(self._action_ids)),
            "msgId": str(next(self._ids)),
            "cliMsgId": cli_msg_id or str(now),
            "msgType": msg_type,
            "uidFrom": sender,
            "idTo": "",
            "dName": self._account_or_new(sender).name,
            "ts": str(now),
            "status": 1,
            "content": content,
            "notify": "1",
            "ttl": 0,
            "userId": "0",
            "uin": "0",
            "topOut": "0",
            "topOutTimeOut": "0",
            "topOutImprTimeOut": "0",
            "paramsExt": {"countUnread": 1, "containType": 0, "platformType": 1},
            "cmd": cmd,
            "st": 3,
            "at": 5,
            "realMsgId": "0",
        }
        msg.update(extra or {})
        return msg

    async def _push_control(self, uid: str, act_type: str, act: str, data: Any) -> None:
        """A 601 control (``fr``, ``group``…) to every listener of ``uid``."""
        control = {"content": {"act_type": act_type, "act": act, "data": data}}
        for lst in self._listeners_of(uid):
            await self._send_event(lst, 601, 0, {"data": {"controls": [control]}})

    async def _send_event(self, lst: Listener, cmd: int, sub_cmd: int, obj: Any) -> None:
        envelope = wire.encode_event(obj, encrypt=self.event_encrypt, key=lst.key)
        if lst.tamper_next and self.event_encrypt in (2, 3):
            lst.tamper_next = False
            raw = bytearray(base64.b64decode(wire.unquote_data(envelope["data"])))
            raw[-1] ^= 0xFF
            envelope["data"] = wire.quote_data(base64.b64encode(bytes(raw)).decode())
        with contextlib.suppress(ConnectionClosed):
            await lst.conn.send(wire.encode_event_frame(cmd, sub_cmd, envelope))

    async def _record(self, record: SentRecord) -> None:
        self.sent.append(record)
        for callback in tuple(self._sent_callbacks):
            callback(record)
        # Wake the wait_for_sent calls (they re-check); nothing to do without one.
        if self._sent_waiters:
            for waiter in self._sent_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._sent_waiters.clear()

    def _fault_for(self, path: str) -> Fault | None:
        trimmed = path.strip("/")
        for suffix, fault in self._faults.items():
            if trimmed.endswith(suffix):
                return fault
        return None

    def _take_drop_after(self, path: str) -> bool:
        """Whether this call's answer is to be dropped (a ``drop_after_next`` fault)."""
        fault = self._fault_for(path)
        if fault is None or not fault.drop_after:
            return False
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._faults = {k: v for k, v in self._faults.items() if v is not fault}
        return True

    def _fault_error(self, path: str) -> tuple[int, str, bool] | None:
        fault = self._fault_for(path)
        if fault is None or fault.error is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._faults = {k: v for k, v in self._faults.items() if v is not fault}
        return fault.error

    @staticmethod
    def _is_group(call: Call) -> bool:
        return call.path.startswith("/api/group/")

    def _thread(self, call: Call) -> tuple[str, ThreadKind]:
        if self._is_group(call):
            gid = str(call.params.get("grid") or "")
            if gid not in self.groups:
                raise ApiError(ERR_NOT_FOUND, "group not found")
            if call.account.uid not in self.groups[gid].members:
                raise ApiError(ERR_NOT_FOUND, "not a member of this group")
            return gid, "group"
        to = str(call.params.get("toid") or call.params.get("toId") or "")
        if not to:
            raise ApiError(ERR_BAD_PARAMS, "missing toid")
        return to, "user"

    @staticmethod
    def _mentions(call: Call) -> list[dict[str, Any]]:
        raw = call.params.get("mentionInfo")
        if not raw:
            return []
        parsed = json.loads(raw) if isinstance(raw, str) else raw
        return [dict(m) for m in parsed] if isinstance(parsed, list) else []


def attachment(
    title: Any,
    href: str,
    thumb: Any,
    params: Mapping[str, Any],
    *,
    description: Any = "",
    action: str = "",
) -> dict[str, Any]:
    """The content object of a photo, file or link message (``params`` is JSON in a string)."""
    return {
        "title": title,
        "description": description,
        "href": href,
        "thumb": thumb,
        "childnumber": 0,
        "action": action,
        "params": wire.dumps(params),
        "type": "",
    }
