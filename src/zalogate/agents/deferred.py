"""The endpoint where an http agent's deferred answers arrive:
``POST /agents/<agentId>/replies/<token>`` on the gateway's HTTP server.

The body is an answer (``{"text", "media", "mentions"}``), signed like the turn was (the
agent's secret, :mod:`zalogate.agents.signing`). Answers: 200 ``{"ok": true, "messageIds"}``;
401 for a missing or wrong signature; 404 for an unknown, used or expired token; 400 for a
body that is not an answer; 502 when the channel could not send (the token stays usable).
A token is used once.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from zalogate.agents.http import parse_answer
from zalogate.agents.services import AgentServices
from zalogate.agents.signing import verify
from zalogate.core.errors import describe_error

__all__ = ["DEFERRED_PREFIX", "deferred_reply_app"]

log = logging.getLogger(__name__)

DEFERRED_PREFIX = "/agents"
_MAX_BODY = 1024 * 1024


def deferred_reply_app(
    secrets: Mapping[str, str],
    services: AgentServices,
    *,
    clock: Callable[[], float] = time.time,
) -> ASGIApp:
    """The ASGI app to mount at :data:`DEFERRED_PREFIX` (``secrets``: agent id -> secret)."""
    from starlette.applications import Starlette

    async def reply(request: Request) -> JSONResponse:
        agent_id = request.path_params["agent_id"]
        token = request.path_params["token"]
        secret = secrets.get(agent_id)
        body = await request.body()
        if len(body) > _MAX_BODY:
            return _error(413, "body too large")
        if secret is None or not verify(secret, request.headers, body, now=clock()):
            return _error(401, "missing or wrong X-Zalogate-Signature")
        store = services.store
        send = services.send
        if store is None or send is None:
            return _error(503, "the gateway is not running")
        row = await store.fetchone(
            "SELECT channel, account_id, target, expires_at_ms FROM deferred_replies"
            " WHERE token = ? AND agent_id = ?",
            (token, agent_id),
        )
        if row is None or int(row["expires_at_ms"]) < clock() * 1000:
            return _error(404, "unknown, used or expired reply token")
        try:
            payloads, deferred = parse_answer(json.loads(body) if body.strip() else None)
        except ValueError as exc:
            return _error(400, str(exc))
        if deferred:
            return _error(400, "a deferred reply cannot defer again")
        ids: list[str] = []
        try:
            for payload in payloads:
                ids += await send(row["channel"], row["account_id"], row["target"], payload)
        except Exception as exc:
            log.warning("deferred reply of agent %s failed: %s", agent_id, describe_error(exc))
            return _error(502, f"sending failed: {describe_error(exc)}")
        await store.execute("DELETE FROM deferred_replies WHERE token = ?", (token,))
        return JSONResponse({"ok": True, "messageIds": ids})

    return Starlette(
        routes=[Route(DEFERRED_PREFIX + "/{agent_id}/replies/{token}", reply, methods=["POST"])]
    )


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": message}, status_code=status)
