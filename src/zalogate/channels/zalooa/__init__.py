"""The ``zalooa`` channel: Zalo Official Accounts (OA Open API) — see docs/channels/zalooa.md."""

from __future__ import annotations

from zalogate.channels.zalooa.inspection import INSPECTOR
from zalogate.channels.zalooa.traits import CHANNEL_ID, TRAITS
from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin

__all__ = ["plugin"]


def _create(context: ChannelContext) -> Channel:
    from zalogate.channels.zalooa.channel import ZalooaChannel

    return ZalooaChannel(context)


plugin = ChannelPlugin(
    id=CHANNEL_ID,
    label="Zalo Official Account",
    create=_create,
    description="Zalo Official Accounts through the OA Open API (webhook, OAuth v4).",
    traits=TRAITS,
    inspector=INSPECTOR,
)
