"""Shared state seen by real gateway nodes (child processes) under ``dmPolicy: pairing``.

The pairing code is approved by ``zalogate pairing approve`` run as its own process (no state
dir of any node), and a conversation is paused through the KV bucket from outside: whichever
node processes the sender's next message must see both.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.cluster import ClusterNode
from zalogate.config.cluster import ClusterConfig
from zalogate.core.takeover import ConversationKey
from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.gateway_nodes import GatewayNode, bot_cluster, wait_for
from zalogate.testing.nats_servers import NatsCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

_prefixes = itertools.count(1)


def cli(config_file: Path, root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ZALOGATE_CONFIG": str(config_file),
        "ZALOGATE_STATE_DIR": str(root),
        "ZALOGATE_NODE_ID": "cli",  # the shared config names each node from its environment
    }
    return subprocess.run(
        [sys.executable, "-m", "zalogate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
async def setup(
    nats_cluster: NatsCluster, tmp_path: Path
) -> AsyncIterator[tuple[FakeZaloBotApi, list[GatewayNode], Path, ClusterConfig]]:
    cluster = {
        "nats": {"servers": nats_cluster.urls},
        "prefix": f"s{os.getpid()}x{next(_prefixes)}",
        "leaseTtlSeconds": 3,
        "partitions": 4,
    }
    pairing = {"dmPolicy": "pairing", "allowFrom": []}
    async with bot_cluster(cluster, tmp_path, zalo=pairing) as (fake, nodes, config_file):
        yield fake, nodes, config_file, ClusterConfig.model_validate(cluster)


async def test_an_approval_and_a_pause_hold_on_every_node(
    setup: tuple[FakeZaloBotApi, list[GatewayNode], Path, ClusterConfig], tmp_path: Path
) -> None:
    fake, nodes, config_file, settings = setup
    user = fake.user("7100000000000000001", "Lan")

    def texts() -> list[str]:
        return [str(r.text) for r in fake.sent if str(r.chat_id) == user.chat_id]

    user.says("hello?")
    await wait_for("the pairing code", lambda: len(texts()) == 1, nodes)
    assert "Pairing code:" in texts()[0]

    root = tmp_path / "cli"
    listed = await asyncio.to_thread(cli, config_file, root, "pairing", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    [request] = json.loads(listed.stdout)["requests"]
    approved = await asyncio.to_thread(
        cli, config_file, root, "pairing", "approve", "zalo", request["code"]
    )
    assert approved.returncode == 0, approved.stderr

    user.says("may I come in now")
    await wait_for("the agent's answer", lambda: "may I come in now" in texts(), nodes)

    async with ClusterNode(settings, node_id="console") as console:
        key = ConversationKey("zalo", "default", user.chat_id)
        await console.shared.takeover.pause(key, int(time.time() * 1000))
        user.says("is a human there")
        deadline = time.monotonic() + 60
        while not await console.shared.takeover.recorded(key, 10):
            assert time.monotonic() < deadline, "the paused message was not recorded"
            await asyncio.sleep(0.1)
        [line] = await console.shared.takeover.recorded(key, 10)
        assert (line.direction, line.text) == ("in", "is a human there")
        await asyncio.sleep(1.0)  # an answer would show by now
        assert "is a human there" not in texts()
        await console.shared.takeover.resume(key)
    user.says("back to the bot")
    await wait_for("the agent again", lambda: "back to the bot" in texts(), nodes)
    assert len(texts()) == 3  # code, two answers: nothing for the paused message
