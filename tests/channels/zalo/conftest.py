"""Shared set-up for the ``zalo`` channel tests: the fake Bot API on loopback, a real store,
the real inbox and pipeline with the echo agent, and (for webhooks) the gateway's HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from zalogate.agents.echo import EchoAgent
from zalogate.backoff import BackoffConfig
from zalogate.channels.zalo.channel import ZaloChannel, ZaloChannelOptions, create_channel
from zalogate.channels.zalo.outbound import RetryPolicy
from zalogate.channels.zalo.webhook import WebhookOptions
from zalogate.core.agent import Agent
from zalogate.core.channel import ChannelAccount, ChannelContext
from zalogate.core.ingress import Inbox, InboxConfig
from zalogate.core.pipeline import Pipeline
from zalogate.runtime.http import HttpServer
from zalogate.store import Store
from zalogate.testing.fake_botapi import FakeZaloBotApi

TINY = BackoffConfig(min_delay=0.01, max_delay=0.05, jitter=0.0)


async def public_resolver(host: str) -> list[str]:
    """DNS without the network: names resolve to a public documentation address, except the
    ones a test uses to point at private networks."""
    table = {
        "intranet.example": ["10.0.0.7"],
        "rebind.example": ["93.184.215.14", "127.0.0.1"],
    }
    return table.get(host, ["93.184.215.14"])


def fast_options(**changes: Any) -> ZaloChannelOptions:
    """Options for tests: loopback media allowed, short delays, no real DNS, empty env."""
    base = ZaloChannelOptions(
        env={},
        allow_loopback_media=True,
        resolver=public_resolver,
        polling_backoff=TINY,
        send_retry=RetryPolicy(attempts=3, backoff=TINY),
        poll_timeout=5,
        media_header_timeout=2.0,
        media_idle_timeout=1.0,
        webhook=WebhookOptions(admit_delays=(0.0, 0.01, 0.01), body_timeout=2.0),
    )
    return replace(base, **changes)


def zalo_config(fake: FakeZaloBotApi | None, **settings: Any) -> dict[str, Any]:
    """A root config with one ``channels.zalo`` block pointed at the fake."""
    section: dict[str, Any] = {}
    if fake is not None:
        section = {"botToken": fake.token, "apiBaseUrl": fake.base_url}
    section.update(settings)
    return {"channels": {"zalo": section}}


@dataclass
class Harness:
    """A channel wired to a real inbox + pipeline (echo agent), monitors started on demand."""

    channel: ZaloChannel
    inbox: Inbox
    pipeline: Pipeline
    store: Store
    http: HttpServer | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    monitors: dict[str, asyncio.Task[None]] = field(default_factory=dict)

    def account(self, account_id: str = "default") -> ChannelAccount:
        return next(a for a in self.channel.accounts() if a.account_id == account_id)

    def start(self, account_id: str = "default") -> asyncio.Task[None]:
        task = asyncio.create_task(self.channel.run(self.account(account_id), self.stop))
        self.monitors[account_id] = task
        return task

    async def stop_monitors(self) -> None:
        self.stop.set()
        tasks = list(self.monitors.values())
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            if task.done() and not task.cancelled():
                with contextlib.suppress(Exception):
                    task.result()
        self.monitors.clear()

    async def settle(self) -> None:
        """Wait until the inbox processed everything admitted so far."""
        async with asyncio.timeout(10):
            await self.inbox.wait_idle()

    @property
    def url(self) -> str:
        assert self.http is not None
        return self.http.url


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def fake() -> AsyncIterator[FakeZaloBotApi]:
    async with FakeZaloBotApi(webhook_retry_delays=(0.01, 0.02)) as server:
        yield server


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "state")
    yield opened
    await opened.close()


@pytest.fixture
async def make_harness(tmp_path: Path, store: Store) -> AsyncIterator[HarnessFactory]:
    made: list[Harness] = []
    servers: list[HttpServer] = []

    async def factory(
        config: Mapping[str, Any] | Any,
        *,
        options: ZaloChannelOptions | None = None,
        agent: Agent | None = None,
        http: bool = False,
        start_inbox: bool = True,
    ) -> Harness:
        server: HttpServer | None = None
        if http:
            server = HttpServer("127.0.0.1", 0, shutdown_timeout=1.0)
            await server.start()
            servers.append(server)
        inbox = Inbox(store, None, config=InboxConfig(backoff=TINY, max_attempts=3))
        context = ChannelContext(
            config=config, state_dir=tmp_path / "state", store=store, inbox=inbox, routes=server
        )
        channel = create_channel(context, options or fast_options())

        def policy_for(message: Any) -> Any:
            account = next(a for a in channel.accounts() if a.account_id == message.account_id)
            return channel.policy(account)

        pipeline = Pipeline(
            store=store,
            channels={"zalo": channel},
            policy_for=policy_for,
            agent=agent or EchoAgent(),
        )
        inbox.set_handler(pipeline.process)
        if start_inbox:
            await inbox.start()
        harness = Harness(channel, inbox, pipeline, store, server)
        made.append(harness)
        return harness

    yield factory
    for harness in made:
        await harness.stop_monitors()
        await harness.inbox.stop(timeout=2)
        await harness.channel.aclose()
    for server in servers:
        await server.stop()
