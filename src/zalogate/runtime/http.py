"""The gateway's HTTP server: ``/healthz``, the control endpoint (``/control/...``, see
:mod:`zalogate.runtime.control`) and the routes channels mount (webhooks, media).

A starlette app served by an embedded uvicorn server on the running event loop. Channels see
it as a :class:`zalogate.core.channel.RouteRegistrar`: ``mount(path, app)`` serves ``app`` for
``path`` and everything below it (the longest mounted prefix wins; the app receives the
request scope unchanged, with the full path), ``unmount(path)`` removes it. Anything else is
404. ``/healthz`` and everything at or below ``/control`` are reserved: ``mount`` refuses them
and a root mount (``/``) never receives them. The server binds its socket itself, so port 0
works and :attr:`HttpServer.port` is the real port, and a busy port fails ``start()`` with an
ordinary ``OSError``.

Abuse limits (:mod:`zalogate.runtime.http_guard`): a connection must send a request head
within 8 s, at most 256 connections per client address and 768 in all (the oldest idle one
is closed to make room), keep-alive connections close after 5 s idle. While the gateway is
still starting (``warming``), a path nothing serves yet answers 503 with ``Retry-After: 1``
instead of 404, so that Zalo retries a webhook delivery that came too early.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import socket
import threading
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zalogate import __version__
from zalogate.core.channel import ASGIApp, Receive, Scope, Send
from zalogate.runtime.control import (
    ACTIONS,
    CONTROL_PREFIX,
    AccountControl,
    ControlUnavailableError,
    InboxControl,
    MessageControl,
    MessageRequest,
    SendRefusedError,
    UnknownAccountError,
    bearer_matches,
    client_refusal,
    is_control_path,
)
from zalogate.runtime.endpoint import DEFAULT_HOST, DEFAULT_PORT, HEALTH_PATH
from zalogate.runtime.http_guard import ConnectionGuard, guarded_protocol
from zalogate.runtime.logging import redact
from zalogate.runtime.status import AccountStatus

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "HEALTH_PATH", "HttpServer", "RouteConflictError"]


log = logging.getLogger(__name__)

StatusSource = Callable[[], Sequence[AccountStatus]]

_RESOLVED_MAX = 256
"""Exact paths whose route is remembered (the rest are looked up each time)."""
_MAX_CONTROL_BODY = 4096
_MAX_MESSAGE_BODY = 1024 * 1024
_MAX_REASON_CHARS = 200
_NO_STORE = {"Cache-Control": "no-store"}
CONSOLE_PATH = "/console"
METRICS_PATH = "/metrics"
_ANY_METHOD = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class RouteConflictError(ValueError):
    """``mount`` was asked for a path that is already served."""


def _normalise(path: str) -> str:
    path = path.strip()
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return path


class _Router:
    """Dispatches to the longest mounted prefix, else to the built-in starlette app.

    ``mount``/``unmount`` replace the mapping (copy on write, under a lock); a request reads
    whichever mapping is current without locking or copying, and remembers the app found for
    an exact path until the next change (a webhook path is looked up once, not per request).
    """

    def __init__(self, fallback: ASGIApp) -> None:
        self._fallback = fallback
        self.warming: Callable[[], bool] = lambda: False
        self._mounts: dict[str, ASGIApp] = {}
        self._names: dict[str, str | None] = {}
        self._resolved: dict[str, ASGIApp | None] = {}
        self._lock = threading.Lock()

    def mount(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        path = _normalise(path)
        if path == HEALTH_PATH or path.startswith(HEALTH_PATH + "/"):
            raise RouteConflictError(f"{path} is reserved for the health check")
        if is_control_path(path):
            raise RouteConflictError(f"{path} is reserved for the gateway control endpoint")
        with self._lock:
            if path in self._mounts:
                raise RouteConflictError(f"an app is already mounted at {path}")
            self._mounts = {**self._mounts, path: app}
            self._names[path] = name
            self._resolved = {}

    def unmount(self, path: str) -> None:
        path = _normalise(path)
        with self._lock:
            if path in self._mounts:
                self._mounts = {key: app for key, app in self._mounts.items() if key != path}
            self._names.pop(path, None)
            self._resolved = {}

    def mounted(self) -> dict[str, str | None]:
        with self._lock:
            return dict(self._names)

    def resolve(self, path: str) -> ASGIApp | None:
        resolved = self._resolved  # read once: a concurrent mount replaces the dict
        try:
            return resolved[path]
        except KeyError:
            pass
        app = self._lookup(self._mounts, path)
        if len(resolved) < _RESOLVED_MAX:  # bounded: paths come from clients
            resolved[path] = app
        return app

    @staticmethod
    def _lookup(mounts: dict[str, ASGIApp], path: str) -> ASGIApp | None:
        if path == HEALTH_PATH or is_control_path(path):
            return None  # the built-in app's, even with a root mount
        candidate = path.rstrip("/") or "/"
        while True:
            app = mounts.get(candidate)
            if app is not None:
                return app
            if candidate == "/":
                return None
            candidate = candidate.rsplit("/", 1)[0] or "/"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = None
        if scope["type"] in ("http", "websocket"):
            path = scope.get("path", "/")
            app = self.resolve(path)
            if app is None and self.warming() and not _builtin(path):
                app = _starting
        await (app or self._fallback)(scope, receive, send)


def _builtin(path: str) -> bool:
    return path == HEALTH_PATH or is_control_path(path)


async def _starting(scope: Scope, receive: Receive, send: Send) -> None:
    """503 for a path that may be mounted in a moment (a webhook while its account starts)."""
    if scope["type"] != "http":
        return
    body = b"Service Unavailable: starting"
    headers = [(b"content-type", b"text/plain"), (b"retry-after", b"1")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the gateway and reports readiness."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        # The gateway owns SIGINT/SIGTERM; uvicorn must not replace (and re-raise) them.
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self.ready.set()


class HttpServer:
    """The gateway's HTTP server; also the :class:`RouteRegistrar` handed to channels.

    Args:
        host: Address to bind (default loopback).
        port: Port to bind; 0 picks a free one (read it from :attr:`port` after ``start``).
        status: Returns the account records shown by ``/healthz``.
        shutdown_timeout: Seconds to let open requests finish on ``stop``.
        guard: Connection limits (default: :class:`ConnectionGuard`'s).
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        *,
        status: StatusSource | None = None,
        shutdown_timeout: float = 5.0,
        guard: ConnectionGuard | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self._bound_port: int | None = None
        self._status = status or (lambda: ())
        self._shutdown_timeout = shutdown_timeout
        self._control: AccountControl | None = None
        self._messages: MessageControl | None = None
        self._inbox: InboxControl | None = None
        self._control_token = ""
        self._health: dict[str, Callable[[], Any]] = {}
        builtin = Starlette(
            routes=[
                Route(HEALTH_PATH, self._healthz, methods=["GET", "HEAD"]),
                # Every method: the handler answers a wrong one itself (405 as JSON).
                Route(CONTROL_PREFIX, self._control_request, methods=_ANY_METHOD),
                Route(CONTROL_PREFIX + "/{rest:path}", self._control_request, methods=_ANY_METHOD),
            ]
        )
        self._router = _Router(builtin)
        self.guard = guard or ConnectionGuard()
        self._server: _EmbeddedServer | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def app(self) -> ASGIApp:
        """The ASGI app (usable without a socket, e.g. with ``httpx2.ASGITransport``)."""
        return self._router

    @property
    def port(self) -> int:
        """The bound port once started, else the requested one."""
        return self._bound_port if self._bound_port is not None else self._requested_port

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        """True between a successful ``start`` and ``stop``."""
        return self._task is not None and not self._task.done()

    def mount(self, path: str, app: ASGIApp, *, name: str | None = None) -> None:
        """Serve ``app`` for ``path`` and every path below it.

        Raises:
            RouteConflictError: ``path`` is already mounted or reserved.
        """
        self._router.mount(path, app, name=name)
        log.debug("mounted %s (%s)", _normalise(path), name or "unnamed")

    def set_warming(self, warming: Callable[[], bool]) -> None:
        """While ``warming()`` is true, unserved paths answer 503 (``Retry-After: 1``)."""
        self._router.warming = warming

    def unmount(self, path: str) -> None:
        """Stop serving ``path``; no error if it is not mounted."""
        self._router.unmount(path)

    def mounted(self) -> dict[str, str | None]:
        """The mounted paths and their names."""
        return self._router.mounted()

    def serve_console(self, console: ASGIApp | None, metrics: ASGIApp | None) -> None:
        """Serve the operator console at ``/console`` and ``metrics`` at ``/metrics`` (None
        stops serving them); see :mod:`zalogate.console`."""
        for path, app in ((CONSOLE_PATH, console), (METRICS_PATH, metrics)):
            self._router.unmount(path)
            if app is not None:
                self._router.mount(path, app, name="operator")

    def add_health(self, name: str, source: Callable[[], Any]) -> None:
        """Show ``source()`` under ``name`` in ``/healthz`` (e.g. the scheduler's counters)."""
        self._health[name] = source

    def enable_control(
        self,
        control: AccountControl,
        token: str,
        *,
        messages: MessageControl | None = None,
        inbox: InboxControl | None = None,
    ) -> None:
        """Serve the control endpoint for ``control``, for requests bearing ``token``;
        ``messages`` also serves ``POST /control/messages/{channel}/{account}``, ``inbox``
        ``POST /control/inbox/retry``."""
        if not token:
            raise ValueError("the control endpoint needs a token")
        self._control, self._messages, self._control_token = control, messages, token
        self._inbox = inbox

    def disable_control(self) -> None:
        """Stop serving the control endpoint (it answers 404 again)."""
        self._control, self._messages, self._control_token = None, None, ""
        self._inbox = None

    async def start(self) -> None:
        """Bind the socket and serve in a background task; return once it accepts requests.

        Raises:
            OSError: The address could not be bound (e.g. the port is in use).
        """
        if self._task is not None:
            raise RuntimeError("the HTTP server was already started")
        try:
            sock = _bind(self.host, self._requested_port)
        except OSError as exc:
            where = f"{self.host}:{self._requested_port}"
            raise OSError(exc.errno, f"cannot listen on {where}: {exc.strerror or exc}") from exc
        self._bound_port = int(sock.getsockname()[1])
        config = uvicorn.Config(
            self._router,
            host=self.host,
            port=self._bound_port,
            log_config=None,
            lifespan="off",
            access_log=False,
            # The webhook decides itself which forwarded-for headers to believe (only from
            # ``gateway.trustedProxies``); uvicorn's middleware would trust 127.0.0.1 by
            # default and rewrite the client address before the webhook sees it. Off, it is
            # also one ASGI layer less per request.
            proxy_headers=False,
            server_header=False,
            http=guarded_protocol(self.guard),
            timeout_keep_alive=self.guard.idle_timeout,
            timeout_graceful_shutdown=max(1, math.ceil(self._shutdown_timeout)),
        )
        server = self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(server.serve(sockets=[sock]), name="zalogate-http")
        ready = asyncio.create_task(server.ready.wait())
        try:
            await asyncio.wait({ready, self._task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if not server.ready.is_set():
            task, self._task = self._task, None
            sock.close()
            await task  # re-raises what stopped the server from starting
            raise RuntimeError("the HTTP server stopped before it was ready")
        log.info("HTTP server listening on %s", self.url)

    async def stop(self) -> None:
        """Stop accepting requests, let open ones finish (bounded), then return."""
        task, server = self._task, self._server
        self._task = None
        if task is None or server is None:
            return
        server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=self._shutdown_timeout)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        log.info("HTTP server stopped")

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _healthz(self, request: Request) -> Response:
        accounts = [record.to_json() for record in self._status()]
        body: dict[str, Any] = {"ok": True, "version": __version__, "accounts": accounts}
        for name, source in self._health.items():
            body[name] = source()
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def _control_request(self, request: Request) -> Response:
        """``POST /control/accounts/{channel}/{account}/{restart|stop}`` and
        ``POST /control/messages/{channel}/{account}``.

        Checked in this order: loopback client without forwarding headers (403), a known
        path shape (404), the method (405), the bearer token (401), the body (400, 413), the
        account (404).
        """
        client = request.client
        refusal = client_refusal(client.host if client else None, request.headers)
        if refusal is not None:
            return _control_error(403, refusal)
        control, messages, token = self._control, self._messages, self._control_token
        parts = request.url.path.removeprefix(CONTROL_PREFIX).strip("/").split("/")
        is_account = len(parts) == 4 and parts[0] == "accounts"
        is_message = len(parts) == 3 and parts[0] == "messages" and messages is not None
        inbox = self._inbox if parts == ["inbox", "retry"] else None
        if control is None or not (is_account or is_message or inbox is not None):
            return _control_error(404, "no such control endpoint")
        if request.method != "POST":
            return _control_error(405, "use POST", headers={"Allow": "POST"})
        if not bearer_matches(request.headers.get("authorization"), token):
            return _control_error(
                401, "a valid bearer token is required", headers={"WWW-Authenticate": "Bearer"}
            )
        if messages is not None and is_message:
            return await self._message_request(messages, parts[1], parts[2], request)
        if inbox is not None:
            return await _inbox_retry_request(inbox, request)
        _, channel, account, action = parts  # the ASGI path is already percent-decoded
        if action not in ACTIONS:
            return _control_error(404, f"unknown action {action!r} (use restart or stop)")
        reason = _stop_reason(await _read_body(request, _MAX_CONTROL_BODY))
        try:
            if action == "restart":
                record = await control.restart_account(channel, account)
            else:
                record = await control.stop_account(channel, account, reason=reason)
        except Exception as exc:
            return _control_failure(exc, f"{action} of {channel}/{account}")
        log.info("control: %s %s/%s -> %s", action, channel, account, record.state.value)
        return JSONResponse(
            {"ok": True, "action": action, "account": record.to_json()}, headers=_NO_STORE
        )

    async def _message_request(
        self, messages: MessageControl, channel: str, account: str, request: Request
    ) -> Response:
        """Validate the body, send through the running account, answer the receipt."""
        body = await _read_body(request, _MAX_MESSAGE_BODY)
        if body is None:
            return _control_error(413, f"the body is larger than {_MAX_MESSAGE_BODY} bytes")
        try:
            data = json.loads(body) if body.strip() else None
        except ValueError:
            return _control_error(400, "the body is not valid JSON")
        try:
            wanted = MessageRequest.from_json(data)
        except ValueError as exc:
            return _control_error(400, str(exc))
        try:
            account_id, receipt = await messages.send_message(channel, account, wanted)
        except SendRefusedError as exc:
            answer = {"ok": False, "error": redact(str(exc)), "messageIds": list(exc.message_ids)}
            return JSONResponse(answer, status_code=502, headers=_NO_STORE)
        except Exception as exc:
            return _control_failure(exc, f"send through {channel}/{account}")
        log.info(
            "control: sent %d message(s) through %s/%s",
            len(receipt.message_ids),
            channel,
            account_id,
        )
        return JSONResponse(
            {
                "ok": True,
                "channel": channel,
                "accountId": account_id,
                "target": wanted.target,
                "messageIds": list(receipt.message_ids),
            },
            headers=_NO_STORE,
        )


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The request body, or None when it is longer than ``limit`` bytes (read no further)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _inbox_retry_request(inbox: InboxControl, request: Request) -> Response:
    """``{"ids": [...]}`` or ``{"allDead": true}`` -> ``{"ok": true, "requeued": n}``."""
    body = await _read_body(request, _MAX_CONTROL_BODY * 16)
    try:
        data = json.loads(body) if body else None
    except ValueError:
        data = None
    ids = data.get("ids") if isinstance(data, dict) else None
    all_dead = isinstance(data, dict) and data.get("allDead") is True
    if not isinstance(ids, list) or not all(type(i) is int for i in ids):
        return _control_error(400, 'the body must be {"ids": [<entry id>, ...]} or allDead')
    try:
        requeued = await inbox.retry_inbox(ids, all_dead=all_dead)
    except Exception as exc:
        return _control_failure(exc, "inbox retry")
    log.info("control: requeued %d inbox entr(y/ies)", requeued)
    return JSONResponse({"ok": True, "requeued": requeued}, headers=_NO_STORE)


def _control_failure(exc: Exception, what: str) -> JSONResponse:
    """The answer to a control action that raised (call it in the ``except`` block)."""
    if isinstance(exc, UnknownAccountError):
        return _control_error(404, str(exc))
    if isinstance(exc, ControlUnavailableError):
        return _control_error(409, str(exc))
    # The gateway's bug: answer, and log it without the request.
    log.exception("control %s failed", what)
    return _control_error(500, f"{type(exc).__name__}: {redact(str(exc))}")


def _stop_reason(body: bytes | None) -> str | None:
    """The optional ``{"reason": "..."}`` of a request body (anything else is ignored)."""
    if body is None or not body.strip():
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    reason = data.get("reason") if isinstance(data, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        return None
    return " ".join(reason.split())[:_MAX_REASON_CHARS]


def _control_error(
    status: int, message: str, *, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"ok": False, "error": redact(message)},
        status_code=status,
        headers={**_NO_STORE, **(headers or {})},
    )


def _bind(host: str, port: int) -> socket.socket:
    """Create a listening-ready TCP socket bound to (host, port)."""
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    last_error: OSError | None = None
    for family, kind, proto, _name, address in infos:
        sock = socket.socket(family, kind, proto)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
        except OSError as exc:
            sock.close()
            last_error = exc
            continue
        return sock
    raise last_error or OSError(f"cannot bind {host}:{port}")
