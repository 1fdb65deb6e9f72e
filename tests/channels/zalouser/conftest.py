"""Set-up for the zalouser channel tests: a FakeZaloPersonal world, configs pointing at it,
saved sessions, and the real gateway pieces (Store, Inbox, Pipeline, EchoAgent) around the
channel. Tests get one :class:`World` through the ``world`` fixture.

The simulated accounts: Bot ``1001`` (friend of Alice and Carol), Bot Two ``1002`` (friend of
Alice), Alice ``2001``, Carol ``2002``, Dave ``2003``; groups Team ``9001`` (Bot, Alice, Carol,
Bot Two) and Other ``9002`` (Bot, Dave).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.backoff import BackoffConfig
from zalogate.channels.zalouser.channel import (
    ZalouserChannel,
    ZalouserChannelOptions,
    create_channel,
)
from zalogate.channels.zalouser.credentials import CredentialStore
from zalogate.channels.zalouser.monitor import MonitorOptions
from zalogate.channels.zalouser.outbound import SendRetry
from zalogate.config import ZalogateConfig, parse_config
from zalogate.core.agent import Turn
from zalogate.core.channel import ChannelContext, ChannelPlugin
from zalogate.core.model import ReplyPayload
from zalogate.personal import Credentials
from zalogate.runtime.gateway import Gateway
from zalogate.store import Store
from zalogate.testing import FakeZaloPersonal
from zalogate.testing.fake_personal import SentRecord

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
TINY = BackoffConfig(min_delay=0.01, max_delay=0.05)
FAST_RETRY = SendRetry(attempts=3, backoff=BackoffConfig(min_delay=0.0, max_delay=0.01))


class RecordingAgent:
    """Records every turn and answers ``reply(turn)`` (default: ``echo: <text>``)."""

    def __init__(self, reply: Callable[[Turn], str | None] | None = None) -> None:
        self.turns: list[Turn] = []
        self._reply = reply or (lambda turn: f"echo: {turn.text}")

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.turns.append(turn)
        text = self._reply(turn)
        if text:
            yield ReplyPayload(text=text)


class _RefusingInbox:
    async def admit(self, message: Any) -> Any:
        raise RuntimeError("a one-off command does not receive messages")


UNPACED = {
    "messagesPerMinute": 0,
    "conversationMessagesPerMinute": 0,
    "strangersPerDay": 0,
    "newConversationsPerHour": 0,
}
"""Send governor limits that never pace nor cap (tests of other behaviour)."""


@dataclass
class World:
    """The fake, a state dir, and helpers to build configs, sessions, gateways and channels."""

    fake: FakeZaloPersonal
    state_dir: Path
    BOT: str = "1001"
    BOT2: str = "1002"
    ALICE: str = "2001"
    CAROL: str = "2002"
    DAVE: str = "2003"
    GROUP: str = "9001"
    GROUP2: str = "9002"
    channels: list[ZalouserChannel] = field(default_factory=list)

    def section(self, **settings: Any) -> dict[str, Any]:
        """A ``channels.zalouser`` block pointing at the fake, plus ``settings``; the send
        governor is off (``UNPACED``) unless ``limits`` is given."""
        fake = self.fake
        return {
            "apiHosts": {"id": fake.base_url, "wpa": fake.base_url, "jr": fake.base_url},
            "websocketUrl": fake.ws_url,
            "limits": UNPACED,
            **settings,
        }

    def config(self, *, root: dict[str, Any] | None = None, **settings: Any) -> ZalogateConfig:
        """A validated config; ``settings`` go into ``channels.zalouser``, ``root`` is merged
        into the top level (``channels`` keys are merged into the channels block)."""
        data: dict[str, Any] = {
            "gateway": {"host": "127.0.0.1", "port": 0},
            "channels": {"zalouser": self.section(**settings)},
        }
        for key, value in (root or {}).items():
            if key == "channels":
                data["channels"].update(value)
            else:
                data[key] = value
        return parse_config(data, env={})

    def save_session(self, uid: str | None = None, profile: str = "default") -> Path:
        """Saved credentials of ``uid`` (default Bot) for ``profile``, as after a QR login."""
        uid = uid or self.BOT
        creds = Credentials.from_json(self.fake.credentials(uid, user_agent=UA, domain="127.0.0.1"))
        return CredentialStore(self.state_dir).save(profile, creds, uid=uid)

    def options(self, **overrides: Any) -> ZalouserChannelOptions:
        """Test options: loopback media allowed (the fake serves photos), fast retries,
        unbatched receipts."""
        base: dict[str, Any] = {
            "env": {},
            "allow_loopback_media": True,
            "send_retry": FAST_RETRY,
            "monitor": MonitorOptions(connect_timeout_s=5.0),
            # Receipts at once, so that "no receipt for X" is checked after X's would be out.
            "receipt_delay": 0.0,
        }
        base.update(overrides)
        return ZalouserChannelOptions(**base)

    def plugin(self, opts: ZalouserChannelOptions | None = None) -> ChannelPlugin:
        """The zalouser plugin with test options (built channels land in ``channels``)."""
        chosen = opts or self.options()

        def create(context: ChannelContext) -> ZalouserChannel:
            channel = create_channel(context, chosen)
            self.channels.append(channel)
            return channel

        return ChannelPlugin(id="zalouser", label="Zalo Personal", create=create)

    @contextlib.asynccontextmanager
    async def gateway(
        self,
        config: ZalogateConfig,
        opts: ZalouserChannelOptions | None = None,
        *,
        agent: Any = None,
        backoff: BackoffConfig = TINY,
    ) -> AsyncIterator[tuple[Gateway, ZalouserChannel]]:
        """A started gateway with the zalouser channel; yields it and the channel."""
        gateway = Gateway(
            config,
            state_dir=self.state_dir,
            channels=[self.plugin(opts)],
            agent=agent or EchoAgent(),
            http_port=0,
            backoff=backoff,
            unauthorized_backoff=backoff,
            startup_grace=0.05,
            configure_logs=False,
            shutdown_timeout=5.0,
        )
        async with gateway:
            yield gateway, self.channels[-1]

    @contextlib.asynccontextmanager
    async def channel(
        self, config: ZalogateConfig, opts: ZalouserChannelOptions | None = None
    ) -> AsyncIterator[ZalouserChannel]:
        """The channel as one-off commands build it (real Store, an inbox that refuses)."""
        store = await Store.open(self.state_dir)
        context = ChannelContext(
            config=config, state_dir=self.state_dir, store=store, inbox=_RefusingInbox()
        )
        channel = create_channel(context, opts or self.options())
        try:
            yield channel
        finally:
            await channel.aclose()
            await store.close()

    async def sent(self, **match: Any) -> SentRecord:
        """Wait for a record the fake saw a client make (``kind``, ``thread_id``, ``text``)."""
        return await self.fake.wait_for_sent(**match)

    async def processed(
        self, gateway: Gateway, message: dict[str, Any], account: str = "default"
    ) -> str:
        """Wait until the inbox finished the fake's ``message``; return the entry state."""
        assert gateway.store is not None
        store = gateway.store
        state = ""

        async def finished() -> bool:
            nonlocal state
            row = await store.fetchone(
                "SELECT state FROM inbox_entries WHERE channel = 'zalouser'"
                " AND account_id = ? AND message_id = ?",
                (account, str(message["msgId"])),
            )
            state = str(row["state"]) if row is not None else ""
            return state not in ("", "pending")

        await eventually(finished)
        return state

    def records(self, kind: str | None = None, thread_id: str | None = None) -> list[SentRecord]:
        """Records so far, filtered."""
        return [
            r
            for r in self.fake.sent
            if (kind is None or r.kind == kind) and (thread_id is None or r.thread_id == thread_id)
        ]


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout_s: float = 5.0) -> None:
    """Wait (bounded) until ``check`` holds."""
    async with asyncio.timeout(timeout_s):
        while True:
            result = check()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(0.01)


@pytest.fixture
def wait_until() -> Callable[..., Awaitable[None]]:
    """``await wait_until(check)``: bounded polling for a condition."""
    return eventually


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    """The simulated Zalo world (see the module docstring) and a fresh state dir."""
    async with FakeZaloPersonal(long_poll_s=0.2) as fake:
        w = World(fake, tmp_path / "state")
        fake.add_account(w.BOT, "Bot", friends=(w.ALICE, w.CAROL))
        fake.add_account(w.BOT2, "Bot Two", friends=(w.ALICE,))
        fake.add_account(w.ALICE, "Alice")
        fake.add_account(w.CAROL, "Carol")
        fake.add_account(w.DAVE, "Dave")
        fake.add_group(w.GROUP, "Team", [w.BOT, w.ALICE, w.CAROL, w.BOT2])
        fake.add_group(w.GROUP2, "Other", [w.BOT, w.DAVE])
        yield w
        assert fake.ws_refusals == [], "the channel sent websocket requests zca-js never sends"
