"""The send governor: pacing per conversation and per account, the caps on strangers and new
conversations, and Zalo's rate-limit answer (221) pausing an account's sends."""

from __future__ import annotations

from pathlib import Path

import pytest

from zalogate.channels.zalouser.governor import (
    FriendIds,
    SendGovernor,
    SendLimitError,
    SendLimits,
    SendPausedError,
)
from zalogate.channels.zalouser.governor_store import GovernorJournal
from zalogate.channels.zalouser.outbound import is_retryable_send_error
from zalogate.core.errors import DeliveryError
from zalogate.core.model import ReplyPayload
from zalogate.personal.errors import (
    HttpStatusError,
    RateLimitedError,
    api_error,
    is_rate_limited,
)
from zalogate.store import Store

from .conftest import World


class FakeTime:
    """A clock whose sleeps move it forward (no real waiting)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def governor(t: FakeTime, **limits: float) -> SendGovernor:
    return SendGovernor("acct", SendLimits(**limits), clock=t.clock, sleep=t.sleep)  # type: ignore[arg-type]


async def test_a_conversation_is_paced_to_its_per_minute_limit() -> None:
    t = FakeTime()
    g = governor(t, conversation_messages_per_minute=3, messages_per_minute=100)
    g.note_inbound("u1")
    for _ in range(3):
        await g.admit("u1", stranger=False)
    assert t.slept == []
    await g.admit("u1", stranger=False)
    assert t.slept == [60.0]
    await g.admit("u2-other", stranger=False)  # another conversation is not held up
    assert t.slept == [60.0]
    status = g.status()
    assert (status.paced, status.paced_seconds) == (1, 60.0)


async def test_the_account_limit_spans_conversations_and_too_long_a_wait_fails_retryable() -> None:
    t = FakeTime()
    g = governor(t, messages_per_minute=2, max_wait_s=30, new_conversations_per_hour=0)
    await g.admit("a", stranger=False)
    await g.admit("b", stranger=False)
    with pytest.raises(SendPausedError, match="maxWaitSeconds") as caught:
        await g.admit("c", stranger=False)
    assert caught.value.retryable
    t.now += 60.0
    await g.admit("c", stranger=False)


async def test_strangers_per_day_counts_distinct_people_and_refuses_beyond() -> None:
    t = FakeTime()
    g = governor(t, strangers_per_day=2, new_conversations_per_hour=0)
    await g.admit("s1", stranger=True)
    await g.admit("s1", stranger=True)  # the same stranger again is no new one
    await g.admit("s2", stranger=True)
    await g.admit("friend", stranger=False)
    with pytest.raises(SendLimitError, match="strangersPerDay") as caught:
        await g.admit("s3", stranger=True)
    assert not caught.value.retryable
    assert (g.status().strangers_today, g.status().refused) == (2, 1)
    t.now += 86400.0
    await g.admit("s3", stranger=True)


async def test_new_conversations_per_hour_spares_replies_to_inbound_messages() -> None:
    t = FakeTime()
    g = governor(t, new_conversations_per_hour=1, strangers_per_day=0)
    await g.admit("cold-1", stranger=False)
    g.note_inbound("asked-us")
    await g.admit("asked-us", stranger=False)
    with pytest.raises(SendLimitError, match="newConversationsPerHour"):
        await g.admit("cold-2", stranger=False)
    assert g.status().new_conversations_last_hour == 1
    t.now += 3601.0
    await g.admit("cold-2", stranger=False)


async def test_rate_limit_pauses_with_doubling_backoff_reset_by_a_success() -> None:
    t = FakeTime()
    g = governor(t, backoff_s=10, max_backoff_s=25)
    g.note_inbound("u")
    assert [g.rate_limited(), g.rate_limited(), g.rate_limited()] == [10.0, 20.0, 25.0]
    with pytest.raises(SendPausedError, match="too many requests"):
        await g.admit("u", stranger=False)
    assert g.status().paused_for_s == 25.0
    t.now += 25.0
    await g.admit("u", stranger=False)
    g.sent()
    assert g.rate_limited() == 10.0


async def test_zero_turns_limits_off_and_limits_read_from_config_names() -> None:
    limits = SendLimits.from_settings(
        {"messagesPerMinute": 0, "strangersPerDay": 5, "maxWaitSeconds": 1, "bogus": 3}
    )
    assert (limits.messages_per_minute, limits.strangers_per_day, limits.max_wait_s) == (0, 5, 1)
    assert limits.to_json()["conversationMessagesPerMinute"] == 10
    t = FakeTime()
    g = governor(t, messages_per_minute=0, conversation_messages_per_minute=0)
    g.note_inbound("u")
    for _ in range(50):
        await g.admit("u", stranger=False)
    assert t.slept == []


async def test_friend_ids_failed_load_counts_nobody_as_friend_and_is_retried_later() -> None:
    t = FakeTime()
    calls = 0

    async def load() -> frozenset[str]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("lookup failed")
        return frozenset({"f"})

    friends = FriendIds(load, ttl_s=600, clock=t.clock)
    assert not await friends.contains("f")
    assert not await friends.contains("f")  # not retried on every send
    t.now += 61.0
    assert await friends.contains("f")
    assert calls == 2


async def test_zalo_221_pauses_the_accounts_sends_and_status_shows_it(world: World) -> None:
    """Error 221 is not retried at once: the send fails as retryable, the account is paused
    (status ``sends``), and the next send fails fast without reaching Zalo."""
    world.save_session()
    config = world.config(limits={"backoffSeconds": 120})
    world.fake.fail("message/sms", 221, "too many requests", times=1)
    async with world.channel(config) as channel:
        account = channel.accounts()[0]
        with pytest.raises(DeliveryError, match="paused") as caught:
            await channel.send(account, world.ALICE, ReplyPayload(text="hello"))
        assert caught.value.retryable
        sends = channel.account_snapshot(account)["sends"]
        assert sends["rateLimited"] == 1
        assert 100 < sends["pausedForSeconds"] <= 120
        with pytest.raises(DeliveryError, match="paused"):
            await channel.send(account, world.ALICE, ReplyPayload(text="again"))
        assert channel.send_status(account).rate_limited == 1
    assert world.records("text") == []


async def test_strangers_cap_uses_the_friend_list(world: World) -> None:
    """Alice is a friend of the bot in the fake, Dave and Bot Two are not: with
    ``strangersPerDay: 1`` only one stranger may be messaged; friends are never counted."""
    world.save_session()
    config = world.config(limits={"strangersPerDay": 1, "newConversationsPerHour": 0})
    async with world.channel(config) as channel:
        account = channel.accounts()[0]
        await channel.send(account, world.ALICE, ReplyPayload(text="to a friend"))
        await channel.send(account, world.DAVE, ReplyPayload(text="to a stranger"))
        with pytest.raises(DeliveryError, match="strangersPerDay") as caught:
            await channel.send(account, world.BOT2, ReplyPayload(text="to another stranger"))
        assert not caught.value.retryable
        assert channel.send_status(account).strangers_today == 1
    assert [r.thread_id for r in world.records("text")] == [world.ALICE, world.DAVE]


def test_rate_limit_answers_are_recognised_and_never_retried_at_once() -> None:
    limited = api_error(221, "too many requests", path="/api/message/sms")
    assert isinstance(limited, RateLimitedError)
    assert is_rate_limited(limited)
    assert is_rate_limited(HttpStatusError(429, "/api/message/sms"))
    assert not is_rate_limited(HttpStatusError(503, "/api/message/sms"))
    assert not is_retryable_send_error(HttpStatusError(429, "/api/message/sms"))
    assert is_retryable_send_error(HttpStatusError(503, "/api/message/sms"))


class Wall:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_caps_and_pause_survive_a_restart(tmp_path: Path) -> None:
    """The strangers of the day, the conversations started this hour and a rate-limit pause
    are saved: a new governor (a restarted process, its monotonic clock back at a small
    number) refuses what the old one would have; a day later they are gone."""
    wall = Wall()
    store = await Store.open(tmp_path)
    try:

        def restarted(clock_at: float) -> tuple[FakeTime, SendGovernor]:
            t = FakeTime()
            t.now = clock_at
            journal = GovernorJournal(store, "acct", wall=wall)
            limits = SendLimits(strangers_per_day=2, new_conversations_per_hour=3)
            return t, SendGovernor("acct", limits, clock=t.clock, sleep=t.sleep, journal=journal)

        _, first = restarted(1000.0)
        first.note_inbound("friend-1")
        await first.admit("s1", stranger=True)
        await first.admit("s2", stranger=True)
        await first.admit("friend-1", stranger=False)
        await first.flush()

        wall.now += 60
        _, second = restarted(5.0)
        await second.restore()
        assert second.status().strangers_today == 2
        assert second.status().new_conversations_last_hour == 2
        with pytest.raises(SendLimitError, match="strangersPerDay"):
            await second.admit("s3", stranger=True)
        await second.admit("s1", stranger=True)  # already counted today
        await second.admit("friend-1", stranger=False)  # known: starts nothing new
        await second.admit("friend-2", stranger=False)  # the hour's third new conversation
        with pytest.raises(SendLimitError, match="newConversationsPerHour"):
            await second.admit("friend-3", stranger=False)
        pause = second.rate_limited()
        await second.flush()

        wall.now += 10
        _, third = restarted(7.0)
        with pytest.raises(SendPausedError, match="paused"):
            await third.admit("s1", stranger=True)
        assert pause - 11 < third.status().paused_for_s <= pause - 10
        assert third.rate_limited() == 2 * pause  # the back-off step was saved too

        wall.now += 86400 + 7200
        _, later = restarted(3.0)
        await later.restore()
        status = later.status()
        assert (status.strangers_today, status.new_conversations_last_hour) == (0, 0)
        assert status.paused_for_s == 0
        await later.admit("s3", stranger=True)
    finally:
        await store.close()


async def test_a_restarted_channel_keeps_refusing_the_days_strangers(world: World) -> None:
    world.save_session()
    config = world.config(limits={"strangersPerDay": 1, "newConversationsPerHour": 0})
    async with world.channel(config) as channel:
        await channel.send(channel.accounts()[0], world.DAVE, ReplyPayload(text="stranger one"))
    async with world.channel(config) as channel:
        account = channel.accounts()[0]
        with pytest.raises(DeliveryError, match="strangersPerDay"):
            await channel.send(account, world.BOT2, ReplyPayload(text="stranger two"))
        assert channel.send_status(account).strangers_today == 1
    assert [r.thread_id for r in world.records("text")] == [world.DAVE]
