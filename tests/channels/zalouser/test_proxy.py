"""``proxy`` per account: the login, the API calls and the websocket listener all go through
the account's proxy (Zalo binds a session to its IP), other accounts connect directly."""

from __future__ import annotations

import asyncio
import contextlib
import urllib.parse
from collections.abc import AsyncIterator

import pytest

from zalogate.config.errors import ConfigError
from zalogate.core.model import ReplyPayload

from .conftest import RecordingAgent, World


class HttpProxy:
    """A forward proxy on 127.0.0.1: absolute-form requests (one per connection) and
    ``CONNECT`` tunnels; records ``(method, target)`` of each."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, *headers = head.decode("latin-1").split("\r\n")
        method, target, version = line.split(" ")
        self.seen.append((method, target))
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:
            url = urllib.parse.urlsplit(target)
            up_reader, up_writer = await asyncio.open_connection(url.hostname, url.port)
            kept = [
                h
                for h in headers
                if h and not h.lower().startswith(("connection:", "proxy-connection:"))
            ]
            path = url.path + (f"?{url.query}" if url.query else "")
            rewritten = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close"])
            up_writer.write((rewritten + "\r\n\r\n").encode("latin-1"))
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def __aenter__(self) -> HttpProxy:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


@pytest.fixture
async def proxy() -> AsyncIterator[HttpProxy]:
    async with HttpProxy() as p:
        yield p


async def test_account_proxy_carries_login_api_calls_and_the_websocket(
    world: World, proxy: HttpProxy
) -> None:
    world.save_session()
    world.save_session(world.BOT2, profile="second")
    agent = RecordingAgent()
    config = world.config(
        accounts={
            "default": {"proxy": proxy.url},
            "second": {"profile": "second", "enabled": False},
        }
    )
    async with world.gateway(config, agent=agent) as (_, channel):
        await world.fake.wait_for_listener(world.BOT)
        await world.fake.user(world.ALICE).says_to(world.BOT, "hello through the proxy")
        await world.sent(kind="text", thread_id=world.ALICE)
        await channel.send(channel.accounts()[0], world.ALICE, ReplyPayload(text="direct"))
        second = channel.accounts()[1]
        assert await channel.probe(second)  # the other account connects directly
        assert channel.account_snapshot(channel.accounts()[0])["proxy"] is True
    methods = {method for method, _ in proxy.seen}
    assert "CONNECT" in methods  # the websocket
    paths = [urllib.parse.urlsplit(target).path for method, target in proxy.seen]
    assert any(p.endswith("/login/getLoginInfo") for p in paths)
    assert any(p.endswith("/message/sms") for p in paths)
    probed = [t for _, t in proxy.seen if "getLoginInfo" in t]
    assert len(probed) == 1  # the second account's probe login did not use the proxy


def test_proxy_must_be_a_proxy_url(world: World) -> None:
    with pytest.raises(ConfigError, match=r"zalouser\.proxy: must be an absolute http"):
        world.config(proxy="ftp://nowhere")
