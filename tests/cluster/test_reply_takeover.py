"""A reply of several chunks cut off when its gateway node dies or stops (real NATS servers,
gateway nodes as child processes, the Bot API fake): the node that takes the message over
reads which chunks went out from the message's claim and sends only the rest, plus at most
the one chunk that was in flight."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.gateway_nodes import GatewayNode, bot_cluster, wait_for
from zalogate.testing.nats_servers import NatsCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

CHUNKS = ["first part of the answer.", "second part of the answer.", "third part of the answer."]
"""The echo agent says the user's text back; 30 UTF-16 units a chunk split it in three."""
_prefixes = itertools.count(1)


class Stage:
    """The fake Bot API, the shared config and the nodes started so far."""

    def __init__(self, fake: FakeZaloBotApi, nodes: list[GatewayNode], config: Path) -> None:
        self.fake = fake
        self.nodes = nodes
        self.config_file = config

    async def node(self) -> GatewayNode:
        """Start one more node and wait until it serves."""
        name = f"node{len(self.nodes)}"
        node = GatewayNode(name, self.config_file, self.config_file.parent / name)
        self.nodes.append(node)
        node.start()
        await asyncio.to_thread(node.wait_started)
        return node

    def sends(self) -> int:
        return sum(1 for call in self.fake.calls if call.method == "sendMessage")

    def texts(self) -> list[str]:
        return [str(record.text) for record in self.fake.sent]


@pytest.fixture
async def stage(
    nats_cluster: NatsCluster, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[Stage]:
    """One node started; more with ``stage.node()`` (stopped on the way out, as the first)."""
    cluster = {
        "nats": {"servers": nats_cluster.urls},
        "prefix": f"r{os.getpid()}x{next(_prefixes)}",
        "leaseTtlSeconds": 3,
        "partitions": 4,
    }
    delivery: dict[str, Any] = getattr(request, "param", {})
    async with bot_cluster(
        cluster,
        tmp_path,
        nodes=1,
        zalo={"textChunkLimit": 30},
        messages={"delivery": delivery},
    ) as (fake, nodes, config_file):
        stage = Stage(fake, list(nodes), config_file)
        try:
            yield stage
        finally:
            for node in stage.nodes[1:]:
                await asyncio.to_thread(node.stop)


async def _reply_cut_after_the_first_chunk(
    stage: Stage, hold: Callable[[str], None]
) -> GatewayNode:
    """A user's message whose reply's second ``sendMessage`` the fake holds (``hold``: one
    of its fault methods)."""
    first = stage.nodes[0]
    await wait_for("the poller", lambda: first.account_state() == "running", stage.nodes)
    stage.fake.pass_next("sendMessage")
    hold("sendMessage")
    stage.fake.user("7200000000000000001", "User").says(" ".join(CHUNKS))
    await wait_for("the second chunk in flight", lambda: stage.sends() == 2, stage.nodes)
    return first


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        ({}, [*CHUNKS[:2], *CHUNKS[1:]]),  # the chunk in flight is resent once
        ({"resendUnknown": "never"}, CHUNKS),  # ... or never
    ],
    indirect=["stage"],
    ids=["resend-once", "resend-never"],
)
async def test_a_node_killed_mid_reply_leaves_only_the_chunk_in_flight_twice(
    stage: Stage, expected: list[str]
) -> None:
    # Zalo took chunk 2 and the node dies before the answer: chunk 1 is confirmed in the claim.
    first = await _reply_cut_after_the_first_chunk(stage, stage.fake.hold_after_next)
    assert stage.texts() == CHUNKS[:2]
    await asyncio.to_thread(first.kill)
    await stage.node()  # takes the message over once the first node's heartbeat is gone
    await wait_for("the rest of the reply", lambda: stage.texts()[-1:] == CHUNKS[2:], stage.nodes)
    await asyncio.sleep(1.0)  # a late duplicate would show now
    assert stage.texts() == expected


async def test_a_node_stopped_mid_reply_sends_no_chunk_twice(stage: Stage) -> None:
    # Chunk 2 hangs unanswered (Zalo never took it) when the node is stopped: it hands the
    # message back with its claim, and the next node sends chunks 2 and 3 only.
    first = await _reply_cut_after_the_first_chunk(stage, stage.fake.timeout_next)
    await asyncio.to_thread(first.stop)
    await stage.node()
    await wait_for("the rest of the reply", lambda: len(stage.texts()) >= 3, stage.nodes)
    await asyncio.sleep(1.0)
    assert stage.texts() == CHUNKS
