"""Directory of a ``zalo`` account: the chats it has seen, plus its configured allowlist.

The Bot API has no friend or group list. Peers are the DM chats found in the inbox journal
(its rows are kept as tombstones for 30 days), the ``allowFrom`` entries (prefixes stripped,
``*`` skipped) and the senders approved through pairing; groups are the group chats found in
the journal. Names are not stored by Zalo's API, so entries carry ids only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from zalogate.botapi import ZaloBotError
from zalogate.channels.zalo.errors import ZaloChannelError
from zalogate.core.access import WILDCARD, normalize_allow_entry
from zalogate.core.channel import ChannelAccount, DirectoryEntry

if TYPE_CHECKING:
    from zalogate.channels.zalo.channel import ZaloChannel
    from zalogate.store import Store

__all__ = ["ZaloDirectory", "allow_entries", "seen_chats", "select_entries"]


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


class ZaloDirectory:
    """The ``directory`` capability of the ``zalo`` channel."""

    def __init__(self, channel: ZaloChannel) -> None:
        self._channel = channel

    async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
        """The bot itself (``getMe``).

        Raises:
            ZaloChannelError: No token, or Zalo could not be asked.
        """
        zacct = self._channel.zalo_account(account)
        try:
            me = await self._channel.bot_for(zacct).get_me(request_timeout=5.0)
        except ZaloBotError as exc:
            raise ZaloChannelError(f"Zalo getMe failed: {exc}") from None
        return DirectoryEntry(
            id=me.id,
            name=me.account_name,
            kind="bot",
            extra={"account_type": me.account_type, "can_join_groups": me.can_join_groups},
        )

    async def directory_peers(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        """DM chats seen in the journal, ``allowFrom`` entries and paired senders."""
        zacct = self._channel.zalo_account(account)
        ids: dict[str, DirectoryEntry] = {}
        for chat_id, last_ms in await seen_chats(
            self._channel.context.store, zacct.account_id, "direct"
        ):
            ids.setdefault(chat_id, DirectoryEntry(id=chat_id, extra={"lastSeenMs": last_ms}))
        allow = zacct.settings.get("allowFrom") or []
        for entry in allow_entries(allow if isinstance(allow, list | tuple) else [allow]):
            ids.setdefault(entry, DirectoryEntry(id=entry, extra={"source": "allowFrom"}))
        paired = await self._channel.context.shared_state().pairing.allowed_senders(
            self._channel.id, zacct.account_id
        )
        for entry in sorted(paired):
            ids.setdefault(entry, DirectoryEntry(id=entry, extra={"source": "pairing"}))
        return select_entries(list(ids.values()), query, limit)

    async def directory_groups(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        """Group chats seen in the journal (Marketplace bots usually cannot join groups)."""
        zacct = self._channel.zalo_account(account)
        entries = [
            DirectoryEntry(id=chat_id, kind="group", extra={"lastSeenMs": last_ms})
            for chat_id, last_ms in await seen_chats(
                self._channel.context.store, zacct.account_id, "group"
            )
        ]
        return select_entries(entries, query, limit)
