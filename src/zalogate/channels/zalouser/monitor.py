"""The monitor of one ``zalouser`` account: the websocket listener -> the inbox.

:class:`AccountMonitor` runs until the gateway stops it or the listener ends:

* every message event is normalised (:mod:`.inbound`; the account's own messages are
  dropped) and handed to ``admit`` in arrival order; ``file_done`` controls resolve pending
  file uploads. Admissions overlap (:class:`_Admissions`): ``admit`` returns only after the
  durable commit, and waiting for each commit before reading the next event would cap the
  account at one commit per message. Messages of one conversation are still admitted one
  after the other, in arrival order (from there on, order is the inbox's job); an admission
  that fails ends the monitor with its error, as a failed ``admit`` always did;
* after every (re)connection it asks Zalo for the messages it missed (:mod:`.catch_up`) and
  admits them like live ones (the inbox drops the ones it already has);
* a disconnection reports the account degraded (``health``) until the listener is connected
  again; every reconnection of a running listener is counted (``reconnected``);
* refreshed cookies are written back every ``refresh_s`` and when the monitor ends;
* when the listener ends for good it raises: :class:`~.errors.DuplicateConnectionError`
  (``fatal``: Zalo Web was opened elsewhere; the account stops instead of fighting) or
  :class:`~.errors.ListenerStoppedError` (the runtime restarts the account with backoff, with
  a fresh login).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from zalogate.channels.zalouser.catch_up import CatchUp, CatchUpCursor, CatchUpOptions
from zalogate.channels.zalouser.connection import AccountConnection
from zalogate.channels.zalouser.errors import DuplicateConnectionError, ListenerStoppedError
from zalogate.channels.zalouser.inbound import GroupInfoCache, normalize_message
from zalogate.core.model import InboundMessage
from zalogate.personal.errors import ListenerError
from zalogate.personal.events import (
    FriendEvent,
    GroupEvent,
    GroupMessage,
    OldMessages,
    Undo,
    UserMessage,
)
from zalogate.personal.listener import Listener
from zalogate.personal.listener_lifecycle import (
    CloseReason,
    Connected,
    Disconnected,
    ListenerClosedError,
    ListenerReplacedError,
)
from zalogate.personal.reconnect import ReconnectPolicy

__all__ = ["AccountMonitor", "ListenerState", "MonitorOptions"]

log = logging.getLogger(__name__)

Admit = Callable[[InboundMessage], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class MonitorOptions:
    """Knobs of a monitor (tests shorten them).

    Attributes:
        reconnect: ``True`` follows Zalo's reconnect rules inside the listener; ``False``
            ends the monitor at the first close (the runtime restarts it); or a policy.
        connect_timeout_s: How long the first connection may take.
        refresh_s: Seconds between write-backs of refreshed cookies.
        listener_options: Extra keyword arguments for :class:`Listener`.
        max_admitting: Admissions in flight at most; the next event waits for a place.
        cursor_every_s: Seconds between saves of the catch-up cursor while connected.
    """

    reconnect: bool | ReconnectPolicy = True
    connect_timeout_s: float = 30.0
    refresh_s: float = 600.0
    listener_options: dict[str, Any] | None = None
    max_admitting: int = 256
    cursor_every_s: float = 30.0


@dataclass(slots=True)
class ListenerState:
    """What ``probe`` and status show about an account's listener."""

    state: str = "stopped"
    """``connecting``, ``connected``, ``reconnecting``, ``stopped`` or ``failed``."""
    detail: str = ""
    connections: int = 0
    catch_up: dict[str, int] | None = None
    """The catch-up counters (``CatchUpStats.to_json``) of the running monitor."""


class AccountMonitor:
    """Runs the listener of one account (see the module docstring)."""

    def __init__(
        self,
        connection: AccountConnection,
        admit: Admit,
        groups: GroupInfoCache,
        state: ListenerState,
        options: MonitorOptions,
        on_control: Callable[[FriendEvent | GroupEvent | Undo], Awaitable[None]] | None = None,
        *,
        catch_up: CatchUpOptions | None = None,
        cursor: CatchUpCursor | None = None,
        health: Callable[[str | None], None] = lambda error: None,
        reconnected: Callable[[], None] = lambda: None,
    ) -> None:
        self.connection = connection
        self.catch_up = CatchUp(connection.account.account_id, catch_up or CatchUpOptions(), cursor)
        self.health = health
        """``health(error)``: the listener is down (the account shows ``degraded``), or
        (None) connected again."""
        self.reconnected = reconnected
        self.admit = admit
        self.on_control = on_control
        """Friend requests, group membership and recalls (``.account_events``)."""
        self.groups = groups
        self.state = state
        self.options = options

    @property
    def account_id(self) -> str:
        """The monitored account."""
        return self.connection.account.account_id

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set; raise when the listener ends by itself."""
        client = await self.connection.client(touch=True)
        session = client.session
        self.state.state, self.state.detail = "connecting", ""
        self.state.catch_up = self.catch_up.stats.to_json()
        listener = Listener(
            session,
            client.http,
            endpoints=self.connection.account.endpoints,
            reconnect=self.options.reconnect,
            self_listen=False,
            on_file_done=client.api.resolve_file_done,
            proxy=client.http.proxy,
            **(self.options.listener_options or {}),
        )
        consumer = asyncio.create_task(
            self._consume(listener, session.uid), name=f"zalouser-consume-{self.account_id}"
        )
        refresher = asyncio.create_task(self._refresh(), name=f"zalouser-refresh-{self.account_id}")
        marker = asyncio.create_task(
            self._mark_connected(), name=f"zalouser-mark-{self.account_id}"
        )
        stopper = asyncio.create_task(stop.wait())
        try:
            await listener.start()
            await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if stop.is_set():
                await listener.close()
            await consumer
        except ListenerReplacedError:
            self.state.state = "failed"
            self.state.detail = "another Zalo Web session took over (close 3000)"
            restart = "zalogate channels restart --channel zalouser"
            if self.account_id != "default":
                restart += f" --account {self.account_id}"
            log.error(
                "[%s] zalouser listener stopped: the account was opened in Zalo Web elsewhere"
                " (close 3000). Close the other session, then run: %s",
                self.account_id,
                restart,
            )
            await self.connection.invalidate()
            raise DuplicateConnectionError(
                f"[{self.account_id}] another Zalo Web session is open for this account (close"
                " 3000); the account is stopped. Close Zalo Web in the browser, then run:"
                f" {restart}"
            ) from None
        except ListenerClosedError as exc:
            self.state.state, self.state.detail = "stopped", str(exc)
            await self.connection.invalidate()
            raise ListenerStoppedError(f"[{self.account_id}] zalouser {exc}") from exc
        finally:
            for task in (stopper, refresher, marker, consumer):
                task.cancel()
            await asyncio.gather(stopper, refresher, marker, consumer, return_exceptions=True)
            with contextlib.suppress(Exception):
                await listener.close()
            self.connection.persist()
            if self.state.state not in ("failed",) and stop.is_set():
                self.state.state = "stopped"

    async def _consume(self, listener: Listener, own_uid: str) -> None:
        admissions = _Admissions(self.admit, self.options.max_admitting)
        advances: set[asyncio.Task[None]] = set()
        try:
            async for event in listener:
                if isinstance(event, UserMessage | GroupMessage):
                    message = await self._normalize(event, own_uid)
                    if message is not None:
                        await admissions.add(message)
                elif isinstance(event, OldMessages):
                    for old in await self._catch_up(listener, event):
                        message = await self._normalize(old, own_uid)
                        if message is not None:
                            await admissions.add(message)
                    started = self.catch_up.finished()
                    if started is not None:
                        advances.add(asyncio.create_task(self._advance(admissions, started)))
                elif isinstance(event, FriendEvent | GroupEvent | Undo):
                    if self.on_control is not None:
                        await self.on_control(event)
                elif isinstance(event, Connected):
                    self.state.state, self.state.detail = "connected", ""
                    self.state.connections = event.connection
                    log.info("[%s] zalouser listener connected", self.account_id)
                    if event.connection > 1:
                        self.reconnected()
                    self.health(None)
                    await self._catch_up(listener, None)
                elif isinstance(event, Disconnected):
                    self._disconnected(event)
                    await self._save_cursor()
                admissions.raise_failure()
        finally:
            # Admissions in flight were handed to the store: let them finish (never cancel
            # them), so that a message read before the listener closed is not left behind.
            await admissions.drain()
            for task in advances:
                task.cancel()  # the cursor stays: the next start fetches that pass again
            await asyncio.gather(*advances, return_exceptions=True)
        admissions.raise_failure()

    async def _advance(self, admissions: _Admissions, started_ms: int) -> None:
        """Move the catch-up cursor once the pass's admissions (all those now in flight)
        are durable; not if one failed (the monitor ends with that failure)."""
        if await admissions.settled():
            try:
                await self.catch_up.advance(started_ms)
            except Exception as exc:  # the next start simply fetches more
                log.warning("[%s] zalouser catch-up cursor not saved: %s", self.account_id, exc)

    async def _catch_up(
        self, listener: Listener, answer: OldMessages | None
    ) -> list[UserMessage | GroupMessage]:
        """Start a pass (``answer`` None) or take one of its answers; a request that cannot
        be sent (the socket just closed) waits for the next connection's pass."""
        try:
            if answer is None:
                await self.catch_up.start(listener)
                return []
            return await self.catch_up.answer(listener, answer)
        except ListenerError as exc:
            log.info("[%s] zalouser catch-up request not sent: %s", self.account_id, exc)
            return []
        finally:
            self.state.catch_up = self.catch_up.stats.to_json()

    def _disconnected(self, event: Disconnected) -> None:
        self.state.state = "reconnecting" if event.will_retry else "stopped"
        self.state.detail = f"{event.reason.value} (code {event.code})"
        if event.reason is not CloseReason.MANUAL:
            self.health(
                f"listener disconnected: {event.reason.value} (code {event.code})"
                + ("; reconnecting" if event.will_retry else "")
            )
            log.warning(
                "[%s] zalouser listener disconnected: %s%s",
                self.account_id,
                event.reason.value,
                f"; retrying in {event.retry_in_s:.1f}s" if event.will_retry else "",
            )

    async def _normalize(
        self, event: UserMessage | GroupMessage, own_uid: str
    ) -> InboundMessage | None:
        result = await normalize_message(
            event, self.account_id, own_uid, group_lookup=self.groups.get
        )
        if result.message is None:
            log.debug(
                "[%s] zalouser message %s ignored: %s",
                self.account_id,
                event.msg_id,
                result.ignored,
            )
        return result.message

    async def _mark_connected(self) -> None:
        """Save the catch-up cursor while the listener is connected; not after a wait that
        overran (the host slept or stalled: the socket may be dead, unnoticed yet)."""
        every = self.options.cursor_every_s
        while True:
            before = time.time()
            await asyncio.sleep(every)
            if self.state.state == "connected" and time.time() - before < 2 * every:
                await self._save_cursor()

    async def _save_cursor(self) -> None:
        try:
            await self.catch_up.connected()
        except Exception as exc:  # the store closing under a stop: the next pass reaches further
            log.warning("[%s] zalouser catch-up cursor not saved: %s", self.account_id, exc)

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.options.refresh_s)
            self.connection.persist()


class _Admissions:
    """Admissions in flight: overlapping across conversations, in order within one.

    ``add`` starts admitting a message and returns at once (or, with ``limit`` admissions in
    flight, once one finishes). A message waits for the admission before it of the same
    conversation, so ``admit`` sees each conversation's messages in arrival order, one at a
    time. The first failure is kept for :meth:`raise_failure`.
    """

    def __init__(self, admit: Admit, limit: int) -> None:
        self._admit = admit
        self._room = asyncio.Semaphore(max(1, limit))
        self._last: dict[str, asyncio.Task[None]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None

    async def add(self, message: InboundMessage) -> None:
        await self._room.acquire()
        key = message.conversation_key
        task = asyncio.create_task(self._run(message, self._last.get(key)))
        self._last[key] = task
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._finished(key, done))

    async def _run(self, message: InboundMessage, before: asyncio.Task[None] | None) -> None:
        if before is not None and not before.done():
            await asyncio.wait({before})
        await self._admit(message)

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._last.get(key) is task:
            del self._last[key]
        self._room.release()
        if not task.cancelled() and task.exception() is not None and self._failure is None:
            self._failure = task.exception()

    async def settled(self) -> bool:
        """Wait for the admissions now in flight; whether all of them succeeded."""
        tasks = set(self._tasks)
        if tasks:
            await asyncio.wait(tasks)
        return all(not t.cancelled() and t.exception() is None for t in tasks)

    def raise_failure(self) -> None:
        """Raise the first admission's error, if one failed."""
        if self._failure is not None:
            raise self._failure

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait up to ``timeout_s`` for the admissions in flight (without cancelling any:
        one still running after that finishes on its own)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)
