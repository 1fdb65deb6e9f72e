"""One polite notice per conversation for a message the agent cannot use.

Users of both Zalo channels complained that stickers, voice notes and other kinds got no
answer at all (OpenClaw issue 47550). A channel marks such a message with media whose
placeholder is :data:`UNSUPPORTED`; after access control its ``prepare_inbound`` hands it to
:meth:`ConversationNotices.answer`, which says the configured notice (``unsupportedReply``;
``false``: nothing) the first time in each conversation, and starts no agent turn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from zalogate.core.delivery import reply_target
from zalogate.core.model import InboundMessage, ReplyPayload

if TYPE_CHECKING:
    from zalogate.core.channel import Channel, ChannelAccount

__all__ = ["UNSUPPORTED", "ConversationNotices", "notice_text", "only_unsupported"]

UNSUPPORTED: Final = "<media:unsupported>"
"""The placeholder of an attachment the agent cannot use."""

_REMEMBERED: Final = 100_000
"""Conversations remembered as told (then the memory starts over: one more notice each)."""


def only_unsupported(message: InboundMessage) -> bool:
    """True when the message holds nothing but kinds the agent cannot use."""
    return bool(message.media) and all(m.placeholder == UNSUPPORTED for m in message.media)


def notice_text(setting: object, default: str) -> str | None:
    """``unsupportedReply``: its text, ``default`` when unset or blank, None for ``false``."""
    if setting is False:
        return None
    if isinstance(setting, str) and setting.strip():
        return setting.strip()
    return default


class ConversationNotices:
    """Which conversations were told already (in memory: a restart may tell one again)."""

    def __init__(self) -> None:
        self._told: set[tuple[str, str]] = set()

    async def answer(
        self, channel: Channel, account: ChannelAccount, message: InboundMessage, notice: str | None
    ) -> None:
        """Send ``notice`` to the message's conversation unless it was sent there before."""
        key = (account.account_id, reply_target(message))
        if notice is None or key in self._told:
            return
        if len(self._told) >= _REMEMBERED:
            self._told.clear()
        self._told.add(key)
        await channel.send(account, reply_target(message), ReplyPayload(text=notice))
