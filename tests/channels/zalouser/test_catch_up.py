"""Catch-up (issue 12, item 7): after each (re)connection the channel asks Zalo (the fake,
answering 510/511 as zca-js's ``requestOldMessages`` expects) for the messages it missed and
admits them through the deduplicating inbox: each is answered exactly once."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

from zalogate.backoff import BackoffConfig
from zalogate.channels.zalouser.catch_up import CatchUp, CatchUpCursor, CatchUpOptions
from zalogate.channels.zalouser.monitor import MonitorOptions
from zalogate.personal.events import OldMessages
from zalogate.personal.reconnect import ReconnectPolicy, ReconnectRule
from zalogate.personal.session import ThreadType
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.status import AccountStatus
from zalogate.store import Store

from .conftest import RecordingAgent, World, eventually

OPEN: dict[str, Any] = {
    "dmPolicy": "open",
    "allowFrom": ["*"],
    "groupPolicy": "open",
    "groups": {"*": {"requireMention": False}},
}


def replies(world: World) -> Counter[str]:
    """Texts the bot sent, counted."""
    return Counter(
        r.text or "" for r in world.fake.sent if r.sender == world.BOT and r.kind == "text"
    )


async def idle(gateway: Gateway) -> None:
    assert gateway.inbox is not None
    await gateway.inbox.wait_idle()


def status_of(gateway: Gateway) -> AccountStatus:
    (record,) = [s for s in gateway.status() if s.channel == "zalouser"]
    return record


async def test_messages_sent_while_stopped_are_answered_once_after_start(world: World) -> None:
    world.save_session()
    config = world.config(**OPEN)
    alice, carol = world.fake.user(world.ALICE), world.fake.user(world.CAROL)
    agent = RecordingAgent()
    async with world.gateway(config, agent=agent):
        await world.fake.wait_for_listener(world.BOT)
        await alice.says_to(world.BOT, "before")
        await eventually(lambda: replies(world)["echo: before"] == 1)
    # The gateway is down: Zalo keeps these, nobody hears them.
    await alice.says_to(world.BOT, "while down 1")
    await world.fake.group(world.GROUP).user(world.CAROL).says("group while down")
    await carol.says_to(world.BOT, "while down 2")
    async with world.gateway(config, agent=agent) as (gateway, channel):
        await eventually(
            lambda: (
                replies(world)["echo: while down 1"] == 1
                and replies(world)["echo: while down 2"] == 1
                and replies(world)["echo: group while down"] == 1
            )
        )
        await idle(gateway)
        snapshot = channel.account_snapshot(channel.accounts()[0])
        assert snapshot["catchUp"]["passes"] == 1
        assert snapshot["catchUp"]["messages"] >= 4  # "before" and the bot's own are in it too
    # A third start finds nothing new: every message answered exactly once, none of the
    # account's own messages (the echoes, also in Zalo's history) taken for input.
    async with world.gateway(config, agent=agent) as (gateway, _):
        await eventually(lambda: len(world.fake.history_requests) >= 4)
        await idle(gateway)
    texts = [turn.text for turn in agent.turns]
    assert sorted(texts) == sorted(
        ["before", "while down 1", "while down 2", "group while down"]
    ), texts
    assert all(count == 1 for count in replies(world).values()), replies(world)
    assert {cmd for _, cmd, _ in world.fake.history_requests} == {510, 511}
    assert world.fake.ws_refusals == []


async def test_a_reconnect_mid_run_loses_nothing_and_reports_degraded(world: World) -> None:
    """Messages sent while the websocket is down (1.5 s before the retry) are fetched at the
    reconnection; the account shows ``degraded`` meanwhile and counts the reconnection."""
    world.save_session()
    policy = ReconnectPolicy(
        rules={1006: ReconnectRule(5, (1500,))},
        retry_codes=frozenset({1006}),
        rotate_codes=frozenset(),
    )
    opts = world.options(
        monitor=MonitorOptions(
            reconnect=policy,
            connect_timeout_s=5.0,
            listener_options={"backoff": BackoffConfig(min_delay=1.5, max_delay=1.5, jitter=0)},
        )
    )
    alice = world.fake.user(world.ALICE)
    async with world.gateway(world.config(**OPEN), opts, agent=RecordingAgent()) as (
        gateway,
        channel,
    ):
        seen: list[AccountStatus] = []
        gateway.status_board.subscribe(seen.append)
        await world.fake.wait_for_listener(world.BOT)
        await alice.says_to(world.BOT, "live")
        await eventually(lambda: replies(world)["echo: live"] == 1)
        await world.fake.drop(world.BOT)
        await eventually(lambda: world.fake.listener_count(world.BOT) == 0)
        for n in range(3):
            await alice.says_to(world.BOT, f"in the gap {n}")
        await eventually(
            lambda: all(replies(world)[f"echo: in the gap {n}"] == 1 for n in range(3)),
            timeout_s=10.0,
        )
        await idle(gateway)
        record = status_of(gateway)
        assert record.reconnects == 1
        assert record.degraded_since is None
        assert record.shown_state == "running"
        assert channel.listener_state("default").connections == 2
    degraded = [s for s in seen if s.degraded_since is not None]
    assert degraded, "the account never showed degraded while its listener was down"
    assert "listener disconnected" in (degraded[0].last_error or "")
    assert degraded[0].to_json()["state"] == "degraded"
    assert replies(world)["echo: live"] == 1  # fetched again at the reconnection, not answered


async def set_cursor(world: World, at_ms: int) -> None:
    """The account was last connected at ``at_ms`` (as a gateway run would have saved it)."""
    async with await Store.open(world.state_dir) as store:
        await CatchUpCursor(store, "default").save(at_ms)


async def test_catch_up_pages_back_to_the_window_and_skips_older_messages(world: World) -> None:
    world.save_session()
    await set_cursor(world, int((time.time() - 3 * 3600) * 1000))  # down for three hours
    world.fake.history_page_size = 2
    alice = world.fake.user(world.ALICE)
    old = await alice.says_to(world.BOT, "two hours ago")
    world.fake.messages[old["msgId"]]["ts"] = str(int((time.time() - 7200) * 1000))
    for n in range(5):
        await alice.says_to(world.BOT, f"missed {n}")
    config = world.config(**OPEN, catchUp={"windowMinutes": 30})
    async with world.gateway(config, agent=RecordingAgent()) as (gateway, _):
        await eventually(lambda: all(replies(world)[f"echo: missed {n}"] == 1 for n in range(5)))
        await eventually(lambda: any(last is None for _, cmd, last in world.fake.history_requests))
        await idle(gateway)
    assert replies(world)["echo: two hours ago"] == 0
    dm_pages = [last for _, cmd, last in world.fake.history_requests if cmd == 510]
    # 6 messages, 2 per page: the third page reaches the message outside the window and ends.
    assert len(dm_pages) == 3, dm_pages
    assert dm_pages[0] is None
    assert all(dm_pages[1:]), dm_pages


async def test_a_first_start_answers_nothing_from_before_it(world: World) -> None:
    """No cursor: the account never ran here; what was said before is not zalogate's."""
    world.save_session()
    await world.fake.user(world.ALICE).says_to(world.BOT, "before zalogate")
    async with world.gateway(world.config(**OPEN), agent=RecordingAgent()) as (gateway, channel):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "live")
        await eventually(lambda: replies(world)["echo: live"] == 1)
        await idle(gateway)
        stats = channel.account_snapshot(channel.accounts()[0])["catchUp"]
    assert (stats["passes"], stats["skipped"]) == (0, 1)
    assert replies(world)["echo: before zalogate"] == 0
    assert world.fake.history_requests == []


async def test_catch_up_can_be_turned_off(world: World) -> None:
    world.save_session()
    await set_cursor(world, int(time.time() * 1000) - 1000)
    await world.fake.user(world.ALICE).says_to(world.BOT, "nobody hears this")
    config = world.config(**OPEN, catchUp={"enabled": False})
    async with world.gateway(config, agent=RecordingAgent()) as (gateway, _):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "live")
        await eventually(lambda: replies(world)["echo: live"] == 1)
        await idle(gateway)
    assert replies(world)["echo: nobody hears this"] == 0
    assert world.fake.history_requests == []


async def test_restarts_and_drops_under_traffic_lose_and_double_nothing(world: World) -> None:
    """The figures for docs/reliability.md: a sender writes from three users without pause
    while the gateway is stopped and started and its websocket is cut; every message must be
    answered exactly once. ``ZALOGATE_CATCHUP_ROUNDS`` (default 2) sets the rounds."""
    rounds = int(os.environ.get("ZALOGATE_CATCHUP_ROUNDS", "2"))
    world.save_session()
    config = world.config(**OPEN)
    agent = RecordingAgent()
    users = [world.fake.user(uid) for uid in (world.ALICE, world.CAROL, world.DAVE)]
    sent: list[str] = []
    stop = asyncio.Event()

    async def chatter() -> None:
        n = 0
        while not stop.is_set():
            text = f"m{n}"
            await users[n % len(users)].says_to(world.BOT, text)
            sent.append(text)
            n += 1
            await asyncio.sleep(0.02)

    sender: asyncio.Task[None] | None = None
    started = time.monotonic()
    try:
        for _ in range(rounds):
            async with world.gateway(config, agent=agent):
                await world.fake.wait_for_listener(world.BOT)
                sender = sender or asyncio.create_task(chatter())  # after the first connection
                await asyncio.sleep(0.3)
                await world.fake.drop(world.BOT)  # reconnects after ~1 s
                await world.fake.wait_for_listener(world.BOT, timeout_s=10)
                await asyncio.sleep(0.3)
            await asyncio.sleep(0.5)  # stopped: the sender goes on
        stop.set()
        assert sender is not None
        await sender
        async with world.gateway(config, agent=agent) as (gateway, _):
            await eventually(
                lambda: sum(replies(world)[f"echo: {t}"] for t in sent) >= len(sent),
                timeout_s=30.0,
            )
            await idle(gateway)
    finally:
        stop.set()
        if sender is not None:
            await sender
    counts = replies(world)
    lost = [t for t in sent if counts[f"echo: {t}"] == 0]
    doubled = [t for t in sent if counts[f"echo: {t}"] > 1]
    figures = {
        "rounds": rounds,
        "messages": len(sent),
        "lost": len(lost),
        "duplicated": len(doubled),
        "history_requests": len(world.fake.history_requests),
        "seconds": round(time.monotonic() - started, 1),
    }
    print(json.dumps(figures))
    assert (lost, doubled) == ([], [])


class Requests:
    """A history source that records the requests."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None]] = []

    async def request_old_messages(
        self, thread_type: ThreadType | str, last_msg_id: str | None = None
    ) -> str:
        self.calls.append((str(thread_type), last_msg_id))
        return f"req_{len(self.calls)}"


async def test_the_cursor_moves_only_once_a_pass_brought_everything_in(tmp_path: Path) -> None:
    """A crash during a catch-up must not skip what the pass was fetching: heartbeats leave
    the cursor alone until the pass's messages are admitted."""
    async with await Store.open(tmp_path) as store:
        cursor = CatchUpCursor(store, "a")
        await cursor.save(1_000_000)
        clock = [2_000.0]
        catch_up = CatchUp("a", CatchUpOptions(), cursor, clock=lambda: clock[0])
        source = Requests()
        await catch_up.start(source)
        assert source.calls == [("user", None), ("group", None)]
        clock[0] = 2_030.0
        await catch_up.connected()  # a heartbeat while the pass runs
        assert await cursor.load() == 1_000_000
        await catch_up.answer(source, OldMessages(thread_type=ThreadType.USER, messages=()))
        assert catch_up.finished() is None  # the groups' answer is still due
        await catch_up.answer(source, OldMessages(thread_type=ThreadType.GROUP, messages=()))
        started = catch_up.finished()
        assert started == 2_000_000
        await catch_up.advance(started)
        assert await cursor.load() == 2_000_000
        await catch_up.connected()
        assert await cursor.load() == 2_030_000
