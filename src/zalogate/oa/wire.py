"""``OAHttp``: the one request seam of the OA clients, and how an answer becomes a result.

Zalo says HTTP 200 for most errors: the body decides. An OpenAPI answer is
``{"error": 0, "message": "Success", "data": ...}``; an OAuth answer is the token object, or
``{"error": -14xxx, "error_name": ..., "error_reason": ...}``.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx2

from zalogate.net.answer import Answer, error_code_of
from zalogate.net.tls import shared_tls_context
from zalogate.net.transport import LeanTransport
from zalogate.oa.errors import (
    ConfigurationError,
    MalformedResponseError,
    NetworkError,
    RequestTimeoutError,
    api_error,
)

__all__ = ["DEFAULT_TIMEOUT", "OAHttp", "body_error", "check_base_url", "parse_body"]

DEFAULT_TIMEOUT = 30.0
"""Seconds before any call gives up."""


def check_base_url(value: str, name: str) -> str:
    """``value`` as an absolute http(s) base URL without trailing slash (``ConfigurationError``)."""
    text = value.strip()
    parts = urllib.parse.urlsplit(text)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        raise ConfigurationError(f"{name} must be an absolute http:// or https:// URL.")
    if parts.query or parts.fragment:
        raise ConfigurationError(f"{name} must not include a query string or fragment.")
    return text.rstrip("/")


def parse_body(call: str, response: Answer) -> dict[str, Any]:
    """The JSON object of an answer; an HTTP error status without one raises its ``ApiError``."""
    status = response.status_code
    try:
        body = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        body = None
    if isinstance(body, dict):
        return body
    if not 200 <= status <= 299:
        raise api_error(
            call, status, response.reason_phrase or f"HTTP {status}", status_code=status
        )
    raise MalformedResponseError(call, f"malformed response (HTTP {status})", status_code=status)


def body_error(call: str, body: Mapping[str, Any], status: int) -> None:
    """Raise the typed error a body with a non-zero ``error`` stands for (HTTP status aside)."""
    code = error_code_of(body.get("error"))
    if code is None or code == 0:
        if 200 <= status <= 299:
            return
        code = status
    parts = [
        str(body[key]).strip()
        for key in ("message", "error_name", "error_reason", "error_description")
        if isinstance(body.get(key), str) and str(body[key]).strip()
    ]
    description = "; ".join(dict.fromkeys(parts)) or f"error {code}"
    raise api_error(call, code, description[:300], status_code=status)


class OAHttp:
    """An ``httpx2`` client over ``LeanTransport`` (or the given test transport)."""

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx2.AsyncBaseTransport | None = None,
        max_connections: int = 20,
    ) -> None:
        self._timeout = timeout
        self._client = httpx2.AsyncClient(
            transport=transport
            or LeanTransport(ssl_context=shared_tls_context(), max_connections=max_connections),
            verify=shared_tls_context(),
            trust_env=False,
        )

    async def aclose(self) -> None:
        """Close the connections."""
        await self._client.aclose()

    async def send(
        self,
        method: str,
        url: str,
        *,
        call: str,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        json_body: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Answer:
        """One request; transport failures become ``TransportError`` (never retried here)."""
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "timeout": self._timeout}
        if params:
            kwargs["params"] = dict(params)
        if data is not None:
            kwargs["data"] = dict(data)
        if files is not None:
            kwargs["files"] = dict(files)
        if json_body is not None:
            kwargs["content"] = json.dumps(json_body, ensure_ascii=False, separators=(",", ":"))
            kwargs["headers"]["Content-Type"] = "application/json"
        try:
            return await self._client.request(method, url, **kwargs)
        except httpx2.TimeoutException:
            raise RequestTimeoutError(call, "timed out") from None
        except httpx2.HTTPError as exc:
            raise NetworkError(call, type(exc).__name__) from None
