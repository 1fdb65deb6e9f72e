"""``LeanTransport``: a small HTTP/1.1 keep-alive pool for ``httpx2`` clients.

Both protocol clients (``botapi.ZaloBot`` and ``personal.PersonalHttp``) keep ``httpx2`` as their
client API — URLs, headers, cookies, ``MockTransport`` in tests, the exception classes — and
use this transport underneath instead of ``httpcore2``. ``httpcore2`` over ``anyio`` costs
about 1.6-1.9 ms of CPU per request on the 2-core bench machine (its pool scans every queued
request and every connection on each request); this pool is an asyncio ``Protocol`` per
connection, ``httptools`` for the response, and O(1) work per request: about 0.1 ms.

What it does: HTTP/1.1 over TCP or TLS, persistent connections (at most ``max_connections`` in
all, idle ones closed after ``keepalive_expiry`` seconds), ``Content-Length``, chunked and
close-delimited response bodies, 1xx responses skipped, and httpx2's four timeouts: ``pool``
(waiting for a connection), ``connect`` (TCP and TLS handshake), and ``read``/``write`` as one
inactivity limit (the exchange fails when neither a response byte arrives nor the send buffer
drains for that long). The whole body is read before the response is returned (Zalo's answers
are small JSON; ``max_response_bytes`` caps it), and decompression is left to httpx2 as usual.

What it does not do: proxies (the clients use httpx2's own transport when a proxy is set),
HTTP/2, upgrades, or retries: a request that fails is reported, never sent twice (a second
``sendMessage`` would be a second answer to the user).

Errors are httpx2's: ``PoolTimeout``, ``ConnectTimeout``, ``ConnectError``, ``ReadTimeout``,
``ReadError``, ``RemoteProtocolError``, each carrying the request. :func:`maybe_sent` tells
which of them (through either transport) may have reached the server.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from typing import cast
from urllib.parse import urlsplit

import httptools
import httpx2

from zalogate.net.answer import RawHeaders, RawResponse, decoded_body

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "LeanTransport", "maybe_sent"]

DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024
"""Largest response body read into memory before the exchange is failed."""

_NOT_SENT = (
    httpx2.ConnectError,
    httpx2.ConnectTimeout,
    httpx2.PoolTimeout,
    httpx2.InvalidURL,
    httpx2.UnsupportedProtocol,
)
"""Failures before the request's first byte was written."""


def maybe_sent(exc: BaseException) -> bool:
    """Whether a request that failed with ``exc`` may have reached the server (a reset or a
    read timeout after it was written): False only when it cannot have (no connection, no
    pool slot, an unusable URL). A send that may have gone out is ``DELIVERY_UNKNOWN``."""
    return not isinstance(exc, _NOT_SENT)


_Key = tuple[str, str, int]
"""(scheme, host, port) of one origin."""

_DEFAULT_PORTS = {"http": 80, "https": 443}


class _Body(httpx2.AsyncByteStream):
    """A response body that has already been read in full."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._data:
            yield self._data


class _Exchange:
    """The response side of one request on one connection (the ``httptools`` callbacks)."""

    __slots__ = (
        "chunks",
        "complete",
        "future",
        "has_length",
        "head_only",
        "headers",
        "informational",
        "limit",
        "parser",
        "progress",
        "reason",
        "received",
        "status",
        "timer",
        "too_large",
        "write_backlog",
    )

    def __init__(self, future: asyncio.Future[None], limit: int, *, head_only: bool) -> None:
        self.future = future
        self.limit = limit
        self.head_only = head_only
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.reason = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.received = 0
        self.has_length = False
        self.informational = False
        self.complete = False
        self.progress = False
        self.write_backlog = 0
        self.timer: asyncio.TimerHandle | None = None
        self.too_large = False

    # httptools callbacks -------------------------------------------------

    def on_message_begin(self) -> None:
        self.status = 0
        self.reason = b""
        self.headers = []
        self.informational = False
        self.has_length = False

    def on_status(self, reason: bytes) -> None:
        self.reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lowered = name.lower()
        if lowered in (b"content-length", b"transfer-encoding"):
            self.has_length = True

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:
            self.informational = True  # 100 Continue and the like: the real answer follows
        elif self.head_only:
            self.complete = True  # an answer to HEAD has no body, whatever its headers say

    def on_body(self, body: bytes) -> None:
        self.received += len(body)
        if self.received > self.limit:
            self.too_large = True  # httptools re-raises callback errors as its own
            raise _BodyTooLargeError
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.informational:
            self.status = 0
            return
        self.complete = True
        if not self.future.done():
            self.future.set_result(None)


class _BodyTooLargeError(Exception):
    """The response body passed ``max_response_bytes``."""


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection; carries one exchange at a time."""

    def __init__(self, pool: LeanTransport, key: _Key) -> None:
        self.pool = pool
        self.key = key
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.exchange: _Exchange | None = None

    # asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement the interface without subclassing asyncio.Transport.
        self.transport = cast("asyncio.Transport", transport)

    def data_received(self, data: bytes) -> None:
        exchange = self.exchange
        if exchange is None or exchange.complete:
            # Bytes nobody asked for: the connection can no longer be trusted.
            self.close()
            return
        exchange.progress = True
        try:
            exchange.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(httpx2.RemoteProtocolError, "unexpected protocol upgrade")
        except (httptools.HttpParserError, _BodyTooLargeError) as exc:
            if exchange.too_large:
                self._fail(httpx2.ReadError, "response body too large")
            else:
                self._fail(httpx2.RemoteProtocolError, f"malformed response: {exc}")

    def eof_received(self) -> bool | None:
        self._ended(None)
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._ended(exc)

    def pause_writing(self) -> None:
        pass

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.progress = True

    # the exchange -----------------------------------------------------------

    def _ended(self, exc: Exception | None) -> None:
        was_closed = self.closed
        self.closed = True
        exchange = self.exchange
        if exchange is not None and not exchange.future.done():
            if exchange.status >= 200 and not exchange.has_length:
                # A close-delimited body (no Content-Length, not chunked) ends here.
                exchange.complete = True
                self._finish()
            elif exc is None:
                self._fail(httpx2.RemoteProtocolError, "server disconnected without a response")
            else:
                self._fail(httpx2.ReadError, f"connection lost: {exc}")
        if not was_closed:
            self.pool._lost(self)

    def _finish(self) -> None:
        exchange = self.exchange
        if exchange is not None and not exchange.future.done():
            exchange.future.set_result(None)

    def _fail(self, error: type[httpx2.TransportError], message: str) -> None:
        exchange = self.exchange
        if exchange is not None and not exchange.future.done():
            exchange.future.set_exception(_ExchangeError(error, message))
        self.close()

    def check_progress(self, interval: float) -> None:
        """The inactivity timer: fail the exchange if nothing moved for ``interval`` s."""
        exchange = self.exchange
        if exchange is None or exchange.future.done():
            return
        transport = self.transport
        backlog = transport.get_write_buffer_size() if transport is not None else 0
        if exchange.progress or backlog < exchange.write_backlog:
            exchange.progress = False
            exchange.write_backlog = backlog
            exchange.timer = asyncio.get_running_loop().call_later(
                interval, self.check_progress, interval
            )
            return
        kind = httpx2.WriteTimeout if backlog else httpx2.ReadTimeout
        self._fail(kind, "timed out")

    def usable(self, now: float, expiry: float) -> bool:
        transport = self.transport
        return (
            not self.closed
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since < expiry
        )

    def close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()
        if not self.closed:
            self.closed = True
            self.pool._lost(self)


class _ExchangeError(Exception):
    """Carries an httpx2 error class out of a protocol callback (the request is added later)."""

    def __init__(self, error: type[httpx2.TransportError], message: str) -> None:
        super().__init__(message)
        self.error = error


class LeanTransport(httpx2.AsyncBaseTransport):
    """An ``httpx2`` transport: HTTP/1.1 keep-alive connections, no proxy, no HTTP/2.

    Use as ``httpx2.AsyncClient(transport=LeanTransport(ssl_context=ctx))``.

    Args:
        ssl_context: the TLS context for ``https`` origins (default: the system CAs).
        max_connections: open connections in all (busy and idle, every origin together).
        keepalive_expiry: seconds an idle connection is kept for reuse.
        max_response_bytes: a longer response body fails the request with ``ReadError``.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 20,
        keepalive_expiry: float = 5.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._ssl_context = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._max_body = max_response_bytes
        self._idle: dict[_Key, list[_Connection]] = {}
        self._open = 0
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._closed = False
        # request(): URL before the query -> (pool key, path, Host header), parsed once.
        self._origins: dict[str, tuple[_Key, str, str]] = {}

    def __repr__(self) -> str:
        return f"LeanTransport(max_connections={self._max}, open={self._open})"

    @property
    def open_connections(self) -> int:
        """Connections open now, busy and idle."""
        return self._open

    async def aclose(self) -> None:
        """Close the idle connections; busy ones close when their exchange ends."""
        self._closed = True
        for connections in list(self._idle.values()):
            for connection in list(connections):
                connection.close()
        self._idle.clear()
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        """Send ``request`` on a pooled connection and return the whole response."""
        url = request.url
        key = self._key(url.scheme, url.host, url.port, request)
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        head = _request_head(request, len(body))
        exchange = await self._roundtrip(key, head, body, timeouts, request, request.method)
        return httpx2.Response(
            exchange.status,
            headers=exchange.headers,
            stream=_Body(b"".join(exchange.chunks)),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": exchange.reason},
        )

    async def request(
        self,
        method: str,
        url: str,
        headers: Iterable[tuple[str, str]],
        content: bytes = b"",
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - an HTTP deadline, as httpx2's
    ) -> RawResponse:
        """Send one request without ``httpx2``'s client layer (the protocol clients' hot path).

        ``url`` is absolute and already encoded; ``headers`` go out as given, plus ``Host``
        and ``Content-Length``; ``timeout`` is the pool, connect and inactivity limit. The
        body of the answer is decompressed (gzip, deflate). Errors are the same httpx2
        classes as through a client (without a ``request`` attached).
        """
        base, mark, query = url.partition("?")
        known = self._origins.get(base)
        if known is None:
            parts = urlsplit(base)
            key = self._key(parts.scheme, parts.hostname or "", parts.port, None)
            known = (key, parts.path or "/", parts.netloc.rpartition("@")[2])
            if len(self._origins) > 256:
                self._origins.clear()
            self._origins[base] = known
        elif self._closed:
            raise RuntimeError("the transport is closed")
        key, path, host = known
        target = path + mark + query
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {host}\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        if content or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(content)}\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        limits = {"pool": timeout, "connect": timeout, "read": timeout, "write": timeout}
        exchange = await self._roundtrip(key, head, content, limits, None, method)
        raw = RawHeaders(exchange.headers)
        return RawResponse(
            exchange.status,
            exchange.reason.decode("latin-1"),
            raw,
            decoded_body(b"".join(exchange.chunks), raw.get("content-encoding")),
            url,
        )

    def _key(
        self, scheme: str, host: str, port: int | None, request: httpx2.Request | None
    ) -> _Key:
        if self._closed:
            raise RuntimeError("the transport is closed")
        default = _DEFAULT_PORTS.get(scheme)
        if default is None:
            raise httpx2.UnsupportedProtocol(f"unsupported scheme {scheme!r}", request=request)
        return (scheme, host, port or default)

    async def _roundtrip(
        self,
        key: _Key,
        head: bytes,
        body: bytes,
        timeouts: dict[str, float | None],
        request: httpx2.Request | None,
        method: str,
    ) -> _Exchange:
        connection = await self._acquire(key, request, timeouts.get("pool"), timeouts)
        loop = asyncio.get_running_loop()
        exchange = _Exchange(loop.create_future(), self._max_body, head_only=method == "HEAD")
        connection.exchange = exchange
        transport = connection.transport
        assert transport is not None
        interval = _limit(timeouts.get("read"), timeouts.get("write"))
        try:
            if len(body) < 65536:
                transport.write(head + body)
            else:
                transport.write(head)
                transport.write(body)
            if interval is not None:
                exchange.write_backlog = transport.get_write_buffer_size()
                exchange.timer = loop.call_later(interval, connection.check_progress, interval)
            await exchange.future
        except _ExchangeError as failure:
            connection.close()
            raise failure.error(str(failure), request=request) from None
        except BaseException:
            # Cancelled half way: the connection is in an unknown state.
            connection.close()
            raise
        finally:
            if exchange.timer is not None:
                exchange.timer.cancel()
            connection.exchange = None
        if _keeps_alive(exchange) and method != "HEAD":
            self._release(connection)
        else:
            connection.close()
        return exchange

    # the pool ---------------------------------------------------------------

    async def _acquire(
        self,
        key: _Key,
        request: httpx2.Request | None,
        pool_timeout: float | None,
        timeouts: dict[str, float | None],
    ) -> _Connection:
        loop = asyncio.get_running_loop()
        deadline = None if pool_timeout is None else loop.time() + pool_timeout
        while True:
            connection = self._reuse(key)
            if connection is not None:
                return connection
            if self._open >= self._max:
                self._evict_other(key)
            if self._open < self._max:
                self._open += 1
                try:
                    return await self._connect(key, request, timeouts.get("connect"))
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            waiter: asyncio.Future[None] = loop.create_future()
            self._waiters.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException as exc:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():
                    self._wake()  # woken, but this request is leaving: pass the turn on
                if isinstance(exc, TimeoutError):
                    raise httpx2.PoolTimeout(
                        "no connection free in time", request=request
                    ) from None
                raise
            if self._closed:
                raise RuntimeError("the transport is closed")

    def _reuse(self, key: _Key) -> _Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.usable(now, self._expiry):
                return connection
            connection.close()
        return None

    def _evict_other(self, key: _Key) -> None:
        """Close one idle connection of another origin to make room for ``key``."""
        for other, connections in self._idle.items():
            if other != key and connections:
                connections[0].close()
                return

    async def _connect(
        self, key: _Key, request: httpx2.Request | None, connect_timeout: float | None
    ) -> _Connection:
        scheme, host, port = key
        loop = asyncio.get_running_loop()
        context: ssl.SSLContext | None = None
        if scheme == "https":
            context = self._ssl_context or ssl.create_default_context()
        connection = _Connection(self, key)
        try:
            async with asyncio.timeout(connect_timeout):
                await loop.create_connection(
                    lambda: connection,
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError:
            connection.closed = True
            raise httpx2.ConnectTimeout("timed out connecting", request=request) from None
        except (OSError, ssl.SSLError) as exc:
            connection.closed = True
            reason = exc.strerror or type(exc).__name__
            raise httpx2.ConnectError(f"cannot connect: {reason}", request=request) from None
        return connection

    def _release(self, connection: _Connection) -> None:
        if self._closed or connection.closed:
            connection.close()
            return
        connection.idle_since = time.monotonic()
        self._idle.setdefault(connection.key, []).append(connection)
        self._wake()

    def _lost(self, connection: _Connection) -> None:
        """A connection closed (by us or the server): free its place in the pool."""
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)
        self._open -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


def _limit(read: float | None, write: float | None) -> float | None:
    if read is None:
        return write
    if write is None:
        return read
    return max(read, write)


def _keeps_alive(exchange: _Exchange) -> bool:
    for name, value in exchange.headers:
        if name.lower() == b"connection" and b"close" in value.lower():
            return False
    return exchange.complete


def _request_head(request: httpx2.Request, length: int) -> bytes:
    """The request line and headers, with ``Content-Length`` for the body that was read."""
    target = request.url.raw_path
    lines: list[bytes] = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    has_length = False
    for name, value in request.headers.raw:
        lowered = name.lower()
        if lowered == b"transfer-encoding":
            continue  # the body has been read whole: it goes out with a length instead
        if lowered == b"content-length":
            has_length = True
            value = str(length).encode("ascii")
        lines += (name, b": ", value, b"\r\n")
    if not has_length and (length or request.method in ("POST", "PUT", "PATCH")):
        lines.append(b"Content-Length: %d\r\n" % length)
    lines.append(b"\r\n")
    return b"".join(lines)
