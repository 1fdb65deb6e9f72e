"""A :class:`Router` as an agent, optionally in front of another agent (fall-through)."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator

from zalogate.agents.services import AgentServices
from zalogate.core.agent import Agent, Turn
from zalogate.core.model import ReplyPayload
from zalogate.handlers.message import Message
from zalogate.handlers.router import Router

__all__ = ["HandlerAgent", "load_router"]


def load_router(spec: str) -> Router:
    """Import ``module:attribute`` and return the :class:`Router` it names.

    Raises:
        ValueError: A one-line reason (bad spec, module not found, not a Router).
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"--app {spec!r}: expected module:router, e.g. mybot:router")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"--app {spec!r}: cannot import {module_name!r} ({exc})") from exc
    router = getattr(module, attribute, None)
    if not isinstance(router, Router):
        raise ValueError(f"--app {spec!r}: {attribute!r} is not a zalogate.handlers.Router")
    return router


class HandlerAgent:
    """Dispatches each turn to ``router``; a turn no handler takes goes to ``fallback``."""

    def __init__(
        self,
        router: Router,
        *,
        services: AgentServices | None = None,
        fallback: Agent | None = None,
    ) -> None:
        self.router = router
        self.services = services or AgentServices()
        self.fallback = fallback

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        """The handler's replies, or the fallback's answer."""
        message = Message(turn, self.services)
        if await self.router.dispatch(message):
            for reply in message.replies:
                yield reply
            return
        if self.fallback is not None:
            async for payload in self.fallback.respond(turn):
                yield payload

    async def aclose(self) -> None:
        """Close the fallback agent, if it has an ``aclose`` method."""
        close = getattr(self.fallback, "aclose", None)  # an optional method of agents
        if close is not None:
            await close()
