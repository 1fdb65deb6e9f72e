"""A fake OpenAI-compatible Chat Completions server on 127.0.0.1 for tests and benchmarks.

It runs uvicorn on its own thread and event loop, so a slow scripted answer never slows the
code under test, and many requests are served concurrently::

    async with FakeLLMServer() as llm:
        llm.reply("Xin chào!")
        llm.reply_tool_call("zalouser", {"action": "me"})
        llm.fail(500)                      # one HTTP 500
        client = AsyncOpenAI(base_url=llm.base_url, api_key="test")
        ...
        assert llm.requests[0].json["model"] == "test-model"

Scripted responses are used first come, first served; when none is left, ``responder`` answers
(by default: the text of the last user message). ``delay`` (seconds) applies to every answer
unless a scripted one sets its own. Both streaming (SSE) and plain responses are produced.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

__all__ = ["FakeLLMResponse", "FakeLLMServer", "FakeToolCall", "RecordedRequest"]

FaultKind = Literal["status", "hang", "drop"]


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    """One tool call the fake model asks for."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class FakeLLMResponse:
    """One scripted answer: text and/or tool calls, or a fault.

    ``fault`` is ``"status"`` (answer ``status`` with an OpenAI-style error body), ``"hang"``
    (never answer; the client times out) or ``"drop"`` (close the connection mid-response).
    """

    text: str | None = None
    tool_calls: tuple[FakeToolCall, ...] = ()
    delay: float | None = None
    fault: FaultKind | None = None
    status: int = 200
    error_message: str = "fake failure"
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the fake server received."""

    method: str
    path: str
    headers: Mapping[str, str]
    json: Any
    received_at: float = 0.0
    """``time.time()`` when the request's body had been read."""


Responder = Callable[[Mapping[str, Any]], "FakeLLMResponse | str"]


def _last_user_text(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages") or []):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return "".join(
                    str(part.get("text", "")) for part in content if isinstance(part, dict)
                )
    return ""


def default_responder(body: Mapping[str, Any]) -> FakeLLMResponse:
    """Answer with the text of the last user message."""
    return FakeLLMResponse(text=_last_user_text(body))


class FakeLLMServer:
    """An OpenAI-compatible ``/v1/chat/completions`` server for tests (see module docs).

    Args:
        model: The model name reported by ``GET /v1/models``.
        delay: Default seconds before each answer.
        responder: Answers requests when no scripted response is queued.
    """

    def __init__(
        self,
        *,
        model: str = "fake-model",
        delay: float = 0.0,
        responder: Responder | None = None,
    ) -> None:
        self.model = model
        self.delay = delay
        self.responder: Responder = responder or default_responder
        self.requests: list[RecordedRequest] = []
        self._script: deque[FakeLLMResponse] = deque()
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port = 0
        self.active = 0
        """Requests being answered right now."""
        self.peak_active = 0
        """The most requests answered at the same time."""

    # ------------------------------------------------------------------ script
    @property
    def base_url(self) -> str:
        """The ``base_url`` for an OpenAI client (``http://127.0.0.1:<port>/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    def enqueue(self, response: FakeLLMResponse) -> None:
        """Queue a scripted response."""
        with self._lock:
            self._script.append(response)

    def reply(self, text: str, *, delay: float | None = None) -> None:
        """Queue a text answer."""
        self.enqueue(FakeLLMResponse(text=text, delay=delay))

    def reply_tool_call(
        self,
        name: str,
        args: Mapping[str, Any] | None = None,
        *,
        call_id: str | None = None,
        text: str | None = None,
        delay: float | None = None,
    ) -> None:
        """Queue an answer that calls the tool ``name`` with ``args``."""
        call = FakeToolCall(name=name, arguments=dict(args or {}), id=call_id)
        self.enqueue(FakeLLMResponse(text=text, tool_calls=(call,), delay=delay))

    def fail(
        self,
        status: int = 500,
        *,
        times: int = 1,
        message: str = "fake failure",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Queue ``times`` HTTP error answers (e.g. 500, 429, 401)."""
        for _ in range(times):
            self.enqueue(
                FakeLLMResponse(
                    fault="status", status=status, error_message=message, headers=headers or {}
                )
            )

    def hang(self, *, times: int = 1) -> None:
        """Queue ``times`` requests that are never answered (the client must time out)."""
        for _ in range(times):
            self.enqueue(FakeLLMResponse(fault="hang"))

    def drop(self, *, times: int = 1) -> None:
        """Queue ``times`` answers whose connection is closed mid-response."""
        for _ in range(times):
            self.enqueue(FakeLLMResponse(fault="drop"))

    def clear(self) -> None:
        """Forget queued responses and recorded requests."""
        with self._lock:
            self._script.clear()
            self.requests.clear()

    @property
    def completions(self) -> list[RecordedRequest]:
        """The recorded chat completion requests."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def _next_response(self, body: Mapping[str, Any]) -> FakeLLMResponse:
        with self._lock:
            if self._script:
                return self._script.popleft()
        answer = self.responder(body)
        return FakeLLMResponse(text=answer) if isinstance(answer, str) else answer

    # ------------------------------------------------------------------ HTTP
    def _app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )

    async def _models(self, request: Request) -> Response:
        self._record(request, None)
        return JSONResponse(
            {"object": "list", "data": [{"id": self.model, "object": "model", "owned_by": "fake"}]}
        )

    def _record(self, request: Request, body: Any) -> None:
        recorded = RecordedRequest(
            method=request.method,
            path=request.url.path,
            headers=dict(request.headers),
            json=body,
            received_at=time.time(),
        )
        with self._lock:
            self.requests.append(recorded)

    async def _chat(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return _error(400, "invalid JSON body", "invalid_request_error")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error(400, "'messages' is required", "invalid_request_error")
        self._record(request, body)
        self.active += 1
        self.peak_active = max(self.peak_active, self.active)
        try:
            response = self._next_response(body)
            delay = self.delay if response.delay is None else response.delay
            if response.fault == "hang":
                await asyncio.Event().wait()
            if delay > 0:
                await asyncio.sleep(delay)
        finally:
            self.active -= 1
        if response.fault == "status":
            kind = "rate_limit_error" if response.status == 429 else "server_error"
            return _error(response.status, response.error_message, kind, response.headers)
        if response.fault == "drop":
            return _DroppedResponse()
        model = str(body.get("model") or self.model)
        completion_id = f"chatcmpl-fake-{next(self._ids)}"
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _sse(completion_id, model, response, include_usage),
                media_type="text/event-stream",
            )
        return JSONResponse(_completion(completion_id, model, response, body))

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Start serving on a free port of 127.0.0.1 (blocking until it accepts requests)."""
        if self._thread is not None:
            return
        # IPPROTO_TCP, not 0: asyncio turns TCP_NODELAY on for accepted sockets only then, and
        # without it uvicorn's separate head and body writes wait ~40 ms for a delayed ACK on
        # every keep-alive request after the first.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(1024)
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(),
            log_level="critical",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            backlog=1024,
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[sock])),
            name="zalogate-fake-llm",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the fake LLM server did not start")
            time.sleep(0.005)

    def stop(self) -> None:
        """Stop serving (hanging requests are cut off)."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=10)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> FakeLLMServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> FakeLLMServer:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)


class _DroppedResponse(Response):
    """Starts a response, then fails: the server closes the connection mid-body."""

    def __init__(self) -> None:
        super().__init__(status_code=200, media_type="application/json")

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
            }
        )
        await send({"type": "http.response.body", "body": b'{"id": "chatc', "more_body": True})
        raise ConnectionResetError("fake LLM dropped the connection")


def _error(
    status: int, message: str, kind: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": str(status)}},
        status_code=status,
        headers=dict(headers or {}),
    )


def _tool_call_json(call: FakeToolCall, index: int, completion_id: str) -> dict[str, Any]:
    return {
        "id": call.id or f"call_{completion_id[-6:]}_{index}",
        "type": "function",
        "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))},
    }


def _usage(body: Mapping[str, Any], text: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content") or "")) for m in body.get("messages") or []) // 4
    completion = len(text) // 4
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion(
    completion_id: str, model: str, response: FakeLLMResponse, body: Mapping[str, Any]
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": response.text}
    if response.tool_calls:
        message["tool_calls"] = [
            _tool_call_json(call, i, completion_id) for i, call in enumerate(response.tool_calls)
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if response.tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": _usage(body, response.text or ""),
    }


async def _sse(
    completion_id: str, model: str, response: FakeLLMResponse, include_usage: bool
) -> AsyncIterator[bytes]:
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }
        return f"data: {json.dumps(payload)}\n\n".encode()

    yield chunk({"role": "assistant", "content": ""})
    text = response.text or ""
    for start in range(0, len(text), 16):
        yield chunk({"content": text[start : start + 16]})
    for i, call in enumerate(response.tool_calls):
        yield chunk({"tool_calls": [{"index": i, **_tool_call_json(call, i, completion_id)}]})
    yield chunk({}, "tool_calls" if response.tool_calls else "stop")
    if include_usage:
        usage = {"prompt_tokens": 1, "completion_tokens": len(text) // 4 + 1}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        yield f"data: {json.dumps(payload)}\n\n".encode()
    yield b"data: [DONE]\n\n"
