"""The `zalouser` channel (Zalo Personal)."""

from __future__ import annotations

from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin

__all__ = ["plugin"]


def _create(context: ChannelContext) -> Channel:
    from zalogate.channels.zalouser.channel import create_channel

    return create_channel(context)


plugin = ChannelPlugin(id="zalouser", label="Zalo Personal", create=_create)
