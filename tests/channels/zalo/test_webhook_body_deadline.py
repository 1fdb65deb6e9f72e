"""The webhook's body deadline, on the endpoint itself: expiry is 408, other cancels pass."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from zalogate.channels.zalo.webhook import WebhookEndpoint, WebhookOptions, WebhookTarget

SECRET = "body-deadline-secret-1"


def endpoint(body_timeout: float) -> tuple[WebhookEndpoint, list[dict[str, Any]]]:
    handled: list[dict[str, Any]] = []

    async def handle(update: dict[str, Any]) -> None:
        handled.append(update)

    hook = WebhookEndpoint("/hook", WebhookOptions(body_timeout=body_timeout))
    hook.add(WebhookTarget("a", SECRET, handle))
    return hook, handled


SCOPE = {
    "type": "http",
    "method": "POST",
    "path": "/hook",
    "client": ("127.0.0.1", 40000),
    "headers": [
        (b"content-type", b"application/json"),
        (b"x-bot-api-secret-token", SECRET.encode()),
    ],
}


async def never_arrives() -> dict[str, Any]:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


async def test_a_body_that_never_arrives_is_408_and_the_task_is_not_left_cancelled() -> None:
    hook, handled = endpoint(0.05)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def request() -> int:
        await hook(SCOPE, never_arrives, send)
        await asyncio.sleep(0)  # a stray cancellation would surface here
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()

    cancelling = await asyncio.wait_for(asyncio.create_task(request()), 5)
    assert cancelling == 0
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [408]
    assert handled == []


async def test_cancelling_the_request_during_the_body_is_not_a_408() -> None:
    hook, _ = endpoint(30.0)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    task = asyncio.create_task(hook(SCOPE, never_arrives, send))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == []


async def test_a_complete_body_within_the_deadline_is_admitted() -> None:
    hook, handled = endpoint(30.0)
    sent: list[dict[str, Any]] = []
    body = b'{"event_name":"message.text.received","message":{"message_id":"m1",'
    body += b'"from":{"id":"u1"},"chat":{"id":"u1","chat_type":"PRIVATE"},"text":"hi"}}'

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await hook(SCOPE, receive, send)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [200]
    assert sent[-1]["body"] == b"ok"
    assert [u["message"]["message_id"] for u in handled] == ["m1"]
