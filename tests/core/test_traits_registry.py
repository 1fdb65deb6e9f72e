"""The traits registry: generic traits for an unknown channel, replaced once it registers."""

from __future__ import annotations

from zalogate.core import traits as registry
from zalogate.core.traits import ChannelTraits, register_traits, traits_for


def test_an_unknown_channel_gets_generic_traits_until_it_registers() -> None:
    channel = "test-traits-late"
    try:
        generic = traits_for(channel)
        assert generic == ChannelTraits(id=channel)
        assert generic.pairing_id_label == f"{channel}UserId"
        assert traits_for(channel) is generic  # built once, not once per message

        own = register_traits(ChannelTraits(id=channel, pairing_id_label="LATE ID"))
        assert traits_for(channel) is own
    finally:
        registry._registry.pop(channel, None)
        registry._generic.pop(channel, None)
