"""FakeZaloPersonal's own HTTP server, its ``on_sent`` hook and the fast wire helpers.

The server is spoken to over raw sockets where the framing matters (pipelining, chunked
bodies, ``Expect``, ``HEAD``); the fast paths of ``wire`` are checked against the plain
``cryptography`` / ``urllib`` / ``json`` way of doing the same thing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote

import httpx2
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.padding import PKCS7
from hypothesis import given
from hypothesis import strategies as st

from zalogate.testing import FakeZaloPersonal
from zalogate.testing.fake_personal import SentRecord, wire
from zalogate.testing.fake_personal.server import ERR_SESSION
from zalogate.testing.fake_personal.session import _form_value

from .test_fake_personal import ALICE, BOT, RawClient, close_clients, logged_in
from .test_http_server import talk_to

VERSION = {"zpw_ver": 685, "zpw_type": 30}


def sms(client: RawClient, message: str = "hi") -> dict[str, Any]:
    """A text to Alice with every field zca-js sends."""
    return {"message": message, "clientId": 1, "imei": client.imei, "ttl": 0, "toid": ALICE}


def typing(client: RawClient) -> dict[str, Any]:
    return {"toid": ALICE, "destType": 3, "imei": client.imei}


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloPersonal]:
    async with FakeZaloPersonal(long_poll_s=0.2) as fake:
        fake.add_account(BOT, "Bot", friends=(ALICE,))
        fake.add_account(ALICE, "Alice")
        yield fake
        await close_clients()


async def exchange(fake: FakeZaloPersonal, raw: bytes) -> bytes:
    """Write ``raw`` on a fresh connection and read until the server closes it."""
    return await talk_to(fake.host, fake.http_port, raw)


def answers(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """Split the bytes of answers with a content-length each into (status, headers, body)."""
    out: list[tuple[int, dict[str, str], bytes]] = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if status == 100:
            length = 0
        out.append((status, headers, rest[:length]))
        data = rest[length:]
    return out


# ---------------------------------------------------------------- on_sent and wait_for_sent


async def test_on_sent_reports_each_record_until_removed(fake: FakeZaloPersonal) -> None:
    bot = await logged_in(fake, BOT)
    seen: list[SentRecord] = []
    remove = fake.on_sent(seen.append)
    assert (await bot.call("/api/message/sms", sms(bot)))["error_code"] == 0
    await bot.call("/api/message/typing", typing(bot))
    assert [r.kind for r in seen] == ["text", "typing"]
    assert seen == fake.sent
    remove()
    remove()  # a second removal is harmless
    await bot.call("/api/message/sms", sms(bot))
    assert len(seen) == 2
    assert len(fake.sent) == 3


async def test_wait_for_sent_wakes_on_a_later_record_and_times_out(
    fake: FakeZaloPersonal,
) -> None:
    bot = await logged_in(fake, BOT)
    waiting = asyncio.ensure_future(fake.wait_for_sent(kind="text", count=2, timeout_s=5))
    await bot.call("/api/message/sms", sms(bot))
    await asyncio.sleep(0)
    assert not waiting.done()
    await bot.call("/api/message/sms", sms(bot, "second"))
    assert (await waiting).text == "second"
    with pytest.raises(TimeoutError):
        await fake.wait_for_sent(kind="seen", timeout_s=0.05)


# ---------------------------------------------------------------- the HTTP server


async def test_pipelined_requests_are_answered_in_order_then_closed(
    fake: FakeZaloPersonal,
) -> None:
    raw = (
        b"POST /api/message/sms HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\nparams=x"
        b"GET /account HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    first, second, third = answers(await exchange(fake, raw))
    assert first[0] == 200
    assert first[1]["content-type"] == "application/json"
    assert json.loads(first[2])["error_code"] == ERR_SESSION
    assert (second[0], b"stc-zlogin.zdn.vn/main-" in second[2]) == (200, True)
    assert third[0] == 200
    assert third[1]["connection"] == "close"


async def test_chunked_body_and_expect_continue(fake: FakeZaloPersonal) -> None:
    raw = (
        b"POST /account/logininfo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n"
        b"Content-Type: application/x-www-form-urlencoded\r\n\r\n"
        b"6\r\ncontin\r\n8\r\nue=x&v=1\r\n0\r\n\r\n"
    )
    cont, answer = answers(await exchange(fake, raw))
    assert cont[0] == 100
    assert answer[0] == 200
    assert json.loads(answer[2])["error_code"] == 0


async def test_head_put_and_unknown_paths_answer_as_starlette_would(
    fake: FakeZaloPersonal,
) -> None:
    raw = (
        b"HEAD /api/message/sms HTTP/1.1\r\nHost: x\r\n\r\n"
        b"PUT /api/message/sms HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        b"GET /media/nope.jpg HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /media/a/b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    data = await exchange(fake, raw)
    # HEAD: the headers of the GET answer, no body (so the next answer follows at once).
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert int(answers(head + b"\r\n\r\n")[0][1]["content-length"]) > 0
    put, media, nested = answers(rest)
    assert put[0] == 405
    assert media[0] == 404
    assert json.loads(nested[2])["error_code"] == ERR_SESSION  # not a media path

    bot = await logged_in(fake, BOT)
    unknown = await bot.http.post("/api/message/nope", data={"params": "x"})
    assert (unknown.status_code, unknown.content) == (404, b"")


async def test_garbage_gets_400_and_a_failing_handler_500(fake: FakeZaloPersonal) -> None:
    status, headers, _ = answers(await exchange(fake, b"NOT HTTP AT ALL\r\n\r\n"))[0]
    assert (status, headers["connection"]) == (400, "close")

    bot = await logged_in(fake, BOT)

    async def broken(call: Any) -> Any:
        raise RuntimeError("boom")

    fake._routes["/api/message/sms"] = broken
    sealed = wire.seal_session_payload(bot.key, sms(bot))
    failed = await bot.http.post("/api/message/sms", params=VERSION, data={"params": sealed})
    assert (failed.status_code, failed.text) == (500, "Internal Server Error")
    # The connection was closed; the client's next call opens a new one and works.
    assert (await bot.call("/api/message/typing", typing(bot)))["error_code"] == 0


async def test_query_params_take_the_last_value_and_form_bodies_the_first(
    fake: FakeZaloPersonal,
) -> None:
    bot = await logged_in(fake, BOT)
    link = {"link": "https://example.org/a", "version": 1, "imei": bot.imei}
    good = wire.seal_session_payload(bot.key, link)
    resp = await bot.http.get(
        "/api/message/parselink",
        params=[("params", "garbage"), ("params", good), *VERSION.items()],
    )
    inner = wire.open_session_payload(bot.key, resp.json()["data"])
    assert inner["error_code"] == 0
    good = wire.seal_session_payload(bot.key, sms(bot))
    resp = await bot.http.post(
        "/api/message/sms",
        params=VERSION,
        content=f"params={quote(good, safe='')}&params=garbage",
    )
    assert wire.open_session_payload(bot.key, resp.json()["data"])["error_code"] == 0
    async with httpx2.AsyncClient(base_url=fake.base_url) as anonymous:
        assert (await anonymous.get("/keepalive")).json()["error_code"] == ERR_SESSION


# ---------------------------------------------------------------- wire fast paths


def fresh_cbc(key: bytes, plaintext: bytes) -> bytes:
    padder = PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return enc.update(padded) + enc.finalize()


def test_cbc_matches_a_fresh_cipher_per_message_across_interleaved_keys() -> None:
    keys = [os.urandom(16), os.urandom(24), os.urandom(32)]
    for n in range(200):
        key = keys[n % 3]
        plaintext = os.urandom(n)
        sealed = wire.cbc_encrypt(key, plaintext)
        assert sealed == fresh_cbc(key, plaintext)
        assert wire.cbc_decrypt(key, sealed) == plaintext


def test_cbc_decrypt_rejects_what_pkcs7_rejects() -> None:
    key = os.urandom(32)
    for n in range(1, 200):
        junk = os.urandom(16 * (1 + n % 4))
        dec = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor()
        unpadder = PKCS7(128).unpadder()
        try:
            expected: bytes | None = unpadder.update(dec.update(junk)) + unpadder.finalize()
        except ValueError:
            expected = None
        try:
            got: bytes | None = wire.cbc_decrypt(key, junk)
        except wire.WireError:
            got = None
        assert got == expected
    with pytest.raises(wire.WireError):
        wire.cbc_decrypt(key, b"short")


@given(st.binary(max_size=120))
def test_quote_data_is_encode_uri_component_of_base64(raw: bytes) -> None:
    b64 = base64.b64encode(raw).decode()
    assert wire.quote_data(b64) == quote(b64, safe="")


@given(st.text(max_size=8))
def test_quote_data_quotes_anything_else_too(text: str) -> None:
    assert wire.quote_data(text) == quote(text, safe="")


@pytest.mark.parametrize("encrypt", [0, 1, 2, 3])
def test_event_frames_are_what_encode_frame_writes(encrypt: int) -> None:
    envelope = wire.encode_event({"msg": 'é "quoted" \\ /'}, encrypt=encrypt, key=bytes(32))
    assert wire.encode_event_frame(501, 0, envelope) == wire.encode_frame(501, 0, envelope)
    odd = {"data": 'not "base64"', "encrypt": 2}
    assert wire.encode_event_frame(3, 1, odd) == wire.encode_frame(3, 1, odd)


_FORM_PIECES = st.sampled_from(
    ["params", "p", "=", "&", "+", "%2B", "%3D", "%2F", "%25", "%2b", "%", "a", "%E1%BA%A1", "é"]
)


@given(st.lists(_FORM_PIECES, max_size=12).map("".join))
def test_form_value_decodes_like_parse_qsl(text: str) -> None:
    assert _form_value(text, "params", last=True) == dict(
        parse_qsl(text, keep_blank_values=True)
    ).get("params")
    first = parse_qs(text, keep_blank_values=True).get("params")
    assert _form_value(text, "params", last=False) == (first[0] if first else None)
