"""Benchmark: durable admission and processing through the real SQLite inbox and pipeline.

N messages over C conversations are admitted by concurrent "webhook" clients into the inbox
(state dir in a temp folder, ``synchronous=FULL``) and processed by the pipeline with the echo
agent and an in-memory channel. Also times the DM access decision with 10 and 100,000
allowlist entries. Prints one JSON object::

    python bench/core_pipeline.py --messages 20000 --conversations 2000 [--fsync]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from zalogate.agents.echo import EchoAgent
from zalogate.core.access import AccountPolicy, decide_dm
from zalogate.core.channel import Channel, ChannelAccount, ProbeResult
from zalogate.core.ingress import Inbox
from zalogate.core.model import ChatType, DeliveryReceipt, InboundMessage, ReplyPayload
from zalogate.core.outbox import OUTBOX_FILENAME, Outbox
from zalogate.core.pipeline import Pipeline
from zalogate.store import Store

ACCOUNT = ChannelAccount(channel="zalo", account_id="default", enabled=True, settings={})


class CountingChannel(Channel):
    """An in-memory channel that counts sends and checks that each reply echoes its message."""

    id = "zalo"
    text_limit = 2000

    def __init__(self) -> None:
        self.sent = 0
        self.mismatched = 0

    def accounts(self) -> Sequence[ChannelAccount]:
        return [ACCOUNT]

    async def run(self, account: ChannelAccount, stop: asyncio.Event) -> None:
        await stop.wait()

    async def send(
        self, account: ChannelAccount, target: str, reply: ReplyPayload
    ) -> DeliveryReceipt:
        self.sent += 1
        if not reply.text.startswith(f"msg {target} "):
            self.mismatched += 1
        return DeliveryReceipt(message_ids=(str(self.sent),))

    async def probe(self, account: ChannelAccount) -> ProbeResult:
        return ProbeResult(ok=True)


def make_messages(count: int, conversations: int) -> list[InboundMessage]:
    return [
        InboundMessage(
            channel="zalo",
            account_id="default",
            chat_type=ChatType.DIRECT,
            chat_id=f"user{n % conversations}",
            sender_id=f"user{n % conversations}",
            message_id=f"m{n}",
            timestamp_ms=1_700_000_000_000 + n,
            text=f"msg user{n % conversations} {n}",
        )
        for n in range(count)
    ]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


async def run_pipeline(
    count: int, conversations: int, clients: int, fsync: bool = False
) -> dict[str, float]:
    messages = make_messages(count, conversations)
    allow = frozenset(f"user{n}" for n in range(conversations))
    policy = AccountPolicy(channel="zalo", dm_policy="allowlist", allow_from=allow)
    channel = CountingChannel()
    with tempfile.TemporaryDirectory(prefix="zalogate-bench-") as tmp:
        store = await Store.open(Path(tmp))
        pipeline = Pipeline(
            store=store,
            channels={"zalo": channel},
            policy_for=lambda message: policy,
            agent=EchoAgent(),
            outbox=Outbox(Path(tmp) / OUTBOX_FILENAME, fsync=fsync),
        )
        inbox = Inbox(store, pipeline.process)
        await inbox.start()
        latencies: list[float] = []
        queue = iter(messages)

        async def client() -> None:
            for message in queue:
                started = time.perf_counter()
                await inbox.admit(message)
                latencies.append(time.perf_counter() - started)

        begin = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        admitted_at = time.perf_counter()
        await inbox.wait_idle()
        finished_at = time.perf_counter()
        commits = store.commits
        await inbox.stop()
        await store.close()
    if channel.sent != count or channel.mismatched:
        raise SystemExit(f"delivery check failed: {channel.sent} sent, {channel.mismatched} bad")
    return {
        "admitted_per_s": round(count / (admitted_at - begin), 1),
        "processed_per_s": round(count / (finished_at - begin), 1),
        "admit_p50_ms": round(statistics.median(latencies) * 1000, 3),
        "admit_p99_ms": round(percentile(latencies, 99) * 1000, 3),
        "store_commits": commits,
        "dead_lettered": inbox.counters.dead_lettered,
    }


def time_decisions(sizes: Sequence[int], rounds: int = 100_000, repeats: int = 7) -> list[float]:
    """Best mean nanoseconds of ``decide_dm`` per allowlist size (half allowed senders, half
    strangers). The sizes are timed in alternation, so that load from other processes hits
    them alike; the best of ``repeats`` runs is kept."""
    setups = []
    for entries in sizes:
        allow = frozenset(f"{8_000_000_000 + n}" for n in range(entries))
        policy = AccountPolicy(channel="zalo", dm_policy="allowlist", allow_from=allow)
        known = f"{8_000_000_000 + entries // 2}"
        setups.append((policy, [known, "7000000000"] * (rounds // 2)))
    best = [float("inf")] * len(sizes)
    for _ in range(repeats):
        for index, (policy, senders) in enumerate(setups):
            start = time.perf_counter_ns()
            for sender in senders:
                decide_dm(policy, sender)
            best[index] = min(best[index], (time.perf_counter_ns() - start) / len(senders))
    return best


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--conversations", type=int, default=2_000)
    parser.add_argument("--clients", type=int, default=256, help="concurrent admitters")
    parser.add_argument("--fsync", action="store_true", help="messages.delivery.fsync")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    result: dict[str, float | int] = {
        "messages": args.messages,
        "conversations": args.conversations,
        "fsync": args.fsync,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    cpu_before = cpu_seconds()
    run = run_pipeline(args.messages, args.conversations, args.clients, args.fsync)
    result.update(asyncio.run(run))
    # CPU time per message (both threads): less sensitive to other load than the rates.
    result["cpu_ms_per_message"] = round((cpu_seconds() - cpu_before) / args.messages * 1000, 3)
    ns_10, ns_100k = time_decisions([10, 100_000])
    result["decision_ns_10"] = round(ns_10, 1)
    result["decision_ns_100k"] = round(ns_100k, 1)
    result["decision_ratio"] = round(ns_100k / ns_10, 3)
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["peak_rss_mb"] = round(rss_kb / 1024, 1)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
