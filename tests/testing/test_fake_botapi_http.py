"""FakeZaloBotApi's own HTTP/1.1 server: raw requests over a socket, as any client sends them."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from zalogate.testing import FakeZaloBotApi


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloBotApi]:
    async with FakeZaloBotApi() as server:
        yield server


async def exchange(fake: FakeZaloBotApi, raw: bytes) -> bytes:
    """Send ``raw`` on a fresh connection and read until the server closes it."""
    port = int(fake.base_url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def post(path: str, body: dict[str, object], *, close: bool = False) -> bytes:
    content = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += f"Content-Length: {len(content)}\r\n"
    if close:
        head += "Connection: close\r\n"
    return head.encode() + b"\r\n" + content


def bodies(data: bytes) -> list[tuple[int, bytes]]:
    """Split keep-alive responses with Content-Length into (status, body) pairs."""
    answers = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        length = next(
            int(line.split(b":")[1]) for line in lines if line.lower().startswith(b"content-length")
        )
        answers.append((int(lines[0].split()[1]), rest[:length]))
        data = rest[length:]
    return answers


async def test_pipelined_requests_are_answered_in_order(fake: FakeZaloBotApi) -> None:
    path = f"/bot{fake.token}/sendMessage"
    raw = b"".join(post(path, {"chat_id": "u1", "text": f"n{i}"}, close=i == 2) for i in range(3))
    answers = bodies(await exchange(fake, raw))
    assert [status for status, _ in answers] == [200, 200, 200]
    assert all(json.loads(body)["ok"] for _, body in answers)
    assert [record.text for record in fake.sent] == ["n0", "n1", "n2"]


async def test_other_methods_and_paths_answer_as_starlette_does(fake: FakeZaloBotApi) -> None:
    put = f"PUT /bot{fake.token}/getMe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = await exchange(fake, put.encode())
    assert data.startswith(b"HTTP/1.1 405 ")
    missing = b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = await exchange(fake, missing)
    assert data.startswith(b"HTTP/1.1 404 ")
    assert data.endswith(b"Not Found")


async def test_get_on_a_method_is_404_in_the_envelope(fake: FakeZaloBotApi) -> None:
    raw = f"GET /bot{fake.token}/getMe HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    [(status, body)] = bodies(await exchange(fake, raw.encode()))
    assert status == 200
    assert json.loads(body) == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_head_on_media_sends_the_length_without_the_body(fake: FakeZaloBotApi) -> None:
    fake.add_media("a.txt", b"hello", "text/plain")
    raw = b"HEAD /media/a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = await exchange(fake, raw)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert b"content-length: 5" in head
    assert b"content-type: text/plain; charset=utf-8" in head
    assert rest == b""
    assert fake.media_requests == ["a.txt"]


async def test_garbage_gets_400_and_a_closed_connection(fake: FakeZaloBotApi) -> None:
    data = await exchange(fake, b"NOT HTTP AT ALL\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 400 ")


async def test_a_route_added_to_the_app_streams_chunked(fake: FakeZaloBotApi) -> None:
    from starlette.responses import StreamingResponse

    async def parts() -> AsyncIterator[bytes]:
        yield b"one,"
        yield b"two"

    async def stream(request: object) -> StreamingResponse:
        return StreamingResponse(parts(), media_type="text/plain")

    fake._app.add_route("/stream", stream)
    raw = b"GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    data = await exchange(fake, raw)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head
    assert rest == b"4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n"


async def test_unfiltered_wait_for_sent_wakes_at_the_count(fake: FakeZaloBotApi) -> None:
    waiter = asyncio.ensure_future(fake.wait_for_sent(3, timeout=5))
    await asyncio.sleep(0)
    path = f"/bot{fake.token}/sendMessage"
    raw = b"".join(post(path, {"chat_id": "u1", "text": f"n{i}"}, close=i == 2) for i in range(3))
    await exchange(fake, raw)
    sent = await waiter
    assert [record.text for record in sent] == ["n0", "n1", "n2"]
    with pytest.raises(TimeoutError, match="saw 3"):
        await fake.wait_for_sent(4, timeout=0.05)


async def test_the_hand_out_time_of_the_last_update_is_kept(fake: FakeZaloBotApi) -> None:
    assert fake.bot.last_handed_out_at == 0.0
    fake.user("u1").says("hi")
    raw = post(f"/bot{fake.token}/getUpdates", {"timeout": "1"}, close=True)
    [(status, body)] = bodies(await exchange(fake, raw))
    assert status == 200
    assert json.loads(body)["result"]["message"]["text"] == "hi"
    assert fake.bot.last_handed_out_at > 0
    assert fake.bot.pending == 0
