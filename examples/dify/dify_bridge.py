"""A bridge from a zalogate ``http`` agent to a Dify chat app, answering deferred.

Dify's chat API wants ``{"query", "user", "conversation_id"}`` with the app's API key; zalogate
POSTs signed turns. This bridge checks the signature, answers ``{"defer": true}`` at once (a
Dify app with tools can take longer than a webhook should wait), asks Dify, and POSTs the answer
to the turn's ``replyUrl``, signed the same way.

Run::

    pip install zalogate uvicorn
    DIFY_API_KEY=app-... ZALOGATE_SECRET=... uvicorn dify_bridge:app --port 8088

and point the agent at it:
``http: {url: "http://127.0.0.1:8088/turn", secret: "${ZALOGATE_SECRET}"}``.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx2
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from zalogate.agents.signing import signature_headers, verify

DIFY_URL = os.environ.get("DIFY_URL", "https://api.dify.ai/v1")
DIFY_API_KEY = os.environ["DIFY_API_KEY"]
SECRET = os.environ["ZALOGATE_SECRET"]

# zalogate session key -> Dify conversation id (keep it in a database in production).
conversations: dict[str, str] = {}
background: set[asyncio.Task[None]] = set()


async def ask_dify_and_reply(turn: dict[str, Any]) -> None:
    session = turn["conversation"]["sessionKey"]
    async with httpx2.AsyncClient(timeout=120) as client:
        answer = await client.post(
            f"{DIFY_URL}/chat-messages",
            headers={"Authorization": f"Bearer {DIFY_API_KEY}"},
            json={
                "inputs": {},
                "query": turn["message"]["text"],
                "user": f"{turn['conversation']['channel']}:{turn['sender']['id']}",
                "conversation_id": conversations.get(session, ""),
                "response_mode": "blocking",
            },
        )
        answer.raise_for_status()
        data = answer.json()
        conversations[session] = data.get("conversation_id", "")
        body = json.dumps({"text": data.get("answer", "")}, ensure_ascii=False).encode()
        sent = await client.post(
            turn["replyUrl"],
            content=body,
            headers={"Content-Type": "application/json", **signature_headers(SECRET, body)},
        )
        sent.raise_for_status()


async def turn(request: Request) -> JSONResponse:
    body = await request.body()
    if not verify(SECRET, request.headers, body):
        return JSONResponse({"error": "bad signature"}, status_code=401)
    data = json.loads(body)
    if not data.get("replyUrl"):
        return JSONResponse({"text": "(the gateway did not send a reply URL)"})
    task = asyncio.create_task(ask_dify_and_reply(data))
    background.add(task)
    task.add_done_callback(background.discard)
    return JSONResponse({"defer": True})


app = Starlette(routes=[Route("/turn", turn, methods=["POST"])])
