"""Catch-up: after each (re)connection, ask Zalo for the messages the listener missed.

Zalo pushes a message to the listeners open at that moment only; one sent while the gateway
was stopped or its websocket was reconnecting never arrives by itself. zca-js 2.2.0's
``Listener.requestOldMessages(threadType, lastMsgId)`` (``dist/apis/listen.js``) asks for them
over the websocket: frame 510 (DMs) or 511 (groups), sub 1, body ``{first: true, lastId,
preIds: [], req_id}``; Zalo answers with an event of the same cmd/sub holding ``{msgs}`` /
``{groupMsgs}`` (zca-js's ``old_messages``), the account's most recent messages of that kind
across all its conversations, its own ones included. zca-js reads no ``req_id`` from the
answer, so answers are matched by their kind only.

A pass (:class:`CatchUp`) asks for both kinds at once, keeps the messages sent since the
listener was last known connected (:class:`CatchUpCursor`, less a margin of
``CURSOR_MARGIN_S`` for a socket that died silently before the watchdog noticed) but never
beyond the window (``catchUp.windowMinutes``, default 60), and asks for an older page
(``lastId`` = the oldest message id of the page) while a page lies entirely inside that range
and brought something new, at most ``maxPages`` pages per kind. The messages go through the
monitor's admissions, into the same deduplicating inbox as live ones: a message already handled (or
arriving live as well) is a duplicate there and is answered once. An account that was never
connected before (no cursor) is not caught up: messages sent before zalogate first ran for it
are not answered.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from zalogate.personal.events import GroupMessage, OldMessages, UserMessage
from zalogate.personal.session import ThreadType
from zalogate.store import Store

__all__ = [
    "DEFAULT_WINDOW_MINUTES",
    "CatchUp",
    "CatchUpCursor",
    "CatchUpOptions",
    "CatchUpStats",
    "HistorySource",
]

log = logging.getLogger(__name__)

DEFAULT_WINDOW_MINUTES = 60
DEFAULT_MAX_PAGES = 10
CURSOR_MARGIN_S = 300.0
"""How far before the cursor a pass reaches: a dead socket is noticed after up to three ping
intervals and a pong timeout (70 s with Zalo's 20 s pings), the cursor is saved every 30 s,
and Zalo's clock is not ours."""


class HistorySource(Protocol):
    """What a pass needs of the listener (``personal.listener.Listener`` satisfies it)."""

    async def request_old_messages(
        self, thread_type: ThreadType | str, last_msg_id: str | None = None
    ) -> str:
        """Send a 510/511 request; the answer arrives as an ``OldMessages`` event."""
        ...


@dataclass(frozen=True, slots=True)
class CatchUpOptions:
    """``catchUp`` of an account (see ``docs/channels/zalouser.md``)."""

    enabled: bool = True
    window_minutes: float = DEFAULT_WINDOW_MINUTES
    max_pages: int = DEFAULT_MAX_PAGES

    @classmethod
    def from_settings(cls, value: Any) -> CatchUpOptions:
        """From the camelCase ``catchUp`` mapping (validated by the config model)."""
        if not isinstance(value, Mapping):
            return cls()
        enabled = value.get("enabled")
        window = value.get("windowMinutes")
        pages = value.get("maxPages")
        return cls(
            enabled=enabled if isinstance(enabled, bool) else True,
            window_minutes=float(window)
            if isinstance(window, int | float) and not isinstance(window, bool)
            else DEFAULT_WINDOW_MINUTES,
            max_pages=pages
            if isinstance(pages, int) and not isinstance(pages, bool)
            else DEFAULT_MAX_PAGES,
        )


class CatchUpCursor:
    """Until when an account's listener was last known connected (``zalouser_catch_up``)."""

    def __init__(self, store: Store, account_id: str) -> None:
        self._store = store
        self.account_id = account_id

    async def load(self) -> int | None:
        """The saved time (ms), or None when the account never connected."""
        row = await self._store.fetchone(
            "SELECT connected_until_ms FROM zalouser_catch_up WHERE account_id = ?",
            (self.account_id,),
        )
        return int(row["connected_until_ms"]) if row is not None else None

    async def save(self, at_ms: int) -> None:
        """Move the cursor forward to ``at_ms`` (never back)."""
        await self._store.execute(
            "INSERT INTO zalouser_catch_up (account_id, connected_until_ms) VALUES (?, ?)"
            " ON CONFLICT (account_id) DO UPDATE SET connected_until_ms ="
            " MAX(connected_until_ms, excluded.connected_until_ms)",
            (self.account_id, at_ms),
        )


@dataclass(slots=True)
class _Pass:
    """One kind's paging state in a pass."""

    cutoff_ms: int
    pages: int = 0
    seen: set[str] = field(default_factory=set)


@dataclass(slots=True)
class CatchUpStats:
    """Counters shown by ``channels status`` (``catchUp``)."""

    passes: int = 0
    skipped: int = 0
    """Connections not caught up: the account had never been connected before."""
    pages: int = 0
    messages: int = 0
    """Messages within the window handed to the inbox (duplicates included)."""

    def to_json(self) -> dict[str, int]:
        """Under their JSON names."""
        return {
            "passes": self.passes,
            "skipped": self.skipped,
            "pages": self.pages,
            "messages": self.messages,
        }


class CatchUp:
    """The catch-up passes of one account's listener (see the module docstring)."""

    def __init__(
        self,
        account_id: str,
        options: CatchUpOptions,
        cursor: CatchUpCursor | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account_id = account_id
        self.options = options
        self.cursor = cursor
        """None: no memory, every pass reaches back the whole window."""
        self.stats = CatchUpStats()
        self._clock = clock
        self._passes: dict[ThreadType, _Pass] = {}
        self._started_ms: int | None = None
        """Start of the pass whose messages are not all admitted yet: the cursor stays."""

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    async def connected(self) -> None:
        """The listener is connected now: move the cursor here, unless a pass is still
        bringing in older messages (a crash then must not skip them)."""
        if self.cursor is not None and self._started_ms is None:
            await self.cursor.save(self._now_ms())

    def finished(self) -> int | None:
        """When the pass that just ended started (once), to :meth:`advance` to after its
        messages were admitted; None while it runs or when none ended."""
        if self._passes or self._started_ms is None:
            return None
        return self._started_ms

    async def advance(self, started_ms: int) -> None:
        """Every message of the pass begun at ``started_ms`` is in the inbox: move the cursor."""
        if self._started_ms == started_ms:
            self._started_ms = None
            if self.cursor is not None:
                await self.cursor.save(started_ms)

    async def start(self, source: HistorySource) -> None:
        """Ask for the DMs and group messages missed (on every ``Connected``)."""
        now = self._now_ms()
        cutoff = now - int(self.options.window_minutes * 60_000)
        self._passes.clear()
        if self.cursor is not None:
            since = await self.cursor.load()
            if since is None or not self.options.enabled:
                # Nothing to catch up (never connected before, or turned off): from now on.
                self._started_ms = None
                await self.cursor.save(now)
                if since is None:
                    self.stats.skipped += 1
                    log.info(
                        "[%s] zalouser catch-up: first connection of this account, nothing"
                        " to catch up (messages from now on are answered)",
                        self.account_id,
                    )
                return
            cutoff = max(cutoff, since - int(CURSOR_MARGIN_S * 1000))
        if not self.options.enabled:
            return
        self.stats.passes += 1
        self._started_ms = now
        for kind in (ThreadType.USER, ThreadType.GROUP):
            self._passes[kind] = _Pass(cutoff)
            await source.request_old_messages(kind)

    async def answer(
        self, source: HistorySource, event: OldMessages
    ) -> list[UserMessage | GroupMessage]:
        """The messages of an answer to admit (inside the window, oldest first); asks for
        the next page while this one lies entirely inside the window."""
        current = self._passes.get(event.thread_type)
        if current is None:
            return []  # not ours (or after the pass ended): live delivery covers the rest
        current.pages += 1
        self.stats.pages += 1
        found = [m for m in event.messages if isinstance(m, UserMessage | GroupMessage)]
        fresh = [m for m in found if m.msg_id not in current.seen]
        current.seen.update(m.msg_id for m in found)
        inside = [m for m in fresh if m.ts_ms >= current.cutoff_ms]
        oldest = min(found, key=lambda m: m.ts_ms, default=None)
        more = (
            oldest is not None
            and bool(fresh)
            and len(inside) == len(fresh)
            and current.pages < self.options.max_pages
        )
        if more and oldest is not None:
            await source.request_old_messages(event.thread_type, oldest.msg_id)
        else:
            del self._passes[event.thread_type]
            log.info(
                "[%s] zalouser catch-up of %s messages done (%d pages)",
                self.account_id,
                event.thread_type.value,
                current.pages,
            )
        self.stats.messages += len(inside)
        return sorted(inside, key=lambda m: m.ts_ms)
