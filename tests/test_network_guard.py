"""The network guard of ``tests/conftest.py``: loopback passes, anything else fails the test.

192.0.2.1 is TEST-NET-1 (RFC 5737), never routed: the guard refuses it before any packet.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

TEST_NET = "192.0.2.1"


def test_a_blocking_connection_to_a_public_address_is_refused(
    refused_connections: list[str],
) -> None:
    with pytest.raises(RuntimeError, match="tests may only reach loopback"):
        socket.create_connection((TEST_NET, 80), timeout=0.1)
    with socket.socket() as sock, pytest.raises(RuntimeError, match="only reach loopback"):
        sock.connect((TEST_NET, 443))
    assert refused_connections == [f"{TEST_NET}:80", f"{TEST_NET}:443"]
    refused_connections.clear()  # refused on purpose: this test must not fail for them


async def test_asyncio_connections_and_lookups_are_refused(
    refused_connections: list[str],
) -> None:
    with pytest.raises(RuntimeError, match="only reach loopback"):
        await asyncio.open_connection(TEST_NET, 80)
    with pytest.raises(RuntimeError, match="only reach loopback"):
        await asyncio.get_running_loop().getaddrinfo("example.com", 443)
    with pytest.raises(RuntimeError, match="only reach loopback"):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(RuntimeError, match="only reach loopback"):
        socket.gethostbyname("example.com")
    assert refused_connections == [f"{TEST_NET}:80", *["example.com"] * 3]
    refused_connections.clear()


async def test_loopback_and_unix_sockets_pass(tmp_path: Path) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        for host in ("127.0.0.1", "localhost"):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(b"ping\n")
            assert await reader.readline() == b"ping\n"
            writer.close()
            await writer.wait_closed()
    path = str(tmp_path / "s.sock")
    unix = await asyncio.start_unix_server(answer, path)
    async with unix:
        reader, writer = await asyncio.open_unix_connection(path)
        writer.write(b"pong\n")
        assert await reader.readline() == b"pong\n"
        writer.close()
        await writer.wait_closed()


def test_a_test_that_swallows_the_refusal_still_fails(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(Path(__file__).with_name("conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(
        f"""
        import contextlib
        import socket

        def test_probe_that_hides_errors():
            with contextlib.suppress(Exception):
                socket.create_connection(("{TEST_NET}", 80), timeout=0.1)

        def test_loopback_only():
            with socket.socket() as server:
                server.bind(("127.0.0.1", 0))
                server.listen()
                socket.create_connection(server.getsockname(), timeout=1).close()
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"*network guard refused {TEST_NET}:80 during the test*"])
