"""Access control end to end (polling, real pipeline and pairing store): DM policies, pairing
replies sent once, unauthorised images never fetched, group policy and groupAllowFrom."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from zalogate.channels.zalo import channel as zalo_channel
from zalogate.channels.zalo.channel import NO_SECTION_GROUP_WARNING, ZaloChannelOptions
from zalogate.core.access import effective_group_policy
from zalogate.core.agent import Turn
from zalogate.core.model import ReplyPayload
from zalogate.core.pairing import SqlitePairingStore
from zalogate.testing.fake_botapi import FakeZaloBotApi

from .conftest import Harness, HarnessFactory, fast_options, zalo_config


class RecordingAgent:
    """Echoes and remembers every turn it got."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.turns.append(turn)
        yield ReplyPayload(text=f"echo: {turn.text}")


@pytest.fixture
def agent() -> RecordingAgent:
    return RecordingAgent()


async def polling(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent, **settings: Any
) -> Harness:
    harness = await make_harness(zalo_config(fake, **settings), agent=agent)
    harness.start()
    await fake.wait_for_calls("getUpdates")
    return harness


async def drain(harness: Harness, fake: FakeZaloBotApi) -> None:
    """Wait until the fake handed out every update and the inbox processed them."""
    async with asyncio.timeout(5):
        while (
            fake.bot.pending
            or harness.inbox.counters.admitted + harness.inbox.counters.duplicates
            < len(fake.bot.updates)
        ):
            await asyncio.sleep(0.005)
    await harness.settle()


def text_event(sender: str, message_id: str, text: str) -> dict[str, Any]:
    return {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": sender, "display_name": "Stranger"},
            "chat": {"id": sender, "chat_type": "PRIVATE"},
            "message_id": message_id,
            "date": 1774080000000,
            "text": text,
        },
    }


async def test_pairing_sends_one_code_for_a_message_and_its_replay(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="pairing")
    fake.bot.push(text_event("777", "p1", "hello?"))
    fake.bot.push(text_event("777", "p1", "hello?"))  # Zalo replays it
    [reply] = await fake.wait_for_sent(1, chat_id="777")
    await drain(harness, fake)
    pending = await SqlitePairingStore(harness.store).list_pending("zalo", "default")
    assert [request.id for request in pending] == ["777"]
    code = pending[0].code
    assert reply.text is not None
    assert "Your Zalo user id: 777" in reply.text
    assert code in reply.text
    assert f"zalogate pairing approve zalo {code}" in reply.text
    assert agent.turns == []


async def test_a_pending_sender_gets_no_second_code(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="pairing")
    stranger = fake.user("777")
    stranger.says("first")
    await fake.wait_for_sent(1)
    stranger.says("second")
    stranger.says("third")
    await drain(harness, fake)
    assert len(fake.sent) == 1
    assert agent.turns == []


async def test_a_failed_pairing_send_is_not_retried_on_replay(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    fake.error_next("sendMessage", 400, "Bad request: refused")
    harness = await polling(fake, make_harness, agent, dmPolicy="pairing")
    fake.bot.push(text_event("778", "p2", "hi"))
    await drain(harness, fake)
    fake.bot.push(text_event("778", "p3", "anyone?"))
    await drain(harness, fake)
    assert fake.sent == []
    assert len(await SqlitePairingStore(harness.store).list_pending("zalo", "default")) == 1


async def test_an_approved_sender_reaches_the_agent(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="pairing")
    fake.user("779").says("let me in")
    await fake.wait_for_sent(1)
    await drain(harness, fake)
    pairing = SqlitePairingStore(harness.store)
    [request] = await pairing.list_pending("zalo", "default")
    await pairing.approve("zalo", request.code)
    fake.user("779").says("thanks")
    [_, reply] = await fake.wait_for_sent(2, chat_id="779")
    assert reply.text == "echo: thanks"


async def test_allowlist_admits_listed_ids_and_silently_drops_others(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(
        fake, make_harness, agent, dmPolicy="allowlist", allowFrom=["zalo:12345"]
    )
    fake.user("999").says("me too")
    fake.user("12345").says("hi")
    [reply] = await fake.wait_for_sent(1)
    await drain(harness, fake)
    assert (reply.chat_id, reply.text) == ("12345", "echo: hi")
    assert [t.sender_id for t in agent.turns] == ["12345"]
    assert len(fake.sent) == 1


async def test_disabled_dms_get_no_reply_and_no_turn(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="disabled", allowFrom=["1"])
    fake.user("1").says("hello")
    await drain(harness, fake)
    assert fake.sent == []
    assert agent.turns == []


async def test_an_unauthorised_image_gets_the_pairing_reply_and_is_never_downloaded(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="pairing")
    fake.user("780").sends_image(caption="look")
    [reply] = await fake.wait_for_sent(1)
    await drain(harness, fake)
    assert "Pairing code" in (reply.text or "")
    assert fake.media_requests == []
    assert not (harness.channel.context.state_dir / "media").exists()


async def test_an_allowlist_drop_of_an_image_downloads_nothing(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="allowlist", allowFrom=["1"])
    fake.user("2").sends_image()
    await drain(harness, fake)
    assert fake.media_requests == []
    assert fake.sent == []


# ------------------------------------------------------------------ groups


@pytest.mark.parametrize(
    ("settings", "allowed"),
    [
        ({"groupPolicy": "allowlist", "groupAllowFrom": ["zl:12345"]}, ["12345"]),
        ({"groupPolicy": "allowlist", "allowFrom": ["zalo:999"]}, ["999"]),  # fallback
        ({"groupPolicy": "allowlist"}, []),  # an empty allowlist blocks everything
        ({"groupPolicy": "disabled", "groupAllowFrom": ["*"]}, []),
        ({"groupPolicy": "open"}, ["12345", "999"]),
        ({}, ["12345", "999"]),  # unset: open (product decision)
        ({"groupPolicy": "allowlist", "groupAllowFrom": ["*"]}, ["12345", "999"]),
    ],
    ids=[
        "allowlist",
        "falls-back-to-allowFrom",
        "empty-allowlist",
        "disabled",
        "open",
        "unset-is-open",
        "wildcard",
    ],
)
async def test_group_policy_and_group_allow_from(
    fake: FakeZaloBotApi,
    make_harness: HarnessFactory,
    agent: RecordingAgent,
    settings: dict[str, Any],
    allowed: list[str],
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="disabled", **settings)
    group = fake.group("g1", name="Nhóm")
    group.user("12345", "A").says("@bot hi from A")
    group.user("999", "B").says("@bot hi from B")
    await drain(harness, fake)
    assert sorted(t.sender_id for t in agent.turns) == allowed
    assert {r.chat_id for r in fake.sent} == ({"g1"} if allowed else set())
    for turn in agent.turns:
        assert turn.was_mentioned is True  # the Bot API only delivers mentions in groups
        assert turn.body.startswith(("A: ", "B: "))


async def test_channels_defaults_group_policy_applies_when_unset(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    config = zalo_config(fake, dmPolicy="disabled")
    config["channels"]["defaults"] = {"groupPolicy": "disabled"}
    harness = await make_harness(config, agent=agent)
    harness.start()
    fake.group("g2").user("1").says("@bot hi")
    await drain(harness, fake)
    assert agent.turns == []


async def test_pairing_approval_does_not_open_groups(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="pairing", groupPolicy="allowlist")
    await SqlitePairingStore(harness.store).add_allowed("zalo", "default", "555")
    fake.group("g3").user("555").says("@bot hi")
    await drain(harness, fake)
    assert agent.turns == []


# ------------------------------------------------------------------ no channels.zalo section


def env_only(fake: FakeZaloBotApi) -> ZaloChannelOptions:
    """The token (and the fake's URL) from the environment only."""
    return fast_options(env={"ZALO_BOT_TOKEN": fake.token, "ZALO_API_URL": fake.base_url})


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget the process-wide one-time warnings of the zalo channel."""
    monkeypatch.setattr(zalo_channel, "_warned", set())


async def test_without_a_zalo_section_groups_are_fail_closed_and_dms_pair(
    fake: FakeZaloBotApi,
    make_harness: HarnessFactory,
    agent: RecordingAgent,
    fresh_warnings: None,
) -> None:
    """Scenario 30, ``channels.zalo`` absent: the effective group policy is allowlist (the
    global ``channels.defaults.groupPolicy: open`` is ignored); DMs keep pairing."""
    config = {"channels": {"defaults": {"groupPolicy": "open"}}}
    harness = await make_harness(config, options=env_only(fake), agent=agent)
    [account] = harness.channel.accounts()
    assert (account.account_id, account.enabled) == ("default", True)
    assert effective_group_policy(harness.channel.policy(account)) == "allowlist"
    snapshot = harness.channel.account_snapshot(account)
    assert (snapshot["tokenSource"], snapshot["groupPolicy"], snapshot["dmPolicy"]) == (
        "env",
        "allowlist",
        "pairing",
    )
    assert NO_SECTION_GROUP_WARNING in snapshot["warnings"]
    assert fake.token not in repr(snapshot)
    harness.start()
    await fake.wait_for_calls("getUpdates")
    fake.group("g1", name="Nhóm").user("12345", "A").says("@bot hi from a group")
    fake.user("777").says("hello?")
    [reply] = await fake.wait_for_sent(1, chat_id="777")
    await drain(harness, fake)
    assert agent.turns == []
    assert [r.chat_id for r in fake.sent] == ["777"]
    assert reply.text is not None
    assert "Your Zalo user id: 777" in reply.text


async def test_with_a_written_section_the_defaults_group_policy_applies_again(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    """The same env-only token with an (empty) ``channels.zalo`` section: unchanged rules."""
    config = {"channels": {"defaults": {"groupPolicy": "open"}, "zalo": {"dmPolicy": "disabled"}}}
    harness = await make_harness(config, options=env_only(fake), agent=agent)
    account = harness.account()
    assert effective_group_policy(harness.channel.policy(account)) == "open"
    assert NO_SECTION_GROUP_WARNING not in harness.channel.status_warnings(account)
    harness.start()
    fake.group("g1").user("12345", "A").says("@bot hi")
    await fake.wait_for_sent(1, chat_id="g1")
    await drain(harness, fake)
    assert [t.sender_id for t in agent.turns] == ["12345"]


async def test_the_no_section_warning_is_logged_once_per_process(
    fake: FakeZaloBotApi,
    make_harness: HarnessFactory,
    agent: RecordingAgent,
    fresh_warnings: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "zalogate.channels.zalo")
    first = await make_harness({}, options=env_only(fake), agent=agent)
    second = await make_harness({}, options=env_only(fake), agent=agent)
    assert caplog.text.count("channels.zalo is not in the config") == 0  # not at build time
    first.start()
    await fake.wait_for_calls("getUpdates")
    for i in range(3):
        fake.group("g1").user("12345").says(f"@bot group message {i}")
    await drain(first, fake)
    await first.stop_monitors()
    assert len(await fake.wait_for_calls("getMe")) == 1  # each monitor start probes once
    second.start()  # another channel (and a restarted monitor) in the same process
    await fake.wait_for_calls("getMe", 2)
    records = [r for r in caplog.records if "channels.zalo is not in the config" in r.message]
    assert len(records) == 1
    assert records[0].levelno == logging.WARNING
    assert "channels.zalo.groupPolicy" in records[0].message
    assert fake.token not in caplog.text
    assert agent.turns == []
