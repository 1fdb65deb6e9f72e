"""The JetStream inbox against a real 3-server NATS cluster."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import replace

import pytest
from nats.errors import NoRespondersError

from zalogate.cluster import ClusterNode
from zalogate.config.cluster import ClusterConfig
from zalogate.core.errors import NonRetryableError
from zalogate.core.ingress import current_entry
from zalogate.core.model import ChatType, InboundMessage


def message(chat: str, index: int) -> InboundMessage:
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id=chat,
        sender_id=chat,
        message_id=f"{chat}-{index}",
        timestamp_ms=1_700_000_000_000 + index,
        text=str(index),
    )


async def test_a_redelivered_message_is_admitted_once(cluster_settings: ClusterConfig) -> None:
    async with ClusterNode(cluster_settings) as node:
        inbox = node.inbox(None, _ignore)
        first = await inbox.admit(message("u1", 1))
        again = await inbox.admit(message("u1", 1))
        assert not first.duplicate
        assert again.duplicate
        assert again.entry_id == first.entry_id
        info = await node.handles.js.stream_info(node.handles.layout.inbox_stream)
        assert info.state.messages == 1
        assert info.config.num_replicas == 3


async def test_two_nodes_process_everything_once_in_conversation_order(
    cluster_settings: ClusterConfig,
) -> None:
    seen: dict[str, list[int]] = defaultdict(list)
    by_node: dict[str, int] = defaultdict(int)
    done = asyncio.Event()
    total = 40

    def handler_for(name: str) -> Callable[[InboundMessage], Awaitable[None]]:
        async def handle(msg: InboundMessage) -> None:
            await asyncio.sleep(0.01)
            seen[msg.chat_id].append(int(msg.text))
            by_node[name] += 1
            if sum(len(v) for v in seen.values()) >= total:
                done.set()

        return handle

    async with (
        ClusterNode(cluster_settings, node_id="a") as a,
        ClusterNode(cluster_settings, node_id="b") as b,
    ):
        inbox_a = a.inbox(None, handler_for("a"))
        inbox_b = b.inbox(None, handler_for("b"))
        await inbox_a.start()
        await inbox_b.start()
        try:
            for index in range(total // 8):
                for chat in range(8):
                    # webhooks arrive at either node
                    target = inbox_a if chat % 2 else inbox_b
                    await target.admit(message(f"u{chat}", index))
            await asyncio.wait_for(done.wait(), 60)
        finally:
            await inbox_a.stop()
            await inbox_b.stop()
    assert dict(seen.items()) == {f"u{chat}": list(range(total // 8)) for chat in range(8)}
    assert by_node["a"] > 0
    assert by_node["b"] > 0


async def test_a_message_that_cannot_be_handled_goes_to_the_dead_letters(
    cluster_settings: ClusterConfig,
) -> None:
    handled: list[str] = []
    after = asyncio.Event()

    async def handle(msg: InboundMessage) -> None:
        if msg.text == "0":
            raise NonRetryableError("the agent refused it")
        handled.append(msg.text)
        after.set()

    async with ClusterNode(cluster_settings) as node:
        inbox = node.inbox(None, handle)
        await inbox.start()
        try:
            await inbox.admit(message("u1", 0))
            await inbox.admit(message("u1", 1))
            await asyncio.wait_for(after.wait(), 30)
        finally:
            await inbox.stop()
        js = node.handles.js
        sub = await js.subscribe(f"{cluster_settings.prefix}.dead.>", ordered_consumer=True)
        dead = json.loads((await sub.next_msg(timeout=5)).data)
        await sub.unsubscribe()
    assert handled == ["1"]
    assert dead["message_id"] == "u1-0"
    assert dead["attempts"] == 1
    assert "refused" in dead["error"]
    assert inbox.stats() == {"processed": 1, "dead_lettered": 1, "skipped": 0}


async def _ignore(msg: InboundMessage) -> None:
    return None


@pytest.mark.parametrize("unanswered_marks", [0, 4], ids=["marked", "marked-after-an-election"])
async def test_a_message_whose_ack_was_lost_is_not_run_again(
    cluster_settings: ClusterConfig, unanswered_marks: int
) -> None:
    handled: list[str] = []
    skipped = asyncio.Event()

    async def handle(msg: InboundMessage) -> None:
        handled.append(msg.message_id)

    async with ClusterNode(cluster_settings) as node:
        inbox = node.inbox(None, handle)
        # the claim bucket's leader is being elected: the done marks first get no answer
        claims = node.claims
        claims.kv = _FlakyBucket(claims.kv, "update", unanswered_marks, skip=1)  # type: ignore[assignment]
        real_ack = inbox._ack
        acks = 0

        async def lose_first_ack(msg: object) -> None:
            nonlocal acks
            acks += 1
            if acks > 1:  # the first ack never reaches the server (it died meanwhile)
                await real_ack(msg)  # type: ignore[arg-type]
                skipped.set()

        inbox._ack = lose_first_ack  # type: ignore[method-assign]
        await inbox.start()
        try:
            await inbox.admit(message("u1", 0))
            # redelivered after the ack wait (the lease TTL), then acknowledged unrun
            await asyncio.wait_for(skipped.wait(), 30)
        finally:
            await inbox.stop()
    assert handled == ["u1-0"]
    assert inbox.stats()["skipped"] == 1


async def test_a_clean_stop_hands_unfinished_messages_back_at_once(
    cluster_settings: ClusterConfig,
) -> None:
    # An ack wait far longer than the test: only the nak on stop can move the message.
    settings = cluster_settings.model_copy(update={"lease_ttl_seconds": 300})
    started = asyncio.Event()
    redelivered: list[int] = []
    taken = asyncio.Event()

    async def stuck(msg: InboundMessage) -> None:
        started.set()
        await asyncio.Event().wait()  # an agent that never answers before the stop

    async with ClusterNode(settings, node_id="a") as a, ClusterNode(settings, node_id="b") as b:
        first = a.inbox(None, stuck)
        await first.start()
        await first.admit(message("u1", 0))
        await asyncio.wait_for(started.wait(), 30)
        await first.stop(timeout=0.1)

        async def take(msg: InboundMessage) -> None:
            entry = current_entry.get()
            assert entry is not None
            redelivered.append(entry.attempt)
            taken.set()

        second = b.inbox(None, take)
        await second.start()
        try:
            await asyncio.wait_for(taken.wait(), 60)  # far less than the 300 s ack wait
        finally:
            await second.stop()
    assert redelivered == [2]


class _FlakyBucket:
    """The claim bucket as seen while a NATS server's loss is being repaired: after ``skip``
    calls of ``method``, the next ``failures`` get no answer."""

    def __init__(self, real: object, method: str, failures: int, *, skip: int = 0) -> None:
        self._real = real
        self._method = method
        self.failures = failures
        self.skip = skip

    def __getattr__(self, name: str) -> object:
        call = getattr(self._real, name)
        if name != self._method:
            return call

        async def flaky(*args: object, **kwargs: object) -> object:
            if self.skip > 0:
                self.skip -= 1
            elif self.failures > 0:
                self.failures -= 1
                raise NoRespondersError
            return await call(*args, **kwargs)

        return flaky


async def test_a_handled_message_handed_out_again_as_new_is_not_run(
    cluster_settings: ClusterConfig,
) -> None:
    # A consumer leader that dies before replicating a delivery hands the message out again
    # as a first delivery; the done mark written by the node that handled it still holds.
    handled: list[str] = []
    async with ClusterNode(cluster_settings) as node:
        inbox = node.inbox(None, lambda msg: _append(handled, msg))
        first = await inbox.admit(message("u1", 0))
        await node.handles.claims.put(str(first.entry_id), b'{"s":"done"}')
        await inbox.admit(message("u1", 1))
        await inbox.start()
        try:
            for _ in range(300):
                if handled:
                    break
                await asyncio.sleep(0.1)
        finally:
            await inbox.stop()
    assert handled == ["u1-1"]
    assert inbox.stats()["skipped"] == 1


async def test_a_message_whose_claim_gets_no_answer_is_not_run_until_it_does(
    cluster_settings: ClusterConfig,
) -> None:
    handled: list[int] = []
    ran = asyncio.Event()

    async def handle(msg: InboundMessage) -> None:
        entry = current_entry.get()
        assert entry is not None
        handled.append(entry.attempt)
        ran.set()

    async with ClusterNode(cluster_settings) as node:
        inbox = node.inbox(None, handle)
        node.claims.settle_time = 0.0
        node.claims.kv = _FlakyBucket(node.claims.kv, "update", failures=1)  # type: ignore[assignment]
        await inbox.start()
        try:
            await inbox.admit(message("u1", 0))
            await asyncio.wait_for(ran.wait(), 30)
        finally:
            await inbox.stop()
    assert handled == [1]  # the first delivery was handed back (nak), not run: no attempt


async def _append(into: list[str], msg: InboundMessage) -> None:
    into.append(msg.message_id)


async def test_a_saturated_node_leaves_new_messages_to_a_node_with_free_slots(
    cluster_settings: ClusterConfig,
) -> None:
    # Node a has one slot, held by a message its agent does not finish yet; b has free slots.
    settings = cluster_settings.model_copy(update={"partitions": 8})
    release = asyncio.Event()
    started = asyncio.Event()
    by_node: dict[str, list[str]] = defaultdict(list)
    done_b = asyncio.Event()
    others = [message(f"u{chat}", 0) for chat in range(1, 17)]

    async def slow(msg: InboundMessage) -> None:
        by_node["a"].append(msg.chat_id)
        started.set()
        await release.wait()

    async def quick(msg: InboundMessage) -> None:
        by_node["b"].append(msg.chat_id)
        if len(by_node["b"]) == len(others):
            done_b.set()

    async with (
        ClusterNode(settings.model_copy(update={"max_concurrency": 1}), node_id="a") as a,
        ClusterNode(settings, node_id="b") as b,
    ):
        inbox_a = a.inbox(None, slow)
        inbox_a.config = replace(inbox_a.config, fetch_expiry=0.5)
        inbox_b = b.inbox(None, quick)
        await inbox_a.start()
        try:
            await inbox_a.admit(message("u0", 0))
            await asyncio.wait_for(started.wait(), 30)
            # The pull requests a parked before it was full run out.
            await _until(lambda: inbox_a.asking == 0)
            await inbox_b.start()
            for msg in others:
                await inbox_a.admit(msg)
            await asyncio.wait_for(done_b.wait(), 60)
            assert by_node["a"] == ["u0"]
            assert inbox_a.waiting == 0
            # With its slot free again, a asks for messages again.
            await inbox_b.stop()
            release.set()
            await inbox_a.admit(message("u1", 1))
            await _until(lambda: len(by_node["a"]) == 2)
        finally:
            release.set()
            await inbox_b.stop()
            await inbox_a.stop()
    assert by_node["a"] == ["u0", "u1"]
    assert sorted(by_node["b"]) == sorted(msg.chat_id for msg in others)


async def _until(check: Callable[[], bool]) -> None:
    async def poll() -> None:
        while not check():
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), 60)
