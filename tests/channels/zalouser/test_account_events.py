"""Friend requests (``friendRequests`` ignore | accept | pairing, with a greeting), and group
joins, leaves, renames and recalls in the group's pending history."""

from __future__ import annotations

import json

import pytest

from .conftest import RecordingAgent, World, eventually


@pytest.mark.parametrize(
    ("mode", "accepted"),
    [("ignore", set()), ("accept", {"2003", "2001"}), ("pairing", {"2001"})],
)
async def test_friend_requests_follow_the_configured_mode(
    world: World, mode: str, accepted: set[str]
) -> None:
    """Dave (a stranger) and Alice (in allowFrom) ask the bot for friendship; ``pairing``
    accepts only Alice; an accepted requester gets the greeting."""
    world.save_session()
    world.fake.accounts[world.BOT].friends.discard(world.ALICE)
    config = world.config(
        allowFrom=[world.ALICE], friendRequests=mode, friendRequestGreeting="Chào bạn!"
    )
    async with world.gateway(config, agent=RecordingAgent()):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.DAVE).sends_friend_request_to(world.BOT, "kết bạn nhé")
        await world.fake.user(world.ALICE).sends_friend_request_to(world.BOT)
        # The listener handles events in order: once this DM is answered, so were they.
        await world.fake.user(world.ALICE).says_to(world.BOT, "ping")
        await world.sent(kind="text", count=len(accepted) + 1)
    bot = world.fake.accounts[world.BOT]
    assert {world.DAVE, world.ALICE} & bot.friends == accepted
    assert bot.friend_requests == {world.DAVE, world.ALICE} - accepted
    await eventually(lambda: len(world.records("text")) == len(accepted) + 1)
    greeted = {r.thread_id for r in world.records("text") if r.text == "Chào bạn!"}
    assert greeted == accepted


async def test_group_membership_renames_and_recalls_reach_the_group_history(
    world: World,
) -> None:
    world.save_session()
    agent = RecordingAgent()
    config = world.config(groupPolicy="open", groups={"*": {"requireMention": True}})
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        team = world.fake.group(world.GROUP)
        await team.event("join", world.DAVE)
        await team.event("update", world.ALICE, groupName="Team 2")
        said = await team.user(world.CAROL).says("oops wrong group")
        await world.fake.user(world.CAROL).recalls(said)
        await team.event("leave", world.DAVE)
        await team.user(world.ALICE).says("@Bot who is here?", mentions=[world.BOT])
        await world.sent(kind="text", thread_id=world.GROUP)
    (turn,) = agent.turns
    lines = [(h.sender, h.body) for h in turn.history]
    assert ("Zalo", "Dave joined the group") in lines
    assert ("Zalo", "the group was renamed to “Team 2”") in lines
    assert ("Zalo", "Dave left the group") in lines
    assert (world.CAROL, "(recalled a message)") in lines
    assert lines.index(("Zalo", "Dave joined the group")) < lines.index(
        ("Zalo", "Dave left the group")
    )


async def test_group_events_of_closed_groups_are_not_kept(world: World) -> None:
    world.save_session()
    agent = RecordingAgent()
    config = world.config(
        groupPolicy="allowlist", groups={f"group:{world.GROUP2}": {"requireMention": False}}
    )
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.group(world.GROUP).event("join", world.DAVE)
        await world.fake.group(world.GROUP2).user(world.DAVE).says("hello")
        await world.sent(kind="text", thread_id=world.GROUP2)
    (turn,) = agent.turns
    assert turn.history == ()


async def test_a_recalled_dm_is_noted_in_the_conversations_transcript(world: World) -> None:
    """Alice recalls a DM: no agent turn, the transcript of her conversation notes it (so
    the agent sees it with her next message); a stranger's recall is not kept."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(dmPolicy="allowlist", allowFrom=[world.ALICE])
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        said = await world.fake.user(world.ALICE).says_to(world.BOT, "my password is hunter2")
        await world.sent(kind="text", thread_id=world.ALICE)
        await world.fake.user(world.ALICE).recalls(said)
        stranger = await world.fake.user(world.DAVE).says_to(world.BOT, "hi")
        await world.fake.user(world.DAVE).recalls(stranger)
        # One lane per conversation, in order: once this is answered, the recall was noted.
        await world.fake.user(world.ALICE).says_to(world.BOT, "ping")
        await world.sent(kind="text", thread_id=world.ALICE, count=2)
        assert gateway.store is not None
        rows = await gateway.store.fetchall(
            "SELECT session_key, content FROM agent_transcripts ORDER BY id"
        )
    assert [turn.text for turn in agent.turns] == ["my password is hunter2", "ping"]
    (row,) = rows
    note = json.loads(row["content"])
    assert note == {"role": "user", "content": f"(message {said['msgId']} was recalled)"}
    assert row["session_key"] == agent.turns[1].session_key
