"""The HTTP/1.1 server of the public fakes: an asyncio protocol on ``httptools``.

uvicorn's per-request machinery (ASGI scope and message dicts, header validation, a task per
request) was the largest cost of the simulators in the benches (``bench/zalo_webhook.py``,
``bench/zalouser_e2e.py``): a simulator must cost far less than the gateway it measures. So
the fakes (:mod:`zalogate.testing.fake_botapi`, :mod:`zalogate.testing.fake_personal`) parse
requests here and answer their hot routes directly; every other route still runs on their
Starlette app, through the minimal ASGI 3 bridge :meth:`HttpRequest.run_asgi`.

Supported: keep-alive and ``Connection: close``, requests answered in order per connection,
``Content-Length`` and chunked request bodies, ``Expect: 100-continue``, ``HEAD`` (headers
only), chunked answers from the ASGI side. Upgrade requests get ``400`` (the listener
websocket has a port of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
import urllib.parse
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, cast

import httptools
from starlette.types import ASGIApp, Message

__all__ = ["Handler", "HttpRequest", "HttpServer"]

_STATUS_LINES: dict[int, bytes] = {}
_SERVER_ERROR = b"Internal Server Error"
_TEXT = b"text/plain; charset=utf-8"


def _status_line(status: int) -> bytes:
    line = _STATUS_LINES.get(status)
    if line is None:
        try:
            phrase = http.HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        line = _STATUS_LINES[status] = f"HTTP/1.1 {status} {phrase}\r\n".encode("latin-1")
    return line


class HttpRequest:
    """One parsed request; answer it with :meth:`respond` or :meth:`run_asgi`.

    ``path`` is percent-decoded (like ASGI's ``path``), ``query`` the raw query string,
    ``headers`` the ``(lower-case name, value)`` pairs in arrival order.
    """

    __slots__ = (
        "_body_sent",
        "_connection",
        "answered",
        "body",
        "headers",
        "keep_alive",
        "method",
        "path",
        "query",
        "raw_path",
    )

    def __init__(
        self,
        connection: _Connection,
        method: str,
        raw_path: bytes,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        keep_alive: bool,
    ) -> None:
        self._connection = connection
        self.method = method
        self.raw_path = raw_path
        path = raw_path.decode("latin-1")
        self.path = urllib.parse.unquote(path) if "%" in path else path
        self.query = query
        self.headers = headers
        self.body = body
        self.keep_alive = keep_alive
        self.answered = False
        self._body_sent = False

    @property
    def transport(self) -> asyncio.Transport | None:
        """The connection's transport (``None`` once it is closed)."""
        return self._connection.transport

    @property
    def gone(self) -> bool:
        """The client closed the connection (or it was aborted)."""
        return self._connection.closed.is_set()

    async def wait_gone(self) -> None:
        """Return once the client has closed the connection."""
        await self._connection.closed.wait()

    def abort(self) -> None:
        """Close the TCP connection at once, without an answer."""
        self._connection.abort()

    def header(self, name: bytes) -> bytes | None:
        """The first value of header ``name`` (lower case), if sent."""
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def respond(
        self,
        status: int,
        body: bytes,
        content_type: bytes | None,
        headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        """Write the whole answer at once (headers only for ``HEAD``)."""
        self.answered = True
        transport = self._connection.transport
        if transport is None or transport.is_closing():
            return
        parts = [_status_line(status), b"content-length: %d\r\n" % len(body)]
        if content_type is not None:
            parts.append(b"content-type: " + content_type + b"\r\n")
        parts.extend(name + b": " + value + b"\r\n" for name, value in headers)
        if not self.keep_alive:
            parts.append(b"connection: close\r\n")
        parts.append(b"\r\n")
        if self.method != "HEAD":
            parts.append(body)
        transport.write(b"".join(parts))

    async def receive(self) -> Message:
        """ASGI ``receive``: the whole body, then ``http.disconnect`` when the client leaves."""
        if not self._body_sent:
            self._body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        if not self.answered:
            await self._connection.closed.wait()
        return {"type": "http.disconnect"}

    async def run_asgi(self, app: ASGIApp) -> None:
        """Answer through the ASGI 3 ``app`` (one request's worth of an ASGI server)."""
        connection = self._connection
        transport = connection.transport
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": self.method,
            "scheme": "http",
            "path": self.path,
            "raw_path": self.raw_path,
            "query_string": self.query,
            "root_path": "",
            "headers": self.headers,
            "client": transport.get_extra_info("peername") if transport else None,
            "server": transport.get_extra_info("sockname") if transport else None,
        }
        started: list[Message] = []
        chunked = False
        done = False

        async def send(message: Message) -> None:
            nonlocal chunked, done
            if message["type"] == "http.response.start":
                started.append(message)
                return
            if message["type"] != "http.response.body" or done:
                return
            body: bytes = message.get("body", b"")
            more = bool(message.get("more_body", False))
            transport = connection.transport
            out: list[bytes] = []
            if started:
                start = started.pop()
                headers = [(bytes(k).lower(), bytes(v)) for k, v in start.get("headers", [])]
                if not any(k == b"content-length" for k, _ in headers):
                    if more:
                        headers.append((b"transfer-encoding", b"chunked"))
                        chunked = True
                    else:
                        headers.append((b"content-length", b"%d" % len(body)))
                if not self.keep_alive:
                    headers.append((b"connection", b"close"))
                out.append(_status_line(int(start["status"])))
                out.extend(k + b": " + v + b"\r\n" for k, v in headers)
                out.append(b"\r\n")
            if self.method != "HEAD":
                if chunked:
                    if body:
                        out.append(b"%x\r\n%b\r\n" % (len(body), body))
                    if not more:
                        out.append(b"0\r\n\r\n")
                elif body:
                    out.append(body)
            if not more:
                done = True
                self.answered = True
            if out and transport is not None and not transport.is_closing():
                transport.write(b"".join(out))

        try:
            await app(scope, self.receive, send)
        except Exception:
            server = connection.server
            server.log.exception("%s: a route failed", server.name)
            if not done and not started and not self.answered:
                self.keep_alive = False
                self.respond(500, _SERVER_ERROR, _TEXT)
            else:
                connection.abort()
            return
        if not done:  # the app returned without a complete answer
            connection.abort()


Handler = Callable[[HttpRequest], Awaitable[None]]


class _Connection(asyncio.Protocol):
    """One client connection: parses requests and answers them in arrival order."""

    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self._parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.Event()
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []
        self._queue: deque[HttpRequest] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's is not an ``asyncio.Transport`` subclass).
        self.transport = cast(asyncio.Transport, transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            # Without TCP_NODELAY a small answer can wait ~40 ms for a delayed ACK.
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self._queue.clear()
        self.closed.set()
        self.server.connections.discard(self)

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._refuse(b"Upgrade is not supported")
        except httptools.HttpParserError:
            self._refuse(b"Invalid HTTP request received.")

    def _refuse(self, message: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(
                _status_line(400)
                + b"content-type: text/plain; charset=utf-8\r\n"
                + b"content-length: %d\r\nconnection: close\r\n\r\n%b" % (len(message), message)
            )
            transport.close()

    # httptools callbacks

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = []
        self._body = []

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        transport = self.transport
        for name, value in self._headers:
            if name == b"expect" and value.lower() == b"100-continue" and transport is not None:
                transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if self._closing:
            return
        url = httptools.parse_url(self._url)
        self._queue.append(
            HttpRequest(
                self,
                self._parser.get_method().decode("latin-1"),
                url.path or b"/",
                url.query or b"",
                self._headers,
                b"".join(self._body),
                self._parser.should_keep_alive(),
            )
        )
        if self._task is None:
            task = self._task = asyncio.get_running_loop().create_task(self._answer())
            tasks = self.server.tasks
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    # answering

    async def _answer(self) -> None:
        server = self.server
        handle = server.handle
        try:
            while self._queue and not self._closing:
                request = self._queue.popleft()
                try:
                    await handle(request)
                except Exception:
                    server.log.exception("%s: a request failed", server.name)
                    request.keep_alive = False
                    if not request.answered:
                        request.respond(500, _SERVER_ERROR, _TEXT)
                if not request.answered:
                    self.abort()
                elif not request.keep_alive:
                    self.close()
        finally:
            self._task = None
            if self._closing:
                self.close()

    def shutdown(self) -> None:
        """Close now if idle, else once the request being answered is answered."""
        self._closing = True
        if self._task is None:
            self.close()

    def close(self) -> None:
        """Close after what is already written."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def abort(self) -> None:
        """Close at once, dropping anything unsent."""
        if self.transport is not None:
            self.transport.abort()


class HttpServer:
    """Serves ``handle(request)`` for every request on a bound, listening socket.

    Args:
        handle: Answers one request (``request.respond`` or ``request.run_asgi``); an
            exception becomes a ``500`` and closes the connection, returning without an
            answer aborts it.
        name: Names the fake in log records.
        log: Where failing requests are logged.
    """

    def __init__(self, handle: Handler, *, name: str, log: logging.Logger) -> None:
        self.handle = handle
        self.name = name
        self.log = log
        self.connections: set[_Connection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        """Serve on ``sock`` (bound; it is put in listening mode here)."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Connection(self), sock=sock, backlog=2048)

    async def stop(self, grace: float = 0.0) -> None:
        """Stop listening and close every connection.

        Idle connections close at once, busy ones after their answer; requests still being
        answered after ``grace`` seconds (QR long-polls, slowed calls) are cancelled.
        """
        if self._server is None:
            return
        self._server.close()
        for connection in list(self.connections):
            connection.shutdown()
        tasks = set(self.tasks)
        if tasks and grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        for connection in list(self.connections):
            connection.abort()
        await self._server.wait_closed()
        self._server = None
