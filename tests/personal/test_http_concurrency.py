"""PersonalHttp hands at most its pool size of requests to httpx2 at once."""

from __future__ import annotations

import asyncio

import httpx2
import pytest

import zalogate.personal.http as personal_http
from zalogate.personal.errors import RequestTimeoutError
from zalogate.personal.http import PersonalHttp


class HeldTransport:
    """Answers once released; counts the requests in flight at once."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.peak = 0
        self.release = asyncio.Event()

    async def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await self.release.wait()
        finally:
            self.in_flight -= 1
        return httpx2.Response(200, json={"n": request.url.params["n"]})


async def test_a_burst_waits_for_free_slots_and_every_request_is_answered() -> None:
    transport = HeldTransport()
    size = personal_http._POOL_SIZE
    async with PersonalHttp(transport=httpx2.MockTransport(transport)) as http:
        calls = [
            asyncio.create_task(http.get_json("https://chat.zalo.me/api", query=[("n", str(i))]))
            for i in range(size + 15)
        ]
        while transport.in_flight < size:
            await asyncio.sleep(0.001)
        await asyncio.sleep(0.01)  # room for one more to get through, if it could
        assert transport.in_flight == size
        transport.release.set()
        answers = await asyncio.gather(*calls)
    assert transport.peak == size
    assert answers == [{"n": str(i)} for i in range(size + 15)]


async def test_waiting_for_a_slot_counts_against_the_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(personal_http, "_POOL_SIZE", 1)
    transport = HeldTransport()
    async with PersonalHttp(transport=httpx2.MockTransport(transport), timeout_s=0.05) as http:
        holder = asyncio.create_task(http.get_json("https://chat.zalo.me/a", query=[("n", "0")]))
        while transport.in_flight < 1:
            await asyncio.sleep(0.001)
        with pytest.raises(RequestTimeoutError, match="timed out: GET /b"):
            await http.get_json("https://chat.zalo.me/b", query=[("n", "1")])
        transport.release.set()
        assert await holder == {"n": "0"}
        assert await http.get_json("https://chat.zalo.me/c", query=[("n", "2")]) == {"n": "2"}
    assert transport.peak == 1
