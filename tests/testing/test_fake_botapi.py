"""FakeZaloBotApi over real loopback HTTP, driven by the real ZaloBot client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import traceback
from collections.abc import AsyncIterator, Generator
from typing import Any

import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zalogate.botapi import (
    ApiError,
    BadRequestError,
    ConflictError,
    EventName,
    NetworkError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    UnauthorizedError,
    ZaloBot,
    ZaloBotError,
)
from zalogate.testing import FakeZaloBotApi
from zalogate.testing.fake_botapi import make_png

SECRET = "webhook-secret-1"


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloBotApi]:
    async with FakeZaloBotApi(webhook_retry_delays=(0.01, 0.01)) as server:
        yield server


@pytest.fixture
async def bot(fake: FakeZaloBotApi) -> AsyncIterator[ZaloBot]:
    async with ZaloBot(fake.token, base_url=fake.base_url) as client:
        yield client


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class Receiver:
    """A small webhook endpoint: records POSTs, answers with queued statuses (then 200)."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.secrets: list[str | None] = []
        self.statuses: list[int] = []
        self.received = asyncio.Event()
        self.url = ""
        app = Starlette(routes=[Route("/hook", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, log_config=None, lifespan="off", log_level="warning")
        self._server = _Server(config)
        self._task: asyncio.Task[None] | None = None

    async def _hook(self, request: Request) -> Response:
        self.secrets.append(request.headers.get("x-bot-api-secret-token"))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200:
            self.bodies.append(json.loads(await request.body()))
            self.received.set()
        return Response("ok", status_code=status)

    async def __aenter__(self) -> Receiver:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.should_exit = True
        assert self._task is not None
        await self._task

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(5):
            while len(self.bodies) < count:
                self.received.clear()
                await self.received.wait()
        return self.bodies


# ------------------------------------------------------------------ basics


async def test_get_me_describes_the_default_bot(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    me = await bot.get_me()
    assert me.id == fake.bot.id
    assert me.account_name == "bot.fake"
    assert me.can_join_groups is False


async def test_unknown_token_gets_unauthorized_401(fake: FakeZaloBotApi) -> None:
    async with ZaloBot("999:not-registered", base_url=fake.base_url) as stranger:
        with pytest.raises(UnauthorizedError) as info:
            await stranger.get_me()
    assert info.value.error_code == 401
    assert info.value.status_code == 200


async def test_unknown_method_is_404_in_the_body(fake: FakeZaloBotApi) -> None:
    async with httpx2.AsyncClient() as client:
        response = await client.post(f"{fake.base_url}/bot{fake.token}/sendVoice")
    assert response.status_code == 200
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


# ------------------------------------------------------------------ long polling


@pytest.mark.parametrize("style", ["http408", "body408", "empty-result"])
async def test_empty_poll_gives_no_update(style: Any) -> None:
    async with (
        FakeZaloBotApi(empty_poll=style) as fake,
        ZaloBot(fake.token, base_url=fake.base_url) as bot,
    ):
        assert await bot.get_updates(timeout=0) is None


async def test_empty_poll_is_answered_with_http_408_like_zalo(fake: FakeZaloBotApi) -> None:
    async with httpx2.AsyncClient() as client:
        response = await client.post(
            f"{fake.base_url}/bot{fake.token}/getUpdates", json={"timeout": "0"}
        )
    assert response.status_code == 408
    assert response.json() == {"ok": False, "error_code": 408, "description": "Request timeout"}


async def test_a_message_wakes_a_pending_long_poll(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=30))
    await fake.wait_for_calls("getUpdates")
    while fake.bot.waiting_polls == 0:
        await asyncio.sleep(0.01)
    message_id = fake.user("u1", name="An").says("xin chào")
    update = await asyncio.wait_for(poll, 10)
    assert update is not None
    assert update.event is EventName.TEXT
    assert update.message is not None
    assert update.message.message_id == message_id
    assert update.message.text == "xin chào"
    assert update.message.chat.id == "u1"
    assert update.message.chat.chat_type == "PRIVATE"
    assert update.message.from_.id == "u1"
    assert update.message.from_.display_name == "An"
    assert update.message.date is not None
    assert update.message.date >= 10**12


async def test_each_poll_returns_one_update_in_order(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    user = fake.user("u1")
    ids = [user.says("one"), user.says("two"), user.sends_sticker()]
    got = [await bot.get_updates(timeout=1) for _ in ids]
    assert [u.message.message_id for u in got if u and u.message] == ids
    assert got[2] is not None
    assert got[2].event is EventName.STICKER
    assert await bot.get_updates(timeout=0) is None
    assert len(set(ids)) == 3
    assert [u["message"]["message_id"] for u in fake.bot.updates] == ids


async def test_group_message_carries_the_group_chat_and_the_member(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    fake.group("g1", name="Team").user("u2", name="Bình").says("@bot hi")
    update = await bot.get_updates(timeout=1)
    assert update is not None
    assert update.message is not None
    assert update.message.chat.id == "g1"
    assert update.message.chat.is_group
    assert update.message.from_.id == "u2"
    assert update.message.from_.best_name == "Bình"


async def test_image_message_points_at_a_png_the_fake_serves(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    fake.user("u1").sends_image(caption="ảnh")
    update = await bot.get_updates(timeout=1)
    assert update is not None
    assert update.event is EventName.IMAGE
    assert update.message is not None
    assert update.message.caption == "ảnh"
    assert update.message.message_type == "CHAT_PHOTO"
    assert update.message.photo_url is not None
    async with httpx2.AsyncClient() as client:
        response = await client.get(update.message.photo_url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert fake.media_requests == ["photo.png"]


async def test_custom_media_and_unsupported_events(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    url = fake.add_media("cat.jpg", b"\xff\xd8jpeg-bytes", "image/jpeg")
    fake.user("u1").sends_image(url)
    fake.user("u1").sends_unsupported()
    image = await bot.get_updates(timeout=1)
    other = await bot.get_updates(timeout=1)
    assert image is not None
    assert image.message is not None
    assert image.message.photo_url == url
    assert other is not None
    assert other.event is EventName.UNSUPPORTED
    async with httpx2.AsyncClient() as client:
        response = await client.get(url)
    assert (response.headers["content-type"], response.content) == (
        "image/jpeg",
        b"\xff\xd8jpeg-bytes",
    )


async def test_replayed_update_is_handed_out_again(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    fake.user("u1").says("hi", message_id="dup-1")
    fake.bot.push(fake.bot.updates[0])
    first = await bot.get_updates(timeout=1)
    second = await bot.get_updates(timeout=1)
    assert first == second


async def test_update_arriving_after_client_gave_up_waits_for_next_poll(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    with pytest.raises(RequestTimeoutError):
        await bot.get_updates(timeout=30, request_timeout=0.2)
    async with asyncio.timeout(5):
        while fake.bot.waiting_polls:
            await asyncio.sleep(0.01)
    message_id = fake.user("u1").says("late")
    update = await bot.get_updates(timeout=1)
    assert update is not None
    assert update.message is not None
    assert update.message.message_id == message_id


async def test_stopping_the_fake_ends_a_pending_poll() -> None:
    fake = FakeZaloBotApi()
    await fake.start()
    async with ZaloBot(fake.token, base_url=fake.base_url) as bot:
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await fake.wait_for_calls("getUpdates")
        await fake.stop()
        with contextlib.suppress(NetworkError):
            assert await asyncio.wait_for(poll, 10) is None


# ------------------------------------------------------------------ sending


async def test_sends_are_recorded_with_the_ids_the_client_got(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    text = await bot.send_message("u1", "chào")
    photo = await bot.send_photo("u2", "https://93.184.215.14/a.jpg", caption="cap")
    sticker = await bot.send_sticker("u1", "st-1")
    await bot.send_chat_action("u1")
    to_u1 = await fake.wait_for_sent(2, chat_id="u1")
    assert [(r.method, r.message_id) for r in to_u1] == [
        ("sendMessage", text.message_id),
        ("sendSticker", sticker.message_id),
    ]
    assert to_u1[0].text == "chào"
    [sent_photo] = await fake.wait_for_sent(method="sendPhoto")
    assert (sent_photo.photo, sent_photo.caption) == ("https://93.184.215.14/a.jpg", "cap")
    assert sent_photo.message_id == photo.message_id
    assert len({text.message_id, photo.message_id, sticker.message_id}) == 3
    assert [a.payload["action"] for a in fake.chat_actions] == ["typing"]
    assert len(fake.sent) == 3


async def test_wait_for_sent_times_out_when_nothing_matches(fake: FakeZaloBotApi) -> None:
    with pytest.raises(TimeoutError):
        await fake.wait_for_sent(1, timeout=0.05)


async def test_concurrent_sends_are_all_recorded(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    await asyncio.gather(*(bot.send_message(f"c{i % 5}", f"m{i}") for i in range(200)))
    assert len(await fake.wait_for_sent(200)) == 200
    assert len({r.message_id for r in fake.sent}) == 200


async def test_fake_validates_like_zalo(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    with pytest.raises(BadRequestError) as info:
        await bot.send_message("", "hi")
    assert info.value.description == "Bad request: The chat_id must not be empty"
    with pytest.raises(BadRequestError):
        await bot.send_message("u1", "x" * 2001)
    with pytest.raises(BadRequestError):
        await bot.send_message("u1", "")
    await bot.send_message("u1", "😀" * 1000)  # 2000 UTF-16 units is the limit
    with pytest.raises(BadRequestError):
        await bot.send_message("u1", "😀" * 1000 + "a")
    with pytest.raises(BadRequestError):
        await bot.send_chat_action("u1", "dancing")
    assert len(fake.sent) == 1


# ------------------------------------------------------------------ webhook mode


async def test_webhook_gets_updates_with_the_secret_header(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    async with Receiver() as receiver:
        info = await bot.set_webhook(receiver.url, SECRET)
        assert info.url == receiver.url
        assert (await bot.get_webhook_info()).url == receiver.url
        message_id = fake.user("u1", name="An").says("qua webhook")
        [body] = await receiver.wait_for(1)
    assert receiver.secrets == [SECRET]
    assert body == fake.bot.updates[0]
    assert body["event_name"] == "message.text.received"
    assert body["message"]["message_id"] == message_id
    assert fake.webhook_deliveries == 1


async def test_webhooks_can_be_delivered_to_a_local_base_url(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    async with Receiver() as receiver:
        local = receiver.url.rsplit("/", 1)[0]
        path = receiver.url[len(local) :]
        fake.deliver_webhooks_to = local
        await bot.set_webhook(f"https://bot.example.com{path}?k=1", SECRET)
        message_id = fake.user("u1").says("qua loopback")
        [body] = await receiver.wait_for(1)
    assert body["message"]["message_id"] == message_id
    assert receiver.secrets == [SECRET]


async def test_get_updates_gets_nothing_while_a_webhook_is_set(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    async with Receiver() as receiver:
        await bot.set_webhook(receiver.url, SECRET)
        message_id = fake.user("u1").says("hi")
        assert await bot.get_updates(timeout=0) is None
        [body] = await receiver.wait_for(1)
    assert body["message"]["message_id"] == message_id
    assert fake.bot.pending == 0


async def test_conflict_mode_refuses_get_updates_while_a_webhook_is_set() -> None:
    async with (
        FakeZaloBotApi(poll_while_webhook="conflict") as fake,
        ZaloBot(fake.token, base_url=fake.base_url) as bot,
    ):
        await bot.set_webhook("https://example.com/hook", SECRET)
        with pytest.raises(ConflictError):
            await bot.get_updates(timeout=0)


async def test_refused_webhook_delivery_is_retried(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    async with Receiver() as receiver:
        receiver.statuses = [500]
        await bot.set_webhook(receiver.url, SECRET)
        fake.user("u1").says("retry me")
        await receiver.wait_for(1)
    assert receiver.secrets == [SECRET, SECRET]
    assert fake.webhook_failures == []


async def test_webhook_delivery_gives_up_after_the_retries(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    async with Receiver() as receiver:
        receiver.statuses = [503] * 3
        await bot.set_webhook(receiver.url, SECRET)
        fake.user("u1").says("lost")
        async with asyncio.timeout(5):
            while not fake.webhook_failures:
                await asyncio.sleep(0.01)
    [failure] = fake.webhook_failures
    assert failure.last_status == 503
    assert len(receiver.secrets) == 3  # the first try and two retries


async def test_parallel_webhook_delivery_hands_out_each_update_once() -> None:
    async with FakeZaloBotApi(webhook_concurrency=4) as fake, Receiver() as receiver:
        late_bot = fake.add_bot("555:added-after-start")
        async with ZaloBot(late_bot.token, base_url=fake.base_url) as bot:
            await bot.set_webhook(receiver.url, SECRET)
        ids = {late_bot.user(f"u{i}").says(f"m{i}") for i in range(40)}
        bodies = await receiver.wait_for(40)
    assert {b["message"]["message_id"] for b in bodies} == ids
    assert len(bodies) == 40


async def test_deleting_the_webhook_returns_to_polling(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    await bot.set_webhook("https://example.com/hook", SECRET)
    deleted = await bot.delete_webhook()
    assert deleted.url == ""
    assert (await bot.get_webhook_info()).url == ""
    message_id = fake.user("u1").says("back to polling")
    update = await bot.get_updates(timeout=1)
    assert update is not None
    assert update.message is not None
    assert update.message.message_id == message_id


async def test_get_webhook_info_without_webhook_is_http_404(fake: FakeZaloBotApi) -> None:
    async with httpx2.AsyncClient() as client:
        response = await client.post(f"{fake.base_url}/bot{fake.token}/getWebhookInfo")
    assert response.status_code == 404
    assert response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("http://example.com/hook", SECRET),
        ("not a url", SECRET),
        ("https://example.com/hook", "short"),
        ("https://example.com/hook", "x" * 257),
    ],
)
async def test_set_webhook_wants_https_and_an_8_to_256_char_secret(
    bot: ZaloBot, url: str, secret: str
) -> None:
    with pytest.raises(BadRequestError):
        await bot.set_webhook(url, secret)


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("status", "error_type"),
    [(500, ServerError), (502, ServerError), (429, RateLimitedError), (401, UnauthorizedError)],
)
async def test_failed_calls_map_to_client_errors(
    fake: FakeZaloBotApi, bot: ZaloBot, status: int, error_type: type[ApiError]
) -> None:
    fake.fail_next("sendMessage", status=status)
    with pytest.raises(error_type) as info:
        await bot.send_message("u1", "hi")
    assert info.value.status_code == status
    await bot.send_message("u1", "again")
    assert [r.text for r in fake.sent] == ["again"]


async def test_rate_limit_comes_as_an_html_page(fake: FakeZaloBotApi) -> None:
    fake.fail_next("getMe", status=429)
    async with httpx2.AsyncClient() as client:
        response = await client.post(f"{fake.base_url}/bot{fake.token}/getMe")
    assert response.status_code == 429
    assert response.headers["content-type"].startswith("text/html")
    assert "429 Too Many Requests" in response.text


async def test_error_next_answers_ok_false_with_http_200(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    fake.error_next("getMe", error_code="401", description="Unauthorized", count=2)
    for _ in range(2):
        with pytest.raises(UnauthorizedError) as info:
            await bot.get_me()
        assert info.value.status_code == 200
    assert (await bot.get_me()).id == fake.bot.id


async def test_timeout_next_holds_until_the_client_gives_up(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    fake.timeout_next("sendMessage")
    with pytest.raises(RequestTimeoutError):
        await bot.send_message("u1", "hi", request_timeout=0.2)
    assert fake.sent == []


async def test_drop_next_closes_the_connection_without_an_answer(
    fake: FakeZaloBotApi, bot: ZaloBot
) -> None:
    fake.drop_next("sendMessage")
    with pytest.raises(NetworkError):
        await bot.send_message("u1", "hi")
    await bot.send_message("u1", "after")
    assert [r.text for r in fake.sent] == ["after"]


async def test_wildcard_fault_hits_any_method(fake: FakeZaloBotApi, bot: ZaloBot) -> None:
    fake.fail_next("*", status=503)
    with pytest.raises(ServerError):
        await bot.get_me()
    await bot.get_me()


async def test_errors_and_logs_over_real_http_never_show_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    token = "31337:real-http-SECRET-part"
    secret = "real-http-SECRET-part"
    errors: list[BaseException] = []
    async with FakeZaloBotApi(token=token) as fake:
        base_url = fake.base_url
        async with ZaloBot(token, base_url=base_url) as bot:
            await bot.get_me()
            fake.drop_next("getMe")
            fake.timeout_next("sendMessage")
            fake.fail_next("getMe", status=502)
            for call in (bot.get_me(), bot.send_message("u1", "x", request_timeout=0.2)):
                with pytest.raises(ZaloBotError) as info:
                    await call
                errors.append(info.value)
            with pytest.raises(ServerError) as server_error:
                await bot.get_me()
            errors.append(server_error.value)
    async with ZaloBot(token, base_url=base_url) as bot:
        with pytest.raises(NetworkError) as refused:
            await bot.get_me()  # the fake is gone: connection refused
        errors.append(refused.value)
    for error in errors:
        text = str(error) + repr(error) + "".join(traceback.format_exception(error))
        assert secret not in text
        assert error.__cause__ is None
    assert secret not in caplog.text
    # The failures were logged (ZaloBot's lean transport logs no URLs; httpx2 did, masked).
    assert "getMe failed" in caplog.text


# ------------------------------------------------------------------ several bots, threads


async def test_bots_have_their_own_updates_and_records(fake: FakeZaloBotApi) -> None:
    other = fake.add_bot("777:second-bot-token", name="bot.two")
    assert other.id == "777"
    other.user("u9").says("to bot two")
    async with (
        ZaloBot(fake.token, base_url=fake.base_url) as first,
        ZaloBot(other.token, base_url=fake.base_url) as second,
    ):
        assert await first.get_updates(timeout=0) is None
        update = await second.get_updates(timeout=1)
        assert update is not None
        assert (await second.get_me()).account_name == "bot.two"
        await second.send_message("u9", "from two")
    [record] = await fake.wait_for_sent(bot=other)
    assert record.bot_id == "777"
    assert await fake.wait_for_sent(0, bot=fake.bot) == []


def test_thread_mode_serves_synchronous_callers() -> None:
    with FakeZaloBotApi(token="42:sync-token") as fake:
        fake.user("u1").says("from the main thread")
        with httpx2.Client() as client:
            base = f"{fake.base_url}/bot{fake.token}"
            polled = client.post(f"{base}/getUpdates", json={"timeout": "1"}).json()
            sent = client.post(f"{base}/sendMessage", json={"chat_id": "u1", "text": "hi"})
        assert polled["result"]["message"]["text"] == "from the main thread"
        assert sent.json()["ok"] is True
        assert [r.text for r in fake.sent] == ["hi"]


async def test_thread_mode_can_be_awaited_from_another_loop() -> None:
    fake = FakeZaloBotApi()
    await asyncio.to_thread(fake.start_in_thread)
    try:
        async with ZaloBot(fake.token, base_url=fake.base_url) as bot:
            fake.user("u1").says("hi")
            update = await bot.get_updates(timeout=5)
            assert update is not None
            await bot.send_message("u1", "reply")
        [record] = await fake.wait_for_sent(chat_id="u1")
        assert record.text == "reply"
    finally:
        await asyncio.to_thread(fake.stop_thread)


def test_generated_png_is_well_formed() -> None:
    png = make_png(2, 3, (1, 2, 3))
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png[12:16] == b"IHDR"
    assert int.from_bytes(png[16:20], "big") == 2
    assert int.from_bytes(png[20:24], "big") == 3
    assert png.endswith(b"IEND\xaeB`\x82")
