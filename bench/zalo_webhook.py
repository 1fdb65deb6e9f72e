"""Benchmark: the ``zalo`` channel in webhook mode, end to end over loopback.

A real gateway (child process, echo agent, real SQLite inbox) serves the webhook; this
process plays Zalo: it runs ``FakeZaloBotApi`` (which receives the gateway's ``setWebhook``
and its ``sendMessage`` replies) and POSTs N text updates from U users, pre-approved through
``allowFrom``, to the gateway's webhook with the secret header over C keep-alive connections.
The webhook's per-IP rate limit is raised for the run (``ZaloChannelOptions.webhook``).

Closed loop (default): each connection POSTs its next update as soon as the previous one is
answered. Offered load (``--rate R``): update ``i`` is due at ``i / R`` seconds and its
latency counts from then (a late start counts against the gateway).

``e2e`` is from the POST (or its due time) to the echo reply arriving at the fake's
``sendMessage``. Prints one JSON object::

    python bench/zalo_webhook.py [--messages 5000 --users 500 --connections 64] [--rate 500]
    python bench/zalo_webhook.py --max-in-flight 0   # messages.delivery.maxInFlight (0: no cap)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from loopback import (
    WEBHOOK_PATH,
    WEBHOOK_SECRET,
    WEBHOOK_URL,
    GatewayProcess,
    HttpConnection,
    check_replies,
    cost_summary,
    message_text,
    own_cpu_s,
    percentile,
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
    """One webhook account pointed at the fake; every simulated user is allow-listed."""
    mode = {"webhookUrl": WEBHOOK_URL, "webhookSecret": WEBHOOK_SECRET}
    return zalo_config(fake.token, fake.base_url, users, mode)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    run_id = secrets.token_hex(3)
    bodies = [
        json.dumps(
            text_update(i, user_id(i % args.users), message_text(i), run_id),
            separators=(",", ":"),
        ).encode()
        for i in range(args.messages)
    ]
    headers = {"Content-Type": "application/json", "X-Bot-Api-Secret-Token": WEBHOOK_SECRET}
    sent_at: dict[int, float] = {}
    statuses: dict[int, int] = {}
    errors = 0
    # Open loop only: how late the pacer started each update (the driver must keep up).
    pacer_lags: list[float] = []
    # ... and how long a due update then waited for one of the connections to be free (the
    # gateway answering slower than connections / rate: counted against it, from the due time).
    wire_waits: list[float] = []
    last_due_started = 0.0
    async with FakeZaloBotApi() as fake:
        config = gateway_config(fake, args.users)
        if args.max_in_flight is not None:
            config["messages"] = {"delivery": {"maxInFlight": args.max_in_flight}}
        async with GatewayProcess(config, webhook_rate_limit=10 * args.messages + 1000) as gw:
            await wait_until(lambda: bool(fake.bot.webhook_url), 30, "the gateway's setWebhook")
            idle_rss, _ = gw.rss_mb()
            cpu_before, driver_before = gw.cpu_s(), own_cpu_s()
            connections = [HttpConnection(gw.host, gw.port) for _ in range(args.connections)]
            free: asyncio.Queue[HttpConnection] = asyncio.Queue()
            for connection in connections:
                free.put_nowait(connection)
            answered_at = 0.0

            async def post(index: int, connection: HttpConnection) -> None:
                nonlocal answered_at, errors
                try:
                    status, _ = await connection.post(WEBHOOK_PATH, bodies[index], headers)
                except (OSError, ValueError, asyncio.IncompleteReadError):
                    errors += 1
                    await connection.close()
                    status = 0
                statuses[status] = statuses.get(status, 0) + 1
                answered_at = max(answered_at, time.time())

            begin = time.time()
            if args.rate > 0:
                tasks: list[asyncio.Task[None]] = []

                async def paced(index: int) -> None:
                    connection = await free.get()
                    wire_waits.append(time.time() - sent_at[index])
                    try:
                        await post(index, connection)
                    finally:
                        free.put_nowait(connection)

                for index in range(args.messages):
                    due = begin + index / args.rate
                    now = time.time()
                    if due > now:
                        await asyncio.sleep(due - now)
                        now = time.time()
                    pacer_lags.append(now - due)
                    sent_at[index] = due
                    tasks.append(asyncio.create_task(paced(index)))
                last_due_started = time.time()
                await asyncio.gather(*tasks)
            else:
                queue = iter(range(args.messages))

                async def client(connection: HttpConnection) -> None:
                    for index in queue:
                        sent_at[index] = time.time()
                        await post(index, connection)

                await asyncio.gather(*(client(c) for c in connections))
            accepted_at = answered_at
            with contextlib.suppress(TimeoutError):
                await fake.wait_for_sent(args.messages, timeout=args.reply_timeout)
            await asyncio.sleep(args.grace)  # a duplicate would show up now
            _, peak_rss = gw.rss_mb()
            gateway_cpu = gw.cpu_s() - cpu_before
            driver_cpu = own_cpu_s() - driver_before
            for connection in connections:
                await connection.close()
        replies = [(record.text, record.time) for record in fake.sent]
        api_calls: dict[str, int] = {}
        for call in fake.calls:
            api_calls[call.method] = api_calls.get(call.method, 0) + 1
    check = check_replies(sent_at, replies)
    accepted = statuses.get(200, 0)
    finished = check.last_reply_at or time.time()
    result: dict[str, Any] = {
        "mode": f"offered {args.rate:g}/s" if args.rate > 0 else "closed loop",
        "messages": args.messages,
        "users": args.users,
        "connections": args.connections,
        "accepted": accepted,
        "accepted_per_s": round(accepted / max(accepted_at - begin, 1e-9), 1),
        "e2e_msgs_per_s": round(len(check.latencies) / max(finished - begin, 1e-9), 1),
        **reply_summary(check),
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "api_calls": api_calls,
        **cost_summary(args.messages, gateway_cpu, peak_rss, driver_cpu, idle_rss),
    }
    if args.rate > 0:
        # What the pacer really offered: updates started over the time it took to start them.
        span = max(last_due_started - begin, 1e-9)
        result["offered_achieved_per_s"] = round(args.messages / span, 1)
        result["pacer_lag_p99_ms"] = round(percentile(pacer_lags, 99) * 1000, 2)
        result["pacer_lag_max_ms"] = round(max(pacer_lags, default=0.0) * 1000, 2)
        result["connection_wait_p99_ms"] = round(percentile(wire_waits, 99) * 1000, 2)
    return with_offered_rate(result, args.rate)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5_000)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered msgs/s (0: closed loop, as fast as it goes)",
    )
    parser.add_argument(
        "--max-in-flight", type=int, default=None, help="messages.delivery.maxInFlight"
    )
    run_main(parser, run, argv, fast_loop=True)


if __name__ == "__main__":
    main()
