"""The `zalouser` channel (Zalo Personal)."""

from __future__ import annotations

from zalogate.channels.zalouser.inspection import INSPECTOR
from zalogate.channels.zalouser.traits import CHANNEL_ID, TRAITS
from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin

__all__ = ["plugin"]


def _create(context: ChannelContext) -> Channel:
    import importlib

    module = importlib.import_module("zalogate.channels.zalouser.channel")
    channel: Channel = module.create_channel(context)
    return channel


plugin = ChannelPlugin(
    id=CHANNEL_ID, label="Zalo Personal", create=_create, traits=TRAITS, inspector=INSPECTOR
)
