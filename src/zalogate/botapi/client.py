"""``ZaloBot``: an async client for the official Zalo Bot API.

Every request goes through one seam, ``ZaloBot._call``: ``POST <base>/bot<TOKEN>/<method>``
with a JSON body, and ``check_response`` turns the answer (``{ok, result, error_code,
description}`` or an HTTP error) into a result or a typed exception (see ``errors``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import urllib.parse
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

import httpx2
from pydantic import BaseModel, ValidationError

from zalogate.botapi.errors import (
    ApiError,
    ApiTimeoutError,
    ConfigurationError,
    MalformedResponseError,
    NetworkError,
    NotFoundError,
    RateLimitedError,
    RequestTimeoutError,
    UnsafeUrlError,
    ZaloBotError,
    api_error_class,
)
from zalogate.botapi.models import BotInfo, SentMessage, Update, WebhookInfo
from zalogate.botapi.redaction import install_httpx_log_filter, mask_token, redact
from zalogate.net.answer import Answer, error_code_of
from zalogate.net.tls import shared_tls_context
from zalogate.net.transport import LeanTransport, maybe_sent
from zalogate.net.urlguard import UnsafeUrlError as RefusedUrlError
from zalogate.net.urlguard import UrlGuard
from zalogate.text import truncate_utf16

__all__ = [
    "CAPTION_LIMIT",
    "DEFAULT_BASE_URL",
    "DEFAULT_TIMEOUT",
    "POLL_GRACE",
    "SEND_PHOTO_TIMEOUT",
    "ZaloBot",
    "check_response",
    "resolve_base_url",
]

DEFAULT_BASE_URL = "https://bot-api.zaloplatforms.com"
"""Used when neither ``base_url=`` nor env ``ZALO_API_URL`` is given."""
DEFAULT_TIMEOUT = 30.0
"""Seconds before any call gives up (unless the call has its own deadline)."""
POLL_GRACE = 5.0
"""``getUpdates`` gives up ``timeout + POLL_GRACE`` seconds after it started."""
SEND_PHOTO_TIMEOUT = 150.0
"""``sendPhoto`` deadline: Zalo fetches the photo before it answers."""
CAPTION_LIMIT = 2000
"""Longest caption Zalo accepts, in UTF-16 code units."""

_JSON_HEADERS = {"Content-Type": "application/json"}
_RAW_JSON_HEADERS = (
    ("Content-Type", "application/json"),
    ("Accept", "*/*"),
    ("Accept-Encoding", "gzip, deflate"),
    ("User-Agent", "zalogate-botapi"),
)


_FORM_ONLY = UrlGuard(allow_private=True)
_M = TypeVar("_M", bound=BaseModel)
_log = logging.getLogger(__name__)


def resolve_base_url(base_url: str | None = None, env: Mapping[str, str] | None = None) -> str:
    """The API base URL: ``base_url``, else env ``ZALO_API_URL``, else ``DEFAULT_BASE_URL``.

    Raises:
        ConfigurationError: the URL is empty, not absolute http(s), or has a query/fragment.
    """
    environ = os.environ if env is None else env
    source = "base_url"
    if base_url is None:
        base_url = environ.get("ZALO_API_URL")
        source = "ZALO_API_URL"
        if base_url is None:
            return DEFAULT_BASE_URL
    value = base_url.strip()
    if not value:
        raise ConfigurationError(f"{source} must not be empty.")
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        raise ConfigurationError(f"{source} must be a valid URL.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigurationError(f"{source} must use http:// or https://.")
    if not parts.netloc:
        raise ConfigurationError(f"{source} must be a valid URL.")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ConfigurationError(f"{source} must not include a query string or fragment.")
    return value.rstrip("/")


def _retry_after(response: Answer) -> float | None:
    header = response.headers.get("retry-after")
    if header is None:
        return None
    try:
        return max(0.0, float(header))
    except ValueError:
        return None


def _raise_api_error(
    method: str,
    code: int | None,
    description: str,
    response: Answer,
) -> ApiError:
    status = response.status_code
    cls = api_error_class(code if code is not None else status)
    if cls is RateLimitedError:
        return RateLimitedError(
            method, code, description, status_code=status, retry_after=_retry_after(response)
        )
    return cls(method, code, description, status_code=status)


def check_response(method: str, response: Answer, *, token: str | None = None) -> Any:
    """The ``result`` of a Bot API answer, or the typed error it stands for.

    HTTP 2xx with ``ok: true`` gives ``result`` (``None`` when absent). ``ok: false`` (with any
    status) raises the ``ApiError`` subclass for ``error_code`` (a number or a numeric string);
    a non-2xx answer without an envelope (e.g. an nginx HTML 429 or 502 page) raises the one for
    the HTTP status; a 2xx answer without an envelope raises ``MalformedResponseError``.
    Any text taken from the answer is passed through ``redact`` first.
    """
    status = response.status_code
    success = 200 <= status <= 299
    envelope: object
    try:
        envelope = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        envelope = None
    if not isinstance(envelope, dict) or not isinstance(envelope.get("ok"), bool):
        if success:
            raise MalformedResponseError(
                method, f"malformed response (HTTP {status})", status_code=status
            )
        raise _raise_api_error(method, None, response.reason_phrase or f"HTTP {status}", response)
    if envelope["ok"] and success:
        return envelope.get("result")
    code = error_code_of(envelope.get("error_code"))
    if code is None and not success:
        code = status
    raw_description = envelope.get("description")
    if isinstance(raw_description, str) and raw_description.strip():
        description = redact(raw_description.strip(), token)
    else:
        description = response.reason_phrase or f"Zalo API error: {method}"
    raise _raise_api_error(method, code, description, response)


def _parse(model: type[_M], result: object, method: str) -> _M:
    if not isinstance(result, dict):
        kind = type(result).__name__
        raise MalformedResponseError(method, f"expected an object result, got {kind}")
    try:
        return model.model_validate(result)
    except ValidationError as exc:
        # The validation text would quote the payload; keep the field paths only.
        fields = ", ".join(".".join(str(p) for p in err["loc"]) for err in exc.errors())
        raise MalformedResponseError(method, f"unexpected result shape ({fields})") from None


class ZaloBot:
    """Async client for one Zalo bot token.

    Use as ``async with ZaloBot(token) as bot: me = await bot.get_me()``. The token is never
    shown: ``repr(bot)``, error messages and log lines carry ``mask_token(token)`` at most.

    Args:
        token: the bot token (``"<bot id>:<secret>"``).
        base_url: API base URL; default env ``ZALO_API_URL``, else ``DEFAULT_BASE_URL``.
        proxy: optional proxy URL for every call (not with ``client``).
        timeout: default per-call deadline in seconds.
        max_connections: connection pool size of the internal client (all kept alive: a
            larger pool, or one that closes and reopens connections, is slower). At most this
            many calls are handed to the pool at once; the others wait their turn here.
        client: an ``httpx2.AsyncClient`` to use (not closed by ``aclose``).
        transport: a transport for the internally created client (tests: ``MockTransport``).
        photo_guard: the SSRF check for ``send_photo`` URLs (default: public hosts only;
            ``UrlGuard(allow_loopback=True)`` for a bot talking to a fake on 127.0.0.1).
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str | None = None,
        proxy: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_connections: int = 20,
        client: httpx2.AsyncClient | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        photo_guard: UrlGuard | None = None,
    ) -> None:
        token = token.strip()
        if not token:
            raise ConfigurationError("No Zalo bot token provided.")
        if any(c.isspace() or c in "/?#%" for c in token):
            raise ConfigurationError("The Zalo bot token contains characters a token cannot hold.")
        if client is not None and (proxy or transport is not None):
            raise ConfigurationError("Pass either client= or proxy=/transport=, not both.")
        self._token = token
        self._base_url = resolve_base_url(base_url)
        self._timeout = timeout
        self._photo_guard = photo_guard or UrlGuard()
        proxy = proxy.strip() if proxy else None
        install_httpx_log_filter()
        # Without a proxy or a test transport, calls go straight to the lean pool (no httpx2
        # client layer: ~0.2 ms of CPU less per call); the httpx2 client stays for the rest.
        self._lean: LeanTransport | None = None
        if client is None:
            if transport is None and not proxy:
                transport = self._lean = LeanTransport(
                    ssl_context=shared_tls_context(), max_connections=max_connections
                )
            try:
                client = httpx2.AsyncClient(
                    proxy=proxy or None,
                    transport=transport,
                    verify=shared_tls_context(),
                    limits=httpx2.Limits(
                        max_connections=max_connections,
                        max_keepalive_connections=max_connections,
                    ),
                )
            except (ValueError, httpx2.InvalidURL, httpx2.UnsupportedProtocol):
                raise ConfigurationError("The proxy URL is not usable.") from None
            except ImportError:
                raise ConfigurationError("SOCKS proxies need the socksio package.") from None
            self._owns_client = True
        else:
            self._owns_client = False
        self._client = client
        # httpx2's own pool (proxy, test transports) rescans every queued request on each one
        # it assigns or finishes, so a burst of sends costs O(queue) CPU per call: calls beyond
        # the pool size wait on this semaphore instead. LeanTransport queues its waiters itself.
        self._slots = (
            asyncio.Semaphore(max_connections) if self._owns_client and self._lean is None else None
        )
        # Parsing the method URL costs ~40 µs per call in httpx2; it is the same every time.
        self._urls: dict[str, httpx2.URL] = {}

    def __repr__(self) -> str:
        return f"ZaloBot(token={mask_token(self._token)!r}, base_url={self._base_url!r})"

    @property
    def base_url(self) -> str:
        """The API base URL in use (no trailing slash)."""
        return self._base_url

    @property
    def bot_id(self) -> str | None:
        """The public numeric id at the start of the token, if it has one."""
        bot_id, sep, _ = self._token.partition(":")
        return bot_id if sep and bot_id.isdigit() else None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client if this bot created it."""
        if self._owns_client:
            await self._client.aclose()

    async def _call(
        self,
        method: str,
        payload: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - an HTTP deadline handed to httpx2, not a wait
    ) -> Any:
        """POST one Bot API method and return its ``result`` (the only request seam).

        Raises:
            TransportError: no usable answer (timeout, connection failure).
            ApiError: the API refused the call.
            MalformedResponseError: the answer was not a Bot API envelope.
        """
        deadline = self._timeout if timeout is None else timeout
        content = (
            b""
            if payload is None
            else json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        )
        slots = self._slots
        if slots is not None:
            if slots.locked():
                try:
                    async with asyncio.timeout(deadline):
                        await slots.acquire()
                except TimeoutError:
                    # What the pool itself would say when no connection frees up in time.
                    raise RequestTimeoutError(
                        method, f"no answer within {deadline:g} s (PoolTimeout)", maybe_sent=False
                    ) from None
            else:
                await slots.acquire()  # a free slot: returns at once
        error: ZaloBotError
        # The httpx2 exception is not chained: its message, request and traceback hold the URL
        # (and so the token). The error is raised outside the ``except`` block for that reason.
        try:
            response: Answer
            if self._lean is not None:
                response = await self._lean.request(
                    "POST",
                    f"{self._base_url}/bot{self._token}/{method}",
                    _RAW_JSON_HEADERS,
                    content,
                    timeout=deadline,
                )
            else:
                url = self._urls.get(method)
                if url is None:
                    url = self._urls[method] = httpx2.URL(
                        f"{self._base_url}/bot{self._token}/{method}"
                    )
                response = await self._client.post(
                    url, content=content, headers=_JSON_HEADERS, timeout=deadline
                )
        except httpx2.TimeoutException as exc:
            error = RequestTimeoutError(
                method,
                f"no answer within {deadline:g} s ({type(exc).__name__})",
                maybe_sent=maybe_sent(exc),
            )
        except (httpx2.HTTPError, httpx2.InvalidURL) as exc:
            detail = redact(str(exc), self._token)
            error = NetworkError(
                method,
                f"{type(exc).__name__}: {detail}".rstrip(": "),
                maybe_sent=maybe_sent(exc),
            )
        else:
            return check_response(method, response, token=self._token)
        finally:
            if slots is not None:
                slots.release()
        _log.debug("Zalo %s failed: %s", method, error)
        raise error

    async def get_me(self, *, request_timeout: float | None = None) -> BotInfo:
        """``getMe``: the bot's id and account name (a cheap token check)."""
        result = await self._call("getMe", timeout=request_timeout)
        return _parse(BotInfo, result, "getMe")

    async def get_updates(
        self,
        timeout: int = 30,  # noqa: ASYNC109 - Zalo's long-poll window, sent in the request
        *,
        request_timeout: float | None = None,
    ) -> Update | None:
        """``getUpdates``: long-poll for ONE update; None when nobody wrote in time.

        Zalo answers an empty poll with ``error_code`` 408 (HTTP 408 or 200, the code as a number
        or a string) or with ``ok: true`` and an empty result; all of these give None. There are
        no offsets: an answered update is consumed.

        Args:
            timeout: seconds Zalo may hold the poll (sent as a string, as Zalo documents).
            request_timeout: client deadline; default ``timeout + POLL_GRACE``.
        """
        deadline = timeout + POLL_GRACE if request_timeout is None else request_timeout
        try:
            result = await self._call("getUpdates", {"timeout": str(timeout)}, timeout=deadline)
        except ApiTimeoutError:
            return None
        if not result:
            return None
        return _parse(Update, result, "getUpdates")

    async def send_message(
        self, chat_id: str, text: str, *, request_timeout: float | None = None
    ) -> SentMessage:
        """``sendMessage``: plain text (Zalo accepts 1-2000 characters; chunk before calling)."""
        result = await self._call(
            "sendMessage", {"chat_id": chat_id, "text": text}, timeout=request_timeout
        )
        return _parse(SentMessage, result, "sendMessage")

    async def send_photo(
        self,
        chat_id: str,
        photo: str,
        caption: str | None = None,
        *,
        request_timeout: float | None = None,
        trusted_url: bool = False,
    ) -> SentMessage:
        """``sendPhoto``: an image by absolute http(s) URL (Zalo fetches it).

        The caption is cut to ``CAPTION_LIMIT`` UTF-16 units. The URL must be absolute http(s)
        and its host must resolve to public addresses (``photo_guard``), so that Zalo is never
        pointed at a private network on our behalf. ``trusted_url=True`` skips the address
        check (not the form check) for a URL the caller made itself, e.g. its own hosted media
        (its public name may resolve to a private address inside the caller's network).

        Raises:
            InvalidRequestError: ``photo`` is not an absolute http(s) URL, or the guard refused
                its host (``UnsafeUrlError``); nothing is sent.
        """
        # The URL is not quoted in errors: hosted-media URLs carry an access token.
        guard = _FORM_ONLY if trusted_url else self._photo_guard
        try:
            photo = await guard.check(photo, what="Zalo photo URL")
        except RefusedUrlError as exc:
            raise UnsafeUrlError(str(exc)) from None
        payload: dict[str, str] = {"chat_id": chat_id, "photo": photo}
        if caption:
            payload["caption"] = truncate_utf16(caption, CAPTION_LIMIT)
        deadline = SEND_PHOTO_TIMEOUT if request_timeout is None else request_timeout
        result = await self._call("sendPhoto", payload, timeout=deadline)
        return _parse(SentMessage, result, "sendPhoto")

    async def send_sticker(
        self, chat_id: str, sticker: str, *, request_timeout: float | None = None
    ) -> SentMessage:
        """``sendSticker``: a sticker by its id (from stickers.zaloapp.com)."""
        result = await self._call(
            "sendSticker", {"chat_id": chat_id, "sticker": sticker}, timeout=request_timeout
        )
        return _parse(SentMessage, result, "sendSticker")

    async def send_chat_action(
        self, chat_id: str, action: str = "typing", *, request_timeout: float | None = None
    ) -> None:
        """``sendChatAction``: show ``"typing"`` (or ``"upload_photo"``) in the chat."""
        await self._call(
            "sendChatAction", {"chat_id": chat_id, "action": action}, timeout=request_timeout
        )

    async def set_webhook(
        self, url: str, secret_token: str, *, request_timeout: float | None = None
    ) -> WebhookInfo:
        """``setWebhook``: Zalo will POST updates to ``url`` with ``X-Bot-Api-Secret-Token``.

        Zalo wants an HTTPS URL and an 8-256 character secret; it checks both itself.
        """
        result = await self._call(
            "setWebhook", {"url": url, "secret_token": secret_token}, timeout=request_timeout
        )
        return WebhookInfo() if not result else _parse(WebhookInfo, result, "setWebhook")

    async def delete_webhook(self, *, request_timeout: float | None = None) -> WebhookInfo:
        """``deleteWebhook``: back to ``getUpdates`` polling."""
        result = await self._call("deleteWebhook", timeout=request_timeout)
        return WebhookInfo() if not result else _parse(WebhookInfo, result, "deleteWebhook")

    async def get_webhook_info(self, *, request_timeout: float | None = None) -> WebhookInfo:
        """``getWebhookInfo``; ``url == ""`` when no webhook is set.

        Zalo answers a bot without a webhook with 404 ``Not Found``; that gives an empty info.
        """
        try:
            result = await self._call("getWebhookInfo", timeout=request_timeout)
        except NotFoundError:
            return WebhookInfo()
        return WebhookInfo() if not result else _parse(WebhookInfo, result, "getWebhookInfo")
