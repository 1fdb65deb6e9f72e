"""Scheduled messages shared by every node (JetStream KV, real servers): one store seen from
two connections, occurrences moved on once under races, and the scheduler run by the lease
holder only."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from zalogate.cli.app import main
from zalogate.cluster import ClusterNode
from zalogate.cluster.layout import kv_key
from zalogate.cluster.schedules import SCHEDULER_LEASE
from zalogate.config.cluster import ClusterConfig
from zalogate.core.schedules import Schedule
from zalogate.runtime.scheduler import Scheduler


@pytest.fixture
async def nodes(cluster_settings: ClusterConfig) -> AsyncIterator[tuple[ClusterNode, ClusterNode]]:
    async with (
        ClusterNode(cluster_settings, node_id="node-a") as a,
        ClusterNode(cluster_settings, node_id="node-b") as b,
    ):
        yield a, b


def now_ms() -> int:
    return int(time.time() * 1000)


async def test_a_schedule_added_on_one_node_is_listed_and_cancelled_on_the_other(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = nodes
    first = await a.shared.schedules.add("zalo", "u1", "họp lúc 10h", at_ms=now_ms() + 60_000)
    second = await a.shared.schedules.add("zalo", "u2", "daily", cron="0 8 * * *", tz="UTC")
    listed = await b.shared.schedules.all()
    assert [s.id for s in listed] == [first.id, second.id]  # next occurrence first
    assert listed[0] == first
    assert await b.shared.schedules.cancel(first.id)
    assert not await a.shared.schedules.cancel(first.id)  # once
    assert [s.id for s in await a.shared.schedules.all()] == [second.id]
    cancelled = await a.shared.schedules.get(first.id)
    assert cancelled is not None
    assert cancelled.status == "cancelled"
    assert {s.id for s in await a.shared.schedules.all(include_done=True)} == {
        first.id,
        second.id,
    }


async def test_racing_advances_move_an_occurrence_on_once(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = nodes
    schedule = await a.shared.schedules.add("zalo", "u1", "tick", cron="* * * * *", tz="UTC")
    [due] = await b.shared.schedules.due(schedule.next_at_ms or 0)
    stores = [a.shared.schedules, b.shared.schedules] * 4
    moved = await asyncio.gather(
        *(s.advance(due, sent=True, now_ms=due.next_at_ms or 0) for s in stores)
    )
    assert moved.count(True) == 1
    after = await b.shared.schedules.get(schedule.id)
    assert after is not None
    assert after.sent_count == 1
    assert after.next_at_ms == (due.next_at_ms or 0) + 60_000
    assert await a.shared.schedules.due(due.next_at_ms or 0) == []


class Outbox:
    """Records each node's scheduled sends."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def sender(self, node: str):  # type: ignore[no-untyped-def]
        async def send(schedule: Schedule) -> Sequence[str]:
            self.sent.append((node, schedule.id))
            return ["m1"]

        return send


async def wait_until(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_two_schedulers_send_an_occurrence_once_and_the_survivor_takes_over(
    cluster_settings: ClusterConfig,
) -> None:
    outbox = Outbox()
    async with (
        ClusterNode(cluster_settings, node_id="node-a") as a,
        ClusterNode(cluster_settings, node_id="node-b") as b,
    ):
        for node in (a, b):
            scheduler = Scheduler(
                node.shared.schedules, outbox.sender(node.node_id), poll_interval=0.05
            )
            node.start_scheduler(scheduler, since_ms=now_ms())
        once = await a.shared.schedules.add("zalo", "u1", "once", at_ms=now_ms() + 1_000)
        await wait_until(lambda: len(outbox.sent) == 1)
        await asyncio.sleep(1.0)  # a second send would show by now
        assert [sent for _, sent in outbox.sent] == [once.id]
        done = await b.shared.schedules.get(once.id)
        assert done is not None
        assert (done.status, done.sent_count) == ("done", 1)

        holder_name = outbox.sent[0][0]
        holder, survivor = (a, b) if holder_name == "node-a" else (b, a)
        lease = await holder.handles.leases.get(kv_key("account", *SCHEDULER_LEASE))
        assert lease.value == holder_name.encode()
        # The holder dies without giving the lease back (its task vanishes, the key stays
        # until the TTL): the survivor takes the lease and sends the next schedule.
        running = holder._scheduler
        assert running is not None
        holder._scheduler = None
        running[0].cancel()  # a cancel inside ``hold`` gives the lease back: put it back
        await asyncio.gather(running[0], return_exceptions=True)
        await holder.handles.leases.put(kv_key("account", *SCHEDULER_LEASE), holder_name.encode())
        later = await holder.shared.schedules.add("zalo", "u2", "later", at_ms=now_ms() + 500)
        await wait_until(
            lambda: len(outbox.sent) == 2, timeout=cluster_settings.lease_ttl_seconds * 5
        )
        assert outbox.sent[1] == (survivor.node_id, later.id)


def run_cli(args: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(args)
    code = exited.value.code
    return code if isinstance(code, int) else 1


async def test_schedule_cli_talks_to_the_cluster(
    cluster_settings: ClusterConfig,
    nodes: tuple[ClusterNode, ClusterNode],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = {
        "gateway": {"cluster": cluster_settings.model_dump(mode="json", by_alias=True)},
        "channels": {"zalo": {"botToken": "12345:abcdef"}},
    }
    (tmp_path / "zalogate.json").write_text(json.dumps(config))
    monkeypatch.setenv("ZALOGATE_CONFIG", str(tmp_path / "zalogate.json"))
    monkeypatch.setenv("ZALOGATE_STATE_DIR", str(tmp_path / "state"))
    args = ["message", "schedule", "-t", "u9", "-m", "hi", "--at", "+10m", "--json"]
    assert await asyncio.to_thread(run_cli, args) == 0
    created = json.loads(capsys.readouterr().out)
    [seen] = await nodes[1].shared.schedules.all()
    assert (seen.id, seen.target, seen.text) == (created["id"], "u9", "hi")
    assert await asyncio.to_thread(run_cli, ["message", "schedule", "list", "--json"]) == 0
    assert [s["id"] for s in json.loads(capsys.readouterr().out)] == [created["id"]]
    assert await asyncio.to_thread(run_cli, ["message", "schedule", "cancel", seen.id]) == 0
    assert await nodes[0].shared.schedules.all() == []
    assert await asyncio.to_thread(run_cli, ["message", "schedule", "cancel", seen.id]) == 1
    assert "no active schedule" in capsys.readouterr().err
