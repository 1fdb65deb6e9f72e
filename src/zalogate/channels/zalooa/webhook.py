"""The webhook of one OA account: verified on the raw body, admitted, answered 200.

Zalo wants 200 within about 2 s and retries otherwise (at-least-once), so the answer follows
the durable admit (in a cluster: JetStream's acknowledgement) and nothing slower, and a failed
admit is answered 503; the inbox drops a ``msg_id`` it has seen. The OA's own
``oa_send_*`` echoes and status events are acknowledged and dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from zalogate.channels.zalooa.events import inbound_from_event, user_of
from zalogate.channels.zalooa.window import Interactions
from zalogate.core.channel import Admitter, Receive, Scope, Send
from zalogate.core.errors import describe_error
from zalogate.oa.signature import verify

__all__ = ["OAWebhook"]

_log = logging.getLogger("zalogate.channels.zalooa")
_MAX_BODY = 1024 * 1024


class OAWebhook:
    """ASGI app for ``POST <webhookPath>``."""

    def __init__(
        self,
        *,
        channel: str,
        account_id: str,
        app_id: str,
        oa_secret: Callable[[], str | None],
        oa_id: Callable[[], str | None],
        inbox: Admitter,
        interactions: Interactions,
    ) -> None:
        self._channel = channel
        self._account_id = account_id
        self._app_id = app_id
        self._oa_secret = oa_secret
        self._oa_id = oa_id
        self._inbox = inbox
        self._interactions = interactions
        self.variants: dict[str, int] = {}
        """How many deliveries matched each signature variant."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "POST":
            await _answer(send, 405)
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > _MAX_BODY:
                await _answer(send, 413)
                return
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        await _answer(send, await self.handle(body, headers.get("x-zevent-signature")))

    async def handle(self, body: bytes, signature: str | None) -> int:
        """The status for one delivery (after admitting it when it is a user message)."""
        secret = self._oa_secret()
        if secret is None:
            _log.info("[%s] webhook event dropped: oaSecretKey is not set yet", self._account_id)
            return 200  # bootstrap: the console's URL check must get 200
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return 400
        if not isinstance(event, dict):
            return 400
        oa_id = self._oa_id()
        variant = verify(
            signature,
            body,
            str(event.get("timestamp", "")),
            app_id=self._app_id,
            oa_ids=(oa_id,) if oa_id else (),
            secret=secret,
        )
        if variant is None:
            _log.warning("[%s] webhook signature mismatch: refused", self._account_id)
            return 401
        if variant not in self.variants:
            _log.info("[%s] webhook signature matched the %s variant", self._account_id, variant)
        self.variants[variant] = self.variants.get(variant, 0) + 1
        return await self._route(event, oa_id)

    async def _route(self, event: dict[str, object], oa_id: str | None) -> int:
        name = str(event.get("event_name", ""))
        user = user_of(event)
        if name.startswith("oa_send_") or (oa_id and user == oa_id):
            return 200  # our own echo
        timestamp = str(event.get("timestamp", ""))
        at_ms = int(timestamp) if timestamp.isdigit() else None
        if name in ("follow", "user_click_chatnow") and user:
            await self._interactions.record(user, at_ms)  # no message: only this records it
            return 200
        message = inbound_from_event(self._channel, self._account_id, event)
        if message is None:
            _log.info("[%s] webhook event %r acknowledged, not handled", self._account_id, name)
            return 200
        # Only here: the node processing the message records it for the cluster.
        self._interactions.touch(message.sender_id, at_ms)
        try:
            await self._inbox.admit(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # not durable (the journal, or no JetStream majority)
            _log.error("[%s] webhook admission failed: %s", self._account_id, describe_error(exc))
            return 503  # Zalo delivers it again; the inbox drops a copy it already holds
        return 200


async def _answer(send: Send, status: int) -> None:
    body = b'{"ok":true}' if status == 200 else b'{"ok":false}'
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
