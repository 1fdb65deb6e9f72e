"""The console's ASGI apps: ``/console`` (pages) and ``/metrics``, and their guard.

Every console request passes :meth:`Console.guard`: the client address (loopback unless a
password is set), the session cookie, and for state-changing requests the ``Origin`` and the
CSRF token. ``/metrics`` is open to loopback clients; others need the operator password
(HTTP basic or bearer) or a console session.
"""

from __future__ import annotations

import base64
import binascii
import importlib.resources
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from zalogate.console.auth import (
    COOKIE_NAME,
    ConsoleAuth,
    Session,
    SharedNotices,
    origin_matches,
)
from zalogate.console.i18n import LANGUAGES, pick_language, translator
from zalogate.console.login_flow import LoginFlow
from zalogate.console.logtail import LogTail
from zalogate.console.sessions import LoginThrottle, SessionStore, SqliteSessionStore
from zalogate.runtime.control import client_refusal, read_token_file
from zalogate.runtime.metrics import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from zalogate.runtime.gateway import Gateway

__all__ = ["Console", "Page"]

log = logging.getLogger("zalogate.console")

Page = Callable[[Request, Session], Awaitable[Response]]

_SAFE_METHODS = frozenset({"GET", "HEAD"})
_MAX_FORM = 64 * 1024
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self';"
        " connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}
_STATIC_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}


class Console:
    """The operator console of one running gateway.

    Args:
        gateway: The running gateway (accounts, store, takeover, sends).
        password: The operator password (``gateway.console.password``), or None.
    """

    def __init__(self, gateway: Gateway, *, password: str | None = None) -> None:
        self.gateway = gateway
        state_dir = gateway.state_dir
        self._key: str | None = None

        def key() -> str:
            if gateway.cluster is not None:  # one key for every node behind a load balancer
                return str(gateway.cluster.link_key)
            if self._key is None:
                self._key = read_token_file(state_dir) or ""
            return self._key

        store: SessionStore | None = None
        if gateway.cluster is not None:  # shared by every node behind the load balancer
            store = gateway.cluster.sessions
        elif gateway.store is not None:
            store = SqliteSessionStore(gateway.store)
        links = gateway.cluster.login_links if gateway.cluster is not None else None
        self.notices: SharedNotices | None = None
        """The notices after an action, kept with the session in a cluster (else in memory)."""
        if gateway.cluster is not None:
            self.notices = gateway.cluster.console_notices
        self.auth = ConsoleAuth(key, password=password, store=store, links=links)
        self.throttle = LoginThrottle()
        self.logs = LogTail()
        self.logs.attach()
        self.logins: dict[tuple[str, str], LoginFlow] = {}
        self.templates = Environment(
            loader=PackageLoader("zalogate.console", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._static = _load_static()
        from zalogate.console.cluster_page import cluster_routes
        from zalogate.console.views import routes

        own = [*routes(self), *cluster_routes(self), *self._own_routes()]
        self.app = Starlette(routes=own)
        self.metrics_app = Starlette(
            routes=[Route("/metrics", self._metrics, methods=["GET", "HEAD"])]
        )

    def _own_routes(self) -> list[BaseRoute]:
        return [
            Route("/console/login", self._login_page, methods=["GET"]),
            Route("/console/login", self._password_login, methods=["POST"]),
            Route("/console/static/{name}", self._static_file, methods=["GET", "HEAD"]),
            Route("/console/{rest:path}", self._not_found, methods=["GET", "HEAD", "POST"]),
        ]

    async def aclose(self) -> None:
        """Stop running logins and the log tail."""
        self.logs.detach()
        for flow in list(self.logins.values()):
            await flow.cancel()
        self.logins.clear()

    # -- guard ---------------------------------------------------------------------------

    def _client_refusal(self, request: Request) -> Response | None:
        client = request.client.host if request.client else None
        why = self.auth.refusal(client, request.headers)
        return PlainTextResponse(why, status_code=403, headers=_HEADERS) if why else None

    async def guard(self, request: Request, page: Page) -> Response:
        """Run ``page`` for a request that passed every check (see the module docstring)."""
        refused = self._client_refusal(request)
        if refused is not None:
            return refused
        session = await self.auth.lookup(request.cookies.get(COOKIE_NAME))
        if session is None:
            if request.method in _SAFE_METHODS and "text/html" in request.headers.get("accept", ""):
                return RedirectResponse("/console/login", status_code=303, headers=_HEADERS)
            return PlainTextResponse("log in first", status_code=401, headers=_HEADERS)
        if request.method not in _SAFE_METHODS:
            if not origin_matches(request.headers.get("origin"), request.headers.get("host")):
                return PlainTextResponse("cross-site request refused", 403, headers=_HEADERS)
            form = await read_form(request)
            given = request.headers.get("x-csrf-token") or form.get("csrf")
            if not self.auth.csrf_ok(session, given):
                return PlainTextResponse("missing or wrong CSRF token", 403, headers=_HEADERS)
            request.state.form = form
        elif self.notices is not None:
            session.flashes[:0] = await self.notices.take(session.id)
        response = await page(request, session)
        if self.notices is not None and session.flashes and 300 <= response.status_code < 400:
            # The page after the redirect may come from another node.
            await self.notices.keep(session.id, session.flashes)
            session.flashes = []
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    # -- rendering -------------------------------------------------------------------------

    def render(self, request: Request, session: Session | None, name: str, **data: Any) -> Response:
        """An HTML page from ``templates/<name>``."""
        lang = session.lang if session else pick_language(request.headers.get("accept-language"))
        flashes: list[str] = []
        if session is not None:
            flashes, session.flashes = session.flashes, []
        html = self.templates.get_template(name).render(
            t=translator(lang),
            lang=lang,
            other_lang=next(x for x in LANGUAGES if x != lang),
            csrf=session.csrf if session else "",
            logged_in=session is not None,
            path=request.url.path,
            flashes=flashes,
            cluster_mode=self.gateway.cluster is not None,
            **data,
        )
        return HTMLResponse(html, headers=_HEADERS)

    # -- login -------------------------------------------------------------------------

    async def _signed_in(self, session: Session, lang: str) -> Response:
        session.lang = lang
        self.auth.remember(session)
        await self.auth.settled()  # the next request may reach another node of a cluster
        response = RedirectResponse("/console/", status_code=303, headers=_HEADERS)
        response.set_cookie(
            COOKIE_NAME,
            session.cookie,
            httponly=True,
            samesite="strict",
            path="/",
            secure=False,  # the gateway serves plain HTTP; put TLS in front for the network
        )
        return response

    async def _login_page(self, request: Request) -> Response:
        refused = self._client_refusal(request)
        if refused is not None:
            return refused
        lang = pick_language(request.headers.get("accept-language"))
        params = request.query_params
        if "n" in params:
            session = await self.auth.redeem(
                params.get("n", ""), params.get("e", ""), params.get("s", "")
            )
            if isinstance(session, Session):
                log.info("console: a login link was used")
                return await self._signed_in(session, lang)
            response = self.render(request, None, "login.html", invalid=session, password=False)
            response.status_code = 403
            return response
        return self.render(
            request, None, "login.html", invalid=False, password=self.auth.has_password
        )

    async def _password_login(self, request: Request) -> Response:
        refused = self._client_refusal(request)
        if refused is not None:
            return refused
        if not origin_matches(request.headers.get("origin"), request.headers.get("host")):
            return PlainTextResponse("cross-site request refused", 403, headers=_HEADERS)
        client = request.client.host if request.client else ""
        wait = self.throttle.retry_after(client)
        if wait is not None:
            why = f"too many wrong passwords; try again in {wait} s"
            return PlainTextResponse(why, 429, headers={**_HEADERS, "Retry-After": str(wait)})
        form = await read_form(request)
        if not self.auth.password_matches(form.get("password")):
            self.throttle.failed(client)
            log.warning("console: a wrong operator password was given")
            return PlainTextResponse("wrong password", 401, headers=_HEADERS)
        self.throttle.succeeded(client)
        lang = pick_language(request.headers.get("accept-language"))
        return await self._signed_in(self.auth.open_session(), lang)

    async def _static_file(self, request: Request) -> Response:
        refused = self._client_refusal(request)
        if refused is not None:
            return refused
        found = self._static.get(request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", 404)
        body, kind = found
        return Response(body, media_type=kind, headers={"Cache-Control": "max-age=3600"})

    async def _not_found(self, request: Request) -> Response:
        async def page(request: Request, session: Session) -> Response:
            return PlainTextResponse("not found", 404)

        return await self.guard(request, page)

    # -- metrics ---------------------------------------------------------------------------

    async def _metrics(self, request: Request) -> Response:
        client = request.client.host if request.client else None
        if client_refusal(client, request.headers) is not None and not (
            await self._metrics_allowed(request)
        ):
            if not self.auth.has_password:
                why = "metrics answer loopback clients only; set gateway.console.password"
                return PlainTextResponse(why, status_code=403)
            return PlainTextResponse(
                "authentication required",
                status_code=401,
                headers={"WWW-Authenticate": 'Basic realm="zalogate"'},
            )
        metrics = self.gateway.metrics
        body = await metrics.exposition() if metrics is not None else b""
        return Response(body, media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})

    async def _metrics_allowed(self, request: Request) -> bool:
        if await self.auth.lookup(request.cookies.get(COOKIE_NAME)) is not None:
            return self.auth.has_password
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self.auth.password_matches(value.strip())
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            return self.auth.password_matches(decoded.partition(":")[2])
        return False


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body (first value of each field; bounded)."""
    cached = getattr(request.state, "form", None)
    if isinstance(cached, dict):
        return cached
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_FORM:
            return {}
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}


def _load_static() -> dict[str, tuple[bytes, str]]:
    files: dict[str, tuple[bytes, str]] = {}
    folder = importlib.resources.files("zalogate.console") / "static"
    for item in folder.iterdir():
        name = item.name
        suffix = name[name.rfind(".") :] if "." in name else ""
        if suffix in _STATIC_TYPES:
            files[name] = (item.read_bytes(), _STATIC_TYPES[suffix])
    return files
