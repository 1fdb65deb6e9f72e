"""Connection abuse cannot take the gateway down: idle and unfinished connections are closed,
connections are capped per client and in all, and an unserved path answers 503 (not 404)
while the gateway starts."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx2
import pytest

from zalogate.runtime.http import HttpServer
from zalogate.runtime.http_guard import ConnectionGuard

CHAOS = Path(__file__).resolve().parents[2] / "bench" / "chaos.py"


async def closed_by_server(reader: asyncio.StreamReader, within: float) -> bool:
    try:
        data = await asyncio.wait_for(reader.read(100), within)
    except TimeoutError:
        return False
    except ConnectionError:
        return True
    return data == b""


async def test_a_silent_or_half_sent_connection_is_closed() -> None:
    async with HttpServer("127.0.0.1", 0, guard=ConnectionGuard(head_timeout=0.3)) as server:
        silent = await asyncio.open_connection("127.0.0.1", server.port)
        half = await asyncio.open_connection("127.0.0.1", server.port)
        half[1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        assert await closed_by_server(silent[0], 5)
        assert await closed_by_server(half[0], 5)
        for _reader, writer in (silent, half):
            writer.close()


async def test_over_the_per_client_cap_the_oldest_idle_connection_makes_room() -> None:
    guard = ConnectionGuard(max_per_client=3, head_timeout=30)
    async with HttpServer("127.0.0.1", 0, guard=guard) as server:
        idle = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(3)]
        await asyncio.sleep(0.1)
        async with httpx2.AsyncClient(trust_env=False) as client:
            answer = await client.get(f"{server.url}/healthz")
        assert answer.status_code == 200
        assert guard.evicted >= 1
        assert await closed_by_server(idle[0][0], 5)
        for _reader, writer in idle:
            writer.close()


async def test_an_unserved_path_answers_503_while_starting_then_404() -> None:
    starting = True
    async with HttpServer("127.0.0.1", 0) as server:
        server.set_warming(lambda: starting)
        async with httpx2.AsyncClient(trust_env=False) as client:
            early = await client.post(f"{server.url}/zalo-webhook", content=b"{}")
            health = await client.get(f"{server.url}/healthz")
            starting = False
            late = await client.post(f"{server.url}/zalo-webhook", content=b"{}")
    assert early.status_code == 503
    assert early.headers["retry-after"] == "1"
    assert health.status_code == 200
    assert late.status_code == 404


@pytest.mark.slow
def test_1100_idle_sockets_under_an_open_file_limit_of_1024() -> None:
    """``bench/chaos.py sockets``: /healthz and the webhook answer within 5 s, every idle
    socket is closed by the server within 15 s."""
    done = subprocess.run(
        [sys.executable, str(CHAOS), "sockets", "--answer-timeout", "5", "--close-timeout", "15"],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    sys.stdout.write(f"{result}\n")
    assert result["healthz_s"] is not None, "no /healthz answer within 5 s"
    assert result["webhook_reply_s"] is not None, "no webhook reply within 5 s"
    assert result["idle_closed_within_s"] is not None, "idle sockets outlived 15 s"


async def test_the_gateway_takes_its_limits_from_gateway_http(tmp_path: Path) -> None:
    """``gateway.http``: a silent connection is closed after ``headerTimeoutSeconds``."""
    from zalogate.config import parse_config
    from zalogate.runtime.gateway import Gateway

    limits = {"maxConnections": 50, "maxConnectionsPerClient": 5, "headerTimeoutSeconds": 0.3}
    config = parse_config({"gateway": {"port": 0, "http": limits}}, env={})
    gateway = Gateway(config, state_dir=tmp_path, configure_logs=False)
    guard = gateway.http.guard
    assert (guard.max_connections, guard.max_per_client, guard.idle_timeout) == (50, 5, 5)
    async with gateway.http as server:
        silent = await asyncio.open_connection("127.0.0.1", server.port)
        assert await closed_by_server(silent[0], 5)
        silent[1].close()
