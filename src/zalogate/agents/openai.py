"""An agent backed by any OpenAI-compatible Chat Completions endpoint.

Works with OpenAI, Ollama, vLLM, llama.cpp and LM Studio (``base_url``). Each session keeps a
transcript in the store; the last ``history_window`` messages are sent with every turn. When
the model asks for tools (``turn.tools``), they are run and the answers fed back, at most
``max_tool_rounds`` times; the last round offers no tools so the model has to answer.

When the endpoint fails (down, timeout, HTTP error after the SDK's own retries) the error is
logged (type and status, never the key) and, with ``on_error="apology"`` (the default), the
user gets ``apology_text`` and the message counts as handled: a chat user learns at once that
the bot is unwell instead of getting a late answer minutes after. With ``on_error="raise"`` an
:class:`~zalogate.agents.base.AgentError` is raised, so the inbox retries the message with
backoff (authentication failures are not retried).
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import httpx2
import openai
from openai import AsyncOpenAI
from openai.types.chat import ChatCompletion

from zalogate.agents.base import AgentError, AgentTool, Turn
from zalogate.agents.transcripts import SqliteTranscriptStore, TranscriptStore
from zalogate.core.errors import NonRetryableError
from zalogate.core.model import ReplyPayload
from zalogate.net.transport import LeanTransport

if TYPE_CHECKING:
    from zalogate.store import Store

__all__ = ["AgentAuthError", "OpenAIAgent", "OpenAIAgentOptions"]

log = logging.getLogger(__name__)

DEFAULT_APOLOGY = "Sorry, I can't answer right now. Please try again in a little while."

# The SDK's own pool allows 1,000 connections; so does ours (a slow model keeps one per
# conversation waiting, and a request must not queue behind the others).
_MAX_CONNECTIONS = 1000
_PROXY_SCHEMES = ("http", "https", "all")


class AgentAuthError(AgentError, NonRetryableError):
    """The endpoint refused the credentials (HTTP 401/403); retrying will not help."""


@dataclass(frozen=True, slots=True)
class OpenAIAgentOptions:
    """Settings of :class:`OpenAIAgent` (``agent.openai`` in the config)."""

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    """``None``: the SDK default (``OPENAI_BASE_URL`` or api.openai.com)."""
    api_key: str | None = field(default=None, repr=False)
    """``None``: ``OPENAI_API_KEY``, else a placeholder (local servers need none)."""
    system_prompt: str | None = None
    history_window: int = 20
    """How many earlier transcript messages go with each turn (0: none)."""
    timeout_seconds: float = 60.0
    max_tool_rounds: int = 4
    temperature: float | None = None
    max_retries: int = 1
    """Retries done by the SDK itself (429, 5xx, connection errors) before giving up."""
    on_error: Literal["apology", "raise"] = "apology"
    apology_text: str = DEFAULT_APOLOGY


def _describe_api_error(exc: openai.APIError) -> str:
    if isinstance(exc, openai.APIStatusError):
        code = getattr(exc, "code", None)
        return f"HTTP {exc.status_code}" + (f" ({code})" if code else "")
    return type(exc).__name__


class OpenAIAgent:
    """Chat Completions agent with per-session transcripts and a tool loop.

    Args:
        options: Model, endpoint and limits.
        store: Where transcripts live; ``None`` keeps no history.
        client: A ready client (tests); by default one is built from ``options``.
    """

    def __init__(
        self,
        options: OpenAIAgentOptions,
        *,
        store: Store | None = None,
        client: AsyncOpenAI | None = None,
        clock: Callable[[], float] = time.time,
        transcripts: TranscriptStore | None = None,
    ) -> None:
        self.options = options
        if transcripts is None and store is not None:
            transcripts = SqliteTranscriptStore(store, clock=clock)
        self.transcripts = transcripts
        self._client = client or AsyncOpenAI(
            base_url=options.base_url,
            api_key=options.api_key or os.environ.get("OPENAI_API_KEY") or "not-set",
            timeout=options.timeout_seconds,
            max_retries=options.max_retries,
            http_client=_lean_http_client(options.timeout_seconds),
        )
        self._endpoint = urlsplit(str(self._client.base_url)).netloc or "default endpoint"

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.close()

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        """Answer ``turn``; see the module docs for what happens when the endpoint fails."""
        opts = self.options
        history: list[dict[str, Any]] = []
        if self.transcripts is not None and opts.history_window > 0:
            history = await self.transcripts.recent(turn.session_key, opts.history_window)
        user_message = {"role": "user", "content": turn.body}
        messages: list[dict[str, Any]] = []
        if opts.system_prompt:
            messages.append({"role": "system", "content": opts.system_prompt})
        messages.extend(history)
        messages.append(user_message)
        try:
            text = await self._complete(messages, turn.tools)
        except openai.APIError as exc:
            detail = _describe_api_error(exc)
            log.error(
                "openai agent: request to %s (model %s) failed: %s",
                self._endpoint,
                opts.model,
                detail,
            )
            status = getattr(exc, "status_code", None)
            if status in (401, 403):
                if opts.on_error == "raise":
                    message = f"LLM endpoint refused the credentials ({detail})"
                    raise AgentAuthError(message) from None
            elif opts.on_error == "raise":
                raise AgentError(f"LLM endpoint failed: {detail}") from None
            if opts.apology_text:
                yield ReplyPayload(text=opts.apology_text)
            return
        if self.transcripts is not None:
            await self.transcripts.append(
                turn.session_key, [user_message, {"role": "assistant", "content": text}]
            )
        if text.strip():
            yield ReplyPayload(text=text)

    async def _complete(self, messages: list[dict[str, Any]], tools: Sequence[AgentTool]) -> str:
        opts = self.options
        by_name = {tool.name: tool for tool in tools}
        tool_specs = [
            {
                "type": "function",
                "function": {
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": dict(tool.parameters),
                },
            }
            for tool in tools
        ]
        extra: dict[str, Any] = {}
        if opts.temperature is not None:
            extra["temperature"] = opts.temperature
        for round_no in range(opts.max_tool_rounds + 1):
            offer_tools = bool(tool_specs) and round_no < opts.max_tool_rounds
            kwargs = dict(extra)
            if offer_tools:
                kwargs["tools"] = tool_specs
            # client.post, not chat.completions.create: create() first walks every message
            # through the SDK's TypedDict transform (~1 ms of CPU per call here), which leaves
            # plain JSON like ours unchanged; the request and the parsed answer are the same.
            completion = await self._client.post(
                "/chat/completions",
                body={"model": opts.model, "messages": messages, **kwargs},
                cast_to=ChatCompletion,
            )
            if not completion.choices:
                return ""
            message = completion.choices[0].message
            calls: list[Any] = [
                c for c in message.tool_calls or [] if getattr(c, "type", "") == "function"
            ]
            if not calls or not offer_tools:
                return message.content or ""
            messages.append(
                {
                    "role": "assistant",
                    "content": message.content,
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {
                                "name": call.function.name,
                                "arguments": call.function.arguments,
                            },
                        }
                        for call in calls
                    ],
                }
            )
            for call in calls:
                name: str = call.function.name
                result = await _run_tool(by_name.get(name), name, call.function.arguments)
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call.id,
                        "content": json.dumps(result, ensure_ascii=False, default=str),
                    }
                )
        return ""


def _lean_http_client(timeout: float) -> httpx2.AsyncClient | None:
    """The SDK's HTTP client on ``LeanTransport`` (``None``: the SDK's default client).

    The SDK's default pool (httpcore2 over anyio) costs ~3 ms of CPU per completion with many
    in flight; the lean pool ~0.1 ms. It speaks no proxy, so with a proxy in the environment
    (``HTTPS_PROXY`` and the like, which the SDK's client honours) the SDK's client is kept.
    """
    proxies = urllib.request.getproxies()
    if any(proxies.get(scheme) for scheme in _PROXY_SCHEMES):
        return None
    transport = LeanTransport(
        ssl_context=httpx2.create_ssl_context(), max_connections=_MAX_CONNECTIONS
    )
    # As the SDK's default client: redirects followed; each request carries its own timeout.
    return httpx2.AsyncClient(transport=transport, timeout=timeout, follow_redirects=True)


async def _run_tool(tool: AgentTool | None, name: str, raw_args: str) -> Mapping[str, Any]:
    if tool is None:
        return {"error": f"unknown tool {name!r}"}
    try:
        args = json.loads(raw_args or "{}")
    except ValueError:
        return {"error": "arguments are not valid JSON"}
    if not isinstance(args, dict):
        return {"error": "arguments must be a JSON object"}
    try:
        return await tool.call(args)
    except Exception as exc:  # a tool failure is the model's business, not a crash
        log.warning("openai agent: tool %s failed: %s", name, type(exc).__name__)
        return {"error": f"{type(exc).__name__}: {exc}"}
