"""The personal-account websocket listener: key frame, pings, typed events, reconnection.

Usage::

    async with Listener(session, http, on_file_done=api.resolve_file_done) as listener:
        async for event in listener:
            match event:
                case UserMessage(): ...
                case Disconnected(will_retry=False): ...

The iterator yields the typed events of :mod:`zalogate.personal.events` plus the lifecycle
events :class:`Connected` and :class:`Disconnected`. It ends (``StopAsyncIteration``) after
:meth:`Listener.close`; when the server ends the session for good it raises
:class:`ListenerReplacedError` (close 3000: Zalo Web was opened elsewhere; the listener stops
rather than fight over the session) or :class:`ListenerClosedError` (retries exhausted, kicked,
cookies rejected...). Callbacks (``on_event``) work with or without iteration.

Reconnection follows the server's ``settings.features.socket``: codes in
``close_and_retry_codes`` are retried ``retries[code].max`` times after ``retries[code].times``
ms (jittered), rotating over ``zpw_ws`` for ``rotate_error_codes``; the budgets reset once a
connection stayed up ``stable_after_s``. Failures the server does not describe (connect errors,
a dead socket found by the watchdog, a server-side 1000) back off with
:class:`zalogate.backoff.Backoff`. A watchdog notices host sleep (wall clock jumping ahead of
the loop's timers) and silent sockets (no frame for ``stale_after_pings`` ping intervals and
no answer to a websocket ping) and reconnects.

Garbage frames (bad header, bad JSON, failed AES-GCM tag...) are logged and skipped; they never
end the listener. No log line carries the cookie or the cipher key.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI
from websockets.typing import Origin

from zalogate.backoff import Backoff, BackoffConfig
from zalogate.personal import frames
from zalogate.personal.errors import ConfigurationError, ListenerError
from zalogate.personal.event_parsing import parse_event
from zalogate.personal.events import (
    Delivered,
    Event,
    FileDone,
    FriendEvent,
    GroupEvent,
    Message,
    Reaction,
    Seen,
    Undo,
)
from zalogate.personal.listener_lifecycle import (
    CloseReason,
    Connected,
    Disconnected,
    ListenerClosedError,
    ListenerEvent,
    ListenerReplacedError,
)
from zalogate.personal.reconnect import Reconnector, ReconnectPolicy
from zalogate.personal.session import Endpoints, Session, ThreadType

__all__ = [
    "CookieSource",
    "Listener",
    "ListenerStats",
]

log = logging.getLogger(__name__)

ORIGIN: Final = "https://chat.zalo.me"
COOKIE_FALLBACK_URL: Final = "https://chat.zalo.me"
DEFAULT_PING_INTERVAL_MS: Final = 20_000
_EVENT_CMDS: Final = frozenset({501, 502, 510, 511, 521, 522, 601, 602, 610, 611, 612})
_MAX_FRAME: Final = 16 * 1024 * 1024
#: The events that say whether the account itself caused them (``is_self``).
_SELF_AWARE: Final = (Message, Undo, Reaction, Delivered, Seen, GroupEvent, FriendEvent)


class CookieSource(Protocol):
    """What the listener needs from the HTTP layer (``PersonalHttp`` satisfies it)."""

    @property
    def user_agent(self) -> str:
        """The browser user agent the cookies are bound to."""
        ...

    def cookie_header(self, url: str) -> str:
        """The ``Cookie`` header value for ``url``."""
        ...


def _ping_interval_ms(settings: Mapping[str, Any]) -> float:
    features = settings.get("features")
    socket = features.get("socket") if isinstance(features, Mapping) else None
    value = socket.get("ping_interval") if isinstance(socket, Mapping) else None
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    # zca-js would ping in a tight loop without it; a sane default instead.
    return float(DEFAULT_PING_INTERVAL_MS)


@dataclass(slots=True)
class ListenerStats:
    """Counters for status output and tests."""

    connections: int = 0
    frames: int = 0
    events: int = 0
    bad_frames: int = 0
    pings_sent: int = 0
    probes: int = 0


class _End:
    """Queue sentinel: the listener finished."""


_END: Final = _End()

EventCallback = Callable[[ListenerEvent], Awaitable[None] | None]
FileDoneCallback = Callable[[str, str], Any]


class Listener:
    """Receives the account's websocket events (see the module docstring).

    Args:
        session: the logged-in session (uid, imei, ``ws_urls``, ``settings``).
        http: the cookie source and user agent (``PersonalHttp``).
        endpoints: ``ws_url_override`` replaces ``session.ws_urls`` (fakes, drift).
        reconnect: ``True`` follows the server's retry settings, ``False`` never reconnects,
            a :class:`ReconnectPolicy` overrides the server's.
        self_listen: deliver the account's own messages from its other sessions
            (``is_self`` true); ``False`` drops them, as zca-js does by default.
        on_event: called (and awaited if it returns an awaitable) for every event.
        on_file_done: ``(file_id, url)`` for each 601 ``file_done`` control (e.g.
            ``PersonalApi.resolve_file_done``).
        buffer_events: keep events for ``async for`` (bounded by ``max_queue``; a full queue
            pauses reading the socket). Set ``False`` when only ``on_event`` is used.
        backoff: delays for failures the server's rules do not cover.
        ping_interval_s: override ``settings.features.socket.ping_interval``.
        stale_after_pings: silent ping intervals before the watchdog probes the socket.
        pong_timeout_s: how long the probe waits for a websocket pong.
        sleep_jump_s: a wall-clock or timer jump beyond this means the host slept.
        stable_after_s: a connection this old resets the retry budgets.
        open_timeout_s: deadline of the opening handshake, and then of the key frame.
        wall_clock: seconds since the epoch (tests inject jumps).
        rng: jitter source.
        proxy: proxy URL of the websocket (the HTTP calls' proxy; None: direct).

    Raises:
        ConfigurationError: no websocket URL at all.
    """

    def __init__(
        self,
        session: Session,
        http: CookieSource,
        *,
        endpoints: Endpoints | None = None,
        reconnect: bool | ReconnectPolicy = True,
        self_listen: bool = True,
        on_event: EventCallback | None = None,
        on_file_done: FileDoneCallback | None = None,
        buffer_events: bool = True,
        max_queue: int = 1024,
        backoff: BackoffConfig | None = None,
        ping_interval_s: float | None = None,
        stale_after_pings: float = 3.0,
        pong_timeout_s: float = 10.0,
        sleep_jump_s: float = 30.0,
        stable_after_s: float = 60.0,
        open_timeout_s: float = 15.0,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        proxy: str | None = None,
    ) -> None:
        override = endpoints.ws_url_override if endpoints is not None else None
        urls = (override,) if override else tuple(session.ws_urls)
        if not urls:
            raise ConfigurationError("the session has no websocket URL (zpw_ws) and none was given")
        self.session = session
        self._http = http
        self._proxy = proxy
        self._urls = urls
        self._url_index = 0
        self._self_listen = self_listen
        self._on_event = on_event
        self._on_file_done = on_file_done
        self._queue: asyncio.Queue[ListenerEvent | _End] | None = (
            asyncio.Queue(max_queue) if buffer_events else None
        )
        if isinstance(reconnect, ReconnectPolicy):
            policy: ReconnectPolicy | None = reconnect
        else:
            policy = ReconnectPolicy.from_settings(session.settings) if reconnect else None
        self._rng = rng or random.Random()
        self._reconnector = Reconnector(
            policy,
            Backoff(backoff or BackoffConfig(min_delay=1.0, max_delay=30.0), rng=self._rng),
            self._rng,
            stable_after_s=stable_after_s,
        )
        self._ping_interval_s = (
            ping_interval_s
            if ping_interval_s is not None
            else _ping_interval_ms(session.settings) / 1000.0
        )
        self._stale_after_s = stale_after_pings * self._ping_interval_s
        self._pong_timeout_s = pong_timeout_s
        self._sleep_jump_s = sleep_jump_s
        self._open_timeout_s = open_timeout_s
        self._wall = wall_clock
        self._stop = asyncio.Event()
        self._ready = asyncio.Event()
        self._done = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: ClientConnection | None = None
        self._connecting = False
        self._cipher = frames.EventCipher(None)
        self._local_reason: CloseReason | None = None
        self._local_detail = ""
        self._key_at: float | None = None
        self._last_frame = 0.0
        self._backpressured = False
        self._final: Disconnected | None = None
        self._req_ids = 0
        self.stats = ListenerStats()

    def __repr__(self) -> str:
        state = "closed" if self._done.is_set() else "connected" if self.connected else "idle"
        return f"Listener(uid={self.session.uid!r}, {state}, urls={len(self._urls)})"

    # ---------------------------------------------------------------- lifecycle

    @property
    def connected(self) -> bool:
        """A websocket is open and its cipher key arrived."""
        return self._ready.is_set()

    @property
    def running(self) -> bool:
        """Started and not finished."""
        return self._task is not None and not self._done.is_set()

    @property
    def final(self) -> Disconnected | None:
        """How the listener ended (``None`` while it runs)."""
        return self._final if self._done.is_set() else None

    @property
    def url(self) -> str:
        """The websocket endpoint in use (or next to be tried)."""
        return self._urls[self._url_index]

    async def start(self) -> None:
        """Start connecting in the background (returns at once; see :meth:`wait_connected`).

        Raises:
            ListenerError: already started, or closed.
        """
        if self._done.is_set():
            raise ListenerError("listener is closed; create a new one")
        if self._task is not None:
            raise ListenerError("listener already started")
        self._task = asyncio.create_task(self._run(), name=f"zalo-listener-{self.session.uid}")

    async def wait_connected(self, timeout_s: float | None = None) -> None:
        """Wait until a connection is ready (key received).

        Raises:
            ListenerClosedError: the listener ended first (``ListenerReplacedError`` for 3000).
            TimeoutError: ``timeout_s`` passed.
        """
        if self._task is None and not self._done.is_set():
            await self.start()
        async with asyncio.timeout(timeout_s):
            ready = asyncio.ensure_future(self._ready.wait())
            done = asyncio.ensure_future(self._done.wait())
            try:
                await asyncio.wait({ready, done}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ready.cancel()
                done.cancel()
        if not self._ready.is_set():
            self._raise_end()

    async def close(self) -> None:
        """Close the websocket (code 1000) and stop; idempotent."""
        self._stop.set()
        task = self._task
        if task is None:
            self._finish(Disconnected(CloseReason.MANUAL, None, "never started", False))
            return
        conn = self._conn
        if task is asyncio.current_task():
            # Called from an on_event callback: the loop ends by itself once the socket closes.
            if conn is not None:
                self._local_reason = CloseReason.MANUAL
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(conn.close(1000, "manual"), timeout=5.0)
            return
        if self._connecting or self._backpressured:
            task.cancel()  # the handshake or a full queue would make us wait; a retry wait wakes
        if conn is not None:
            self._local_reason = CloseReason.MANUAL
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(1000, "manual"), timeout=5.0)
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5.0)
        except TimeoutError:
            task.cancel()
        except asyncio.CancelledError:
            if not task.done():
                raise  # close() itself was cancelled
        await asyncio.gather(task, return_exceptions=True)

    async def wait_closed(self) -> Disconnected:
        """Wait until the listener ended; how it ended."""
        await self._done.wait()
        assert self._final is not None
        return self._final

    async def __aenter__(self) -> Listener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> Listener:
        if self._queue is None:
            raise ListenerError("buffer_events=False: this listener delivers through on_event")
        return self

    async def __anext__(self) -> ListenerEvent:
        queue = self._queue
        if queue is None:
            raise ListenerError("buffer_events=False: this listener delivers through on_event")
        if self._task is None and not self._done.is_set():
            await self.start()
        while True:
            if queue.empty() and self._done.is_set():
                self._raise_end()
            item = await queue.get()
            if isinstance(item, _End):
                continue  # loop: _done is set, the check above ends the iteration
            return item

    def _raise_end(self) -> None:
        final = self._final
        if final is None or final.reason is CloseReason.MANUAL:
            raise StopAsyncIteration
        if final.reason is CloseReason.DUPLICATE_CONNECTION:
            raise ListenerReplacedError(final)
        raise ListenerClosedError(final)

    # ---------------------------------------------------------------- sending

    async def send(
        self, cmd: int, sub_cmd: int, payload: Mapping[str, Any], *, with_req_id: bool = True
    ) -> str | None:
        """Send a request frame; returns the ``req_id`` added (``req_<n>``), if any.

        Raises:
            ListenerError: not connected.
        """
        conn = self._conn
        if conn is None or not self._ready.is_set():
            raise ListenerError("the listener is not connected")
        body = dict(payload)
        req_id = None
        if with_req_id:
            req_id = f"req_{self._req_ids}"
            self._req_ids += 1
            body["req_id"] = req_id
        try:
            await conn.send(frames.encode_frame(cmd, sub_cmd, body))
        except ConnectionClosed as exc:
            raise ListenerError("the websocket closed while sending") from exc
        return req_id

    async def request_old_messages(
        self, thread_type: ThreadType | str, last_msg_id: str | None = None
    ) -> str:
        """Ask for recent messages (answered by an ``OldMessages`` event with this req_id)."""
        cmd = 510 if thread_type == ThreadType.USER else 511
        body: dict[str, Any] = {"first": True, "lastId": last_msg_id, "preIds": []}
        req_id = await self.send(cmd, 1, body)
        assert req_id is not None
        return req_id

    async def request_old_reactions(
        self, thread_type: ThreadType | str, last_msg_id: str | None = None
    ) -> str:
        """Ask for recent reactions (answered by an ``OldReactions`` event)."""
        cmd = 610 if thread_type == ThreadType.USER else 611
        body: dict[str, Any] = {"first": True, "lastId": last_msg_id, "preIds": []}
        req_id = await self.send(cmd, 1, body)
        assert req_id is not None
        return req_id

    # ---------------------------------------------------------------- the loop

    async def _run(self) -> None:
        final: Disconnected | None = None
        try:
            while not self._stop.is_set():
                reason, code, detail, up_for = await self._connection()
                if self._stop.is_set():
                    break
                retry, delay, rotate = self._reconnector.plan(reason, code, up_for)
                event = Disconnected(reason, code, detail, retry, delay if retry else None)
                log.info(
                    "zalo listener %s disconnected: %s (code %s)%s",
                    self.session.uid,
                    reason.value,
                    code,
                    f", retrying in {delay:.2f} s" if retry else ", stopping",
                )
                if not retry:
                    final = event
                    break
                await self._emit(event)
                if rotate and len(self._urls) > 1:
                    self._url_index = (self._url_index + 1) % len(self._urls)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)
            final = final or Disconnected(CloseReason.MANUAL, 1000, "closed by the client", False)
            await self._callback(final)
        except asyncio.CancelledError:
            final = final or Disconnected(CloseReason.MANUAL, None, "closed by the client", False)
            raise
        except Exception as exc:  # a bug here must still end the iteration, loudly
            log.exception("zalo listener %s crashed", self.session.uid)
            final = Disconnected(CloseReason.OTHER, None, f"internal error: {exc!r}", False)
        finally:
            self._finish(final or Disconnected(CloseReason.MANUAL, None, "closed", False))

    def _finish(self, final: Disconnected) -> None:
        if self._done.is_set():
            return
        self._final = final
        self._ready.clear()
        if self._queue is not None:
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(final)
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(_END)
        self._done.set()

    def _connect_url(self) -> str:
        """The endpoint with ``t=<ms>`` (fresh each time) and ``zpw_ver``/``zpw_type``."""
        parts = urlsplit(self.url)
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "t"]
        names = {k for k, _ in query}
        query.insert(0, ("t", str(int(self._wall() * 1000))))
        if "zpw_ver" not in names:
            query.append(("zpw_ver", str(self.session.client_version)))
        if "zpw_type" not in names:
            query.append(("zpw_type", "30"))
        return urlunsplit(parts._replace(query=urlencode(query)))

    def _headers(self, url: str) -> dict[str, str]:
        cookie = self._http.cookie_header(url) or self._http.cookie_header(COOKIE_FALLBACK_URL)
        headers = {
            "Accept-Encoding": "gzip, deflate, br, zstd",
            "Accept-Language": "en-US,en;q=0.9",
            "Cache-Control": "no-cache",
            "Pragma": "no-cache",
        }
        if cookie:
            headers["Cookie"] = cookie
        return headers

    async def _connection(self) -> tuple[CloseReason, int | None, str, float | None]:
        """One connection from connect to close: (reason, code, detail, seconds up)."""
        url = self._connect_url()
        self._local_reason = None
        self._local_detail = ""
        self._connecting = True
        try:
            conn = await connect(
                url,
                origin=Origin(ORIGIN),
                additional_headers=self._headers(self.url),
                user_agent_header=self._http.user_agent,
                compression="deflate",
                open_timeout=self._open_timeout_s,
                ping_interval=None,  # keep-alive is the protocol's own 1/2/1 ping
                close_timeout=2.0,
                max_size=_MAX_FRAME,
                proxy=self._proxy,  # the session's proxy, never one from the environment
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            reason = CloseReason.REJECTED if status in (401, 403) else CloseReason.CONNECT_FAILED
            return reason, None, f"HTTP {status} on the websocket upgrade", None
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            return CloseReason.CONNECT_FAILED, None, type(exc).__name__, None
        finally:
            self._connecting = False
        self._conn = conn
        self._cipher = frames.EventCipher(None)
        self._key_at = None
        self._last_frame = time.monotonic()
        helpers: list[asyncio.Task[None]] = []
        try:
            helpers.append(asyncio.create_task(self._watchdog(conn)))
            await self._read(conn, helpers)
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            self._conn = None
            self._ready.clear()
        code = conn.close_code
        detail = self._local_detail or conn.close_reason or ""
        reason = self._local_reason or CloseReason.from_code(code)
        up_for = time.monotonic() - self._key_at if self._key_at is not None else None
        return reason, code, detail, up_for

    async def _read(self, conn: ClientConnection, helpers: list[asyncio.Task[None]]) -> None:
        try:
            async for message in conn:
                self._last_frame = time.monotonic()
                if isinstance(message, str):
                    continue  # only binary frames carry the protocol
                self.stats.frames += 1
                try:
                    await self._on_frame(conn, message, helpers)
                except Exception:  # a bug must cost one frame, never the listener
                    self.stats.bad_frames += 1
                    log.exception("zalo listener %s failed on a frame", self.session.uid)
        except ConnectionClosed:
            pass

    async def _on_frame(
        self, conn: ClientConnection, data: bytes, helpers: list[asyncio.Task[None]]
    ) -> None:
        try:
            if len(data) <= 4:
                if len(data) < 4:
                    raise frames.FrameError(f"frame of {len(data)} bytes has no header")
                return  # header only: nothing to do (the reference client ignores these too)
            _, cmd, sub_cmd = frames.decode_header(data)
            if cmd in _EVENT_CMDS:
                cmd, sub_cmd, payload = self._cipher.decode_frame(data)
                await self._dispatch(parse_event(cmd, sub_cmd, payload, own_uid=self.session.uid))
            elif cmd == frames.CMD_KEY and sub_cmd == 1:
                body = frames.decode_frame(data).body
                self._cipher = frames.EventCipher(frames.parse_cipher_key(body))
                first = self._key_at is None
                self._key_at = time.monotonic()
                if first:
                    helpers.append(asyncio.create_task(self._pinger(conn)))
                    self.stats.connections += 1
                    self._ready.set()
                    log.info("zalo listener %s connected", self.session.uid)
                    await self._emit(Connected(self.url, self.stats.connections))
            elif cmd == frames.CMD_DUPLICATE:
                log.warning(
                    "zalo listener %s: another Zalo Web session opened; stopping this one",
                    self.session.uid,
                )
                self._local_reason = CloseReason.DUPLICATE_CONNECTION
                await conn.close(3000, "Another connection is opened")
            elif cmd == frames.CMD_PING:
                pass  # the server's answer to our ping (format undocumented)
            else:
                payload = self._cipher.decode_frame(data)[2]
                await self._dispatch(parse_event(cmd, sub_cmd, payload, own_uid=self.session.uid))
        except frames.FrameError as exc:
            self.stats.bad_frames += 1
            log.warning(
                "zalo listener %s skipped a bad frame (%d bytes): %s",
                self.session.uid,
                len(data),
                exc,
            )

    async def _dispatch(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, FileDone) and self._on_file_done is not None:
                try:
                    self._on_file_done(event.file_id, event.url)
                except Exception:
                    log.exception("on_file_done failed for file %s", event.file_id)
            if not self._self_listen and isinstance(event, _SELF_AWARE) and event.is_self:
                continue
            self.stats.events += 1
            await self._emit(event)

    async def _callback(self, event: ListenerEvent) -> None:
        if self._on_event is None:
            return
        try:
            result = self._on_event(event)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_event failed for %s", type(event).__name__)

    async def _emit(self, event: ListenerEvent) -> None:
        await self._callback(event)
        queue = self._queue
        if queue is None:
            return
        if queue.full():
            self._backpressured = True  # the watchdog must not mistake this for a dead socket
            try:
                await queue.put(event)
            finally:
                self._backpressured = False
                self._last_frame = time.monotonic()
        else:
            queue.put_nowait(event)

    async def _pinger(self, conn: ClientConnection) -> None:
        interval = self._ping_interval_s
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(interval)
                await conn.send(frames.ping_frame(int(self._wall() * 1000)))
                self.stats.pings_sent += 1

    async def _watchdog(self, conn: ClientConnection) -> None:
        tick = max(0.01, min(self._ping_interval_s, 5.0))
        last_mono, last_wall = time.monotonic(), self._wall()
        opened = last_mono
        with contextlib.suppress(ConnectionClosed):
            while True:
                await asyncio.sleep(tick)
                mono, wall = time.monotonic(), self._wall()
                jump = max(wall - last_wall, mono - last_mono) - tick
                last_mono, last_wall = mono, wall
                if jump > self._sleep_jump_s:
                    log.warning(
                        "zalo listener %s: host slept %.0f s; reconnecting",
                        self.session.uid,
                        jump,
                    )
                    self._abort(conn, CloseReason.HOST_SLEEP, f"host slept {jump:.0f} s")
                    return
                if self._key_at is None and mono - opened > self._open_timeout_s:
                    log.warning("zalo listener %s: no key frame; reconnecting", self.session.uid)
                    self._abort(conn, CloseReason.STALE, "no key frame after the upgrade")
                    return
                if self._backpressured or mono - self._last_frame < self._stale_after_s:
                    continue
                self.stats.probes += 1
                pong = await conn.ping()
                try:
                    await asyncio.wait_for(pong, timeout=self._pong_timeout_s)
                except TimeoutError:
                    log.warning(
                        "zalo listener %s: no frame and no pong; reconnecting", self.session.uid
                    )
                    self._abort(conn, CloseReason.STALE, "no frame and no pong")
                    return
                self._last_frame = time.monotonic()

    def _abort(self, conn: ClientConnection, reason: CloseReason, detail: str) -> None:
        self._local_reason = reason
        self._local_detail = detail
        conn.transport.abort()
