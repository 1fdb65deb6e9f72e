"""ZaloBot request shapes and error mapping, through httpx2.MockTransport (no network)."""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Callable
from typing import Any

import httpx2
import pytest

from zalogate.botapi import (
    ApiError,
    ApiTimeoutError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    UnauthorizedError,
    UnsafeUrlError,
    UrlGuard,
    ZaloBot,
    ZaloBotError,
    resolve_base_url,
    truncate_utf16,
)

TOKEN = "12345689:abc-xyz-SECRET"
SECRET = "abc-xyz-SECRET"
BASE = "https://zalo.test"
NGINX_429 = (
    "<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    "<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)

Handler = Callable[[httpx2.Request], httpx2.Response]


class Recorder:
    """A MockTransport handler that records requests and answers from a queue."""

    def __init__(self, *responses: httpx2.Response) -> None:
        self.requests: list[httpx2.Request] = []
        self._responses = list(responses)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if self._responses:
            return self._responses.pop(0)
        return httpx2.Response(200, json={"ok": True, "result": {"message_id": "m1"}})

    @property
    def last(self) -> httpx2.Request:
        return self.requests[-1]

    def last_json(self) -> Any:
        return json.loads(self.last.content)


async def public_resolver(host: str) -> list[str]:
    """DNS without the network: every name is a documentation-range public address."""
    return {"loopback.example": ["127.0.0.1"], "lan.example": ["10.1.2.3", "93.184.215.14"]}.get(
        host, ["93.184.215.14"]
    )


def make_bot(handler: Handler, **kwargs: Any) -> ZaloBot:
    kwargs.setdefault("photo_guard", UrlGuard(resolver=public_resolver))
    return ZaloBot(TOKEN, base_url=BASE, transport=httpx2.MockTransport(handler), **kwargs)


def ok(result: Any = None, status: int = 200) -> httpx2.Response:
    return httpx2.Response(status, json={"ok": True, "result": result})


def fail(code: Any, description: str, status: int = 200) -> httpx2.Response:
    return httpx2.Response(
        status, json={"ok": False, "error_code": code, "description": description}
    )


def read_timeout(request: httpx2.Request) -> float:
    timeouts = request.extensions["timeout"]
    assert isinstance(timeouts, dict)
    value = timeouts["read"]
    assert isinstance(value, float | int)
    return float(value)


# ------------------------------------------------------------------ request shapes


async def test_get_me_posts_json_without_body_to_token_path() -> None:
    rec = Recorder(ok({"id": "123", "account_name": "bot.x"}))
    async with make_bot(rec) as bot:
        me = await bot.get_me()
    assert me.id == "123"
    assert me.account_name == "bot.x"
    request = rec.last
    assert request.method == "POST"
    assert str(request.url) == f"{BASE}/bot{TOKEN}/getMe"
    assert request.headers["content-type"] == "application/json"
    assert request.content == b""


async def test_get_updates_sends_timeout_as_string_and_waits_poll_plus_five_seconds() -> None:
    rec = Recorder(ok(None), ok(None))
    async with make_bot(rec) as bot:
        await bot.get_updates()
        await bot.get_updates(timeout=1)
    first, second = rec.requests
    assert first.content == b'{"timeout":"30"}'
    assert read_timeout(first) == 35
    assert json.loads(second.content) == {"timeout": "1"}
    assert read_timeout(second) == 6


async def test_default_deadline_is_30_seconds_and_send_photo_150() -> None:
    rec = Recorder()
    async with make_bot(rec) as bot:
        await bot.send_message("c1", "hi")
        assert read_timeout(rec.last) == 30
        await bot.send_photo("c1", "https://example.com/a.jpg")
        assert read_timeout(rec.last) == 150
        await bot.send_chat_action("c1", request_timeout=5)
        assert read_timeout(rec.last) == 5


async def test_send_methods_use_zalo_field_names() -> None:
    rec = Recorder(
        ok({"message_id": "m1", "date": 1749632637199}),
        ok({"message_id": "m2", "date": 1749632637}),
        ok({"message_id": "m3"}),
        httpx2.Response(200, json={"ok": True}),
        ok({"url": "https://h.example/hook", "updated_at": 1749538250568}),
        ok({"url": "", "updated_at": 1749538250568}),
    )
    async with make_bot(rec) as bot:
        sent = await bot.send_message("c1", "xin chào")
        assert rec.last_json() == {"chat_id": "c1", "text": "xin chào"}
        assert (sent.message_id, sent.date) == ("m1", 1749632637199)
        photo = await bot.send_photo("c1", "  https://example.com/a.jpg ", caption="cap")
        assert rec.last_json() == {
            "chat_id": "c1",
            "photo": "https://example.com/a.jpg",
            "caption": "cap",
        }
        assert photo.date == 1749632637000
        await bot.send_sticker("c1", "st-1")
        assert rec.last_json() == {"chat_id": "c1", "sticker": "st-1"}
        await bot.send_chat_action("c1")
        assert rec.last_json() == {"chat_id": "c1", "action": "typing"}
        info = await bot.set_webhook("https://h.example/hook", "s3cret-token")
        assert rec.last_json() == {"url": "https://h.example/hook", "secret_token": "s3cret-token"}
        assert info.url == "https://h.example/hook"
        deleted = await bot.delete_webhook()
        assert rec.last.content == b""
        assert deleted.url == ""
    assert [r.url.path.rsplit("/", 1)[1] for r in rec.requests] == [
        "sendMessage",
        "sendPhoto",
        "sendSticker",
        "sendChatAction",
        "setWebhook",
        "deleteWebhook",
    ]


async def test_photo_without_caption_sends_no_caption_field() -> None:
    rec = Recorder()
    async with make_bot(rec) as bot:
        await bot.send_photo("c1", "http://example.com/a.png")
    assert rec.last_json() == {"chat_id": "c1", "photo": "http://example.com/a.png"}


@pytest.mark.parametrize("photo", ["ftp://x/y.jpg", "/relative/y.jpg", "y.jpg", "", "https://"])
async def test_send_photo_refuses_non_http_urls_without_a_request(photo: str) -> None:
    rec = Recorder()
    async with make_bot(rec) as bot:
        with pytest.raises(InvalidRequestError):
            await bot.send_photo("c1", photo)
    assert rec.requests == []


async def test_long_caption_is_cut_to_2000_utf16_units_without_breaking_an_emoji() -> None:
    rec = Recorder()
    caption = "a" * 1999 + "😀" * 300
    async with make_bot(rec) as bot:
        await bot.send_photo("c1", "https://example.com/a.jpg", caption=caption)
    sent = rec.last_json()["caption"]
    assert len(sent.encode("utf-16-le")) // 2 <= 2000
    assert sent == "a" * 1999
    sent.encode("utf-8")  # a lone surrogate would not encode


@pytest.mark.parametrize(
    "photo",
    [
        "http://127.0.0.1/a.jpg",
        "https://localhost/a.jpg",
        "https://loopback.example/a.jpg",
        "https://lan.example/a.jpg",
        "https://[::1]/a.jpg",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.10/a.jpg",
        "https://[::ffff:127.0.0.1]/a.jpg",
    ],
)
async def test_send_photo_refuses_private_and_loopback_hosts_without_a_request(photo: str) -> None:
    rec = Recorder()
    async with make_bot(rec) as bot:
        with pytest.raises(UnsafeUrlError, match="private or loopback"):
            await bot.send_photo("c1", photo)
    assert rec.requests == []


async def test_send_photo_refuses_a_host_that_does_not_resolve() -> None:
    async def nowhere(host: str) -> list[str]:
        raise OSError("no such host")

    rec = Recorder()
    async with make_bot(rec, photo_guard=UrlGuard(resolver=nowhere)) as bot:
        with pytest.raises(UnsafeUrlError, match="does not resolve"):
            await bot.send_photo("c1", "https://nowhere.example/a.jpg")
    assert rec.requests == []


async def test_loopback_photos_pass_when_the_guard_allows_them() -> None:
    rec = Recorder()
    async with make_bot(rec, photo_guard=UrlGuard(allow_loopback=True)) as bot:
        await bot.send_photo("c1", "http://127.0.0.1:9/a.png")
        with pytest.raises(UnsafeUrlError):
            await bot.send_photo("c1", "http://10.0.0.1/a.png")
    assert rec.last_json()["photo"] == "http://127.0.0.1:9/a.png"


async def test_a_trusted_url_skips_only_the_address_check() -> None:
    rec = Recorder()
    async with make_bot(rec) as bot:
        await bot.send_photo("c1", "https://lan.example/own.png", trusted_url=True)
        with pytest.raises(InvalidRequestError):
            await bot.send_photo("c1", "ftp://lan.example/own.png", trusted_url=True)
    assert len(rec.requests) == 1


def test_truncate_utf16_keeps_whole_pairs() -> None:
    assert truncate_utf16("😀😀", 3) == "😀"
    assert truncate_utf16("😀😀", 4) == "😀😀"
    assert truncate_utf16("abc", 10) == "abc"


# ------------------------------------------------------------------ getUpdates "no update"


@pytest.mark.parametrize(
    "response",
    [
        fail(408, "Request timeout", status=408),
        fail(408, "Request timeout", status=200),
        fail("408", "Request timeout", status=200),
        fail("408", "Request timeout", status=408),
        httpx2.Response(408, text="timeout"),
        ok({}),
        ok(None),
        httpx2.Response(200, json={"ok": True}),
    ],
    ids=["http408", "body408", "body408str", "both408str", "html408", "empty", "null", "absent"],
)
async def test_every_empty_poll_shape_means_no_update(response: httpx2.Response) -> None:
    async with make_bot(Recorder(response)) as bot:
        assert await bot.get_updates(timeout=1) is None


async def test_get_updates_returns_the_single_update() -> None:
    update = {
        "event_name": "message.text.received",
        "message": {
            "message_id": "m1",
            "from": {"id": "u1", "display_name": "An"},
            "chat": {"id": "u1", "chat_type": "PRIVATE"},
            "date": 1766619597466,
            "text": "xin chào",
        },
    }
    async with make_bot(Recorder(ok(update))) as bot:
        got = await bot.get_updates(timeout=1)
    assert got is not None
    assert got.message is not None
    assert got.message.text == "xin chào"


async def test_408_on_other_methods_is_a_retryable_api_timeout() -> None:
    async with make_bot(Recorder(fail(408, "Request timeout", status=408))) as bot:
        with pytest.raises(ApiTimeoutError) as info:
            await bot.send_message("c1", "hi")
    assert info.value.retryable


# ------------------------------------------------------------------ error mapping


@pytest.mark.parametrize(
    ("response", "error_type", "code", "retryable"),
    [
        (fail(401, "Unauthorized"), UnauthorizedError, 401, False),
        (fail(403, "Forbidden", status=403), UnauthorizedError, 403, False),
        (fail(400, "Bad request: The chat_id must not be empty"), BadRequestError, 400, False),
        (fail(404, "Not Found"), NotFoundError, 404, False),
        (fail(409, "Conflict"), ConflictError, 409, False),
        (fail(429, "Too many"), RateLimitedError, 429, True),
        (fail(500, "Internal"), ServerError, 500, True),
        (fail(-201, "Weird"), ApiError, -201, False),
        (httpx2.Response(429, text=NGINX_429), RateLimitedError, None, True),
        (httpx2.Response(502, text="<html>bad gateway</html>"), ServerError, None, True),
        (httpx2.Response(401, text=""), UnauthorizedError, None, False),
        (httpx2.Response(418, text="teapot"), BadRequestError, None, False),
    ],
)
async def test_api_errors_map_to_typed_exceptions(
    response: httpx2.Response, error_type: type[ApiError], code: int | None, retryable: bool
) -> None:
    async with make_bot(Recorder(response)) as bot:
        with pytest.raises(error_type) as info:
            await bot.send_message("c1", "hi")
    error = info.value
    assert type(error) is error_type
    assert error.method == "sendMessage"
    assert error.status_code == response.status_code
    if code is not None:
        assert error.error_code == code
    assert error.retryable is retryable


async def test_ok_false_keeps_code_and_description() -> None:
    async with make_bot(Recorder(fail(401, "Unauthorized"))) as bot:
        with pytest.raises(UnauthorizedError) as info:
            await bot.get_me()
    assert info.value.error_code == 401
    assert info.value.description == "Unauthorized"
    assert info.value.status_code == 200


async def test_rate_limit_reads_retry_after() -> None:
    response = httpx2.Response(429, text=NGINX_429, headers={"Retry-After": "7"})
    async with make_bot(Recorder(response)) as bot:
        with pytest.raises(RateLimitedError) as info:
            await bot.get_me()
    assert info.value.retry_after == 7


@pytest.mark.parametrize(
    "response",
    [
        httpx2.Response(200, text="<html>hello</html>"),
        httpx2.Response(200, json=[1, 2]),
        httpx2.Response(200, json={"result": {}}),
        ok({"account_name": "no id"}),
        ok("not an object"),
    ],
)
async def test_answers_that_are_not_the_envelope_are_malformed(response: httpx2.Response) -> None:
    async with make_bot(Recorder(response)) as bot:
        with pytest.raises(MalformedResponseError) as info:
            await bot.get_me()
    assert not info.value.retryable


async def test_send_without_result_is_malformed_not_delivered() -> None:
    async with make_bot(Recorder(httpx2.Response(200, json={"ok": True}))) as bot:
        with pytest.raises(MalformedResponseError):
            await bot.send_message("c1", "hi")


async def test_webhook_info_404_means_no_webhook() -> None:
    async with make_bot(Recorder(fail(404, "Not Found", status=404))) as bot:
        info = await bot.get_webhook_info()
    assert info.url == ""


def _raiser(exc_type: type[httpx2.TransportError]) -> Handler:
    def handler(request: httpx2.Request) -> httpx2.Response:
        raise exc_type(f"failed to reach {request.url}", request=request)

    return handler


@pytest.mark.parametrize(
    ("exc_type", "error_type"),
    [
        (httpx2.ConnectError, NetworkError),
        (httpx2.ReadError, NetworkError),
        (httpx2.RemoteProtocolError, NetworkError),
        (httpx2.ProxyError, NetworkError),
        (httpx2.ConnectTimeout, RequestTimeoutError),
        (httpx2.ReadTimeout, RequestTimeoutError),
        (httpx2.PoolTimeout, RequestTimeoutError),
    ],
)
async def test_transport_failures_are_retryable_transport_errors(
    exc_type: type[httpx2.TransportError], error_type: type[ZaloBotError]
) -> None:
    async with make_bot(_raiser(exc_type)) as bot:
        with pytest.raises(error_type) as info:
            await bot.get_me()
    assert info.value.retryable


# ------------------------------------------------------------------ the token never shows


def _all_text(error: BaseException) -> str:
    parts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    cause: BaseException | None = error
    while cause is not None:
        parts.extend([str(cause), repr(cause), repr(getattr(cause, "args", ""))])
        cause = cause.__cause__ or cause.__context__
    return "\n".join(parts)


@pytest.mark.parametrize("exc_type", [httpx2.ConnectError, httpx2.ReadTimeout])
async def test_transport_error_text_and_chain_never_hold_the_token(
    exc_type: type[httpx2.TransportError],
) -> None:
    async with make_bot(_raiser(exc_type)) as bot:
        with pytest.raises(ZaloBotError) as info:
            await bot.get_me()
    error = info.value
    assert error.__cause__ is None
    assert error.__context__ is None
    text = _all_text(error)
    assert SECRET not in text
    assert "getMe" in text


async def test_api_error_echoing_the_url_is_redacted() -> None:
    response = fail(401, f"token rejected for {BASE}/bot{TOKEN}/getMe ({TOKEN})")
    async with make_bot(Recorder(response)) as bot:
        with pytest.raises(UnauthorizedError) as info:
            await bot.get_me()
    assert SECRET not in _all_text(info.value)
    assert SECRET not in info.value.description


def test_repr_masks_the_token() -> None:
    bot = make_bot(Recorder())
    assert SECRET not in repr(bot)
    assert "12345689" in repr(bot)
    assert bot.bot_id == "12345689"


async def test_log_lines_never_hold_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with make_bot(Recorder(ok({"id": "1"}), fail(500, "boom"))) as bot:
        await bot.get_me()
        with pytest.raises(ServerError):
            await bot.get_me()
    async with make_bot(_raiser(httpx2.ConnectError)) as bot:
        with pytest.raises(NetworkError):
            await bot.get_me()
    assert caplog.records, "httpx2 logs every request; the filter must have seen them"
    for record in caplog.records:
        assert SECRET not in record.getMessage()
    assert SECRET not in caplog.text


# ------------------------------------------------------------------ configuration


def test_base_url_comes_from_argument_then_env_then_default() -> None:
    assert resolve_base_url("https://a.example/", {"ZALO_API_URL": "https://b.example"}) == (
        "https://a.example"
    )
    assert resolve_base_url(None, {"ZALO_API_URL": "http://127.0.0.1:9//"}) == (
        "http://127.0.0.1:9"
    )
    assert resolve_base_url(None, {}) == "https://bot-api.zaloplatforms.com"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("   ", "must not be empty"),
        ("ftp://x", "must use http:// or https://"),
        ("not a url", "must use http:// or https://"),
        ("https://x.example/?a=1", "must not include a query string or fragment"),
        ("https://x.example/#frag", "must not include a query string or fragment"),
    ],
)
def test_bad_env_base_url_is_a_configuration_error(value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        resolve_base_url(None, {"ZALO_API_URL": value})


def test_env_base_url_is_used_by_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZALO_API_URL", "http://127.0.0.1:1/")
    bot = ZaloBot(TOKEN, transport=httpx2.MockTransport(Recorder()))
    assert bot.base_url == "http://127.0.0.1:1"


@pytest.mark.parametrize("token", ["", "   ", "123:a/b", "123:a b"])
def test_unusable_tokens_are_refused_without_echoing_them(token: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        ZaloBot(token, base_url=BASE)
    if token.strip():
        assert token not in str(info.value)


async def test_injected_client_is_used_and_left_open() -> None:
    rec = Recorder(ok({"id": "1"}))
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(rec)) as client:
        async with ZaloBot(TOKEN, base_url=BASE, client=client) as bot:
            await bot.get_me()
        assert not client.is_closed
    assert len(rec.requests) == 1


def test_client_and_proxy_together_are_refused() -> None:
    with pytest.raises(ConfigurationError):
        ZaloBot(TOKEN, base_url=BASE, client=httpx2.AsyncClient(), proxy="http://p:1")


async def test_proxy_url_is_accepted() -> None:
    async with ZaloBot(TOKEN, base_url=BASE, proxy="http://proxy.local:8080") as bot:
        assert bot.base_url == BASE


@pytest.mark.parametrize("proxy", ["not a url", "ftp://proxy.local:21"])
def test_unusable_proxy_is_a_configuration_error(proxy: str) -> None:
    with pytest.raises(ConfigurationError):
        ZaloBot(TOKEN, base_url=BASE, proxy=proxy)
