"""Reply delivery through the inbox and pipeline: auth failures dead-letter, transient ones
are retried to completion, chunks already sent are not repeated, typing is shown."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from zalogate.core.agent import Turn
from zalogate.core.model import ReplyPayload
from zalogate.testing.fake_botapi import FakeZaloBotApi

from .conftest import HarnessFactory, zalo_config

OPEN = {"dmPolicy": "open", "allowFrom": ["*"]}


class LongAgent:
    """Answers with three paragraphs that become three chunks."""

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        yield ReplyPayload(text="\n".join(c * 1990 for c in "abc"))


async def test_a_401_from_send_message_dead_letters_without_retry(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    fake.error_next("sendMessage", 401, "Unauthorized")
    harness = await make_harness(zalo_config(fake, **OPEN))
    harness.start()
    fake.user("u1").says("hi")
    await fake.wait_for_calls("sendMessage")
    await harness.settle()
    [dead] = await harness.inbox.dead_letters(channel="zalo")
    assert dead.attempts == 1
    assert "Unauthorized" in dead.error
    assert fake.sent == []
    assert sum(1 for c in fake.calls if c.method == "sendMessage") == 1


async def test_a_transient_failure_is_retried_by_the_inbox_and_completes(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    fake.fail_next("sendMessage", 503, count=3)  # exhausts the per-send retries once
    harness = await make_harness(zalo_config(fake, **OPEN))
    harness.start()
    fake.user("u1").says("eventually")
    [reply] = await fake.wait_for_sent(1)
    await harness.settle()
    assert reply.text == "eventually"
    assert harness.inbox.counters.retried == 1
    assert await harness.inbox.dead_letters() == []


async def test_a_chunk_that_went_out_is_not_sent_again_when_the_message_is_retried(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    original = fake._send_message
    seen = 0

    async def second_fails_once(bot: Any, payload: Any, request: Any) -> Any:
        nonlocal seen
        seen += 1
        if seen == 2:
            return fake._error(400, "Bad request: try later")
        return await original(bot, payload, request)

    fake._handlers["sendMessage"] = second_fails_once
    harness = await make_harness(zalo_config(fake, **OPEN), agent=LongAgent())
    harness.start()
    fake.user("u1").says("long please")
    await fake.wait_for_sent(1)
    await harness.settle()
    # 400 is not retryable: the message is dead-lettered after the first chunk went out,
    # recorded as sent, so a later replay would not repeat it.
    rows = await harness.store.fetchall(
        "SELECT seq, status FROM pipeline_deliveries ORDER BY seq", ()
    )
    assert [(r["seq"], r["status"]) for r in rows] == [(0, "sent"), (1, "failed")]
    assert [r.text for r in fake.sent] == ["a" * 1990]


async def test_typing_is_shown_while_the_agent_works(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    release = asyncio.Event()

    class SlowAgent:
        async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
            await release.wait()
            yield ReplyPayload(text="done")

    harness = await make_harness(zalo_config(fake, **OPEN), agent=SlowAgent())
    harness.start()
    fake.user("u1").says("think")
    async with asyncio.timeout(5):
        while not fake.chat_actions:
            await asyncio.sleep(0.005)
    release.set()
    await fake.wait_for_sent(1)
    assert fake.chat_actions[0].payload == {"chat_id": "u1", "action": "typing"}


async def test_a_failing_typing_action_does_not_stop_the_reply(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    fake.fail_next("sendChatAction", 500)
    harness = await make_harness(zalo_config(fake, **OPEN))
    harness.start()
    fake.user("u1").says("still answered")
    [reply] = await fake.wait_for_sent(1)
    assert reply.text == "still answered"


async def test_messages_response_prefix_starts_every_reply(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    config = {**zalo_config(fake, **OPEN), "messages": {"responsePrefix": "[bot]"}}
    harness = await make_harness(config)
    harness.start()
    fake.user("u1").says("xin chào")
    [reply] = await fake.wait_for_sent(1)
    assert reply.text == "[bot] xin chào"


async def test_the_account_response_prefix_and_history_limit_win_over_messages(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    messages = {"responsePrefix": "[bot]", "groupChat": {"historyLimit": 7}}
    config = {**zalo_config(fake, **OPEN), "messages": messages}
    harness = await make_harness(config)
    [account] = harness.channel.accounts()
    policy = harness.channel.policy(account)
    assert (policy.response_prefix, policy.history_limit) == ("[bot]", 7)

    own = {**zalo_config(fake, **OPEN, responsePrefix="", historyLimit=3), "messages": messages}
    harness = await make_harness(own)
    [account] = harness.channel.accounts()
    policy = harness.channel.policy(account)
    assert (policy.response_prefix, policy.history_limit) == ("", 3)
