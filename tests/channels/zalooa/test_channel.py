"""The ``zalooa`` channel in a real gateway against ``FakeZaloOA`` (scenarios 11-23, 27)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from types import SimpleNamespace

import httpx2
import pytest

from zalogate.channels.zalooa.channel import ZalooaChannel
from zalogate.core.errors import DeliveryError, FailureKind
from zalogate.core.model import ReplyPayload
from zalogate.oa import TokenFile, TokenPair
from zalogate.oa.signature import sign
from zalogate.testing import FakeZaloOA

from .world import Agent, started, until, world


@pytest.mark.timeout(30)
@pytest.mark.parametrize("variant", ["mac=app_id", "bare=app_id", "mac=oa_id"])
async def test_a_signed_message_is_answered_once_and_echoes_are_ignored(
    fake: FakeZaloOA, tmp_path: Path, variant: str
) -> None:
    fake.signature_variant = variant  # type: ignore[assignment]
    agent = Agent()
    gateway = world(fake, tmp_path, agent)
    async with gateway:
        await started(gateway, fake)
        fake.user("246845883529197922", "Khoa")
        event = fake.user_message("246845883529197922", "user_send_text", {"text": "xin chao"})
        delivery = await fake.deliver(event)
        assert delivery.status == 200
        again = await fake.redeliver(delivery)  # Zalo's retry: same msg_id
        assert again.status == 200
        [reply] = await fake.wait_for_sent(1)
        assert reply.text == "echo: xin chao"
        assert reply.user_id == "246845883529197922"
        await until(lambda: len(fake.deliveries) >= 3)  # the oa_send_text echo came back
        await asyncio.sleep(0.2)
    assert [t.text for t in agent.turns] == ["xin chao"]
    assert len(fake.sent) == 1


@pytest.mark.timeout(30)
async def test_bad_signatures_are_refused_and_unknown_events_acknowledged(
    fake: FakeZaloOA, tmp_path: Path
) -> None:
    agent = Agent()
    gateway = world(fake, tmp_path, agent)
    async with gateway:
        await started(gateway, fake)
        fake.user("42")
        body = json.dumps(fake.user_message("42", "user_send_text", {"text": "x"})).encode()
        ts = json.loads(body)["timestamp"]
        wrong = sign(fake.app_id, body, ts, fake.secret_key)  # the app secret, not the OA's
        async with httpx2.AsyncClient() as client:
            answer = await client.post(
                fake.webhook_url or "", content=body, headers={"X-ZEvent-Signature": f"mac={wrong}"}
            )
            assert answer.status_code == 401
        unknown = await fake.deliver(fake.event("user_did_something_new", user_id="42"))
        assert unknown.status == 200
        follow = fake.event("follow", oa_id=fake.oa_id, follower={"id": "43"}, source="oa_profile")
        assert (await fake.deliver(follow)).status == 200
        await asyncio.sleep(0.2)
    assert agent.turns == []


@pytest.mark.timeout(30)
async def test_a_long_reply_is_chunked_at_2000(fake: FakeZaloOA, tmp_path: Path) -> None:
    agent = Agent(reply=("word " * 900).strip())  # 4499 characters
    gateway = world(fake, tmp_path, agent)
    async with gateway:
        await started(gateway, fake)
        fake.user("42")
        await fake.deliver(fake.user_message("42", "user_send_text", {"text": "long"}))
        sent = await fake.wait_for_sent(3)
    assert [len(s.text or "") <= 2000 for s in sent] == [True, True, True]
    assert " ".join((s.text or "") for s in sent).split() == agent.reply.split()  # type: ignore[union-attr]


async def test_a_reply_outside_the_window_is_dead_lettered_with_the_reason(
    fake: FakeZaloOA, tmp_path: Path
) -> None:
    gateway = world(fake, tmp_path, Agent())  # saves the grant; not started
    del gateway
    hidden: list[str] = []
    context = SimpleNamespace(
        config=SimpleNamespace(
            channels=SimpleNamespace(
                plugin_section=lambda c: {
                    "appId": fake.app_id,
                    "secretKey": fake.secret_key,
                    "apiUrl": fake.base_url,
                    "oauthUrl": fake.base_url,
                }
            )
        ),
        state_dir=tmp_path / "state",
        extras={},
        register_secret=hidden.append,
        token_stores=None,
        shared=None,
    )
    channel = ZalooaChannel(context)  # type: ignore[arg-type]
    [account] = channel.accounts()
    live = channel.live(account)
    # The saved grant's tokens are hidden from the logs as soon as the account is built.
    pair = live.token_file.load()
    assert pair is not None
    assert {pair.access_token, pair.refresh_token} <= set(hidden)
    for user_id, days in (("42", 8), ("43", 3), ("44", 1)):
        fake.user(user_id)
        live.interactions.touch(user_id, int((fake.clock() - days * 86400) * 1000))
    with pytest.raises(DeliveryError, match="7-day reply window") as closed:
        await channel.send(account, "42", ReplyPayload(text="late"))
    assert closed.value.kind is FailureKind.FATAL
    with pytest.raises(DeliveryError, match="paidSends") as billed:
        await channel.send(account, "43", ReplyPayload(text="billed"))
    assert billed.value.kind is FailureKind.FATAL
    receipt = await channel.send(account, "44", ReplyPayload(text="free"))
    assert len(receipt.message_ids) == 1
    assert fake.sent[-1].text == "free"
    # A long quoted reply: ordered chunks of at most 2,000, only the first one quoting.
    said = fake.user_message("44", "user_send_text", {"text": "question"})["message"]["msg_id"]
    long = ("word " * 900).strip()
    receipt = await channel.send(account, "44", ReplyPayload(text=long, reply_to_id=said))
    chunks = fake.sent[-3:]
    assert len(receipt.message_ids) == 3
    assert [c.quote for c in chunks] == [said, None, None]
    assert all(len(c.text or "") <= 2000 for c in chunks)
    assert " ".join(c.text or "" for c in chunks).split() == long.split()
    # Zalo's own -230 (no record here) is a FATAL dead letter too.
    fake.user("45").last_interaction = fake.clock() - 9 * 86400
    with pytest.raises(DeliveryError, match="-230") as refused:
        await channel.send(account, "45", ReplyPayload(text="x"))
    assert refused.value.kind is FailureKind.FATAL
    # A refused refresh: sends fail fast as UNAUTHORIZED.
    live.token_file.mark_reauth("refresh refused: error -14014")  # by another process
    with pytest.raises(DeliveryError) as unauthorised:
        await channel.send(account, "44", ReplyPayload(text="x"))
    assert unauthorised.value.kind is FailureKind.UNAUTHORIZED
    await channel.aclose()


@pytest.mark.timeout(30)
async def test_images_locations_and_long_ids_reach_the_agent_intact(
    fake: FakeZaloOA, tmp_path: Path
) -> None:
    agent = Agent(reply="ok")
    gateway = world(fake, tmp_path, agent)
    user = "7512345678901234567"  # 19 digits: beyond 2**53
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
    async with gateway:
        await started(gateway, fake)
        fake.user(user)
        url = fake.add_media("cat.png", png)
        image = fake.user_message(
            user,
            "user_send_image",
            {"text": "my cat", "attachments": [{"type": "image", "payload": {"url": url}}]},
        )
        await fake.deliver(image)
        location = {
            "type": "location",
            "payload": {"coordinates": {"latitude": "10.77", "longitude": "106.70"}},
        }
        await fake.deliver(
            fake.user_message(user, "user_send_location", {"attachments": [location]})
        )
        await fake.wait_for_sent(2)
    first, second = agent.turns
    assert first.sender_id == user
    assert first.message_id == image["message"]["msg_id"]
    assert first.timestamp_ms == int(image["timestamp"])
    assert first.text == "my cat"
    [media] = first.media
    assert media.kind == "image"
    assert media.path is not None
    assert await asyncio.to_thread(Path(media.path).read_bytes) == png
    assert "[location: 10.77, 106.70]" in second.text


@pytest.mark.timeout(30)
async def test_without_the_oa_secret_events_are_acknowledged_and_dropped(
    fake: FakeZaloOA, tmp_path: Path
) -> None:
    agent = Agent()
    gateway = world(fake, tmp_path, agent, drop=("oaSecretKey",))
    async with gateway:
        await started(gateway, fake)
        fake.user("42")
        delivery = await fake.deliver(fake.user_message("42", "user_send_text", {"text": "ping"}))
        assert delivery.status == 200
        await asyncio.sleep(0.2)
    assert agent.turns == []
    assert fake.sent == []


@pytest.mark.timeout(30)
async def test_an_idle_oa_refreshes_ahead_of_expiry(
    fake: FakeZaloOA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ZalooaChannel, "refresh_check_interval", 0.05)
    gateway = world(fake, tmp_path, Agent())
    store = TokenFile(tmp_path / "state" / "zalooa" / "default", "grant")
    old = store.load()
    assert old is not None
    store.save(TokenPair(old.access_token, old.refresh_token, fake.clock() + 60))
    async with gateway:
        await started(gateway, fake)
        await until(lambda: fake.refresh_calls == 1)
        await asyncio.sleep(0.3)  # later checks find the new token fresh
    assert fake.refresh_calls == 1
    new = store.load()
    assert new is not None
    assert new.expires_at > fake.clock() + 80000
