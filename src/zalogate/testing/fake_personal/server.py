"""``FakeZaloPersonal``: a local simulator of Zalo's personal-account web protocol.

One HTTP server (:mod:`zalogate.testing.http_server`: session calls answered directly, login
pages, QR long-polls and media by Starlette) answers every host the web client talks to
(``id.zalo.me``, ``wpa.chat.zalo.me``, ``jr.chat.zalo.me`` and the service-map hosts), routed
by path only. A second server (the ``websockets`` library, so that faults such as an abnormal
1006 close can be produced) is the listener endpoint named in ``zpw_ws``.

Two ways to reach it:

* Directly (our Python client): point the login hosts at :attr:`FakeZaloPersonal.base_url`; the
  login answer then names ``base_url`` in the service map, cookies are host-only.
* Through a rewriting fetch (zca-js ``polyfill``): send ``https://<host>.zalo.me/<path>`` to
  ``base_url + path`` with the original host in the ``X-Zalo-Host`` header. The fake then
  behaves like the real domains: ``*.zalo.me`` service-map hosts and ``Domain=`` cookies, so
  the client's cookie jar matches them exactly as it would in production.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.parser
import email.policy
import functools
import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any, TypeVar
from urllib.parse import parse_qs, unquote

import segno
from starlette.applications import Starlette
from starlette.requests import Request, cookie_parser
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request as WsRequest
from websockets.http11 import Response as WsResponse

from zalogate.testing.fake_personal import checks, wire
from zalogate.testing.fake_personal.model import (
    FakeAccount,
    FakeGroup,
    QrSession,
    SentRecord,
    ThreadKind,
)
from zalogate.testing.http_server import HttpRequest, HttpServer

__all__ = [
    "ERR_BAD_PARAMS",
    "ERR_LOGIN",
    "ERR_NOT_FOUND",
    "ERR_QR_EXPIRED",
    "ERR_SESSION",
    "FakeZaloPersonal",
    "QrControl",
    "ScriptedGroup",
    "ScriptedUser",
]

# Error codes. 600 (zpw_sek invalid), 216 (not found), 8 (long-poll again) and -13 (QR
# declined) are seen in the wild; the others are the fake's own choice (real values unknown).
ERR_SESSION = checks.ERR_SESSION
ERR_NOT_FOUND = 216
ERR_BAD_PARAMS = checks.ERR_BAD_PARAMS
ERR_LOGIN = 1
ERR_QR_EXPIRED = -1001
QR_WAIT_AGAIN = 8
QR_DECLINED = -13

LOGIN_PAGE_VERSION = "2.44.8"
ZALO_SERVICE_HOSTS: dict[str, str] = {
    "chat": "https://tt-chat1-wpa.chat.zalo.me",
    "group": "https://tt-group-wpa.chat.zalo.me",
    "file": "https://tt-files-wpa.chat.zalo.me",
    "profile": "https://tt-profile-wpa.chat.zalo.me",
    "friend": "https://tt-friend-wpa.chat.zalo.me",
    "group_poll": "https://tt-group-wpa.chat.zalo.me",
    "reaction": "https://reaction.chat.zalo.me",
    "conversation": "https://tt-convers-wpa.chat.zalo.me",
    "sticker": "https://sticker-wpa.chat.zalo.me",
    "label": "https://label-wpa.chat.zalo.me",
    "alias": "https://alias-wpa.chat.zalo.me",
    "boards": "https://boards-wpa.chat.zalo.me",
    "group_board": "https://groupboard-wpa.chat.zalo.me",
    "friend_board": "https://friend-board-wpa.chat.zalo.me",
    "zcloud": "https://zcloud-wpa.chat.zalo.me",
    "other_contact": "https://tt-profile-wpa.chat.zalo.me",
    "auto_reply": "https://autoreply-wpa.chat.zalo.me",
    "quick_message": "https://quick-message-wpa.chat.zalo.me",
    "catalog": "https://catalog-wpa.chat.zalo.me",
    "voice_call": "https://voicecall-wpa.chat.zalo.me",
    "todoUrl": "https://todo-wpa.chat.zalo.me",
    "recent_search": "https://recent-search-wpa.chat.zalo.me",
    "zimsg": "https://zimsg-wpa.chat.zalo.me",
    "aext": "https://aext-wpa.chat.zalo.me",
    "media_store": "https://media-store-wpa.chat.zalo.me",
    "media_store_send2me": "https://media-store-wpa.chat.zalo.me",
    "zcloud_up_file": "https://tt-files-wpa.chat.zalo.me",
    "chat_e2e": "https://tt-chat1-wpa.chat.zalo.me",
    "group_e2e": "https://tt-group-wpa.chat.zalo.me",
    "workspace": "https://workspace-wpa.chat.zalo.me",
    "sp_contact": "https://tt-profile-wpa.chat.zalo.me",
    "push_act": "https://push-act-wpa.chat.zalo.me",
    "zfamily": "https://zfamily-wpa.chat.zalo.me",
    "group_cloud_message": "https://tt-group-wpa.chat.zalo.me",
    "sync_action": "https://sync-action-wpa.chat.zalo.me",
    "friendLan": "https://tt-friend-wpa.chat.zalo.me",
    "fallback_LP": "https://tt-chat1-wpa.chat.zalo.me",
    "up_file": "https://tt-files-wpa.chat.zalo.me",
    "zavi": "https://zavi-wpa.chat.zalo.me",
    "consent": "https://consent-wpa.chat.zalo.me",
}
_COOKIE_SESSION = "zpw_sek"
_COOKIE_QR = "zlogin_qr"

Handler = Callable[["_Call"], Awaitable[Any]]
T = TypeVar("T")


class _ApiError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Device:
    """A logged-in browser: one ``zpw_sek`` cookie, its imei and the session keys issued."""

    sek: str
    uid: str
    imei: str | None = None
    user_agent: str | None = None
    keys: list[str] = field(default_factory=list)


@dataclass
class _Listener:
    conn: ServerConnection
    uid: str
    device: _Device
    key: bytes
    tamper_next: bool = False


@dataclass
class _Call:
    path: str
    account: FakeAccount
    device: _Device
    key: str
    params: dict[str, Any]
    files: list[tuple[str, bytes]]


@dataclass
class _Fault:
    delay: float = 0.0
    error: tuple[int, str, bool] | None = None  # (code, message, outer)
    times: int | None = None


@dataclass
class _Upload:
    kind: str
    total: int
    name: str
    chunks: dict[int, bytes] = field(default_factory=dict)
    file_id: str = ""


class QrControl:
    """Plays the phone in QR login: scan, confirm, decline, or let the code expire."""

    def __init__(self) -> None:
        self.sessions: list[QrSession] = []
        self.auto_approve: str | None = None
        self._accounts: Callable[[str], FakeAccount] = lambda uid: FakeAccount(uid, uid)
        self._generated = asyncio.Condition()

    async def wait_generated(self, timeout_s: float = 10.0) -> QrSession:
        """Wait until a client asks for a QR code that nobody acted on yet; return it."""

        def pending() -> QrSession | None:
            return next((s for s in reversed(self.sessions) if s.state == "generated"), None)

        async with asyncio.timeout(timeout_s), self._generated:
            await self._generated.wait_for(lambda: pending() is not None)
        found = pending()
        assert found is not None
        return found

    def _current(self, states: tuple[str, ...]) -> QrSession:
        for sess in reversed(self.sessions):
            if sess.state in states:
                return sess
        raise LookupError(f"no QR code in state {'/'.join(states)}")

    def scan(self, account: FakeAccount | str) -> QrSession:
        """The phone of ``account`` scans the newest QR code."""
        sess = self._current(("generated",))
        sess.account = self._accounts(account) if isinstance(account, str) else account
        sess.move("scanned")
        return sess

    def confirm(self) -> QrSession:
        """The phone confirms the login of the scanned QR code."""
        sess = self._current(("scanned",))
        sess.move("confirmed")
        return sess

    def decline(self) -> QrSession:
        """The phone declines the login (the client sees error_code -13)."""
        sess = self._current(("scanned",))
        sess.move("declined")
        return sess

    def expire(self) -> QrSession:
        """The newest pending QR code expires server-side."""
        sess = self._current(("generated", "scanned"))
        sess.move("expired")
        return sess

    async def _add(self, sess: QrSession) -> None:
        self.sessions.append(sess)
        if self.auto_approve is not None:
            sess.account = self._accounts(self.auto_approve)
            sess.move("confirmed")
        async with self._generated:
            self._generated.notify_all()


class ScriptedUser:
    """A simulated user driven by the test (never logs in)."""

    def __init__(self, fake: FakeZaloPersonal, account: FakeAccount) -> None:
        self._fake = fake
        self.account = account

    async def says_to(
        self, account: FakeAccount | str, text: str, *, quote: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send a direct text message to ``account``; returns the message object sent."""
        to = self._fake._uid(account)
        extra = {"quote": quote} if quote else {}
        return await self._fake._deliver_dm(
            self.account.uid, to, "webchat", text, cli_msg_id=None, origin=None, extra=extra
        )

    async def sends_photo_to(
        self, account: FakeAccount | str, data: bytes, *, caption: str = ""
    ) -> dict[str, Any]:
        """Send a photo message (content object with ``href``/``thumb``) to ``account``."""
        url = self._fake._store_media(data, ".jpg")
        content = _attachment(caption, url, url, {"width": 1, "height": 1})
        return await self._fake._deliver_dm(
            self.account.uid, self._fake._uid(account), "chat.photo", content, None, None
        )

    async def types_to(self, account: FakeAccount | str) -> None:
        """Show "typing..." to ``account`` (a 602 event)."""
        to = self._fake._uid(account)
        now = int(time.time() * 1000)
        data = f'"uid":"{self.account.uid}","ts":"{now}","isPC":0'
        action = {"act_type": "typing", "act": "typing", "data": data}
        for lst in self._fake._listeners_of(to):
            await self._fake._send_event(lst, 602, 0, {"data": {"actions": [action]}})

    async def sees(self, message: Mapping[str, Any]) -> None:
        """Mark a message (sent by someone else) as seen; its author gets 502/522."""
        is_group = message.get("cmd") == 521
        thread = str(message.get("idTo")) if is_group else str(message.get("uidFrom"))
        entry = {"gmi": message.get("msgId")}
        await self._fake._push_receipts(
            self.account.uid, "group" if is_group else "user", thread, [entry], True
        )

    async def reacts_to(
        self, message: Mapping[str, Any], icon: str = "/-heart", r_type: int = 5
    ) -> None:
        """React to a message that was delivered to this user."""
        await self._fake._deliver_reaction(self.account.uid, message, icon, r_type)


class ScriptedGroup:
    """A group seen from the test; ``user(uid)`` gives a member that can speak in it."""

    def __init__(self, fake: FakeZaloPersonal, group: FakeGroup) -> None:
        self._fake = fake
        self.group = group

    def user(self, uid: str) -> ScriptedGroupMember:
        """A scripted member of this group (added to the members if missing)."""
        account = self._fake._account_or_new(uid)
        if uid not in self.group.members:
            self.group.members.append(uid)
        return ScriptedGroupMember(self._fake, self.group, account)


class ScriptedGroupMember:
    """A scripted user speaking in one group."""

    def __init__(self, fake: FakeZaloPersonal, group: FakeGroup, account: FakeAccount) -> None:
        self._fake = fake
        self.group = group
        self.account = account

    async def says(
        self, text: str, *, mentions: list[str | dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """Say ``text`` in the group; ``mentions`` are uids (located by ``@Name``) or dicts."""
        resolved = [self._fake._mention_for(text, m) for m in mentions or []]
        return await self._fake._deliver_group(
            self.account.uid, self.group.group_id, "webchat", text, None, None, resolved
        )


class FakeZaloPersonal:
    """Local simulator of the Zalo personal-account web protocol (HTTP + websocket).

    Args:
        host: interface to bind (loopback by default).
        long_poll_s: how long QR long-polls wait before answering ``error_code 8``.
        ping_interval_ms: ``settings.features.socket.ping_interval`` sent to clients.
        event_encrypt: envelope ``encrypt`` mode of pushed events (0..3; 2 = GCM + gzip).
        single_listener: a new websocket of an account pushes 3000 to the older ones.
        strict_user_agent: reject cookie logins whose imei does not end with md5(User-Agent).
        file_done_delay_s: delay between an async-file upload answer and its ``file_done``.
        auto_approve_qr: uid whose phone scans and confirms every QR code at once.
        first_message_id: the first message id handed out (then counting up); give each run
            its own start (e.g. from the clock) when message ids must not repeat across runs
            that share a gateway state dir.

    Use ``async with FakeZaloPersonal() as fake`` in async code, or
    :meth:`start_in_thread` / :meth:`run` / :meth:`stop_thread` from synchronous code.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        long_poll_s: float = 1.0,
        ping_interval_ms: int = 20_000,
        event_encrypt: int = 2,
        single_listener: bool = True,
        strict_user_agent: bool = True,
        file_done_delay_s: float = 0.05,
        auto_approve_qr: str | None = None,
        first_message_id: int = 7_000_000_000_001,
    ) -> None:
        self.host = host
        self.long_poll_s = long_poll_s
        self.ping_interval_ms = ping_interval_ms
        self.event_encrypt = event_encrypt
        self.single_listener = single_listener
        self.strict_user_agent = strict_user_agent
        self.file_done_delay_s = file_done_delay_s
        self.accounts: dict[str, FakeAccount] = {}
        self.groups: dict[str, FakeGroup] = {}
        self.sent: list[SentRecord] = []
        self.pings: dict[str, int] = {}
        self.qr = QrControl()
        self.qr._accounts = self._account_or_new
        self.qr.auto_approve = auto_approve_qr
        self._bg_thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.messages: dict[str, dict[str, Any]] = {}
        self.media: dict[str, bytes] = {}
        self._devices: dict[str, _Device] = {}
        self._listeners: list[_Listener] = []
        self._faults: dict[str, _Fault] = {}
        self._uploads: dict[tuple[str, str], _Upload] = {}
        self._sent_waiters: set[asyncio.Future[None]] = set()
        self._sent_callbacks: list[Callable[[SentRecord], None]] = []
        self._listeners_changed = asyncio.Condition()
        self._ids = itertools.count(first_message_id)
        self._action_ids = itertools.count(1)
        self._http: HttpServer | None = None
        self._ws: Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.http_port = 0
        self.ws_port = 0
        self._routes: dict[str, Handler] = self._session_routes()
        self._plain_methods = {path: method for path, _, method in self._plain_routes()}
        self._starlette = self._app()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the HTTP side (every login and service host)."""
        return f"http://{self.host}:{self.http_port}"

    @property
    def ws_url(self) -> str:
        """``ws://host:port/`` of the listener endpoint (the first ``zpw_ws`` entry)."""
        return f"ws://{self.host}:{self.ws_port}/ws"

    async def start(self) -> None:
        """Bind both servers on free ports and serve in the background."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self.http_port = sock.getsockname()[1]
        self._http = HttpServer(
            self._http_request,
            name="fake Zalo personal",
            log=logging.getLogger("zalogate.testing.fake_personal"),
        )
        try:
            await self._http.start(sock)
        except BaseException:
            sock.close()
            self._http = None
            raise
        self._ws = await serve(
            self._ws_handler,
            self.host,
            0,
            process_request=self._ws_accept,
            max_size=None,
            ping_interval=None,
        )
        self.ws_port = next(iter(self._ws.sockets)).getsockname()[1]

    async def stop(self) -> None:
        """Close every connection and both servers."""
        for task in list(self._tasks):
            task.cancel()
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
            self._ws = None
        if self._http is not None:
            await self._http.stop()
            self._http = None

    def start_in_thread(self, timeout_s: float = 10.0) -> None:
        """Run the fake on its own event loop in a daemon thread (for synchronous callers)."""
        started = threading.Event()
        failure: list[BaseException] = []

        def runner() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:  # reported to the starting thread
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
            loop.close()

        self._bg_thread = threading.Thread(target=runner, name="fake-zalo-personal", daemon=True)
        self._bg_thread.start()
        if not started.wait(timeout_s):
            raise TimeoutError("fake did not start in time")
        if failure:
            raise failure[0]

    def run(self, action: Awaitable[T] | Callable[[], T], timeout_s: float = 30.0) -> T:
        """From another thread: run a coroutine or a plain callable on the fake's loop."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("start_in_thread() first")

        async def call() -> T:
            if callable(action):
                return action()
            return await action

        return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout_s)

    def stop_thread(self, timeout_s: float = 10.0) -> None:
        """Stop a fake started with :meth:`start_in_thread`."""
        if self._loop is not None and self._bg_thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._bg_thread.join(timeout_s)
            self._bg_thread = None
            self._loop = None

    async def __aenter__(self) -> FakeZaloPersonal:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ world setup

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

    def user(self, uid: str) -> ScriptedUser:
        """A scripted user (created on first use)."""
        return ScriptedUser(self, self._account_or_new(uid))

    def group(self, group_id: str) -> ScriptedGroup:
        """A scripted view of an existing group."""
        return ScriptedGroup(self, self.groups[group_id])

    def credentials(
        self,
        uid: str,
        *,
        user_agent: str = "Mozilla/5.0 (X11; Linux x86_64) zalogate-fake",
        domain: str = "zalo.me",
    ) -> dict[str, Any]:
        """Saved credentials (as after a QR login) for ``uid``: ``{imei, cookie, userAgent}``.

        ``domain`` is the cookie domain: ``zalo.me`` for clients reaching the fake through a
        rewriting fetch, the fake's host (``127.0.0.1``) for clients that call it directly.
        """
        device = self._new_device(self._account_or_new(uid))
        imei = f"{uuid.uuid4()}-{wire.md5_hex(user_agent)}"
        return {
            "imei": imei,
            "userAgent": user_agent,
            "cookie": [
                {"key": name, "value": value, "domain": domain, "path": "/", "hostOnly": False}
                for name, value in self._session_cookies(device).items()
            ],
        }

    # ------------------------------------------------------------------ observing

    async def wait_for_sent(
        self,
        predicate: Callable[[SentRecord], bool] | None = None,
        *,
        kind: str | None = None,
        thread_id: str | None = None,
        text: str | None = None,
        count: int = 1,
        timeout_s: float = 10.0,
    ) -> SentRecord:
        """Wait until ``count`` matching records exist; return the last of them."""

        def matches() -> list[SentRecord]:
            return [
                r
                for r in self.sent
                if (kind is None or r.kind == kind)
                and (thread_id is None or r.thread_id == thread_id)
                and (text is None or r.text == text)
                and (predicate is None or predicate(r))
            ]

        async with asyncio.timeout(timeout_s):
            while len(matches()) < count:
                waiter = asyncio.get_running_loop().create_future()
                self._sent_waiters.add(waiter)
                try:
                    await waiter
                finally:
                    self._sent_waiters.discard(waiter)
        return matches()[count - 1]

    def on_sent(self, callback: Callable[[SentRecord], None]) -> Callable[[], None]:
        """Call ``callback(record)`` for each record added to :attr:`sent` from now on.

        It runs synchronously on the fake's event loop, as the record is added (before the
        client gets its answer), so it must be quick and must not raise. Cheaper than polling
        :attr:`sent` for a load generator. Returns a function that removes the callback.
        """
        self._sent_callbacks.append(callback)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._sent_callbacks.remove(callback)

        return remove

    async def wait_for_listener(self, uid: str, count: int = 1, timeout_s: float = 10.0) -> None:
        """Wait until ``uid`` has ``count`` websocket listeners that received the key."""
        async with asyncio.timeout(timeout_s), self._listeners_changed:
            await self._listeners_changed.wait_for(
                lambda: sum(1 for lst in self._listeners if lst.uid == uid) >= count
            )

    def listener_count(self, uid: str) -> int:
        """Open websocket listeners of ``uid``."""
        return sum(1 for lst in self._listeners if lst.uid == uid)

    # ------------------------------------------------------------------ faults

    def fail(
        self,
        endpoint: str,
        error_code: int,
        error_message: str = "simulated failure",
        *,
        times: int | None = 1,
        outer: bool = False,
    ) -> None:
        """Make calls whose path ends with ``endpoint`` fail with ``error_code``.

        ``outer`` puts the error in the plain outer envelope (else the encrypted inner one);
        ``times=None`` fails until :meth:`clear_faults`.
        """
        self._faults[endpoint.strip("/")] = _Fault(
            error=(error_code, error_message, outer), times=times
        )

    def slow(self, endpoint: str, seconds: float) -> None:
        """Delay answers of calls whose path ends with ``endpoint``."""
        self._faults[endpoint.strip("/")] = _Fault(delay=seconds)

    def clear_faults(self) -> None:
        """Remove every injected endpoint fault."""
        self._faults.clear()

    async def duplicate_connection(self, uid: str) -> None:
        """Tell ``uid``'s listeners another web session opened (frame 3000, then close 3000)."""
        for lst in self._listeners_of(uid):
            with contextlib.suppress(ConnectionClosed):
                await lst.conn.send(wire.encode_frame(3000, 0, {}))
            self._spawn(self._close_later(lst.conn, 3000, "Another connection is opened"))

    async def kick(self, uid: str) -> None:
        """Close ``uid``'s listeners with code 3003 (kick)."""
        for lst in self._listeners_of(uid):
            await lst.conn.close(3003, "kicked")

    async def drop(self, uid: str) -> None:
        """Cut ``uid``'s listeners without a close frame (the client sees 1006)."""
        for lst in self._listeners_of(uid):
            transport = lst.conn.transport
            transport.abort()

    def tamper_next_event(self, uid: str) -> None:
        """Corrupt the GCM tag of the next encrypted event sent to ``uid``."""
        for lst in self._listeners_of(uid):
            lst.tamper_next = True

    async def push_event(self, uid: str, cmd: int, payload: Any, sub_cmd: int = 0) -> None:
        """Push an arbitrary event (``payload`` is the decoded ``.data``) to ``uid``."""
        for lst in self._listeners_of(uid):
            await self._send_event(lst, cmd, sub_cmd, {"data": payload})

    # ------------------------------------------------------------------ internals: world

    def _uid(self, account: FakeAccount | str) -> str:
        return account if isinstance(account, str) else account.uid

    def _account_or_new(self, uid: str) -> FakeAccount:
        account = self.accounts.get(uid)
        if account is None:
            account = self.add_account(uid, f"User {uid}")
        return account

    def _new_device(self, account: FakeAccount) -> _Device:
        device = _Device(sek=secrets.token_hex(24), uid=account.uid)
        self._devices[device.sek] = device
        return device

    def _session_cookies(self, device: _Device) -> dict[str, str]:
        return {_COOKIE_SESSION: device.sek, "zpsid": "zps" + device.sek[:16]}

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_later(self, conn: ServerConnection, code: int, reason: str) -> None:
        await asyncio.sleep(0.2)
        await conn.close(code, reason)

    def _listeners_of(self, uid: str) -> list[_Listener]:
        return [lst for lst in self._listeners if lst.uid == uid]

    def _store_media(self, data: bytes, suffix: str) -> str:
        media_id = hashlib.sha256(data).hexdigest()[:24] + suffix
        self.media[media_id] = data
        return f"{self.base_url}/media/{media_id}"

    def _mention_for(self, text: str, mention: str | dict[str, Any]) -> dict[str, Any]:
        if isinstance(mention, dict):
            return {"type": 0, **mention}
        if mention == "-1":
            at = text.find("@")
            word = text[at:].split(" ", 1)[0] if at >= 0 else "@All"
            return {"uid": "-1", "pos": max(at, 0), "len": wire.utf16_len(word), "type": 1}
        name = self._account_or_new(mention).name
        at = text.find("@" + name)
        width = len(name) + 1
        if at < 0:
            at = max(text.find("@"), 0)
            width = len(text[at:].split(" ", 1)[0])
        return {
            "uid": mention,
            "pos": wire.utf16_len(text[:at]),
            "len": wire.utf16_len(text[at : at + width]),
            "type": 0,
        }

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

    async def _deliver_dm(
        self,
        sender: str,
        to: str,
        msg_type: str,
        content: Any,
        cli_msg_id: str | None,
        origin: _Device | None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        self._account_or_new(to)
        msg = self._message(501, sender, msg_type, content, cli_msg_id, extra)
        msg["idTo"] = to
        self.messages[msg["msgId"]] = msg
        inbound = {**msg, "idTo": "0"}
        echo = {**msg, "uidFrom": "0"}
        for lst in list(self._listeners):
            if lst.uid == to and to != sender:
                await self._send_event(lst, 501, 0, {"data": {"msgs": [inbound]}})
            elif lst.uid == sender and lst.device is not origin:
                await self._send_event(lst, 501, 0, {"data": {"msgs": [echo]}})
        return msg

    async def _deliver_group(
        self,
        sender: str,
        group_id: str,
        msg_type: str,
        content: Any,
        cli_msg_id: str | None,
        origin: _Device | None,
        mentions: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        group = self.groups.get(group_id)
        if group is None:
            raise _ApiError(ERR_NOT_FOUND, "group not found")
        msg = self._message(521, sender, msg_type, content, cli_msg_id, extra)
        msg["idTo"] = group_id
        if mentions:
            msg["mentions"] = mentions
        self.messages[msg["msgId"]] = msg
        echo = {**msg, "uidFrom": "0"}
        for lst in list(self._listeners):
            if lst.uid == sender:
                if lst.device is not origin:
                    await self._send_event(lst, 521, 0, {"data": {"groupMsgs": [echo]}})
            elif lst.uid in group.members:
                await self._send_event(lst, 521, 0, {"data": {"groupMsgs": [msg]}})
        return msg

    async def _deliver_reaction(
        self,
        sender: str,
        target: Mapping[str, Any],
        icon: str,
        r_type: int,
        origin: _Device | None = None,
    ) -> None:
        is_group = target.get("cmd") == 521 or target.get("idTo") in self.groups
        thread = str(target.get("idTo"))
        owner = str(target.get("uidFrom"))
        content = wire.dumps(
            {
                "rMsg": [
                    {"gMsgID": target.get("msgId"), "cMsgID": target.get("cliMsgId"), "msgType": 1}
                ],
                "rIcon": icon,
                "rType": r_type,
                "source": 6,
            }
        )
        react = {
            "actionId": str(next(self._action_ids)),
            "msgId": str(next(self._ids)),
            "cliMsgId": str(int(time.time() * 1000)),
            "msgType": "chat.reaction",
            "uidFrom": sender,
            "idTo": thread if is_group else owner,
            "dName": self._account_or_new(sender).name,
            "content": content,
            "ts": str(int(time.time() * 1000)),
            "ttl": 0,
        }
        if is_group:
            audience = set(self.groups[thread].members) if thread in self.groups else set()
        else:
            audience = {owner, thread}
        for lst in list(self._listeners):
            if lst.uid == sender:
                if lst.device is origin:
                    continue
                item = {**react, "uidFrom": "0"}
            elif lst.uid in audience:
                item = dict(react)
                if not is_group and item["idTo"] == lst.uid:
                    item["idTo"] = "0"
            else:
                continue
            payload = (
                {"reacts": [], "reactGroups": [item]}
                if is_group
                else {
                    "reacts": [item],
                    "reactGroups": [],
                }
            )
            await self._send_event(lst, 612, 0, {"data": payload})

    async def _send_event(self, lst: _Listener, cmd: int, sub_cmd: int, obj: Any) -> None:
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

    # ------------------------------------------------------------------ HTTP app

    def _plain_routes(self) -> list[tuple[str, Callable[[Request], Awaitable[Response]], str]]:
        """The login, page and media routes (path, handler, method): everything else is a
        session call."""
        return [
            ("/account", self._login_page, "GET"),
            ("/account/logininfo", self._qr_plain_ok, "POST"),
            ("/account/verify-client", self._qr_plain_ok, "POST"),
            ("/account/authen/qr/generate", self._qr_generate, "POST"),
            ("/account/authen/qr/waiting-scan", self._qr_waiting_scan, "POST"),
            ("/account/authen/qr/waiting-confirm", self._qr_waiting_confirm, "POST"),
            ("/account/checksession", self._checksession, "GET"),
            ("/index.html", self._index, "GET"),
            ("/jr/userinfo", self._userinfo, "GET"),
            ("/api/login/getLoginInfo", self._get_login_info, "GET"),
            ("/api/login/getServerInfo", self._get_server_info, "GET"),
        ]

    def _app(self) -> Starlette:
        routes = [
            Route(path, handler, methods=[method]) for path, handler, method in self._plain_routes()
        ]
        return Starlette(
            routes=[
                *routes,
                Route("/media/{media_id}", self._media, methods=["GET", "HEAD"]),
                Route("/{path:path}", self._session_call, methods=["GET", "POST"]),
            ]
        )

    async def _http_request(self, request: HttpRequest) -> None:
        """Answer one HTTP request: GET/POST session calls directly, the rest through the
        Starlette app (which routes them exactly as before, to the same handlers)."""
        method = request.method
        if method == "GET" or method == "POST":
            path = request.path
            if self._plain_methods.get(path) != method and not (
                path.startswith("/media/") and _MEDIA_ID.fullmatch(path, 7)
            ):
                await self._session_http(request)
                return
        await request.run_asgi(self._starlette)

    @staticmethod
    def _zalo_mode(request: Request) -> bool:
        return "x-zalo-host" in request.headers

    def _set_cookie(
        self, response: Response, request: Request, name: str, value: str, domain: str
    ) -> None:
        if self._zalo_mode(request):
            response.set_cookie(
                name, value, path="/", domain=domain, secure=True, httponly=True, samesite="none"
            )
        else:
            response.set_cookie(name, value, path="/", httponly=True)

    def _device_of(self, request: Request) -> _Device | None:
        sek = request.cookies.get(_COOKIE_SESSION)
        return self._devices.get(sek) if sek else None

    async def _login_page(self, request: Request) -> Response:
        html = (
            "<!DOCTYPE html><html><head><title>Zalo</title>"
            f'<script src="https://stc-zlogin.zdn.vn/main-{LOGIN_PAGE_VERSION}.js"></script>'
            "</head><body></body></html>"
        )
        return HTMLResponse(html)

    async def _qr_plain_ok(self, request: Request) -> Response:
        return JSONResponse({"error_code": 0, "error_message": "", "data": {}})

    async def _qr_generate(self, request: Request) -> Response:
        sess = QrSession(code=secrets.token_hex(16))
        qr = segno.make(f"https://id.zalo.me/qr/{sess.code}", error="m")
        png = qr.png_data_uri(scale=4)
        await self.qr._add(sess)
        body = {
            "error_code": 0,
            "error_message": "",
            "data": {
                "code": sess.code,
                "image": png,
                "options": {"enabledCheckOCR": False, "enabledMultiLayer": False},
                "token": secrets.token_hex(8),
            },
        }
        response = JSONResponse(body)
        self._set_cookie(response, request, _COOKIE_QR, sess.code, "id.zalo.me")
        return response

    async def _qr_wait(self, request: Request, done: tuple[str, ...]) -> QrSession | None:
        form = parse_qs((await request.body()).decode())
        code = (form.get("code") or [""])[0]
        sess = next((s for s in self.qr.sessions if s.code == code), None)
        if sess is None:
            return None
        if sess.state not in done:
            sess.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.long_poll_s):
                    while sess.state not in done:
                        await sess.changed.wait()
                        sess.changed.clear()
        return sess

    async def _qr_waiting_scan(self, request: Request) -> Response:
        sess = await self._qr_wait(request, ("scanned", "confirmed", "declined", "expired"))
        if sess is None:
            return JSONResponse({"error_code": ERR_QR_EXPIRED, "error_message": "QR not found"})
        if sess.state == "expired":
            return JSONResponse({"error_code": ERR_QR_EXPIRED, "error_message": "QR expired"})
        if sess.state == "generated":
            return JSONResponse({"error_code": QR_WAIT_AGAIN, "error_message": "waiting"})
        assert sess.account is not None
        data = {"avatar": sess.account.avatar, "display_name": sess.account.name}
        return JSONResponse({"error_code": 0, "error_message": "", "data": data})

    async def _qr_waiting_confirm(self, request: Request) -> Response:
        sess = await self._qr_wait(request, ("confirmed", "declined", "expired"))
        if sess is None or sess.state == "expired":
            return JSONResponse({"error_code": ERR_QR_EXPIRED, "error_message": "QR expired"})
        if sess.state == "declined":
            return JSONResponse({"error_code": QR_DECLINED, "error_message": "declined"})
        if sess.state != "confirmed":
            return JSONResponse({"error_code": QR_WAIT_AGAIN, "error_message": "waiting"})
        return JSONResponse({"error_code": 0, "error_message": "", "data": {}})

    def _chat_url(self, request: Request, path: str) -> str:
        if self._zalo_mode(request):
            return "https://chat.zalo.me" + path
        return self.base_url + path

    async def _checksession(self, request: Request) -> Response:
        code = request.cookies.get(_COOKIE_QR, "")
        sess = next((s for s in self.qr.sessions if s.code == code), None)
        if sess is None or sess.state != "confirmed" or sess.used or sess.account is None:
            target = "https://id.zalo.me/account" if self._zalo_mode(request) else "/account"
            return RedirectResponse(target, status_code=302)
        sess.used = True
        device = self._new_device(sess.account)
        response = RedirectResponse(self._chat_url(request, "/index.html"), status_code=302)
        for name, value in self._session_cookies(device).items():
            self._set_cookie(response, request, name, value, "zalo.me")
        return response

    async def _index(self, request: Request) -> Response:
        return HTMLResponse("<!DOCTYPE html><html><body>Zalo Web (fake)</body></html>")

    async def _userinfo(self, request: Request) -> Response:
        device = self._device_of(request)
        if device is None:
            return JSONResponse({"error_code": 0, "data": {"logged": False}})
        account = self.accounts[device.uid]
        info = {"name": account.name, "avatar": account.avatar}
        data = {"logged": True, "session_chat_valid": True, "info": info}
        return JSONResponse({"error_code": 0, "error_message": "", "data": data})

    async def _get_login_info(self, request: Request) -> Response:
        q = request.query_params
        fields = ("zcid", "zcid_ext", "enc_ver", "params", "type", "client_version", "signkey")
        if any(not q.get(k) for k in fields):
            return self._plain_error(ERR_LOGIN, "missing login parameters")
        signed = {k: q[k] for k in fields[:-1]}
        if not secrets.compare_digest(wire.sign_key("getlogininfo", signed), q["signkey"]):
            return self._plain_error(ERR_LOGIN, "bad signkey")
        key = wire.derive_login_key(q["zcid"], q["zcid_ext"])
        try:
            params = wire.open_login_params(key, q["params"])
        except wire.WireError:
            return self._plain_error(ERR_LOGIN, "cannot decrypt params")
        imei = str(params.get("imei") or "")
        if not imei:
            return self._plain_error(ERR_LOGIN, "missing imei")
        ua = request.headers.get("user-agent", "")
        if self.strict_user_agent and not imei.endswith("-" + wire.md5_hex(ua)):
            return self._plain_error(ERR_LOGIN, "imei does not match the User-Agent")
        device = self._device_of(request)
        if device is None:
            return self._plain_error(ERR_SESSION, "zpw_sek bị thiếu hoặc không đúng")
        if self._fault_error("api/login/getLoginInfo") is not None:
            return self._plain_error(ERR_LOGIN, "simulated failure")
        device.imei = imei
        device.user_agent = ua
        session_key = base64.b64encode(os.urandom(32)).decode()
        device.keys.append(session_key)
        account = self.accounts[device.uid]
        info = {
            "uid": account.uid,
            "zpw_enk": session_key,
            "zpw_key": session_key,
            "zpw_ws": [self.ws_url, self.ws_url + "2"],
            "zpw_service_map_v3": self._service_map(request),
            "haspcclient": 0,
            "public_ip": "127.0.0.1",
            "language": str(params.get("language") or "vi"),
            "send2me_id": "0",
            "phone_number": account.phone or "",
            "isNewAccount": False,
        }
        inner = {"error_code": 0, "error_message": "", "data": info}
        return JSONResponse(
            {"error_code": 0, "error_message": "", "data": wire.seal_login_payload(key, inner)}
        )

    def _service_map(self, request: Request) -> dict[str, list[str]]:
        if self._zalo_mode(request):
            return {k: [v] for k, v in ZALO_SERVICE_HOSTS.items()}
        return {k: [self.base_url] for k in ZALO_SERVICE_HOSTS}

    async def _get_server_info(self, request: Request) -> Response:
        q = request.query_params
        signed = {k: q.get(k, "") for k in ("imei", "type", "client_version", "computer_name")}
        if not secrets.compare_digest(wire.sign_key("getserverinfo", signed), q.get("signkey", "")):
            return JSONResponse(
                {"error_code": ERR_LOGIN, "error_message": "bad signkey", "data": None}
            )
        settings = {
            "features": {
                "sharefile": {
                    "max_file": 10,
                    "max_size_share_file_v3": 1024,
                    "restricted_ext_file": ["exe", "bat", "cmd", "msi", "scr"],
                    "chunk_size_file": 3_145_728,
                    "max_size_photo": 10,
                    "big_file_domain_list": [],
                },
                "socket": {
                    "ping_interval": self.ping_interval_ms,
                    "retries": {
                        "1006": {"max": 5, "times": [1000, 2000, 5000]},
                        "3003": {"max": 1, "times": 5000},
                    },
                    "close_and_retry_codes": [1006, 3003],
                    "rotate_error_codes": [1006],
                    "reset_endpoint": 0,
                    "max_msg_size": 10_000,
                    "queue_ctrl_actionid_map": {},
                },
            },
            "keepalive": {"alway_keepalive": 1, "keepalive_duration": 300, "time_deactive": 600},
        }
        data = {
            "setttings": settings,
            "extra_ver": {"phonebook": 0, "friend": 0, "alias": 0, "conv_label": 0},
        }
        return JSONResponse({"error_code": 0, "error_message": "", "data": data})

    async def _media(self, request: Request) -> Response:
        data = self.media.get(request.path_params["media_id"])
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="application/octet-stream")

    @staticmethod
    def _plain_error(code: int, message: str) -> Response:
        return JSONResponse({"error_code": code, "error_message": message, "data": None})

    def _fault_for(self, path: str) -> _Fault | None:
        trimmed = path.strip("/")
        for suffix, fault in self._faults.items():
            if trimmed.endswith(suffix):
                return fault
        return None

    def _fault_error(self, path: str) -> tuple[int, str, bool] | None:
        fault = self._fault_for(path)
        if fault is None or fault.error is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                self._faults = {k: v for k, v in self._faults.items() if v is not fault}
        return fault.error

    def _read_params(
        self, query: bytes, body: bytes | None, content_type: str
    ) -> tuple[str | None, list[tuple[str, bytes]]]:
        """The raw ``params`` value (query first, then a form body) and any uploaded files.

        ``body`` is ``None`` for a GET (whose body is never looked at). Same values as
        Starlette's ``query_params`` (last ``params`` wins) and ``parse_qs`` of the body
        (first wins), without parsing every other field.
        """
        files: list[tuple[str, bytes]] = []
        raw = _form_value(query.decode("latin-1"), "params", last=True) if query else None
        if body is not None:
            if content_type.startswith("multipart/form-data"):
                files = _multipart_files(content_type, body)
            elif raw is None:
                raw = _form_value(body.decode(), "params", last=False)
        return raw, files

    async def _session_http(self, request: HttpRequest) -> None:
        """Answer a session API call without Starlette (the hot path of a gateway: several
        calls per message); the same answer :meth:`_session_call` gives through it."""
        cookies: list[str] = []
        content_type = ""
        user_agent = ""
        for name, value in request.headers:
            if name == b"cookie":
                cookies.append(value.decode("latin-1"))
            elif name == b"content-type" and not content_type:
                content_type = value.decode("latin-1")
            elif name == b"user-agent" and not user_agent:
                user_agent = value.decode("latin-1")
        status, payload = await self._session_answer(
            request.method,
            request.path,
            _session_cookie(tuple(cookies)),
            user_agent,
            request.query,
            request.body if request.method == "POST" else None,
            content_type,
        )
        request.respond(status, payload, b"application/json" if payload else None)

    async def _session_call(self, request: Request) -> Response:
        """A session call reaching Starlette (methods other than GET and POST)."""
        body = await request.body() if request.method == "POST" else None
        sek = _session_cookie(tuple(request.headers.getlist("cookie")))
        status, payload = await self._session_answer(
            request.method,
            request.url.path,
            sek,
            request.headers.get("user-agent", ""),
            request.scope["query_string"],
            body,
            request.headers.get("content-type", ""),
        )
        return Response(payload, status, media_type="application/json" if payload else None)

    async def _session_answer(
        self,
        method: str,
        url_path: str,
        sek: str | None,
        user_agent: str,
        query: bytes,
        body: bytes | None,
        content_type: str,
    ) -> tuple[int, bytes]:
        """Status and body answering a session call (JSON, or empty for an unknown path)."""
        path = "/" + url_path.strip("/")
        device = self._devices.get(sek) if sek else None
        if device is None or not device.keys:
            return 200, _error_body(ERR_SESSION, "zpw_sek bị thiếu hoặc không đúng")
        handler = self._routes.get(path)
        if handler is None:
            return 404, b""
        raw, files = self._read_params(query, body, content_type)
        key = device.keys[-1]
        params: dict[str, Any] = {}
        if raw is not None:
            for candidate in reversed(device.keys):
                try:
                    params = wire.open_session_payload(candidate, raw)
                except (wire.WireError, ValueError):
                    continue
                key = candidate
                break
            else:
                return 200, _error_body(ERR_BAD_PARAMS, "cannot decrypt params")
        view = checks.SessionView(
            path,
            method,
            checks.query_fields(query),
            user_agent,
            device.user_agent,
            device.imei,
            device.uid,
            params,
        )
        refused = checks.refusal(view, self.groups)
        if refused is not None:
            return 200, _error_body(refused.code, refused.message)
        if self._faults:
            fault = self._fault_for(path)
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            error = self._fault_error(path)
        else:
            error = None
        if error is not None and error[2]:
            return 200, _error_body(error[0], error[1])
        call = _Call(path, self.accounts[device.uid], device, key, params, files)
        try:
            if error is not None:
                raise _ApiError(error[0], error[1])
            result = await handler(call)
            inner: dict[str, Any] = {
                "error_code": 0,
                "error_message": "Successful.",
                "data": result,
            }
        except _ApiError as exc:
            inner = {"error_code": exc.code, "error_message": exc.message, "data": None}
        if path == "/keepalive":
            return 200, _json_body(inner)
        sealed = wire.seal_session_payload(key, inner)
        # = _json_body({"error_code": 0, "error_message": "", "data": sealed}): base64 needs
        # no JSON escaping.
        return 200, b'{"error_code":0,"error_message":"","data":"' + sealed.encode() + b'"}'

    # ------------------------------------------------------------------ session API

    def _session_routes(self) -> dict[str, Handler]:
        return {
            "/api/message/sms": self._send_text,
            "/api/group/sendmsg": self._send_text,
            "/api/group/mention": self._send_text,
            "/api/message/quote": self._send_text,
            "/api/group/quote": self._send_text,
            "/api/message/typing": self._typing,
            "/api/group/typing": self._typing,
            "/api/message/reaction": self._reaction,
            "/api/group/reaction": self._reaction,
            "/api/message/deliveredv2": self._receipt,
            "/api/group/deliveredv2": self._receipt,
            "/api/message/seenv2": self._receipt,
            "/api/group/seenv2": self._receipt,
            "/api/message/undo": self._undo,
            "/api/group/undomsg": self._undo,
            "/api/message/parselink": self._parselink,
            "/api/message/link": self._send_link,
            "/api/group/sendlink": self._send_link,
            "/api/message/photo_original/upload": self._upload,
            "/api/group/photo_original/upload": self._upload,
            "/api/message/asyncfile/upload": self._upload,
            "/api/group/asyncfile/upload": self._upload,
            "/api/message/photo_original/send": self._send_photo,
            "/api/group/photo_original/send": self._send_photo,
            "/api/message/asyncfile/msg": self._send_file,
            "/api/group/asyncfile/msg": self._send_file,
            "/api/social/friend/getfriends": self._friends,
            "/api/group/getlg/v4": self._group_ids,
            "/api/group/getmg-v2": self._group_info,
            "/api/social/group/members": self._group_members,
            "/api/social/friend/getprofiles/v2": self._user_info,
            "/api/friend/profile/get": self._find_user,
            "/api/social/profile/me-v2": self._me,
            "/keepalive": self._keepalive,
        }

    @staticmethod
    def _is_group(call: _Call) -> bool:
        return call.path.startswith("/api/group/")

    def _thread(self, call: _Call) -> tuple[str, ThreadKind]:
        if self._is_group(call):
            gid = str(call.params.get("grid") or "")
            if gid not in self.groups:
                raise _ApiError(ERR_NOT_FOUND, "group not found")
            if call.account.uid not in self.groups[gid].members:
                raise _ApiError(ERR_NOT_FOUND, "not a member of this group")
            return gid, "group"
        to = str(call.params.get("toid") or call.params.get("toId") or "")
        if not to:
            raise _ApiError(ERR_BAD_PARAMS, "missing toid")
        return to, "user"

    @staticmethod
    def _mentions(call: _Call) -> list[dict[str, Any]]:
        raw = call.params.get("mentionInfo")
        if not raw:
            return []
        parsed = json.loads(raw) if isinstance(raw, str) else raw
        return [dict(m) for m in parsed] if isinstance(parsed, list) else []

    async def _deliver(
        self,
        call: _Call,
        thread: str,
        kind: ThreadKind,
        msg_type: str,
        content: Any,
        mentions: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        cli = call.params.get("clientId")
        cli_id = str(cli) if cli is not None else None
        if kind == "group":
            return await self._deliver_group(
                call.account.uid, thread, msg_type, content, cli_id, call.device, mentions, extra
            )
        return await self._deliver_dm(
            call.account.uid, thread, msg_type, content, cli_id, call.device, extra
        )

    async def _send(
        self,
        call: _Call,
        thread: str,
        kind: ThreadKind,
        record_kind: str,
        msg_type: str,
        content: Any,
        text: str | None,
        mentions: list[dict[str, Any]] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, int]:
        """Deliver a message a client sent, record it in `sent`, answer with its ``msgId``."""
        mentions = mentions or []
        msg = await self._deliver(call, thread, kind, msg_type, content, mentions, extra)
        await self._record(
            SentRecord(
                record_kind,
                call.path,
                call.account.uid,
                thread,
                kind,
                text=text,
                msg_id=msg["msgId"],
                cli_msg_id=msg["cliMsgId"],
                mentions=tuple(mentions),
                params=call.params,
            )
        )
        return {"msgId": int(msg["msgId"])}

    async def _send_text(self, call: _Call) -> Any:
        thread, kind = self._thread(call)
        text = call.params.get("message")
        if not isinstance(text, str) or not text:
            raise _ApiError(ERR_BAD_PARAMS, "missing message")
        mentions = self._mentions(call) if kind == "group" else []
        extra: dict[str, Any] = {}
        if call.path.endswith("/quote"):
            extra["quote"] = {
                "ownerId": str(call.params.get("qmsgOwner", "")),
                "cliMsgId": call.params.get("qmsgCliId"),
                "globalMsgId": call.params.get("qmsgId"),
                "cliMsgType": call.params.get("qmsgType"),
                "ts": call.params.get("qmsgTs"),
                "msg": call.params.get("qmsg", ""),
                "attach": call.params.get("qmsgAttach", ""),
                "fromD": "",
                "ttl": 0,
            }
        return await self._send(call, thread, kind, "text", "webchat", text, text, mentions, extra)

    async def _typing(self, call: _Call) -> Any:
        thread, kind = self._thread(call)
        now = int(time.time() * 1000)
        if kind == "group":
            data = f'"uid":"{call.account.uid}","gid":"{thread}","ts":"{now}","isPC":0'
            action = {"act_type": "typing", "act": "gtyping", "data": data}
            audience = [u for u in self.groups[thread].members if u != call.account.uid]
        else:
            data = f'"uid":"{call.account.uid}","ts":"{now}","isPC":0'
            action = {"act_type": "typing", "act": "typing", "data": data}
            audience = [thread]
        for lst in list(self._listeners):
            if lst.uid in audience:
                await self._send_event(lst, 602, 0, {"data": {"actions": [action]}})
        await self._record(
            SentRecord("typing", call.path, call.account.uid, thread, kind, params=call.params)
        )
        return {"status": 1}

    async def _reaction(self, call: _Call) -> Any:
        thread, kind = self._thread(call)
        ids: list[int] = []
        for item in call.params.get("react_list") or []:
            body = json.loads(item["message"]) if isinstance(item.get("message"), str) else {}
            for ref in body.get("rMsg", []):
                target = self.messages.get(str(ref.get("gMsgID")))
                if target is None:
                    raise _ApiError(ERR_NOT_FOUND, "message not found")
                await self._deliver_reaction(
                    call.account.uid,
                    target,
                    str(body.get("rIcon", "")),
                    int(body.get("rType", -1)),
                    call.device,
                )
                await self._record(
                    SentRecord(
                        "reaction",
                        call.path,
                        call.account.uid,
                        thread,
                        kind,
                        text=str(body.get("rIcon", "")),
                        msg_id=str(ref.get("gMsgID")),
                        cli_msg_id=str(ref.get("cMsgID")),
                        params={**call.params, "reaction": body},
                    )
                )
                ids.append(int(next(self._ids)))
        return {"msgIds": wire.dumps(ids)}

    async def _receipt(self, call: _Call) -> Any:
        raw = call.params.get("msgInfos")
        infos = json.loads(raw) if isinstance(raw, str) else (raw or {})
        kind: ThreadKind = "group" if self._is_group(call) else "user"
        thread = str(infos.get("grid") or infos.get("senderId") or "")
        entries = infos.get("data") or []
        if not thread and entries:
            first = entries[0]
            thread = str(first.get("si") if kind == "user" else first.get("di"))
        name = "seen" if "seen" in call.path else "delivered"
        await self._record(
            SentRecord(
                name,
                call.path,
                call.account.uid,
                thread,
                kind,
                msg_id=str(entries[0].get("gmi")) if entries else None,
                params={**call.params, "msgInfos": infos},
            )
        )
        await self._push_receipts(call.account.uid, kind, thread, entries, name == "seen")
        return {"status": 1} if name == "seen" else ""

    async def _push_receipts(
        self, reader: str, kind: ThreadKind, thread: str, entries: list[Any], seen: bool
    ) -> None:
        """Tell the authors of the acknowledged messages (502 for DMs, 522 for groups)."""
        for entry in entries:
            original = self.messages.get(str(entry.get("gmi")))
            if original is None or original["uidFrom"] == reader:
                continue
            msg_id = original["msgId"]
            if kind == "user":
                if seen:
                    payload: dict[str, Any] = {
                        "seens": [{"idTo": reader, "msgId": msg_id, "realMsgId": msg_id}]
                    }
                else:
                    payload = {"delivereds": [_delivered(msg_id, reader)]}
                cmd = 502
            else:
                if seen:
                    payload = {
                        "groupSeens": [{"msgId": msg_id, "groupId": thread, "seenUids": [reader]}]
                    }
                else:
                    payload = {"delivereds": [{**_delivered(msg_id, reader), "groupId": thread}]}
                cmd = 522
            for lst in self._listeners_of(original["uidFrom"]):
                await self._send_event(lst, cmd, 0, {"data": payload})

    async def _undo(self, call: _Call) -> Any:
        thread, kind = self._thread(call)
        msg_id = str(call.params.get("msgId", ""))
        original = self.messages.get(msg_id)
        if original is None or original["uidFrom"] != call.account.uid:
            raise _ApiError(ERR_NOT_FOUND, "message not found")
        content = {
            "deleteMsg": 1,
            "globalMsgId": msg_id,
            "cliMsgId": str(call.params.get("cliMsgIdUndo", "")),
            "srcId": call.account.uid,
            "destId": thread,
        }
        await self._deliver(call, thread, kind, "chat.undo", content)
        await self._record(
            SentRecord(
                "undo", call.path, call.account.uid, thread, kind, msg_id=msg_id, params=call.params
            )
        )
        return {"status": 1}

    async def _parselink(self, call: _Call) -> Any:
        link = str(call.params.get("link", ""))
        if not link:
            raise _ApiError(ERR_BAD_PARAMS, "missing link")
        data = {
            "thumb": f"{self.base_url}/media/link-thumb.jpg",
            "title": f"Title of {link}",
            "desc": "A page",
            "src": link.split("/")[2] if "//" in link else link,
            "href": link,
            "media": {
                "type": 0,
                "count": 0,
                "mediaTitle": "",
                "artist": "",
                "streamUrl": "",
                "stream_icon": "",
            },
            "stream_icon": "",
        }
        return {"data": data, "error_maps": {}}

    async def _send_link(self, call: _Call) -> Any:
        thread, kind = self._thread(call)
        href = str(call.params.get("href", ""))
        text = str(call.params.get("msg", href))
        content = _attachment(
            call.params.get("title", ""),
            href,
            call.params.get("thumb", ""),
            {"mediaTitle": "", "src": call.params.get("src", "")},
            description=call.params.get("desc", ""),
            action="recommened.link",
        )
        return await self._send(call, thread, kind, "link", "chat.recommended", content, text)

    async def _upload(self, call: _Call) -> Any:
        if not call.files:
            raise _ApiError(ERR_BAD_PARAMS, "missing chunkContent")
        is_photo = "photo_original" in call.path
        client_id = str(call.params.get("clientId", ""))
        total = int(call.params.get("totalChunk", 1) or 1)
        chunk_id = int(call.params.get("chunkId", 1) or 1)
        slot = (call.account.uid, client_id)
        upload = self._uploads.setdefault(
            slot,
            _Upload("photo" if is_photo else "file", total, str(call.params.get("fileName", ""))),
        )
        upload.chunks[chunk_id] = call.files[0][1]
        if len(upload.chunks) < upload.total:
            return {
                "fileId": "-1",
                "photoId": "-1",
                "finished": 0,
                "chunkId": chunk_id,
                "clientFileId": client_id,
            }
        del self._uploads[slot]
        data = b"".join(upload.chunks[i] for i in sorted(upload.chunks))
        suffix = "." + upload.name.rsplit(".", 1)[-1] if "." in upload.name else ""
        url = self._store_media(data, suffix)
        if is_photo:
            photo_id = str(next(self._ids))
            return {
                "normalUrl": url,
                "photoId": photo_id,
                "finished": 1,
                "hdUrl": url,
                "thumbUrl": url,
                "clientFileId": client_id,
                "chunkId": chunk_id,
            }
        file_id = str(next(self._ids))
        self._spawn(self._file_done_later(call.account.uid, file_id, url))
        return {"fileId": file_id, "clientFileId": client_id, "chunkId": chunk_id, "finished": 1}

    async def _file_done_later(self, uid: str, file_id: str, url: str) -> None:
        # zca-js registers its file_done callback only after reading the upload answer.
        await asyncio.sleep(self.file_done_delay_s)
        control = {
            "content": {"act_type": "file_done", "act": "", "fileId": file_id, "data": {"url": url}}
        }
        for lst in self._listeners_of(uid):
            await self._send_event(lst, 601, 0, {"data": {"controls": [control]}})

    async def _send_photo(self, call: _Call) -> Any:
        thread, kind = self._thread(call)
        url = str(
            call.params.get("rawUrl")
            or call.params.get("normalUrl")
            or call.params.get("oriUrl")
            or ""
        )
        desc = str(call.params.get("desc", ""))
        content = _attachment(
            desc,
            url,
            str(call.params.get("thumbUrl") or url),
            {"width": call.params.get("width"), "height": call.params.get("height"), "hd": url},
        )
        mentions = self._mentions(call) if kind == "group" else []
        return await self._send(
            call, thread, kind, "photo", "chat.photo", content, desc or None, mentions
        )

    async def _send_file(self, call: _Call) -> Any:
        thread, kind = self._thread(call)
        name = str(call.params.get("fileName", ""))
        url = str(call.params.get("fileUrl", ""))
        content = _attachment(
            name,
            url,
            "",
            {
                "fileSize": str(call.params.get("totalSize", "")),
                "checksum": call.params.get("checksum", ""),
                "fileExt": call.params.get("extention", ""),
            },
        )
        return await self._send(call, thread, kind, "file", "share.file", content, name)

    async def _friends(self, call: _Call) -> Any:
        return [
            self.accounts[uid].profile()
            for uid in sorted(call.account.friends)
            if uid in self.accounts
        ]

    async def _group_ids(self, call: _Call) -> Any:
        mine = {
            g.group_id: g.version for g in self.groups.values() if call.account.uid in g.members
        }
        return {"version": "1", "gridVerMap": mine}

    def _group_info_of(self, group: FakeGroup) -> dict[str, Any]:
        mems = [
            {
                "id": uid,
                "dName": self._account_or_new(uid).name,
                "zaloName": self._account_or_new(uid).name,
                "avatar": self._account_or_new(uid).avatar,
                "avatar_25": self._account_or_new(uid).avatar,
                "accountStatus": 0,
                "type": 1,
            }
            for uid in group.members
        ]
        return {
            "groupId": group.group_id,
            "name": group.name,
            "desc": "",
            "type": 1,
            "creatorId": group.creator,
            "version": group.version,
            "avt": "",
            "fullAvt": "",
            "memberIds": list(group.members),
            "adminIds": list(group.admins),
            "currentMems": mems,
            "updateMems": [],
            "memVerList": [f"{uid}_0" for uid in group.members],
            "admins": list(group.admins),
            "hasMoreMember": 0,
            "subType": 0,
            "totalMember": len(group.members),
            "maxMember": 1000,
            "setting": {},
            "createdTime": 0,
            "visibility": 0,
            "globalId": "G" + group.group_id,
            "e2ee": 0,
            "extraInfo": {"enable_media_store": 1},
            "pendingApprove": {"time": 0, "uids": None},
        }

    async def _group_info(self, call: _Call) -> Any:
        raw = call.params.get("gridVerMap") or "{}"
        wanted = json.loads(raw) if isinstance(raw, str) else raw
        found = {
            gid: self._group_info_of(self.groups[gid])
            for gid in wanted
            if gid in self.groups and call.account.uid in self.groups[gid].members
        }
        missing = [gid for gid in wanted if gid not in found]
        return {"removedsGroup": missing, "unchangedsGroup": [], "gridInfoMap": found}

    async def _group_members(self, call: _Call) -> Any:
        profiles: dict[str, Any] = {}
        for item in call.params.get("friend_pversion_map") or []:
            uid = str(item).rsplit("_", 1)[0]
            account = self.accounts.get(uid)
            if account is None:
                continue
            profiles[uid] = {
                "displayName": account.name,
                "zaloName": account.name,
                "avatar": account.avatar,
                "accountStatus": 0,
                "type": 1,
                "lastUpdateTime": 0,
                "globalId": "G" + uid,
                "id": uid,
            }
        return {"profiles": profiles, "unchangeds_profile": []}

    async def _user_info(self, call: _Call) -> Any:
        changed: dict[str, Any] = {}
        for item in call.params.get("friend_pversion_map") or []:
            uid = str(item).rsplit("_", 1)[0]
            if uid in self.accounts:
                changed[uid] = self.accounts[uid].profile()
        return {"changed_profiles": changed, "unchanged_profiles": {}, "phonebook_version": 0}

    async def _find_user(self, call: _Call) -> Any:
        phone = str(call.params.get("phone", ""))
        for account in self.accounts.values():
            if account.phone and _same_phone(account.phone, phone):
                return {
                    "uid": account.uid,
                    "zalo_name": account.name,
                    "display_name": account.name,
                    "avatar": account.avatar,
                    "cover": "",
                    "status": "",
                    "gender": 0,
                    "dob": 0,
                    "sdob": "",
                    "globalId": "G" + account.uid,
                    "bizPkg": {"label": None, "pkgId": 0},
                }
        raise _ApiError(ERR_NOT_FOUND, "user not found")

    async def _me(self, call: _Call) -> Any:
        return {"profile": call.account.profile()}

    async def _keepalive(self, call: _Call) -> Any:
        return {"config_vesion": 1}

    # ------------------------------------------------------------------ websocket

    def _ws_accept(self, connection: ServerConnection, request: WsRequest) -> WsResponse | None:
        jar = SimpleCookie()
        with contextlib.suppress(Exception):
            jar.load(request.headers.get("Cookie", ""))
        morsel = jar.get(_COOKIE_SESSION)
        device = self._devices.get(morsel.value) if morsel is not None else None
        if device is None or not device.keys:
            return connection.respond(403, "zpw_sek missing or invalid\n")
        connection.fake_device = device  # type: ignore[attr-defined]
        return None

    async def _ws_handler(self, conn: ServerConnection) -> None:
        device: _Device = conn.fake_device  # type: ignore[attr-defined]
        key = os.urandom(32)
        if self.single_listener:
            for old in self._listeners_of(device.uid):
                with contextlib.suppress(ConnectionClosed):
                    await old.conn.send(wire.encode_frame(3000, 0, {}))
                self._spawn(self._close_later(old.conn, 3000, "Another connection is opened"))
        await conn.send(
            wire.encode_frame(1, 1, {"key": base64.b64encode(key).decode(), "encrypt_type": 1})
        )
        listener = _Listener(conn, device.uid, device, key)
        self._listeners.append(listener)
        async with self._listeners_changed:
            self._listeners_changed.notify_all()
        try:
            async for frame in conn:
                if isinstance(frame, str):
                    continue
                await self._ws_frame(listener, frame)
        except ConnectionClosed:
            pass
        finally:
            self._listeners.remove(listener)
            async with self._listeners_changed:
                self._listeners_changed.notify_all()

    def _history(self, uid: str, *, group: bool, limit: int = 50) -> list[dict[str, Any]]:
        """Recent messages of ``uid`` as its own listener would have received them."""
        out: list[dict[str, Any]] = []
        for msg in reversed(self.messages.values()):
            if (
                group
                and msg["cmd"] == 521
                and uid in self.groups.get(msg["idTo"], _NO_GROUP).members
            ):
                out.append({**msg, "uidFrom": "0"} if msg["uidFrom"] == uid else msg)
            elif not group and msg["cmd"] == 501 and uid in (msg["uidFrom"], msg["idTo"]):
                out.append(
                    {**msg, "uidFrom": "0"} if msg["uidFrom"] == uid else {**msg, "idTo": "0"}
                )
            if len(out) >= limit:
                break
        return out[::-1]

    async def _ws_frame(self, lst: _Listener, frame: bytes) -> None:
        try:
            _, cmd, sub_cmd, body = wire.decode_frame(frame)
        except (wire.WireError, ValueError):
            return
        if cmd == 2:
            self.pings[lst.uid] = self.pings.get(lst.uid, 0) + 1
        elif cmd in (510, 511) and sub_cmd == 1:
            field_name = "msgs" if cmd == 510 else "groupMsgs"
            history = self._history(lst.uid, group=cmd == 511)
            await self._send_event(
                lst, cmd, 1, {"data": {field_name: history}, "req_id": _req_id(body)}
            )
        elif cmd in (610, 611) and sub_cmd == 1:
            field_name = "reacts" if cmd == 610 else "reactGroups"
            await self._send_event(lst, cmd, 1, {"data": {field_name: []}, "req_id": _req_id(body)})


_NO_GROUP = FakeGroup("", "", [])
_MEDIA_ID = re.compile(r"[^/]+")  # Starlette's ``{media_id}`` (one non-empty path segment)


def _form_value(text: str, name: str, *, last: bool) -> str | None:
    """The value of field ``name`` in a query string or form body, decoded as ``parse_qsl``
    (``keep_blank_values``) decodes it; ``last`` picks the last of repeated fields."""
    found: str | None = None
    for pair in text.split("&"):
        key, eq, value = pair.partition("=")
        if not pair:
            continue
        if key != name and ("%" in key or "+" in key):
            key = unquote(key.replace("+", " "))
        if key != name:
            continue
        if not eq:
            value = ""
        value = value.replace("+", " ")
        found = wire.unquote_data(value) if "%" in value else value
        if not last:
            return found
    return found


@functools.lru_cache(maxsize=256)
def _session_cookie(headers: tuple[str, ...]) -> str | None:
    """``zpw_sek`` out of the ``Cookie`` headers, as Starlette's ``request.cookies`` reads it
    (cached: a client sends the same header with every call)."""
    cookies: dict[str, str] = {}
    for header in headers:
        cookies.update(cookie_parser(header))
    return cookies.get(_COOKIE_SESSION)


_STARLETTE_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _json_body(obj: Any) -> bytes:
    """JSON the way Starlette's ``JSONResponse`` renders it."""
    return _STARLETTE_JSON.encode(obj).encode()


def _error_body(code: int, message: str) -> bytes:
    return _json_body({"error_code": code, "error_message": message, "data": None})


def _req_id(body: Any) -> Any:
    return body.get("req_id") if isinstance(body, dict) else None


def _same_phone(stored: str, asked: str) -> bool:
    def norm(p: str) -> str:
        digits = "".join(c for c in p if c.isdigit())
        return "84" + digits[1:] if digits.startswith("0") else digits

    return norm(stored) == norm(asked)


def _multipart_files(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            files.append((part.get_filename() or "", payload))
    return files


def _attachment(
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


def _delivered(msg_id: Any, reader: str) -> dict[str, Any]:
    """One ``delivereds`` entry of a 502/522 event: ``reader`` got ``msg_id`` (not seen yet)."""
    return {
        "msgId": msg_id,
        "seen": 0,
        "deliveredUids": [reader],
        "seenUids": [],
        "realMsgId": msg_id,
        "mSTs": int(time.time() * 1000),
    }
