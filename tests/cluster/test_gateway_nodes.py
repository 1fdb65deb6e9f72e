"""Gateway nodes (child processes) on a real 3-server NATS cluster, against the Bot API fake.

A node is SIGKILLed, and a NATS server is SIGKILLed, while messages are being processed: no
message is lost, each conversation's replies keep their order, at most one reply is sent twice
per killed gateway node and none after a NATS server's loss, and the account's poller moves to
another node. ``ZALOGATE_CLUSTER_LONG=1``
runs the same with many more messages.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.fake_botapi.actors import FakeUser
from zalogate.testing.fake_llm import FakeLLMServer
from zalogate.testing.gateway_nodes import GatewayNode, cluster_bot_config
from zalogate.testing.nats_servers import NatsCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

LONG = os.environ.get("ZALOGATE_CLUSTER_LONG") == "1"
USERS = 12 if LONG else 6
PER_PHASE = 10 if LONG else 2
TTL = 3.0
_prefixes = itertools.count(1)


class Scene:
    """The fakes, the users and the gateway nodes of one test."""

    def __init__(self, fake: FakeZaloBotApi, nodes: list[GatewayNode]) -> None:
        self.fake = fake
        self.nodes = nodes
        self.users: list[FakeUser] = [
            fake.user(f"{7_100_000_000_000_000_000 + i}", f"User {i}") for i in range(USERS)
        ]
        self.said: dict[str, list[str]] = {user.chat_id: [] for user in self.users}
        self._seq = itertools.count()

    def say_round(self, count: int) -> None:
        for _ in range(count):
            n = next(self._seq)
            for index, user in enumerate(self.users):
                text = f"u{index} m{n}"
                user.says(text)
                self.said[user.chat_id].append(text)

    @property
    def total(self) -> int:
        return sum(len(v) for v in self.said.values())

    def holders(self) -> list[GatewayNode]:
        return [node for node in self.nodes if node.running and node.account_state() == "running"]

    async def wait_for(self, what: str, check: Callable[[], bool], timeout: float) -> float:
        start = time.monotonic()
        while not await asyncio.to_thread(check):
            if time.monotonic() - start > timeout:
                tails = "\n".join(f"--- {n.name}\n{n.stderr_tail(1500)}" for n in self.nodes)
                raise AssertionError(f"timed out waiting for {what}\n{tails}")
            await asyncio.sleep(0.1)
        return time.monotonic() - start

    def replies(self) -> dict[str, list[str]]:
        by_chat: dict[str, list[str]] = {chat: [] for chat in self.said}
        for record in self.fake.sent:
            by_chat.setdefault(str(record.chat_id), []).append(str(record.text))
        return by_chat

    def check_delivery(self, killed_nodes: int, *, ordered: bool = True) -> None:
        replies = self.replies()
        twice: list[str] = []
        for chat, said in self.said.items():
            got = replies[chat]
            assert set(got) == set(said), f"{chat}: missing {set(said) - set(got)}"
            twice += [text for text in set(got) for _ in range(got.count(text) - 1)]
            if ordered:
                first_seen = list(dict.fromkeys(got))
                assert first_seen == said, f"{chat}: order {first_seen} != {said}"
        assert len(twice) <= killed_nodes, f"answered more than once: {sorted(twice)}"


@pytest.fixture
async def scene(nats_cluster: NatsCluster, tmp_path: Path) -> AsyncIterator[Scene]:
    async with FakeZaloBotApi() as fake, FakeLLMServer(delay=0.3) as llm:
        cluster = {
            "nats": {"servers": nats_cluster.urls},
            "prefix": f"g{os.getpid()}x{next(_prefixes)}",
            "leaseTtlSeconds": TTL,
            "partitions": 8,
            "maxConcurrency": 4,
        }
        config = cluster_bot_config(
            cluster,
            bot_tokens=[fake.token],
            bot_api_url=fake.base_url,
            llm_url=llm.base_url,
            llm_model=llm.model,
        )
        config_file = tmp_path / "zalogate.json"
        config_file.write_text(json.dumps(config))
        nodes = [GatewayNode(f"node{i}", config_file, tmp_path / f"node{i}") for i in range(3)]
        try:
            for node in nodes:
                node.start()
            for node in nodes:
                await asyncio.to_thread(node.wait_started)
            scene = Scene(fake, nodes)
            await scene.wait_for("one poller", lambda: len(scene.holders()) == 1, 30)
            yield scene
        finally:
            for node in nodes:
                await asyncio.to_thread(node.stop)


async def test_a_killed_gateway_node_loses_nothing_and_its_account_moves(scene: Scene) -> None:
    bot = scene.fake.bots[0]
    scene.say_round(PER_PHASE)
    # every update is in the stream (handed out and published) before the poller dies
    await scene.wait_for("the first updates taken", lambda: bot.pending == 0, 30)
    await asyncio.sleep(0.5)
    (holder,) = scene.holders()
    await scene.wait_for("replies under way", lambda: len(scene.fake.sent) >= USERS // 2, 60)
    await asyncio.to_thread(holder.kill)
    scene.say_round(PER_PHASE)
    moved_after = await scene.wait_for("another poller", lambda: len(scene.holders()) == 1, 30)
    assert scene.holders()[0] is not holder
    assert moved_after < 30
    await scene.wait_for("every reply", lambda: len(scene.fake.sent) >= scene.total, 120)
    await asyncio.sleep(1.0)  # a late duplicate would show now
    scene.check_delivery(killed_nodes=1)


async def test_a_killed_nats_server_loses_nothing(scene: Scene, nats_cluster: NatsCluster) -> None:
    scene.say_round(PER_PHASE)
    await scene.wait_for("replies under way", lambda: len(scene.fake.sent) >= USERS // 2, 60)
    await asyncio.to_thread(nats_cluster.kill, 0)
    try:
        scene.say_round(PER_PHASE)
        await scene.wait_for("every reply", lambda: len(scene.fake.sent) >= scene.total, 120)
        await asyncio.sleep(1.0)
        # Order is not promised across the loss of a NATS server (docs/cluster.md, limits):
        # a message whose consumer moved to a new leader mid-delivery can be redelivered
        # after the next one of its partition (seen once in a CI-sized run).
        scene.check_delivery(killed_nodes=0, ordered=False)
    finally:
        await asyncio.to_thread(nats_cluster.restart, 0)
