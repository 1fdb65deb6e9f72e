"""The Pairing page's allowlists: each account's ``allowFrom``, ``groupAllowFrom`` and
``groups`` as the config has them, with the console's edits (``core.access_overlay``), and the
pickers filled from the channel's directory."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from zalogate.core.access import AccountPolicy, match_key, policy_from_settings
from zalogate.core.access_overlay import EMPTY_OVERLAY, LISTS, AccessOverlays, OverlayList
from zalogate.core.channel import Channel, ChannelAccount, DirectoryEntry

__all__ = ["AccountLists", "ListView", "account_lists", "directory_choices"]

_PICKER_LIMIT = 200
_PICKER_TIMEOUT_S = 3.0


@dataclass(frozen=True, slots=True)
class ListView:
    """One list of one account: config entries (``removed`` when the console hid them) and
    entries the console added."""

    name: OverlayList
    config: Sequence[tuple[str, bool]]
    added: Sequence[str]
    unset: bool
    """The config does not set the list (``groupAllowFrom`` then falls back)."""

    @property
    def picks_groups(self) -> bool:
        """The picker offers groups (else users)."""
        return self.name == "groups"


@dataclass(frozen=True, slots=True)
class AccountLists:
    """The three lists of one account."""

    channel: str
    account: str
    lists: Sequence[ListView]


def _config_entries(policy: AccountPolicy, name: OverlayList) -> tuple[list[str], bool]:
    if name == "allowFrom":
        return sorted(policy.allow_from), False
    if name == "groupAllowFrom":
        entries = policy.group_allow_from
        return sorted(entries or ()), entries is None
    return sorted(policy.groups), False


def account_lists(
    channel: Channel, account: ChannelAccount, overlays: AccessOverlays | None
) -> AccountLists | None:
    """The account's lists for the page; None when its settings have no usable policy."""
    try:
        policy = policy_from_settings(channel.id, account.settings)
    except ValueError:
        return None
    overlay = overlays.get(channel.id, account.account_id) if overlays else EMPTY_OVERLAY
    views = []
    for name in LISTS:
        entries, unset = _config_entries(policy, name)
        hidden = overlay.blocked(name)
        views.append(
            ListView(
                name=name,
                config=[(entry, match_key(entry) in hidden) for entry in entries],
                added=sorted(overlay.added(name)),
                unset=unset,
            )
        )
    return AccountLists(channel.id, account.account_id, views)


async def directory_choices(
    channel: Channel, account: ChannelAccount
) -> tuple[list[DirectoryEntry], list[DirectoryEntry]]:
    """Users and groups from the channel's ``directory`` for the pickers (empty without one,
    or when it does not answer within 3 s: the picker is a convenience)."""
    directory = channel.directory
    if directory is None:
        return [], []

    async def ask(groups: bool) -> list[DirectoryEntry]:
        call = directory.directory_groups if groups else directory.directory_peers
        try:
            async with asyncio.timeout(_PICKER_TIMEOUT_S):
                return list(await call(account, None, _PICKER_LIMIT))
        except Exception:
            return []

    peers, groups = await asyncio.gather(ask(False), ask(True))
    return peers, groups
