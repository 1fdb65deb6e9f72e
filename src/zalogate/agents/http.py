"""The ``http`` agent: each turn is POSTed as signed JSON to a URL (n8n, Dify, your service).

Request body (``Content-Type: application/json``)::

    {"version": 1, "agentId": "support", "turnId": "zalo:default:<message id>",
     "message": {"id", "text", "body", "timestampMs", "wasMentioned"},
     "sender": {"id", "name"},
     "conversation": {"channel", "accountId", "chatType", "chatId", "groupName", "sessionKey"},
     "attachments": [{"kind", "url", "path", "mime_type", "name", "size"}],
     "history": [{"role": "user"|"assistant", "content"}],   # this session, oldest first
     "replyUrl": "http://gateway/agents/support/replies/<token>"}

signed with ``X-Zalogate-Timestamp`` + ``X-Zalogate-Signature`` (:mod:`zalogate.agents.signing`).
``turnId`` is also sent as ``Idempotency-Key``: a retried turn carries the same one.

The answer: ``{"text": "...", "media": ["https://..."], "mentions": [...]}`` (any part
optional; an empty body or 204 is no reply), or ``{"defer": true}``: the service answers later
by POSTing the same JSON shape, signed the same way, to ``replyUrl`` (see
:mod:`zalogate.agents.deferred`). Timeouts, connection errors, 429 and 5xx are retried
``retries`` times with a growing pause, then the turn fails and the inbox retries it later;
any other 4xx fails the message for good.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx2

from zalogate.agents.base import AgentError, Turn
from zalogate.agents.services import AgentServices
from zalogate.agents.signing import signature_headers
from zalogate.agents.transcripts import SqliteTranscriptStore, TranscriptStore
from zalogate.core.errors import NonRetryableError
from zalogate.core.model import ChatType, ReplyPayload

__all__ = ["HttpAgent", "HttpAgentOptions", "parse_answer", "reply_path"]

log = logging.getLogger(__name__)

_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_ERROR_TAIL = 200


class HttpAgentRejectedError(AgentError, NonRetryableError):
    """The service refused the turn (a 4xx other than 408/425/429): retrying will not help."""


@dataclass(frozen=True, slots=True)
class HttpAgentOptions:
    """Settings of :class:`HttpAgent` (``http`` of an agent in the config)."""

    url: str
    secret: str = field(repr=False)
    agent_id: str = "main"
    timeout_seconds: float = 30.0
    retries: int = 2
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    history_window: int = 10
    reply_base_url: str | None = None
    defer_ttl_seconds: float = 86_400.0
    retry_pause: float = 0.5
    """First pause between attempts (doubled each time, at most 8 s)."""

    def __post_init__(self) -> None:
        if not self.url:
            raise ValueError("the http agent needs a url")
        if not self.secret:
            raise ValueError("the http agent needs a secret")


def reply_path(agent_id: str, token: str) -> str:
    """The path of a deferred reply's endpoint."""
    return f"/agents/{agent_id}/replies/{token}"


def parse_answer(data: Any) -> tuple[list[ReplyPayload], bool]:
    """``(payloads, deferred)`` of a service's JSON answer.

    Raises:
        ValueError: The JSON is not an answer.
    """
    if data is None:
        return [], False
    if not isinstance(data, dict):
        raise ValueError("the answer must be a JSON object")
    if data.get("defer") is True:
        return [], True
    text = data.get("text") or ""
    media = data.get("media") or []
    if not isinstance(text, str):
        raise ValueError('"text" must be a string')
    if isinstance(media, str):
        media = [media]
    if not isinstance(media, list) or not all(isinstance(m, str) for m in media):
        raise ValueError('"media" must be a list of URLs')
    mentions = data.get("mentions")
    if mentions is not None and not isinstance(mentions, list):
        raise ValueError('"mentions" must be a list')
    reply_to = data.get("replyTo")
    if reply_to is not None and not isinstance(reply_to, str):
        raise ValueError('"replyTo" must be a message id string')
    if not text.strip() and not media:
        return [], False
    return [ReplyPayload(text=text, media_urls=tuple(media), reply_to_id=reply_to or None)], False


class HttpAgent:
    """Answers each turn with what an HTTP service says (see the module docstring).

    Args:
        options: URL, secret, timeout, retries.
        services: The gateway's store (history, deferred turns) and base URL.
        transport: An ``httpx2`` transport (tests); default: a real connection.
        sleep: Awaited between attempts (tests pass a fast one).
    """

    def __init__(
        self,
        options: HttpAgentOptions,
        services: AgentServices | None = None,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.options = options
        self.services = services or AgentServices()
        self._client = httpx2.AsyncClient(
            transport=transport, timeout=options.timeout_seconds, follow_redirects=False
        )
        self._sleep = sleep
        self._clock = clock
        store = self.services.store
        self._transcripts: TranscriptStore | None = self.services.transcripts
        if self._transcripts is None and store is not None:
            self._transcripts = SqliteTranscriptStore(store)

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        """POST the turn; yield the answer (nothing when the service defers)."""
        token = secrets.token_urlsafe(24)
        history = await self._history(turn.session_key)
        request = self._request(turn, token, history)
        # Compact JSON: `JSON.stringify(JSON.parse(body))` gives the same bytes, so a flow that
        # only sees the parsed body (an n8n Code node) can still check the signature.
        body = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()
        data = await self._post(body, turn_id=_turn_id(turn))
        try:
            payloads, deferred = parse_answer(data)
        except ValueError as exc:
            raise HttpAgentRejectedError(f"http agent {self.options.agent_id}: {exc}") from exc
        if deferred:
            await self._remember(turn, token)
            log.info("http agent %s deferred turn %s", self.options.agent_id, turn.message_id)
            return
        await self._record(turn, payloads)
        for payload in payloads:
            yield payload

    # -- request ------------------------------------------------------------------------------

    def _request(self, turn: Turn, token: str, history: list[dict[str, Any]]) -> dict[str, Any]:
        base = (self.options.reply_base_url or self.services.base_url() or "").rstrip("/")
        return {
            "version": 1,
            "agentId": self.options.agent_id,
            "turnId": _turn_id(turn),
            "message": {
                "id": turn.message_id,
                "text": turn.text,
                "body": turn.body,
                "timestampMs": turn.timestamp_ms,
                "wasMentioned": turn.was_mentioned,
            },
            "sender": {"id": turn.sender_id, "name": turn.sender_name},
            "conversation": {
                "channel": turn.channel,
                "accountId": turn.account_id,
                "chatType": turn.chat_type.value,
                "chatId": turn.chat_id,
                "groupName": turn.group_name,
                "sessionKey": turn.session_key,
            },
            "attachments": [m.model_dump(exclude_none=True) for m in turn.media],
            "history": history,
            "replyUrl": base + reply_path(self.options.agent_id, token) if base else None,
        }

    async def _post(self, body: bytes, *, turn_id: str) -> Any:
        options = self.options
        pause = options.retry_pause
        last = "no attempt"
        for attempt in range(options.retries + 1):
            if attempt:
                await self._sleep(pause)
                pause = min(pause * 2, 8.0)
            headers = {
                **options.headers,
                "Content-Type": "application/json",
                "Idempotency-Key": turn_id,
                **signature_headers(options.secret, body, now=self._clock()),
            }
            try:
                response = await self._client.post(options.url, content=body, headers=headers)
            except httpx2.TimeoutException:
                last = f"no answer within {options.timeout_seconds:g} s"
                continue
            except httpx2.TransportError as exc:
                last = f"cannot reach the service ({type(exc).__name__})"
                continue
            if response.status_code in _RETRYABLE_STATUS:
                last = f"HTTP {response.status_code}"
                continue
            if response.status_code >= 400:
                raise HttpAgentRejectedError(
                    f"http agent {options.agent_id}: HTTP {response.status_code}"
                    f" {response.text[:_ERROR_TAIL]!r}"
                )
            if response.status_code == 204 or not response.content.strip():
                return None
            try:
                return response.json()
            except ValueError as exc:
                raise HttpAgentRejectedError(
                    f"http agent {options.agent_id}: the answer is not JSON"
                ) from exc
        attempts = options.retries + 1
        raise AgentError(f"http agent {options.agent_id}: {last} (after {attempts} attempt(s))")

    # -- history and deferred turns ---------------------------------------------------------

    async def _history(self, session_key: str) -> list[dict[str, Any]]:
        if self._transcripts is None or self.options.history_window <= 0:
            return []
        return await self._transcripts.recent(session_key, self.options.history_window)

    async def _record(self, turn: Turn, payloads: list[ReplyPayload]) -> None:
        if self._transcripts is None:
            return
        messages = [{"role": "user", "content": turn.text}]
        messages += [{"role": "assistant", "content": p.text} for p in payloads if p.text]
        await self._transcripts.append(turn.session_key, messages)

    async def _remember(self, turn: Turn, token: str) -> None:
        store = self.services.store
        if store is None:
            raise AgentError("a deferred answer needs the gateway's store")
        target = f"group:{turn.chat_id}" if turn.chat_type is ChatType.GROUP else turn.chat_id
        expires = int((self._clock() + self.options.defer_ttl_seconds) * 1000)
        await store.execute(
            "INSERT INTO deferred_replies (token, agent_id, channel, account_id, target,"
            " message_id, expires_at_ms) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                token,
                self.options.agent_id,
                turn.channel,
                turn.account_id,
                target,
                turn.message_id,
                expires,
            ),
        )


def _turn_id(turn: Turn) -> str:
    return f"{turn.channel}:{turn.account_id}:{turn.message_id}"
