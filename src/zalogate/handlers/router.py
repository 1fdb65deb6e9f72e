"""``Router``: handlers with filters, tried in registration order; the first that takes a
message (does not raise :class:`SkipHandler` nor return ``False``) ends the dispatch."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from zalogate.handlers.message import Message

__all__ = ["Filter", "Handler", "Router", "SkipHandler"]

Filter = Callable[[Message], bool]
Handler = Callable[[Message], Awaitable[object]]


class SkipHandler(Exception):  # noqa: N818 (aiogram's name)
    """Raised by a handler to let the message go on to the next handler (or the agent)."""


@dataclass(frozen=True, slots=True)
class _Entry:
    filters: tuple[Filter, ...]
    handler: Handler

    def matches(self, message: Message) -> bool:
        return all(check(message) for check in self.filters)


class Router:
    """A list of message handlers; ``include_router`` nests another router after them."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name
        self._entries: list[_Entry | Router] = []

    def message(
        self,
        *filters: Filter,
        text: str | None = None,
        startswith: str | None = None,
        contains: str | None = None,
        regex: str | None = None,
        command: str | None = None,
        channel: str | None = None,
        chat: Literal["direct", "group"] | None = None,
        mentioned: bool | None = None,
    ) -> Callable[[Handler], Handler]:
        """Register the decorated coroutine for messages that pass every filter.

        Args:
            filters: Any ``Message -> bool`` callables.
            text: The whole text, ignoring case and surrounding space.
            startswith: The text starts with this (ignoring case).
            contains: The text contains this (ignoring case).
            regex: ``re.search`` on the text.
            command: ``/start`` matches ``/start`` and ``/start args``.
            channel: ``zalo``, ``zalouser``...
            chat: ``direct`` or ``group``.
            mentioned: The bot was (or was not) mentioned.
        """
        checks = list(filters)
        if text is not None:
            wanted = text.strip().lower()
            checks.append(lambda m: m.text.strip().lower() == wanted)
        if startswith is not None:
            prefix = startswith.lower()
            checks.append(lambda m: m.text.strip().lower().startswith(prefix))
        if contains is not None:
            part = contains.lower()
            checks.append(lambda m: part in m.text.lower())
        if regex is not None:
            pattern = re.compile(regex)
            checks.append(lambda m: pattern.search(m.text) is not None)
        if command is not None:
            name = command.strip().lower()
            checks.append(lambda m: (m.text.strip().lower().split() or [""])[0] == name)
        if channel is not None:
            checks.append(lambda m: m.channel == channel)
        if chat is not None:
            checks.append(lambda m: m.chat_kind == chat)
        if mentioned is not None:
            checks.append(lambda m: m.was_mentioned is mentioned)

        def register(handler: Handler) -> Handler:
            self._entries.append(_Entry(tuple(checks), handler))
            return handler

        return register

    def include_router(self, router: Router) -> Router:
        """Try ``router``'s handlers after this one's (in the order of inclusion)."""
        self._entries.append(router)
        return router

    async def dispatch(self, message: Message) -> bool:
        """Run the first handler that takes ``message``; True when one did."""
        for entry in self._entries:
            if isinstance(entry, Router):
                if await entry.dispatch(message):
                    return True
                continue
            if not entry.matches(message):
                continue
            try:
                result = await entry.handler(message)
            except SkipHandler:
                continue
            if result is not False:
                return True
        return False
