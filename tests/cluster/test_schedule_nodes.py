"""Scheduled messages sent by real gateway nodes (child processes): created by
``zalogate message schedule`` as its own process, sent once by the scheduler lease holder,
and by the other node when the holder is SIGKILLed before the due time."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from zalogate.cluster import ClusterNode
from zalogate.cluster.schedules import SCHEDULER_LEASE_KEY
from zalogate.config.cluster import ClusterConfig
from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.gateway_nodes import GatewayNode, bot_cluster, run_cli, wait_for
from zalogate.testing.nats_servers import NatsCluster

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

Scene = tuple[FakeZaloBotApi, list[GatewayNode], Path, ClusterConfig]


def cli(config_file: Path, root: Path, *args: str) -> dict[str, object] | list[object]:
    done = run_cli(config_file, root, "message", "schedule", *args, "--json")
    assert done.returncode == 0, done.stderr
    parsed: dict[str, object] | list[object] = json.loads(done.stdout)
    return parsed


@pytest.fixture
async def scene(nats_cluster: NatsCluster, tmp_path: Path) -> AsyncIterator[Scene]:
    cluster = {
        "nats": {"servers": nats_cluster.urls},
        "prefix": f"sch{os.getpid()}",
        "leaseTtlSeconds": 3,
        "partitions": 4,
    }
    async with bot_cluster(cluster, tmp_path) as (fake, nodes, config_file):
        yield fake, nodes, config_file, ClusterConfig.model_validate(cluster)


async def test_a_schedule_is_sent_once_and_survives_its_senders_death(
    scene: Scene, tmp_path: Path
) -> None:
    fake, nodes, config_file, settings = scene
    user = fake.user("7100000000000000002", "Lan")
    root = tmp_path / "cli"

    def texts() -> list[str]:
        return [str(r.text) for r in fake.sent if str(r.chat_id) == user.chat_id]

    first = cli(config_file, root, "-t", user.chat_id, "-m", "nhắc 1", "--at", "+3s")
    assert isinstance(first, dict)
    listed = cli(config_file, root, "list")
    assert [s["id"] for s in listed if isinstance(s, dict)] == [first["id"]]
    await wait_for("the first reminder", lambda: "nhắc 1" in texts(), nodes)
    await asyncio.sleep(2.0)  # a second send (by the other node) would show by now
    assert texts() == ["nhắc 1"]

    cancelled = cli(config_file, root, "-t", user.chat_id, "-m", "never", "--at", "+20s")
    assert isinstance(cancelled, dict)
    cli(config_file, root, "cancel", str(cancelled["id"]))

    second = cli(config_file, root, "-t", user.chat_id, "-m", "nhắc 2", "--at", "+8s")
    assert isinstance(second, dict)
    async with ClusterNode(settings, node_id="observer") as observer:
        lease = await observer.handles.leases.get(SCHEDULER_LEASE_KEY)
        assert (await observer.snapshot())["scheduler"] == lease.value.decode()
    holder = next(n for n in nodes if n.name.encode() == lease.value)
    sending = [(n.health() or {}).get("schedules", {}).get("sending") for n in nodes]
    assert sending == [n is holder for n in nodes]  # only the lease holder runs the loop
    await asyncio.to_thread(holder.kill)  # before the due time
    await wait_for("the second reminder from the survivor", lambda: "nhắc 2" in texts(), nodes)
    await asyncio.sleep(2.0)
    assert texts() == ["nhắc 1", "nhắc 2"]  # once each; the cancelled one never
    assert len(fake.sent) == 2
