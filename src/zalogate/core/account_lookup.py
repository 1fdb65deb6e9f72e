"""Finding a channel's own view of an account from a `ChannelAccount` or an account id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from zalogate.core.channel import ChannelAccount

__all__ = ["account_id_of", "find_account"]

_A = TypeVar("_A")


def account_id_of(account: ChannelAccount | str) -> str:
    """The id of ``account`` (an id is returned as it is)."""
    return account if isinstance(account, str) else account.account_id


def find_account(accounts: Mapping[str, _A], account: ChannelAccount | str, channel: str) -> _A:
    """The entry of ``accounts`` (keyed by account id) for ``account``.

    Raises:
        KeyError: No such account (the message names the channel and the id).
    """
    account_id = account_id_of(account)
    found = accounts.get(account_id)
    if found is None:
        raise KeyError(f"no {channel} account {account_id!r}")
    return found
