"""The directory of a ``zalouser`` account: itself, its friends, its groups and their members.

Every lookup goes through the account's logged-in connection and is bounded in time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from zalogate.channels.zalouser.connection import AccountConnection
from zalogate.channels.zalouser.errors import ZalouserChannelError
from zalogate.channels.zalouser.inbound import GroupFacts, GroupLookup
from zalogate.channels.zalouser.outbound import thread_of
from zalogate.core.channel import ChannelAccount, DirectoryEntry

__all__ = ["ZalouserDirectory", "group_facts_lookup", "select_entries"]


def group_facts_lookup(connection: AccountConnection) -> GroupLookup:
    """A group's name and member names, asked from Zalo (``getGroupInfo``) on each call."""

    async def fetch(group_id: str) -> GroupFacts | None:
        infos = await connection.call(lambda api: api.groups_info([group_id]))
        info = infos.get(group_id)
        if info is None:
            return None
        members = info.raw.get("currentMems") or []
        named = [
            (str(m.get("dName") or m.get("zaloName")), str(m.get("id") or ""))
            for m in members
            if isinstance(m, Mapping) and (m.get("dName") or m.get("zaloName"))
        ]
        ids = tuple((name, uid) for name, uid in named if uid)
        return GroupFacts(info.name or None, tuple(name for name, _ in named), ids)

    return fetch


class ZalouserDirectory:
    """The ``directory`` and ``group_members`` capabilities of the ``zalouser`` channel.

    Args:
        connection_for: The account's connection (logged in from the saved session on use).
        lookup_timeout: Upper bound for one lookup, in seconds.
    """

    def __init__(
        self, connection_for: Callable[[ChannelAccount], AccountConnection], lookup_timeout: float
    ) -> None:
        self._connection_for = connection_for
        self._timeout = lookup_timeout

    async def _lookup(self, account: ChannelAccount, what: str, action: Any) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await self._connection_for(account).call(action)
        except TimeoutError:
            raise ZalouserChannelError(f"Timed out fetching Zalo {what}") from None

    async def directory_self(self, account: ChannelAccount) -> DirectoryEntry:
        """The account itself (its own profile)."""
        profile = await self._lookup(account, "account info", lambda api: api.own_profile())
        extra = {"avatar": profile.avatar} if profile.avatar else {}
        return DirectoryEntry(id=profile.uid, name=profile.display_name or None, extra=extra)

    async def directory_peers(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        """Friends whose id or name contains ``query`` (exact matches first)."""
        friends = await self._lookup(account, "friend list", lambda api: api.friends())
        entries = [
            DirectoryEntry(
                id=f.uid,
                name=f.display_name or f.zalo_name or None,
                extra={"avatar": f.avatar} if f.avatar else {},
            )
            for f in friends
        ]
        return select_entries(entries, query, limit)

    async def directory_groups(
        self, account: ChannelAccount, query: str | None = None, limit: int | None = None
    ) -> Sequence[DirectoryEntry]:
        """Groups the account is in (ids as ``group:<id>``, the send target)."""
        groups = await self._lookup(account, "group list", lambda api: api.all_groups())
        entries = [
            DirectoryEntry(
                id=f"group:{g.group_id}",
                name=g.name or None,
                kind="group",
                extra={"groupId": g.group_id, "memberCount": g.total_members},
            )
            for g in groups.values()
        ]
        return select_entries(entries, query, limit)

    async def directory_user(self, account: ChannelAccount, user_id: str) -> DirectoryEntry:
        """One user's profile (zca-js ``getUserInfo``)."""
        uid, _ = thread_of(user_id)
        profiles = await self._lookup(account, "user info", lambda api: api.user_info([uid]))
        profile = profiles.get(uid)
        if profile is None:
            raise ZalouserChannelError(f"Zalo user {uid} not found")
        extra: dict[str, Any] = {"zaloName": profile.raw.get("zaloName") or ""}
        if profile.avatar:
            extra["avatar"] = profile.avatar
        if isinstance(profile.raw.get("isFr"), int):
            extra["isFriend"] = bool(profile.raw["isFr"])
        return DirectoryEntry(id=uid, name=profile.display_name or None, extra=extra)

    async def directory_group_members(
        self, account: ChannelAccount, group_id: str
    ) -> Sequence[DirectoryEntry]:
        """Members of a group (``<id>`` or ``group:<id>``)."""
        gid, _ = thread_of(group_id if ":" in group_id else f"group:{group_id}")
        infos = await self._lookup(account, "group info", lambda api: api.groups_info([gid]))
        info = infos.get(gid)
        if info is None:
            raise ZalouserChannelError(f"Zalo group {gid} not found (is the account a member?)")
        ids = list(dict.fromkeys(info.member_ids))
        profiles = await self._lookup(account, "group members", lambda api: api.group_members(ids))
        entries = []
        for uid in ids:
            member = profiles.get(uid)
            name = (member.display_name or member.zalo_name) if member else None
            extra = {"avatar": member.avatar} if member and member.avatar else {}
            entries.append(DirectoryEntry(id=uid, name=name or None, extra=extra))
        return entries


def select_entries(
    entries: Sequence[DirectoryEntry], query: str | None, limit: int | None
) -> list[DirectoryEntry]:
    """Entries whose id or name contains ``query`` (case-insensitive), exact matches first."""
    needle = (query or "").strip().casefold()
    if needle:
        exact = [e for e in entries if needle in (e.id.casefold(), (e.name or "").casefold())]
        partial = [
            e
            for e in entries
            if e not in exact and (needle in e.id.casefold() or needle in (e.name or "").casefold())
        ]
        chosen = exact + partial
    else:
        chosen = list(entries)
    return chosen if limit is None or limit < 0 else chosen[:limit]
