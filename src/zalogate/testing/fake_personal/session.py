"""Session calls: the HTTP dispatch, ``params`` decryption, the strict checks, faults."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import functools
import json
import os
import re
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.routing import Route

from zalogate.testing.fake_personal import checks, wire
from zalogate.testing.fake_personal.login import LoginRoutes
from zalogate.testing.fake_personal.state import (
    COOKIE_SESSION,
    ERR_BAD_PARAMS,
    ERR_SESSION,
    ApiError,
    Call,
)
from zalogate.testing.http_server import HttpRequest


class SessionDispatch(LoginRoutes):
    """Every HTTP request: plain routes through Starlette, session calls straight."""

    _plain_methods: dict[str, str]
    _starlette: Starlette

    def _app(self) -> Starlette:
        routes = [
            Route(path, handler, methods=[method]) for path, handler, method in self._plain_routes()
        ]
        return Starlette(
            routes=[
                *routes,
                Route("/media/{media_id}", self._media, methods=["GET", "HEAD"]),
                Route("/{path:path}", self._session_call, methods=["GET", "POST"]),
            ]
        )

    async def _http_request(self, request: HttpRequest) -> None:
        """Answer one HTTP request: GET/POST session calls directly, the rest through the
        Starlette app (which routes them exactly as before, to the same handlers)."""
        method = request.method
        if method == "GET" or method == "POST":
            path = request.path
            if self._plain_methods.get(path) != method and not (
                path.startswith("/media/") and _MEDIA_ID.fullmatch(path, 7)
            ):
                await self._session_http(request)
                return
        await request.run_asgi(self._starlette)

    def _read_params(
        self, query: bytes, body: bytes | None, content_type: str
    ) -> tuple[str | None, list[tuple[str, bytes]]]:
        """The raw ``params`` value (query first, then a form body) and any uploaded files.

        ``body`` is ``None`` for a GET (whose body is never looked at). Same values as
        Starlette's ``query_params`` (last ``params`` wins) and ``parse_qs`` of the body
        (first wins), without parsing every other field.
        """
        files: list[tuple[str, bytes]] = []
        raw = _form_value(query.decode("latin-1"), "params", last=True) if query else None
        if body is not None:
            if content_type.startswith("multipart/form-data"):
                files = _multipart_files(content_type, body)
            elif raw is None:
                raw = _form_value(body.decode(), "params", last=False)
        return raw, files

    async def _session_http(self, request: HttpRequest) -> None:
        """Answer a session API call without Starlette (the hot path of a gateway: several
        calls per message); the same answer :meth:`_session_call` gives through it."""
        cookies: list[str] = []
        content_type = ""
        user_agent = ""
        for name, value in request.headers:
            if name == b"cookie":
                cookies.append(value.decode("latin-1"))
            elif name == b"content-type" and not content_type:
                content_type = value.decode("latin-1")
            elif name == b"user-agent" and not user_agent:
                user_agent = value.decode("latin-1")
        status, payload = await self._session_answer(
            request.method,
            request.path,
            _session_cookie(tuple(cookies)),
            user_agent,
            request.query,
            request.body if request.method == "POST" else None,
            content_type,
        )
        if self._faults and self._take_drop_after(request.path):
            request.abort()
            return
        request.respond(status, payload, b"application/json" if payload else None)

    async def _session_call(self, request: Request) -> Response:
        """A session call reaching Starlette (methods other than GET and POST)."""
        body = await request.body() if request.method == "POST" else None
        sek = _session_cookie(tuple(request.headers.getlist("cookie")))
        status, payload = await self._session_answer(
            request.method,
            request.url.path,
            sek,
            request.headers.get("user-agent", ""),
            request.scope["query_string"],
            body,
            request.headers.get("content-type", ""),
        )
        return Response(payload, status, media_type="application/json" if payload else None)

    async def _session_answer(
        self,
        method: str,
        url_path: str,
        sek: str | None,
        user_agent: str,
        query: bytes,
        body: bytes | None,
        content_type: str,
    ) -> tuple[int, bytes]:
        """Status and body answering a session call (JSON, or empty for an unknown path)."""
        path = "/" + url_path.strip("/")
        device = self._devices.get(sek) if sek else None
        if device is None or not device.keys:
            return 200, _error_body(ERR_SESSION, "zpw_sek bị thiếu hoặc không đúng")
        device.calls.append(path)
        handler = self._routes.get(path)
        if handler is None:
            return 404, b""
        raw, files = self._read_params(query, body, content_type)
        key = device.keys[-1]
        params: dict[str, Any] = {}
        if raw is not None:
            for candidate in reversed(device.keys):
                try:
                    params = wire.open_session_payload(candidate, raw)
                except (wire.WireError, ValueError):
                    continue
                key = candidate
                break
            else:
                return 200, _error_body(ERR_BAD_PARAMS, "cannot decrypt params")
        view = checks.SessionView(
            path,
            method,
            checks.query_fields(query),
            user_agent,
            device.user_agent,
            device.imei,
            params,
        )
        refused = checks.refusal(view, self.groups)
        wire_log = os.environ.get(WIRE_LOG_ENV)
        if wire_log:
            _log_wire(wire_log, view, refused)
        if refused is not None:
            return 200, _error_body(refused.code, refused.message)
        if self._faults:
            fault = self._fault_for(path)
            if fault is not None and fault.delay:
                await asyncio.sleep(fault.delay)
            error = self._fault_error(path)
        else:
            error = None
        if error is not None and error[2]:
            return 200, _error_body(error[0], error[1])
        call = Call(path, self.accounts[device.uid], device, key, params, files)
        try:
            if error is not None:
                raise ApiError(error[0], error[1])
            result = await handler(call)
            inner: dict[str, Any] = {
                "error_code": 0,
                "error_message": "Successful.",
                "data": result,
            }
        except ApiError as exc:
            inner = {"error_code": exc.code, "error_message": exc.message, "data": None}
        if path == "/keepalive":
            return 200, _json_body(inner)
        sealed = wire.seal_session_payload(key, inner)
        # = _json_body({"error_code": 0, "error_message": "", "data": sealed}): base64 needs
        # no JSON escaping.
        return 200, b'{"error_code":0,"error_message":"","data":"' + sealed.encode() + b'"}'


WIRE_LOG_ENV = "ZALOGATE_FAKE_WIRE_LOG"
"""When set, every session call's shape is appended to that file (``bench/protocol_drift.py``)."""


def _log_wire(path: str, view: checks.SessionView, refused: checks.Refusal | None) -> None:
    """One JSON line: method, path, the query and parameter names (with JSON types), the
    client version, and why the strict checks refused it (never a value: no secrets)."""
    line = {
        "method": view.method,
        "path": view.path,
        "query": sorted(k for k in view.query if k not in ("zpw_ver", "zpw_type")),
        "zpw_ver": view.query.get("zpw_ver"),
        "zpw_type": view.query.get("zpw_type"),
        "params": {k: type(v).__name__ for k, v in sorted(view.params.items())},
        "refused": refused.message if refused is not None else None,
    }
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


_MEDIA_ID = re.compile(r"[^/]+")  # Starlette's ``{media_id}`` (one non-empty path segment)


def _form_value(text: str, name: str, *, last: bool) -> str | None:
    """The value of field ``name`` in a query string or form body, decoded as ``parse_qsl``
    (``keep_blank_values``) decodes it; ``last`` picks the last of repeated fields."""
    found: str | None = None
    for pair in text.split("&"):
        key, eq, value = pair.partition("=")
        if not pair:
            continue
        if key != name and ("%" in key or "+" in key):
            key = unquote(key.replace("+", " "))
        if key != name:
            continue
        if not eq:
            value = ""
        value = value.replace("+", " ")
        found = wire.unquote_data(value) if "%" in value else value
        if not last:
            return found
    return found


@functools.lru_cache(maxsize=256)
def _session_cookie(headers: tuple[str, ...]) -> str | None:
    """``zpw_sek`` out of the ``Cookie`` headers, as Starlette's ``request.cookies`` reads it
    (cached: a client sends the same header with every call)."""
    cookies: dict[str, str] = {}
    for header in headers:
        cookies.update(cookie_parser(header))
    return cookies.get(COOKIE_SESSION)


_STARLETTE_JSON = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _json_body(obj: Any) -> bytes:
    """JSON the way Starlette's ``JSONResponse`` renders it."""
    return _STARLETTE_JSON.encode(obj).encode()


def _error_body(code: int, message: str) -> bytes:
    return _json_body({"error_code": code, "error_message": message, "data": None})


def _multipart_files(content_type: str, body: bytes) -> list[tuple[str, bytes]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    files: list[tuple[str, bytes]] = []
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            files.append((part.get_filename() or "", payload))
    return files
