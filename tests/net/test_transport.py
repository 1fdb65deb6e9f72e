"""``zalogate.net.transport.LeanTransport`` against real servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import gzip
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from zalogate.net.transport import LeanTransport

Reply = Callable[[bytes, bytes, asyncio.StreamWriter], Awaitable[bool]]
"""(request head, request body, writer) -> keep the connection open?"""


def response(status: int, body: bytes, *extra: str) -> bytes:
    headers = "".join(f"{line}\r\n" for line in extra)
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{headers}\r\n".encode() + body


class Server:
    """A loopback HTTP/1.1 server whose answers the test writes by hand."""

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []
        self.active = 0
        self.peak_active = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=0.2)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        assert self._server is not None
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)  # type: ignore[arg-type]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                self.requests.append((head, body))
                self.active += 1
                self.peak_active = max(self.peak_active, self.active)
                try:
                    keep = await self.reply(head, body, writer)
                finally:
                    self.active -= 1
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def answer(data: bytes, *, keep: bool = True, delay: float = 0.0) -> Reply:
    async def reply(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if delay:
            await asyncio.sleep(delay)
        writer.write(data)
        return keep

    return reply


async def test_connections_are_kept_alive_and_reused() -> None:
    async with Server(answer(response(200, b'{"ok":true}'))) as server:
        transport = LeanTransport()
        async with httpx2.AsyncClient(transport=transport) as client:
            for index in range(10):
                reply = await client.post(f"{server.url}/bot/send", content=b"n=%d" % index)
                assert reply.status_code == 200
                assert reply.json() == {"ok": True}
            assert transport.open_connections == 1
    assert server.connections == 1
    assert [body for _, body in server.requests] == [b"n=%d" % i for i in range(10)]
    head = server.requests[0][0].decode()
    assert head.startswith("POST /bot/send HTTP/1.1\r\n")
    assert "Content-Length: 3" in head or "content-length: 3" in head


async def test_chunked_gzip_and_repeated_headers_reach_the_response() -> None:
    payload = gzip.compress(b"xin chao " * 100)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (payload[:7], payload[7:]))
    raw = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
        b"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\n" + chunks + b"0\r\n\r\n"
    )
    async with (
        Server(answer(raw)) as server,
        httpx2.AsyncClient(transport=LeanTransport()) as client,
    ):
        reply = await client.get(f"{server.url}/x?q=1")
        again = await client.get(f"{server.url}/x?q=2")
    assert reply.text == "xin chao " * 100
    assert again.text == reply.text
    assert reply.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert reply.reason_phrase == "OK"
    assert server.connections == 1
    assert server.requests[1][0].startswith(b"GET /x?q=2 HTTP/1.1")


async def test_a_close_delimited_body_ends_with_the_connection() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end"
    async with Server(answer(raw, keep=False)) as server:
        transport = LeanTransport()
        async with httpx2.AsyncClient(transport=transport) as client:
            first = await client.get(server.url)
            second = await client.get(server.url)
        assert first.text == second.text == "until the end"
        assert transport.open_connections == 0
    assert server.connections == 2


async def test_an_informational_answer_is_skipped() -> None:
    raw = b"HTTP/1.1 100 Continue\r\n\r\n" + response(201, b"made")
    async with (
        Server(answer(raw)) as server,
        httpx2.AsyncClient(transport=LeanTransport()) as client,
    ):
        reply = await client.post(server.url, content=b"x")
        after = await client.post(server.url, content=b"y")
    assert (reply.status_code, reply.text) == (201, "made")
    assert after.status_code == 201


async def test_connection_close_header_is_honoured() -> None:
    async with Server(answer(response(200, b"ok", "Connection: close"), keep=False)) as server:
        transport = LeanTransport()
        async with httpx2.AsyncClient(transport=transport) as client:
            for _ in range(3):
                assert (await client.get(server.url)).text == "ok"
        assert transport.open_connections == 0
    assert server.connections == 3


async def test_the_pool_never_opens_more_than_its_limit() -> None:
    async with Server(answer(response(200, b"ok"), delay=0.01)) as server:
        transport = LeanTransport(max_connections=3)
        async with httpx2.AsyncClient(transport=transport) as client:
            replies = await asyncio.gather(*(client.get(server.url) for _ in range(30)))
        assert [r.text for r in replies] == ["ok"] * 30
    assert server.connections == 3
    assert server.peak_active == 3


async def test_a_full_pool_gives_pool_timeout_and_recovers() -> None:
    release = asyncio.Event()

    async def slow(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        if b"slow" in head:
            await release.wait()
        writer.write(response(200, b"ok"))
        return True

    async with Server(slow) as server:
        transport = LeanTransport(max_connections=1)
        async with httpx2.AsyncClient(transport=transport) as client:
            held = asyncio.ensure_future(client.get(f"{server.url}/slow", timeout=5))
            while not server.requests:
                await asyncio.sleep(0.001)
            with pytest.raises(httpx2.PoolTimeout):
                await client.get(server.url, timeout=httpx2.Timeout(5, pool=0.05))
            release.set()
            assert (await held).text == "ok"
            assert (await client.get(server.url)).text == "ok"
    assert server.connections == 1


async def test_no_answer_is_a_read_timeout_and_frees_the_connection() -> None:
    async def never(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(30)
        return False

    async with Server(never) as server:
        transport = LeanTransport(max_connections=1)
        async with httpx2.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx2.ReadTimeout) as caught:
                await client.get(server.url, timeout=0.1)
            assert caught.value.request.url.host == "127.0.0.1"
            assert transport.open_connections == 0


async def test_a_slow_but_steady_body_is_not_a_timeout() -> None:
    async def trickle(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
        for part in (b"ab", b"cd", b"ef"):
            await writer.drain()
            await asyncio.sleep(0.06)
            writer.write(part)
        return True

    async with Server(trickle) as server, httpx2.AsyncClient(transport=LeanTransport()) as client:
        reply = await client.get(server.url, timeout=0.1)
    assert reply.text == "abcdef"


async def test_a_server_that_hangs_up_gives_remote_protocol_error() -> None:
    async def hang_up(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        return False

    async with Server(hang_up) as server:
        transport = LeanTransport()
        async with httpx2.AsyncClient(transport=transport) as client:
            with pytest.raises(httpx2.RemoteProtocolError):
                await client.post(server.url, content=b"x")
        assert transport.open_connections == 0
    assert len(server.requests) == 1  # sent once, never retried


async def test_a_malformed_answer_gives_remote_protocol_error() -> None:
    async with (
        Server(answer(b"SMTP ready\r\n\r\n")) as server,
        httpx2.AsyncClient(transport=LeanTransport()) as client,
    ):
        with pytest.raises(httpx2.RemoteProtocolError):
            await client.get(server.url)


async def test_a_refused_connection_gives_connect_error() -> None:
    async with Server(answer(b"")) as server:
        url = server.url
    async with httpx2.AsyncClient(transport=LeanTransport()) as client:
        with pytest.raises(httpx2.ConnectError):
            await client.get(url)


async def test_an_oversized_body_gives_read_error() -> None:
    async with (
        Server(answer(response(200, b"x" * 5000))) as server,
        httpx2.AsyncClient(transport=LeanTransport(max_response_bytes=4096)) as client,
    ):
        with pytest.raises(httpx2.ReadError):
            await client.get(server.url)


async def test_idle_connections_expire_and_server_closes_are_survived() -> None:
    async with Server(answer(response(200, b"ok"))) as server:
        transport = LeanTransport(keepalive_expiry=0.05)
        async with httpx2.AsyncClient(transport=transport) as client:
            await client.get(server.url)
            await asyncio.sleep(0.1)
            await client.get(server.url)  # the expired connection is not reused
            assert server.connections == 2
    async with Server(answer(response(200, b"ok"), keep=False)) as server:
        # The server closes after each answer without saying so: the next request must not
        # land on the dead connection.
        transport = LeanTransport()
        async with httpx2.AsyncClient(transport=transport) as client:
            for _ in range(3):
                await client.get(server.url)
                await asyncio.sleep(0.02)
        assert server.connections == 3


async def test_a_cancelled_request_frees_its_place() -> None:
    async with Server(answer(response(200, b"ok"), delay=1)) as server:
        transport = LeanTransport(max_connections=1)
        async with httpx2.AsyncClient(transport=transport) as client:
            task = asyncio.ensure_future(client.get(server.url))
            while not server.requests:
                await asyncio.sleep(0.001)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert transport.open_connections == 0
            fast = Server(answer(response(200, b"fast")))
            async with fast:
                assert (await client.get(fast.url, timeout=2)).text == "fast"


async def test_a_streamed_request_body_goes_out_with_a_length() -> None:
    async def parts() -> AsyncIterator[bytes]:
        yield b"hello "
        yield b"world"

    async with (
        Server(answer(response(200, b"ok"))) as server,
        httpx2.AsyncClient(transport=LeanTransport()) as client,
    ):
        await client.post(server.url, content=parts())
    head, body = server.requests[0]
    assert body == b"hello world"
    assert b"transfer-encoding" not in head.lower()
    assert b"content-length: 11" in head.lower()


async def test_requests_after_close_are_refused() -> None:
    transport = LeanTransport()
    await transport.aclose()
    with pytest.raises(RuntimeError):
        await transport.handle_async_request(httpx2.Request("GET", "http://127.0.0.1:1/"))
    with pytest.raises(httpx2.UnsupportedProtocol):
        await LeanTransport().handle_async_request(httpx2.Request("GET", "ftp://127.0.0.1/"))


def _self_signed(tmp_path: Path) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = tmp_path / "cert.pem"
    key_path = tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert_path, key_path)
    client_context = ssl.create_default_context(cafile=str(cert_path))
    return server_context, client_context


async def test_https_verifies_the_server_certificate(tmp_path: Path) -> None:
    server_context, client_context = _self_signed(tmp_path)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(response(200, b"secure"))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        trusting = LeanTransport(ssl_context=client_context)
        async with httpx2.AsyncClient(transport=trusting) as client:
            assert (await client.get(f"https://localhost:{port}/")).text == "secure"
        # The system CAs do not know the test certificate: the handshake must fail.
        async with httpx2.AsyncClient(transport=LeanTransport()) as client:
            with pytest.raises(httpx2.ConnectError):
                await client.get(f"https://localhost:{port}/")
    finally:
        server.close()
        await server.wait_closed()


async def test_the_raw_request_path_sends_headers_and_decodes_the_body() -> None:
    import zlib

    bodies = {
        b"/gzip": (gzip.compress(b"gzipped"), "Content-Encoding: gzip"),
        b"/deflate": (zlib.compress(b"deflated"), "Content-Encoding: deflate"),
        b"/raw-deflate": (zlib.compress(b"raw")[2:-4], "Content-Encoding: deflate"),
        b"/br": (b"??", "Content-Encoding: br"),
        b"/moved": (b"", "Location: /gzip"),
    }

    async def reply(head: bytes, body: bytes, writer: asyncio.StreamWriter) -> bool:
        path = head.split(b" ")[1].split(b"?")[0]
        data, header = bodies[path]
        status = 302 if path == b"/moved" else 200
        writer.write(response(status, data, header, "Set-Cookie: a=1", "set-cookie: b=2"))
        return True

    async with Server(reply) as server:
        transport = LeanTransport()
        try:
            got = await transport.request(
                "POST", f"{server.url}/gzip?x=%2B1", [("X-Test", "yes")], b"params=1", timeout=5
            )
            assert (got.status_code, got.content, got.is_success) == (200, b"gzipped", True)
            assert got.headers.get_list("SET-COOKIE") == ["a=1", "b=2"]
            assert got.headers.get("x-missing") is None
            assert not got.is_redirect
            head, body = server.requests[0]
            assert head.startswith(b"POST /gzip?x=%2B1 HTTP/1.1\r\nHost: 127.0.0.1:")
            assert b"X-Test: yes\r\n" in head
            assert b"Content-Length: 8\r\n" in head
            assert body == b"params=1"
            deflated = await transport.request("GET", f"{server.url}/deflate", [])
            raw = await transport.request("GET", f"{server.url}/raw-deflate", [])
            assert (deflated.content, raw.content) == (b"deflated", b"raw")
            moved = await transport.request("GET", f"{server.url}/moved", [])
            assert moved.is_redirect
            assert moved.headers.get("location") == "/gzip"
            with pytest.raises(httpx2.RemoteProtocolError):
                await transport.request("GET", f"{server.url}/br", [])
            assert server.connections == 1
        finally:
            await transport.aclose()
