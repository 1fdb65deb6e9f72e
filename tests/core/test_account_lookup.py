"""find_account / account_id_of: an account or its id finds the channel's own view."""

from __future__ import annotations

import pytest

from zalogate.core.account_lookup import account_id_of, find_account
from zalogate.core.channel import ChannelAccount

WORK = ChannelAccount(channel="zalouser", account_id="work", enabled=True, settings={})


def test_an_account_and_its_id_find_the_same_entry() -> None:
    views = {"work": "the work view"}
    assert account_id_of(WORK) == account_id_of("work") == "work"
    assert find_account(views, WORK, "zalouser") == find_account(views, "work", "zalouser")


def test_an_unknown_account_is_a_key_error_naming_channel_and_id() -> None:
    with pytest.raises(KeyError, match="no zalouser account 'work'"):
        find_account({}, WORK, "zalouser")
