"""Several agents and scheduled messages in the real gateway against the fake Bot API: two bot
accounts routed by bindings to two agents (one of them the http agent, with a deferred
answer), and a schedule delivered once across gateway restarts (an injected clock)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zalogate.agents.signing import signature_headers, verify
from zalogate.channels.zalo.channel import plugin_with_options
from zalogate.config import parse_config
from zalogate.core.schedules import SqliteScheduleStore
from zalogate.runtime.gateway import Gateway
from zalogate.runtime.http import HttpServer
from zalogate.runtime.logging import clear_registered_secrets, reset_logging
from zalogate.store import Store
from zalogate.testing.fake_botapi import FakeZaloBotApi

from .conftest import fast_options, zalo_config

SECRET = "support-flow-secret"


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    yield
    reset_logging()
    clear_registered_secrets()


class Flow:
    """The support team's workflow service (an n8n stand-in)."""

    def __init__(self) -> None:
        self.turns: list[dict[str, Any]] = []

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        if not verify(SECRET, request.headers, body):
            return Response(status_code=401)
        turn = json.loads(body)
        self.turns.append(turn)
        if "later" in turn["message"]["text"]:
            return JSONResponse({"defer": True})
        return JSONResponse({"text": f"[support] {turn['message']['text']}"})


@pytest.fixture
async def flow() -> AsyncIterator[tuple[Flow, str]]:
    service = Flow()
    http = HttpServer("127.0.0.1", 0, shutdown_timeout=0.5)
    http.mount("/flow", Starlette(routes=[Route("/flow", service.hook, methods=["POST"])]))
    await http.start()
    yield service, f"{http.url}/flow"
    await http.stop()


def make_gateway(config: dict[str, Any], state_dir: Path, **kwargs: Any) -> Gateway:
    return Gateway(
        parse_config(config, env={}),
        state_dir=state_dir,
        channels=[plugin_with_options(fast_options())],
        http_port=0,
        console_log=False,
        startup_grace=0.05,
        shutdown_timeout=3.0,
        **kwargs,
    )


async def test_two_bot_accounts_are_answered_by_two_agents(
    fake: FakeZaloBotApi, flow: tuple[Flow, str], tmp_path: Path
) -> None:
    service, url = flow
    second = fake.add_bot(name="support.bot")
    config = {
        "agents": {
            "list": [
                {"id": "sales", "default": True, "type": "echo"},
                {"id": "support", "type": "http", "http": {"url": url, "secret": SECRET}},
            ]
        },
        "bindings": [{"agentId": "support", "match": {"channel": "zalo", "accountId": "help"}}],
        "channels": {
            "zalo": {
                "apiBaseUrl": fake.base_url,
                "dmPolicy": "open",
                "allowFrom": ["*"],
                "defaultAccount": "shop",
                "accounts": {"shop": {"botToken": fake.token}, "help": {"botToken": second.token}},
            }
        },
    }
    async with make_gateway(config, tmp_path) as gw:
        fake.user("u1").says("áo size M còn không?")
        second.user("u2").says("máy không lên nguồn")
        [to_u1] = await fake.wait_for_sent(1, chat_id="u1", bot=fake.bot)
        [to_u2] = await fake.wait_for_sent(1, chat_id="u2", bot=second)
        assert to_u1.text == "áo size M còn không?"  # sales: the echo agent
        assert to_u2.text == "[support] máy không lên nguồn"  # support: the http flow
        [turn] = service.turns
        assert turn["conversation"]["sessionKey"] == "agent:support:main"
        assert turn["conversation"]["accountId"] == "help"

        # A deferred answer comes back later through the gateway's reply endpoint.
        second.user("u3").says("check later please")
        async with asyncio.timeout(5):
            while len(service.turns) < 2:
                await asyncio.sleep(0.01)
        reply_url = service.turns[1]["replyUrl"]
        assert reply_url.startswith(gw.url + "/agents/support/replies/")
        body = json.dumps({"text": "Đã kiểm tra xong"}).encode()
        async with httpx2.AsyncClient(trust_env=False) as client:
            answer = await client.post(
                reply_url, content=body, headers=signature_headers(SECRET, body)
            )
        assert answer.status_code == 200, answer.text
        [late] = await fake.wait_for_sent(1, chat_id="u3", bot=second)
        assert late.text == "Đã kiểm tra xong"
    assert SECRET not in gw.log_file.read_text()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def one_account(fake: FakeZaloBotApi, **schedules: Any) -> dict[str, Any]:
    config = zalo_config(fake, dmPolicy="open", allowFrom=["*"])
    config["schedules"] = {"minIntervalSeconds": 0, **schedules}
    return config


async def settle(gw: Gateway, rounds: int = 6) -> None:
    """Let the scheduler look a few times (it polls every 20 ms here)."""
    await asyncio.sleep(0.02 * rounds)


async def test_a_schedule_is_delivered_once_across_restarts(
    fake: FakeZaloBotApi, tmp_path: Path
) -> None:
    clock = Clock(1_800_000_000.0)
    state = tmp_path / "state"
    config = one_account(fake)
    async with make_gateway(config, state, clock=clock, schedule_poll=0.02) as gw:
        # As `zalogate message schedule` does: another connection to the same store.
        async with await Store.open(state) as store:
            schedule = await SqliteScheduleStore(store, clock=clock).add(
                "zalo", "u9", "Nhắc: họp lúc 10h", at_ms=int((clock.now + 60) * 1000)
            )
        await settle(gw)
        assert fake.sent == []
    clock.now += 30  # down for half a minute, then up again before the time
    async with make_gateway(config, state, clock=clock, schedule_poll=0.02) as gw:
        await settle(gw)
        assert fake.sent == []
        clock.now += 31
        [sent] = await fake.wait_for_sent(1, chat_id="u9")
        assert sent.text == "Nhắc: họp lúc 10h"
        async with httpx2.AsyncClient(trust_env=False) as client, asyncio.timeout(5):
            # The fake records the message before the gateway has recorded the send.
            while (await client.get(f"{gw.url}/healthz")).json()["schedules"] != {
                "sending": True,
                "active": 0,
                "nextAtMs": None,
                "sent": 1,
                "skipped": 0,
                "failures": 0,
            }:
                await asyncio.sleep(0.02)
    clock.now += 120
    async with make_gateway(config, state, clock=clock, schedule_poll=0.02) as gw:
        await settle(gw)
    assert len(fake.sent) == 1
    async with await Store.open(state) as store:
        done = await SqliteScheduleStore(store).get(schedule.id)
    assert done is not None
    assert (done.status, done.sent_count, done.next_at_ms) == ("done", 1, None)


@pytest.mark.parametrize(("missed", "expected"), [("send", 1), ("skip", 0)])
async def test_an_occurrence_missed_while_down_is_sent_once_or_skipped(
    fake: FakeZaloBotApi, tmp_path: Path, missed: str, expected: int
) -> None:
    clock = Clock(1_800_000_000.0)
    state = tmp_path / "state"
    async with await Store.open(state) as store:
        schedules = SqliteScheduleStore(store, clock=clock)
        await schedules.add("zalo", "u5", "Daily", cron="*/5 * * * *", tz="Asia/Ho_Chi_Minh")
    clock.now += 3600  # twelve occurrences passed while no gateway ran
    config = one_account(fake, missed=missed)
    async with make_gateway(config, state, clock=clock, schedule_poll=0.02) as gw:
        await settle(gw, 10)
        if expected:
            await fake.wait_for_sent(expected, chat_id="u5")
        await settle(gw)
    assert len(fake.sent) == expected
    async with await Store.open(state) as store:
        [after] = await SqliteScheduleStore(store).all()
    assert after.next_at_ms is not None
    assert after.next_at_ms > clock.now * 1000
