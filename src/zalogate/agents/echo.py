"""The echo agent: answers every message with its own text (for setup checks and benchmarks)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from zalogate.agents.base import Turn
from zalogate.core.model import ReplyPayload

__all__ = ["EchoAgent"]


class EchoAgent:
    """Replies with exactly the inbound text; messages without text get no reply."""

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        """Yield one payload carrying ``turn.text``."""
        if turn.text:
            yield ReplyPayload(text=turn.text)
