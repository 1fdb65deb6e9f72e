"""Measure zalogate.testing.http_server.HttpServer against uvicorn (+ Starlette) for the fakes.

Run: .venv/bin/python bench/decisions/http_server_vs_uvicorn.py
Three figures per server: start-up (bind to first answer), requests/s over loopback with
4 keep-alive connections (a trivial route, and the personal fake's real hot call: an
encrypted ``/api/message/sms`` send), and memory per running server (RSS growth over 20).
Client and servers share one asyncio loop (as in the tests); the client is raw sockets so
that its cost is small and the same for every server.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zalogate.testing.fake_personal import FakeZaloPersonal, wire
from zalogate.testing.http_server import HttpRequest, HttpServer

LOG = logging.getLogger("bench")
BODY = b'{"ok":true}'


def bound() -> socket.socket:
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY on accepted sockets only when the listening
    # socket says TCP (base_events._set_nodelay checks sock.proto); with socket.socket()
    # (proto 0) uvicorn's separate head and body writes stall ~40 ms on delayed ACKs.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


async def hello_direct(request: HttpRequest) -> None:
    request.respond(200, BODY, b"application/json")


async def hello_route(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


HELLO_APP = Starlette(routes=[Route("/hello", hello_route, methods=["GET", "POST"])])


class Running:
    """One started server: its port and how to stop it."""

    def __init__(self, port: int, stop: Callable[[], Awaitable[None]]) -> None:
        self.port = port
        self.stop = stop


async def start_direct(handler: Callable[[HttpRequest], Awaitable[None]]) -> Running:
    sock = bound()
    server = HttpServer(handler, name="bench", log=LOG)
    await server.start(sock)
    return Running(sock.getsockname()[1], server.stop)


async def start_uvicorn(app: Any) -> Running:
    sock = bound()
    config = uvicorn.Config(app, lifespan="off", log_level="error", access_log=False)
    server = uvicorn.Server(config)
    # As zalogate.runtime.http and fake_llm run it: serve() as a task until ``started``.
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.0005)

    async def stop() -> None:
        server.should_exit = True
        await task

    return Running(sock.getsockname()[1], stop)


async def one_request(port: int, raw: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def startup(starter: Callable[[], Awaitable[Running]], raw: bytes, n: int = 40) -> float:
    """Median ms from nothing to the first answer."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        running = await starter()
        await one_request(running.port, raw)
        times.append(time.perf_counter() - t0)
        await running.stop()
    return statistics.median(times) * 1000


async def load(port: int, raw: bytes, seconds: float = 2.0, conns: int = 4) -> float:
    """Requests/s with ``conns`` keep-alive connections, one request in flight each."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            done += 1
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(conns)))
    return done / (time.perf_counter() - t0)


def rss_kb() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def memory(starter: Callable[[], Awaitable[Running]], raw: bytes, n: int = 20) -> float:
    """KB of RSS per running server that answered 50 requests."""
    servers = [await starter() for _ in range(2)]  # warm imports and caches
    before = rss_kb()
    for _ in range(n):
        running = await starter()
        for _ in range(50):
            await one_request(running.port, raw)
        servers.append(running)
    per = (rss_kb() - before) / n
    for running in servers:
        await running.stop()
    return per


async def sms_request(fake: FakeZaloPersonal) -> bytes:
    """A logged-in session's encrypted text send, as raw HTTP."""
    import uuid

    import httpx2

    ua = "bench-agent"
    creds = fake.credentials("1001", user_agent=ua, domain="127.0.0.1")
    cookie = "; ".join(f"{c['key']}={c['value']}" for c in creds["cookie"])
    imei = creds["imei"]
    zcid = wire.cbc_encrypt(wire.ZCID_KEY.encode(), f"30,{imei},1".encode()).hex().upper()
    key = wire.derive_login_key(zcid, "beef01")
    plain = {"computer_name": "Web", "imei": imei, "language": "vi", "ts": 1}
    import base64

    params = base64.b64encode(wire.cbc_encrypt(key.encode(), wire.dumps(plain).encode())).decode()
    query: dict[str, Any] = {
        "zcid": zcid,
        "zcid_ext": "beef01",
        "enc_ver": "v2",
        "params": params,
        "type": 30,
        "client_version": 685,
    }
    query["signkey"] = wire.sign_key("getlogininfo", query)
    async with httpx2.AsyncClient(
        base_url=fake.base_url, headers={"User-Agent": ua, "Cookie": cookie}
    ) as http:
        body = (await http.get("/api/login/getLoginInfo", params=query)).json()
    session_key = wire.open_login_params(key, body["data"])["data"]["zpw_enk"]
    sms = {"message": "hi", "clientId": 1, "imei": imei, "ttl": 0, "toid": "2001"}
    form = "params=" + wire.quote_data(wire.seal_session_payload(session_key, sms))
    del uuid
    return (
        f"POST /api/message/sms?zpw_ver=685&zpw_type=30 HTTP/1.1\r\nHost: x\r\n"
        f"User-Agent: {ua}\r\nCookie: {cookie}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(form)}\r\n\r\n{form}"
    ).encode()


async def main() -> None:
    hello = b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
    rows: list[tuple[str, str]] = []

    direct = await startup(lambda: start_direct(hello_direct), hello)
    uvi = await startup(lambda: start_uvicorn(HELLO_APP), hello)
    rows.append(("start-up, ms (median of 40)", f"{direct:.2f} vs {uvi:.2f}"))

    for label, starter in (
        ("HttpServer direct", lambda: start_direct(hello_direct)),
        ("uvicorn+Starlette", lambda: start_uvicorn(HELLO_APP)),
    ):
        running = await starter()
        await load(running.port, hello, 0.5)  # warm-up
        rps = [await load(running.port, hello) for _ in range(3)]
        rows.append((f"trivial route req/s, {label}", f"{statistics.median(rps):.0f}"))
        await running.stop()

    async with FakeZaloPersonal() as fake:
        fake.add_account("1001", "Bot", friends=("2001",))
        fake.add_account("2001", "Alice")
        raw = await sms_request(fake)
        fake.on_sent(lambda record: fake.sent.clear())  # keep memory flat during the load
        await load(fake.http_port, raw, 0.5)
        rps = [await load(fake.http_port, raw) for _ in range(3)]
        rows.append(("personal fake sms req/s, HttpServer", f"{statistics.median(rps):.0f}"))
        running = await start_uvicorn(fake._starlette)
        await load(running.port, raw, 0.5)
        rps = [await load(running.port, raw) for _ in range(3)]
        rows.append(("personal fake sms req/s, uvicorn", f"{statistics.median(rps):.0f}"))
        await running.stop()

    mem_direct = await memory(lambda: start_direct(hello_direct), hello)
    mem_uvi = await memory(lambda: start_uvicorn(HELLO_APP), hello)
    rows.append(("RSS per server, KB", f"{mem_direct:.0f} vs {mem_uvi:.0f}"))
    rows.append(
        (
            "peak RSS of this run, MB",
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}",
        )
    )
    for name, value in rows:
        print(f"{name:45} {value}")
    print(f"python {sys.version.split()[0]}, uvicorn {uvicorn.__version__}")


if __name__ == "__main__":
    asyncio.run(main())
