"""The HTTP side: dispatch, the Bot API methods and media."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import time
import types
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from zalogate.testing.fake_botapi.actors import FakeBot
from zalogate.testing.fake_botapi.faults import Faults
from zalogate.testing.fake_botapi.models import (
    CHAT_ACTIONS,
    TEXT_LIMIT,
    ApiCall,
    Reply,
    SentRecord,
    make_png,
    new_id,
    now_ms,
    respond,
)
from zalogate.testing.http_server import HttpRequest
from zalogate.text import utf16_len


class Routes(Faults):
    """Answering ``/bot<TOKEN>/<method>`` and ``/media/<name>``."""

    def _bad_request(self, description: str) -> Reply:
        return self._error(400, f"Bad request: {description}")

    async def _dispatch(self, exchange: HttpRequest) -> None:
        """Answer one request: the API and media routes here, anything else via ``_app``."""
        path = exchange.path
        if path.startswith("/bot") and exchange.method in ("POST", "GET"):
            token, sep, method = path[4:].partition("/")
            if token and sep and method and "/" not in method:
                respond(exchange, await self._api_call(token, method, exchange))
                return
        elif path.startswith("/media/") and exchange.method in ("GET", "HEAD"):
            name = path[7:]
            if name and "/" not in name:
                respond(exchange, self._media_reply(name))
                return
        await exchange.run_asgi(self._app)

    async def _api(self, request: Request) -> Response:
        """The Starlette route of the API (requests the direct path did not take)."""
        exchange = _exchange_of(request)
        reply = await self._api_call(
            request.path_params["token"], request.path_params["method"], exchange
        )
        return _starlette_response(reply)

    async def _api_call(self, token: str, method: str, request: HttpRequest) -> Reply:
        body = request.body
        payload: Any = {}
        if body.strip():
            try:
                payload = json.loads(body)
            except ValueError:
                return self._bad_request("The request body is not valid JSON")
            if not isinstance(payload, dict):
                return self._bad_request("The request body must be a JSON object")
        bot = self._bots.get(token)
        self.calls.append(ApiCall(method, bot.id if bot else None, payload, time.time()))
        self._calls_signal.notify()
        fault = self._take_fault(method)
        if fault is not None and fault.kind == "pass":
            fault = None
        if fault is not None and fault.kind not in ("drop_after", "hold_after"):
            return await self._apply_fault(fault, request)
        if bot is None:
            return self._error(401, "Unauthorized")
        handler = self._handlers.get(method)
        if handler is None or request.method != "POST":
            return self._error(404, "Not Found")
        reply = await handler(bot, payload, request)
        if fault is not None:  # the call took effect; its answer is lost
            return await self._apply_fault(fault, request)
        return reply

    # ----------------------------------------------------------------- methods

    async def _get_me(self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest) -> Reply:
        return self._ok(
            {
                "id": bot.id,
                "account_name": bot.name,
                "account_type": "BASIC",
                "can_join_groups": False,
            }
        )

    def _empty_poll(self) -> Reply:
        if self.empty_poll == "empty-result":
            return self._ok({})
        status = 408 if self.empty_poll == "http408" else 200
        return self._error(408, "Request timeout", status)

    async def _get_updates(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> Reply:
        if bot.webhook_url and self.poll_while_webhook == "conflict":
            return self._error(409, "Conflict: getUpdates is not available while a webhook is set")
        try:
            hold = float(payload.get("timeout", 30))
        except (TypeError, ValueError):
            return self._bad_request("The timeout must be a number of seconds")
        hold = min(max(hold, 0.0), self.max_poll_timeout)
        if bot._pending and not bot.webhook_url:
            return self._ok(bot._hand_out())
        deadline = time.monotonic() + hold
        disconnect = asyncio.ensure_future(request.wait_gone())
        bot.waiting_polls += 1
        try:
            while not self._stopping and not disconnect.done():
                if bot._pending and not bot.webhook_url:
                    return self._ok(bot._hand_out())
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wake = asyncio.ensure_future(bot._signal.wait(remaining))
                await asyncio.wait({wake, disconnect}, return_when="FIRST_COMPLETED")
                wake.cancel()
        finally:
            bot.waiting_polls -= 1
            disconnect.cancel()
        return self._empty_poll()

    def _record_send(self, bot: FakeBot, method: str, chat_id: str, **fields: str | None) -> str:
        message_id = new_id()
        self.sent.append(SentRecord(method, bot.id, chat_id, message_id, time.time(), **fields))
        self._sent_signal.notify()
        if self._sent_targets:
            total = len(self.sent)
            for count, target in self._sent_targets:
                if total >= count and not target.done():
                    target.set_result(None)
        return message_id

    @staticmethod
    def _chat_id(payload: dict[str, Any]) -> str | None:
        chat_id = payload.get("chat_id")
        if isinstance(chat_id, int) and not isinstance(chat_id, bool):
            chat_id = str(chat_id)
        return chat_id if isinstance(chat_id, str) and chat_id.strip() else None

    def _sent_response(self, message_id: str) -> Reply:
        return self._ok({"message_id": message_id, "date": now_ms()})

    async def _send_message(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> Reply:
        chat_id = self._chat_id(payload)
        if chat_id is None:
            return self._bad_request("The chat_id must not be empty")
        text = payload.get("text")
        if not isinstance(text, str) or not text or utf16_len(text) > TEXT_LIMIT:
            return self._bad_request(f"The text must be between 1 and {TEXT_LIMIT} characters")
        return self._sent_response(self._record_send(bot, "sendMessage", chat_id, text=text))

    async def _send_photo(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> Reply:
        chat_id = self._chat_id(payload)
        if chat_id is None:
            return self._bad_request("The chat_id must not be empty")
        photo = payload.get("photo")
        if not isinstance(photo, str) or not _is_http_url(photo):
            return self._bad_request("The photo must be an HTTP or HTTPS URL")
        caption = payload.get("caption")
        if caption is not None and (
            not isinstance(caption, str) or utf16_len(caption) > TEXT_LIMIT
        ):
            return self._bad_request(f"The caption must be at most {TEXT_LIMIT} characters")
        message_id = self._record_send(bot, "sendPhoto", chat_id, photo=photo, caption=caption)
        return self._sent_response(message_id)

    async def _send_sticker(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> Reply:
        chat_id = self._chat_id(payload)
        if chat_id is None:
            return self._bad_request("The chat_id must not be empty")
        sticker = payload.get("sticker")
        if not isinstance(sticker, str) or not sticker.strip():
            return self._bad_request("The sticker must not be empty")
        return self._sent_response(self._record_send(bot, "sendSticker", chat_id, sticker=sticker))

    async def _send_chat_action(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> Reply:
        if self._chat_id(payload) is None:
            return self._bad_request("The chat_id must not be empty")
        if payload.get("action") not in CHAT_ACTIONS:
            return self._bad_request("The action must be typing or upload_photo")
        self.chat_actions.append(ApiCall("sendChatAction", bot.id, payload, time.time()))
        return self._ok(with_result=False)

    async def _set_webhook(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> Reply:
        url = payload.get("url")
        secret = payload.get("secret_token")
        if not isinstance(url, str) or not _is_webhook_url(url):
            return self._bad_request("The url must be an HTTPS URL")
        if not isinstance(secret, str) or not 8 <= len(secret) <= 256:
            return self._bad_request("The secret_token must be 8-256 characters")
        bot.webhook_url = url
        bot.webhook_secret = secret
        bot.webhook_updated_at = now_ms()
        bot._signal.notify()
        return self._ok({"url": url, "updated_at": bot.webhook_updated_at})

    async def _delete_webhook(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> Reply:
        bot.webhook_url = ""
        bot.webhook_secret = ""
        bot.webhook_updated_at = now_ms()
        bot._signal.notify()
        return self._ok({"url": "", "updated_at": bot.webhook_updated_at})

    async def _get_webhook_info(
        self, bot: FakeBot, payload: dict[str, Any], request: HttpRequest
    ) -> Reply:
        if not bot.webhook_url:
            return self._error(404, "Not Found", 404)
        return self._ok({"url": bot.webhook_url, "updated_at": bot.webhook_updated_at})

    def _media_reply(self, name: str) -> Reply:
        self.media_requests.append(name)
        content, content_type = self._media.get(name) or (make_png(), "image/png")
        if content_type.startswith("text/") and "charset=" not in content_type.lower():
            content_type += "; charset=utf-8"
        return Reply(content, 200, content_type)

    async def _serve_media(self, request: Request) -> Response:
        """The Starlette route of the media files (requests the direct path did not take)."""
        return _starlette_response(self._media_reply(request.path_params["name"]))


def _is_http_url(value: str) -> bool:
    parts = urllib.parse.urlsplit(value.strip())
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_webhook_url(value: str) -> bool:
    parts = urllib.parse.urlsplit(value.strip())
    if parts.scheme == "https" and parts.hostname:
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _exchange_of(request: Request) -> HttpRequest:
    """The ``HttpRequest`` behind a Starlette request (its ``receive`` is the request's)."""
    receive = request.receive
    owner = receive.__self__ if isinstance(receive, types.MethodType) else None
    if not isinstance(owner, HttpRequest):
        raise TypeError("this request did not come through FakeZaloBotApi's server")
    return owner


def _starlette_response(reply: Reply) -> Response:
    response = Response(reply.body, status_code=reply.status, headers=dict(reply.headers))
    response.headers["content-type"] = reply.content_type
    return response
