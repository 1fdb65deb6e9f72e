"""Directory of a ``zalo`` account: the chats it has seen, plus its configured allowlist.

The Bot API has no friend or group list. Peers are the DM chats found in the inbox journal
(its rows are kept as tombstones for 30 days), the ``allowFrom`` entries (prefixes stripped,
``*`` skipped) and the senders approved through pairing; groups are the group chats found in
the journal. Names are not stored by Zalo's API, so entries carry ids only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from zalogate.core.access import WILDCARD, normalize_allow_entry
from zalogate.core.channel import DirectoryEntry

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = ["allow_entries", "seen_chats", "select_entries"]


async def seen_chats(store: Store, account_id: str, kind: str) -> list[tuple[str, int]]:
    """``(chat id, last admitted ms)`` of the account's ``direct`` or ``group`` chats, newest
    first."""
    prefix = f"zalo:{account_id}:{kind}:"
    rows = await store.fetchall(
        "SELECT lane, MAX(admitted_at_ms) AS last_ms FROM inbox_entries"
        " WHERE channel = 'zalo' AND account_id = ? AND substr(lane, 1, ?) = ?"
        " GROUP BY lane ORDER BY last_ms DESC",
        (account_id, len(prefix), prefix),
    )
    return [(str(row["lane"])[len(prefix) :], int(row["last_ms"] or 0)) for row in rows]


def allow_entries(entries: Iterable[object]) -> list[str]:
    """``allowFrom`` entries as ids (``zalo:``/``zl:`` stripped, ``*`` and blanks skipped)."""
    found: list[str] = []
    for raw in entries:
        if not isinstance(raw, str | int) or isinstance(raw, bool):
            continue
        text = str(raw).strip()
        lowered = text.lower()
        for prefix in ("zalo:", "zl:"):
            if lowered.startswith(prefix):
                text = text[len(prefix) :].strip()
                break
        if text and text != WILDCARD and normalize_allow_entry("zalo", text):
            found.append(text)
    return found


def select_entries(
    entries: Sequence[DirectoryEntry], query: str | None, limit: int | None
) -> list[DirectoryEntry]:
    """Entries whose id or name contains ``query`` (case-insensitive), at most ``limit``."""
    needle = (query or "").strip().casefold()
    chosen = [
        entry
        for entry in entries
        if not needle
        or needle in entry.id.casefold()
        or (entry.name is not None and needle in entry.name.casefold())
    ]
    return chosen if limit is None or limit < 0 else chosen[:limit]
