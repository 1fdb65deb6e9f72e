"""Guarded media downloads: one GET with manual redirects, SSRF-checked, pinned, size-capped.

Both the inbound image fetcher (:class:`zalogate.channels.media.MediaFetcher`) and the
``zalouser`` outbound media loader (:class:`zalogate.channels.zalouser.media.MediaLoader`)
download through :class:`Downloader`. Every hop (the URL, then each redirect target, at most
three) is vetted by the :class:`~zalogate.net.urlguard.UrlGuard`, and the connection goes
to one of the addresses the guard vetted for that host and port: httpx2 never resolves the
host again, so a DNS answer that changes between the check and the connect (DNS rebinding)
cannot reach a private address. TLS still uses the host name (SNI and certificate checks).

The seam is httpcore2's network backend: :class:`PinnedTransport` is httpx2's own transport
over a connection pool whose backend connects to the address pinned for the current request
(a context variable set around ``send``) and refuses any connection nobody pinned. A kept-alive
connection may serve a later download of the same origin: it goes to an address that was
vetted when it was opened.

With a proxy the proxy connects (and resolves the host), so pinning cannot apply: the guard's
check before each hop is all there is.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ssl
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import httpcore2
import httpx2

from zalogate.net.tls import shared_tls_context
from zalogate.net.urlguard import UrlGuard, VettedUrl

__all__ = ["Download", "DownloadError", "Downloader", "PinnedTransport", "pinned"]

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_DEFAULT_PORTS = {b"http": 80, b"https": 443}

Reason = Literal[
    "header-timeout", "idle-timeout", "no-location", "redirects", "status", "too-large", "transport"
]


@dataclass(frozen=True, slots=True)
class _Pin:
    host: str
    port: int
    addresses: tuple[str, ...]
    """Empty: the guard allows every address, the host may be resolved as usual."""


_PIN: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("download_pin", default=None)


class _PinnedBackend(httpcore2.AsyncNetworkBackend):
    """Connects ``host:port`` to the address pinned for it, and nothing else."""

    def __init__(self, inner: httpcore2.AsyncNetworkBackend | None = None) -> None:
        self._inner = inner or httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        pin = _PIN.get()
        if pin is None or (pin.host, pin.port) != (host, port):
            raise httpcore2.ConnectError(f"no vetted address for {host}:{port}")
        last: httpcore2.ConnectError | None = None
        for address in pin.addresses or (host,):
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except httpcore2.ConnectError as exc:  # refused or unreachable: try the next one
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore2's interface)
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise httpcore2.ConnectError("no unix sockets for downloads")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport whose connections go only to addresses pinned with :func:`pinned`.

    Args:
        ssl_context: TLS context; certificates are checked against the URL's host name.
        network_backend: What actually connects (default anyio); tests may wrap it.
    """

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext,
        network_backend: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        super().__init__(verify=ssl_context, trust_env=False)
        # httpx2 takes no network backend: replace the pool it built (no connection yet) by
        # the same pool over the pinning backend. tests/net/test_download.py fails if
        # httpx2 stops reading ``_pool``.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_PinnedBackend(network_backend),
        )


@contextlib.contextmanager
def pinned(url: httpx2.URL, addresses: tuple[str, ...]) -> Iterator[None]:
    """Within the block, a connection to ``url``'s origin goes to one of ``addresses``."""
    port = url.port or _DEFAULT_PORTS.get(url.raw_scheme, 0)
    token = _PIN.set(_Pin(url.raw_host.decode("ascii"), port, addresses))
    try:
        yield
    finally:
        _PIN.reset(token)


class DownloadError(Exception):
    """A download failed; ``str()`` is the reason and never quotes the URL.

    Attributes:
        reason: What failed, for callers with messages of their own.
        status: The HTTP status (``status``, ``no-location``).
        detail: The httpx2 error class name (``transport``).
    """

    def __init__(
        self, reason: Reason, message: str, *, status: int | None = None, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.reason: Reason = reason
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Download:
    """The body of a ``200`` answer, the URL it came from (after redirects), its type."""

    data: bytes = field(repr=False)
    url: str
    content_type: str | None


class Downloader:
    """GETs a URL within a size cap; see the module docstring for the guard and pinning.

    Args:
        guard: SSRF guard for the URL and every redirect target.
        timeout: httpx2 timeouts of the clients.
        ssl_context: TLS context (default the shared system one).
        network_backend: What connects for the pinned transport (tests).
    """

    def __init__(
        self,
        guard: UrlGuard,
        *,
        timeout: httpx2.Timeout,
        ssl_context: ssl.SSLContext | None = None,
        network_backend: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        self.guard = guard
        self.timeout = timeout
        self._ssl_context = ssl_context
        self._backend = network_backend
        self._clients: dict[str | None, httpx2.AsyncClient] = {}

    def _client(self, proxy: str | None) -> httpx2.AsyncClient:
        client = self._clients.get(proxy)
        if client is None:
            context = self._ssl_context or shared_tls_context()
            transport = (
                PinnedTransport(ssl_context=context, network_backend=self._backend)
                if proxy is None
                else httpx2.AsyncHTTPTransport(verify=context, trust_env=False, proxy=proxy)
            )
            client = httpx2.AsyncClient(
                transport=transport, follow_redirects=False, trust_env=False, timeout=self.timeout
            )
            self._clients[proxy] = client
        return client

    async def aclose(self) -> None:
        """Close the HTTP clients."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        what: str = "URL",
        proxy: str | None = None,
        header_timeout: float | None = None,
        idle_timeout: float | None = None,
    ) -> Download:
        """Download ``url`` (a ``200`` answer, at most ``max_bytes``).

        Args:
            what: Names the URL in the guard's errors (``"media URL"``).
            proxy: Fetch through this proxy (no pinning: the proxy resolves the host).
            header_timeout: Seconds for the response headers of each hop.
            idle_timeout: Seconds without body data.

        Raises:
            UnsafeUrlError: The guard refused the URL or a redirect target.
            DownloadError: Anything else.
        """
        client = self._client(proxy)
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            vetted = await self.guard.vet(current, what=what)
            current = vetted.url
            response = await self._send(client, vetted, header_timeout)
            try:
                if response.is_redirect:
                    location = response.headers.get("location")
                    if not location:
                        raise DownloadError(
                            "no-location",
                            f"HTTP {response.status_code} without a Location",
                            status=response.status_code,
                        )
                    current = urllib.parse.urljoin(current, location)
                    continue
                if response.status_code != 200:
                    raise DownloadError(
                        "status", f"HTTP {response.status_code}", status=response.status_code
                    )
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise DownloadError("too-large", f"larger than {max_bytes} bytes")
                body = await _read(response, max_bytes, idle_timeout)
                return Download(body, current, response.headers.get("content-type"))
            finally:
                await response.aclose()
        raise DownloadError("redirects", "too many redirects")

    @staticmethod
    async def _send(
        client: httpx2.AsyncClient, vetted: VettedUrl, header_timeout: float | None
    ) -> httpx2.Response:
        request = client.build_request("GET", vetted.url)
        try:
            # Through a proxy the pin is set but unused: the proxy connects and resolves.
            async with asyncio.timeout(header_timeout):
                with pinned(request.url, vetted.addresses):
                    return await client.send(request, stream=True)
        except TimeoutError:
            if header_timeout is None:
                raise
            raise DownloadError(
                "header-timeout", f"no response headers within {header_timeout:g} s"
            ) from None
        except httpx2.HTTPError as exc:
            raise _transport_error(exc) from None


def _transport_error(exc: httpx2.HTTPError) -> DownloadError:
    name = type(exc).__name__
    return DownloadError("transport", name, detail=name)


async def _read(response: httpx2.Response, max_bytes: int, idle_timeout: float | None) -> bytes:
    chunks: list[bytes] = []
    size = 0
    iterator = response.aiter_bytes(_CHUNK)
    while True:
        try:
            async with asyncio.timeout(idle_timeout):
                chunk = await anext(iterator)
        except StopAsyncIteration:
            break
        except TimeoutError:
            if idle_timeout is None:
                raise
            raise DownloadError("idle-timeout", f"no data for {idle_timeout:g} s") from None
        except httpx2.HTTPError as exc:
            raise _transport_error(exc) from None
        size += len(chunk)
        if size > max_bytes:
            raise DownloadError("too-large", f"larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
