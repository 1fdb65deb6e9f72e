"""The gateway HTTP server over real loopback sockets: health, dynamic routes, shutdown."""

from __future__ import annotations

import socket

import httpx2
import pytest
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from zalogate.core.channel import ASGIApp, Receive, RouteRegistrar, Scope, Send
from zalogate.runtime.http import HttpServer, RouteConflictError
from zalogate.runtime.status import AccountState, AccountStatus


def text_app(label: str) -> ASGIApp:
    """An ASGI app answering ``<label> <path>``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = PlainTextResponse(f"{label} {request.url.path}")
        await response(scope, receive, send)

    return app


def test_server_is_a_route_registrar() -> None:
    server: RouteRegistrar = HttpServer("127.0.0.1", 0)
    assert server is not None


async def test_port_zero_binds_a_free_port_and_serves_healthz() -> None:
    records = [
        AccountStatus("zalo", "default", AccountState.RUNNING, last_inbound_at=1_700_000_000_000),
        AccountStatus("zalouser", "work", AccountState.BACKOFF, last_error="boom"),
    ]
    async with HttpServer("127.0.0.1", 0, status=lambda: records) as server:
        assert server.port != 0
        async with httpx2.AsyncClient(base_url=server.url) as client:
            response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True
    assert [(a["channel"], a["account"], a["state"]) for a in body["accounts"]] == [
        ("zalo", "default", "running"),
        ("zalouser", "work", "backoff"),
    ]
    assert body["accounts"][0]["lastInboundAt"] == 1_700_000_000_000
    assert body["accounts"][1]["lastError"] == "boom"
    assert body["accounts"][1]["lastOutboundAt"] is None


async def test_mounted_apps_get_their_prefix_and_longest_prefix_wins() -> None:
    async with HttpServer("127.0.0.1", 0) as server:
        server.mount("/zalo-hook", text_app("hook"))
        server.mount("/zalo-hook/media/", text_app("media"))
        async with httpx2.AsyncClient(base_url=server.url) as client:
            exact = await client.post("/zalo-hook")
            media = await client.get("/zalo-hook/media/abc")
            below = await client.get("/zalo-hook/other")
            sibling = await client.get("/zalo-hookx")
            unknown = await client.get("/nothing")
            server.unmount("/zalo-hook/media")
            after_unmount = await client.get("/zalo-hook/media/abc")
            server.unmount("/zalo-hook")
            gone = await client.post("/zalo-hook")
    assert (exact.status_code, exact.text) == (200, "hook /zalo-hook")
    assert media.text == "media /zalo-hook/media/abc"
    assert below.text == "hook /zalo-hook/other"
    assert sibling.status_code == 404
    assert unknown.status_code == 404
    assert after_unmount.text == "hook /zalo-hook/media/abc"
    assert gone.status_code == 404


def test_mounting_a_taken_or_reserved_path_is_refused() -> None:
    server = HttpServer("127.0.0.1", 0)
    server.mount("/hook", text_app("a"))
    with pytest.raises(RouteConflictError):
        server.mount("/hook/", text_app("b"))
    with pytest.raises(RouteConflictError):
        server.mount("/healthz", text_app("c"))
    server.unmount("/not-mounted")  # no error
    assert server.mounted() == {"/hook": None}


async def test_busy_port_fails_start_with_oserror() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        server = HttpServer("127.0.0.1", port)
        with pytest.raises(OSError, match=r"(?i)address"):
            await server.start()
        assert not server.running


async def test_stop_closes_the_listening_socket() -> None:
    server = HttpServer("127.0.0.1", 0)
    await server.start()
    url = server.url
    await server.stop()
    assert not server.running
    async with httpx2.AsyncClient(base_url=url) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get("/healthz")
    await server.stop()  # a second stop is harmless


async def test_forwarded_headers_do_not_change_the_client_address() -> None:
    """Only the webhook decides which proxies to believe (``gateway.trustedProxies``)."""

    async def client_app(scope: Scope, receive: Receive, send: Send) -> None:
        response = PlainTextResponse(f"{scope['client'][0]} {scope['scheme']}")
        await response(scope, receive, send)

    async with HttpServer("127.0.0.1", 0) as server:
        server.mount("/who", client_app)
        headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        async with httpx2.AsyncClient(base_url=server.url) as client:
            response = await client.get("/who", headers=headers)
    assert response.text == "127.0.0.1 http"


async def test_a_route_mounted_after_a_miss_is_found() -> None:
    server = HttpServer("127.0.0.1", 0)
    async with server, httpx2.AsyncClient(base_url=server.url) as client:
        before = await client.get("/late/x")
        server.mount("/late", text_app("late"))
        after = await client.get("/late/x")
        server.unmount("/late")
        gone = await client.get("/late/x")
    assert (before.status_code, after.text, gone.status_code) == (404, "late /late/x", 404)
