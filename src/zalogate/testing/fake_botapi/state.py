"""The attributes the parts of the fake share, and its JSON answers."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

import httpx2
from starlette.applications import Starlette

from zalogate.testing.fake_botapi.actors import FakeBot
from zalogate.testing.fake_botapi.models import (
    ApiCall,
    EmptyPoll,
    Fault,
    MethodHandler,
    PollWhileWebhook,
    Reply,
    SentRecord,
    Signal,
    WebhookFailure,
    encode_json,
)
from zalogate.testing.http_server import HttpServer


class BotApiState:
    """The fake's attributes shared by its parts (each part is a mixin over this)."""

    empty_poll: EmptyPoll
    poll_while_webhook: PollWhileWebhook
    max_poll_timeout: float
    webhook_retry_delays: tuple[float, ...]
    webhook_concurrency: int
    sent: list[SentRecord]
    chat_actions: list[ApiCall]
    calls: list[ApiCall]
    webhook_deliveries: int
    webhook_failures: list[WebhookFailure]
    media_requests: list[str]
    deliver_webhooks_to: str | None
    _bots: dict[str, FakeBot]
    _faults: dict[str, deque[Fault]]
    _media: dict[str, tuple[bytes, str]]
    _sent_signal: Signal
    _sent_targets: list[tuple[int, asyncio.Future[None]]]
    _calls_signal: Signal
    _stop_signal: Signal
    _stopping: bool
    _loop: asyncio.AbstractEventLoop | None
    _listener: HttpServer | None
    _webhook_client: httpx2.AsyncClient | None
    _workers: list[asyncio.Task[None]]
    _app: Starlette
    _handlers: dict[str, MethodHandler]

    @staticmethod
    def _json(body: dict[str, Any], status: int = 200) -> Reply:
        content = encode_json(body).encode()
        return Reply(content, status)

    def _ok(self, result: Any = None, *, with_result: bool = True) -> Reply:
        return self._json({"ok": True, "result": result} if with_result else {"ok": True})

    def _error(self, error_code: int | str, description: str, status: int = 200) -> Reply:
        return self._json(
            {"ok": False, "error_code": error_code, "description": description}, status
        )
