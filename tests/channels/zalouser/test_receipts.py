"""Delivered + seen receipts are batched per conversation (best effort)."""

from __future__ import annotations

from typing import Any

from zalogate.channels.zalouser.receipts import ReceiptBatcher
from zalogate.personal.outgoing import MessageRef
from zalogate.personal.session import ThreadType

from .conftest import World, eventually


def ref(msg_id: str, sender: str = "2001", thread: str = "0") -> MessageRef:
    return MessageRef(msg_id=msg_id, cli_msg_id=f"c{msg_id}", sender_id=sender, thread_id=thread)


async def test_receipts_of_one_conversation_go_out_together(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        connection = channel.connection("default")
        batcher = ReceiptBatcher(connection.call, "default", delay_s=0.05)
        for msg_id in ("1", "2", "3"):
            batcher.add(ref(msg_id), ThreadType.USER)
        batcher.add(ref("9", sender=world.CAROL), ThreadType.USER)
        batcher.add(ref("g1", thread=world.GROUP), ThreadType.GROUP)
        await eventually(lambda: len(world.records("seen")) == 3)
        await batcher.flush()
    delivered = {r.thread_id: r for r in world.records("delivered")}
    assert set(delivered) == {world.ALICE, world.CAROL, world.GROUP}
    entries = delivered[world.ALICE].params["msgInfos"]["data"]
    assert [e["gmi"] for e in entries] == ["1", "2", "3"]
    assert delivered[world.ALICE].params["msgInfos"]["seen"] == 1
    assert delivered[world.GROUP].thread_type == "group"


async def test_a_full_batch_goes_out_at_once_and_flush_sends_the_rest(world: World) -> None:
    world.save_session()
    async with world.channel(world.config()) as channel:
        batcher = ReceiptBatcher(channel.connection("default").call, "default", delay_s=60)
        for index in range(52):
            batcher.add(ref(str(index)), ThreadType.USER)
        await eventually(lambda: len(world.records("seen")) == 1)
        await batcher.flush()
    sizes = [len(r.params["msgInfos"]["data"]) for r in world.records("delivered")]
    assert sizes == [50, 2]


async def test_failures_are_swallowed() -> None:
    async def broken(action: Any) -> Any:
        raise RuntimeError("zalo is down")

    batcher = ReceiptBatcher(broken, "default", delay_s=0)
    batcher.add(ref("1"), ThreadType.USER)
    await batcher.flush()
