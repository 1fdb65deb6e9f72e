"""Group messages end to end (simulator -> listener -> inbox -> pipeline -> echo -> Zalo):
mention gating from the account's own uid, command bypass and authorisation, group routes and
sender allowlists, name matching, pending history, typing and receipts only when processed."""

from __future__ import annotations

import logging

import pytest

from zalogate.core import presence

from .conftest import RecordingAgent, World

WILDCARD_MENTION = {"groups": {"*": {"requireMention": True}}}


async def test_unmentioned_message_is_skipped_without_typing_or_receipts(world: World) -> None:
    """P1: requireMention and no mention: no dispatch, no typing, no seen receipt."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(groupPolicy="open", **WILDCARD_MENTION)
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        alice = world.fake.group(world.GROUP).user(world.ALICE)
        skipped = await alice.says("just chatting")
        assert await world.processed(gateway, skipped) == "done"
        assert agent.turns == []
        assert world.records("typing") == []
        assert [r for r in world.fake.sent if r.msg_id == skipped["msgId"]] == []


async def test_explicit_mention_dispatches_to_the_group_with_typing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """P4: a mention of the account's own uid: dispatched with WasMentioned; the reply, the
    typing indicator and the receipts go to the group."""
    monkeypatch.setattr(presence, "TYPING_GRACE", 0.0)  # the agent answers at once
    world.save_session()
    agent = RecordingAgent()
    config = world.config(groupPolicy="open", **WILDCARD_MENTION)
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        message = (
            await world.fake.group(world.GROUP)
            .user(world.ALICE)
            .says("@Bot what time is it?", mentions=[world.BOT])
        )
        reply = await world.sent(kind="text", thread_id=world.GROUP)
        assert reply.thread_type == "group"
        assert reply.text == "echo: @Bot what time is it?"
        (turn,) = agent.turns
        assert turn.was_mentioned
        assert (turn.chat_id, turn.group_name) == (world.GROUP, "Team")
        assert turn.body.startswith("Alice: ")
        assert (await world.sent(kind="typing", thread_id=world.GROUP)).thread_type == "group"
        seen = await world.sent(kind="seen", thread_id=world.GROUP)
        assert seen.msg_id == message["msgId"]


async def test_quoting_the_account_counts_as_a_mention(world: World) -> None:
    world.save_session()
    agent = RecordingAgent()
    config = world.config(groupPolicy="open", **WILDCARD_MENTION)
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        member = world.fake.group(world.GROUP).user(world.ALICE)
        await member.says("@Bot first", mentions=[world.BOT])
        ours = await world.sent(kind="text", thread_id=world.GROUP)
        quote = {"ownerId": world.BOT, "globalMsgId": ours.msg_id, "msg": ours.text}
        await world.fake._deliver_group(
            world.ALICE, world.GROUP, "webchat", "and then?", None, None, extra={"quote": quote}
        )
        await world.sent(kind="text", thread_id=world.GROUP, count=2)
        assert agent.turns[1].was_mentioned


async def test_authorised_command_bypasses_the_mention_gate(world: World) -> None:
    """P5/P7: ``/status`` without a mention from a sender in allowFrom is dispatched."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(groupPolicy="open", allowFrom=[world.ALICE], **WILDCARD_MENTION)
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.group(world.GROUP).user(world.ALICE).says("/status")
        await world.sent(kind="text", thread_id=world.GROUP)
        assert agent.turns[0].was_mentioned


async def test_command_authorised_through_group_allow_from(world: World) -> None:
    """P8: allowFrom 999, groupAllowFrom Alice: Alice's ``/new`` is authorised."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(
        groupPolicy="open", allowFrom=["999"], groupAllowFrom=[world.ALICE], **WILDCARD_MENTION
    )
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.group(world.GROUP).user(world.ALICE).says("/new")
        await world.sent(kind="text", thread_id=world.GROUP)
        assert [t.text for t in agent.turns] == ["/new"]


async def test_mention_prefixed_command_from_an_unauthorised_sender_is_dropped(
    world: World,
) -> None:
    """P6/P9 (commands): ``@Bot /new`` is the command ``/new``; Carol is not authorised for
    commands (only Alice is), so it is dropped while her plain mention is answered."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(groupPolicy="open", allowFrom=[world.ALICE], **WILDCARD_MENTION)
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        carol = world.fake.group(world.GROUP).user(world.CAROL)
        command = await carol.says("@Bot /new", mentions=[world.BOT])
        assert await world.processed(gateway, command) == "done"
        await carol.says("@Bot hello", mentions=[world.BOT])
        await world.sent(kind="text", thread_id=world.GROUP)
        assert [t.text for t in agent.turns] == ["@Bot hello"]


async def test_allowlisted_group_admits_members_outside_allow_from(world: World) -> None:
    """P9 as OpenClaw does it now (PR 46663): groupAllowFrom unset is no sender filter and
    never falls back to allowFrom [Alice]; Carol is answered in the allowlisted group, and
    receipts go only to processed messages."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(
        groupPolicy="allowlist",
        allowFrom=[world.ALICE],
        groups={f"group:{world.GROUP}": {"allow": True, "requireMention": False}},
    )
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.group(world.GROUP).user(world.CAROL).says("hi from carol")
        await world.sent(kind="text", thread_id=world.GROUP)
        elsewhere = await world.fake.group(world.GROUP2).user(world.ALICE).says("hi elsewhere")
        assert await world.processed(gateway, elsewhere) == "done"
        assert [t.sender_id for t in agent.turns] == [world.CAROL]
        seen = [r.msg_id for r in world.records("seen")]
        assert elsewhere["msgId"] not in seen


async def test_sender_outside_group_allow_from_is_blocked(world: World) -> None:
    """P10: allowlist policy, groupAllowFrom [999]: Alice is blocked."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(
        groupPolicy="allowlist",
        groupAllowFrom=["999"],
        groups={"*": {"requireMention": False}},
    )
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        message = await world.fake.group(world.GROUP).user(world.ALICE).says("hello")
        assert await world.processed(gateway, message) == "done"
        assert agent.turns == []
        assert world.records("text") == []


async def test_unlisted_group_is_blocked_under_allowlist(world: World) -> None:
    world.save_session()
    agent = RecordingAgent()
    config = world.config(
        groupPolicy="allowlist",
        groupAllowFrom=["*"],
        groups={world.GROUP: {"requireMention": False}},
    )
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        other = await world.fake.group(world.GROUP2).user(world.DAVE).says("hello")
        assert await world.processed(gateway, other) == "done"
        await world.fake.group(world.GROUP).user(world.ALICE).says("hello")
        await world.sent(kind="text", thread_id=world.GROUP)
        assert [t.chat_id for t in agent.turns] == [world.GROUP]


async def test_group_names_are_resolved_at_startup_and_logged(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """``groups`` keyed by a name apply to the group that had that name at startup."""
    caplog.set_level(logging.INFO)
    world.save_session()
    agent = RecordingAgent()
    config = world.config(
        groupPolicy="allowlist",
        groupAllowFrom=["*"],
        groups={"Team": {"requireMention": False}, "Nowhere": {}},
    )
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.group(world.GROUP).user(world.ALICE).says("hello team")
        await world.sent(kind="text", thread_id=world.GROUP)
    assert f"zalouser groups resolved: Team→{world.GROUP}" in caplog.text
    assert "zalouser groups unresolved: Nowhere" in caplog.text


@pytest.mark.parametrize("dangerous", [False, True])
async def test_renamed_group_matches_by_name_only_with_the_dangerous_flag(
    world: World, dangerous: bool
) -> None:
    """P11/P12: a group renamed to a configured name after startup (spoofing) matches only
    with dangerouslyAllowNameMatching."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(
        groupPolicy="allowlist",
        groupAllowFrom=["*"],
        groups={"Trusted Team": {"requireMention": False}, "group:g-trusted-001": {}},
        dangerouslyAllowNameMatching=dangerous,
    )
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        world.fake.groups[world.GROUP2].name = "Trusted Team"
        message = await world.fake.group(world.GROUP2).user(world.DAVE).says("let me in")
        assert await world.processed(gateway, message) == "done"
        assert [t.chat_id for t in agent.turns] == ([world.GROUP2] if dangerous else [])


async def test_pending_history_reaches_the_next_processed_message(world: World) -> None:
    """P16: historyLimit 5; the skipped line is prepended to the next dispatch, then cleared."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(groupPolicy="open", historyLimit=5, **WILDCARD_MENTION)
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        alice = world.fake.group(world.GROUP).user(world.ALICE)
        await alice.says("first unmentioned line")
        await alice.says("@Bot second", mentions=[world.BOT])
        await world.sent(kind="text", thread_id=world.GROUP)
        await alice.says("@Bot third", mentions=[world.BOT])
        await world.sent(kind="text", thread_id=world.GROUP, count=2)
    first, second = agent.turns
    assert [(h.sender, h.body) for h in first.history] == [("Alice", "first unmentioned line")]
    assert "first unmentioned line" in first.body
    assert second.history == ()


async def test_unset_group_policy_is_open_and_warned_about(world: World) -> None:
    """P2 superseded by product-decisions: unset groupPolicy -> open (status warns);
    ``channels.defaults.groupPolicy: allowlist`` blocks."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config()
    async with world.gateway(config, agent=agent) as (_, channel):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.group(world.GROUP).user(world.ALICE).says("@Bot hi", mentions=[world.BOT])
        await world.sent(kind="text", thread_id=world.GROUP)
        account = channel.accounts()[0]
        assert channel.account_snapshot(account)["groupPolicy"] == "open"
        assert any('groupPolicy is "open"' in w for w in channel.status_warnings(account))
    strict = world.config(root={"channels": {"defaults": {"groupPolicy": "allowlist"}}})
    agent2 = RecordingAgent()
    async with world.gateway(strict, agent=agent2) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        message = (
            await world.fake.group(world.GROUP)
            .user(world.ALICE)
            .says("@Bot hi again", mentions=[world.BOT])
        )
        assert await world.processed(gateway, message) == "done"
        assert agent2.turns == []


async def test_mention_patterns_count_as_mentions(world: World) -> None:
    world.save_session()
    agent = RecordingAgent()
    config = world.config(groupPolicy="open", mentionPatterns=[r"\bbotty\b"], **WILDCARD_MENTION)
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.group(world.GROUP).user(world.ALICE).says("hey Botty, help")
        await world.sent(kind="text", thread_id=world.GROUP)
        assert agent.turns[0].was_mentioned
