"""Account leases against a real NATS cluster: one holder, hand-over within the TTL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from zalogate.cluster import ClusterNode
from zalogate.config.cluster import ClusterConfig

ACCOUNT = ("zalo", "default")


async def test_one_node_holds_an_account_and_the_other_stands_by(
    cluster_settings: ClusterConfig,
) -> None:
    # A 5 s TTL: on a loaded CI machine a 2 s one is shorter than a stall of the test process
    # (both nodes share its event loop), and a lease nobody renews is rightly taken over.
    settings = cluster_settings.model_copy(update={"lease_ttl_seconds": 5})
    async with (
        ClusterNode(settings, node_id="a") as a,
        ClusterNode(settings, node_id="b") as b,
    ):
        stop = asyncio.Event()
        async with a.leases.hold(ACCOUNT, stop) as lost_a:
            assert lost_a is not None
            waiting = asyncio.create_task(_hold_once(b, stop))
            await asyncio.sleep(2 * settings.lease_ttl_seconds)  # renewed meanwhile
            assert not waiting.done()
            assert not lost_a.is_set()
            assert ACCOUNT in a.leases.held
        # a released it on leaving: b takes it at once
        assert await asyncio.wait_for(waiting, 5) == "held"


async def test_a_dead_holders_lease_moves_within_the_ttl(cluster_settings: ClusterConfig) -> None:
    stop = asyncio.Event()
    async with ClusterNode(cluster_settings, node_id="b") as b:
        async with ClusterNode(cluster_settings, node_id="a") as a:
            holder = a.leases.hold(ACCOUNT, stop)
            assert await holder.__aenter__() is not None
            # a "dies": no renewal, no release (its renewer is cancelled, nothing deleted)
            a.leases.held.clear()
            for task in asyncio.all_tasks():
                if task.get_name().startswith("lease:"):
                    task.cancel()
        died = time.monotonic()
        assert await asyncio.wait_for(_hold_once(b, stop), 15) == "held"
        moved = time.monotonic() - died
        assert moved <= cluster_settings.lease_ttl_seconds * 2 + 1


async def test_a_lease_taken_by_another_node_is_reported_lost(
    cluster_settings: ClusterConfig,
) -> None:
    async with ClusterNode(cluster_settings, node_id="a") as a:
        stop = asyncio.Event()
        async with a.leases.hold(ACCOUNT, stop) as lost:
            assert lost is not None
            # someone overwrites the key (an operator's purge, a split brain): a must stop
            await a.handles.leases.put("account.zalo.default", b"intruder")
            await asyncio.wait_for(lost.wait(), 3 * cluster_settings.lease_ttl_seconds)


async def test_a_renewal_that_timed_out_but_landed_keeps_the_lease(
    cluster_settings: ClusterConfig,
) -> None:
    # NATS commits a renewal after the node stopped waiting for it: the next renewal's
    # compare-and-set then fails on the revision, yet the key still names this node.
    async with ClusterNode(cluster_settings, node_id="a") as a:
        bucket = a.handles.leases
        real_update = bucket.update
        landed_late: list[int] = []

        async def update(key: str, value: bytes, last: int | None = None) -> int:
            revision = await real_update(key, value, last=last)
            if not landed_late:
                landed_late.append(revision)
                raise TimeoutError  # the answer never came back
            return revision

        bucket.update = update  # type: ignore[method-assign]
        stop = asyncio.Event()
        async with a.leases.hold(ACCOUNT, stop) as lost:
            assert lost is not None
            await _eventually(lambda: len(landed_late) == 1, 10)
            await asyncio.sleep(2 * cluster_settings.lease_ttl_seconds)  # renewals go on
            assert not lost.is_set()
            entry = await bucket.get("account.zalo.default")
            assert entry.value == b"a"
            assert entry.revision is not None
            assert entry.revision > landed_late[0]
            assert a.leases.held[ACCOUNT] == entry.revision


async def _hold_once(node: ClusterNode, stop: asyncio.Event) -> str:
    async with node.leases.hold(ACCOUNT, stop) as lost:
        return "held" if lost is not None else "stopped"


async def test_accounts_spread_over_the_nodes(cluster_settings: ClusterConfig) -> None:
    accounts = [("zalo", f"bot{i}") for i in range(4)]
    stop = asyncio.Event()
    async with ClusterNode(cluster_settings, node_id="a") as a:
        # a alone takes every account
        holders = [asyncio.create_task(_hold_until(a, account, stop)) for account in accounts]
        await _eventually(lambda: len(a.leases.held) == 4, 10)
        async with ClusterNode(cluster_settings, node_id="b") as b:
            holders += [asyncio.create_task(_hold_until(b, account, stop)) for account in accounts]
            # b joins: a hands over one account per TTL until both hold their share
            await _eventually(lambda: len(a.leases.held) == 2 and len(b.leases.held) == 2, 30)
            assert set(a.leases.held).isdisjoint(b.leases.held)
            stop.set()
            await asyncio.gather(*holders)


async def _hold_until(node: ClusterNode, account: tuple[str, str], stop: asyncio.Event) -> None:
    """What the supervisor does: hold the lease, stand by again when it is lost."""
    while not stop.is_set():
        async with node.leases.hold(account, stop) as lost:
            if lost is None:
                return
            waits = [asyncio.ensure_future(lost.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            for wait in waits:
                wait.cancel()


async def _eventually(check: Callable[[], bool], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.05)
