"""Two personal accounts in one gateway: pairing stores and sessions are per account, and
each account answers from its own Zalo login."""

from __future__ import annotations

from zalogate.core.pairing import SqlitePairingStore

from .conftest import RecordingAgent, World


def two_accounts(world: World, **settings: object) -> dict[str, object]:
    world.save_session(world.BOT, profile="default")
    world.save_session(world.BOT2, profile="second")
    return {"accounts": {"default": {}, "second": {}}, **settings}


async def test_pairing_stores_are_isolated_per_account(world: World) -> None:
    agent = RecordingAgent()
    config = world.config(**two_accounts(world, dmPolicy="pairing"))
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.wait_for_listener(world.BOT2)
        alice = world.fake.user(world.ALICE)
        await alice.says_to(world.BOT, "hi bot one")
        first = await world.sent(kind="text", thread_id=world.ALICE)
        assert first.sender == world.BOT
        assert gateway.store is not None
        pairing = SqlitePairingStore(gateway.store)
        (request,) = await pairing.list_pending("zalouser", "default")
        await pairing.approve("zalouser", request.code, "default")
        assert await pairing.allowed_senders("zalouser", "default") == {world.ALICE}
        assert await pairing.allowed_senders("zalouser", "second") == frozenset()
        # Approved on account default: answered there...
        await alice.says_to(world.BOT, "again")
        answer = await world.sent(kind="text", thread_id=world.ALICE, count=2)
        assert (answer.sender, answer.text) == (world.BOT, "echo: again")
        # ...but account second does not know Alice: it challenges her with its own code.
        await alice.says_to(world.BOT2, "hi bot two")
        challenge = await world.sent(kind="text", thread_id=world.ALICE, count=3)
        assert challenge.sender == world.BOT2
        assert "pairing approve zalouser" in (challenge.text or "")
        (second_request,) = await pairing.list_pending("zalouser", "second")
        assert second_request.code != request.code
    assert [(t.account_id, t.text) for t in agent.turns] == [("default", "again")]


async def test_sessions_are_isolated_per_account(world: World) -> None:
    """With the default ``session.dmScope`` the same friend has one session per account."""
    agent = RecordingAgent()
    config = world.config(**two_accounts(world, dmPolicy="open", allowFrom=["*"]))
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.wait_for_listener(world.BOT2)
        alice = world.fake.user(world.ALICE)
        await alice.says_to(world.BOT, "to one")
        await world.sent(kind="text", thread_id=world.ALICE, count=1)
        await alice.says_to(world.BOT2, "to two")
        await world.sent(kind="text", thread_id=world.ALICE, count=2)
    keys = {t.account_id: t.session_key for t in agent.turns}
    assert keys == {
        "default": f"agent:main:zalouser:direct:{world.ALICE}",
        "second": f"agent:main:zalouser:second:direct:{world.ALICE}",
    }
    senders = {r.text: r.sender for r in world.records("text", world.ALICE)}
    assert senders == {"echo: to one": world.BOT, "echo: to two": world.BOT2}
