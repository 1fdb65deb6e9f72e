"""PersonalHttp: headers, the encrypted call seam and how failures map to exceptions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx2
import pytest

from zalogate.personal import (
    ApiError,
    ConfigurationError,
    CookieJar,
    CryptoError,
    Endpoints,
    HttpStatusError,
    NetworkError,
    NotFoundError,
    PersonalHttp,
    ProtocolError,
    RequestTimeoutError,
    Session,
    SessionExpiredError,
    ZaloPersonal,
)
from zalogate.personal.crypto import decrypt_session_payload, encrypt_session_params
from zalogate.testing import FakeZaloPersonal

KEY = "AAECAwQFBgcICQoLDA0ODw=="
UA = "TestAgent/1.0"
SESSION = Session(
    uid="1001",
    imei="imei-1",
    secret_key=KEY,
    user_agent=UA,
    language="vi",
    client_version=671,
    service_map={"chat": ["https://tt-chat1-wpa.chat.zalo.me"]},
    ws_urls=("wss://ws1.chat.zalo.me/ws",),
    settings={},
)
URL = "https://tt-chat1-wpa.chat.zalo.me/api/message/sms"


def sealed(inner: dict[str, Any]) -> dict[str, Any]:
    return {"error_code": 0, "error_message": "", "data": encrypt_session_params(KEY, inner)}


def make_http(handler: Callable[[httpx2.Request], httpx2.Response]) -> PersonalHttp:
    http = PersonalHttp(user_agent=UA, client_version=671, transport=httpx2.MockTransport(handler))
    http.attach(SESSION)
    return http


async def test_post_call_encrypts_params_in_the_form_and_sends_default_headers() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=sealed({"error_code": 0, "data": {"msgId": 7}}))

    async with make_http(handler) as http:
        http.jar.set_cookie("zpw_sek=s; Domain=zalo.me", "https://id.zalo.me/")
        result = await http.call(
            "POST", URL, {"message": "hi", "gone": None}, query=[("nretry", "0")]
        )
    assert result == {"msgId": 7}
    request = seen[0]
    assert dict(request.url.params) == {"nretry": "0", "zpw_ver": "671", "zpw_type": "30"}
    form = parse_qs(request.content.decode())
    assert decrypt_session_payload(KEY, form["params"][0]) == {"message": "hi"}
    headers = request.headers
    assert headers["user-agent"] == UA
    assert headers["origin"] == "https://chat.zalo.me"
    assert headers["referer"] == "https://chat.zalo.me/"
    assert headers["cookie"] == "zpw_sek=s"
    assert headers["content-type"] == "application/x-www-form-urlencoded"


async def test_get_call_puts_params_in_the_query() -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200, json=sealed({"error_code": 0, "data": [1, 2]}))

    async with make_http(handler) as http:
        assert await http.call("GET", URL, {"page": 1}) == [1, 2]
    params = seen[0].url.params
    assert decrypt_session_payload(KEY, params["params"]) == {"page": 1}
    assert list(params.keys()) == ["params", "zpw_ver", "zpw_type"]


def answer(status: int, body: Any) -> Callable[[httpx2.Request], httpx2.Response]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if isinstance(body, bytes):
            return httpx2.Response(status, content=body)
        return httpx2.Response(status, json=body)

    return handler


@pytest.mark.parametrize(
    ("handler", "error", "check"),
    [
        (
            answer(200, {"error_code": 600, "error_message": "zpw_sek bị thiếu"}),
            SessionExpiredError,
            lambda e: e.outer and e.code == 600,
        ),
        (
            answer(200, sealed({"error_code": 114, "error_message": "limit"})),
            ApiError,
            lambda e: not e.outer and e.code == 114 and e.message == "limit",
        ),
        (
            answer(200, sealed({"error_code": 216, "error_message": "not found"})),
            NotFoundError,
            lambda e: e.code == 216,
        ),
        (answer(500, b"oops"), HttpStatusError, lambda e: e.status == 500 and e.retryable),
        (answer(404, b"no"), HttpStatusError, lambda e: not e.retryable),
        (answer(200, b"<html>"), ProtocolError, lambda e: True),
        (answer(200, {"error_code": 0, "data": 5}), ProtocolError, lambda e: True),
        (answer(200, {"error_code": 0, "data": "AAAA"}), CryptoError, lambda e: True),
        (answer(200, ["not", "an", "object"]), ProtocolError, lambda e: True),
    ],
)
async def test_failures_map_to_the_exception_tree(
    handler: Callable[[httpx2.Request], httpx2.Response],
    error: type[Exception],
    check: Callable[[Any], bool],
) -> None:
    async with make_http(handler) as http:
        with pytest.raises(error) as caught:
            await http.call("POST", URL + "?secretquery=1", {"message": "hush"})
    assert check(caught.value)
    text = str(caught.value)
    assert "/api/message/sms" in text
    assert "secretquery" not in text
    assert "hush" not in text


async def test_transport_failures_are_retryable_and_redacted() -> None:
    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    def slow(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ReadTimeout("slow", request=request)

    async with make_http(refuse) as http:
        with pytest.raises(NetworkError) as caught:
            await http.call("POST", URL, {"k": 1})
    assert caught.value.retryable
    async with make_http(slow) as http:
        with pytest.raises(RequestTimeoutError):
            await http.call("POST", URL, {"k": 1})


async def test_unencrypted_endpoint_returns_the_outer_data() -> None:
    async with make_http(answer(200, {"error_code": 0, "data": {"config_vesion": 1}})) as http:
        assert await http.call("GET", URL, {"imei": "x"}, encrypted_response=False) == {
            "config_vesion": 1
        }


async def test_redirect_chain_keeps_every_hops_cookies() -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/account/checksession":
            return httpx2.Response(
                302, headers=[("location", "/hop"), ("set-cookie", "a=1; Path=/")]
            )
        if request.url.path == "/hop":
            assert request.headers["cookie"] == "a=1"
            assert request.headers["referer"] == "https://id.zalo.me/"
            return httpx2.Response(
                302,
                headers=[
                    ("location", "https://chat.zalo.me/index.html"),
                    ("set-cookie", "zpw_sek=s; Domain=zalo.me; Path=/"),
                ],
            )
        return httpx2.Response(200, text="ok")

    async with make_http(handler) as http:
        response = await http.request("GET", "https://id.zalo.me/account/checksession")
        assert response.text == "ok"
        assert http.jar.names() == {"a", "zpw_sek"}
        assert http.cookie_header("https://chat.zalo.me/") == "zpw_sek=s"


async def test_call_before_login_and_bad_settings_are_configuration_errors() -> None:
    async with PersonalHttp(user_agent=UA) as http:
        with pytest.raises(ConfigurationError, match="not logged in"):
            await http.call("GET", URL)
    with pytest.raises(ConfigurationError):
        PersonalHttp(user_agent="")
    with pytest.raises(ConfigurationError):
        PersonalHttp(client_version=0)


async def test_session_repr_and_service_url_errors() -> None:
    assert KEY not in repr(SESSION)
    assert SESSION.service_url("chat") == "https://tt-chat1-wpa.chat.zalo.me"
    with pytest.raises(KeyError, match="no URL for service 'group'"):
        SESSION.service_url("group")


async def test_client_version_is_sent_everywhere(
    fake: FakeZaloPersonal, credentials_of: Any
) -> None:
    seen: list[httpx2.Request] = []

    class Spy(httpx2.AsyncBaseTransport):
        def __init__(self) -> None:
            self.inner = httpx2.AsyncHTTPTransport()

        async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
            seen.append(request)
            return await self.inner.handle_async_request(request)

        async def aclose(self) -> None:
            await self.inner.aclose()

    endpoints = Endpoints(id_base=fake.base_url, wpa_base=fake.base_url, jr_base=fake.base_url)
    async with ZaloPersonal(endpoints=endpoints, client_version=700, transport=Spy()) as zp:
        await zp.login_cookie(credentials_of("1001"))
        await zp.api.send_text("2001", "v")
    login, server, send = seen
    assert login.url.params["client_version"] == login.url.params["zpw_ver"] == "700"
    assert server.url.params["client_version"] == "700"
    assert send.url.params["zpw_ver"] == "700"
    assert send.url.params["zpw_type"] == "30"


class _RawServer:
    """A one-route HTTP/1.1 server on 127.0.0.1 that records request targets and bodies."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes]] = []
        body = json.dumps(sealed({"error_code": 0, "data": {"ok": 1}})).encode()
        self.answer = (
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                lines = head.decode("latin-1").split("\r\n")
                length = next(
                    (
                        int(v)
                        for k, _, v in (x.partition(": ") for x in lines)
                        if k.lower() == "content-length"
                    ),
                    0,
                )
                self.seen.append((lines[0].split(" ")[1], await reader.readexactly(length)))
                writer.write(self.answer)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()


@pytest.mark.parametrize(
    ("method", "query", "params", "target", "body"),
    [
        ("POST", (), {"a": 1}, "/api/x?zpw_ver=671&zpw_type=30", "params"),
        ("POST", (("nretry", "0"),), {"a": 1}, "/api/x?nretry=0&zpw_ver=671&zpw_type=30", "params"),
        (
            "GET",
            (("q", "a b/é"),),
            {"a": 1},
            "/api/x?q=a+b%2F%C3%A9&params=*&zpw_ver=671&zpw_type=30",
            "",
        ),
        ("POST", (), None, "/api/x?zpw_ver=671&zpw_type=30", ""),
        ("POST", (("zpw_type", "9"),), None, "/api/x?zpw_type=9&zpw_ver=671", ""),
        ("POST", (("zpw_ver", "1"), ("zpw_type", "9")), None, "/api/x?zpw_ver=1&zpw_type=9", ""),
    ],
)
async def test_lean_session_call_sends_the_same_form_text(
    method: str,
    query: tuple[tuple[str, str], ...],
    params: dict[str, Any] | None,
    target: str,
    body: str,
) -> None:
    raw = _RawServer()
    server = await asyncio.start_server(raw.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with PersonalHttp(user_agent=UA, client_version=671) as http:
            http.attach(SESSION)
            assert http._lean is not None  # the hot path under test
            url = f"http://127.0.0.1:{port}/api/x"
            assert await http.call(method, url, params, query=query) == {"ok": 1}
    finally:
        server.close()
        await server.wait_closed()
    ((sent_target, sent_body),) = raw.seen
    if "params=*" in target:  # the sealed params: random only in their position
        sealed_params = parse_qs(sent_target.partition("?")[2])["params"][0]
        assert decrypt_session_payload(KEY, sealed_params) == params
        target = target.replace("params=*", urlencode({"params": sealed_params}))
    assert sent_target == target
    if body == "params":
        form = parse_qs(sent_body.decode())
        assert list(form) == ["params"]
        assert sent_body.decode() == urlencode({"params": form["params"][0]})
        assert decrypt_session_payload(KEY, form["params"][0]) == params
    else:
        assert sent_body == b""


async def test_a_replaced_jar_takes_effect_on_the_login_path() -> None:
    """The jar is the only cookie store: a login-path request after it was emptied or
    rotated carries none of the cookies an earlier answer set."""
    seen: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("cookie"))
        return httpx2.Response(
            200, json={}, headers={"set-cookie": "zpw_sek=old; Domain=zalo.me; Path=/"}
        )

    async with PersonalHttp(user_agent=UA, transport=httpx2.MockTransport(handler)) as http:
        await http.request("GET", "https://id.zalo.me/account/checksession")
        assert http.jar.names() == {"zpw_sek"}

        http.jar = CookieJar()
        await http.request("GET", "https://wpa.chat.zalo.me/api/login/getLoginInfo")
        assert seen[-1] is None

        http.jar = CookieJar()
        http.jar.set_cookie("zpw_sek=new; Domain=zalo.me; Path=/", "https://id.zalo.me/")
        await http.request("GET", "https://wpa.chat.zalo.me/api/login/getServerInfo")
        assert seen[-1] == "zpw_sek=new"
