"""The message a handler gets: the turn's facts plus ``reply`` and ``react``."""

from __future__ import annotations

from collections.abc import Sequence

from zalogate.agents.services import AgentServices
from zalogate.core.agent import Turn
from zalogate.core.model import ChatType, MediaRef, ReplyPayload

__all__ = ["HandlerError", "Message"]


class HandlerError(Exception):
    """A handler asked for something the channel cannot do (e.g. react without reactions)."""


class Message:
    """One inbound message as a handler sees it.

    Replies are collected and delivered in order by the pipeline once the handler returns
    (chunked, recorded, retried like any agent answer).
    """

    def __init__(self, turn: Turn, services: AgentServices | None = None) -> None:
        self.turn = turn
        self._services = services or AgentServices()
        self.replies: list[ReplyPayload] = []

    @property
    def text(self) -> str:
        """The message's own text."""
        return self.turn.text

    @property
    def channel(self) -> str:
        """``zalo``, ``zalouser``..."""
        return self.turn.channel

    @property
    def account_id(self) -> str:
        """The bot account that received it."""
        return self.turn.account_id

    @property
    def chat_id(self) -> str:
        """The conversation: the user in a DM, the group in a group."""
        return self.turn.chat_id

    @property
    def chat_kind(self) -> str:
        """``direct`` or ``group``."""
        return "group" if self.is_group else "direct"

    @property
    def is_group(self) -> bool:
        """True in a group chat."""
        return self.turn.chat_type is ChatType.GROUP

    @property
    def sender_id(self) -> str:
        """Who sent it."""
        return self.turn.sender_id

    @property
    def sender_name(self) -> str | None:
        """The sender's display name, when known."""
        return self.turn.sender_name

    @property
    def message_id(self) -> str:
        """The message's id (what ``react`` reacts to)."""
        return self.turn.message_id

    @property
    def was_mentioned(self) -> bool:
        """The bot was mentioned (groups)."""
        return self.turn.was_mentioned

    @property
    def media(self) -> tuple[MediaRef, ...]:
        """Attachments (downloaded files have a ``path``)."""
        return self.turn.media

    @property
    def target(self) -> str:
        """Where replies go (``group:<id>`` in groups)."""
        return f"group:{self.chat_id}" if self.is_group else self.chat_id

    async def reply(self, text: str = "", *, media: Sequence[str] = ()) -> None:
        """Answer in the same conversation (text and/or media URLs or paths)."""
        self.replies.append(ReplyPayload(text=text, media_urls=tuple(media)))

    answer = reply

    async def react(self, reaction: str) -> None:
        """React to this message through the channel's ``reactions`` capability.

        Raises:
            HandlerError: The channel cannot react, or it is not running.
        """
        channel = self._services.channels.get(self.channel)
        reactions = channel.reactions if channel is not None else None
        account = channel.account(self.account_id) if channel is not None else None
        if reactions is None or account is None:
            raise HandlerError(f"channel {self.channel!r} cannot react to messages")
        await reactions.react(account, self.target, self.message_id, reaction)
