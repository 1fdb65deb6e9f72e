"""``FakeZaloOA``: a strict Zalo Official Account server (OAuth host + OpenAPI) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import socket
from types import TracebackType
from typing import Self

from zalogate.testing.fake_oa.api import ApiRoutes
from zalogate.testing.fake_oa.oauth import OAuthRoutes, oauth_body
from zalogate.testing.fake_oa.state import ApiCall, RefusalError, envelope
from zalogate.testing.fake_oa.webhook import WebhookDelivery
from zalogate.testing.http_server import HttpRequest, HttpServer

__all__ = ["FakeZaloOA"]

log = logging.getLogger("zalogate.testing.fake_oa")
_JSON = b"application/json; charset=utf-8"
_VIETNAM = datetime.timezone(datetime.timedelta(hours=7))


class FakeZaloOA(OAuthRoutes, ApiRoutes, WebhookDelivery):
    """One Zalo app with one OA, its users, and both hosts on one port.

    Pass ``base_url`` as both the OAuth and the OpenAPI URL of the client. Strict: a request
    real Zalo would refuse gets Zalo's refusal (``{"error": <code>, ...}`` with HTTP 200).

    Args:
        app_id / secret_key / oa_secret_key / oa_id: the app's and OA's identity.
        redirect_uri: the console's "Official Account Callback URL" (``-14003`` otherwise).
        access_ttl: access-token lifetime in seconds (Zalo: 90000).
        signature_variant: how webhook deliveries are signed (see ``SignatureVariant``).
        night_rule: refuse consultation sends between 22:00 and 06:00 Vietnam time (``-234``).
        rate_limit: calls per minute before ``-32`` (``None``: no limit).
        quota: consultation messages left before ``-211`` (``None``: unlimited).
        clock: the fake's time (epoch seconds); tests move it.
    """

    # ----------------------------------------------------------------- serving

    async def _dispatch(self, request: HttpRequest) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in request.headers}
        query = request.query.decode("latin-1")
        self.calls.append(ApiCall(request.method, request.path, query, headers, request.body))
        path = request.path
        if path.startswith("/media/") and request.method == "GET":
            media = self.media.get(path.removeprefix("/media/"))
            if media is None:
                request.respond(404, b"", None)
            else:
                request.respond(200, media[0], media[1].encode())
            return
        if path == "/v4/oa/permission" and request.method == "GET":
            try:
                location = self.consent_redirect(query)
            except RefusalError as refusal:
                request.respond(200, oauth_body(refusal.error, refusal.message), _JSON)
                return
            request.respond(302, b"", None, [(b"location", location.encode())])
            return
        if path == "/v4/oa/access_token" and request.method == "POST":
            request.respond(200, self.token_answer(headers, request.body), _JSON)
            return
        try:
            data = self.api_answer(request.method, path, query, headers, request.body)
        except RefusalError as refusal:
            request.respond(refusal.status, envelope(refusal.error, refusal.message), _JSON)
            return
        request.respond(
            200, json.dumps({"error": 0, "message": "Success", "data": data}).encode(), _JSON
        )

    async def start(self) -> None:
        """Serve in the running event loop."""
        if self._listener is not None:
            raise RuntimeError("FakeZaloOA is already started")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", 0))
            listener = HttpServer(self._dispatch, name="fake Zalo OA", log=log)
            await listener.start(sock)
        except BaseException:
            sock.close()
            raise
        self._listener = listener
        self._base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def stop(self) -> None:
        """Stop serving; pending deliveries are cancelled."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listener is not None:
            await self._listener.stop()
            self._listener = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
