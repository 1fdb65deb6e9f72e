"""The Zalo simulators a sandbox can run against, behind one small interface.

A :class:`Simulator` starts a fake Zalo on 127.0.0.1, says how the gateway's channel must be
configured to use it (the ``channels.<id>`` block and ``ChannelContext.extras``), takes the
steps an operator takes before the gateway starts (``prepare``), plays the sandbox user (in a
direct chat or in a group) and hands out the bot's replies in the order the fake got them.

``zalo`` runs :class:`~zalogate.testing.FakeZaloBotApi`; ``zalooa`` runs ``FakeZaloOA``
(:mod:`~zalogate.sandbox.zalooa_simulator`); ``zalouser`` runs
``zalogate.testing.fake_personal.FakeZaloPersonal``
(:class:`~zalogate.sandbox.zalouser_simulator.ZalouserSimulator`: the QR login in
``prepare``, direct and group messages with real mentions). A new simulator is one class and
one entry in :data:`SIMULATORS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from zalogate.testing.fake_botapi import FakeZaloBotApi, SentRecord

if TYPE_CHECKING:
    from zalogate.config import ZalogateConfig

__all__ = [
    "SIMULATORS",
    "BotApiSimulator",
    "BotReply",
    "SandboxError",
    "Simulator",
    "simulator_for",
]


class SandboxError(Exception):
    """The sandbox cannot do what was asked (unknown channel, nothing pending to approve)."""


@dataclass(frozen=True, slots=True)
class BotReply:
    """One message the bot sent, as the simulator received it."""

    chat_id: str
    text: str
    in_group: bool = False
    media_url: str | None = None
    kind: str = "text"
    """``text``, ``photo`` or ``sticker``."""


class Simulator(Protocol):
    """A fake Zalo for one channel, with one scripted user and one group."""

    channel: str
    """The channel id the gateway runs against this simulator."""
    user_id: str
    user_name: str
    group_id: str
    group_name: str
    bot_name: str
    """The bot's display name in the simulated Zalo (the one a group mention names)."""

    async def start(self) -> None:
        """Start the fake server on 127.0.0.1."""
        ...

    async def stop(self) -> None:
        """Stop the fake server."""
        ...

    def channel_config(self, user_block: Mapping[str, Any]) -> dict[str, Any]:
        """The ``channels.<id>`` block pointing at the fake.

        ``user_block`` is that block from the user's config; its policy keys are kept, its
        credentials and endpoints are replaced.
        """
        ...

    def context_extras(self) -> dict[str, Any]:
        """Entries for the simulated channel's ``ChannelContext.extras`` (its test knobs)."""
        ...

    async def prepare(
        self, config: ZalogateConfig, state_dir: Path, info: Callable[[str], None]
    ) -> None:
        """Steps before the gateway starts, as an operator would take them.

        zalouser: the QR login into ``state_dir`` (the simulator scans and confirms the code),
        so that the gateway starts from the saved credentials like after ``channels login``.
        """
        ...

    def attach(self, gateway_url: str) -> None:
        """The gateway is up at ``gateway_url`` (for a fake that POSTs webhooks to it)."""
        ...

    async def say(self, text: str) -> None:
        """The user writes ``text`` to the bot in a direct chat."""
        ...

    async def say_in_group(self, text: str, *, mention: bool) -> str | None:
        """The user writes ``text`` in the group, mentioning the bot or not.

        Returns:
            A note for the person when Zalo would not pass the message on, else None.
        """
        ...

    async def next_reply(self, timeout: float) -> BotReply | None:  # noqa: ASYNC109
        """The bot's next reply not handed out yet; None when none came within ``timeout``."""
        ...


# Keys of the user's channels.zalo block that would point the sandbox at the real Zalo.
_ZALO_ENDPOINT_KEYS = frozenset(
    {
        "accounts",
        "defaultAccount",
        "enabled",
        "botToken",
        "tokenFile",
        "webhookUrl",
        "webhookSecret",
        "webhookPath",
        "apiBaseUrl",
        "proxy",
    }
)


class BotApiSimulator:
    """The ``zalo`` channel against :class:`FakeZaloBotApi` (long-polling)."""

    channel = "zalo"
    user_id = "6011223344556677"
    user_name = "Sandbox User"
    group_id = "9011223344556677"
    group_name = "Sandbox Group"
    bot_name = "zalogate.sandbox"

    def __init__(self) -> None:
        self.fake = FakeZaloBotApi(name=self.bot_name)
        self._cursor = 0

    async def start(self) -> None:
        """Start the fake Bot API."""
        await self.fake.start()

    async def stop(self) -> None:
        """Stop the fake Bot API."""
        await self.fake.stop()

    def channel_config(self, user_block: Mapping[str, Any]) -> dict[str, Any]:
        """The user's policy keys, with the fake's token and base URL."""
        kept = {k: v for k, v in user_block.items() if k not in _ZALO_ENDPOINT_KEYS}
        return {
            **kept,
            "enabled": True,
            "botToken": self.fake.token,
            "apiBaseUrl": self.fake.base_url,
            # Short polls: the gateway stops promptly when the person quits.
            "pollTimeoutSeconds": 2,
        }

    def context_extras(self) -> dict[str, Any]:
        """Channel options: images on the loopback fake may be fetched and sent; the
        environment has ``ZALO_API_URL`` at the fake and no real ``ZALO_BOT_TOKEN``."""
        from zalogate.channels.zalo.channel import OPTIONS_EXTRA, ZaloChannelOptions

        env = {k: v for k, v in os.environ.items() if k != "ZALO_BOT_TOKEN"}
        env["ZALO_API_URL"] = self.fake.base_url
        return {OPTIONS_EXTRA: ZaloChannelOptions(env=env, allow_loopback_media=True)}

    async def prepare(
        self, config: ZalogateConfig, state_dir: Path, info: Callable[[str], None]
    ) -> None:
        """Nothing to do: a bot token needs no login."""

    def attach(self, gateway_url: str) -> None:
        """Nothing to do: the bot long-polls the fake."""

    async def say(self, text: str) -> None:
        """Send ``text`` to the bot in a DM."""
        self.fake.user(self.user_id, name=self.user_name).says(text)

    async def say_in_group(self, text: str, *, mention: bool) -> str | None:
        """Send ``text`` in the group, written ``@<bot name> text`` when it mentions the bot.

        Zalo hands a Bot API bot only the group messages that mention (or quote) it, so a
        message without a mention never reaches the gateway.
        """
        if not mention:
            return (
                "Zalo delivers to a Bot API bot only the group messages that mention it:"
                " the gateway does not see this one (use /mention)"
            )
        group = self.fake.group(self.group_id, name=self.group_name)
        group.user(self.user_id, name=self.user_name).says(f"@{self.bot_name} {text}")
        return None

    async def next_reply(self, timeout: float) -> BotReply | None:  # noqa: ASYNC109
        """Wait for the next message the bot sent."""
        try:
            sent = await self.fake.wait_for_sent(
                self._cursor + 1, bot=self.fake.bot, timeout=timeout
            )
        except TimeoutError:
            return None
        record = sent[self._cursor]
        self._cursor += 1
        return self._reply(record)

    def _reply(self, record: SentRecord) -> BotReply:
        kind = {"sendPhoto": "photo", "sendSticker": "sticker"}.get(record.method, "text")
        return BotReply(
            chat_id=record.chat_id,
            text=record.text or record.caption or "",
            in_group=record.chat_id == self.group_id,
            media_url=record.photo,
            kind=kind,
        )


def _zalouser_simulator() -> Simulator:
    # Imported on use: the personal channel and its fake are not needed for ``zalo``.
    from zalogate.sandbox.zalouser_simulator import ZalouserSimulator

    return ZalouserSimulator()


def _zalooa_simulator() -> Simulator:
    from zalogate.sandbox.zalooa_simulator import ZalooaSimulator

    return ZalooaSimulator()


SIMULATORS: dict[str, Callable[[], Simulator]] = {
    "zalo": BotApiSimulator,
    "zalouser": _zalouser_simulator,
    "zalooa": _zalooa_simulator,
}
"""Channel id -> simulator factory."""


def simulator_for(channel: str) -> Simulator:
    """A new simulator for ``channel``.

    Raises:
        SandboxError: No simulator exists for that channel.
    """
    factory = SIMULATORS.get(channel)
    if factory is None:
        known = ", ".join(sorted(SIMULATORS))
        raise SandboxError(f"no sandbox simulator for channel {channel!r} (available: {known})")
    return factory()
