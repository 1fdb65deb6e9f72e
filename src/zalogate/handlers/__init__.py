"""Python handlers in-process, in the aiogram spirit::

    from zalogate.handlers import Message, Router

    router = Router()

    @router.message(command="/start")
    async def start(msg: Message) -> None:
        await msg.reply("Xin chào!")

    @router.message(chat="group", mentioned=True)
    async def mentioned(msg: Message) -> None:
        await msg.react("like")

Run it with ``zalogate gateway run --app mybot:router`` (in front of the configured agents: a
message no handler takes falls through to them), or as an agent of its own
(``{"type": "python", "python": {"app": "mybot:router"}}``).
"""

from __future__ import annotations

from zalogate.handlers.agent import HandlerAgent, load_router
from zalogate.handlers.message import HandlerError, Message
from zalogate.handlers.router import Filter, Handler, Router, SkipHandler

__all__ = [
    "Filter",
    "Handler",
    "HandlerAgent",
    "HandlerError",
    "Message",
    "Router",
    "SkipHandler",
    "load_router",
]
