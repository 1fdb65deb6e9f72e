"""What the ``zalouser`` channel declares about itself (read by the core, the CLI and the
runtime)."""

from __future__ import annotations

from types import MappingProxyType

from zalogate.core.model import InboundMessage
from zalogate.core.traits import ChannelTraits, register_traits

__all__ = ["CHANNEL_ID", "TRAITS", "legacy_dm_session_key"]

CHANNEL_ID = "zalouser"


def legacy_dm_session_key(message: InboundMessage, agent_id: str) -> str:
    """The key an old zalouser release used for DMs (a group-kind key on the sender id)."""
    return f"agent:{agent_id}:{CHANNEL_ID}:group:{message.sender_id.strip().lower()}"


TRAITS = register_traits(
    ChannelTraits(
        id=CHANNEL_ID,
        prefixes=("zalouser", "zlu"),
        # ``group:``/``g:`` and a bare ``g-…`` are groups; ``user:``/``dm:``/``u:`` and a bare
        # ``u-…`` are users; any other bare id is a user.
        target_kinds=MappingProxyType(
            {"group": "group", "g": "group", "user": "user", "dm": "user", "u": "user"}
        ),
        raw_id_markers=True,
        # A personal account's DMs are its own conversations, never one shared session.
        private_dm_sessions=True,
        # OpenClaw PR 46663 (issue 40146): an allowlisted group admits its members without
        # the DM allowFrom; groupAllowFrom alone filters senders.
        group_allow_from_falls_back=False,
        legacy_dm_session_key=legacy_dm_session_key,
        pairing_id_label="zalouserUserId",
        # One websocket per account: in a cluster, sends go out from the node holding it.
        sends_need_session_owner=True,
    )
)
