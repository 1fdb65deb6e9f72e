"""The http agent against a real service on loopback: the signed request, the answer, retries,
timeouts, refusals, and a deferred answer through the gateway's reply endpoint."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zalogate.agents.base import AgentError, Turn
from zalogate.agents.deferred import DEFERRED_PREFIX, deferred_reply_app
from zalogate.agents.http import HttpAgent, HttpAgentOptions, HttpAgentRejectedError
from zalogate.agents.services import AgentServices
from zalogate.agents.signing import signature_headers, verify
from zalogate.core.errors import NonRetryableError
from zalogate.core.model import ReplyPayload
from zalogate.runtime.http import HttpServer
from zalogate.store import Store

SECRET = "n8n-shared-secret"
Answer = Callable[[Request, int], Awaitable[Response]]


class Service:
    """A stand-in for n8n/Dify: records requests, answers with ``answer``."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.answer: Answer = self._echo

    async def _echo(self, request: Request, attempt: int) -> Response:
        body = json.loads(await request.body())
        return JSONResponse({"text": "svc: " + body["message"]["text"]})

    async def endpoint(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.body()))
        return await self.answer(request, len(self.requests))


@pytest.fixture
async def server() -> AsyncIterator[tuple[HttpServer, Service]]:
    service = Service()
    http = HttpServer("127.0.0.1", 0, shutdown_timeout=0.5)
    http.mount("/hook", Starlette(routes=[Route("/hook", service.endpoint, methods=["POST"])]))
    await http.start()
    yield http, service
    await http.stop()


def agent_for(http: HttpServer, services: AgentServices | None = None, **changes: Any) -> HttpAgent:
    options: dict[str, Any] = {
        "url": f"{http.url}/hook",
        "secret": SECRET,
        "agent_id": "support",
        "timeout_seconds": 2.0,
        "retries": 2,
    }
    options.update(changes)

    async def no_pause(_seconds: float) -> None:
        return None

    return HttpAgent(HttpAgentOptions(**options), services, sleep=no_pause)


async def answers(agent: HttpAgent, turn: Turn) -> list[ReplyPayload]:
    return [payload async for payload in agent.respond(turn)]


async def test_a_turn_is_signed_json_and_the_answer_is_the_reply(
    server: tuple[HttpServer, Service], make_turn: Callable[..., Turn], store: Store
) -> None:
    http, service = server
    agent = agent_for(http, AgentServices(store=store, base_url=lambda: "http://gw.local:1"))
    try:
        assert [p.text for p in await answers(agent, make_turn("giá bao nhiêu?"))] == [
            "svc: giá bao nhiêu?"
        ]
        second = await answers(agent, make_turn("cảm ơn", message_id="m2"))
    finally:
        await agent.aclose()
    assert [p.text for p in second] == ["svc: cảm ơn"]
    headers, body = service.requests[0]
    assert verify(SECRET, headers, body)
    assert not verify("another-secret", headers, body)
    assert not verify(SECRET, headers, body + b" ")
    data = json.loads(body)
    assert data["agentId"] == "support"
    assert data["sender"] == {"id": "u1", "name": "An"}
    assert data["conversation"]["channel"] == "zalo"
    assert data["conversation"]["chatType"] == "direct"
    assert data["replyUrl"].startswith("http://gw.local:1/agents/support/replies/")
    assert headers["idempotency-key"] == "zalo:default:m1"
    # The second turn carries the first exchange as history.
    history = json.loads(service.requests[1][1])["history"]
    assert history == [
        {"role": "user", "content": "giá bao nhiêu?"},
        {"role": "assistant", "content": "svc: giá bao nhiêu?"},
    ]


async def test_a_signature_older_than_five_minutes_is_refused() -> None:
    body = b"{}"
    headers = signature_headers(SECRET, body, now=1_000_000)
    assert verify(SECRET, headers, body, now=1_000_100)
    assert not verify(SECRET, headers, body, now=1_000_400)


async def test_5xx_is_retried_with_the_same_turn_id(
    server: tuple[HttpServer, Service], make_turn: Callable[..., Turn]
) -> None:
    http, service = server

    async def flaky(request: Request, attempt: int) -> Response:
        if attempt < 3:
            return Response("busy", status_code=503)
        return JSONResponse({"text": "finally", "media": ["https://cdn.example/a.png"]})

    service.answer = flaky
    agent = agent_for(http)
    try:
        [payload] = await answers(agent, make_turn())
    finally:
        await agent.aclose()
    assert (payload.text, payload.media_urls) == ("finally", ("https://cdn.example/a.png",))
    assert len(service.requests) == 3
    assert len({headers["idempotency-key"] for headers, _ in service.requests}) == 1


async def test_a_slow_service_times_out_after_the_retries(
    server: tuple[HttpServer, Service], make_turn: Callable[..., Turn]
) -> None:
    http, service = server
    release = asyncio.Event()

    async def stuck(request: Request, attempt: int) -> Response:
        await release.wait()
        return JSONResponse({})

    service.answer = stuck
    # Long enough that the second attempt reaches the service on a loaded machine.
    agent = agent_for(http, timeout_seconds=1.0, retries=1)
    try:
        with pytest.raises(AgentError, match=r"no answer within 1(\.0)? s \(after 2 attempt"):
            await answers(agent, make_turn())
    finally:
        release.set()
        await agent.aclose()
    assert len(service.requests) == 2


async def test_a_4xx_fails_the_message_for_good(
    server: tuple[HttpServer, Service], make_turn: Callable[..., Turn]
) -> None:
    http, service = server

    async def refuse(request: Request, attempt: int) -> Response:
        return Response("bad workflow", status_code=404)

    service.answer = refuse
    agent = agent_for(http)
    try:
        with pytest.raises(HttpAgentRejectedError) as caught:
            await answers(agent, make_turn())
    finally:
        await agent.aclose()
    assert isinstance(caught.value, NonRetryableError)
    assert "HTTP 404" in str(caught.value)
    assert len(service.requests) == 1


async def test_an_empty_answer_is_no_reply(
    server: tuple[HttpServer, Service], make_turn: Callable[..., Turn]
) -> None:
    http, service = server

    async def nothing(request: Request, attempt: int) -> Response:
        return Response(status_code=204)

    service.answer = nothing
    agent = agent_for(http)
    try:
        assert await answers(agent, make_turn()) == []
    finally:
        await agent.aclose()


async def test_a_deferred_answer_arrives_through_the_reply_endpoint(
    server: tuple[HttpServer, Service], make_turn: Callable[..., Turn], store: Store
) -> None:
    http, service = server
    sent: list[tuple[str, str, str, str]] = []

    async def send(channel: str, account: str, target: str, payload: ReplyPayload) -> list[str]:
        sent.append((channel, account, target, payload.text))
        return ["zmsg-1"]

    services = AgentServices(store=store, send=send, base_url=lambda: http.url)
    http.mount(DEFERRED_PREFIX, deferred_reply_app({"support": SECRET}, services))

    async def defer(request: Request, attempt: int) -> Response:
        return JSONResponse({"defer": True})

    service.answer = defer
    agent = agent_for(http, services)
    try:
        assert await answers(agent, make_turn("đặt lịch", chat_id="u7", sender_id="u7")) == []
    finally:
        await agent.aclose()
    reply_url = json.loads(service.requests[0][1])["replyUrl"]
    body = json.dumps({"text": "Đã đặt lịch lúc 9h"}).encode()
    async with httpx2.AsyncClient(trust_env=False) as client:
        unsigned = await client.post(reply_url, content=body)
        wrong = await client.post(reply_url, content=body, headers=signature_headers("guess", body))
        ok = await client.post(reply_url, content=body, headers=signature_headers(SECRET, body))
        again = await client.post(reply_url, content=body, headers=signature_headers(SECRET, body))
    assert (unsigned.status_code, wrong.status_code) == (401, 401)
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"ok": True, "messageIds": ["zmsg-1"]}
    assert again.status_code == 404
    assert sent == [("zalo", "default", "u7", "Đã đặt lịch lúc 9h")]
