"""Allowlist edits made in the operator console, merged over the config's lists.

The config file stays the operator's own (it is never rewritten). The console writes a durable
overlay instead, one row per edit (table ``access_overlay``, migration ``0050``):

* ``allow`` adds an entry to ``allowFrom``, ``groupAllowFrom`` or ``groups`` of one account;
* ``block`` hides an entry the config has (the page's "remove" on a config entry; "restore"
  deletes the row). An entry only the overlay added is simply deleted.

:func:`apply_overlay` merges an overlay into an :class:`~zalogate.core.access.AccountPolicy`
(blocked entries out, added entries in; an added group gets the default rule: enabled, mention
required). Policies are cached; :class:`AccessOverlays` holds every overlay in memory (one dict
look-up when a policy is built) and tells its listeners which account changed, so that the
runtime and the channels drop the cached policy of that account
(:meth:`zalogate.core.channel.Channel.access_changed`). The durable part is behind the
:class:`AccessOverlayStore` protocol (SQLite here).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from zalogate.core.access import (
    EMPTY_OVERLAY,
    LISTS,
    WILDCARD,
    AccessOverlay,
    OverlayEntry,
    OverlayList,
    apply_overlay,
    normalize_allow_entry,
)
from zalogate.core.pairing import normalize_account_id
from zalogate.store import Store

__all__ = [
    "EMPTY_OVERLAY",
    "LISTS",
    "AccessChanged",
    "AccessOverlay",
    "AccessOverlayStore",
    "AccessOverlays",
    "OverlayEntry",
    "OverlayList",
    "SqliteAccessOverlayStore",
    "apply_overlay",
    "normalize_overlay_entry",
]

AccessChanged = Callable[[str, str], None]
"""``(channel, account_id)``: that account's overlay changed."""


def normalize_overlay_entry(channel: str, name: OverlayList, raw: str) -> str:
    """An entry as the overlay stores it: allowFrom-style lists normalised like the config's
    (:func:`~zalogate.core.access.normalize_allow_entry`), group keys trimmed.

    Raises:
        ValueError: empty, or ``*`` (opening a list to everyone is a config decision).
    """
    if name not in LISTS:
        raise ValueError(f"unknown list {name!r}; use one of {', '.join(LISTS)}")
    text = raw.strip()
    entry = text if name == "groups" else normalize_allow_entry(channel, text)
    if not entry:
        raise ValueError("give an id")
    if entry == WILDCARD:
        raise ValueError("'*' opens the list to everyone: set it in the config file instead")
    return entry


class AccessOverlayStore(Protocol):
    """Where overlays are kept (SQLite here; a cluster may keep them elsewhere)."""

    async def load_all(self) -> Mapping[tuple[str, str], AccessOverlay]:
        """Every account's overlay, by (channel, normalised account id)."""
        ...

    async def put(self, channel: str, account_id: str, entry: OverlayEntry) -> None:
        """Record ``entry`` (replacing an edit of the same list and entry)."""
        ...

    async def delete(self, channel: str, account_id: str, name: OverlayList, entry: str) -> bool:
        """Forget the edit of ``entry`` in ``name``; True when there was one."""
        ...


class SqliteAccessOverlayStore:
    """:class:`AccessOverlayStore` on the shared :class:`Store` (table ``access_overlay``)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def load_all(self) -> Mapping[tuple[str, str], AccessOverlay]:
        rows = await self._store.fetchall(
            "SELECT channel, account_id, list, entry, action, added_at_ms FROM access_overlay"
            " ORDER BY added_at_ms, entry"
        )
        found: dict[tuple[str, str], list[OverlayEntry]] = {}
        for r in rows:
            entry = OverlayEntry(r["list"], r["entry"], r["action"] == "block", r["added_at_ms"])
            found.setdefault((r["channel"], r["account_id"]), []).append(entry)
        return {key: AccessOverlay(tuple(entries)) for key, entries in found.items()}

    async def put(self, channel: str, account_id: str, entry: OverlayEntry) -> None:
        params = (
            channel,
            normalize_account_id(account_id),
            entry.kind,
            entry.entry,
            "block" if entry.blocked else "allow",
            entry.added_at_ms,
        )

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO access_overlay"
                " (channel, account_id, list, entry, action, added_at_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                params,
            )

        await self._store.write(write)

    async def delete(self, channel: str, account_id: str, name: OverlayList, entry: str) -> bool:
        changed = await self._store.execute(
            "DELETE FROM access_overlay WHERE channel = ? AND account_id = ? AND list = ?"
            " AND entry = ?",
            (channel, normalize_account_id(account_id), name, entry),
        )
        return changed > 0


class AccessOverlays:
    """Every account's overlay in memory, its edits written through ``store`` first.

    Args:
        store: The durable overlays.
        clock: Seconds since the epoch (the edits' stamps).
    """

    def __init__(self, store: AccessOverlayStore, *, clock: Callable[[], float] = time.time):
        self._store = store
        self._clock = clock
        self._overlays: dict[tuple[str, str], AccessOverlay] = {}
        self._listeners: list[AccessChanged] = []
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        """Read every overlay from the store (once, before the channels start)."""
        self._overlays = dict(await self._store.load_all())

    def get(self, channel: str, account_id: str) -> AccessOverlay:
        """The overlay of one account (empty when the console edited nothing)."""
        return self._overlays.get((channel, normalize_account_id(account_id)), EMPTY_OVERLAY)

    def subscribe(self, listener: AccessChanged) -> None:
        """Call ``listener(channel, account_id)`` after each change."""
        self._listeners.append(listener)

    async def allow(self, channel: str, account_id: str, name: OverlayList, raw: str) -> str:
        """Add ``raw`` to the account's ``name`` list (or restore it, when it was blocked);
        returns the stored entry."""
        return await self._edit(channel, account_id, name, raw, blocked=False)

    async def block(self, channel: str, account_id: str, name: OverlayList, raw: str) -> str:
        """Hide the config entry ``raw`` from the account's ``name`` list."""
        return await self._edit(channel, account_id, name, raw, blocked=True)

    async def forget(self, channel: str, account_id: str, name: OverlayList, raw: str) -> bool:
        """Drop the console's edit of ``raw`` (an added entry goes, a blocked one is back)."""
        entry = normalize_overlay_entry(channel, name, raw)
        account = normalize_account_id(account_id)
        async with self._lock:
            removed = await self._store.delete(channel, account, name, entry)
            self._replace(channel, account, name, entry, None)
        self._changed(channel, account)
        return removed

    async def _edit(
        self, channel: str, account_id: str, name: OverlayList, raw: str, *, blocked: bool
    ) -> str:
        entry = normalize_overlay_entry(channel, name, raw)
        account = normalize_account_id(account_id)
        edit = OverlayEntry(name, entry, blocked, int(self._clock() * 1000))
        async with self._lock:
            await self._store.put(channel, account, edit)
            self._replace(channel, account, name, entry, edit)
        self._changed(channel, account)
        return entry

    def _replace(
        self, channel: str, account: str, name: OverlayList, entry: str, edit: OverlayEntry | None
    ) -> None:
        old = self._overlays.get((channel, account), EMPTY_OVERLAY).entries
        kept: Iterable[OverlayEntry] = (e for e in old if (e.kind, e.entry) != (name, entry))
        entries = (*kept, edit) if edit is not None else tuple(kept)
        self._overlays[(channel, account)] = AccessOverlay(tuple(entries))

    def _changed(self, channel: str, account: str) -> None:
        for listener in self._listeners:
            listener(channel, account)
