"""The shared HTTP/1.1 server of the fakes, driven directly with a small handler."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator

import pytest
from starlette.types import Receive, Scope, Send

from zalogate.testing.http_server import HttpRequest, HttpServer

_log = logging.getLogger("tests.http_server")


class Served:
    """An ``HttpServer`` on 127.0.0.1 whose handler the test sets."""

    def __init__(self) -> None:
        self.server = HttpServer(self.handle, name="test server", log=_log)
        self.port = 0
        self.release = asyncio.Event()
        self.cancelled = 0

    async def handle(self, request: HttpRequest) -> None:
        path = request.path
        if path == "/echo":
            request.respond(
                200, request.body, b"text/plain", [(b"x-method", request.method.encode())]
            )
        elif path == "/fail":
            raise RuntimeError("boom")
        elif path == "/silent":
            return  # no answer: the connection must be aborted
        elif path == "/hold":
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
            request.respond(200, b"released", None)
        else:
            await request.run_asgi(asgi_app)


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    message = await receive()
    if scope["path"] == "/asgi/stream":
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": message["body"], "more_body": False})
    elif scope["path"] == "/asgi/half":
        await send({"type": "http.response.start", "status": 200, "headers": []})
    elif scope["path"] == "/asgi/fail":
        raise RuntimeError("route boom")
    else:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": scope["query_string"]})


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    served = Served()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    served.port = sock.getsockname()[1]
    await served.server.start(sock)
    yield served
    await served.server.stop()


async def talk_to(host: str, port: int, raw: bytes) -> bytes:
    """Write ``raw`` on a fresh connection to ``host:port``; all it answers until it closes."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(5):
            return await reader.read(-1)
    finally:
        writer.close()


async def talk(served: Served, raw: bytes) -> bytes:
    """Write ``raw`` to the served server on a fresh connection; all it answers."""
    return await talk_to("127.0.0.1", served.port, raw)


async def hold(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection whose request ``/hold`` is being answered (waits for ``release``)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
    writer.write(b"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    while not served.server.tasks:
        await asyncio.sleep(0.005)
    return reader, writer


async def test_keep_alive_pipelining_answers_in_order_and_closes_on_request(
    served: Served,
) -> None:
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\none"
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo"
        b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = await talk(served, raw)
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 3
    assert data.index(b"\r\n\r\none") < data.index(b"\r\n\r\ntwo")
    assert data.endswith(b"x-method: GET\r\nconnection: close\r\n\r\n")


async def test_chunked_body_expect_continue_and_head(served: Served) -> None:
    raw = (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
        b"HEAD /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = await talk(served, raw)
    assert data.startswith(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n")
    assert b"content-length: 5\r\n" in data
    head = data.partition(b"\r\n\r\nabcde")[2]
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert head.endswith(b"x-method: HEAD\r\nconnection: close\r\n\r\n")  # no body


async def test_garbage_400_failing_handler_500_and_silent_handler_abort(
    served: Served,
) -> None:
    garbage = await talk(served, b"NOT HTTP AT ALL\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close\r\n" in garbage

    failed = await talk(served, b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\n\r\n")
    assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")
    assert failed.endswith(b"connection: close\r\n\r\nInternal Server Error")  # no 2nd answer

    silent = await talk(
        served, b"GET /silent HTTP/1.1\r\nHost: x\r\n\r\nGET /echo HTTP/1.1\r\n\r\n"
    )
    assert silent == b""


async def test_asgi_bridge_streams_chunked_and_aborts_incomplete_answers(
    served: Served,
) -> None:
    raw = (
        b"POST /asgi/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\ncd"
        b"GET /asgi/other?q=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = await talk(served, raw)
    assert data.startswith(b"HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n")
    assert b"\r\n\r\n2\r\nab\r\n2\r\ncd\r\n0\r\n\r\nHTTP/1.1 404 Not Found\r\n" in data
    assert data.endswith(b"connection: close\r\n\r\nq=1")

    assert await talk(served, b"GET /asgi/half HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    failed = await talk(served, b"GET /asgi/fail HTTP/1.1\r\nHost: x\r\n\r\n")
    assert failed.startswith(b"HTTP/1.1 500 Internal Server Error\r\n")


async def test_stop_cancels_held_requests_after_the_grace(served: Served) -> None:
    reader, writer = await hold(served)
    await served.server.stop(grace=0.01)
    async with asyncio.timeout(5):
        assert await reader.read(-1) == b""
    writer.close()
    assert served.cancelled == 1
    assert not served.server.connections


async def test_stop_lets_a_request_answered_within_the_grace_finish(served: Served) -> None:
    reader, writer = await hold(served)
    asyncio.get_running_loop().call_soon(served.release.set)
    await served.server.stop(grace=5.0)
    async with asyncio.timeout(5):
        data = await reader.read(-1)
    writer.close()
    assert data.endswith(b"\r\n\r\nreleased")
    assert served.cancelled == 0
