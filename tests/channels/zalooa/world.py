"""A gateway running the zalooa channel against a ``FakeZaloOA``, and its helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx2

from zalogate.backoff import BackoffConfig
from zalogate.channels.zalooa import plugin
from zalogate.channels.zalooa.channel import LOOPBACK_MEDIA_EXTRA, ZalooaChannel
from zalogate.core.agent import Turn
from zalogate.core.channel import Channel, ChannelContext, ChannelPlugin
from zalogate.core.model import ReplyPayload
from zalogate.oa import TokenFile, TokenPair
from zalogate.runtime.gateway import Gateway
from zalogate.testing import FakeZaloOA

TINY = BackoffConfig(min_delay=0.001, max_delay=0.01, jitter=0.0)


class Agent:
    def __init__(self, reply: str | None = None) -> None:
        self.reply = reply
        self.turns: list[Turn] = []

    async def respond(self, turn: Turn) -> AsyncIterator[ReplyPayload]:
        self.turns.append(turn)
        yield ReplyPayload(text=self.reply or f"echo: {turn.text}")


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def _plugin() -> ChannelPlugin:
    def create(context: ChannelContext) -> Channel:
        context.extras[LOOPBACK_MEDIA_EXTRA] = True  # the fake's "CDN" is on 127.0.0.1
        return plugin.create(context)

    return ChannelPlugin(id=plugin.id, label=plugin.label, create=create, traits=plugin.traits)


def world(
    fake: FakeZaloOA, tmp_path: Path, agent: Agent, *, drop: tuple[str, ...] = (), **extra: Any
) -> Gateway:
    section = {
        **fake.channel_section(),
        "dmPolicy": "open",
        "allowFrom": ["*"],
        **extra,
    }
    for key in drop:
        section.pop(key)
    pair = fake.grant_pair()
    TokenFile(tmp_path / "state" / "zalooa" / "default", "grant").save(
        TokenPair(pair["access_token"], pair["refresh_token"], fake.clock() + 90000)
    )
    config = SimpleNamespace(
        gateway=SimpleNamespace(host="127.0.0.1", port=0),
        channels=SimpleNamespace(plugin_section=lambda c: section if c == "zalooa" else None),
    )
    return Gateway(
        config,
        state_dir=tmp_path / "state",
        channels=[_plugin()],
        agent=agent,
        backoff=TINY,
        unauthorized_backoff=TINY,
        startup_grace=0.05,
        configure_logs=False,
    )


async def started(gateway: Gateway, fake: FakeZaloOA) -> None:
    fake.webhook_url = f"{gateway.url}/zalooa/default/webhook"
    async with httpx2.AsyncClient() as client:

        async def mounted() -> bool:
            answer = await client.post(fake.webhook_url, content=b"{}")
            return answer.status_code != 404

        async with asyncio.timeout(10):
            while not await mounted():
                await asyncio.sleep(0.02)


async def sends_again(gateway: Gateway, fake: FakeZaloOA) -> None:
    """The gateway's zalooa account sends with the grant it holds now."""
    fake.user("42")
    channel = gateway.channels["zalooa"]
    assert isinstance(channel, ZalooaChannel)
    [account] = channel.accounts()
    receipt = await channel.send(account, "42", ReplyPayload(text="back"))
    assert receipt.message_ids
