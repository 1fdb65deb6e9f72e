"""Benchmark: the cluster mode, 1 gateway node against 3, and one node killed mid-run.

A 3-server NATS cluster (JetStream, R=3) runs on loopback; gateway nodes are child processes
(``zalogate gateway run``) sharing one config with ``gateway.cluster``; ``--bots`` (4) ``zalo``
bot accounts poll ``FakeZaloBotApi`` (each account's lease holder is its only poller), and the
``openai`` agent answers from ``FakeLLMServer`` after ``--llm-delay`` (1 s). ``--users`` users
(500, spread over the bots) send ``--messages`` messages (1,000) at once. Several accounts
because Zalo's ``getUpdates`` hands out one update per call: one account's poller admits some
35 updates/s here, which would cap 3 nodes below their 60 slots.

Honest comparison: every node processes at most ``--per-node`` messages at a time
(``gateway.cluster.maxConcurrency``), so a single node cannot simply run more agents at once;
with a 1 s agent the waiting dominates, which is why 3 nodes scale even on two cores.

Runs: ``nodes_1`` (one node), ``nodes_3`` (three nodes), ``failover`` (three nodes, the
poller's node SIGKILLed once every update is polled and 30 % of the replies are out: it dies
with up to ``--per-node`` messages in work, which other nodes take over after the lease TTL).
``msgs_per_s`` counts distinct replies from the first message to the last reply;
``missing`` and ``duplicates`` add up all runs; ``failover_s`` is the time from the SIGKILL
until another node polls the account.
Prints one JSON object::

    python bench/cluster.py [--users 500 --messages 1000 --llm-delay 1.0 --per-node 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import emit, message_text, user_id
from zalo_slow_agent import fake_llm
from zalogate.testing.fake_botapi import FakeZaloBotApi
from zalogate.testing.gateway_nodes import GatewayNode, cluster_bot_config
from zalogate.testing.nats_servers import NatsCluster

TTL = 10.0


def node_config(
    args: argparse.Namespace,
    urls: list[str],
    prefix: str,
    llm: tuple[str, str],
    fake: FakeZaloBotApi,
) -> dict[str, Any]:
    """The config every node shares (warnings only in the nodes' logs)."""
    cluster = {
        "nats": {"servers": urls},
        "prefix": prefix,
        "leaseTtlSeconds": TTL,
        "partitions": args.partitions,
        "maxConcurrency": args.per_node,
    }
    config = cluster_bot_config(
        cluster,
        bot_tokens=[bot.token for bot in fake.bots],
        bot_api_url=fake.base_url,
        llm_url=llm[0],
        llm_model=llm[1],
    )
    config["gateway"]["logLevel"] = "warning"
    return config


async def wait_for(check: Any, timeout: float) -> bool:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def one_run(
    args: argparse.Namespace,
    root: Path,
    nats: NatsCluster,
    llm: tuple[str, str],
    name: str,
    nodes_count: int,
    *,
    kill_at: float | None = None,
) -> dict[str, Any]:
    async with FakeZaloBotApi() as fake:
        for _ in range(args.bots - 1):
            fake.add_bot()
        config_file = root / f"{name}.json"
        config = node_config(args, nats.urls, name, llm, fake)
        config_file.write_text(json.dumps(config))
        nodes = [
            GatewayNode(f"{name}-n{i}", config_file, root / name / f"n{i}")
            for i in range(nodes_count)
        ]
        try:
            for node in nodes:
                node.start()
            for node in nodes:
                await asyncio.to_thread(node.wait_started, 120)
            bots = fake.bots
            users = [bots[u % len(bots)].user(user_id(u)) for u in range(args.users)]
            expected = {message_text(i) for i in range(args.messages)}
            begin = time.time()
            for i in range(args.messages):
                users[i % args.users].says(message_text(i))
            failover_s: float | None = None
            if kill_at is not None:
                # Every update published first: Zalo's getUpdates forgets what it handed out,
                # so an update in the killed poller's hands would be lost on any set-up.
                await wait_for(lambda: not any(b.pending for b in bots), args.timeout)
                await asyncio.sleep(0.5)
                await wait_for(lambda: len(fake.sent) >= kill_at * args.messages, args.timeout)
                holder = next(n for n in nodes if n.account_state() == "running")
                holder.kill()
                killed = time.monotonic()
                others = [n for n in nodes if n is not holder]
                if await wait_for(lambda: any(n.account_state() == "running" for n in others), 60):
                    failover_s = round(time.monotonic() - killed, 2)
            await wait_for(
                lambda: len({r.text for r in fake.sent} & expected) >= len(expected),
                args.timeout,
            )
            await asyncio.sleep(args.grace)
            replies = [(r.time, str(r.text)) for r in fake.sent if r.text in expected]
            texts = [text for _, text in replies]
            last = max((r.time for r in fake.sent), default=time.time())
        finally:
            for node in nodes:
                await asyncio.to_thread(node.stop)
    counts = Counter(texts)
    first: dict[str, float] = {}
    for at, text in sorted(replies):
        first.setdefault(text, at)
    answered = sorted(first.values())
    tail = answered[int(len(answered) * 0.9)] if answered else last
    return {
        "tail_s": round(last - tail, 2),
        "msgs_per_s": round(len(counts) / max(last - begin, 1e-9), 1),
        "elapsed_s": round(last - begin, 2),
        "missing": len(expected - set(counts)),
        "duplicates": sum(c - 1 for c in counts.values()),
        "failover_s": failover_s,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="zalogate-cluster-bench-") as tmp:
        root = Path(tmp)
        with NatsCluster(root / "nats", size=3) as nats:
            async with fake_llm(args.llm_delay) as (llm_url, model, _):
                llm = (llm_url, model)
                one = await one_run(args, root, nats, llm, "one", 1)
                three = await one_run(args, root, nats, llm, "three", 3)
                failover = await one_run(args, root, nats, llm, "kill", 3, kill_at=0.3)
    return {
        "messages": args.messages,
        "users": args.users,
        "llm_delay_s": args.llm_delay,
        "per_node_concurrency": args.per_node,
        "partitions": args.partitions,
        "bot_accounts": args.bots,
        "lease_ttl_s": TTL,
        "nodes_1_msgs_per_s": one["msgs_per_s"],
        "nodes_3_msgs_per_s": three["msgs_per_s"],
        "scaling": round(three["msgs_per_s"] / max(one["msgs_per_s"], 1e-9), 2),
        "nodes_3_killed_msgs_per_s": failover["msgs_per_s"],
        "missing": one["missing"] + three["missing"] + failover["missing"],
        "duplicates": one["duplicates"] + three["duplicates"] + failover["duplicates"],
        "failover_s": failover["failover_s"],
        "elapsed_s": {
            "nodes_1": one["elapsed_s"],
            "nodes_3": three["elapsed_s"],
            "nodes_3_killed": failover["elapsed_s"],
        },
        "last_10pct_s": {
            "nodes_1": one["tail_s"],
            "nodes_3": three["tail_s"],
            "nodes_3_killed": failover["tail_s"],
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--llm-delay", type=float, default=1.0)
    parser.add_argument("--per-node", type=int, default=10, help="messages at once per node")
    parser.add_argument("--partitions", type=int, default=256)
    parser.add_argument("--bots", type=int, default=4, help="bot accounts the users write to")
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--grace", type=float, default=2.0, help="wait for duplicates (s)")
    args = parser.parse_args(argv)
    emit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
