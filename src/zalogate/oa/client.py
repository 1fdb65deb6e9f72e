"""``ZaloOA``: the OpenAPI calls of one Official Account.

Every call carries the access token in the ``access_token`` header (never ``Authorization``,
never the query); GET parameters are one JSON string in ``data=``. An answer is
``{"error": 0, "data": ...}``; anything else raises the typed error of ``errors``. An
``AccessTokenError`` makes the client refresh once (through its ``TokenSource``) and retry
the call once; a second one is raised.
"""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import httpx2

from zalogate.oa.errors import (
    AccessTokenError,
    FileTooLargeError,
    InvalidParameterError,
    InvalidRequestError,
    MalformedResponseError,
)
from zalogate.oa.wire import DEFAULT_TIMEOUT, OAHttp, body_error, check_base_url, parse_body

__all__ = [
    "DEFAULT_API_URL",
    "TEXT_LIMIT",
    "UPLOAD_LIMITS",
    "TokenSource",
    "UploadKind",
    "ZaloOA",
]

DEFAULT_API_URL = "https://openapi.zalo.me"
TEXT_LIMIT = 2000
"""Longest text of one consultation message."""
UploadKind = Literal["image", "gif", "file"]
UPLOAD_LIMITS: dict[str, int] = {
    "image": 1024 * 1024,
    "gif": 5 * 1024 * 1024,
    "file": 5 * 1024 * 1024,
}
"""Largest upload Zalo accepts per kind, in bytes."""
_UPLOAD_TYPES: dict[str, tuple[str, ...]] = {
    "image": (".jpg", ".jpeg", ".png"),
    "gif": (".gif",),
    "file": (".pdf", ".doc", ".docx", ".csv"),
}
_CS = "/v3.0/oa/message/cs"


class TokenSource(Protocol):
    """Where the client gets its access token (``oa.tokens.TokenKeeper``, or a fixed one)."""

    async def access_token(self) -> str: ...

    async def force_refresh(self, stale: str) -> str: ...


class ZaloOA:
    """The OpenAPI client of one OA.

    Args:
        tokens: hands out the access token and refreshes it.
        api_url: the OpenAPI host (tests: a ``FakeZaloOA``).
    """

    def __init__(
        self,
        tokens: TokenSource,
        *,
        api_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._tokens = tokens
        self._url = check_base_url(api_url, "api_url")
        self._http = OAHttp(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"ZaloOA(api_url={self._url!r})"

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    # ----------------------------------------------------------------- the seam

    async def call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        data: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Any:
        """One OpenAPI call; its ``data``. A token error: refresh once, call once more."""
        token = await self._tokens.access_token()
        try:
            return await self._once(method, path, token, data, body, files)
        except AccessTokenError:
            token = await self._tokens.force_refresh(token)
        return await self._once(method, path, token, data, body, files)

    async def _once(
        self,
        method: str,
        path: str,
        token: str,
        data: Mapping[str, Any] | None,
        body: Mapping[str, Any] | None,
        files: Mapping[str, tuple[str, bytes, str]] | None,
    ) -> Any:
        params = None
        if data is not None:
            params = {"data": json.dumps(data, ensure_ascii=False, separators=(",", ":"))}
        response = await self._http.send(
            method,
            self._url + path,
            call=path,
            headers={"access_token": token},
            params=params,
            json_body=body,
            files=files,
        )
        envelope = parse_body(path, response)
        if "error" not in envelope and 200 <= response.status_code <= 299:
            raise MalformedResponseError(path, "no error field in the answer")
        body_error(path, envelope, response.status_code)
        return envelope.get("data")

    # ----------------------------------------------------------------- messages

    async def send_text(self, user_id: str, text: str, *, quote: str | None = None) -> str:
        """Send a consultation text (≤ 2,000 characters); its message id.

        A quote Zalo refuses (``-201``: the quoted message expired or was deleted) is dropped
        and the text sent once more without it.
        """
        if not text or len(text) > TEXT_LIMIT:
            raise InvalidRequestError(f"a text must have 1 to {TEXT_LIMIT} characters")
        message: dict[str, Any] = {"text": text}
        if quote:
            message["quote_message_id"] = quote
        try:
            return await self._send(user_id, message)
        except InvalidParameterError:
            if not quote:
                raise
        return await self._send(user_id, {"text": text})

    async def send_image(
        self, user_id: str, attachment_id: str, *, caption: str | None = None
    ) -> str:
        """Send an uploaded image (``template``/``media``); its message id."""
        message: dict[str, Any] = {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "image", "attachment_id": attachment_id}],
                },
            }
        }
        if caption:
            message["text"] = caption[:TEXT_LIMIT]
        return await self._send(user_id, message)

    async def send_file(self, user_id: str, token: str) -> str:
        """Send an uploaded file by its upload ``token``; its message id."""
        return await self._send(
            user_id, {"attachment": {"type": "file", "payload": {"token": token}}}
        )

    async def _send(self, user_id: str, message: Mapping[str, Any]) -> str:
        data = await self.call(
            "POST", _CS, body={"recipient": {"user_id": user_id}, "message": message}
        )
        message_id = data.get("message_id") if isinstance(data, dict) else None
        if not isinstance(message_id, str) or not message_id:
            raise MalformedResponseError(_CS, "no data.message_id in the answer")
        return message_id

    async def react(self, user_id: str, message_id: str, icon: str) -> None:
        """React to a user's message (no quota); ``"/-remove"`` clears."""
        await self.call(
            "POST",
            "/v2.0/oa/message",
            body={
                "recipient": {"user_id": user_id},
                "sender_action": {"react_icon": icon, "react_message_id": message_id},
            },
        )

    # ----------------------------------------------------------------- uploads

    async def upload(self, kind: UploadKind, filename: str, content: bytes) -> str:
        """Upload media; the ``attachment_id`` (image, gif) or ``token`` (file) to send it with.

        Raises:
            FileTooLargeError: above ``UPLOAD_LIMITS[kind]`` (nothing is sent).
            InvalidRequestError: a file name without an extension Zalo takes for ``kind``.
        """
        limit = UPLOAD_LIMITS[kind]
        if len(content) > limit:
            raise FileTooLargeError(
                f"a {kind} upload may have at most {limit // (1024 * 1024)} MB "
                f"({len(content)} bytes given)"
            )
        if not filename.lower().endswith(_UPLOAD_TYPES[kind]):
            allowed = ", ".join(_UPLOAD_TYPES[kind])
            raise InvalidRequestError(f"a {kind} upload must be one of {allowed}")
        mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        path = f"/v2.0/oa/upload/{kind}"
        data = await self.call("POST", path, files={"file": (filename, content, mime)})
        key = "token" if kind == "file" else "attachment_id"
        value = data.get(key) or data.get("attachment_id") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value:
            raise MalformedResponseError(path, f"no data.{key} in the answer")
        return value

    # ----------------------------------------------------------------- look-ups

    async def get_oa(self) -> dict[str, Any]:
        """The OA's own profile (``oa_id``, ``name``, ...)."""
        return _object(await self.call("GET", "/v2.0/oa/getoa"), "/v2.0/oa/getoa")

    async def user_detail(self, user_id: str) -> dict[str, Any]:
        """A user's profile (``display_name``, ``user_is_follower``, ...)."""
        path = "/v3.0/oa/user/detail"
        return _object(await self.call("GET", path, data={"user_id": user_id}), path)

    async def followers(self, offset: int = 0, count: int = 50) -> dict[str, Any]:
        """One page of followers: ``{total, count, offset, users: [{user_id}]}`` (count ≤ 50)."""
        path = "/v3.0/oa/user/getlist"
        page = {"offset": offset, "count": min(count, 50)}
        return _object(await self.call("GET", path, data=page), path)

    async def recent_chats(self, offset: int = 0, count: int = 10) -> list[dict[str, Any]]:
        """The latest messages over all users (count ≤ 10), newest first."""
        path = "/v2.0/oa/listrecentchat"
        page = {"offset": offset, "count": min(count, 10)}
        return _rows(await self.call("GET", path, data=page), path)

    async def conversation(
        self, user_id: str, offset: int = 0, count: int = 10
    ) -> list[dict[str, Any]]:
        """The latest messages with one user (count ≤ 10), newest first."""
        path = "/v2.0/oa/conversation"
        page = {"user_id": user_id, "offset": offset, "count": min(count, 10)}
        return _rows(await self.call("GET", path, data=page), path)


def _object(data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise MalformedResponseError(path, "data is not an object")
    return data


def _rows(data: Any, path: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise MalformedResponseError(path, "data is not a list")
    return [row for row in data if isinstance(row, dict)]
