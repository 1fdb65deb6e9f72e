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

Session calls are strict (:mod:`~zalogate.testing.fake_personal.checks`): a call that lacks
what zca-js 2.2.0 always sends for that operation (cookie, login User-Agent, ``zpw_ver`` /
``zpw_type``, ``imei``, ``clientId``, string ids, the right method, in-text mentions of
members, well-formed ``msgInfos`` / ``react_list`` ...) gets Zalo's error envelope with
HTTP 200, so a client that drops a field fails its tests.

The parts: ``state`` (world, devices, faults), ``qr`` and ``login`` (QR login, login info,
server info, media), ``session`` (HTTP dispatch, decryption), ``checks``, ``messages``,
``reactions``, ``media`` (uploads, attachments, links), ``directory`` (friends, groups,
profiles), ``push`` (websocket) and ``scripted`` (users driven by the test).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from websockets.asyncio.server import Server, serve

from zalogate.testing.fake_personal import wire
from zalogate.testing.fake_personal.directory import Directory
from zalogate.testing.fake_personal.media import Media
from zalogate.testing.fake_personal.model import FakeAccount, FakeGroup, SentRecord
from zalogate.testing.fake_personal.push import Push
from zalogate.testing.fake_personal.qr import QrControl
from zalogate.testing.fake_personal.reactions import Reactions
from zalogate.testing.fake_personal.scripted import ScriptedGroup, ScriptedUser
from zalogate.testing.fake_personal.session import SessionDispatch
from zalogate.testing.fake_personal.state import (
    ERR_BAD_PARAMS,
    ERR_LOGIN,
    ERR_NOT_FOUND,
    ERR_QR_EXPIRED,
    ERR_SESSION,
    Device,
    Fault,
    Handler,
    Listener,
    Upload,
)
from zalogate.testing.http_server import HttpServer

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

T = TypeVar("T")


class FakeZaloPersonal(Push, Directory, Media, Reactions, SessionDispatch):
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
        self.ws_refusals: list[str] = []
        self.history_requests: list[tuple[str, int, str | None]] = []
        self.history_page_size = 50
        self.qr = QrControl()
        self.qr._accounts = self._account_or_new
        self.qr.auto_approve = auto_approve_qr
        self._bg_thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.messages: dict[str, dict[str, Any]] = {}
        self.media: dict[str, bytes] = {}
        self._devices: dict[str, Device] = {}
        self._listeners: list[Listener] = []
        self._faults: dict[str, Fault] = {}
        self._uploads: dict[tuple[str, str], Upload] = {}
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

    async def start(self) -> None:
        """Bind both servers on free ports and serve in the background."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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

    def calls_of(self, imei: str) -> list[str]:
        """The logins and session calls (paths, in order) of the client with ``imei`` (the
        ``imei`` of its saved :meth:`credentials`): what one client of an account asked."""
        return [path for d in self._devices.values() if d.imei == imei for path in d.calls]

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
        self._faults[endpoint.strip("/")] = Fault(
            error=(error_code, error_message, outer), times=times
        )

    def drop_after_next(self, endpoint: str, *, times: int | None = 1) -> None:
        """Carry out the next calls whose path ends with ``endpoint`` (a send is recorded and
        delivered), then close the connection without the answer: a reset after Zalo took the
        request, which the client cannot tell from one before."""
        self._faults[endpoint.strip("/")] = Fault(drop_after=True, times=times)

    def slow(self, endpoint: str, seconds: float) -> None:
        """Delay answers of calls whose path ends with ``endpoint``."""
        self._faults[endpoint.strip("/")] = Fault(delay=seconds)

    def clear_faults(self) -> None:
        """Remove every injected endpoint fault."""
        self._faults.clear()

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
            "/api/message/delete": self._delete,
            "/api/group/deletemsg": self._delete,
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
            "/api/message/sticker/suggest/stickers": self._sticker_suggest,
            "/api/message/sticker/sticker_detail": self._sticker_detail,
            "/api/message/sticker": self._send_sticker,
            "/api/group/sticker": self._send_sticker,
            "/api/message/forward": self._send_video,
            "/api/group/forward": self._send_video,
            "/api/social/friend/getfriends": self._friends,
            "/api/group/getlg/v4": self._group_ids,
            "/api/group/getmg-v2": self._group_info,
            "/api/social/group/members": self._group_members,
            "/api/social/friend/getprofiles/v2": self._user_info,
            "/api/friend/profile/get": self._find_user,
            "/api/social/profile/me-v2": self._me,
            "/api/friend/accept": self._accept_friend,
            "/keepalive": self._keepalive,
        }
