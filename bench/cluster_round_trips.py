"""Benchmark: the NATS messages one cluster node sends per inbox message.

A 3-server NATS cluster (JetStream, R=3) on loopback and one node in this process; its inbox
runs ``--messages`` messages whose handler notes ``--chunks`` reply chunks as sent in the
node's shared delivery log (as the pipeline does after each send) and waits until they are
kept. Counted on the node's own connection (``out_msgs``, the admits' publishes taken off):
fetch requests, claims, chunk records, done marks, acks — each a round trip. Prints one JSON
object::

    python bench/cluster_round_trips.py [--messages 200 --chunks 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

from zalogate.cluster import ClusterNode
from zalogate.config.cluster import ClusterConfig
from zalogate.core.model import ChatType, InboundMessage
from zalogate.core.outbox import Outbox
from zalogate.testing.nats_servers import NatsCluster


def message(index: int) -> InboundMessage:
    user = f"u{index % 20}"
    return InboundMessage(
        channel="zalo",
        account_id="default",
        chat_type=ChatType.DIRECT,
        chat_id=user,
        sender_id=user,
        message_id=f"m{index}",
        timestamp_ms=1_700_000_000_000 + index,
        text=str(index),
    )


async def measure(root: Path, messages: int, chunks: int) -> float:
    with NatsCluster(root / "nats", size=3) as servers:
        settings = ClusterConfig.model_validate(
            {
                "nats": {"servers": servers.urls},
                "prefix": "rt",
                "leaseTtlSeconds": 30,  # no "still busy" signal or heartbeat in the count
                "partitions": 4,
                "maxConcurrency": 8,
            }
        )
        async with ClusterNode(settings, node_id="a") as node:
            log = node.delivery_log(Outbox(root / "outbox.log"))
            finished = asyncio.Event()
            count = 0

            async def handle(msg: InboundMessage) -> None:
                nonlocal count
                key = (msg.channel, msg.account_id, msg.message_id)
                for seq in range(chunks):
                    log.note((*key, seq), "sent", [f"z{seq}"])
                    await log.flush(key)
                count += 1
                if count == messages:
                    finished.set()

            inbox = node.inbox(None, handle)
            await inbox.start()
            await asyncio.sleep(1.0)
            client = node.handles.client
            before = client.stats["out_msgs"]
            for index in range(messages):
                await inbox.admit(message(index))
            await asyncio.wait_for(finished.wait(), 120)
            await asyncio.sleep(0.5)  # the last acks
            sent = client.stats["out_msgs"] - before - messages
            await inbox.stop()
    return sent / messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--chunks", type=int, default=1, help="reply chunks per message")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        per_message = asyncio.run(measure(Path(root), args.messages, args.chunks))
    print(
        json.dumps(
            {
                "messages": args.messages,
                "chunks_per_reply": args.chunks,
                "nats_round_trips_per_message": round(per_message, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
