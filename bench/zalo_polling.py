"""Benchmark: the ``zalo`` channel in polling mode, end to end over loopback.

A real gateway (child process, echo agent, real SQLite inbox) long-polls ``getUpdates`` at
``FakeZaloBotApi`` in this process, which hands out one update per poll as Zalo does. N text
updates from U allow-listed users are enqueued at the fake, either all at once (``--rate 0``,
a backlog: throughput) or paced at ``--rate`` updates per second (latency under a steady
load: the default, 50/s). ``e2e`` is from the enqueue to the echo reply arriving at the
fake's ``sendMessage``. Prints one JSON object::

    python bench/zalo_polling.py [--messages 1000 --users 100] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import (
    GatewayProcess,
    check_replies,
    cost_summary,
    message_text,
    own_cpu_s,
    reply_summary,
    run_main,
    text_update,
    user_id,
    wait_until,
    with_offered_rate,
    zalo_config,
)
from zalogate.testing.fake_botapi import FakeZaloBotApi


def gateway_config(fake: FakeZaloBotApi, users: int) -> dict[str, Any]:
    """One polling account pointed at the fake; every simulated user is allow-listed."""
    return zalo_config(fake.token, fake.base_url, users, {"pollTimeoutSeconds": 30})


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = secrets.token_hex(3)
    updates = [
        text_update(i, user_id(i % args.users), message_text(i), run_id)
        for i in range(args.messages)
    ]
    sent_at: dict[int, float] = {}
    async with FakeZaloBotApi() as fake:
        config = gateway_config(fake, args.users)
        async with GatewayProcess(config) as gw:
            # Ready once the monitor holds its first long-poll.
            await wait_until(lambda: fake.bot.waiting_polls > 0, 30, "the gateway's first poll")
            idle_rss, _ = gw.rss_mb()
            cpu_before, driver_before = gw.cpu_s(), own_cpu_s()
            begin = time.time()
            for index, update in enumerate(updates):
                if args.rate > 0:
                    delay = begin + index / args.rate - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                sent_at[index] = time.time()
                fake.bot.push(update)
            enqueued_at = time.time()
            with contextlib.suppress(TimeoutError):
                await fake.wait_for_sent(args.messages, timeout=args.reply_timeout)
            # When getUpdates handed out the last update (the gateway admits each one
            # before it polls again).
            drained_at = fake.bot.last_handed_out_at or time.time()
            await asyncio.sleep(args.grace)  # a duplicate would show up now
            _, peak_rss = gw.rss_mb()
            gateway_cpu = gw.cpu_s() - cpu_before
            driver_cpu = own_cpu_s() - driver_before
        polls = sum(1 for call in fake.calls if call.method == "getUpdates")
        replies = [(record.text, record.time) for record in fake.sent]
    check = check_replies(sent_at, replies)
    consumed = args.messages - fake.bot.pending
    finished = check.last_reply_at or time.time()
    result: dict[str, Any] = {
        "mode": f"offered {args.rate:g}/s" if args.rate > 0 else "backlog (all enqueued at once)",
        "messages": args.messages,
        "users": args.users,
        "accepted_per_s": round(consumed / max(drained_at - begin, 1e-9), 1),
        "e2e_msgs_per_s": round(len(check.latencies) / max(finished - begin, 1e-9), 1),
        **reply_summary(check),
        "get_updates_calls": polls,
        "enqueue_s": round(enqueued_at - begin, 3),
        **cost_summary(args.messages, gateway_cpu, peak_rss, driver_cpu, idle_rss),
    }
    return with_offered_rate(result, args.rate)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument(
        "--rate", type=float, default=50.0, help="enqueued updates/s (0: all at once)"
    )
    run_main(parser, run, argv, fast_loop=True)


if __name__ == "__main__":
    main()
