"""Session keys (gateway-behaviour §4.2; zalo-personal §5.5 step 10 and §8 #13, #14)."""

from __future__ import annotations

import pytest

from zalogate.core.model import ChatType, InboundMessage
from zalogate.core.sessions import legacy_dm_key, resolve_dm_scope, session_key


def message(
    channel: str = "zalo",
    *,
    group: bool = False,
    chat_id: str = "321",
    sender_id: str = "321",
    account_id: str = "default",
) -> InboundMessage:
    return InboundMessage(
        channel=channel,
        account_id=account_id,
        chat_type=ChatType.GROUP if group else ChatType.DIRECT,
        chat_id=chat_id,
        sender_id=sender_id,
        message_id="m1",
        timestamp_ms=1,
        text="hi",
    )


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("main", "agent:main:main"),
        ("per-peer", "agent:main:direct:321"),
        ("per-channel-peer", "agent:main:zalo:direct:321"),
        ("per-account-channel-peer", "agent:main:zalo:work:direct:321"),
    ],
)
def test_zalo_dm_keys_follow_dm_scope(scope: str, expected: str) -> None:
    """gateway §4.2: the four DM scopes."""
    assert session_key(message(account_id="Work"), dm_scope=scope) == expected


def test_zalo_bot_dms_share_the_main_session_by_default() -> None:
    """product-decisions: Bot API DMs share the agent's main session."""
    assert session_key(message(sender_id="1")) == session_key(message(sender_id="2"))


def test_zalouser_forces_per_channel_peer_when_scope_is_main() -> None:
    """zalo-personal §8 #13: open DM from 321 → ``agent:main:zalouser:direct:321``."""
    assert session_key(message("zalouser")) == "agent:main:zalouser:direct:321"
    assert resolve_dm_scope("zalouser", None) == "per-channel-peer"
    assert session_key(message("zalouser"), dm_scope="per-peer") == "agent:main:direct:321"


def test_zalouser_dms_of_two_accounts_never_share_a_session_by_default() -> None:
    """issue 6: sessions are isolated per account (the default account keeps §8 #13's key)."""
    home = session_key(message("zalouser", account_id="default"))
    work = session_key(message("zalouser", account_id="Work"))
    assert home == "agent:main:zalouser:direct:321"
    assert work == "agent:main:zalouser:work:direct:321"
    assert resolve_dm_scope("zalouser", "main", "work") == "per-account-channel-peer"
    assert resolve_dm_scope("zalo", "main", "work") == "main"


def test_group_key_uses_channel_and_group_id() -> None:
    """gateway §4.2: ``agent:<agent>:<channel>:group:<groupId>``."""
    msg = message("zalouser", group=True, chat_id="G-1", sender_id="5")
    assert session_key(msg) == "agent:main:zalouser:group:g-1"
    assert session_key(msg, group_scope="main") == "agent:main:main"


def test_agent_id_and_main_key_are_lower_cased() -> None:
    """gateway §4.2: agent id and main key are normalised (lower-case)."""
    assert session_key(message(), agent_id="Helper", main_key="Home") == "agent:helper:home"
    assert session_key(message(), agent_id="  ") == "agent:main:main"


def test_peer_ids_are_lower_cased() -> None:
    assert session_key(message(sender_id="AbC"), dm_scope="per-peer") == "agent:main:direct:abc"


def test_identity_links_map_linked_ids_to_one_peer() -> None:
    """gateway §4.2: ``session.identityLinks`` with or without the channel prefix."""
    links = {"alice": ["zalouser:111", "222"]}
    assert (
        session_key(message("zalouser", sender_id="111"), identity_links=links)
        == "agent:main:zalouser:direct:alice"
    )
    assert (
        session_key(message("zalo", sender_id="222"), dm_scope="per-peer", identity_links=links)
        == "agent:main:direct:alice"
    )


def test_legacy_zalouser_dm_session_is_reused_when_only_it_exists() -> None:
    """zalo-personal §8 #14: only ``agent:main:zalouser:group:321`` exists → reused."""
    msg = message("zalouser")
    legacy = legacy_dm_key(msg)
    assert legacy == "agent:main:zalouser:group:321"
    assert session_key(msg, session_exists={legacy}.__contains__) == legacy
    both = {legacy, "agent:main:zalouser:direct:321"}
    assert session_key(msg, session_exists=both.__contains__) == "agent:main:zalouser:direct:321"
    assert session_key(msg, session_exists=set().__contains__) == "agent:main:zalouser:direct:321"


def test_unknown_dm_scope_is_an_error() -> None:
    with pytest.raises(ValueError, match="dmScope"):
        session_key(message(), dm_scope="per-planet")
