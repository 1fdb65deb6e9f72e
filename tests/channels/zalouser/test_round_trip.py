"""A DM goes simulator -> listener -> inbox -> pipeline -> echo agent -> Zalo send."""

from __future__ import annotations

from .conftest import World


async def test_dm_round_trip_from_saved_session(world: World) -> None:
    world.save_session()
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "xin chào")
        reply = await world.sent(kind="text", thread_id=world.ALICE)
        assert reply.sender == world.BOT
        assert reply.text == "xin chào"
