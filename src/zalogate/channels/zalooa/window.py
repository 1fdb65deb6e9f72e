"""The consultation window: when each user last interacted with the OA, and what that allows.

Within 48 h of the user's last interaction (a message, a follow, a button tap) a reply is
free; from 48 h to 7 days it is billed; after 7 days Zalo refuses it (``-230``). The times
are kept in ``<state>/interactions.json`` so a restart keeps them.
"""

from __future__ import annotations

import enum
import json
import os
import time
from pathlib import Path

__all__ = ["FREE_WINDOW", "MAX_WINDOW", "Interactions", "Window"]

FREE_WINDOW = 48 * 3600.0
MAX_WINDOW = 7 * 24 * 3600.0


class Window(enum.Enum):
    """Where a reply to a user falls."""

    FREE = "free"
    BILLED = "billed"
    CLOSED = "closed"
    UNKNOWN = "unknown"
    """No interaction on record (e.g. before this gateway saw the user): Zalo decides."""


class Interactions:
    """Last-interaction times per user of one OA account."""

    def __init__(self, path: Path) -> None:
        self._path = path
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            self._last = {str(k): float(v) for k, v in raw.items()}
        except (OSError, ValueError, AttributeError):
            self._last = {}

    def touch(self, user_id: str, at_ms: int | None = None) -> None:
        """Record an interaction of ``user_id`` (now, or at ``at_ms``)."""
        at = time.time() if at_ms is None else at_ms / 1000.0
        if at > self._last.get(user_id, 0.0):
            self._last[user_id] = at
            self._save()

    def window(self, user_id: str, now: float | None = None) -> Window:
        """Where a reply to ``user_id`` now falls."""
        last = self._last.get(user_id)
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
