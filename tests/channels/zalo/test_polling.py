"""Polling mode against the fake Bot API: webhook clean-up, empty polls, errors, dedupe."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from zalogate.backoff import BackoffConfig
from zalogate.channels.zalo.errors import ZaloUnauthorizedError
from zalogate.core.agent import Turn
from zalogate.core.model import ReplyPayload
from zalogate.runtime.status import AccountState
from zalogate.runtime.supervisor import classify_failure
from zalogate.testing.fake_botapi import FakeZaloBotApi

from .conftest import HarnessFactory, fast_options, zalo_config


async def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def calls(fake: FakeZaloBotApi, method: str) -> int:
    return sum(1 for c in fake.calls if c.method == method)


async def test_a_text_message_is_polled_admitted_and_answered(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake, dmPolicy="open", allowFrom=["*"]))
    harness.start()
    fake.user("u1", name="An").says("xin chào")
    [reply] = await fake.wait_for_sent(1, chat_id="u1")
    assert (reply.method, reply.text) == ("sendMessage", "xin chào")


async def test_no_webhook_means_no_delete_and_exactly_one_poll_in_flight(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake))
    task = harness.start()
    await wait_until(lambda: fake.bot.waiting_polls == 1)
    await asyncio.sleep(0.05)
    assert fake.bot.waiting_polls == 1
    assert calls(fake, "getUpdates") == 1
    assert calls(fake, "deleteWebhook") == 0
    await harness.stop_monitors()
    assert task.done()
    assert task.exception() is None
    assert calls(fake, "getUpdates") == 1


async def test_a_stale_webhook_is_deleted_before_the_first_poll(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "zalogate.channels.zalo")
    fake.bot.webhook_url = "https://example.com/hooks/zalo"
    fake.bot.webhook_secret = "old-secret-123"
    harness = await make_harness(zalo_config(fake))
    harness.start()
    await fake.wait_for_calls("getUpdates")
    methods = [c.method for c in fake.calls if c.method != "getMe"]
    assert methods[:3] == ["getWebhookInfo", "deleteWebhook", "getUpdates"]
    assert calls(fake, "deleteWebhook") == 1
    assert fake.bot.webhook_url == ""
    assert "Zalo polling mode ready (webhook disabled)" in caplog.text


async def test_webhook_info_404_is_not_an_error(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    harness = await make_harness(zalo_config(fake, dmPolicy="open", allowFrom=["*"]))
    harness.start()
    fake.user("u1").says("hi")
    await fake.wait_for_sent(1)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "no webhook configured" in caplog.text


async def test_other_webhook_info_failures_are_logged_and_polling_starts(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("getWebhookInfo", 502)
    harness = await make_harness(zalo_config(fake))
    harness.start()
    await fake.wait_for_calls("getUpdates")
    assert "could not clear webhook" in caplog.text


async def test_transport_error_backs_off_and_stop_during_the_pause_polls_no_more(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    slow = fast_options(polling_backoff=BackoffConfig(min_delay=30.0, max_delay=30.0))
    harness = await make_harness(zalo_config(fake), options=slow)
    fake.drop_next("getUpdates")
    task = harness.start()
    await wait_until(lambda: "Zalo polling error" in caplog.text)
    await asyncio.sleep(0.05)
    assert calls(fake, "getUpdates") == 1  # sleeping in the backoff, not polling
    harness.stop.set()
    async with asyncio.timeout(2):
        await task
    assert calls(fake, "getUpdates") == 1


@pytest.mark.parametrize("mode", ["http408", "body408", "empty-result", "string-code"])
async def test_empty_polls_are_silent_and_polling_continues_at_once(
    fake: FakeZaloBotApi,
    make_harness: HarnessFactory,
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    fake.max_poll_timeout = 0.02
    if mode == "string-code":
        fake.error_next("getUpdates", "408", "Request timeout", count=3)
    else:
        fake.empty_poll = mode  # type: ignore[assignment]
    slow = fast_options(polling_backoff=BackoffConfig(min_delay=30.0, max_delay=30.0))
    harness = await make_harness(zalo_config(fake, dmPolicy="open", allowFrom=["*"]), options=slow)
    harness.start()
    await wait_until(lambda: calls(fake, "getUpdates") >= 4)
    fake.user("u1").says("still here")
    [reply] = await fake.wait_for_sent(1)
    assert reply.text == "still here"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_server_errors_are_retried_after_a_backoff(
    fake: FakeZaloBotApi, make_harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail_next("getUpdates", 503, count=2)
    harness = await make_harness(zalo_config(fake, dmPolicy="open", allowFrom=["*"]))
    harness.start()
    fake.user("u1").says("after the outage")
    [reply] = await fake.wait_for_sent(1)
    assert reply.text == "after the outage"
    assert caplog.text.count("Zalo polling error") == 2


async def test_unauthorized_poll_marks_the_account_unauthorized(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    fake.error_next("getUpdates", 401, "Unauthorized")
    harness = await make_harness(zalo_config(fake))
    task = harness.start()
    async with asyncio.timeout(5):
        with pytest.raises(ZaloUnauthorizedError) as caught:
            await task
    assert caught.value.unauthorized is True
    assert classify_failure(caught.value) is AccountState.UNAUTHORIZED
    assert fake.token not in str(caught.value)


async def test_a_revoked_token_fails_at_the_start_probe(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake, botToken="42:revoked-token-value"))
    with pytest.raises(ZaloUnauthorizedError) as caught:
        await harness.start()
    assert "revoked-token-value" not in str(caught.value)
    assert calls(fake, "getUpdates") == 0


async def test_an_already_stopped_monitor_only_probes(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake))
    harness.stop.set()
    await harness.channel.run(harness.account(), harness.stop)
    assert [c.method for c in fake.calls] == ["getMe"]


class BlockingAgent:
    """Holds the reply to the first sender until released; answers others at once."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        if turn.sender_id == "slow":
            self.started.set()
            await self.release.wait()
        yield ReplyPayload(text=f"re: {turn.text}")


async def test_a_slow_turn_never_blocks_the_next_poll(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    agent = BlockingAgent()
    harness = await make_harness(zalo_config(fake, dmPolicy="open", allowFrom=["*"]), agent=agent)
    harness.start()
    fake.user("slow").says("take your time")
    async with asyncio.timeout(5):
        await agent.started.wait()
    fake.user("fast").says("quick")
    [reply] = await fake.wait_for_sent(1, chat_id="fast")
    assert reply.text == "re: quick"
    assert not [r for r in fake.sent if r.chat_id == "slow"]
    agent.release.set()
    await fake.wait_for_sent(1, chat_id="slow")


async def test_the_same_update_polled_twice_is_answered_once(
    fake: FakeZaloBotApi, make_harness: HarnessFactory
) -> None:
    harness = await make_harness(zalo_config(fake, dmPolicy="open", allowFrom=["*"]))
    harness.start()
    update = {
        "event_name": "message.text.received",
        "message": {
            "from": {"id": "u1", "display_name": "An"},
            "chat": {"id": "u1", "chat_type": "PRIVATE"},
            "message_id": "dup-1",
            "date": 1774080000,
            "text": "once",
        },
    }
    fake.bot.push(update)
    fake.bot.push(update)
    await fake.wait_for_sent(1)
    await wait_until(lambda: fake.bot.pending == 0 and fake.bot.waiting_polls == 1)
    await harness.settle()
    assert [r.text for r in fake.sent] == ["once"]
    assert harness.inbox.counters.duplicates == 1


async def test_a_poll_answering_just_after_a_stop_is_still_taken() -> None:
    # Zalo forgets an update once it answered: a poll cut off by a stop while its answer
    # travels would lose it, so an answer within the grace is used.
    from zalogate.channels.zalo.polling import _StoppedError, _until_stopped

    stop = asyncio.Event()
    answer = asyncio.Event()

    async def poll() -> str:
        await answer.wait()
        return "update"

    async def stop_then_answer() -> None:
        stop.set()
        await asyncio.sleep(0.01)
        answer.set()

    helper = asyncio.create_task(stop_then_answer())
    assert await _until_stopped(stop, poll(), grace=5.0) == "update"
    await helper

    never = asyncio.Event()

    async def silent() -> str:
        await never.wait()
        return "late"

    stop2 = asyncio.Event()
    asyncio.get_running_loop().call_soon(stop2.set)
    with pytest.raises(_StoppedError):  # no answer within the grace: cut off
        await _until_stopped(stop2, silent(), grace=0.05)
