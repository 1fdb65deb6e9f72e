"""What the ``zalooa`` channel declares about itself."""

from __future__ import annotations

from types import MappingProxyType

from zalogate.core.traits import ChannelTraits, register_traits

__all__ = ["CHANNEL_ID", "TRAITS"]

CHANNEL_ID = "zalooa"

TRAITS = register_traits(
    ChannelTraits(
        id=CHANNEL_ID,
        prefixes=("zalooa", "oa"),
        target_kinds=MappingProxyType({"user": "user", "dm": "user"}),
        raw_id_markers=False,
        opaque_ids=True,  # OA-scoped user ids: never a display name to look up
        pairing_id_label="zaloOaUserId",
        shared_credentials=True,  # single-use refresh tokens
    )
)
