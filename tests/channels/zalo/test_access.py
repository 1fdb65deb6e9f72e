"""Access control end to end (polling, real pipeline and pairing store): DM policies, pairing
replies sent once, unauthorised images never fetched, group policy and groupAllowFrom."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from zalogate.core.agent import Turn
from zalogate.core.model import ReplyPayload
from zalogate.core.pairing import PairingStore
from zalogate.testing.fake_botapi import FakeZaloBotApi

from .conftest import Harness, HarnessFactory, zalo_config


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
    pending = await PairingStore(harness.store).list_pending("zalo", "default")
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
    assert len(await PairingStore(harness.store).list_pending("zalo", "default")) == 1


async def test_an_approved_sender_reaches_the_agent(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, agent: RecordingAgent
) -> None:
    harness = await polling(fake, make_harness, agent, dmPolicy="pairing")
    fake.user("779").says("let me in")
    await fake.wait_for_sent(1)
    await drain(harness, fake)
    pairing = PairingStore(harness.store)
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
    await PairingStore(harness.store).add_allowed("zalo", "default", "555")
    fake.group("g3").user("555").says("@bot hi")
    await drain(harness, fake)
    assert agent.turns == []
