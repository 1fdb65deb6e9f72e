"""``FakeZaloBotApi``: a real HTTP server on 127.0.0.1 that behaves like the Zalo Bot API.

It speaks the same envelope and payloads as Zalo (``zalo-bot-api.md`` §1-3), so a client,
a channel or a whole gateway can be tested over loopback HTTP::

    async with FakeZaloBotApi() as fake:
        bot = ZaloBot(fake.token, base_url=fake.base_url)
        fake.user("u1", name="An").says("xin chào")
        update = await bot.get_updates(timeout=1)
        await bot.send_message(update.message.chat.id, "chào An")
        [sent] = await fake.wait_for_sent(count=1, chat_id="u1")

Behaviour, and where it comes from:

* ``POST /bot<TOKEN>/<method>``; an unknown token gets HTTP 200
  ``{"ok": false, "error_code": 401, "description": "Unauthorized"}``; an unknown method
  HTTP 200 with ``error_code`` 404 [field]. Validation errors are HTTP 200 with
  ``error_code`` 400 (``"Bad request: The chat_id must not be empty"`` is verbatim from Zalo; the
  other descriptions are the fake's own wording).
* ``getUpdates {"timeout": "<n>"}`` returns ONE update, holds the poll up to ``n`` seconds
  (capped at ``max_poll_timeout``) and wakes as soon as an update arrives. An empty poll answers
  like Zalo in the field: HTTP 408 ``{"ok": false, "error_code": 408, "description":
  "Request timeout"}`` by default; ``empty_poll="body408"`` answers the same body with HTTP 200,
  ``"empty-result"`` answers ``{"ok": true, "result": {}}``.
* While a webhook is set, updates go to the webhook and ``getUpdates`` gets nothing
  (the reference: "getUpdates silently returns nothing"); ``poll_while_webhook="conflict"``
  instead refuses it with HTTP 200 ``error_code`` 409.
* Webhook delivery: each update is POSTed as JSON with ``X-Bot-Api-Secret-Token`` (to
  ``deliver_webhooks_to`` + the registered URL's path when that is set); a non-200
  answer or a connection failure is retried after each of ``webhook_retry_delays`` (default
  0.05 s, 0.2 s, 1 s: Zalo's own retry schedule is not documented), then the update is given up
  and listed in ``webhook_failures``. ``webhook_concurrency`` deliveries run at once per bot.
* ``getWebhookInfo`` without a webhook answers HTTP 404 ``Not Found`` [field]. ``setWebhook``
  wants an HTTPS URL (plain HTTP is accepted for loopback hosts, so tests can receive) and an
  8-256 character secret.
* ``GET /media/<name>`` serves a small generated PNG (or bytes given to ``add_media``), so that
  inbound images can be fetched on loopback.

Faults: ``fail_next`` (HTTP error; 429/502/503/504 come as nginx HTML pages), ``error_next``
(``ok: false`` with HTTP 200), ``timeout_next`` (hold the request until the client gives up) and
``drop_next`` (close the connection without an answer).

The server runs in the current event loop (``async with`` / ``start()``) or in a thread of its
own (``with`` / ``start_in_thread()``) for synchronous callers; scripted users and fault
methods may be called from any thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import itertools
import json
import logging
import secrets
import socket
import struct
import threading
import time
import urllib.parse
import zlib
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zalogate.net.tls import shared_tls_context
from zalogate.testing.http_server import HttpRequest, HttpServer
from zalogate.text import utf16_len

__all__ = [
    "ApiCall",
    "FakeBot",
    "FakeGroup",
    "FakeUser",
    "FakeZaloBotApi",
    "SentRecord",
    "WebhookFailure",
    "make_png",
]

_log = logging.getLogger(__name__)

EmptyPoll = Literal["http408", "body408", "empty-result"]
PollWhileWebhook = Literal["empty", "conflict"]

_T = TypeVar("_T")
_TEXT_LIMIT = 2000
_CHAT_ACTIONS = frozenset({"typing", "upload_photo"})
_ids = itertools.count(1)


def _new_id() -> str:
    """A 20-hex-digit id shaped like Zalo's, unique within the process."""
    return f"{secrets.token_hex(6)}{next(_ids) & 0xFFFFFFFF:08x}"


def _now_ms() -> int:
    return int(time.time() * 1000)


_encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def make_png(width: int = 8, height: int = 8, rgb: tuple[int, int, int] = (0, 104, 255)) -> bytes:
    """A valid, solid-colour RGB PNG (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@dataclass(frozen=True, slots=True)
class SentRecord:
    """One message the bot sent (``sendMessage`` / ``sendPhoto`` / ``sendSticker``)."""

    method: str
    bot_id: str
    chat_id: str
    message_id: str
    time: float
    text: str | None = None
    photo: str | None = None
    caption: str | None = None
    sticker: str | None = None


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the fake received (any method, also failed ones)."""

    method: str
    bot_id: str | None
    payload: dict[str, Any]
    time: float


@dataclass(frozen=True, slots=True)
class WebhookFailure:
    """An update the fake gave up delivering to the webhook."""

    bot_id: str
    url: str
    update: dict[str, Any]
    last_status: int | None
    last_error: str | None


@dataclass(slots=True)
class _Fault:
    kind: Literal["fail", "error", "timeout", "drop"]
    remaining: int
    status: int = 500
    error_code: int | str | None = None
    description: str | None = None
    html: bool = False


class _Signal:
    """Wakes every waiter on ``notify()``; callers re-check their condition after waking."""

    __slots__ = ("_waiters",)

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[None]] = set()

    def notify(self) -> None:
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    def wait(self, limit: float | None = None) -> Awaitable[None]:
        """Wait for the next ``notify()`` (at most ``limit`` seconds).

        The waiter is registered when ``wait`` is called, not when the awaitable first runs:
        a caller wrapping it in a task (``ensure_future``) must not miss a ``notify()`` that
        comes before the task starts (that lost wake-up held a long-poll for its full timeout
        with an update pending).
        """
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        return self._wait(waiter, limit)

    async def _wait(self, waiter: asyncio.Future[None], limit: float | None) -> None:
        try:
            await asyncio.wait_for(waiter, limit)
        except TimeoutError:
            pass
        finally:
            self._waiters.discard(waiter)


# ----------------------------------------------------------------- the HTTP server
#
# The fake answers on the small HTTP/1.1 server of :mod:`zalogate.testing.http_server`
# instead of uvicorn + Starlette: a benchmark gateway sends it two calls per message, and the
# simulator must cost far less than the gateway it measures. The hot routes
# (``/bot<TOKEN>/<method>`` with POST or GET, ``/media/<name>`` with GET or HEAD) are answered
# directly; every other request goes to a Starlette app through the server's ASGI bridge
# (``FakeZaloBotApi._app``: the same routes, so 404/405 answer as Starlette does, and tests may
# add routes of their own there).


@dataclass(frozen=True, slots=True)
class _Reply:
    """One HTTP answer of the fake: status, body and content type (plus any extra headers)."""

    body: bytes
    status: int = 200
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


_MethodHandler = Callable[["FakeBot", dict[str, Any], HttpRequest], Awaitable[_Reply]]
"""One Bot API method of the fake: ``(bot, payload, request) -> reply``."""


def _respond(request: HttpRequest, reply: _Reply) -> None:
    """Write ``reply`` as the answer to ``request`` (its headers only for HEAD)."""
    request.respond(
        reply.status,
        reply.body,
        reply.content_type.encode("latin-1"),
        [(name.encode("latin-1"), value.encode("latin-1")) for name, value in reply.headers]
        if reply.headers
        else (),
    )


class FakeUser:
    """A scripted Zalo user writing to a bot, in a DM or in a group."""

    def __init__(
        self,
        bot: FakeBot,
        user_id: str,
        name: str | None,
        *,
        chat_id: str | None = None,
        chat_type: Literal["PRIVATE", "GROUP"] = "PRIVATE",
    ) -> None:
        self.bot = bot
        self.id = user_id
        self.name = name
        # In a DM, Zalo's chat id is the sender's id.
        self.chat_id = chat_id if chat_id is not None else user_id
        self.chat_type = chat_type

    def _message(self, message_id: str | None, date: int | None) -> dict[str, Any]:
        sender: dict[str, Any] = {"id": self.id, "is_bot": False}
        if self.name is not None:
            sender["display_name"] = self.name
        return {
            "from": sender,
            "chat": {"id": self.chat_id, "chat_type": self.chat_type},
            "message_id": message_id or _new_id(),
            "date": _now_ms() if date is None else date,
        }

    def _push(self, event_name: str, message: dict[str, Any]) -> str:
        self.bot.push({"event_name": event_name, "message": message})
        return str(message["message_id"])

    def says(self, text: str, *, message_id: str | None = None, date: int | None = None) -> str:
        """Send a text message to the bot; returns its ``message_id``."""
        message = self._message(message_id, date)
        message["text"] = text
        return self._push("message.text.received", message)

    def sends_image(
        self,
        url: str | None = None,
        *,
        caption: str = "",
        message_id: str | None = None,
        date: int | None = None,
    ) -> str:
        """Send an image (default: a PNG served by the fake); returns its ``message_id``."""
        message = self._message(message_id, date)
        message["message_type"] = "CHAT_PHOTO"
        message["photo_url"] = url if url is not None else self.bot.fake.media_url("photo.png")
        message["caption"] = caption
        return self._push("message.image.received", message)

    def sends_sticker(
        self,
        sticker: str = "bfe458bf64fa8da4d4eb",
        *,
        message_id: str | None = None,
        date: int | None = None,
    ) -> str:
        """Send a sticker by id; returns its ``message_id``."""
        message = self._message(message_id, date)
        message["message_type"] = "CHAT_STICKER"
        message["sticker"] = sticker
        return self._push("message.sticker.received", message)

    def sends_unsupported(self, *, message_id: str | None = None, date: int | None = None) -> str:
        """Send something the Bot API does not pass on (voice, file...); returns its id."""
        message = self._message(message_id, date)
        return self._push("message.unsupported.received", message)


class FakeGroup:
    """A group chat the bot is in; ``group.user(...)`` writes as a member."""

    def __init__(self, bot: FakeBot, group_id: str, name: str | None) -> None:
        self.bot = bot
        self.id = group_id
        self.name = name

    def user(self, user_id: str, name: str | None = None) -> FakeUser:
        """A member of this group."""
        return FakeUser(self.bot, user_id, name, chat_id=self.id, chat_type="GROUP")


class FakeBot:
    """One bot registered with the fake: its token, its pending updates and its webhook."""

    def __init__(self, fake: FakeZaloBotApi, token: str, name: str | None) -> None:
        bot_id, sep, _ = token.partition(":")
        self.fake = fake
        self.token = token
        self.id = bot_id if sep and bot_id.isdigit() else str(secrets.randbelow(10**18))
        self.name = name if name is not None else f"bot.{self.id[-6:]}"
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_updated_at = 0
        self.updates: list[dict[str, Any]] = []
        """Every update pushed to this bot, in order."""
        self.waiting_polls = 0
        """``getUpdates`` calls currently held open."""
        self.last_handed_out_at = 0.0
        """``time.time()`` when ``getUpdates`` or the webhook last took a pending update."""
        self._pending: deque[dict[str, Any]] = deque()
        self._signal = _Signal()

    def __repr__(self) -> str:
        return f"FakeBot(id={self.id!r}, name={self.name!r})"

    @property
    def pending(self) -> int:
        """Updates not yet handed out by ``getUpdates`` or the webhook."""
        return len(self._pending)

    def user(self, user_id: str, name: str | None = None) -> FakeUser:
        """A user writing to this bot in a DM."""
        return FakeUser(self, user_id, name)

    def group(self, group_id: str, name: str | None = None) -> FakeGroup:
        """A group this bot is in."""
        return FakeGroup(self, group_id, name)

    def push(self, update: dict[str, Any]) -> None:
        """Queue a raw update (e.g. to replay one); ``getUpdates`` or the webhook hands it out."""
        self.updates.append(update)
        self.fake._call_in_loop(self._enqueue, update)

    def _hand_out(self) -> dict[str, Any]:
        self.last_handed_out_at = time.time()
        return self._pending.popleft()

    def _enqueue(self, update: dict[str, Any]) -> None:
        self._pending.append(update)
        self._signal.notify()


class FakeZaloBotApi:
    """A Zalo Bot API server on 127.0.0.1 for tests, the sandbox and benchmarks.

    Args:
        token: the default bot's token (default: a random ``"<digits>:<secret>"``).
        name: the default bot's ``account_name``.
        port: port to listen on (default: a free one).
        empty_poll: how an empty long-poll is answered (see the module docstring).
        poll_while_webhook: ``"empty"`` (Zalo) or ``"conflict"`` (409).
        max_poll_timeout: cap on the ``getUpdates`` hold, in seconds.
        webhook_retry_delays: pauses before each re-delivery of a refused webhook POST.
        webhook_concurrency: webhook deliveries in flight per bot.
    """

    def __init__(
        self,
        token: str | None = None,
        *,
        name: str | None = "bot.fake",
        port: int = 0,
        empty_poll: EmptyPoll = "http408",
        poll_while_webhook: PollWhileWebhook = "empty",
        max_poll_timeout: float = 60.0,
        webhook_retry_delays: Iterable[float] = (0.05, 0.2, 1.0),
        webhook_concurrency: int = 1,
    ) -> None:
        self._port = port
        self.empty_poll: EmptyPoll = empty_poll
        self.poll_while_webhook: PollWhileWebhook = poll_while_webhook
        self.max_poll_timeout = max_poll_timeout
        self.webhook_retry_delays = tuple(webhook_retry_delays)
        self.webhook_concurrency = max(1, webhook_concurrency)
        self.sent: list[SentRecord] = []
        """Messages sent by bots, in order."""
        self.chat_actions: list[ApiCall] = []
        """``sendChatAction`` calls that succeeded."""
        self.calls: list[ApiCall] = []
        """Every API request received, in order (faulted ones too)."""
        self.webhook_deliveries = 0
        """Webhook POSTs answered with 200."""
        self.webhook_failures: list[WebhookFailure] = []
        """Updates given up after every webhook retry failed."""
        self.media_requests: list[str] = []
        """Names fetched from ``/media/<name>``."""
        self.deliver_webhooks_to: str | None = None
        """Deliver webhooks to this base URL (e.g. a gateway on ``http://127.0.0.1:<port>``)
        instead of the registered URL's origin, keeping its path and query: the registered
        URL must be ``https://`` for a real bot, but nothing on loopback speaks TLS."""
        self._bots: dict[str, FakeBot] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._media: dict[str, tuple[bytes, str]] = {}
        self._sent_signal = _Signal()
        self._sent_targets: list[tuple[int, asyncio.Future[None]]] = []
        self._calls_signal = _Signal()
        self._stop_signal = _Signal()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: HttpServer | None = None
        self._webhook_client: httpx2.AsyncClient | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._base_url = ""
        self._thread: threading.Thread | None = None
        self._thread_stop: asyncio.Event | None = None
        self._handlers: dict[str, _MethodHandler]
        self._handlers = {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendSticker": self._send_sticker,
            "sendChatAction": self._send_chat_action,
            "setWebhook": self._set_webhook,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
        }
        self.bot = self.add_bot(token, name=name)
        """The default bot."""
        self._app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._api, methods=["POST", "GET"]),
                Route("/media/{name}", self._serve_media, methods=["GET", "HEAD"]),
            ]
        )

    # ----------------------------------------------------------------- set-up and state

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``, to pass as ``ZaloBot(base_url=...)``/``ZALO_API_URL``."""
        if not self._base_url:
            raise RuntimeError("FakeZaloBotApi is not started")
        return self._base_url

    @property
    def token(self) -> str:
        """The default bot's token."""
        return self.bot.token

    @property
    def bots(self) -> list[FakeBot]:
        """Every registered bot."""
        return list(self._bots.values())

    def add_bot(self, token: str | None = None, *, name: str | None = None) -> FakeBot:
        """Register another bot token; returns its handle."""
        if token is None:
            token = f"{secrets.randbelow(9 * 10**17) + 10**17}:{secrets.token_urlsafe(24)}"
        if token in self._bots:
            raise ValueError("this token is already registered")
        bot = FakeBot(self, token, name)
        self._bots[token] = bot
        if self._loop is not None:
            self._call_in_loop(self._start_workers, bot)
        return bot

    def user(self, user_id: str, name: str | None = None) -> FakeUser:
        """A user writing to the default bot in a DM."""
        return self.bot.user(user_id, name)

    def group(self, group_id: str, name: str | None = None) -> FakeGroup:
        """A group the default bot is in."""
        return self.bot.group(group_id, name)

    def media_url(self, name: str = "photo.png") -> str:
        """URL of an image the fake serves (a generated PNG unless ``add_media`` set one)."""
        return f"{self.base_url}/media/{urllib.parse.quote(name)}"

    def add_media(self, name: str, content: bytes, content_type: str = "image/png") -> str:
        """Serve ``content`` at ``/media/<name>``; returns its URL."""
        self._media[name] = (content, content_type)
        return self.media_url(name)

    # ----------------------------------------------------------------- faults

    def _add_fault(self, method: str, fault: _Fault) -> None:
        self._faults.setdefault(method, deque()).append(fault)

    def fail_next(
        self, method: str, status: int = 500, *, count: int = 1, html: bool | None = None
    ) -> None:
        """Answer the next ``count`` calls of ``method`` (``"*"`` = any) with HTTP ``status``.

        429, 502, 503 and 504 come as nginx HTML pages unless ``html=False``; other statuses
        as ``{"ok": false, "error_code": status, ...}``.
        """
        as_html = status in (429, 502, 503, 504) if html is None else html
        self._add_fault(method, _Fault("fail", count, status=status, html=as_html))

    def error_next(
        self,
        method: str,
        error_code: int | str = 400,
        description: str = "Bad request",
        *,
        count: int = 1,
    ) -> None:
        """Answer the next ``count`` calls with HTTP 200 ``{"ok": false, error_code, ...}``."""
        fault = _Fault("error", count, error_code=error_code, description=description)
        self._add_fault(method, fault)

    def timeout_next(self, method: str, *, count: int = 1) -> None:
        """Hold the next ``count`` calls without answering until the client gives up."""
        self._add_fault(method, _Fault("timeout", count))

    def drop_next(self, method: str, *, count: int = 1) -> None:
        """Close the connection of the next ``count`` calls without any answer."""
        self._add_fault(method, _Fault("drop", count))

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.remaining -= 1
                if fault.remaining <= 0:
                    queue.popleft()
                return fault
        return None

    # ----------------------------------------------------------------- waiting

    async def wait_for_sent(
        self,
        count: int = 1,
        *,
        chat_id: str | None = None,
        method: str | None = None,
        bot: FakeBot | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - the familiar test-helper signature
    ) -> list[SentRecord]:
        """Wait until at least ``count`` matching messages were sent; returns all matches.

        Raises:
            TimeoutError: fewer than ``count`` matched within ``timeout`` seconds.
        """

        if chat_id is None and method is None and bot is None:
            loop = self._loop
            if loop is None or asyncio.get_running_loop() is loop:
                return await self._wait_sent_total(count, timeout)

        def matches() -> list[SentRecord]:
            return [
                r
                for r in self.sent
                if (chat_id is None or r.chat_id == chat_id)
                and (method is None or r.method == method)
                and (bot is None or r.bot_id == bot.id)
            ]

        return await self._wait_until(
            self._sent_signal, matches, count, timeout, f"{count} sent message(s)"
        )

    async def _wait_sent_total(self, count: int, limit: float) -> list[SentRecord]:
        # Unfiltered: woken once, when the count is reached, instead of re-scanning every
        # record on every send (a benchmark waits for thousands of replies this way).
        if len(self.sent) < count:
            target: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._sent_targets.append((count, target))
            try:
                await asyncio.wait_for(target, limit)
            except TimeoutError:
                seen = len(self.sent)
                raise TimeoutError(
                    f"waited {limit:g} s for {count} sent message(s); saw {seen}"
                ) from None
            finally:
                self._sent_targets = [t for t in self._sent_targets if t[1] is not target]
        return list(self.sent)

    async def wait_for_calls(
        self,
        method: str,
        count: int = 1,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 - the familiar test-helper signature
    ) -> list[ApiCall]:
        """Wait until ``method`` was called at least ``count`` times; returns those calls."""

        def matches() -> list[ApiCall]:
            return [c for c in self.calls if c.method == method]

        return await self._wait_until(
            self._calls_signal, matches, count, timeout, f"{count} {method} call(s)"
        )

    async def _wait_until(
        self,
        signal: _Signal,
        matches: Callable[[], list[_T]],
        count: int,
        limit: float,
        what: str,
    ) -> list[_T]:
        loop = self._loop
        if loop is not None and asyncio.get_running_loop() is not loop:
            # Thread mode: wait inside the fake's loop, where the signals live.
            future = asyncio.run_coroutine_threadsafe(
                self._wait_until(signal, matches, count, limit, what), loop
            )
            return await asyncio.wrap_future(future)
        deadline = time.monotonic() + limit
        while True:
            found = matches()
            if len(found) >= count:
                return found
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"waited {limit:g} s for {what}; saw {len(found)}")
            await signal.wait(remaining)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start serving in the running event loop."""
        if self._listener is not None:
            raise RuntimeError("FakeZaloBotApi is already started")
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._stopping = False
        # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the
        # listening socket says TCP (each connection sets it too, see http_server).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self._port))
            port = sock.getsockname()[1]
            listener = HttpServer(self._dispatch, name="fake Zalo", log=_log)
            await listener.start(sock)
            self._listener = listener
        except BaseException:
            sock.close()
            self._loop = None
            raise
        self._webhook_client = httpx2.AsyncClient(
            timeout=10.0, trust_env=False, verify=shared_tls_context()
        )
        self._base_url = f"http://127.0.0.1:{port}"
        for bot in self._bots.values():
            self._start_workers(bot)

    async def stop(self) -> None:
        """Stop serving: pending long-polls end, held requests are dropped."""
        listener = self._listener
        if listener is None:
            return
        self._stopping = True
        self._stop_signal.notify()
        for bot in self._bots.values():
            bot._signal.notify()
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        # Idle keep-alive connections close now; busy ones close after their answer, and
        # every held request (long-poll, timeout fault) was just woken by the stop signal.
        await listener.stop(grace=2.0)
        if self._webhook_client is not None:
            await self._webhook_client.aclose()
        self._listener = None
        self._webhook_client = None
        self._loop = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start_in_thread(self, timeout: float = 10.0) -> None:
        """Start serving in a background thread with its own event loop (sync callers)."""
        if self._thread is not None:
            raise RuntimeError("FakeZaloBotApi is already started")
        ready = threading.Event()
        failure: list[BaseException] = []

        async def main() -> None:
            self._thread_stop = asyncio.Event()
            try:
                await self.start()
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                return
            ready.set()
            await self._thread_stop.wait()
            await self.stop()

        self._thread = threading.Thread(
            target=asyncio.run, args=(main(),), name="fake-zalo-botapi", daemon=True
        )
        self._thread.start()
        if not ready.wait(timeout):
            raise RuntimeError("FakeZaloBotApi did not start in time")
        if failure:
            self._thread.join()
            self._thread = None
            raise RuntimeError("FakeZaloBotApi failed to start") from failure[0]

    def stop_thread(self, timeout: float = 10.0) -> None:
        """Stop a server started with ``start_in_thread``."""
        thread, loop, stop = self._thread, self._loop, self._thread_stop
        if thread is None:
            return
        if loop is not None and stop is not None:
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._thread = None

    def __enter__(self) -> Self:
        self.start_in_thread()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_thread()

    def _call_in_loop(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn`` in the server's loop: now if we are in it (or it is not started)."""
        loop = self._loop
        if loop is None:
            fn(*args)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def _start_workers(self, bot: FakeBot) -> None:
        for _ in range(self.webhook_concurrency):
            self._workers.append(asyncio.create_task(self._webhook_worker(bot)))

    # ----------------------------------------------------------------- HTTP plumbing

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> _Reply:
        content = _encode_json(body).encode()
        return _Reply(content, status)

    def _ok(self, result: Any = None, *, with_result: bool = True) -> _Reply:
        return self._json({"ok": True, "result": result} if with_result else {"ok": True})

    def _error(self, error_code: int | str, description: str, status: int = 200) -> _Reply:
        return self._json(
            {"ok": False, "error_code": error_code, "description": description}, status
        )

    def _bad_request(self, description: str) -> _Reply:
        return self._error(400, f"Bad request: {description}")

    async def _dispatch(self, exchange: HttpRequest) -> None:
        """Answer one request: the API and media routes here, anything else via ``_app``."""
        path = exchange.path
        if path.startswith("/bot") and exchange.method in ("POST", "GET"):
            token, sep, method = path[4:].partition("/")
            if token and sep and method and "/" not in method:
                _respond(exchange, await self._api_call(token, method, exchange))
                return
        elif path.startswith("/media/") and exchange.method in ("GET", "HEAD"):
            name = path[7:]
            if name and "/" not in name:
                _respond(exchange, self._media_reply(name))
                return
        await exchange.run_asgi(self._app)

    async def _api(self, request: Request) -> Response:
        """The Starlette route of the API (requests the direct path did not take)."""
        exchange = _exchange_of(request)
        reply = await self._api_call(
            request.path_params["token"], request.path_params["method"], exchange
        )
        return _starlette_response(reply)

    async def _api_call(self, token: str, method: str, request: HttpRequest) -> _Reply:
        body = request.body
        payload: Any = {}
        if body.strip():
            try:
                payload = json.loads(body)
            except ValueError:
                return self._bad_request("The request body is not valid JSON")
            if not isinstance(payload, dict):
                return self._bad_request("The request body must be a JSON object")
        bot = self._bots.get(token)
        self.calls.append(ApiCall(method, bot.id if bot else None, payload, time.time()))
        self._calls_signal.notify()
        fault = self._take_fault(method)
        if fault is not None:
            return await self._apply_fault(fault, request)
        if bot is None:
            return self._error(401, "Unauthorized")
        handler = self._handlers.get(method)
        if handler is None or request.method != "POST":
            return self._error(404, "Not Found")
        return await handler(bot, payload, request)

    async def _apply_fault(self, fault: _Fault, request: HttpRequest) -> _Reply:
        if fault.kind == "error":
            return self._error(fault.error_code or 400, fault.description or "Bad request")
        if fault.kind == "fail":
            reason = _REASONS.get(fault.status, "Error")
            if fault.html:
                page = (
                    f"<html>\r\n<head><title>{fault.status} {reason}</title></head>\r\n<body>\r\n"
                    f"<center><h1>{fault.status} {reason}</h1></center>\r\n"
                    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                )
                return _Reply(page.encode(), fault.status, "text/html; charset=utf-8")
            return self._error(fault.status, reason, fault.status)
        if fault.kind == "timeout":
            await self._hold_until_gone(request)
        request.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(request.wait_gone(), 1.0)
        return _Reply(b"", 500)  # never written: the connection is closed

    async def _hold_until_gone(self, request: HttpRequest) -> bool:
        """Wait until the client disconnects or the server stops; True if the client left."""
        disconnect = asyncio.ensure_future(request.wait_gone())
        stop = asyncio.ensure_future(self._stop_signal.wait())
        try:
            await asyncio.wait({disconnect, stop}, return_when="FIRST_COMPLETED")
            return disconnect.done()
        finally:
            disconnect.cancel()
            stop.cancel()

    # ----------------------------------------------------------------- methods

    async def _get_me(self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest) -> _Reply:
        return self._ok(
            {
                "id": bot.id,
                "account_name": bot.name,
                "account_type": "BASIC",
                "can_join_groups": False,
            }
        )

    def _empty_poll(self) -> _Reply:
        if self.empty_poll == "empty-result":
            return self._ok({})
        status = 408 if self.empty_poll == "http408" else 200
        return self._error(408, "Request timeout", status)

    async def _get_updates(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> _Reply:
        if bot.webhook_url and self.poll_while_webhook == "conflict":
            return self._error(409, "Conflict: getUpdates is not available while a webhook is set")
        try:
            hold = float(payload.get("timeout", 30))
        except (TypeError, ValueError):
            return self._bad_request("The timeout must be a number of seconds")
        hold = min(max(hold, 0.0), self.max_poll_timeout)
        if bot._pending and not bot.webhook_url:
            return self._ok(bot._hand_out())
        deadline = time.monotonic() + hold
        disconnect = asyncio.ensure_future(request.wait_gone())
        bot.waiting_polls += 1
        try:
            while not self._stopping and not disconnect.done():
                if bot._pending and not bot.webhook_url:
                    return self._ok(bot._hand_out())
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wake = asyncio.ensure_future(bot._signal.wait(remaining))
                await asyncio.wait({wake, disconnect}, return_when="FIRST_COMPLETED")
                wake.cancel()
        finally:
            bot.waiting_polls -= 1
            disconnect.cancel()
        return self._empty_poll()

    def _record_send(self, bot: FakeBot, method: str, chat_id: str, **fields: str | None) -> str:
        message_id = _new_id()
        self.sent.append(SentRecord(method, bot.id, chat_id, message_id, time.time(), **fields))
        self._sent_signal.notify()
        if self._sent_targets:
            total = len(self.sent)
            for count, target in self._sent_targets:
                if total >= count and not target.done():
                    target.set_result(None)
        return message_id

    @staticmethod
    def _chat_id(payload: dict[str, Any]) -> str | None:
        chat_id = payload.get("chat_id")
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            chat_id = str(chat_id)
        return chat_id if isinstance(chat_id, str) and chat_id.strip() else None

    def _sent_response(self, message_id: str) -> _Reply:
        return self._ok({"message_id": message_id, "date": _now_ms()})

    async def _send_message(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> _Reply:
        chat_id = self._chat_id(payload)
        if chat_id is None:
            return self._bad_request("The chat_id must not be empty")
        text = payload.get("text")
        if not isinstance(text, str) or not text or utf16_len(text) > _TEXT_LIMIT:
            return self._bad_request(f"The text must be between 1 and {_TEXT_LIMIT} characters")
        return self._sent_response(self._record_send(bot, "sendMessage", chat_id, text=text))

    async def _send_photo(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> _Reply:
        chat_id = self._chat_id(payload)
        if chat_id is None:
            return self._bad_request("The chat_id must not be empty")
        photo = payload.get("photo")
        if not isinstance(photo, str) or not _is_http_url(photo):
            return self._bad_request("The photo must be an HTTP or HTTPS URL")
        caption = payload.get("caption")
        if caption is not None and (
            not isinstance(caption, str) or utf16_len(caption) > _TEXT_LIMIT
        ):
            return self._bad_request(f"The caption must be at most {_TEXT_LIMIT} characters")
        message_id = self._record_send(bot, "sendPhoto", chat_id, photo=photo, caption=caption)
        return self._sent_response(message_id)

    async def _send_sticker(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> _Reply:
        chat_id = self._chat_id(payload)
        if chat_id is None:
            return self._bad_request("The chat_id must not be empty")
        sticker = payload.get("sticker")
        if not isinstance(sticker, str) or not sticker.strip():
            return self._bad_request("The sticker must not be empty")
        return self._sent_response(self._record_send(bot, "sendSticker", chat_id, sticker=sticker))

    async def _send_chat_action(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> _Reply:
        if self._chat_id(payload) is None:
            return self._bad_request("The chat_id must not be empty")
        if payload.get("action") not in _CHAT_ACTIONS:
            return self._bad_request("The action must be typing or upload_photo")
        self.chat_actions.append(ApiCall("sendChatAction", bot.id, payload, time.time()))
        return self._ok(with_result=False)

    async def _set_webhook(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> _Reply:
        url = payload.get("url")
        secret = payload.get("secret_token")
        if not isinstance(url, str) or not _is_webhook_url(url):
            return self._bad_request("The url must be an HTTPS URL")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            return self._bad_request("The secret_token must be 8-256 characters")
        bot.webhook_url = url
        bot.webhook_secret = secret
        bot.webhook_updated_at = _now_ms()
        bot._signal.notify()
        return self._ok({"url": url, "updated_at": bot.webhook_updated_at})

    async def _delete_webhook(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> _Reply:
        bot.webhook_url = ""
        bot.webhook_secret = ""
        bot.webhook_updated_at = _now_ms()
        bot._signal.notify()
        return self._ok({"url": "", "updated_at": bot.webhook_updated_at})

    async def _get_webhook_info(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> _Reply:
        if not bot.webhook_url:
            return self._error(404, "Not Found", 404)
        return self._ok({"url": bot.webhook_url, "updated_at": bot.webhook_updated_at})

    def _media_reply(self, name: str) -> _Reply:
        self.media_requests.append(name)
        content, content_type = self._media.get(name) or (make_png(), "image/png")
        if content_type.startswith("text/") and "charset=" not in content_type.lower():
            content_type += "; charset=utf-8"
        return _Reply(content, 200, content_type)

    async def _serve_media(self, request: Request) -> Response:
        """The Starlette route of the media files (requests the direct path did not take)."""
        return _starlette_response(self._media_reply(request.path_params["name"]))

    # ----------------------------------------------------------------- webhook delivery

    def _delivery_url(self, url: str) -> str:
        """Where a POST for the registered ``url`` really goes (see ``deliver_webhooks_to``)."""
        base = self.deliver_webhooks_to
        if not base:
            return url
        parts = urllib.parse.urlsplit(url)
        query = f"?{parts.query}" if parts.query else ""
        return f"{base.rstrip('/')}{parts.path or '/'}{query}"

    async def _webhook_worker(self, bot: FakeBot) -> None:
        while not self._stopping:
            if bot.webhook_url and bot._pending:
                await self._deliver(bot, bot._hand_out())
            else:
                await bot._signal.wait()

    async def _deliver(self, bot: FakeBot, update: dict[str, Any]) -> None:
        assert self._webhook_client is not None
        url, secret = bot.webhook_url, bot.webhook_secret
        target = self._delivery_url(url)
        content = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "X-Bot-Api-Secret-Token": secret}
        status: int | None = None
        error: str | None = None
        for delay in (0.0, *self.webhook_retry_delays):
            if delay:
                await asyncio.sleep(delay)
            if bot.webhook_url != url:
                # The webhook changed or was deleted meanwhile: hand the update to the new mode.
                bot._pending.appendleft(update)
                bot._signal.notify()
                return
            try:
                response = await self._webhook_client.post(target, content=content, headers=headers)
            except httpx2.HTTPError as exc:
                status, error = None, type(exc).__name__
                continue
            status, error = response.status_code, None
            if status == 200:
                self.webhook_deliveries += 1
                return
        _log.warning("fake Zalo gave up a webhook delivery (status=%s, error=%s)", status, error)
        self.webhook_failures.append(WebhookFailure(bot.id, url, update, status, error))


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def _is_http_url(value: str) -> bool:
    parts = urllib.parse.urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_webhook_url(value: str) -> bool:
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _exchange_of(request: Request) -> HttpRequest:
    """The ``HttpRequest`` behind a Starlette request (its ``receive`` is the request's)."""
    owner = getattr(request.receive, "__self__", None)
    if not isinstance(owner, HttpRequest):
        raise TypeError("this request did not come through FakeZaloBotApi's server")
    return owner


def _starlette_response(reply: _Reply) -> Response:
    response = Response(reply.body, status_code=reply.status, headers=dict(reply.headers))
    response.headers["content-type"] = reply.content_type
    return response
