"""ZaloBot hands at most ``max_connections`` calls to its HTTP client at once."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest

from zalogate.botapi.client import ZaloBot
from zalogate.botapi.errors import RequestTimeoutError

TOKEN = "1234567890:SuperSecretBotTokenValue_x"
BASE = "https://bot-api.example.test"


class HeldTransport:
    """Answers ``sendMessage`` once released; counts the calls in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.release = asyncio.Event()
        self.paths: list[str] = []

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.paths.append(request.url.path)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        chat = json.loads(request.content)["chat_id"]
        return httpx2.Response(200, json={"ok": True, "result": {"message_id": f"m-{chat}"}})


async def test_a_burst_waits_for_free_slots_and_every_call_is_answered() -> None:
    transport = HeldTransport()
    async with ZaloBot(
        TOKEN, base_url=BASE, transport=httpx2.MockTransport(transport), max_connections=4
    ) as bot:
        calls = [asyncio.create_task(bot.send_message(f"u{i}", "hi")) for i in range(30)]
        while transport.in_flight < 4:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)  # room for a fifth call to get through, if it could
        assert transport.in_flight == 4
        transport.release.set()
        sent = await asyncio.gather(*calls)
    assert transport.peak == 4
    assert [m.message_id for m in sent] == [f"m-u{i}" for i in range(30)]
    assert transport.paths[0] == f"/bot{TOKEN}/sendMessage"


async def test_waiting_for_a_slot_counts_against_the_deadline() -> None:
    transport = HeldTransport()
    async with ZaloBot(
        TOKEN, base_url=BASE, transport=httpx2.MockTransport(transport), max_connections=1
    ) as bot:
        holder = asyncio.create_task(bot.send_message("u0", "hi"))
        while transport.in_flight < 1:
            await asyncio.sleep(0.001)
        with pytest.raises(RequestTimeoutError) as caught:
            await bot.send_message("u1", "hi", request_timeout=0.05)
        assert TOKEN not in str(caught.value)
        transport.release.set()
        assert (await holder).message_id == "m-u0"
        # The timed-out call gave nothing back it did not hold: the next call still runs.
        assert (await bot.send_message("u2", "hi")).message_id == "m-u2"
    assert transport.peak == 1
