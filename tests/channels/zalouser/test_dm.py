"""Direct messages end to end: DM policies and pairing, names in allowFrom resolved at
startup, per-sender sessions, messagePrefix, photos downloaded only after access control,
attachment placeholders, receipts only for admitted senders."""

from __future__ import annotations

import asyncio
import logging
import stat
from pathlib import Path

import pytest

from zalogate.channels.zalouser.accounts import UNSUPPORTED_REPLY
from zalogate.core.pairing import SqlitePairingStore
from zalogate.testing.fake_botapi import make_png

from .conftest import RecordingAgent, World, eventually


async def test_dm_session_is_per_sender(world: World) -> None:
    """P13: an open DM from 2001 is routed to ``agent:main:zalouser:direct:2001``."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "hi")
        await world.fake.user(world.CAROL).says_to(world.BOT, "hi")
        await world.sent(kind="text", thread_id=world.ALICE)
        await world.sent(kind="text", thread_id=world.CAROL)
    assert {t.session_key for t in agent.turns} == {
        f"agent:main:zalouser:direct:{world.ALICE}",
        f"agent:main:zalouser:direct:{world.CAROL}",
    }


async def test_stranger_gets_one_pairing_code_then_is_answered_after_approval(
    world: World,
) -> None:
    world.save_session()
    agent = RecordingAgent()
    async with world.gateway(world.config(), agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        dave = world.fake.user(world.DAVE)
        first = await dave.says_to(world.BOT, "hello?")
        challenge = await world.sent(kind="text", thread_id=world.DAVE)
        assert f"Your Zalo user id: {world.DAVE}" in (challenge.text or "")
        assert "zalogate pairing approve zalouser" in (challenge.text or "")
        second = await dave.says_to(world.BOT, "anyone?")
        assert await world.processed(gateway, second) == "done"
        assert len(world.records("text", world.DAVE)) == 1
        assert agent.turns == []
        # A stranger's messages are not marked seen.
        seen = {r.msg_id for r in world.records("seen")}
        assert {first["msgId"], second["msgId"]}.isdisjoint(seen)
        assert gateway.store is not None
        pairing = SqlitePairingStore(gateway.store)
        (request,) = await pairing.list_pending("zalouser", "default")
        await pairing.approve("zalouser", request.code)
        await dave.says_to(world.BOT, "now?")
        await world.sent(kind="text", thread_id=world.DAVE, count=2)
        assert [t.text for t in agent.turns] == ["now?"]


async def test_pairing_is_scoped_to_the_account(world: World) -> None:
    """P18: on account ``beta`` the pairing request carries ``accountId: beta`` and account
    beta's reply goes out."""
    world.save_session(world.BOT2, profile="beta")
    config = world.config(accounts={"beta": {"dmPolicy": "pairing"}}, enabled=True)
    async with world.gateway(config) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT2)
        await world.fake.user(world.DAVE).says_to(world.BOT2, "attacker here")
        reply = await world.sent(kind="text", thread_id=world.DAVE)
        assert reply.sender == world.BOT2
        assert gateway.store is not None
        (request,) = await SqlitePairingStore(gateway.store).list_pending("zalouser")
        assert (request.account_id, request.meta["accountId"]) == ("beta", "beta")


async def test_allow_from_names_are_resolved_to_ids_at_startup(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world.save_session()
    agent = RecordingAgent()
    config = world.config(dmPolicy="allowlist", allowFrom=["alice", "Nobody Here"])
    async with world.gateway(config, agent=agent) as (gateway, channel):
        await world.fake.wait_for_listener(world.BOT)
        blocked = await world.fake.user(world.CAROL).says_to(world.BOT, "me too")
        assert await world.processed(gateway, blocked) == "done"
        await world.fake.user(world.ALICE).says_to(world.BOT, "it is me")
        await world.sent(kind="text", thread_id=world.ALICE)
        assert [t.sender_id for t in agent.turns] == [world.ALICE]
        assert world.ALICE in channel.policy(channel.accounts()[0]).allow_from
        # The blocked sender learns nothing: no reply, no receipts.
        assert world.records("text", world.CAROL) == []
        assert world.records("seen", world.CAROL) == []
    assert f"zalouser users resolved: alice→{world.ALICE}" in caplog.text
    assert "zalouser users unresolved: Nobody Here" in caplog.text


async def test_disabled_dm_policy_drops_everything(world: World) -> None:
    world.save_session()
    agent = RecordingAgent()
    async with world.gateway(world.config(dmPolicy="disabled"), agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        message = await world.fake.user(world.ALICE).says_to(world.BOT, "hi")
        assert await world.processed(gateway, message) == "done"
        assert agent.turns == []
        assert world.records("text") == []


@pytest.mark.parametrize(("prefix", "expected"), [("[acct]", "[acct] hello"), ("", "hello")])
async def test_message_prefix_on_the_agent_body(world: World, prefix: str, expected: str) -> None:
    """P19: ``messagePrefix`` is prepended to the agent's body; ``""`` adds nothing (and the
    outbound ``responsePrefix`` does not leak into the inbound body)."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(
        dmPolicy="open", allowFrom=["*"], messagePrefix=prefix, responsePrefix="[outbound]"
    )
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "hello")
        reply = await world.sent(kind="text", thread_id=world.ALICE)
    assert agent.turns[0].body == expected
    assert reply.text == "[outbound] echo: hello"


async def test_photo_is_downloaded_only_for_an_admitted_sender(world: World) -> None:
    world.save_session()
    agent = RecordingAgent()
    png = make_png(4, 3)
    config = world.config(dmPolicy="allowlist", allowFrom=[world.ALICE])
    async with world.gateway(config, agent=agent) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        stranger = await world.fake.user(world.CAROL).sends_photo_to(world.BOT, png)
        assert await world.processed(gateway, stranger) == "done"
        media_dir = world.state_dir / "media" / "zalouser"
        assert not media_dir.exists() or not any(media_dir.rglob("*.*"))
        await world.fake.user(world.ALICE).sends_photo_to(world.BOT, png, caption="look")
        await world.sent(kind="text", thread_id=world.ALICE)
    (turn,) = agent.turns
    assert turn.text == "look"
    (media,) = turn.media
    assert media.kind == "image"
    assert media.path is not None
    path = Path(media.path)
    assert path.read_bytes() == png  # noqa: ASYNC240 (a test reading what was written)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # noqa: ASYNC240


async def test_photo_over_the_size_cap_is_announced_unavailable(world: World) -> None:
    world.save_session()
    agent = RecordingAgent()
    big = make_png(400, 400) + b"\0" * 1_100_000
    config = world.config(dmPolicy="open", allowFrom=["*"], mediaMaxMb=1)
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).sends_photo_to(world.BOT, big, caption="huge")
        await world.sent(kind="text", thread_id=world.ALICE)
    (turn,) = agent.turns
    (media,) = turn.media
    assert media.path is None
    assert "unavailable" in turn.body


async def test_every_inbound_kind_reaches_the_agent(world: World) -> None:
    """Files, voice and video are downloaded (path, MIME type, size) within mediaMaxMb; a file
    over the cap keeps a note; a sticker and a location are short descriptions."""
    world.save_session()
    agent = RecordingAgent(lambda turn: "got it")
    config = world.config(dmPolicy="open", allowFrom=["*"], mediaMaxMb=0.001)
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        alice = world.fake.user(world.ALICE)
        await alice.sends_file_to(world.BOT, b"%PDF-1.4 tiny", "report.pdf")
        await alice.sends_file_to(world.BOT, b"\x00" * 300, "voice.m4a", msg_type="chat.voice")
        await alice.sends_file_to(world.BOT, b"\x00" * 5000, "clip.mp4", msg_type="chat.video.msg")
        await alice.sends_to(world.BOT, "chat.sticker", {"id": 1, "catId": 2, "type": 7})
        location = {"title": "Cafe", "params": '{"latitude":10.7,"longitude":106.6}'}
        await alice.sends_to(world.BOT, "chat.location.new", location)
        await world.sent(kind="text", thread_id=world.ALICE, count=5)
    document, voice, video, sticker, place = agent.turns
    (pdf,) = document.media
    assert (pdf.kind, pdf.name, pdf.mime_type, pdf.size) == (
        "file",
        "report.pdf",
        "application/pdf",
        13,
    )
    assert pdf.path is not None
    assert await asyncio.to_thread(Path(pdf.path).read_bytes) == b"%PDF-1.4 tiny"
    assert "report.pdf" in document.body
    (audio,) = voice.media
    assert (audio.kind, audio.mime_type, audio.size) == ("audio", "audio/mp4", 300)
    assert voice.body == "<media:audio>"
    (clip,) = video.media
    assert clip.path is None
    assert "not downloaded: over mediaMaxMb" in video.body
    assert sticker.body == "[sticker]"
    assert place.body == "[location: Cafe 10.7,106.6]"


async def test_legacy_group_kind_dm_session_is_reused(world: World) -> None:
    """P14: only the old ``agent:main:zalouser:group:<sender>`` session exists: it is reused."""
    world.save_session()
    agent = RecordingAgent()
    legacy = f"agent:main:zalouser:group:{world.ALICE}"
    async with world.gateway(world.config(dmPolicy="open", allowFrom=["*"]), agent=agent) as (
        gateway,
        _,
    ):
        assert gateway.store is not None
        await gateway.store.execute(
            "INSERT INTO agent_transcripts (session_key, content, created_at_ms) VALUES (?, ?, 0)",
            (legacy, "{}"),
        )
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "remember me?")
        await world.sent(kind="text", thread_id=world.ALICE)
    assert agent.turns[0].session_key == legacy


async def test_the_last_name_resolution_serves_before_the_monitor_runs(world: World) -> None:
    """A message replayed at start-up (before the monitor resolved names) and one-off commands
    use the mapping saved by the last run, but only for the same config."""
    world.save_session()
    config = world.config(dmPolicy="allowlist", allowFrom=["Alice"])
    async with world.gateway(config) as (_, channel):
        await world.fake.wait_for_listener(world.BOT)
        await eventually(lambda: world.ALICE in channel.policy(channel.accounts()[0]).allow_from)
    async with world.channel(config) as fresh:
        assert world.ALICE in fresh.policy(fresh.accounts()[0]).allow_from
    changed = world.config(dmPolicy="allowlist", allowFrom=["Alice", "Carol"])
    async with world.channel(changed) as fresh:
        assert world.ALICE not in fresh.policy(fresh.accounts()[0]).allow_from


async def test_messages_response_prefix_is_the_fallback_for_the_account(world: World) -> None:
    """``messages.responsePrefix`` and ``messages.groupChat.historyLimit`` apply unless the
    account sets its own (as for the zalo channel and the gateway's default policy)."""
    messages = {"responsePrefix": "[bot]", "groupChat": {"historyLimit": 7}}
    async with world.channel(world.config(root={"messages": messages})) as channel:
        [account] = channel.accounts()
        policy = channel.policy(account)
    assert (policy.response_prefix, policy.history_limit) == ("[bot]", 7)
    own = world.config(root={"messages": messages}, responsePrefix="", historyLimit=3)
    async with world.channel(own) as channel:
        [account] = channel.accounts()
        policy = channel.policy(account)
    assert (policy.response_prefix, policy.history_limit) == ("", 3)


async def test_a_burst_from_two_senders_is_answered_in_each_senders_order(world: World) -> None:
    """Admissions overlap (the monitor does not wait for each commit), yet every sender's
    messages reach the agent, and get their replies, in the order they were written."""
    world.save_session()
    agent = RecordingAgent()
    config = world.config(dmPolicy="open", allowFrom=["*"])
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        alice, carol = world.fake.user(world.ALICE), world.fake.user(world.CAROL)
        for i in range(15):
            await alice.says_to(world.BOT, f"alice {i}")
            await carol.says_to(world.BOT, f"carol {i}")
        await world.sent(kind="text", thread_id=world.ALICE, count=15)
        await world.sent(kind="text", thread_id=world.CAROL, count=15)
        replies = {
            who: [r.text for r in world.records("text", uid)]
            for who, uid in (("alice", world.ALICE), ("carol", world.CAROL))
        }
    for who in ("alice", "carol"):
        expected = [f"{who} {i}" for i in range(15)]
        assert [t.text for t in agent.turns if t.text.startswith(who)] == expected
        assert replies[who] == [f"echo: {text}" for text in expected]


@pytest.mark.parametrize("notice", [None, "Mình chưa đọc được tin này.", False])
async def test_a_kind_the_agent_cannot_use_gets_one_notice_per_conversation(
    world: World, notice: str | bool | None
) -> None:
    """Two polls (a kind the agent cannot use) and then a text: one notice (configurable, or
    none with ``unsupportedReply: false``), no agent turn for the polls."""
    world.save_session()
    agent = RecordingAgent(lambda turn: "got it")
    extra = {} if notice is None else {"unsupportedReply": notice}
    config = world.config(dmPolicy="open", allowFrom=["*"], **extra)
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        alice = world.fake.user(world.ALICE)
        await alice.sends_to(world.BOT, "group.poll", {"pollId": 7})
        await alice.sends_to(world.BOT, "group.poll", {"pollId": 8})
        await alice.says_to(world.BOT, "and now text")
        await world.sent(kind="text", thread_id=world.ALICE, count=1 if notice is False else 2)
        await eventually(lambda: len(agent.turns) == 1)
    texts = [r.text for r in world.records("text")]
    expected = {None: [UNSUPPORTED_REPLY], False: []}.get(notice, [notice])
    assert texts == [*expected, "got it"]
    assert [t.text for t in agent.turns] == ["and now text"]
