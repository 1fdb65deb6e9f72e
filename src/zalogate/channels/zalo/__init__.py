"""The `zalo` channel (Zalo Bot API)."""

from __future__ import annotations

from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin

__all__ = ["plugin"]


def _create(context: ChannelContext) -> Channel:
    import importlib

    module = importlib.import_module("zalogate.channels.zalo.channel")
    channel: Channel = module.create_channel(context)
    return channel


plugin = ChannelPlugin(id="zalo", label="Zalo Bot API", create=_create)
