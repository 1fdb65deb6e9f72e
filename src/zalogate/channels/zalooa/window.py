"""The consultation window: when each user last interacted with the OA, and what that allows.

Within 48 h of the user's last interaction (a message, a follow, a button tap) a reply is
free; from 48 h to 7 days it is billed; after 7 days Zalo refuses it (``-230``). The times
are kept in ``<state>/interactions.json`` so a restart keeps them. In a cluster every node
records them in the shared contact times as well (``ContactTimes``), and a send decides on
the latest any node saw: a node that last saw a user days ago does not refuse a reply the
user's message of a minute ago (taken by another node) allows.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import time
from pathlib import Path

from zalogate.core.shared_state import ContactTimes

__all__ = ["FREE_WINDOW", "MAX_WINDOW", "Interactions", "Window"]

FREE_WINDOW = 48 * 3600.0
MAX_WINDOW = 7 * 24 * 3600.0

_log = logging.getLogger("zalogate.channels.zalooa")


class Window(enum.Enum):
    """Where a reply to a user falls."""

    FREE = "free"
    BILLED = "billed"
    CLOSED = "closed"
    UNKNOWN = "unknown"
    """No interaction on record (e.g. before this gateway saw the user): Zalo decides."""


class Interactions:
    """Last-interaction times per user of one OA account.

    ``shared`` (cluster mode): the contact times every node records, under ``scope``
    (channel id, account id).
    """

    def __init__(
        self,
        path: Path,
        *,
        shared: ContactTimes | None = None,
        scope: tuple[str, str] = ("", ""),
    ) -> None:
        self._path = path
        self._shared = shared
        self._scope = scope
        self._shared_at: dict[str, float] = {}
        """The latest time this node wrote to ``shared`` per user (a webhook's local touch
        of the same message comes first and must not keep it from the cluster)."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            self._last = {str(k): float(v) for k, v in raw.items()}
        except (OSError, ValueError, AttributeError):
            self._last = {}

    def touch(self, user_id: str, at_ms: int | None = None) -> bool:
        """Record an interaction of ``user_id`` (now, or at ``at_ms``) on this node; True when
        it is later than the one on record."""
        at = time.time() if at_ms is None else at_ms / 1000.0
        if at <= self._last.get(user_id, 0.0):
            return False
        self._last[user_id] = at
        self._save()
        return True

    async def record(self, user_id: str, at_ms: int | None = None) -> None:
        """:meth:`touch`, and in a cluster tell the other nodes (a failure is only logged: the
        reply window is Zalo's to enforce in the end)."""
        self.touch(user_id, at_ms)
        at = self._last[user_id]
        if self._shared is None or at <= self._shared_at.get(user_id, 0.0):
            return
        try:
            await self._shared.touch(*self._scope, user_id, at)
        except Exception as exc:
            _log.warning("interaction of %s not shared with the cluster: %s", user_id, exc)
            return
        self._shared_at[user_id] = at

    async def current(self, user_id: str, now: float | None = None) -> Window:
        """Where a reply to ``user_id`` now falls, on the latest interaction any node saw (a
        shared record out of reach: this node's own, or none)."""
        last = self._last.get(user_id)
        if self._shared is not None:
            try:
                shared = await self._shared.last(*self._scope, user_id)
            except Exception as exc:
                _log.warning("interactions of %s not read from the cluster: %s", user_id, exc)
                return Window.UNKNOWN  # never refuse on a record that may be stale
            if shared is not None and (last is None or shared > last):
                last = shared
        return self._classify(last, now)

    @staticmethod
    def _classify(last: float | None, now: float | None) -> Window:
        if last is None:
            return Window.UNKNOWN
        age = (time.time() if now is None else now) - last
        if age <= FREE_WINDOW:
            return Window.FREE
        return Window.BILLED if age <= MAX_WINDOW else Window.CLOSED

    def _save(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._last), encoding="utf-8")
        os.replace(tmp, self._path)
