"""The `zalo` channel (Zalo Bot API)."""

from __future__ import annotations

from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin

__all__ = ["plugin"]


def _create(context: ChannelContext) -> Channel:
    from zalogate.channels.zalo.channel import create_channel

    return create_channel(context)


plugin = ChannelPlugin(id="zalo", label="Zalo Bot API", create=_create)
