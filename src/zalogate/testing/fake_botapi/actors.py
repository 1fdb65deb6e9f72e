"""Scripted users, groups and bots: what the test drives."""

from __future__ import annotations

import secrets
import time
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

from zalogate.testing.fake_botapi.models import Signal, new_id, now_ms

if TYPE_CHECKING:
    from zalogate.testing.fake_botapi.server import FakeZaloBotApi


class FakeUser:
    """A scripted Zalo user writing to a bot, in a DM or in a group."""

    def __init__(
        self,
        bot: FakeBot,
        user_id: str,
        name: str | None,
        *,
        chat_id: str | None = None,
        chat_type: Literal["PRIVATE", "GROUP"] = "PRIVATE",
    ) -> None:
        self.bot = bot
        self.id = user_id
        self.name = name
        # In a DM, Zalo's chat id is the sender's id.
        self.chat_id = chat_id if chat_id is not None else user_id
        self.chat_type = chat_type

    def _message(self, message_id: str | None, date: int | None) -> dict[str, Any]:
        sender: dict[str, Any] = {"id": self.id, "is_bot": False}
        if self.name is not None:
            sender["display_name"] = self.name
        return {
            "from": sender,
            "chat": {"id": self.chat_id, "chat_type": self.chat_type},
            "message_id": message_id or new_id(),
            "date": now_ms() if date is None else date,
        }

    def _push(self, event_name: str, message: dict[str, Any]) -> str:
        self.bot.push({"event_name": event_name, "message": message})
        return str(message["message_id"])

    def says(self, text: str, *, message_id: str | None = None, date: int | None = None) -> str:
        """Send a text message to the bot; returns its ``message_id``."""
        message = self._message(message_id, date)
        message["text"] = text
        return self._push("message.text.received", message)

    def sends_image(
        self,
        url: str | None = None,
        *,
        caption: str = "",
        message_id: str | None = None,
        date: int | None = None,
    ) -> str:
        """Send an image (default: a PNG served by the fake); returns its ``message_id``."""
        message = self._message(message_id, date)
        message["message_type"] = "CHAT_PHOTO"
        message["photo_url"] = url if url is not None else self.bot.fake.media_url("photo.png")
        message["caption"] = caption
        return self._push("message.image.received", message)

    def sends_sticker(
        self,
        sticker: str = "bfe458bf64fa8da4d4eb",
        *,
        message_id: str | None = None,
        date: int | None = None,
    ) -> str:
        """Send a sticker by id; returns its ``message_id``."""
        message = self._message(message_id, date)
        message["message_type"] = "CHAT_STICKER"
        message["sticker"] = sticker
        return self._push("message.sticker.received", message)

    def sends_unsupported(self, *, message_id: str | None = None, date: int | None = None) -> str:
        """Send something the Bot API does not pass on (voice, file...); returns its id."""
        message = self._message(message_id, date)
        return self._push("message.unsupported.received", message)


class FakeGroup:
    """A group chat the bot is in; ``group.user(...)`` writes as a member."""

    def __init__(self, bot: FakeBot, group_id: str, name: str | None) -> None:
        self.bot = bot
        self.id = group_id
        self.name = name

    def user(self, user_id: str, name: str | None = None) -> FakeUser:
        """A member of this group."""
        return FakeUser(self.bot, user_id, name, chat_id=self.id, chat_type="GROUP")


class FakeBot:
    """One bot registered with the fake: its token, its pending updates and its webhook."""

    def __init__(self, fake: FakeZaloBotApi, token: str, name: str | None) -> None:
        bot_id, sep, _ = token.partition(":")
        self.fake = fake
        self.token = token
        self.id = bot_id if sep and bot_id.isdigit() else str(secrets.randbelow(10**18))
        self.name = name if name is not None else f"bot.{self.id[-6:]}"
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_updated_at = 0
        self.updates: list[dict[str, Any]] = []
        """Every update pushed to this bot, in order."""
        self.waiting_polls = 0
        """``getUpdates`` calls currently held open."""
        self.last_handed_out_at = 0.0
        """``time.time()`` when ``getUpdates`` or the webhook last took a pending update."""
        self._pending: deque[dict[str, Any]] = deque()
        self._signal = Signal()

    def __repr__(self) -> str:
        return f"FakeBot(id={self.id!r}, name={self.name!r})"

    @property
    def pending(self) -> int:
        """Updates not yet handed out by ``getUpdates`` or the webhook."""
        return len(self._pending)

    def user(self, user_id: str, name: str | None = None) -> FakeUser:
        """A user writing to this bot in a DM."""
        return FakeUser(self, user_id, name)

    def group(self, group_id: str, name: str | None = None) -> FakeGroup:
        """A group this bot is in."""
        return FakeGroup(self, group_id, name)

    def push(self, update: dict[str, Any]) -> None:
        """Queue a raw update (e.g. to replay one); ``getUpdates`` or the webhook hands it out."""
        self.updates.append(update)
        self.fake._call_in_loop(self._enqueue, update)

    def _hand_out(self) -> dict[str, Any]:
        self.last_handed_out_at = time.time()
        return self._pending.popleft()

    def _enqueue(self, update: dict[str, Any]) -> None:
        self._pending.append(update)
        self._signal.notify()
