"""What the ``zalo`` channel declares about itself (read by the core, the CLI and the runtime)."""

from __future__ import annotations

from types import MappingProxyType

from zalogate.core.traits import ChannelTraits, register_traits

__all__ = ["CHANNEL_ID", "TRAITS"]

CHANNEL_ID = "zalo"

TRAITS = register_traits(
    ChannelTraits(
        id=CHANNEL_ID,
        prefixes=("zalo", "zl"),
        # After the provider prefix one of these may follow; only ``group:`` marks a group.
        target_kinds=MappingProxyType(
            {
                "user": "user",
                "channel": "user",
                "conversation": "user",
                "room": "user",
                "dm": "user",
                "group": "group",
            }
        ),
        raw_id_markers=False,
        opaque_ids=True,  # Bot API chat ids are opaque: never a display name to look up
        groups_need_mention=True,  # the Bot API delivers only group messages that mention
        pairing_id_label="zaloUserId",
        credentials_hint=" or set ZALO_BOT_TOKEN",
    )
)
