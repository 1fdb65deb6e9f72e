"""The agent seam: an agent gets a :class:`Turn` and yields :class:`ReplyPayload` s.

These types live in the core because the pipeline builds turns; ``zalogate.agents.base``
re-exports them for agent authors.

The pipeline builds one ``Turn`` per processed inbound message and delivers whatever the agent
yields, in order. An agent may yield nothing (no answer) and may raise: the inbox then retries
the message (or dead-letters it for a :class:`~zalogate.core.errors.NonRetryableError`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from zalogate.core.model import ChatType, MediaRef, ReplyPayload

if TYPE_CHECKING:
    from zalogate.core.history import HistoryEntry

__all__ = ["Agent", "AgentError", "AgentTool", "FunctionTool", "Turn"]


class AgentError(Exception):
    """An agent backend failed (transient unless it is also a ``NonRetryableError``)."""


@runtime_checkable
class AgentTool(Protocol):
    """A tool the agent may call (e.g. the ``zalouser`` channel tool).

    ``parameters`` is a JSON schema of the arguments object.
    """

    @property
    def name(self) -> str:
        """The tool name the model calls."""
        ...

    @property
    def description(self) -> str:
        """What the tool does, for the model."""
        ...

    @property
    def parameters(self) -> Mapping[str, Any]:
        """JSON schema of the arguments object."""
        ...

    async def call(self, args: dict[str, Any]) -> dict[str, Any]:
        """Run the tool; errors are reported as ``{"error": ...}`` rather than raised."""
        ...


@dataclass(frozen=True, slots=True)
class FunctionTool:
    """An :class:`AgentTool` made of a coroutine function."""

    name: str
    description: str
    parameters: Mapping[str, Any]
    function: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]

    async def call(self, args: dict[str, Any]) -> dict[str, Any]:
        """Run the function with ``args``."""
        return await self.function(args)


@dataclass(frozen=True, slots=True)
class Turn:
    """One inbound message, as an agent sees it.

    ``body`` is the prompt (pending group history prepended, quoted context, media
    placeholders); ``text`` is the clean text of the message itself; ``history`` is a
    structured copy of the pending group history that ``body`` carries (OpenClaw's
    ``InboundHistory``), empty when there was none.
    """

    session_key: str
    body: str
    text: str
    sender_id: str
    chat_type: ChatType
    chat_id: str
    channel: str
    account_id: str
    message_id: str
    sender_name: str | None = None
    media: tuple[MediaRef, ...] = ()
    tools: Sequence[AgentTool] = ()
    was_mentioned: bool = False
    group_name: str | None = None
    timestamp_ms: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    history: tuple[HistoryEntry, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready view (camelCase keys, as OpenClaw's envelope), without tools."""
        return {
            "sessionKey": self.session_key,
            "body": self.body,
            "text": self.text,
            "senderId": self.sender_id,
            "senderName": self.sender_name,
            "chatType": self.chat_type.value,
            "chatId": self.chat_id,
            "channel": self.channel,
            "accountId": self.account_id,
            "messageId": self.message_id,
            "wasMentioned": self.was_mentioned,
            "groupName": self.group_name,
            "timestampMs": self.timestamp_ms,
            "media": [m.model_dump(exclude_none=True) for m in self.media],
            "tools": [t.name for t in self.tools],
            "history": [
                {
                    "sender": h.sender,
                    "body": h.body,
                    "timestampMs": h.timestamp_ms,
                    "messageId": h.message_id,
                }
                for h in self.history
            ],
        }


@runtime_checkable
class Agent(Protocol):
    """An agent backend."""

    def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        """Yield the reply payloads for ``turn`` (usually an ``async def`` generator)."""
        ...
