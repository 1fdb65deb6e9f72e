"""Guarded media downloads (``zalogate.net.download``) against real loopback servers.

No test reaches the internet: 127.0.0.2 stands in for "a public address" (the guard below
allows it and nothing else on loopback), 127.0.0.1 is "the internal service" an attacker
wants to reach. Both listen on the same port, so only the address decides who answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpcore2
import httpx2
import pytest

from zalogate.channels.media import IMAGE_UNAVAILABLE, MediaFetcher
from zalogate.channels.zalouser.media import MediaLoader, MediaLoadError
from zalogate.core.model import ChatType, InboundMessage, MediaRef
from zalogate.net.download import Downloader, DownloadError, PinnedTransport, pinned
from zalogate.net.urlguard import UnsafeUrlError, UrlGuard
from zalogate.testing.fake_botapi import make_png
from zalogate.testing.http_server import HttpRequest, HttpServer

PUBLIC = "127.0.0.2"
INTERNAL = "127.0.0.1"
PNG = make_png(2, 2)
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StandInGuard(UrlGuard):
    """The real guard, with 127.0.0.2 and 127.0.0.3 taken for public addresses."""

    def address_allowed(self, address: str) -> bool:
        return address in (PUBLIC, "127.0.0.3") or UrlGuard.address_allowed(self, address)


class Rebinding:
    """DNS under an attacker's control: a public answer first, the internal address after."""

    def __init__(self, first: Sequence[str] = (PUBLIC,)) -> None:
        self.first = list(first)
        self.calls = 0

    async def __call__(self, host: str) -> list[str]:
        self.calls += 1
        return self.first if self.calls == 1 else [INTERNAL]


Answer = Callable[[HttpRequest], None]


def image(request: HttpRequest) -> None:
    request.respond(200, PNG, b"image/png")


class Site:
    """A loopback HTTP server that records the paths (and Host headers) it was asked for."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.paths: list[str] = []
        self.hosts: list[bytes | None] = []
        self.server = HttpServer(self._handle, name="site", log=log)

    async def _handle(self, request: HttpRequest) -> None:
        self.paths.append(request.path)
        self.hosts.append(request.header(b"host"))
        self.answer(request)


def _bound(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def twins(
    public: Answer = image, internal: Answer = image
) -> AsyncIterator[tuple[Site, Site, int]]:
    """A public stand-in and an internal site on the same port."""
    for _ in range(50):
        public_sock = _bound(PUBLIC, 0)
        port = public_sock.getsockname()[1]
        try:
            internal_sock = _bound(INTERNAL, port)
        except OSError:
            public_sock.close()
            continue
        break
    else:  # pragma: no cover
        pytest.skip("no port free on both 127.0.0.1 and 127.0.0.2")
    sites = Site(public), Site(internal)
    await sites[0].server.start(public_sock)
    await sites[1].server.start(internal_sock)
    try:
        yield sites[0], sites[1], port
    finally:
        for site in sites:
            await site.server.stop()


def image_message(url: str) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id="u1",
        sender_id="u1",
        message_id="m1",
        timestamp_ms=1,
        media=(MediaRef(kind="image", url=url),),
    )


async def fetch_image(guard: UrlGuard, url: str, tmp_path: Path) -> MediaRef:
    fetcher = MediaFetcher(tmp_path, guard=guard, header_timeout=5.0, idle_timeout=5.0)
    try:
        return (await fetcher.resolve(image_message(url), max_bytes=10**6)).media[0]
    finally:
        await fetcher.aclose()


async def load_media(guard: UrlGuard, url: str) -> bytes:
    loader = MediaLoader(guard, timeout_s=5.0)
    try:
        return (await loader.load(url, max_bytes=10**6)).data
    finally:
        await loader.aclose()


# ------------------------------------------------------------------ DNS rebinding

# "127.1" is a host name, not an address, to the guard (so it asks the resolver), while the
# system's own lookup turns it into 127.0.0.1 without any DNS: a connection that resolves the
# host again, as httpx2 does by itself, lands on the internal site.
REBOUND_HOST = "127.1"


async def test_a_rebinding_host_never_reaches_the_internal_address_inbound(
    tmp_path: Path,
) -> None:
    async with twins() as (public, internal, port):
        ref = await fetch_image(
            StandInGuard(resolver=Rebinding()), f"http://{REBOUND_HOST}:{port}/cat.png", tmp_path
        )
    assert internal.paths == []
    assert public.paths == ["/cat.png"]
    assert ref.path is not None
    assert ref.size == len(PNG)
    assert ref.mime_type == "image/png"


async def test_a_rebinding_host_never_reaches_the_internal_address_outbound() -> None:
    async with twins() as (public, internal, port):
        data = await load_media(
            StandInGuard(resolver=Rebinding()), f"http://{REBOUND_HOST}:{port}/cat.png"
        )
    assert internal.paths == []
    assert (public.paths, data) == (["/cat.png"], PNG)


async def test_the_next_vetted_address_is_tried_when_one_refuses() -> None:
    async with twins() as (public, internal, port):  # nothing listens on 127.0.0.3
        data = await load_media(
            StandInGuard(resolver=Rebinding(["127.0.0.3", PUBLIC])),
            f"http://media.test:{port}/a.png",
        )
    assert (public.paths, internal.paths, data) == (["/a.png"], [], PNG)


async def test_a_connection_nobody_pinned_is_refused() -> None:
    async with twins() as (public, internal, port):
        transport = PinnedTransport(ssl_context=ssl.create_default_context())
        async with httpx2.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx2.ConnectError, match="no vetted address"):
                await client.get(f"http://{INTERNAL}:{port}/")
            # A pin is for one origin only.
            with pinned(httpx2.URL(f"http://{PUBLIC}:{port}/"), (PUBLIC,)):
                with pytest.raises(httpx2.ConnectError, match="no vetted address"):
                    await client.get(f"http://{INTERNAL}:{port}/")
                assert (await client.get(f"http://{PUBLIC}:{port}/ok")).content == PNG
    assert (public.paths, internal.paths) == (["/ok"], [])


# ------------------------------------------------------------------ redirects


@pytest.mark.parametrize("target", ["http://{INTERNAL}:{port}/secret", "http://intranet.test/x"])
async def test_redirects_to_private_hosts_are_refused(target: str, tmp_path: Path) -> None:
    async def resolver(host: str) -> list[str]:
        return {"media.test": [PUBLIC], "intranet.test": ["10.0.0.7"]}[host]

    location = b""

    def redirect(request: HttpRequest) -> None:
        request.respond(302, b"", None, [(b"location", location)])

    guard = StandInGuard(resolver=resolver)
    async with twins(public=redirect) as (public, internal, port):
        location = target.format(INTERNAL=INTERNAL, port=port).encode()
        url = f"http://media.test:{port}/a.png"
        ref = await fetch_image(guard, url, tmp_path)
        with pytest.raises(MediaLoadError, match="private or loopback"):
            await load_media(guard, url)
    assert (ref.path, ref.placeholder) == (None, IMAGE_UNAVAILABLE)
    assert public.paths == ["/a.png", "/a.png"]
    assert internal.paths == []


async def test_each_redirect_hop_is_vetted_and_pinned_again() -> None:
    """The second hop's lookup is the rebinding one: refused, never connected."""

    def redirect(request: HttpRequest) -> None:
        request.respond(302, b"", None, [(b"location", b"/again.png")])

    async with twins(public=redirect) as (public, internal, port):
        with pytest.raises(MediaLoadError, match="private or loopback"):
            await load_media(StandInGuard(resolver=Rebinding()), f"http://media.test:{port}/a")
    assert (public.paths, internal.paths) == (["/a"], [])


async def test_a_stalled_download_gives_up_after_the_idle_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def stall(request: HttpRequest) -> None:
        assert request.transport is not None
        request.transport.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n" + PNG[:10])
        await request.wait_gone()

    sock = _bound(INTERNAL, 0)
    url = f"http://{INTERNAL}:{sock.getsockname()[1]}/stall.png"
    server = HttpServer(stall, name="stall", log=log)
    await server.start(sock)
    fetcher = MediaFetcher(
        tmp_path, guard=UrlGuard(allow_loopback=True), header_timeout=2.0, idle_timeout=0.2
    )
    try:
        ref = (await fetcher.resolve(image_message(url), max_bytes=10**6)).media[0]
    finally:
        await fetcher.aclose()
        await server.stop()
    assert (ref.path, ref.placeholder) == (None, IMAGE_UNAVAILABLE)
    assert "unavailable: no data for 0.2 s" in caplog.text


# ------------------------------------------------------------------ TLS with a pinned address


def _tls_contexts(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """test_transport.py's self-signed pair: a certificate for localhost and 127.0.0.1."""
    path = Path(__file__).with_name("test_transport.py")
    spec = importlib.util.spec_from_file_location("_transport_tests", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    contexts: tuple[ssl.SSLContext, ssl.SSLContext] = module._self_signed(tmp_path)
    return contexts


class RecordingBackend(httpcore2.AnyIOBackend):
    def __init__(self) -> None:
        self.hosts: list[str] = []

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        self.hosts.append(host)
        return await super().connect_tcp(host, port, timeout, local_address, socket_options)


async def test_tls_checks_the_host_name_while_connecting_to_the_pinned_address(
    tmp_path: Path,
) -> None:
    server_context, client_context = _tls_contexts(tmp_path)
    paths: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            paths.append(head.split(b" ", 2)[1].decode())
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(PNG) + PNG)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def resolver(host: str) -> list[str]:
        return [INTERNAL]

    server = await asyncio.start_server(handle, INTERNAL, 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    backend = RecordingBackend()
    downloader = Downloader(
        UrlGuard(allow_loopback=True, resolver=resolver),
        timeout=httpx2.Timeout(5.0),
        ssl_context=client_context,
        network_backend=backend,
    )
    try:
        download = await downloader.fetch(f"https://localhost:{port}/ok.png", max_bytes=10**6)
        assert download.data == PNG
        # The certificate also names 127.0.0.1, the address connected to: were it checked
        # against the address instead of the host name, this would pass.
        with pytest.raises(DownloadError) as excinfo:
            await downloader.fetch(f"https://media.test:{port}/no.png", max_bytes=10**6)
        assert (excinfo.value.reason, str(excinfo.value)) == ("transport", "ConnectError")
    finally:
        await downloader.aclose()
        server.close()
        await server.wait_closed()
    assert backend.hosts == [INTERNAL, INTERNAL]
    assert paths == ["/ok.png"]


# ------------------------------------------------------------------ the rest of the helper


async def test_with_a_proxy_the_guard_checks_and_the_proxy_connects() -> None:
    async def resolver(host: str) -> list[str]:
        return {"media.test": [PUBLIC]}.get(host, [INTERNAL])

    async with twins() as (public, proxy, port):
        downloader = Downloader(StandInGuard(resolver=resolver), timeout=httpx2.Timeout(5.0))
        via = f"http://{INTERNAL}:{port}"
        try:
            download = await downloader.fetch("http://media.test/a.png", max_bytes=100, proxy=via)
            with pytest.raises(UnsafeUrlError):
                await downloader.fetch("http://intranet.test/a.png", max_bytes=100, proxy=via)
        finally:
            await downloader.aclose()
    assert download.data == PNG
    assert public.paths == []
    assert (proxy.paths, proxy.hosts) == (["/a.png"], [b"media.test"])


async def test_allow_private_connects_by_name() -> None:
    async with twins() as (public, internal, port):
        data = await load_media(UrlGuard(allow_private=True), f"http://localhost:{port}/a")
    assert (public.paths, internal.paths, data) == ([], ["/a"], PNG)


@pytest.mark.parametrize(
    ("status", "headers", "body", "reason", "loader_message"),
    [
        (404, [], b"", "status", "media download failed: HTTP 404"),
        (302, [(b"location", b"")], b"", "no-location", "HTTP 302 without Location"),
        (302, [(b"location", b"/loop")], b"", "redirects", "media download: too many redirects"),
        (200, [], b"x" * 101, "too-large", "media is larger than 100 bytes"),
    ],
)
async def test_failures_keep_each_callers_message(
    status: int, headers: list[tuple[bytes, bytes]], body: bytes, reason: str, loader_message: str
) -> None:
    def answer(request: HttpRequest) -> None:
        request.respond(status, body, None, headers)

    guard = UrlGuard(allow_loopback=True)
    async with twins(internal=answer) as (_, internal, port):
        url = f"http://{INTERNAL}:{port}/loop"
        downloader = Downloader(guard, timeout=httpx2.Timeout(5.0))
        try:
            with pytest.raises(DownloadError) as excinfo:
                await downloader.fetch(url, max_bytes=100)
        finally:
            await downloader.aclose()
        loader = MediaLoader(guard, timeout_s=5.0)
        try:
            with pytest.raises(MediaLoadError) as loaded:
                await loader.load(url, max_bytes=100)
        finally:
            await loader.aclose()
    assert excinfo.value.reason == reason
    assert str(loaded.value) == loader_message
    assert len(internal.paths) == (8 if reason == "redirects" else 2)


async def test_vet_returns_the_addresses_it_checked() -> None:
    async def resolver(host: str) -> list[str]:
        return ["93.184.215.14", "93.184.215.14", "2606:2800::1"]

    guard = UrlGuard(resolver=resolver)
    vetted = await guard.vet("HTTPS://Media.Example/a.png?sig=1")
    assert (vetted.host, vetted.port) == ("media.example", 443)
    assert vetted.addresses == ("93.184.215.14", "2606:2800::1")
    assert (await UrlGuard().vet("http://[2606:2800::1]:8080/")).addresses == ("2606:2800::1",)
    assert (await UrlGuard(allow_private=True).vet("http://anything/")).addresses == ()
    assert await guard.check("https://media.example/b") == "https://media.example/b"
    with pytest.raises(UnsafeUrlError, match="absolute"):
        await guard.vet("http://media.example:99999/")
