"""Status tells the truth: an account whose polls or sends keep failing shows ``degraded``
with the last error and since when, in ``/healthz`` (which ``gateway status`` and
``channels status`` read); it shows ``running`` again once a poll or a send works."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.backoff import BackoffConfig
from zalogate.channels.zalo.channel import ZaloChannelOptions, plugin_with_options
from zalogate.config import parse_config
from zalogate.core.ingress import Inbox, InboxConfig
from zalogate.core.retry import RetryPolicy
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.runtime.status import StatusBoard
from zalogate.testing.fake_botapi import FakeZaloBotApi

TINY = BackoffConfig(min_delay=0.01, max_delay=0.02)


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


async def health(gw: Gateway) -> dict[str, Any]:
    async with httpx2.AsyncClient(trust_env=False) as client:
        body: dict[str, Any] = (await client.get(f"{gw.url}/healthz")).json()
    [account] = body["accounts"]
    return account


async def until(gw: Gateway, state: str) -> dict[str, Any]:
    for _ in range(1500):
        account = await health(gw)
        if account["state"] == state:
            return account
        await asyncio.sleep(0.02)
    raise AssertionError(f"never {state}: {account}")


async def test_failing_polls_then_failing_sends_show_degraded(tmp_path: Path) -> None:
    async with FakeZaloBotApi() as fake:
        fake.fail_next("getUpdates", 502, count=1_000_000)  # Zalo unreachable from the start
        config = {
            "channels": {
                "zalo": {
                    "botToken": fake.token,
                    "apiBaseUrl": fake.base_url,
                    "dmPolicy": "open",
                    "allowFrom": ["*"],
                }
            }
        }
        options = ZaloChannelOptions(
            env={},
            polling_backoff=TINY,
            poll_timeout=1,  # an empty poll returns after 1 s: recovery shows quickly
            send_retry=RetryPolicy(attempts=1, backoff=TINY),
        )
        gw = Gateway(
            parse_config(config, env={}),
            state_dir=tmp_path,
            channels=[plugin_with_options(options)],
            agent=EchoAgent(),
            http_port=0,
            console_log=False,
            startup_grace=0.05,
            shutdown_timeout=3.0,
            inbox_factory=lambda store, handler: Inbox(
                store, handler, config=InboxConfig(backoff=TINY)
            ),
        )
        async with gw:
            account = await until(gw, "degraded")
            assert "502" in account["lastError"]
            assert account["degradedSince"] is not None
            fake._faults.clear()  # Zalo is back
            await until(gw, "running")
            fake.fail_next("sendMessage", 503, count=1_000_000)
            fake.user("u1").says("hello")
            account = await until(gw, "degraded")
            assert account["lastError"].startswith("send failed")
            fake._faults.clear()
            await until(gw, "running")  # the retried reply goes out
            await fake.wait_for_sent(1, chat_id="u1")


def test_degraded_is_kept_while_any_source_fails() -> None:
    board = StatusBoard()
    board.register("zalo", "a")
    board.report("zalo", "a", "monitor", "polling: boom")
    first = board.get("zalo", "a")
    assert first is not None
    assert first.degraded_since is not None
    board.report("zalo", "a", "send", "send failed: 503")
    board.report("zalo", "a", "monitor", None)
    still = board.get("zalo", "a")
    assert still is not None
    assert still.degraded_since is not None  # since the send failures began
    assert still.degraded_since >= first.degraded_since
    assert still.last_error == "send failed: 503"
    board.report("zalo", "a", "send", None)
    healthy = board.get("zalo", "a")
    assert healthy is not None
    assert healthy.degraded_since is None


def test_a_restart_forgets_what_the_earlier_run_reported() -> None:
    board = StatusBoard()
    board.register("zalo", "a")
    board.report("zalo", "a", "monitor", "listener closed")
    board.clear_reports("zalo", "a")
    record = board.get("zalo", "a")
    assert record is not None
    assert record.degraded_since is None
    board.report("zalo", "a", "monitor", None)  # the new run's first good report: no change
    assert board.get("zalo", "a") == record
    board.report("zalo", "a", "monitor", "listener closed again")
    again = board.get("zalo", "a")
    assert again is not None
    assert again.degraded_since is not None
