"""Per-message claims (the state machine) against a real 3-server NATS cluster."""

from __future__ import annotations

import asyncio

from zalogate.cluster import ClusterNode
from zalogate.cluster.claims import Claims, Verdict
from zalogate.config.cluster import ClusterConfig
from zalogate.core.ingress import current_entry
from zalogate.core.model import InboundMessage

from .test_inbox import message


def _ghost(node: ClusterNode, node_id: str = "ghost", incarnation: str = "gone") -> Claims:
    """The claims of a node without a heartbeat (dead, or an earlier run)."""
    handles = node.handles
    return Claims(handles.claims, handles.nodes, node_id, incarnation)


async def test_a_claim_is_run_once_then_done(nodes: tuple[ClusterNode, ClusterNode]) -> None:
    a, b = nodes
    verdict, claim = await a.claims.claim(1)
    assert verdict is Verdict.RUN
    assert claim is not None
    assert not claim.takeover
    # a live holder: the other node does not run it
    assert await b.claims.claim(1) == (Verdict.BUSY, None)
    assert await b.claims.claim(1) == (Verdict.BUSY, None)
    await a.claims.finish(claim)
    assert await b.claims.claim(1) == (Verdict.DONE, None)
    assert await a.claims.claim(1) == (Verdict.DONE, None)


async def test_a_dead_holders_claim_is_taken_over_with_its_chunk_outcomes(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, _ = nodes
    ghost = _ghost(a)
    _, held = await ghost.claim(2)
    assert held is not None
    held.chunks[0] = ("sent", ("z1",))
    held.dirty = True
    await ghost.save(held)

    verdict, claim = await a.claims.claim(2)
    assert verdict is Verdict.RUN
    assert claim is not None
    assert claim.takeover
    assert claim.chunks == {0: ("sent", ("z1",))}
    # the dead node's late write loses: the claim is a's now
    held.chunks[1] = ("sent", ("z2",))
    held.dirty = True
    await ghost.save(held)
    assert ghost.unsaved == 1
    await a.claims.finish(claim)
    assert a.claims.unsaved == 0


async def test_a_released_claim_is_taken_over_by_the_next_node(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, b = nodes
    _, claim = await a.claims.claim(3)
    assert claim is not None
    claim.chunks[0] = ("sent", ("z1",))
    await a.claims.release(claim)  # a clean stop, or a retryable failure
    verdict, taken = await b.claims.claim(3)
    assert verdict is Verdict.RUN
    assert taken is not None
    assert taken.takeover
    assert taken.chunks == {0: ("sent", ("z1",))}
    assert (claim.attempt, taken.attempt) == (1, 2)  # runs are attempts, hand-backs are not


async def test_a_node_restarted_under_the_same_id_takes_its_old_claim_over(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, _ = nodes
    earlier = _ghost(a, node_id=a.node_id, incarnation="earlier-run")
    await earlier.claim(4)
    verdict, claim = await a.claims.claim(4)
    assert verdict is Verdict.RUN
    assert claim is not None
    assert claim.takeover


async def test_a_claim_of_this_node_it_no_longer_runs_is_taken_over(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    a, _ = nodes
    _, claim = await a.claims.claim(5)
    assert claim is not None
    assert await a.claims.claim(5) == (Verdict.BUSY, None)  # running here
    a.claims.held.clear()  # e.g. its run ended without a word (the release got no answer)
    verdict, again = await a.claims.claim(5)
    assert verdict is Verdict.RUN
    assert again is not None
    assert again.takeover


async def test_a_message_a_live_node_runs_is_not_run_by_another(
    cluster_settings: ClusterConfig,
) -> None:
    # Node a's message is handed to b (a's "still busy" signals are lost): b sees a's claim
    # and a's heartbeat, and hands the message back instead of running it a second time.
    started, release = asyncio.Event(), asyncio.Event()
    runs: list[tuple[str, int]] = []

    async def slow(msg: InboundMessage) -> None:
        entry = current_entry.get()
        assert entry is not None
        runs.append(("a", entry.attempt))
        started.set()
        await release.wait()

    async def other(msg: InboundMessage) -> None:
        runs.append(("b", 0))

    async def silent(msg: object) -> None:
        return None

    async with ClusterNode(cluster_settings, node_id="a") as a:
        first = a.inbox(None, slow)
        first._keep_alive = silent  # type: ignore[method-assign,assignment]
        await first.start()
        await first.admit(message("u1", 0))
        await asyncio.wait_for(started.wait(), 30)
        async with ClusterNode(cluster_settings, node_id="b") as b:
            second = b.inbox(None, other)
            await second.start()
            try:
                for _ in range(600):  # redelivered to b after the ack wait (2 s)
                    if second.deferred:
                        break
                    await asyncio.sleep(0.1)
                assert second.deferred >= 1
                release.set()
                for _ in range(600):  # a's done claim and ack (or b's ack of a redelivery)
                    if first.processed and not await _unacknowledged(a):
                        break
                    await asyncio.sleep(0.1)
            finally:
                await second.stop()
                await first.stop()
    assert runs == [("a", 1)]
    assert first.processed == 1
    assert second.processed == 0


async def _unacknowledged(node: ClusterNode) -> int:
    handles = node.handles
    layout = handles.layout
    total = 0
    for partition in range(layout.partitions):
        info = await handles.js.consumer_info(layout.inbox_stream, layout.consumer(partition))
        total += info.num_ack_pending + info.num_pending
    return total


async def test_a_live_holders_claim_unchanged_for_too_long_is_taken_over(
    nodes: tuple[ClusterNode, ClusterNode],
) -> None:
    # The message keeps coming back although its live holder no longer says it is busy:
    # its run ended without a word; after ``stale_after`` the claim is taken over.
    a, b = nodes
    now = [0.0]
    handles = b.handles
    waiting = Claims(
        handles.claims,
        handles.nodes,
        b.node_id,
        b.incarnation,
        stale_after=60.0,
        clock=lambda: now[0],
    )
    _, claim = await a.claims.claim(6)
    assert claim is not None
    assert await waiting.claim(6) == (Verdict.BUSY, None)
    now[0] = 59.0
    assert await waiting.claim(6) == (Verdict.BUSY, None)
    claim.chunks[0] = ("sent", ("z1",))
    claim.dirty = True
    await a.claims.save(claim)  # the holder moves on: the wait starts again
    now[0] = 100.0
    assert await waiting.claim(6) == (Verdict.BUSY, None)
    now[0] = 160.0
    verdict, taken = await waiting.claim(6)
    assert verdict is Verdict.RUN
    assert taken is not None
    assert taken.chunks == {0: ("sent", ("z1",))}
