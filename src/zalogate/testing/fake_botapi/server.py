"""``FakeZaloBotApi``: the fake Bot API server (see the package docstring)."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

import httpx2
from starlette.applications import Starlette
from starlette.routing import Route

from zalogate.net.tls import shared_tls_context
from zalogate.testing.fake_botapi.actors import FakeBot, FakeGroup, FakeUser
from zalogate.testing.fake_botapi.models import (
    ApiCall,
    EmptyPoll,
    Fault,
    MethodHandler,
    PollWhileWebhook,
    SentRecord,
    Signal,
    T,
    WebhookFailure,
    log,
)
from zalogate.testing.fake_botapi.routes import Routes
from zalogate.testing.fake_botapi.webhook import WebhookDelivery
from zalogate.testing.http_server import HttpServer


class FakeZaloBotApi(Routes, WebhookDelivery):
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
        self._faults: dict[str, deque[Fault]] = {}
        self._media: dict[str, tuple[bytes, str]] = {}
        self._sent_signal = Signal()
        self._sent_targets: list[tuple[int, asyncio.Future[None]]] = []
        self._calls_signal = Signal()
        self._stop_signal = Signal()
        self._stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: HttpServer | None = None
        self._webhook_client: httpx2.AsyncClient | None = None
        self._workers: list[asyncio.Task[None]] = []
        self._base_url = ""
        self._thread: threading.Thread | None = None
        self._thread_stop: asyncio.Event | None = None
        self._handlers: dict[str, MethodHandler]
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
        signal: Signal,
        matches: Callable[[], list[T]],
        count: int,
        limit: float,
        what: str,
    ) -> list[T]:
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
            listener = HttpServer(self._dispatch, name="fake Zalo", log=log)
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
